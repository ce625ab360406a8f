import { createHash } from 'node:crypto'
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  BundleError,
  loadBundle,
  publishBundle,
  readChampion,
  setChampion,
  type LoadedBundle,
} from '../../src/registry/bundle.ts'
import { promote, rollback } from '../../src/registry/champion.ts'
import type { Manifest } from '../../src/registry/manifest.ts'
import { makeTempDir } from '../helpers/integration.ts'

const NAME = 'segments'
const VERSION = '20250406-test'

/** sha256 of the three bytes 'abc', as `printf abc | sha256sum` prints it. */
const SHA256_OF_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'

/** A small bundle whose artifacts are opaque to the registry, which only hashes them. */
const ARTIFACTS: Record<string, string | Buffer> = {
  'persona-scaler.json': 'abc',
  'persona-centroids.json': '[[0.5,1.5]]',
  'churn-forest.json': Buffer.from([0x7b, 0x00, 0xff, 0x10, 0x7d]),
}

function minimalManifest(version = VERSION): Omit<Manifest, 'files'> {
  return {
    kind: 'contact-segments-bundle',
    formatVersion: 1,
    name: NAME,
    version,
    createdAt: '2025-04-06T12:00:00.000Z',
    featureNames: ['opens_90d', 'clicks_90d'],
    personas: {
      features: ['opens_90d', 'clicks_90d'],
      contacts: 10,
      scalerFile: 'persona-scaler.json',
      centroidsFile: 'persona-centroids.json',
      list: [
        {
          id: 0,
          name: 'readers',
          description: 'open most messages',
          size: 3,
          centroid: { opens_90d: 4, clicks_90d: 1 },
          hourProfile: Array.from({ length: 24 }, () => 1 / 24),
        },
      ],
    },
    churn: {
      modelFile: 'churn-forest.json',
      modelKind: 'histogram-forest',
      features: ['clicks_90d'],
      horizonDays: 30,
      bands: { medium: 0.4, high: 0.7 },
    },
    training: {
      featuresAsOf: '2025-03-07T00:00:00.000Z',
      labelsUntil: '2025-05-06T00:00:00.000Z',
      contacts: 3,
      dataHash: '0'.repeat(64),
    },
    metrics: { churnTestRocAuc: 0.5 },
    reference: [{ feature: 'opens_90d', edges: [0, 1], shares: [0.5, 0.5] }],
    libraries: { zod: '4.0.0' },
  }
}

const folders: string[] = []

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

/** Builds the message loadBundle raises for an artifact whose bytes changed from `published`. */
function mismatchMessage(path: string, published: string | Buffer, found: string | Buffer) {
  const digests = `sha256 ${sha256(found)} does not match the manifest's ${sha256(published)}`
  return `Invalid model bundle file ${path}: ${digests} (truncated or altered)`
}

async function freshModelsDir(): Promise<string> {
  const folder = await makeTempDir('bundle-test')
  folders.push(folder)
  return folder
}

async function publishFresh(): Promise<{ modelsDir: string; dir: string }> {
  const modelsDir = await freshModelsDir()
  const { dir } = await publishBundle(modelsDir, minimalManifest(), ARTIFACTS)
  return { modelsDir, dir }
}

/** Returns the error `loadBundle` rejects with, or fails the test when it resolves. */
async function loadError(dir: string): Promise<unknown> {
  try {
    await loadBundle(dir)
  } catch (error) {
    return error
  }
  throw new Error(`loadBundle(${dir}) resolved, expected a BundleError`)
}

afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true })
})

