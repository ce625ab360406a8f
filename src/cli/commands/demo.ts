import type { Command } from 'commander'
import { bundleName, getConfig, integerAtLeast } from '../context.ts'
import { runDemo } from '../demo.ts'

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the whole pipeline on simulated data in a fresh embedded store: simulate, ingest, ' +
        'features, personas, churn, bundle, HTTP scoring, drift, report',
    )
    .option('--contacts <n>', 'simulated contacts (at least 50)', integerAtLeast(50), 20_000)
    .option('--days <n>', 'simulated days of history (at least 90)', integerAtLeast(90), 120)
    .option('--seed <n>', 'seed of every random step', integerAtLeast(0), 7)
    .option('--k <n>', 'number of personas (at least 2)', integerAtLeast(2), 8)
    .option('--horizon <days>', 'churn horizon in days', integerAtLeast(1), 30)
    .option('--sample <n>', 'contacts scored over HTTP', integerAtLeast(1), 1000)
    .option(
      '--work-dir <dir>',
      'folder for the simulation, the store and the report (emptied first)',
      '.data/demo',
    )
    .option(
      '--name <name>',
      'bundle name (kept apart from the one `train` and `serve` use)',
      bundleName,
      'demo',
    )
    .action(async (opts) => {
      await runDemo(
        getConfig(),
        {
          contacts: opts.contacts,
          days: opts.days,
          seed: opts.seed,
          k: opts.k,
          horizonDays: opts.horizon,
          sample: opts.sample,
          workDir: opts.workDir,
          bundleName: opts.name,
        },
        (line) => process.stdout.write(`${line}\n`),
      )
    })
}
