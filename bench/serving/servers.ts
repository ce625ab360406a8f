/** Starts our API and the FastAPI peer as child processes on loopback and stops them. */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONFIG_VARIABLES } from '../../src/config/schema.ts'

const SERVING_DIR = dirname(fileURLToPath(import.meta.url))
const REPOSITORY = join(SERVING_DIR, '..', '..')

export interface Server {
  name: string
  baseUrl: string
  child: ChildProcess
}

/** Keeps the last few KiB of a child's output for the error message when it fails. */
function captureOutput(child: ChildProcess): () => string {
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4096)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return () => output
}

/** Polls `url` until it returns 200; throws when the child exits or `timeoutMs` passes. */
async function waitUntilReady(
  name: string,
  url: string,
  child: ChildProcess,
  output: () => string,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${name} exited with ${child.exitCode} before it was ready:\n${output()}`)
    }
    try {
      const response = await fetch(url)
      if (response.status === 200) return
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${name} was not ready at ${url} within ${timeoutMs / 1000} s:\n${output()}`)
}

export interface OurServerOptions {
  port: number
  chdbPath: string
  modelsDir: string
  apiKeysValue: string
  /** Folder for the score log's spool, so that nothing is written inside the repository. */
  spoolDir: string
  /** Folder for a V8 CPU profile of the server (node --cpu-prof), written when it exits. */
  profileDir?: string | undefined
}

/** Starts `segments serve` with the benchmark's store, bundle and API key. */
export async function startOurServer(options: OurServerOptions): Promise<Server> {
  const env = {
    ...process.env,
    SEGMENTS_HOST: '127.0.0.1',
    SEGMENTS_PORT: `${options.port}`,
    SEGMENTS_CHDB_PATH: options.chdbPath,
    SEGMENTS_MODELS_DIR: options.modelsDir,
    SEGMENTS_API_KEYS: options.apiKeysValue,
    // The default of 6000 per minute per key would cap the load; this is far above saturation.
    SEGMENTS_RATE_LIMIT_PER_MINUTE: '10000000',
    SEGMENTS_MODEL_RELOAD_SECONDS: '0',
    SEGMENTS_LOG_LEVEL: 'warn',
    // Set only where this version defines the variable, because loadConfig rejects unknown SEGMENTS_* names.
    ...('SEGMENTS_SCORE_LOG_SPOOL_DIR' in CONFIG_VARIABLES
      ? { SEGMENTS_SCORE_LOG_SPOOL_DIR: options.spoolDir }
      : {}),
  }
  const profile = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []
  const script = join(REPOSITORY, 'src', 'cli', 'main.ts')
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', script, 'serve'], {
    cwd: REPOSITORY,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const baseUrl = `http://127.0.0.1:${options.port}`
  await waitUntilReady('segments serve', `${baseUrl}/readyz`, child, captureOutput(child))
  return { name: 'ours', baseUrl, child }
}

export interface PeerServerOptions {
  python: string
  port: number
  workers: number
  modelDir: string
  apiKeySha256: string
  /** Whether results carry churn reasons, computed as our API computes them. */
  reasons: boolean
}

/** Starts peer.py under uvicorn with `workers` worker processes. */
export async function startPeerServer(options: PeerServerOptions): Promise<Server> {
  const env = {
    ...process.env,
    PEER_MODEL_DIR: options.modelDir,
    PEER_API_KEY_SHA256: options.apiKeySha256,
    PEER_REASONS: options.reasons ? '1' : '0',
  }
  const args = ['-m', 'uvicorn', 'peer:app', '--app-dir', SERVING_DIR, '--host', '127.0.0.1']
  args.push('--port', `${options.port}`, '--workers', `${options.workers}`)
  args.push('--log-level', 'warning')
  const child = spawn(options.python, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const baseUrl = `http://127.0.0.1:${options.port}`
  await waitUntilReady('FastAPI peer', `${baseUrl}/healthz`, child, captureOutput(child))
  return { name: 'FastAPI', baseUrl, child }
}

/** Sends SIGTERM to the server's process and waits for it to exit (SIGKILL after 10 s). */
export async function stopServer(server: Server): Promise<void> {
  const { child } = server
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

/** Path of peer.py, for its `train` command. */
export const PEER_SCRIPT = join(SERVING_DIR, 'peer.py')
