/** Messages the CLI prints for files and bundle versions that do not exist, run as a child process. */
import { spawn } from 'node:child_process'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTempDir } from '../helpers/integration.ts'

const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = join(REPOSITORY_ROOT, 'bin', 'segments.js')
const CLI_TIMEOUT_MS = 60_000

let root: string

/** Runs the CLI in `root` with its own store and models folder; returns the exit code and stderr. */
function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('SEGMENTS_')) env[name] = value
  }
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: root,
    env: {
      ...env,
      SEGMENTS_CHDB_PATH: join(root, 'clickhouse'),
      SEGMENTS_MODELS_DIR: join(root, 'models'),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stderr }))
  })
}

beforeAll(async () => {
  root = await makeTempDir('cli-messages-test')
  await mkdir(join(root, 'models', 'segments'), { recursive: true })
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('missing inputs', () => {
  it(
    'name a missing contacts file',
    async () => {
      const { code, stderr } = await runCli(['contacts', 'missing.csv'])

      expect(code).toBe(1)
      expect(stderr).toBe('segments: File or folder not found: missing.csv\n')
    },
    CLI_TIMEOUT_MS,
  )

  it(
    'name a missing ingest file',
    async () => {
      const { code, stderr } = await runCli(['ingest', '--format', 'jsonl', 'missing.jsonl'])

      expect(code).toBe(1)
      expect(stderr).toContain(
        'segments: missing.jsonl: file not found; nothing from it was stored\n',
      )
    },
    CLI_TIMEOUT_MS,
  )

  it(
    'name a missing bundle version',
    async () => {
      const manifest = join(root, 'models', 'segments', 'v9', 'manifest.json')

      const { code, stderr } = await runCli(['models', 'show', 'v9'])

      expect(code).toBe(1)
      expect(stderr).toBe(
        `segments: Invalid model bundle file ${manifest}: not found; \`segments models list\` lists the published versions\n`,
      )
    },
    CLI_TIMEOUT_MS,
  )
})
