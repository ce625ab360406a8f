/**
 * The churn models end to end on simulated data: the three-window split, both candidates in
 * the manifest, the chosen model's artifacts, scoring with calibration and reasons, and the
 * errors for bad bundles and too little data.
 */
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as tf from '@tensorflow/tfjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildChurnPredictor, buildScoringModel } from '../../inference/model.ts'
import { CHURN_REASON_CANDIDATES, scoreRows } from '../../inference/scoring.ts'
import { loadTfBackend } from '../../inference/tf-backend.ts'
import { importContactsCsv } from '../../src/events/contacts.ts'
import { ingestBody } from '../../src/events/ingest.ts'
import { selectFeatures } from '../../src/features/compute.ts'
import { createMatrix, selectRows } from '../../src/ml/matrix.ts'
import { BundleError, loadBundle, type LoadedBundle } from '../../src/registry/bundle.ts'
import { simulate, type SimulationSummary } from '../../src/simulate/simulate.ts'
import { openStore, type Store } from '../../src/store/client.ts'
import { CHURN_FEATURES, CHURN_FILES, churnArtifacts, reachableRows } from '../../training/churn.ts'
import { TrainingDataError } from '../../training/errors.ts'
import {
  fitBundle,
  prepareTrainingData,
  type TrainingData,
  type TrainOptions,
  type TrainResult,
} from '../../training/pipeline.ts'
import { makeTempDir } from '../helpers/integration.ts'

const DAY = 86_400_000
const HORIZON_DAYS = 30

let root: string
let store: Store
let summary: SimulationSummary
let data: TrainingData
let trained: TrainResult
let bundle: LoadedBundle
let options: TrainOptions

beforeAll(async () => {
  await loadTfBackend()
  root = await makeTempDir('churn-bundle-test')
  store = await openStore({
    chdbPath: join(root, 'clickhouse'),
    user: 'default',
    password: '',
    database: 'default',
    requestTimeoutMs: 30_000,
    url: undefined,
  })
  const outDir = join(root, 'simulation')
  summary = await simulate({ contacts: 1500, days: 120, seed: 21, outDir })
  await importContactsCsv(
    store.client,
    await readFile(join(outDir, 'contacts.csv'), 'utf8'),
    'test',
  )
  for (const file of summary.files.filter((name) => name.endsWith('.json'))) {
    const provider = file.startsWith('sendgrid/') ? 'sendgrid' : 'ses'
    await ingestBody(store.client, provider, await readFile(join(outDir, file), 'utf8'), file)
  }
  options = {
    name: 'churn',
    modelsDir: join(root, 'models'),
    asOfMs: Date.parse(summary.cutoff),
    horizonDays: HORIZON_DAYS,
    k: 4,
    seed: 21,
    nTrees: 20,
    mlpEpochs: 5,
    defaultZone: 'UTC',
  }
  data = await prepareTrainingData(store.client, options)
  trained = await fitBundle(data, options)
  bundle = await loadBundle(trained.dir)
}, 300_000)

afterAll(async () => {
  await store?.close()
  await rm(root, { recursive: true, force: true })
})

describe('three-window split', () => {
  it('puts the windows one horizon apart', () => {
    const cutoff = Date.parse(summary.cutoff)
    expect(data.test.asOfMs).toBe(cutoff)
    expect(data.validation.asOfMs).toBe(cutoff - HORIZON_DAYS * DAY)
    expect(data.train.asOfMs).toBe(cutoff - 2 * HORIZON_DAYS * DAY)
    expect(data.validationLabels).toHaveLength(data.validation.contactKeys.length)
  })

  it('records the training window in the manifest', () => {
    expect(trained.manifest.training.featuresAsOf).toBe(new Date(data.train.asOfMs).toISOString())
  })
})

