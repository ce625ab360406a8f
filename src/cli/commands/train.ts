import type { Command } from 'commander'
import { trainBundle } from '../../../training/pipeline.ts'
import {
  bundleName,
  DEFAULT_BUNDLE,
  getConfig,
  integerAtLeast,
  isoTime,
  withStore,
} from '../context.ts'
import { startProgress } from '../progress.ts'

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'Train personas and the churn model on a time split and publish a bundle as champion. ' +
        'Churn is learned on features as of T - horizon and tested on features as of T, so events must reach T + horizon',
    )
    .requiredOption('--as-of <time>', 'cutoff T, ISO 8601', isoTime)
    .option('--horizon <days>', 'churn horizon in days', integerAtLeast(1), 30)
    .option('--k <n>', 'number of personas', integerAtLeast(2), 8)
    .option('--seed <n>', 'seed of every random step', integerAtLeast(0), 7)
    .option('--trees <n>', 'trees in the churn forest', integerAtLeast(1), 100)
    .option(
      '--name <name>',
      'bundle name: lower-case letters, digits, _ and -',
      bundleName,
      DEFAULT_BUNDLE,
    )
    .action(async (opts) => {
      const config = getConfig()
      await withStore(async (store) => {
        const progress = startProgress('churn')
        const result = await trainBundle(
          store.client,
          {
            name: opts.name,
            modelsDir: config.modelsDir,
            asOfMs: opts.asOf,
            horizonDays: opts.horizon,
            k: opts.k,
            seed: opts.seed,
            nTrees: opts.trees,
            defaultZone: config.defaultTimeZone,
          },
          (event) =>
            event.stage === 'churn' ? progress.update(event.done, event.total) : undefined,
        )
        progress.stop()
        const { manifest } = result
        process.stdout.write(
          `${JSON.stringify({ dir: result.dir, version: manifest.version, metrics: manifest.metrics }, null, 2)}\n`,
        )
      })
    })
}
