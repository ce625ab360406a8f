import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  checkJupyter,
  executeNotebook,
  joinLines,
  NOTEBOOK_PYTHON,
  readNotebook,
  type Notebook,
} from './nbconvert.ts'

const REPO = resolve(import.meta.dirname, '../..')
const NOTEBOOKS_DIR = join(REPO, 'notebooks')
const FAILING_FIXTURE = join(import.meta.dirname, 'fixtures', 'failing-cell.ipynb')
const NOTEBOOK_FILES = readdirSync(NOTEBOOKS_DIR)
  .filter((file) => file.endsWith('.ipynb'))
  .sort()

// Measured on a 2-core machine: train-and-compare.ipynb ran in 53 to 67 s and
// score-api.ipynb in 21 to 30 s, so 15 minutes leaves room for a busy machine.
const NOTEBOOK_TIMEOUT_MS = 900_000

const scratch = mkdtempSync(join(tmpdir(), 'segments-notebooks-test-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

function codeCells(notebook: Notebook) {
  return notebook.cells.filter((cell) => cell.cell_type === 'code')
}

function streamText(notebook: Notebook): string {
  return codeCells(notebook)
    .flatMap((cell) => cell.outputs ?? [])
    .filter((output) => output.output_type === 'stream')
    .map((output) => joinLines(output.text))
    .join('')
}

/** Returns whether a process is running, from Linux's /proc. A zombie (exited, not yet reaped) counts as stopped. */
function processRunning(pid: number): boolean {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return state !== 'Z'
}

function serverPid(workDir: string): number {
  const pid = Number(readFileSync(join(workDir, 'server.pid'), 'utf8'))
  expect(Number.isInteger(pid)).toBe(true)
  expect(pid).toBeGreaterThan(0)
  return pid
}

describe('notebook runner', () => {
  it('names the packages when Jupyter is missing', async () => {
    const missing = checkJupyter('/nonexistent/bin/python3')
    await expect(missing).rejects.toThrow(/Jupyter is missing/)
    await expect(missing).rejects.toThrow(/not found/)
    await expect(missing).rejects.toThrow(/apt-get install -y jupyter-nbconvert python3-ipykernel/)
  })

  it('reports a failing cell with its error text', async () => {
    await checkJupyter()
    const run = executeNotebook(FAILING_FIXTURE, { outputDir: join(scratch, 'failing') })
    await expect(run).rejects.toThrow(/Notebook failing-cell\.ipynb failed/)
    await expect(run).rejects.toThrow(/ValueError: fixture cell failed on purpose: 42/)
  }, 120_000)
})

describe('notebooks', () => {
  it('includes both walk-throughs', () => {
    expect(NOTEBOOK_FILES).toContain('train-and-compare.ipynb')
    expect(NOTEBOOK_FILES).toContain('score-api.ipynb')
  })

  it.each(NOTEBOOK_FILES)('%s is committed without outputs', (file) => {
    for (const cell of codeCells(readNotebook(join(NOTEBOOKS_DIR, file)))) {
      expect(cell.outputs).toEqual([])
      expect(cell.execution_count).toBeNull()
    }
  })

  it.each(NOTEBOOK_FILES)(
    '%s runs to the end',
    async (file) => {
      await checkJupyter()
      const name = file.replace(/\.ipynb$/, '')
      const workDir = join(scratch, `${name}-work`)
      const listingBefore = readdirSync(NOTEBOOKS_DIR).sort()
      const sourceBefore = readFileSync(join(NOTEBOOKS_DIR, file), 'utf8')

      const executed = await executeNotebook(join(NOTEBOOKS_DIR, file), {
        outputDir: join(scratch, `${name}-out`),
        env: { NOTEBOOK_WORK_DIR: workDir },
      })

      const cells = codeCells(executed)
      expect(cells.length).toBeGreaterThan(0)
      for (const cell of cells) {
        expect(cell.execution_count).toBeTypeOf('number')
        expect((cell.outputs ?? []).filter((output) => output.output_type === 'error')).toEqual([])
      }
      expect(streamText(executed)).toContain(`kernel interpreter: ${NOTEBOOK_PYTHON}\n`)
      expect(streamText(executed)).toContain(`work folder: ${workDir}\n`)

      // The run writes nothing into the repository's notebooks folder.
      expect(readdirSync(NOTEBOOKS_DIR).sort()).toEqual(listingBefore)
      expect(readFileSync(join(NOTEBOOKS_DIR, file), 'utf8')).toBe(sourceBefore)

      if (name === 'score-api') expect(processRunning(serverPid(workDir))).toBe(false)
    },
    NOTEBOOK_TIMEOUT_MS,
  )
})

describe('score-api notebook', () => {
  it(
    'stops its server after a failing cell',
    async () => {
      await checkJupyter()
      const notebook = readNotebook(join(NOTEBOOKS_DIR, 'score-api.ipynb'))
      const startIndex = notebook.cells.findIndex((cell) =>
        joinLines(cell.source).includes('atexit.register(stop_server)'),
      )
      expect(startIndex).toBeGreaterThan(0)
      notebook.cells.splice(startIndex + 1, 0, {
        id: 'injected-failure',
        cell_type: 'code',
        metadata: {},
        source: "raise RuntimeError('injected failure after the server started')",
        execution_count: null,
        outputs: [],
      })
      const copy = join(scratch, 'score-api-failing.ipynb')
      writeFileSync(copy, JSON.stringify(notebook))
      const workDir = join(scratch, 'score-api-failing-work')

      const run = executeNotebook(copy, {
        outputDir: join(scratch, 'score-api-failing-out'),
        env: { NOTEBOOK_WORK_DIR: workDir, NOTEBOOK_REPO_DIR: REPO },
      })

      await expect(run).rejects.toThrow(/RuntimeError: injected failure after the server started/)
      expect(processRunning(serverPid(workDir))).toBe(false)
    },
    NOTEBOOK_TIMEOUT_MS,
  )
})
