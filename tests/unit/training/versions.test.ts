import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { libraryVersions } from '../../../training/versions.ts'

const installedVersion = (name: string) =>
  (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string })
    .version

describe('libraryVersions', () => {
  it('reads packages whose exports hide package.json', () => {
    // ml-kmeans 7 exports only its entry point, so `ml-kmeans/package.json` cannot be required.
    expect(libraryVersions()['ml-kmeans']).toBe(installedVersion('ml-kmeans'))
  })

  it('reads every listed library', () => {
    const versions = libraryVersions()
    for (const name of ['chdb', 'zod', 'density-clustering', '@tensorflow/tfjs']) {
      expect(versions[name]).toBe(installedVersion(name))
    }
    expect(versions.node).toBe(process.version)
  })
})
