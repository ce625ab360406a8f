import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { BundleError, loadBundle, readChampion } from '../../registry/bundle.ts'
import { bundleName, DEFAULT_BUNDLE, getConfig } from '../context.ts'

const REPORT_FILE = 'report.html'

/** Checks a version option: a plain folder name, so it cannot point outside the bundle's folder. */
function versionName(value: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value)) return value
  throw new InvalidArgumentError(
    `Expected a version folder name of letters, digits, ., _ and -, received ${JSON.stringify(value)}.`,
  )
}

/**
 * Locates the training report of one bundle version, after checking every file of the bundle
 * against its hash, and copies it to `out` when given. Returns the path printed.
 */
export async function locateReport(
  modelsDir: string,
  name: string,
  version: string | undefined,
  out?: string,
): Promise<string> {
  const chosen = version ?? (await readChampion(modelsDir, name))
  if (!chosen) {
    throw new BundleError(
      join(modelsDir, name, 'champion.json'),
      'is missing, so there is no champion; pass --version',
    )
  }
  const dir = join(modelsDir, name, chosen)
  const bundle = await loadBundle(dir)
  const report = bundle.files.get(REPORT_FILE)
  // NOTE: a bundle published without report.html cannot get one afterwards, because the report
  // needs the test labels and probabilities, which a bundle does not store.
  if (!report) {
    throw new BundleError(
      join(dir, REPORT_FILE),
      'is not listed in the manifest, because the bundle was published before training reports ' +
        'were added; train a new version to get one',
    )
  }
  if (out === undefined) return resolve(dir, REPORT_FILE)
  await writeFile(out, report)
  return resolve(out)
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'Print the path of the HTML training report of a bundle version, or copy it with --out, ' +
        'after checking every file of the bundle against its hash',
    )
    .option('--version <version>', 'version folder name (default: the champion)', versionName)
    .option(
      '--name <name>',
      'bundle name: lower-case letters, digits, _ and -',
      bundleName,
      DEFAULT_BUNDLE,
    )
    .option('--out <file>', 'copy the report to this file instead of printing its path')
    .action(async (opts: { version?: string; name: string; out?: string }) => {
      const path = await locateReport(getConfig().modelsDir, opts.name, opts.version, opts.out)
      process.stdout.write(`${path}\n`)
    })
}