describe('churn manifest', () => {
  it('lists both candidates with metrics', () => {
    const { churn, metrics } = trained.manifest
    expect(churn.candidates?.map((candidate) => candidate.kind)).toEqual([
      'histogram-forest',
      'tfjs-mlp',
    ])
    for (const prefix of ['churnForest', 'churnMlp']) {
      for (const name of ['ValidationPrAuc', 'TestRocAuc', 'TestPrAuc', 'TestBrier']) {
        expect(metrics[`${prefix}${name}`]).toBeTypeOf('number')
      }
    }
    expect(churn.importance).toHaveLength(CHURN_FEATURES.length)
    expect(churn.medians).toHaveLength(CHURN_FEATURES.length)
  })

  it('names the candidate with the higher validation PR AUC', () => {
    const { churn, metrics } = trained.manifest
    const forest = metrics.churnForestValidationPrAuc as number
    const mlp = metrics.churnMlpValidationPrAuc as number
    expect(churn.modelKind).toBe(mlp > forest ? 'tfjs-mlp' : 'histogram-forest')
    expect(trained.churn.chosen).toBe(churn.modelKind)
  })

  it('bundles the chosen model and its calibration', () => {
    const files = Object.keys(trained.manifest.files)
    expect(files).toContain(CHURN_FILES.calibration)
    const expected =
      trained.manifest.churn.modelKind === 'tfjs-mlp'
        ? [CHURN_FILES.mlp, CHURN_FILES.mlpWeights, CHURN_FILES.mlpScaler]
        : [CHURN_FILES.forest]
    expect(files).toEqual(expect.arrayContaining(expected))
  })
})

/** Builds the published bundle with one candidate's artifacts in memory, as the publisher would write them. */
async function bundleWith(kind: 'histogram-forest' | 'tfjs-mlp'): Promise<LoadedBundle> {
  const churn = trained.churn
  const artifacts = await churnArtifacts({ ...churn, chosen: kind })
  const files = new Map(bundle.files)
  for (const [name, content] of Object.entries(artifacts.files)) {
    files.set(name, Buffer.from(content))
  }
  const { weightsFile: _w, scalerFile: _s, ...base } = bundle.manifest.churn
  const manifest = {
    ...bundle.manifest,
    churn: {
      ...base,
      modelKind: kind,
      modelFile: artifacts.modelFile,
      ...(artifacts.weightsFile ? { weightsFile: artifacts.weightsFile } : {}),
      ...(artifacts.scalerFile ? { scalerFile: artifacts.scalerFile } : {}),
    },
  }
  return { dir: bundle.dir, manifest, files }
}

function testRows() {
  const rows = reachableRows(data.test)
  return selectRows(selectFeatures(data.test, CHURN_FEATURES), rows)
}

describe('churn predictor', () => {
  it('reproduces the calibrated test scores of the chosen model', () => {
    const predictor = buildChurnPredictor(bundle)
    expect(predictor.kind).toBe(trained.manifest.churn.modelKind)
    const scores = predictor.predictProba(testRows())
    const expected = trained.churn.test.scores
    expect(scores).toHaveLength(expected.length)
    for (let i = 0; i < scores.length; i++) expect(scores[i]).toBeCloseTo(expected[i] as number, 9)
  })

  it('loads either model kind', async () => {
    for (const kind of ['histogram-forest', 'tfjs-mlp'] as const) {
      const predictor = buildChurnPredictor(await bundleWith(kind))
      expect(predictor.kind).toBe(kind)
      const scores = predictor.predictProba(testRows())
      expect(scores.every((p) => p >= 0 && p <= 1)).toBe(true)
    }
  })

  it('disposes every tensor over 10,000 single-row predictions', async () => {
    const predictor = buildChurnPredictor(await bundleWith('tfjs-mlp'))
    const rows = testRows()
    const row = createMatrix(1, rows.cols)
    const before = tf.memory().numTensors
    for (let i = 0; i < 10_000; i++) {
      const k = i % rows.rows
      row.data.set(rows.data.subarray(k * rows.cols, (k + 1) * rows.cols))
      predictor.predictProba(row)
    }
    expect(tf.memory().numTensors).toBe(before)
  })
})

