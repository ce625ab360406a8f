import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  BundleError,
  listVersions,
  loadBundle,
  readChampion,
  setChampion,
  type LoadedBundle,
} from './bundle.ts'

const HISTORY_FILE = 'champion-history.jsonl'

interface HistoryEntry {
  version: string
  promotedAt: string
}

async function readHistory(modelsDir: string, name: string): Promise<HistoryEntry[]> {
  let text: string
  try {
    text = await readFile(join(modelsDir, name, HISTORY_FILE), 'utf8')
  } catch {
    return []
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as Partial<HistoryEntry>
        return typeof entry.version === 'string' ? [entry as HistoryEntry] : []
      } catch {
        // A line cut short by a crash is skipped; the pointer file stays the source of truth.
        return []
      }
    })
}

/**
 * Further checks of a loaded bundle before it becomes champion, such as
 * building the scoring model; throws a BundleError naming the file that fails.
 */
export type BundleCheck = (bundle: LoadedBundle) => void

/**
 * Makes `version` the champion after loading it with every hash check and
 * running `check` on it, so a bundle that fails its checks never replaces the
 * one in service. Each promotion is appended to `champion-history.jsonl` for
 * rollbacks.
 */
export async function promote(
  modelsDir: string,
  name: string,
  version: string,
  now = new Date(),
  check: BundleCheck = () => undefined,
): Promise<void> {
  const versions = await listVersions(modelsDir, name)
  if (!versions.includes(version)) {
    throw new BundleError(
      join(modelsDir, name, version),
      `is not a published version of ${name}; published: ${versions.join(', ') || 'none'}`,
    )
  }
  check(await loadBundle(join(modelsDir, name, version)))
  await setChampion(modelsDir, name, version)
  const entry: HistoryEntry = { version, promotedAt: now.toISOString() }
  await appendFile(join(modelsDir, name, HISTORY_FILE), `${JSON.stringify(entry)}\n`)
}

/**
 * Makes the champion before the current one champion again: the latest
 * earlier entry of the history with another version that still loads.
 * Returns the version promoted.
 */
export async function rollback(
  modelsDir: string,
  name: string,
  now = new Date(),
  check: BundleCheck = () => undefined,
): Promise<string> {
  const current = await readChampion(modelsDir, name)
  const history = await readHistory(modelsDir, name)
  const candidates = history
    .map((entry) => entry.version)
    .reverse()
    .filter((version, index, all) => version !== current && all.indexOf(version) === index)
  for (const version of candidates) {
    try {
      await promote(modelsDir, name, version, now, check)
      return version
    } catch (error) {
      if (!(error instanceof BundleError)) throw error
    }
  }
  throw new BundleError(
    join(modelsDir, name, HISTORY_FILE),
    `holds no earlier champion of ${name} that still loads; the champion stays ${current ?? 'unset'}`,
  )
}
