import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { z } from 'zod'
import { manifestSchema, type Manifest } from './manifest.ts'

/** Raised when a bundle on disk is missing a file, has a file that does not match its hash, or an invalid manifest. */
export class BundleError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`Invalid model bundle file ${file}: ${reason}`)
    this.name = 'BundleError'
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

export const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

export interface LoadedBundle {
  dir: string
  manifest: Manifest
  /** Artifact contents by file name, already checked against the manifest's hashes. */
  files: Map<string, Buffer>
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ')
}

type PersonaFields = Manifest['personas']

/** Names the field that shows a bundle was written with week profiles, or undefined for an older bundle. */
function weekProfileMarker(personas: PersonaFields): string | undefined {
  if (personas.chosenK !== undefined) return 'personas.chosenK'
  if (personas.weekProfile !== undefined) return 'personas.weekProfile'
  const index = personas.list.findIndex((persona) => persona.weekProfile !== undefined)
  return index >= 0 ? `personas.list.${index}.weekProfile` : undefined
}

/** Names the first week profile a bundle lacks, or undefined when it has all of them. */
function missingWeekProfile(personas: PersonaFields): string | undefined {
  if (personas.weekProfile === undefined) return 'personas.weekProfile'
  const index = personas.list.findIndex((persona) => persona.weekProfile === undefined)
  return index >= 0 ? `personas.list.${index}.weekProfile` : undefined
}

/**
 * Rejects persona fields that disagree. Training has written chosenK and the
 * week profiles together since they were added, so a bundle with chosenK or
 * any week profile must have everyone's and every persona's week profile.
 * Older bundles have none of them and get their send time from the 24-hour profiles.
 */
function checkPersonaFields(manifestPath: string, personas: PersonaFields): void {
  const { chosenK, list } = personas
  if (chosenK !== undefined && chosenK !== list.length) {
    throw new BundleError(
      manifestPath,
      `personas.chosenK is ${chosenK}, but personas.list has ${list.length} personas; retrain the bundle`,
    )
  }
  const marker = weekProfileMarker(personas)
  const missing = missingWeekProfile(personas)
  if (marker === undefined || missing === undefined) return
  throw new BundleError(
    manifestPath,
    `${missing} is missing, but a bundle with ${marker} must have everyone's and every persona's week profile; retrain the bundle`,
  )
}

