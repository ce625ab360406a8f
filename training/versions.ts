import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)

const LIBRARIES = [
  '@clickhouse/client',
  'chdb',
  'zod',
  'ml-kmeans',
  'ml-random-forest',
  'density-clustering',
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-wasm',
]

/**
 * Reads the version of an installed package. Packages with an `exports` map that leaves out
 * `package.json` (ml-kmeans 7) cannot be required by that path, so the folders above the
 * resolved entry point are searched for the package.json that carries the package's name.
 */
function packageVersion(name: string): string {
  let dir = dirname(require.resolve(name))
  for (;;) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (json.name === name && json.version) return json.version
    } catch {
      // No readable package.json in this folder: go on to the parent.
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`no package.json names ${name}`)
    dir = parent
  }
}

/** Versions of the libraries a bundle was trained with, read from their package.json files. */
export function libraryVersions(): Record<string, string> {
  const versions: Record<string, string> = { node: process.version }
  for (const name of LIBRARIES) {
    try {
      versions[name] = packageVersion(name)
    } catch {
      versions[name] = 'not installed'
    }
  }
  return versions
}
