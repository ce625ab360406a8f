import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { makeTempDir } from '../helpers/integration.ts'

const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url))
const PRIORITY_MESSAGE = 'the store threads run at a lower CPU priority'

interface ThreadInfo {
  id: number
  name: string
  nice: number
}

/** Reads the name and nice value of each thread of a process from /proc. */
function readThreads(pid: number): ThreadInfo[] {
  return readdirSync(`/proc/${pid}/task`).map((entry) => {
    const text = readFileSync(`/proc/${pid}/task/${entry}/stat`, 'utf8')
    const name = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'))
    // After the name: the state is the first field and the nice value the 17th.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { id: Number(entry), name, nice: Number(fields[16]) }
  })
}

let child: ChildProcess | undefined
let dir: string | undefined

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await exited
  }
  child = undefined
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Starts `segments serve` on an empty store and resolves with its log once `message` appears. */
async function startServe(env: Record<string, string>, message: string): Promise<string> {
  dir = await makeTempDir('serve-priorities-')
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('SEGMENTS_')),
  )
  child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPOSITORY, 'src', 'cli', 'main.ts'), 'serve'],
    {
      cwd: REPOSITORY,
      env: {
        ...inherited,
        SEGMENTS_CHDB_PATH: join(dir, 'store'),
        SEGMENTS_MODELS_DIR: join(dir, 'models'),
        SEGMENTS_SCORE_LOG_SPOOL_DIR: join(dir, 'spool'),
        SEGMENTS_HOST: '127.0.0.1',
        SEGMENTS_PORT: '0',
        SEGMENTS_MODEL_RELOAD_SECONDS: '0',
        SEGMENTS_LOG_LEVEL: 'info',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let output = ''
  const process_ = child
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${message}" in 60 s:\n${output}`)), 60_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (output.includes(message)) {
        clearTimeout(timer)
        resolve(output)
      }
    }
    process_.stdout?.on('data', read)
    process_.stderr?.on('data', read)
    process_.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code}:\n${output}`))
    })
  })
}

describe('serve thread priorities', () => {
  it('lowers the store and thread-pool threads, not the event loop', async () => {
    const log = await startServe(
      { SEGMENTS_BACKGROUND_NICE: '15', UV_THREADPOOL_SIZE: '3' },
      PRIORITY_MESSAGE,
    )
    const line = JSON.parse(log.split('\n').find((entry) => entry.includes(PRIORITY_MESSAGE)) ?? '')
    expect(line.nice).toBe(15)
    expect(line.poolThreads).toBe(3)

    const pid = child?.pid as number
    const threads = readThreads(pid)
    const main = threads.find((thread) => thread.id === pid)
    expect(main?.nice).toBe(0)
    // chDB names its threads; each of these pools starts with the engine.
    for (const name of ['MergeMutate', 'BgSchPool']) {
      const engine = threads.filter((thread) => thread.name === name)
      expect(engine.length).toBeGreaterThan(0)
      expect(engine.map((thread) => thread.nice)).toEqual(engine.map(() => 15))
    }
    // V8's helper threads and the rest of Node's own threads keep priority 0.
    const unnamedAtZero = threads.filter((thread) => thread.name === 'node' && thread.nice === 0)
    expect(unnamedAtZero.length).toBeGreaterThan(1)
  }, 90_000)

  it('stops cleanly while it looks for the pool', async () => {
    await startServe({ SEGMENTS_BACKGROUND_NICE: '19' }, 'Server listening')
    const server = child as ChildProcess
    let output = ''
    server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const exited = once(server, 'exit')
    // The pool probe takes at least 100 ms after the port opens.
    server.kill('SIGTERM')
    const [code] = await exited

    expect(code).toBe(0)
    expect(output).toContain('"msg":"stopped"')
    expect(output).not.toContain(PRIORITY_MESSAGE)
  }, 90_000)

  it('lowers no thread with SEGMENTS_BACKGROUND_NICE=0', async () => {
    await startServe({ SEGMENTS_BACKGROUND_NICE: '0' }, 'Server listening')
    // With a nice value the threads are lowered within about a second of listening.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const threads = readThreads(child?.pid as number)
    // chDB may raise its own threads' priority when it runs as root, as MemoryWorker does.
    const lowered = threads.filter((thread) => thread.nice > 0)
    expect(lowered.map(({ name, nice }) => ({ name, nice }))).toEqual([])
  }, 90_000)
})
