import { readFile } from 'node:fs/promises'
import { InvalidArgumentError, type Command } from 'commander'
import { importContactsCsv } from '../../events/contacts.ts'
import { addCounts, emptyCounts, ingestBody } from '../../events/ingest.ts'
import { PROVIDERS, type Provider } from '../../events/types.ts'
import { withStore } from '../context.ts'
import { startProgress } from '../progress.ts'

function parseFormat(value: string): Provider {
  if ((PROVIDERS as readonly string[]).includes(value)) return value as Provider
  throw new InvalidArgumentError(`Expected one of ${PROVIDERS.join(', ')}, received ${JSON.stringify(value)}.`)
}

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('Store events from ESP export or webhook files; every file is one request body')
    .argument('<files...>', 'files to read')
    .requiredOption('--format <format>', `payload format: ${PROVIDERS.join('|')}`, parseFormat)
    .action(async (files: string[], opts: { format: Provider }) => {
      await withStore(async (store) => {
        const progress = startProgress('ingest')
        const total = emptyCounts()
        for (const [index, file] of files.entries()) {
          addCounts(total, await ingestBody(store.client, opts.format, await readFile(file, 'utf8'), `file:${file}`))
          progress.update(index + 1, files.length)
        }
        progress.stop()
        process.stdout.write(`${JSON.stringify(total)}\n`)
      })
    })

  program
    .command('contacts')
    .description('Store contact records (time zone, creation time) from a CSV file with the header contact_key,time_zone,created_at')
    .argument('<file>', 'CSV file')
    .action(async (file: string) => {
      await withStore(async (store) => {
        const counts = await importContactsCsv(store.client, await readFile(file, 'utf8'), `file:${file}`)
        process.stdout.write(`${JSON.stringify(counts)}\n`)
      })
    })
}
