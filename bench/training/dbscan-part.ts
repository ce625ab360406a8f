/**
 * DBSCAN part: src/ml/dbscan.ts against scikit-learn's DBSCAN at the same eps and min_samples
 * on a seeded mixture with background noise. Our paths are timed: `dbscanExact` (k-d tree),
 * `fitDbscan` (DBSCAN on a seeded sample with core rows tested on all rows, the other rows
 * assigned to the nearest core row) and, up to `QUADRATIC_MAX_ROWS`, `dbscanAllPairs` and
 * `dbscanReference` (density-clustering). Agreement with scikit-learn is the adjusted Rand
 * index of the label sets, with noise as one more label.
 */
import { join } from 'node:path'
import {
  dbscanAllPairs,
  dbscanExact,
  dbscanReference,
  fitDbscan,
  type DbscanResult,
} from '../../src/ml/dbscan.ts'
import { adjustedRandIndex } from '../../src/ml/metrics.ts'
import { gaussianMixture } from './datasets.ts'
import { readInt32, writeMatrix } from './matrix-file.ts'
import { runPeer } from './peer-process.ts'
import type { BenchOptions } from './run.ts'
import { fixed, load, printTable, timed } from './table.ts'

const COLS = 4
const COMPONENTS = 6
const NOISE_SHARE = 0.05
/** Largest size for the all-pairs paths, whose time grows with the square of the rows. */
const QUADRATIC_MAX_ROWS = 20_000

interface Row {
  rows: number
  path: string
  ours: number
  peer: number
  agreement: number
  oursClusters: number
  peerClusters: number
  oursNoise: number
  peerNoise: number
}

const noiseShare = (labels: Int32Array) =>
  labels.reduce((count, label) => count + (label === -1 ? 1 : 0), 0) / labels.length

function measureSize(options: BenchOptions, rows: number): Row[] {
  const { seed, python, dir, eps, minPts, dbscanSample } = options
  const { x } = gaussianMixture(rows, COLS, COMPONENTS, seed, 4, NOISE_SHARE)
  const prefix = join(dir, `dbscan-${rows}`)
  writeMatrix(prefix, x)
  const peerLabels = `${prefix}.labels.i32`

  console.log(`\nDBSCAN ${rows} x ${COLS}, eps ${eps}, min_samples ${minPts} (load ${load()})`)
  const peer = runPeer(python, 'dbscan', [
    ...['--x', prefix, '--eps', `${eps}`, '--min-samples', `${minPts}`],
    ...['--jobs', '1', '--labels-out', peerLabels],
  ])
  const truth = readInt32(peerLabels)
  console.log(
    `  scikit-learn ${peer.sklearn}: ${fixed(peer.seconds)} s, ${peer.clusters} clusters, ` +
      `noise ${fixed((peer.noiseShare as number) * 100, 2)}%`,
  )

  const paths: [string, () => DbscanResult][] = [
    ['dbscanExact, k-d tree', () => dbscanExact(x, { eps, minPts })],
    [
      `fitDbscan, sample ${Math.min(dbscanSample, rows)}`,
      () => fitDbscan(x, { eps, minPts, sampleSize: dbscanSample, seed }),
    ],
  ]
  if (rows <= QUADRATIC_MAX_ROWS) {
    paths.push(['dbscanAllPairs', () => dbscanAllPairs(x, { eps, minPts })])
    paths.push(['dbscanReference', () => dbscanReference(x, { eps, minPts })])
  }
  return paths.map(([path, fit]) => {
    const run = timed(fit)
    const row: Row = {
      rows,
      path,
      ours: run.seconds,
      peer: peer.seconds,
      agreement: adjustedRandIndex(run.result.labels, truth),
      oursClusters: run.result.clusters,
      peerClusters: peer.clusters as number,
      oursNoise: noiseShare(run.result.labels),
      peerNoise: peer.noiseShare as number,
    }
    console.log(`  ${path}: ${fixed(row.ours)} s, ARI ${fixed(row.agreement, 4)} (load ${load()})`)
    return row
  })
}

/** Columns, minPts and sample size of training/personas.ts for its 11 persona features. */
const PERSONA_COLS = 11
const PERSONA_MIN_PTS = 2 * PERSONA_COLS
const PERSONA_SAMPLE = 5_000
/** Sizes at which the persona-shaped table compares the exact and the sampled path. */
const PERSONA_ROWS = [20_000, 50_000]

/**
 * Times `fitDbscan` at the default eps on persona-shaped data, with every row as the sample
 * (the exact path) and with a 5,000-row sample, which sets the row count up to which
 * training/personas.ts takes the exact path. The ARI is between the two paths' labels.
 */
function measurePersonaShape(seed: number): string[][] {
  return PERSONA_ROWS.map((rows) => {
    const { x } = gaussianMixture(rows, PERSONA_COLS, 8, seed, 4, NOISE_SHARE)
    const fit = (sampleSize: number) =>
      timed(() => fitDbscan(x, { minPts: PERSONA_MIN_PTS, sampleSize, seed }))
    const exact = fit(rows)
    const sampled = fit(PERSONA_SAMPLE)
    console.log(
      `  ${rows} x ${PERSONA_COLS}: exact ${fixed(exact.seconds)} s, ` +
        `sample ${PERSONA_SAMPLE} ${fixed(sampled.seconds)} s (load ${load()})`,
    )
    return [
      `${rows}`,
      fixed(exact.result.eps, 3),
      fixed(exact.seconds),
      fixed(sampled.seconds),
      fixed(adjustedRandIndex(sampled.result.labels, exact.result.labels), 4),
      `${sampled.result.clusters} / ${exact.result.clusters}`,
      `${fixed(sampled.result.noiseShare * 100, 2)}%`,
      `${fixed(exact.result.noiseShare * 100, 2)}%`,
    ]
  })
}

/** Runs every DBSCAN size and prints the tables. */
export function runDbscanPart(options: BenchOptions): void {
  const rows = options.dbscanRows.flatMap((size) => measureSize(options, size))
  console.log(`
DBSCAN on persona-shaped data, minPts ${PERSONA_MIN_PTS}, default eps`)
  const personaRows = measurePersonaShape(options.seed)
  console.log(
    `\nDBSCAN, ${COLS} features, ${COMPONENTS} components with ${NOISE_SHARE * 100}% uniform noise, ` +
      `eps ${options.eps}, min_samples ${options.minPts}; scikit-learn n_jobs=1 (default tree index)`,
  )
  printTable(
    [
      'rows',
      'ours',
      'ours s',
      'sklearn s',
      'time ratio',
      'ARI',
      'clusters',
      'noise ours',
      'noise sklearn',
    ],
    rows.map((row) => [
      `${row.rows}`,
      row.path,
      fixed(row.ours),
      fixed(row.peer),
      fixed(row.ours / row.peer),
      fixed(row.agreement, 4),
      `${row.oursClusters} / ${row.peerClusters}`,
      `${fixed(row.oursNoise * 100, 2)}%`,
      `${fixed(row.peerNoise * 100, 2)}%`,
    ]),
  )
  console.log(
    `\nfitDbscan, ${PERSONA_COLS} features, 8 components with ${NOISE_SHARE * 100}% uniform ` +
      `noise, minPts ${PERSONA_MIN_PTS}, eps the knee of the k-distances; sampled against exact`,
  )
  printTable(
    [
      'rows',
      'eps',
      'exact s',
      `sample ${PERSONA_SAMPLE} s`,
      'ARI',
      'clusters',
      'noise sampled',
      'noise exact',
    ],
    personaRows,
  )
}