/** Loads a bundle folder, checking the manifest's schema and every file's sha256. */
export async function loadBundle(dir: string): Promise<LoadedBundle> {
  const manifestPath = join(dir, 'manifest.json')
  let text: string
  try {
    text = await readFile(manifestPath, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new BundleError(
        manifestPath,
        'not found; `segments models list` lists the published versions',
      )
    }
    throw new BundleError(manifestPath, `cannot be read (${code ?? error})`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new BundleError(manifestPath, `is not valid JSON (${(error as Error).message})`)
  }
  const parsed = manifestSchema.safeParse(json)
  if (!parsed.success) throw new BundleError(manifestPath, describeIssues(parsed.error))
  if (parsed.data.version !== basename(dir)) {
    throw new BundleError(
      manifestPath,
      `version ${JSON.stringify(parsed.data.version)} does not match its folder ${JSON.stringify(basename(dir))}`,
    )
  }
  checkPersonaFields(manifestPath, parsed.data.personas)

  const files = new Map<string, Buffer>()
  for (const [name, expected] of Object.entries(parsed.data.files)) {
    const path = join(dir, name)
    let data: Buffer
    try {
      data = await readFile(path)
    } catch {
      throw new BundleError(path, 'is missing')
    }
    const actual = sha256Hex(data)
    if (actual !== expected) {
      throw new BundleError(
        path,
        `sha256 ${actual} does not match the manifest's ${expected} (truncated or altered)`,
      )
    }
    files.set(name, data)
  }
  return { dir, manifest: parsed.data, files }
}

/** Parses one JSON artifact of a loaded bundle, naming the file on failure. */
export function readJsonArtifact(bundle: LoadedBundle, name: string): unknown {
  const data = bundle.files.get(name)
  if (!data) throw new BundleError(join(bundle.dir, name), 'is not listed in the manifest')
  try {
    return JSON.parse(data.toString('utf8'))
  } catch (error) {
    throw new BundleError(join(bundle.dir, name), `is not valid JSON (${(error as Error).message})`)
  }
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Temporary folders this process is writing now. */
const ownTemporaryFolders = new Set<string>()

/**
 * Removes temporary folders left by publishers that died mid-write: their
 * names end with the writer's process id, and that process is gone. A folder
 * with this process's id that this process is not writing is abandoned too,
 * because its writer had the same id before (a restarted container's worker
 * often does).
 *
 * NOTE: process ids are checked on this machine only, so on a models folder
 * shared by several machines this can remove another machine's folder mid-write.
 */
async function removeAbandonedFolders(parent: string): Promise<void> {
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  for (const name of names) {
    const pid = /^\.tmp-.+-(\d+)$/.exec(name)?.[1]
    if (pid === undefined) continue
    const abandoned =
      Number(pid) === process.pid
        ? !ownTemporaryFolders.has(join(parent, name))
        : !isAlive(Number(pid))
    if (abandoned) {
      await rm(join(parent, name), { recursive: true, force: true })
    }
  }
}

/** Artifact names are plain file names, so no manifest entry can point outside its bundle. */
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/**
 * Writes a bundle into `modelsDir/<name>/<version>` atomically: files go to a
 * temporary folder beside it, which is renamed into place once complete, so
 * a reader never sees half a bundle.
 */
export async function publishBundle(
  modelsDir: string,
  manifest: Omit<Manifest, 'files'>,
  artifacts: Record<string, string | Buffer>,
): Promise<{ dir: string; manifest: Manifest }> {
  for (const name of Object.keys(artifacts)) {
    if (name === 'manifest.json' || !ARTIFACT_NAME.test(name)) {
      throw new RangeError(
        `Invalid artifact name ${JSON.stringify(name)}: expected a plain file name other than manifest.json`,
      )
    }
  }
  const parent = join(modelsDir, manifest.name)
  const dir = join(parent, manifest.version)
  await removeAbandonedFolders(parent)
  if (await exists(dir)) {
    throw new BundleError(
      dir,
      'already exists: every published version is kept as it was; choose another version name',
    )
  }
  const temporary = join(parent, `.tmp-${manifest.version}-${process.pid}`)
  ownTemporaryFolders.add(temporary)
  try {
    await mkdir(temporary, { recursive: true })
  } catch (error) {
    ownTemporaryFolders.delete(temporary)
    throw error
  }

  try {
    const files: Record<string, string> = {}
    for (const [name, data] of Object.entries(artifacts)) {
      await writeFile(join(temporary, name), data)
      files[name] = sha256Hex(data)
    }
    const complete = manifestSchema.parse({ ...manifest, files })
    await writeFile(join(temporary, 'manifest.json'), `${JSON.stringify(complete, null, 2)}\n`)
    await rename(temporary, dir)
    return { dir, manifest: complete }
  } catch (error) {
    await rm(temporary, { recursive: true, force: true })
    throw error
  } finally {
    ownTemporaryFolders.delete(temporary)
  }
}

const championSchema = z.object({
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a version folder name'),
})

/** Marks `version` as the champion of `name`, replacing the pointer file atomically. */
export async function setChampion(modelsDir: string, name: string, version: string): Promise<void> {
  const pointer = join(modelsDir, name, 'champion.json')
  const temporary = `${pointer}.tmp-${process.pid}`
  await writeFile(temporary, `${JSON.stringify({ version })}\n`)
  await rename(temporary, pointer)
}

/** Returns the champion version of `name`, or undefined when none is marked. */
export async function readChampion(modelsDir: string, name: string): Promise<string | undefined> {
  const pointer = join(modelsDir, name, 'champion.json')
  let text: string
  try {
    text = await readFile(pointer, 'utf8')
  } catch {
    return undefined
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new BundleError(pointer, `is not valid JSON (${(error as Error).message})`)
  }
  const parsed = championSchema.safeParse(json)
  if (!parsed.success) throw new BundleError(pointer, describeIssues(parsed.error))
  return parsed.data.version
}

/** Lists the published versions of `name`, oldest first (temporary folders excluded). */
export async function listVersions(modelsDir: string, name: string): Promise<string[]> {
  try {
    const entries = await readdir(join(modelsDir, name), { withFileTypes: true })
    return entries
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort()
  } catch {
    return []
  }
}

/** Loads the champion bundle of `name`. */
export async function loadChampion(modelsDir: string, name: string): Promise<LoadedBundle> {
  const version = await readChampion(modelsDir, name)
  if (!version) {
    throw new BundleError(
      join(modelsDir, name, 'champion.json'),
      'is missing: no champion bundle is marked; run `segments train` first',
    )
  }
  return loadBundle(join(modelsDir, name, version))
}
