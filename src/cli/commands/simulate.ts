import type { Command } from 'commander'
import { simulate } from '../../simulate/simulate.ts'
import { integerAtLeast, integerBetween } from '../context.ts'
import { startProgress } from '../progress.ts'

export function registerSimulate(program: Command): void {
  program
    .command('simulate')
    .description(
      'Write simulated ESP events (SendGrid batches, SES notifications), contacts and ground truth',
    )
    .requiredOption('--out <dir>', 'output folder')
    .option('--contacts <n>', 'number of contacts (at least 1)', integerAtLeast(1), 20_000)
    .option(
      '--days <n>',
      'days of history, 31 to 3660; the cutoff in truth.csv is 30 days before the end',
      integerBetween(31, 3660),
      120,
    )
    .option('--seed <n>', 'seed; the same seed writes the same bytes', integerAtLeast(0), 7)
    .action(async (opts) => {
      const progress = startProgress('simulate')
      const summary = await simulate(
        { contacts: opts.contacts, days: opts.days, seed: opts.seed, outDir: opts.out },
        (done, total) => progress.update(done, total),
      )
      progress.stop()
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
    })
}
