/**
 * Consistency checks of trained bundles that `serve`, the champion reload and
 * `segments models promote` share, and the log of a champion that fails at start.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildScoringModel } from '../../inference/model.ts'
import { ScoringService } from '../../inference/service.ts'
import { prepareServer } from '../../src/cli/commands/serve.ts'
import { loadConfig } from '../../src/config/index.ts'
import {
  BundleError,
  loadBundle,
  publishBundle,
  readChampion,
  setChampion,
} from '../../src/registry/bundle.ts'
import { promote } from '../../src/registry/champion.ts'
import type { Manifest } from '../../src/registry/manifest.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000

type ManifestFields = Omit<Manifest, 'files'>

let setup: TrainedStore
let trainedFields: ManifestFields

/**
 * Publishes a copy of the trained bundle as `version` of `name`, with its
 * manifest changed by `change` and some artifacts replaced. Returns its folder.
 */
async function publishVariant(
  version: string,
  change: (manifest: ManifestFields) => ManifestFields = (manifest) => manifest,
  replaced: Record<string, string> = {},
  name = setup.bundle,
): Promise<string> {
  const { dir, manifest } = setup.trained
  const artifacts: Record<string, string | Buffer> = {}
  for (const file of Object.keys(manifest.files)) artifacts[file] = await readFile(join(dir, file))
  Object.assign(artifacts, replaced)
  const fields = change(structuredClone({ ...trainedFields, name, version }))
  const published = await publishBundle(setup.config.modelsDir, fields, artifacts)
  return published.dir
}

/** Returns the BundleError that loading and building the bundle in `dir` raises. */
async function bundleError(dir: string): Promise<BundleError> {
  try {
    buildScoringModel(await loadBundle(dir))
  } catch (error) {
    if (error instanceof BundleError) return error
    throw error
  }
  throw new Error(`the bundle in ${dir} passed every check, expected a BundleError`)
}

/** Removes every week profile, chosenK and the other persona fields written with them. */
function olderPersonas(manifest: ManifestFields): ManifestFields {
  const {
    weekProfile: _week,
    chosenK: _k,
    kSelection: _selection,
    stability: _stability,
    dbscan: _dbscan,
    ...personas
  } = manifest.personas
  const list = personas.list.map(({ weekProfile: _profile, ...persona }) => persona)
  return { ...manifest, personas: { ...personas, list } }
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'bundle-checks-test' })
  const { files: _files, ...fields } = setup.trained.manifest
  trainedFields = fields
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await setup?.close()
})

