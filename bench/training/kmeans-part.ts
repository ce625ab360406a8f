/**
 * k-means part: fitKMeans (src/ml/kmeans.ts) against scikit-learn's KMeans(algorithm='lloyd')
 * with the same k, n_init, tol and max_iter, first each from its own k-means++ starts, then
 * both from the same start. scikit-learn runs its Lloyd loop on OpenMP threads (one per CPU by
 * default), and fitKMeans runs on one thread, so the same start is also timed with
 * OMP_NUM_THREADS=1.
 */
import { join } from 'node:path'
import { fitKMeans } from '../../src/ml/kmeans.ts'
import { adjustedRandIndex } from '../../src/ml/metrics.ts'
import { gaussianMixture } from './datasets.ts'
import { checkSameStart, kmeansPlusPlusStart } from './kmeans-start.ts'
import { readInt32, writeMatrix } from './matrix-file.ts'
import { runPeer } from './peer-process.ts'
import type { BenchOptions } from './run.ts'
import { fixed, load, percentDifference, printTable, timed } from './table.ts'

const COLS = 16
const K = 8
const N_INIT = 4
const TOLERANCE = 1e-4
const MAX_ITERATIONS = 300
// Centres in [-1.2, 1.2] per axis with per-axis deviations of 0.5 to 1.5: the components
// overlap, so Lloyd needs tens of iterations rather than the 2 of well separated blobs.
const SPREAD = 1.2

interface Row {
  rows: number
  start: string
  ours: number
  peer: number
  oursInertia: number
  peerInertia: number
  oursIterations: number
  peerIterations: number
  agreement: number
}

function measureSize(options: BenchOptions, rows: number): Row[] {
  const { seed, python, dir } = options
  const { x } = gaussianMixture(rows, COLS, K, seed, SPREAD)
  const prefix = join(dir, `kmeans-${rows}`)
  writeMatrix(prefix, x)
  const peerLabels = `${prefix}.labels.i32`
  const peerArgs = ['--x', prefix, '--k', `${K}`, '--tol', `${TOLERANCE}`]
  peerArgs.push('--max-iter', `${MAX_ITERATIONS}`, '--seed', `${seed}`, '--labels-out', peerLabels)
  const result: Row[] = []

  console.log(`\nk-means ${rows} x ${COLS}, k = ${K}, own starts (load ${load()})`)
  const own = timed(() =>
    fitKMeans(x, {
      k: K,
      seed,
      nInit: N_INIT,
      tolerance: TOLERANCE,
      maxIterations: MAX_ITERATIONS,
    }),
  )
  const peerOwn = runPeer(python, 'kmeans', [...peerArgs, '--n-init', `${N_INIT}`])
  result.push({
    rows,
    start: `own, n_init ${N_INIT}`,
    ours: own.seconds,
    peer: peerOwn.seconds,
    oursInertia: own.result.inertia,
    peerInertia: peerOwn.inertia as number,
    oursIterations: own.result.iterations,
    peerIterations: peerOwn.iterations as number,
    agreement: adjustedRandIndex(own.result.labels, readInt32(peerLabels)),
  })

  console.log(`k-means ${rows} x ${COLS}, k = ${K}, same start (load ${load()})`)
  const seeding = timed(() => kmeansPlusPlusStart(x, K, seed))
  checkSameStart(x, seeding.result, seed)
  writeMatrix(`${prefix}-start`, seeding.result)
  const same = timed(() =>
    fitKMeans(x, { k: K, seed, nInit: 1, tolerance: TOLERANCE, maxIterations: MAX_ITERATIONS }),
  )
  const peerSame = runPeer(python, 'kmeans', [...peerArgs, '--init', `${prefix}-start`])
  // fitKMeans always seeds first, so its k-means++ time, measured on the copy, is taken off.
  result.push({
    rows,
    start: 'same, n_init 1',
    ours: same.seconds - seeding.seconds,
    peer: peerSame.seconds,
    oursInertia: same.result.inertia,
    peerInertia: peerSame.inertia as number,
    oursIterations: same.result.iterations,
    peerIterations: peerSame.iterations as number,
    agreement: adjustedRandIndex(same.result.labels, readInt32(peerLabels)),
  })
  const peerSingle = runPeer(python, 'kmeans', [...peerArgs, '--init', `${prefix}-start`], 1)
  result.push({
    ...result[1]!,
    start: 'same, sklearn 1 thread',
    peer: peerSingle.seconds,
    peerInertia: peerSingle.inertia as number,
    peerIterations: peerSingle.iterations as number,
    agreement: adjustedRandIndex(same.result.labels, readInt32(peerLabels)),
  })
  console.log(
    `  same start: fitKMeans took ${fixed(same.seconds)} s, of which ${fixed(seeding.seconds)} s ` +
      `k-means++ seeding; scikit-learn ${peerSame.sklearn}`,
  )
  return result
}

/** Runs every k-means size and prints the table. */
export function runKMeansPart(options: BenchOptions): void {
  const rows = options.kmeansRows.flatMap((size) => measureSize(options, size))
  console.log(`\nk-means, ${COLS} features, k = ${K}, tol ${TOLERANCE}, max_iter ${MAX_ITERATIONS}`)
  printTable(
    [
      'rows',
      'start',
      'ours s',
      'sklearn s',
      'time ratio',
      'ours inertia',
      'sklearn inertia',
      'inertia diff',
      'iterations',
      'ARI',
    ],
    rows.map((row) => [
      `${row.rows}`,
      row.start,
      fixed(row.ours),
      fixed(row.peer),
      fixed(row.ours / row.peer),
      row.oursInertia.toExponential(6),
      row.peerInertia.toExponential(6),
      percentDifference(row.oursInertia, row.peerInertia),
      `${row.oursIterations} / ${row.peerIterations}`,
      fixed(row.agreement, 4),
    ]),
  )
}
