import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

const LIBRARIES = [
  '@clickhouse/client',
  'chdb',
  'zod',
  'ml-kmeans',
  'ml-random-forest',
  '@tensorflow/tfjs',
]

/** Versions of the libraries a bundle was trained with, read from their package.json files. */
export function libraryVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.version }
  for (const name of LIBRARIES) {
    try {
      versions[name] = (require(`${name}/package.json`) as { version: string }).version
    } catch {
      versions[name] = 'not installed'
    }
  }
  return versions
}
