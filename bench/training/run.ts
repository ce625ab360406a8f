/**
 * Training benchmark against scikit-learn on the same data, in one run.
 *
 *   node --import tsx bench/training/run.ts --python /usr/bin/python3 [--parts kmeans,forest,dbscan]
 *
 * Each part generates a seeded data set and writes it to files that bench/training/peer.py
 * reads. It times our learner in this process and scikit-learn in a child process on the same
 * files, and prints a Markdown table of times, ratios and quality figures.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { runDbscanPart } from './dbscan-part.ts'
import { runForestPart } from './forest-part.ts'
import { runKMeansPart } from './kmeans-part.ts'

const USAGE = `Usage: node --import tsx bench/training/run.ts [options]

  --parts LIST          comma-separated parts to run: kmeans, forest, dbscan (default all)
  --kmeans-rows LIST    k-means sizes in rows (default 100000,1000000)
  --forest-rows LIST    forest training sizes in rows; the test set has a fifth as many
                        rows (default 100000,500000)
  --dbscan-rows LIST    DBSCAN sizes in points (default 20000,100000)
  --eps X               DBSCAN radius (default 0.7)
  --min-pts N           DBSCAN min_samples, the row itself counted (default 10)
  --dbscan-sample N     rows fitDbscan fits on before assigning the rest (default 20000)
  --trees N             trees per forest (default 100)
  --depth N             maximum tree depth (default 12)
  --min-leaf N          minimum rows per leaf (default 5)
  --jobs N              scikit-learn n_jobs for the forest (default 2)
  --seed N              seed of the data sets and the learners (default 1)
  --python PATH         Python interpreter with scikit-learn (default python3)
  --dir DIR             folder for the exchanged matrix files, deleted at the end
                        (default: a folder under the system temp folder)
  --help                print this help`

export interface BenchOptions {
  parts: Set<string>
  kmeansRows: number[]
  forestRows: number[]
  dbscanRows: number[]
  eps: number
  minPts: number
  dbscanSample: number
  trees: number
  depth: number
  minLeaf: number
  jobs: number
  seed: number
  python: string
  dir: string
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid --${name} ${JSON.stringify(text)}: expected a positive integer`)
  }
  return value
}

function positiveNumber(name: string, text: string): number {
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`Invalid --${name} ${JSON.stringify(text)}: expected a number > 0`)
  }
  return value
}

const integerList = (name: string, text: string) =>
  text.split(',').map((part) => positiveInteger(name, part.trim()))

const PARTS = ['kmeans', 'forest', 'dbscan']

function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      parts: { type: 'string', default: PARTS.join(',') },
      'kmeans-rows': { type: 'string', default: '100000,1000000' },
      'forest-rows': { type: 'string', default: '100000,500000' },
      'dbscan-rows': { type: 'string', default: '20000,100000' },
      eps: { type: 'string', default: '0.7' },
      'min-pts': { type: 'string', default: '10' },
      'dbscan-sample': { type: 'string', default: '20000' },
      trees: { type: 'string', default: '100' },
      depth: { type: 'string', default: '12' },
      'min-leaf': { type: 'string', default: '5' },
      jobs: { type: 'string', default: '2' },
      seed: { type: 'string', default: '1' },
      python: { type: 'string', default: 'python3' },
      dir: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const parts = new Set(values.parts.split(',').map((part) => part.trim()))
  for (const part of parts) {
    if (!PARTS.includes(part)) {
      throw new RangeError(`Invalid --parts entry ${JSON.stringify(part)}: expected ${PARTS}`)
    }
  }
  return {
    parts,
    kmeansRows: integerList('kmeans-rows', values['kmeans-rows']),
    forestRows: integerList('forest-rows', values['forest-rows']),
    dbscanRows: integerList('dbscan-rows', values['dbscan-rows']),
    eps: positiveNumber('eps', values.eps),
    minPts: positiveInteger('min-pts', values['min-pts']),
    dbscanSample: positiveInteger('dbscan-sample', values['dbscan-sample']),
    trees: positiveInteger('trees', values.trees),
    depth: positiveInteger('depth', values.depth),
    minLeaf: positiveInteger('min-leaf', values['min-leaf']),
    jobs: positiveInteger('jobs', values.jobs),
    seed: positiveInteger('seed', values.seed),
    python: values.python,
    dir: resolve(values.dir ?? join(tmpdir(), 'contact-segments-bench', `training-${process.pid}`)),
  }
}

function printMachine(): void {
  const model = cpus()[0]?.model ?? 'unknown'
  console.log(`machine: ${cpus().length} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`)
  console.log(`node ${process.version}, load average ${loadavg().map((v) => v.toFixed(2))}`)
}

function main(): void {
  const options = parseOptions(process.argv.slice(2))
  printMachine()
  mkdirSync(options.dir, { recursive: true })
  try {
    if (options.parts.has('kmeans')) runKMeansPart(options)
    if (options.parts.has('forest')) runForestPart(options)
    if (options.parts.has('dbscan')) runDbscanPart(options)
  } finally {
    rmSync(options.dir, { recursive: true, force: true })
  }
  console.log(`\nload average at the end: ${loadavg().map((v) => v.toFixed(2))}`)
}

main()
