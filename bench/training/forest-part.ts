/**
 * Random forest part: trainForest (src/ml/forest.ts) against scikit-learn's
 * RandomForestClassifier with the same trees, max depth, min leaf and max_features='sqrt',
 * trained on the same rows and scored by ROC AUC on the same held-out rows.
 */
import { join } from 'node:path'
import { trainForest } from '../../src/ml/forest.ts'
import { rocAuc } from '../../src/ml/metrics.ts'
import { nonlinearClassification } from './datasets.ts'
import { writeLabels, writeMatrix } from './matrix-file.ts'
import { runPeer } from './peer-process.ts'
import type { BenchOptions } from './run.ts'
import { fixed, load, printTable, timed } from './table.ts'

const COLS = 20

interface Row {
  rows: number
  ours: number
  peer: number
  oursAuc: number
  peerAuc: number
}

function measureSize(options: BenchOptions, rows: number): Row {
  const { seed, python, dir, trees, depth, minLeaf, jobs } = options
  const train = nonlinearClassification(rows, COLS, seed)
  // A different seed draws fresh rows from the same distribution.
  const test = nonlinearClassification(Math.ceil(rows / 5), COLS, seed + 1_000_003)
  const prefix = join(dir, `forest-${rows}`)
  writeMatrix(`${prefix}-train`, train.x)
  writeLabels(`${prefix}-train`, train.y)
  writeMatrix(`${prefix}-test`, test.x)
  writeLabels(`${prefix}-test`, test.y)

  console.log(`\nforest ${rows} x ${COLS}, ${trees} trees, depth ${depth} (load ${load()})`)
  const ours = timed(() =>
    trainForest(train.x, train.y, {
      nTrees: trees,
      maxDepth: depth,
      minSamplesLeaf: minLeaf,
      seed,
    }),
  )
  const oursAuc = rocAuc(test.y, ours.result.predictProba(test.x))
  console.log(`  ours ${fixed(ours.seconds)} s, AUC ${fixed(oursAuc, 4)} (load ${load()})`)
  const peer = runPeer(python, 'forest', [
    ...['--x-train', `${prefix}-train`, '--y-train', `${prefix}-train.u8`],
    ...['--x-test', `${prefix}-test`, '--y-test', `${prefix}-test.u8`],
    ...['--trees', `${trees}`, '--depth', `${depth}`, '--min-leaf', `${minLeaf}`],
    ...['--jobs', `${jobs}`, '--seed', `${seed}`],
  ])
  console.log(
    `  scikit-learn ${peer.sklearn}: ${fixed(peer.seconds)} s, AUC ${fixed(peer.auc as number, 4)}`,
  )
  return { rows, ours: ours.seconds, peer: peer.seconds, oursAuc, peerAuc: peer.auc as number }
}

/** Runs every forest size and prints the table. */
export function runForestPart(options: BenchOptions): void {
  const rows = options.forestRows.map((size) => measureSize(options, size))
  console.log(
    `\nrandom forest, ${COLS} features, ${options.trees} trees, max depth ${options.depth}, ` +
      `min leaf ${options.minLeaf}, max_features sqrt; scikit-learn n_jobs=${options.jobs}, ` +
      'ours one thread',
  )
  printTable(
    ['train rows', 'ours s', 'sklearn s', 'time ratio', 'ours AUC', 'sklearn AUC', 'AUC diff'],
    rows.map((row) => [
      `${row.rows}`,
      fixed(row.ours),
      fixed(row.peer),
      fixed(row.ours / row.peer),
      fixed(row.oursAuc, 4),
      fixed(row.peerAuc, 4),
      `${row.oursAuc - row.peerAuc >= 0 ? '+' : ''}${fixed(row.oursAuc - row.peerAuc, 4)}`,
    ]),
  )
}
