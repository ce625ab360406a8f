import { InvalidArgumentError, type Command } from 'commander'
import { exportFeatures, formatOfPath, type ExportFormat } from '../../features/export.ts'
import { getConfig, isoTime, withStore } from '../context.ts'

function parseFormat(value: string): ExportFormat {
  if (value === 'parquet' || value === 'csv') return value
  throw new InvalidArgumentError(`Expected parquet or csv, received ${JSON.stringify(value)}.`)
}

export function registerFeatures(program: Command): void {
  program
    .command('features')
    .description(
      'Write the feature matrix as of a cutoff (one row per contact: contact_key, time_zone, ' +
        'then every feature) for notebooks and other tools',
    )
    .requiredOption('--as-of <time>', 'cutoff, ISO 8601; only events before it count', isoTime)
    .requiredOption('--out <file>', 'output file; .parquet or .csv picks the format')
    .option('--format <format>', 'parquet or csv (default: from the file extension)', parseFormat)
    .action(async (opts: { asOf: number; out: string; format?: ExportFormat }) => {
      const format = opts.format ?? formatOfPath(opts.out)
      if (!format) {
        throw new InvalidArgumentError(
          `Cannot tell the format of ${JSON.stringify(opts.out)}: name it .parquet or .csv, or pass --format.`,
        )
      }
      const config = getConfig()
      await withStore(async (store) => {
        await exportFeatures(store.client, opts.asOf, config.defaultTimeZone, opts.out, format)
        process.stdout.write(`${opts.out}\n`)
      })
    })
}
