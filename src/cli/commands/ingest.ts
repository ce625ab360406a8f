import { readFile } from 'node:fs/promises'
import { InvalidArgumentError, type Command } from 'commander'
import { importContactsCsv } from '../../events/contacts.ts'
import { IngestBatcher } from '../../events/ingest.ts'
import { PayloadParseError, PROVIDERS, type Provider } from '../../events/types.ts'
import { withStore } from '../context.ts'
import { startProgress } from '../progress.ts'

function parseFormat(value: string): Provider {
  if ((PROVIDERS as readonly string[]).includes(value)) return value as Provider
  throw new InvalidArgumentError(
    `Expected one of ${PROVIDERS.join(', ')}, received ${JSON.stringify(value)}.`,
  )
}

/** Returns why a file could not be ingested, or undefined for an error that is not the file's fault. */
function fileProblem(error: unknown): string | undefined {
  if (error instanceof PayloadParseError) return error.message
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'file not found'
  if (code === 'EISDIR') return 'is a folder, expected a file'
  if (code === 'EACCES') return 'permission denied'
  return undefined
}

/** Rejected rows printed to stderr; all of them are kept in `ingest_rejects`. */
const SHOWN_REJECTS = 10

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('Store events from ESP export or webhook files; every file is one request body')
    .argument('<files...>', 'files to read')
    .requiredOption('--format <format>', `payload format: ${PROVIDERS.join('|')}`, parseFormat)
    .action(async (files: string[], opts: { format: Provider }) => {
      await withStore(async (store) => {
        const progress = startProgress('ingest')
        const batcher = new IngestBatcher(store.client)
        const skipped: string[] = []
        for (const [index, file] of files.entries()) {
          try {
            await batcher.add(opts.format, await readFile(file, 'utf8'), `file:${file}`)
          } catch (error) {
            const reason = fileProblem(error)
            if (reason === undefined) throw error
            skipped.push(file)
            process.stderr.write(`segments: ${file}: ${reason}; nothing from it was stored\n`)
          }
          progress.update(index + 1, files.length)
        }
        const total = await batcher.finish()
        progress.stop()
        process.stdout.write(`${JSON.stringify({ ...total, skippedFiles: skipped.length })}\n`)
        if (skipped.length > 0) process.exitCode = 1
      })
    })

  program
    .command('contacts')
    .description(
      'Store contact records (time zone, creation time) from a CSV file with the header contact_key,time_zone,created_at',
    )
    .argument('<file>', 'CSV file')
    .action(async (file: string) => {
      await withStore(async (store) => {
        const { stored, rejects } = await importContactsCsv(
          store.client,
          await readFile(file, 'utf8'),
          `file:${file}`,
        )
        for (const reject of rejects.slice(0, SHOWN_REJECTS)) {
          process.stderr.write(`segments: ${file} ${reject.path}: ${reject.reason}\n`)
        }
        if (rejects.length > SHOWN_REJECTS) {
          process.stderr.write(
            `segments: ${rejects.length - SHOWN_REJECTS} more rejects in ingest_rejects\n`,
          )
        }
        process.stdout.write(`${JSON.stringify({ stored, rejected: rejects.length })}\n`)
      })
    })
}
