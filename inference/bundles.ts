import { join, relative } from 'node:path'
import { BundleError, listVersions, loadBundle, readChampion } from '../src/registry/bundle.ts'

export interface BundleSummary {
  version: string
  createdAt: string | null
  metrics: Record<string, number> | null
  champion: boolean
  loaded: boolean
  error?: string
}

export interface BundleListing {
  name: string
  champion: string | null
  loaded: string | null
  bundles: BundleSummary[]
}

/** Rewrites a BundleError's message with its file relative to the models folder. */
function describeBundleError(modelsDir: string, error: BundleError): string {
  return error.message.replace(error.file, relative(modelsDir, error.file))
}

/**
 * Lists the published versions of `name`, oldest first, each loaded with
 * every hash check as `segments models list` does. A version that fails its
 * checks is listed with the reason. An invalid champion.json raises its BundleError.
 */
export async function listBundles(
  modelsDir: string,
  name: string,
  loadedVersion: string | undefined,
): Promise<BundleListing> {
  const champion = (await readChampion(modelsDir, name)) ?? null
  const bundles: BundleSummary[] = []
  // NOTE: every call reads and hashes every file of every version. The cost grows with the
  // number of versions kept, which suits an admin route but not a frequent poll.
  for (const version of await listVersions(modelsDir, name)) {
    const flags = { champion: version === champion, loaded: version === loadedVersion }
    try {
      const { manifest } = await loadBundle(join(modelsDir, name, version))
      bundles.push({ version, createdAt: manifest.createdAt, metrics: manifest.metrics, ...flags })
    } catch (error) {
      if (!(error instanceof BundleError)) throw error
      const reason = describeBundleError(modelsDir, error)
      bundles.push({ version, createdAt: null, metrics: null, ...flags, error: reason })
    }
  }
  return { name, champion, loaded: loadedVersion ?? null, bundles }
}
