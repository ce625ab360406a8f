/**
 * Churn ROC AUC of our forest against scikit-learn's RandomForestClassifier on the churn
 * matrices of a real store, to check that the two agree within 0.01 on the test window.
 *
 *   SEGMENTS_CHDB_PATH=DIR node --import tsx bench/training/churn-auc.ts --as-of T \
 *     --python /usr/bin/python3
 *
 * Runs prepareTrainingData (training/pipeline.ts) at cutoff T and trains our forest the way
 * `train` does (trainChurn with the forest only). Then it exports the reachable training and
 * test rows with their labels, trains scikit-learn with the same trees, depth, min leaf,
 * max_features and class weights, and prints both test AUCs.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../../src/config/index.ts'
import { selectFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import { selectRows } from '../../src/ml/matrix.ts'
import { rocAuc } from '../../src/ml/metrics.ts'
import { openStore } from '../../src/store/client.ts'
import { CHURN_FEATURES, reachableRows, trainChurn } from '../../training/churn.ts'
import { prepareTrainingData } from '../../training/pipeline.ts'
import { writeLabels, writeMatrix } from './matrix-file.ts'
import { runPeer } from './peer-process.ts'
import { fixed } from './table.ts'

const USAGE = `Usage: SEGMENTS_CHDB_PATH=DIR node --import tsx bench/training/churn-auc.ts --as-of T [options]

  --as-of T      cutoff of the test window (ISO 8601), as for \`segments train\`
  --horizon N    churn horizon in days (default 30)
  --trees N      trees of both forests (default 100)
  --seed N       seed of both forests (default 1)
  --jobs N       scikit-learn n_jobs (default 2)
  --python PATH  Python interpreter with scikit-learn (default python3)
  --help         print this help

The store is read from the usual SEGMENTS_* and CLICKHOUSE_* variables.`

function parseOptions(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      'as-of': { type: 'string' },
      horizon: { type: 'string', default: '30' },
      trees: { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
      python: { type: 'string', default: 'python3' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const asOfMs = Date.parse(values['as-of'] ?? '')
  if (Number.isNaN(asOfMs)) {
    throw new RangeError(
      `Invalid --as-of ${JSON.stringify(values['as-of'])}: expected an ISO 8601 time`,
    )
  }
  const integer = (name: string, text: string) => {
    const value = Number(text)
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`Invalid --${name} ${JSON.stringify(text)}: expected a positive integer`)
    }
    return value
  }
  return {
    asOfMs,
    horizonDays: integer('horizon', values.horizon),
    trees: integer('trees', values.trees),
    seed: integer('seed', values.seed),
    jobs: integer('jobs', values.jobs),
    python: values.python,
  }
}

/** Writes the reachable rows of one window as `prefix.f64`, `prefix.json` and `prefix.u8`. */
function exportWindow(prefix: string, features: FeatureMatrix, labels: Uint8Array) {
  const rows = reachableRows(features)
  const x = selectRows(selectFeatures(features, CHURN_FEATURES), rows)
  const y = Uint8Array.from(rows, (row) => labels[row] as number)
  writeMatrix(prefix, x)
  writeLabels(prefix, y)
  return { x, y }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  const config = loadConfig(process.env)
  const store = await openStore(config.clickhouse)
  const split = {
    asOfMs: options.asOfMs,
    horizonDays: options.horizonDays,
    defaultZone: config.defaultTimeZone,
  }
  const data = await prepareTrainingData(store.client, split).finally(() => store.close())

  const churn = await trainChurn(
    {
      train: { features: data.train, labels: data.trainLabels },
      validation: { features: data.validation, labels: data.validationLabels },
      test: { features: data.test, labels: data.testLabels },
    },
    { seed: options.seed, nTrees: options.trees, forestOnly: true },
  )
  const forestOptions = churn.model.toJSON().options

  const dir = resolve(join(tmpdir(), 'contact-segments-bench', `churn-auc-${process.pid}`))
  mkdirSync(dir, { recursive: true })
  try {
    const train = exportWindow(join(dir, 'train'), data.train, data.trainLabels)
    const test = exportWindow(join(dir, 'test'), data.test, data.testLabels)
    const oursAuc = rocAuc(test.y, churn.model.predictProba(test.x))
    const peer = runPeer(options.python, 'forest', [
      ...['--x-train', join(dir, 'train'), '--y-train', join(dir, 'train.u8')],
      ...['--x-test', join(dir, 'test'), '--y-test', join(dir, 'test.u8')],
      ...['--trees', `${forestOptions.nTrees}`, '--depth', `${forestOptions.maxDepth}`],
      ...['--min-leaf', `${forestOptions.minSamplesLeaf}`, '--jobs', `${options.jobs}`],
      ...['--seed', `${options.seed}`],
      ...(forestOptions.classWeight ? ['--class-weight', forestOptions.classWeight] : []),
    ])
    const peerAuc = peer.auc as number
    console.log(
      `windows: train ${train.x.rows} reachable contacts (${train.y.reduce((a, b) => a + b, 0)} churned), ` +
        `test ${test.x.rows} (${test.y.reduce((a, b) => a + b, 0)} churned), ${CHURN_FEATURES.length} features`,
    )
    console.log(
      `forest: ${forestOptions.nTrees} trees, max depth ${forestOptions.maxDepth}, ` +
        `min leaf ${forestOptions.minSamplesLeaf}, class weight ${forestOptions.classWeight ?? 'none'}`,
    )
    console.log(
      `ours: test ROC AUC ${fixed(oursAuc, 4)} uncalibrated, ${fixed(churn.metrics.testRocAuc, 4)} after isotonic calibration`,
    )
    console.log(
      `scikit-learn ${peer.sklearn}: test ROC AUC ${fixed(peerAuc, 4)}, fit ${fixed(peer.seconds)} s`,
    )
    console.log(`difference (ours uncalibrated - scikit-learn): ${fixed(oursAuc - peerAuc, 4)}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
