import { InvalidArgumentError, Option, type Command } from 'commander'
import { DEFAULT_K_RANGE } from '../../../training/personas.ts'
import { trainBundle } from '../../../training/pipeline.ts'
import {
  bundleName,
  DEFAULT_BUNDLE,
  getConfig,
  integerAtLeast,
  isoTime,
  withStore,
} from '../context.ts'
import { StoreLockedError } from '../../store/client.ts'
import { startStageProgress } from '../progress.ts'
import { enqueueTrainingCommand } from './jobs.ts'

/** Parses `--k-range` as `min-max`, two integers with 2 <= min <= max. */
export function kRange(value: string): { min: number; max: number } {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(value)
  const min = Number(match?.[1])
  const max = Number(match?.[2])
  if (!match || min < 2 || max < min) {
    throw new InvalidArgumentError(
      `Expected min-max with 2 <= min <= max, such as 4-12, received ${JSON.stringify(value)}.`,
    )
  }
  return { min, max }
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'Train personas and the churn model on a time split and publish a bundle as champion. ' +
        'Churn is learned on features as of T - 2 * horizon, calibrated and chosen on T - horizon and tested on T, ' +
        'so events must start before T - 2 * horizon and reach T + horizon',
    )
    .requiredOption('--as-of <time>', 'cutoff T, ISO 8601', isoTime)
    .option('--horizon <days>', 'churn horizon in days', integerAtLeast(1), 30)
    .option(
      '--k <n>',
      'a fixed number of personas (at least 2); without it, k is chosen by the silhouette over --k-range',
      integerAtLeast(2),
    )
    .addOption(
      new Option(
        '--k-range <min-max>',
        'inclusive range of persona counts tried when --k is not given',
      )
        .argParser(kRange)
        .default(DEFAULT_K_RANGE, '4-12'),
    )
    .option('--seed <n>', 'seed of every random step', integerAtLeast(0), 7)
    .option('--trees <n>', 'trees in the churn forest', integerAtLeast(1), 100)
    .option(
      '--name <name>',
      'bundle name: lower-case letters, digits, _ and -',
      bundleName,
      DEFAULT_BUNDLE,
    )
    .option(
      '--queue',
      'add the training as a job to the training queue (Redis at REDIS_URL) and print its id, instead of running it here',
    )
    .action(async (opts) => {
      const config = getConfig()
      if (opts.queue) {
        // NOTE: a queued job carries only the fields of trainingJobSchema. An option added to
        // train must be added there too, or a queued job runs without it.
        await enqueueTrainingCommand(config, {
          name: opts.name,
          asOf: new Date(opts.asOf).toISOString(),
          horizonDays: opts.horizon,
          k: opts.k,
          kRange: opts.k === undefined ? opts.kRange : undefined,
          seed: opts.seed,
          trees: opts.trees,
        })
        return
      }
      await withStore(async (store) => {
        const progress = startStageProgress()
        const result = await trainBundle(
          store.client,
          {
            name: opts.name,
            modelsDir: config.modelsDir,
            asOfMs: opts.asOf,
            horizonDays: opts.horizon,
            k: opts.k,
            kRange: opts.kRange,
            seed: opts.seed,
            nTrees: opts.trees,
            defaultZone: config.defaultTimeZone,
          },
          (event) => progress.update(event),
        ).finally(() => progress.stop())
        const { manifest } = result
        process.stdout.write(
          `${JSON.stringify({ dir: result.dir, version: manifest.version, metrics: manifest.metrics }, null, 2)}\n`,
        )
      }).catch((error: unknown) => {
        if (error instanceof StoreLockedError) {
          error.message +=
            ' If that process is `segments worker`, add this training to its queue with `segments train --queue`.'
        }
        throw error
      })
    })
}
