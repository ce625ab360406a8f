import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { promisify } from 'node:util'

const execFileAsync = promisify(execFile)

/** Interpreter that runs nbconvert and, through Debian's `python3` kernel spec, the kernel. */
export const NOTEBOOK_PYTHON = process.env.NOTEBOOK_PYTHON ?? '/usr/bin/python3'

/** Debian packages that provide the modules the notebooks import. */
export const NOTEBOOK_PACKAGES =
  'jupyter-nbconvert python3-ipykernel python3-pandas python3-matplotlib python3-requests'

const NOTEBOOK_MODULES = ['nbconvert', 'ipykernel', 'pandas', 'matplotlib', 'requests']

/** One cell of an nbformat 4 notebook, with the fields the tests read. */
export interface NotebookCell {
  id?: string
  cell_type: 'code' | 'markdown' | 'raw'
  metadata?: Record<string, unknown>
  source: string | string[]
  execution_count?: number | null
  outputs?: { output_type: string; name?: string; text?: string | string[] }[]
}

export interface Notebook {
  cells: NotebookCell[]
  metadata: Record<string, unknown>
}

export function readNotebook(path: string): Notebook {
  return JSON.parse(readFileSync(path, 'utf8')) as Notebook
}

/** Joins a field that nbformat stores as a string or as a list of lines. */
export function joinLines(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join('') : (text ?? '')
}

const ANSI_ESCAPE = new RegExp(String.raw`\u001b\[[0-9;]*[A-Za-z]`, 'g')

function stderrOf(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr
  return typeof stderr === 'string' ? stderr.replace(ANSI_ESCAPE, '') : ''
}

/**
 * Checks that `python` can import nbconvert, ipykernel and the modules the
 * notebooks use, and throws an error that names the Debian packages to
 * install when it cannot.
 */
export async function checkJupyter(python = NOTEBOOK_PYTHON): Promise<void> {
  try {
    await execFileAsync(python, ['-c', `import ${NOTEBOOK_MODULES.join(', ')}`])
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? `${python} not found`
        : stderrOf(error).trim().split('\n').at(-1) || String(error)
    throw new Error(
      `Jupyter is missing: ${python} cannot import ${NOTEBOOK_MODULES.join(', ')} (${reason}). ` +
        `Install them with: apt-get install -y ${NOTEBOOK_PACKAGES}`,
    )
  }
}

export interface ExecuteOptions {
  /** Folder for the executed copy and for Jupyter's and matplotlib's own files. */
  outputDir: string
  /** Variables added to the kernel's environment. */
  env?: Record<string, string>
  python?: string
  /** Maximum time one cell may run, in seconds (nbconvert's `ExecutePreprocessor.timeout`). */
  cellTimeoutSeconds?: number
}

/**
 * Executes a notebook with `python -m nbconvert --execute` and returns the
 * executed copy, which is written to `outputDir`. The input file is not
 * written. The kernel is the spec named `python3`. Empty folders replace the
 * user's Jupyter folders, so jupyter_client finds that spec only in the
 * interpreter's and the system's folders, where Debian's runs /usr/bin/python3.
 * When a cell fails, the error contains nbconvert's message, with the cell's
 * source and its traceback.
 */
export async function executeNotebook(input: string, options: ExecuteOptions): Promise<Notebook> {
  const python = options.python ?? NOTEBOOK_PYTHON
  const name = basename(input, '.ipynb')
  const jupyterDir = join(options.outputDir, `${name}-jupyter`)
  mkdirSync(jupyterDir, { recursive: true })

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    JUPYTER_CONFIG_DIR: join(jupyterDir, 'config'),
    JUPYTER_DATA_DIR: join(jupyterDir, 'data'),
    JUPYTER_RUNTIME_DIR: join(jupyterDir, 'runtime'),
    MPLCONFIGDIR: join(jupyterDir, 'matplotlib'),
    PYTHONHASHSEED: '0',
    TZ: 'UTC',
    // ipykernel's kernel spec turns the debugger on, which prints a warning about frozen modules.
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
    ...options.env,
  }
  delete env.JUPYTER_PATH
  // A backend set here would replace the inline backend that shows the plots.
  delete env.MPLBACKEND

  const args = [
    '-m',
    'nbconvert',
    '--to',
    'notebook',
    '--execute',
    '--ExecutePreprocessor.kernel_name=python3',
    `--ExecutePreprocessor.timeout=${options.cellTimeoutSeconds ?? 600}`,
    '--output-dir',
    options.outputDir,
    '--output',
    name,
    input,
  ]
  try {
    await execFileAsync(python, args, { env, maxBuffer: 64 * 1024 * 1024 })
  } catch (error) {
    throw new Error(`Notebook ${basename(input)} failed:\n${stderrOf(error) || String(error)}`)
  }
  return readNotebook(join(options.outputDir, `${name}.ipynb`))
}