describe('score reasons', () => {
  function reasonSample() {
    const sample = selectRows(data.test.matrix, reachableRows(data.test).slice(0, 40))
    const churnRows = selectRows(
      testRows(),
      Array.from({ length: sample.rows }, (_, i) => i),
    )
    return { sample, churnRows }
  }

  it('returns substitution effects for the MLP', async () => {
    const model = buildScoringModel(await bundleWith('tfjs-mlp'))
    expect(model.churn.contributions).toBeUndefined()
    const { sample } = reasonSample()
    const scores = scoreRows(model, trained.manifest.featureNames, sample)
    const medians = trained.manifest.churn.medians as number[]
    const candidates = new Set(
      [...(trained.manifest.churn.importance ?? [])]
        .sort((a, b) => b.mean - a.mean)
        .slice(0, CHURN_REASON_CANDIDATES)
        .map((entry) => entry.feature),
    )
    for (let i = 0; i < scores.length; i++) {
      const score = scores[i]!
      expect(score.reasons.length).toBeLessThanOrEqual(3)
      for (const reason of score.reasons) {
        // Recompute the effect independently: the row with one feature at the median.
        expect(candidates.has(reason.feature)).toBe(true)
        const j = CHURN_FEATURES.indexOf(reason.feature)
        const churnRow = selectFeatures(
          { ...data.test, matrix: selectRows(sample, [i]), contactKeys: ['x'], timeZones: ['UTC'] },
          CHURN_FEATURES,
        )
        expect(reason.value).toBe(churnRow.data[j])
        churnRow.data[j] = medians[j] as number
        const substituted = model.churn.predictProba(churnRow)[0] as number
        expect(reason.effect).toBeCloseTo(score.churn.probability - substituted, 12)
      }
      const sizes = score.reasons.map((reason) => Math.abs(reason.effect))
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a))
    }
    expect(scores.some((score) => score.reasons.length > 0)).toBe(true)
  })

  it('returns path contribution effects for the forest', async () => {
    const model = buildScoringModel(await bundleWith('histogram-forest'))
    const contributions = model.churn.contributions
    expect(contributions).toBeDefined()
    const { sample, churnRows } = reasonSample()
    const scores = scoreRows(model, trained.manifest.featureNames, sample)
    const raw = model.churn.predictScores(churnRows)
    const split = contributions!(churnRows)
    for (let i = 0; i < scores.length; i++) {
      const score = scores[i]!
      const row = split.contributions.data.subarray(i * churnRows.cols, (i + 1) * churnRows.cols)
      // The contributions and the bias add up to the forest's uncalibrated score.
      expect(split.bias + row.reduce((sum, value) => sum + value, 0)).toBeCloseTo(raw[i]!, 12)
      expect(score.reasons.length).toBeLessThanOrEqual(3)
      for (const reason of score.reasons) {
        const j = CHURN_FEATURES.indexOf(reason.feature)
        expect(reason.value).toBe(churnRows.data[i * churnRows.cols + j])
        const without = model.churn.calibrate(Float64Array.of(raw[i]! - row[j]!))[0]!
        expect(reason.effect).toBeCloseTo(score.churn.probability - without, 12)
      }
      const sizes = score.reasons.map((reason) => Math.abs(reason.effect))
      expect(sizes).toEqual([...sizes].sort((a, b) => b - a))
    }
    expect(scores.some((score) => score.reasons.length > 0)).toBe(true)
  })
})