describe('publishBundle', () => {
  it('round-trips through loadBundle', async () => {
    const modelsDir = await freshModelsDir()
    const published = await publishBundle(modelsDir, minimalManifest(), ARTIFACTS)
    const loaded = await loadBundle(published.dir)

    expect(published.dir).toBe(join(modelsDir, NAME, VERSION))
    expect(published.manifest.files['persona-scaler.json']).toBe(SHA256_OF_ABC)
    expect(loaded.dir).toBe(published.dir)
    expect(loaded.manifest).toEqual(published.manifest)
    expect(loaded.manifest).toEqual({ ...minimalManifest(), files: published.manifest.files })
    expect([...loaded.files.keys()].sort()).toEqual(Object.keys(ARTIFACTS).sort())
    for (const [name, data] of Object.entries(ARTIFACTS)) {
      expect(loaded.files.get(name), name).toEqual(Buffer.from(data))
    }
  })

  it('writes the manifest as JSON', async () => {
    const { dir } = await publishFresh()
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))

    expect(manifest.version).toBe(VERSION)
    expect(Object.keys(manifest.files).sort()).toEqual(Object.keys(ARTIFACTS).sort())
  })

  it('leaves no temporary folder', async () => {
    const { modelsDir } = await publishFresh()

    expect(await readdir(join(modelsDir, NAME))).toEqual([VERSION])
  })

  it('cleans up after an invalid manifest', async () => {
    const modelsDir = await freshModelsDir()
    const invalid = { ...minimalManifest(), createdAt: 'yesterday' }

    await expect(publishBundle(modelsDir, invalid, ARTIFACTS)).rejects.toThrow(/createdAt/)
    expect(await readdir(join(modelsDir, NAME))).toEqual([])
  })

  it('rejects an artifact named manifest.json', async () => {
    // The manifest is written last under the same name, so such a bundle could never load.
    const modelsDir = await freshModelsDir()
    const artifacts = { ...ARTIFACTS, 'manifest.json': '{}' }

    await expect(publishBundle(modelsDir, minimalManifest(), artifacts)).rejects.toThrow(
      /manifest\.json/,
    )
  })

  it('rejects republishing a version', async () => {
    const { modelsDir, dir } = await publishFresh()
    const changed = { ...ARTIFACTS, 'persona-scaler.json': 'abd' }

    await expect(publishBundle(modelsDir, minimalManifest(), changed)).rejects.toThrow()
    expect(await readdir(join(modelsDir, NAME))).toEqual([VERSION])
    expect((await loadBundle(dir)).manifest.files['persona-scaler.json']).toBe(SHA256_OF_ABC)
  })
})

describe('loadBundle', () => {
  it('names a missing artifact', async () => {
    const { dir } = await publishFresh()
    const path = join(dir, 'churn-forest.json')
    await rm(path)

    const error = await loadError(dir)

    expect(error).toBeInstanceOf(BundleError)
    expect((error as BundleError).file).toBe(path)
    expect((error as Error).message).toBe(`Invalid model bundle file ${path}: is missing`)
  })

  it('names a truncated artifact', async () => {
    const { dir } = await publishFresh()
    const path = join(dir, 'persona-centroids.json')
    await writeFile(path, '[[0.5,')

    const error = await loadError(dir)

    expect(error).toBeInstanceOf(BundleError)
    expect((error as BundleError).file).toBe(path)
    expect((error as Error).message).toBe(mismatchMessage(path, '[[0.5,1.5]]', '[[0.5,'))
  })

  it('names an altered byte', async () => {
    const { dir } = await publishFresh()
    const path = join(dir, 'churn-forest.json')
    const original = await readFile(path)
    const data = Buffer.from(original)
    data[2] = 0xfe
    await writeFile(path, data)

    const error = await loadError(dir)

    expect(error).toBeInstanceOf(BundleError)
    expect((error as BundleError).file).toBe(path)
    expect((error as Error).message).toBe(mismatchMessage(path, original, data))
  })

  it('names a mistyped manifest field', async () => {
    const { dir } = await publishFresh()
    const path = join(dir, 'manifest.json')
    const manifest = JSON.parse(await readFile(path, 'utf8'))
    manifest.training.contacts = '3'
    await writeFile(path, JSON.stringify(manifest))

    const error = await loadError(dir)

    expect(error).toBeInstanceOf(BundleError)
    expect((error as BundleError).file).toBe(path)
    expect((error as Error).message).toContain(`Invalid model bundle file ${path}: `)
    expect((error as Error).message).toContain('training.contacts: ')
  })

  it('names a manifest that is not JSON', async () => {
    const { dir } = await publishFresh()
    const path = join(dir, 'manifest.json')
    await writeFile(path, '{"kind":')

    const error = await loadError(dir)

    expect(error).toBeInstanceOf(BundleError)
    expect((error as BundleError).file).toBe(path)
    expect((error as Error).message).toContain(`${path}: is not valid JSON`)
  })
})

