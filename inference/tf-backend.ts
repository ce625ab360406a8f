/**
 * Picks the tfjs backend once per process: `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node`, then `@tensorflow/tfjs-backend-wasm`, then the
 * plain JavaScript `cpu` backend. The native packages are optional, because
 * their install downloads a TensorFlow binary, so each step that fails to
 * import or to initialize falls through to the next.
 */
import * as tf from '@tensorflow/tfjs'

/** The subset of a pino logger the loader writes to. */
export interface BackendLogger {
  info(object: object, message: string): void
  warn(object: object, message: string): void
}

interface Candidate {
  /** Package that registers the backend, or null for the built-in cpu backend. */
  packageName: string | null
  backend: string
}

const CANDIDATES: Candidate[] = [
  { packageName: '@tensorflow/tfjs-node-gpu', backend: 'tensorflow' },
  { packageName: '@tensorflow/tfjs-node', backend: 'tensorflow' },
  { packageName: '@tensorflow/tfjs-backend-wasm', backend: 'wasm' },
  { packageName: null, backend: 'cpu' },
]

/** The backend in use and the package that provided it. */
export interface TfBackend {
  /** tfjs backend name: `tensorflow` (native, CPU or GPU), `wasm` or `cpu`. */
  name: string
  /** Package that registered it; `@tensorflow/tfjs` for the built-in cpu backend. */
  packageName: string
  /** Candidates that failed before it, with the error message of each. */
  skipped: { packageName: string; reason: string }[]
}

let loading: Promise<TfBackend> | undefined
let chosen: TfBackend | undefined

// A variable specifier keeps TypeScript from resolving optional packages that are not installed.
const importOptional = (specifier: string): Promise<unknown> => import(specifier)

async function tryCandidate(candidate: Candidate): Promise<void> {
  if (candidate.packageName !== null) await importOptional(candidate.packageName)
  if (!(await tf.setBackend(candidate.backend))) {
    throw new Error(`tf.setBackend('${candidate.backend}') returned false`)
  }
  await tf.ready()
}

async function pickBackend(
  log: BackendLogger | undefined,
  candidates: Candidate[],
): Promise<TfBackend> {
  const skipped: TfBackend['skipped'] = []
  for (const candidate of candidates) {
    const packageName = candidate.packageName ?? '@tensorflow/tfjs'
    try {
      await tryCandidate(candidate)
      const result = { name: tf.getBackend(), packageName, skipped }
      log?.info({ backend: result.name, package: packageName, skipped }, 'tfjs backend chosen')
      return result
    } catch (error) {
      skipped.push({ packageName, reason: (error as Error).message })
      // The native packages are optional and usually absent, so their failure is expected.
      if (candidate.packageName === '@tensorflow/tfjs-backend-wasm') {
        log?.warn({ err: error }, 'tfjs wasm backend failed to load; trying the next backend')
      }
    }
  }
  throw new Error(`no tfjs backend could be loaded: ${JSON.stringify(skipped)}`)
}

/**
 * Loads the first backend that works and makes it the tfjs default. Later
 * calls return the same result without loading again. `log` receives one
 * info line with the choice and the skipped candidates, and a warning when
 * the wasm backend fails.
 */
export function loadTfBackend(log?: BackendLogger): Promise<TfBackend> {
  loading ??= pickBackend(log, CANDIDATES).then((result) => {
    chosen = result
    return result
  })
  return loading
}

/**
 * Returns the name of the backend chosen by `loadTfBackend`, or null before
 * it has finished.
 */
export function backendName(): string | null {
  return chosen?.name ?? null
}

/**
 * Returns the package that provided the chosen backend, which distinguishes
 * `@tensorflow/tfjs-node-gpu` from `@tensorflow/tfjs-node`, or null before
 * `loadTfBackend` has finished.
 */
export function backendPackage(): string | null {
  return chosen?.packageName ?? null
}

/** Runs the candidate chain on a custom list, for tests of the fallback order. */
export function pickBackendFrom(
  candidates: { packageName: string | null; backend: string }[],
  log?: BackendLogger,
): Promise<TfBackend> {
  return pickBackend(log, candidates)
}
