import { join } from 'node:path'
import type { Command } from 'commander'
import { buildScoringModel } from '../../../inference/model.ts'
import {
  BundleError,
  listVersions,
  loadBundle,
  readChampion,
  type LoadedBundle,
} from '../../registry/bundle.ts'
import { promote, rollback } from '../../registry/champion.ts'
import { DEFAULT_BUNDLE, getConfig } from '../context.ts'

const write = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)

async function listBundles(name: string): Promise<void> {
  const { modelsDir } = getConfig()
  const champion = await readChampion(modelsDir, name).catch(() => undefined)
  const rows = []
  for (const version of await listVersions(modelsDir, name)) {
    try {
      const { manifest } = await loadBundle(join(modelsDir, name, version))
      rows.push({
        version,
        champion: version === champion,
        createdAt: manifest.createdAt,
        churnTestRocAuc: manifest.metrics.churnTestRocAuc,
        personas: manifest.personas.list.length,
      })
    } catch (error) {
      if (!(error instanceof BundleError)) throw error
      rows.push({ version, champion: version === champion, invalid: error.message })
    }
  }
  write(rows)
}

/** Builds the scoring model as `serve` does, so a bundle that would not serve is never promoted. */
function checkServable(bundle: LoadedBundle): void {
  buildScoringModel(bundle).churn.dispose()
}

export function registerModels(program: Command): void {
  const models = program
    .command('models')
    .description('List, inspect, promote and roll back model bundles in SEGMENTS_MODELS_DIR')

  models
    .command('list')
    .description(
      'List the versions of a bundle with their metrics; a version that fails its checks says why',
    )
    .option('--name <name>', 'bundle name', DEFAULT_BUNDLE)
    .action(async (opts: { name: string }) => listBundles(opts.name))

  models
    .command('show')
    .description('Print the manifest of one version after checking every file against its hash')
    .argument('<version>', 'version folder name')
    .option('--name <name>', 'bundle name', DEFAULT_BUNDLE)
    .action(async (version: string, opts: { name: string }) => {
      const { manifest } = await loadBundle(join(getConfig().modelsDir, opts.name, version))
      write(manifest)
    })

  models
    .command('promote')
    .description('Make a version the champion, after checking every file against its hash')
    .argument('<version>', 'version folder name')
    .option('--name <name>', 'bundle name', DEFAULT_BUNDLE)
    .action(async (version: string, opts: { name: string }) => {
      await promote(getConfig().modelsDir, opts.name, version, new Date(), checkServable)
      write({ name: opts.name, champion: version })
    })

  models
    .command('rollback')
    .description('Make the previous champion the champion again')
    .option('--name <name>', 'bundle name', DEFAULT_BUNDLE)
    .action(async (opts: { name: string }) => {
      const version = await rollback(getConfig().modelsDir, opts.name, new Date(), checkServable)
      write({ name: opts.name, champion: version })
    })
}