describe('older bundles', () => {
  it('score uncalibrated, with forest reasons only', async () => {
    const forest = await bundleWith('histogram-forest')
    const {
      calibrationFile: _c,
      medians: _m,
      importance: _i,
      candidates: _d,
      ...churn
    } = forest.manifest.churn
    const older = { ...forest, manifest: { ...forest.manifest, churn } }
    const model = buildScoringModel(older)
    const rows = testRows()
    const raw = trained.churn.model.predictProba(rows)
    expect(Array.from(model.churn.predictProba(rows))).toEqual(Array.from(raw))
    const sample = selectRows(data.test.matrix, reachableRows(data.test).slice(0, 5))
    const scores = scoreRows(model, trained.manifest.featureNames, sample)
    // Path contributions need no medians, so an older forest bundle still gets reasons.
    expect(scores.some((score) => score.reasons.length > 0)).toBe(true)
    const mlp = await bundleWith('tfjs-mlp')
    const { medians: _mm, ...mlpChurn } = mlp.manifest.churn
    const olderMlp = buildScoringModel({ ...mlp, manifest: { ...mlp.manifest, churn: mlpChurn } })
    const mlpScores = scoreRows(olderMlp, trained.manifest.featureNames, sample)
    expect(mlpScores.map((score) => score.reasons)).toEqual([[], [], [], [], []])
  })
})

describe('bad churn bundles', () => {
  async function expectBundleError(
    change: (b: LoadedBundle) => LoadedBundle,
    file: string,
    reason: RegExp,
  ) {
    const base = await bundleWith('tfjs-mlp')
    let caught: unknown
    try {
      buildChurnPredictor(change(base))
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(BundleError)
    expect((caught as BundleError).file).toBe(join(bundle.dir, file))
    expect((caught as BundleError).reason).toMatch(reason)
  }

  const withFile = (b: LoadedBundle, name: string, content: string | Buffer): LoadedBundle => {
    const files = new Map(b.files)
    files.set(name, Buffer.from(content))
    return { ...b, files }
  }

  it('names truncated MLP weights', async () => {
    await expectBundleError(
      (b) =>
        withFile(
          b,
          CHURN_FILES.mlpWeights,
          (b.files.get(CHURN_FILES.mlpWeights) as Buffer).subarray(0, 100),
        ),
      CHURN_FILES.mlpWeights,
      /MLP weights have 100 bytes, expected \d+/,
    )
  })

  it('names an MLP model.json of another shape', async () => {
    await expectBundleError(
      (b) => withFile(b, CHURN_FILES.mlp, JSON.stringify({ format: 'layers-model' })),
      CHURN_FILES.mlp,
      /invalid MLP model.json/,
    )
  })

  it('names an invalid calibration', async () => {
    await expectBundleError(
      (b) =>
        withFile(
          b,
          CHURN_FILES.calibration,
          JSON.stringify({ kind: 'isotonic', formatVersion: 1, x: [1, 0], y: [0, 1] }),
        ),
      CHURN_FILES.calibration,
      /x must be increasing/,
    )
  })

  it('names an unknown model kind', async () => {
    await expectBundleError(
      (b) => ({
        ...b,
        manifest: { ...b.manifest, churn: { ...b.manifest.churn, modelKind: 'xgboost' } },
      }),
      'manifest.json',
      /churn.modelKind "xgboost" is not one of histogram-forest, tfjs-mlp/,
    )
  })

  it('names a missing weights file field', async () => {
    await expectBundleError(
      (b) => {
        const { weightsFile: _dropped, ...churn } = b.manifest.churn
        return { ...b, manifest: { ...b.manifest, churn } }
      },
      'manifest.json',
      /churn.weightsFile is missing, which modelKind tfjs-mlp needs/,
    )
  })
})

describe('too little data', () => {
  it('rejects a history shorter than two horizons', async () => {
    // The simulation starts 90 days before its cutoff, so a cutoff 31 days earlier has under
    // 59 days of events, short of the 60 that two 30-day horizons need.
    const asOfMs = Date.parse(summary.cutoff) - 31 * DAY
    const run = prepareTrainingData(store.client, { ...options, asOfMs })
    await expect(run).rejects.toThrow(TrainingDataError)
    await expect(run).rejects.toThrow(
      /the events before the cutoff span \d+ days, and more than 60 are needed\. Choose --as-of after .* or a --horizon under 29 days\./,
    )
  })
})