describe('champion pointer', () => {
  it('reads undefined before any', async () => {
    const modelsDir = await freshModelsDir()

    expect(await readChampion(modelsDir, NAME)).toBeUndefined()
  })

  it('round-trips setChampion', async () => {
    const { modelsDir } = await publishFresh()

    await setChampion(modelsDir, NAME, VERSION)
    expect(await readChampion(modelsDir, NAME)).toBe(VERSION)
    await setChampion(modelsDir, NAME, 'next')
    expect(await readChampion(modelsDir, NAME)).toBe('next')
    expect((await readdir(join(modelsDir, NAME))).sort()).toEqual([VERSION, 'champion.json'])
  })

  it('names an invalid pointer file', async () => {
    const { modelsDir } = await publishFresh()
    const path = join(modelsDir, NAME, 'champion.json')
    await writeFile(path, JSON.stringify({ version: '' }))

    const error = await readChampion(modelsDir, NAME).catch((caught: unknown) => caught)

    expect(error).toBeInstanceOf(BundleError)
    expect((error as BundleError).file).toBe(path)
    expect((error as Error).message).toContain(`${path}: version: `)
  })
})

describe('promote and rollback', () => {
  async function publishVersions(...versions: string[]): Promise<string> {
    const modelsDir = await freshModelsDir()
    for (const version of versions)
      await publishBundle(modelsDir, minimalManifest(version), ARTIFACTS)
    return modelsDir
  }

  it('promotes a checked version', async () => {
    const modelsDir = await publishVersions('v1', 'v2')
    await promote(modelsDir, NAME, 'v1')
    await promote(modelsDir, NAME, 'v2')
    expect(await readChampion(modelsDir, NAME)).toBe('v2')
  })

  it('rejects an unknown version', async () => {
    const modelsDir = await publishVersions('v1')
    await expect(promote(modelsDir, NAME, 'v9')).rejects.toThrow(
      `Invalid model bundle file ${join(modelsDir, NAME, 'v9')}: is not a published version of segments; published: v1`,
    )
  })

  it('keeps the champion when a check fails', async () => {
    const modelsDir = await publishVersions('v1', 'v2')
    await promote(modelsDir, NAME, 'v1')
    await writeFile(join(modelsDir, NAME, 'v2', 'churn-forest.json'), 'altered')
    await expect(promote(modelsDir, NAME, 'v2')).rejects.toBeInstanceOf(BundleError)
    expect(await readChampion(modelsDir, NAME)).toBe('v1')
  })

  it('keeps the champion when the extra check fails', async () => {
    const modelsDir = await publishVersions('v1', 'v2')
    await promote(modelsDir, NAME, 'v1')
    const rejectV2 = (bundle: LoadedBundle) => {
      if (bundle.manifest.version === 'v2') throw new BundleError(bundle.dir, 'does not serve')
    }
    await expect(promote(modelsDir, NAME, 'v2', new Date(), rejectV2)).rejects.toThrow(
      'does not serve',
    )
    expect(await readChampion(modelsDir, NAME)).toBe('v1')
  })

  it('skips versions the check rejects on rollback', async () => {
    const modelsDir = await publishVersions('v1', 'v2', 'v3')
    for (const version of ['v1', 'v2', 'v3']) await promote(modelsDir, NAME, version)
    const rejectV2 = (bundle: LoadedBundle) => {
      if (bundle.manifest.version === 'v2') throw new BundleError(bundle.dir, 'does not serve')
    }
    expect(await rollback(modelsDir, NAME, new Date(), rejectV2)).toBe('v1')
  })

  it('rejects a manifest version that differs from its folder', async () => {
    const modelsDir = await publishVersions('v1', 'v2')
    await rename(join(modelsDir, NAME, 'v2'), join(modelsDir, NAME, 'v3'))
    await expect(promote(modelsDir, NAME, 'v3')).rejects.toThrow(
      'version "v2" does not match its folder "v3"',
    )
  })

  it('rolls back to the previous champion', async () => {
    const modelsDir = await publishVersions('v1', 'v2', 'v3')
    await promote(modelsDir, NAME, 'v1')
    await promote(modelsDir, NAME, 'v2')
    await promote(modelsDir, NAME, 'v3')
    expect(await rollback(modelsDir, NAME)).toBe('v2')
    expect(await readChampion(modelsDir, NAME)).toBe('v2')
  })

  it('skips a previous champion that no longer loads', async () => {
    const modelsDir = await publishVersions('v1', 'v2', 'v3')
    for (const version of ['v1', 'v2', 'v3']) await promote(modelsDir, NAME, version)
    await rm(join(modelsDir, NAME, 'v2', 'persona-scaler.json'))
    expect(await rollback(modelsDir, NAME)).toBe('v1')
  })

  it('fails without an earlier champion', async () => {
    const modelsDir = await publishVersions('v1')
    await promote(modelsDir, NAME, 'v1')
    await expect(rollback(modelsDir, NAME)).rejects.toThrow(
      'holds no earlier champion of segments that still loads; the champion stays v1',
    )
  })
})