describe('bundle checks', () => {
  it('accept the trained bundle', async () => {
    const model = buildScoringModel(await loadBundle(setup.trained.dir))

    expect(model.manifest.personas.chosenK).toBe(model.manifest.personas.list.length)
  })

  it('reject a decreasing calibration', async () => {
    const calibrationFile = trainedFields.churn.calibrationFile as string
    const decreasing = { kind: 'isotonic', formatVersion: 1, x: [0, 0.5, 1], y: [0.1, 0.8, 0.3] }
    const dir = await publishVariant('decreasing-calibration', undefined, {
      [calibrationFile]: JSON.stringify(decreasing),
    })

    const error = await bundleError(dir)

    expect(error.file).toBe(join(dir, calibrationFile))
    expect(error.reason).toMatch(/y must be non-decreasing/)
    expect(error.reason).toMatch(/y\[2\]/)
  })

  it('reject chosenK unlike the persona count', async () => {
    const count = trainedFields.personas.list.length
    const dir = await publishVariant('wrong-k', (manifest) => {
      manifest.personas.chosenK = count + 1
      return manifest
    })

    const error = await bundleError(dir)

    expect(error.file).toBe(join(dir, 'manifest.json'))
    expect(error.reason).toBe(
      `personas.chosenK is ${count + 1}, but personas.list has ${count} personas; retrain the bundle`,
    )
  })

  it("reject a missing persona's week profile", async () => {
    const dir = await publishVariant('no-persona-week', (manifest) => {
      delete manifest.personas.list[1]?.weekProfile
      return manifest
    })

    const error = await bundleError(dir)

    expect(error.file).toBe(join(dir, 'manifest.json'))
    expect(error.reason).toBe(
      "personas.list.1.weekProfile is missing, but a bundle with personas.chosenK must have everyone's and every persona's week profile; retrain the bundle",
    )
  })

  it("reject a missing everyone's week profile", async () => {
    const dir = await publishVariant('no-global-week', (manifest) => {
      delete manifest.personas.weekProfile
      return manifest
    })

    const error = await bundleError(dir)

    expect(error.file).toBe(join(dir, 'manifest.json'))
    expect(error.reason).toMatch(
      /^personas\.weekProfile is missing, but a bundle with personas\.chosenK /,
    )
  })

  it('reject week profiles of some personas only', async () => {
    // Without chosenK, everyone's week profile alone marks a bundle written with week profiles.
    const dir = await publishVariant('partial-week', (manifest) => {
      const older = olderPersonas(manifest)
      older.personas.weekProfile = manifest.personas.weekProfile
      return older
    })

    const error = await bundleError(dir)

    expect(error.reason).toMatch(
      /^personas\.list\.0\.weekProfile is missing, but a bundle with personas\.weekProfile /,
    )
  })

  it('accept an older bundle without week profiles', async () => {
    const dir = await publishVariant('older-personas', olderPersonas)

    const model = buildScoringModel(await loadBundle(dir))

    expect(model.manifest.personas.chosenK).toBeUndefined()
    expect(model.manifest.personas.weekProfile).toBeUndefined()
  })

  it('keep promote from marking a failing bundle', async () => {
    const dir = await publishVariant('promote-wrong-k', (manifest) => {
      manifest.personas.chosenK = 1
      return manifest
    })
    const { modelsDir } = setup.config
    const championBefore = await readChampion(modelsDir, setup.bundle)

    const promotion = promote(modelsDir, setup.bundle, 'promote-wrong-k', new Date(), (bundle) => {
      buildScoringModel(bundle)
    })

    await expect(promotion).rejects.toThrow(
      `Invalid model bundle file ${join(dir, 'manifest.json')}: personas.chosenK is 1`,
    )
    expect(await readChampion(modelsDir, setup.bundle)).toBe(championBefore)
  })
})

describe('serve start', () => {
  it('logs a failing champion once', async () => {
    // A bundle of its own name, so the trained champion stays as it is for the other tests.
    const name = 'broken-at-start'
    const dir = await publishVariant('v1', undefined, {}, name)
    await writeFile(join(dir, trainedFields.churn.modelFile), '{"trees": "garbage"')
    await setChampion(setup.config.modelsDir, name, 'v1')
    // An hour between reload checks, so only the checks below run during the test.
    const config = loadConfig({
      ...setup.env,
      SEGMENTS_LOG_LEVEL: 'info',
      SEGMENTS_MODEL_RELOAD_SECONDS: '3600',
    })
    const service = new ScoringService(config, setup.store, name)
    const lines: { level: number; msg: string; err?: { message: string } }[] = []
    const app = await prepareServer(service, {
      logStream: { write: (line: string) => void lines.push(JSON.parse(line)) },
    })

    try {
      // The watcher's first checks after start, run at once.
      expect(await service.reloadChampion(app.log)).toBe('failed')
      expect(await service.reloadChampion(app.log)).toBe('failed')
    } finally {
      await app.close()
    }

    const failures = lines.filter((line) => line.err?.message.includes('v1'))
    expect(failures).toHaveLength(1)
    expect(failures[0]?.level).toBe(40)
    expect(failures[0]?.msg).toMatch(/^no model loaded; \/v1\/score returns 503 until /)
    expect(failures[0]?.err?.message).toContain(join(name, 'v1', trainedFields.churn.modelFile))
    expect(service.model).toBeUndefined()
    expect(service.lastReloadError?.version).toBe('v1')
    expect(service.lastReloadError?.file).toBe(join(name, 'v1', trainedFields.churn.modelFile))
  })
})
