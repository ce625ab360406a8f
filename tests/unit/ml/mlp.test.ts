import * as tf from '@tensorflow/tfjs'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadTfBackend } from '../../../inference/tf-backend.ts'
import { createMatrix, type Matrix } from '../../../src/ml/matrix.ts'
import { rocAuc } from '../../../src/ml/metrics.ts'
import { loadMlp, MLP_INPUT_CLIP, prepareMlpInput } from '../../../src/ml/mlp-model.ts'
import { createRng } from '../../../src/ml/random.ts'
import { transform } from '../../../src/ml/scaler.ts'
import { trainMlp, type TrainedMlp } from '../../../training/mlp.ts'

/**
 * Rows whose label depends on a count (column 0, skewed) and a share (column 1); column 2 is
 * noise. P(y = 1) = sigmoid(2 * (log1p(count) - 2) - 3 * (share - 0.5)).
 */
function syntheticData(rows: number, seed: number): { x: Matrix; y: Uint8Array } {
  const rng = createRng(seed)
  const x = createMatrix(rows, 3)
  const y = new Uint8Array(rows)
  for (let i = 0; i < rows; i++) {
    const count = Math.floor(Math.exp(rng.next() * 4))
    const share = rng.next()
    x.data.set([count, share, rng.normal()], i * 3)
    const logit = 2 * (Math.log1p(count) - 2) - 3 * (share - 0.5)
    y[i] = rng.next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0
  }
  return { x, y }
}

const OPTIONS = { seed: 5, epochs: 8, hidden: [16, 8], log1p: [true, false, false] }
const data = syntheticData(3000, 1)
const holdout = syntheticData(1000, 2)
let trained: TrainedMlp

beforeAll(async () => {
  await loadTfBackend()
  trained = await trainMlp(data.x, data.y, OPTIONS)
})

describe('trainMlp', () => {
  it('learns the synthetic signal', () => {
    // The true probabilities rank best in expectation; the MLP should come within 0.02 of them.
    const truth = Float64Array.from({ length: holdout.x.rows }, (_, i) => {
      const [count, share] = [holdout.x.data[i * 3] as number, holdout.x.data[i * 3 + 1] as number]
      return 1 / (1 + Math.exp(-(2 * (Math.log1p(count) - 2) - 3 * (share - 0.5))))
    })
    const best = rocAuc(holdout.y, truth)
    expect(rocAuc(holdout.y, trained.predictProba(holdout.x))).toBeGreaterThan(best - 0.02)
    expect(trained.losses).toHaveLength(8)
    expect(trained.losses[7]).toBeLessThan(trained.losses[0] as number)
  })

  it('repeats exactly for one seed', async () => {
    const again = await trainMlp(data.x, data.y, OPTIONS)
    expect(Array.from(again.predictProba(holdout.x))).toEqual(
      Array.from(trained.predictProba(holdout.x)),
    )
    again.model.dispose()
  })

  it('weights the classes as balanced', () => {
    const positives = data.y.reduce((sum, label) => sum + label, 0)
    const negatives = data.y.length - positives
    expect(trained.classWeight[0]).toBeCloseTo(data.y.length / (2 * negatives), 12)
    expect(trained.classWeight[1]).toBeCloseTo(data.y.length / (2 * positives), 12)
  })

  it('stores a log1p scaler', () => {
    expect(trained.scaler.log1p).toEqual([true, false, false])
    const scaled = transform(trained.scaler, data.x)
    let sum = 0
    for (let i = 0; i < scaled.rows; i++) sum += scaled.data[i * 3] as number
    expect(sum / scaled.rows).toBeCloseTo(0, 10)
  })

  it('rejects labels of one class', async () => {
    await expect(trainMlp(data.x, new Uint8Array(3000), OPTIONS)).rejects.toThrow(
      'y must contain both classes, got 0 of 3000 positive',
    )
  })
})

describe('prepareMlpInput', () => {
  it('clips outliers to the bound', () => {
    // Column 2 is standard normal in training, so 1e6 lies far past the bound.
    const row = createMatrix(2, 3)
    row.data.set([1e9, 0.5, 1e6, 0, 0.5, -1e6])
    const prepared = prepareMlpInput(trained.scaler, row)
    expect(prepared.data[0]).toBe(MLP_INPUT_CLIP)
    expect(prepared.data[2]).toBe(MLP_INPUT_CLIP)
    expect(prepared.data[5]).toBe(-MLP_INPUT_CLIP)
    expect(Math.abs(prepared.data[1] as number)).toBeLessThan(1)
  })
})

describe('loadMlp', () => {
  it('matches tf.loadLayersModel on the saved artifacts', async () => {
    const { modelJson, weights } = await trained.model.toArtifacts('weights.bin')
    const rebuilt = loadMlp(JSON.parse(JSON.stringify(modelJson)), weights)
    const scaled = transform(trained.scaler, holdout.x)
    const standard = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: modelJson.modelTopology as object,
        weightSpecs: modelJson.weightsManifest[0]?.weights,
        weightData: weights.buffer.slice(
          weights.byteOffset,
          weights.byteOffset + weights.byteLength,
        ),
      }),
    )
    const expected = tf.tidy(() =>
      Array.from(
        (
          standard.predict(tf.tensor2d(Float32Array.from(scaled.data), [1000, 3]), {
            batchSize: 1000,
          }) as tf.Tensor
        ).dataSync(),
      ),
    )
    expect(Array.from(rebuilt.predictScaled(scaled))).toEqual(expected)
    expect(Array.from(rebuilt.predictScaled(scaled))).toEqual(
      Array.from(trained.model.predictScaled(scaled)),
    )
    standard.dispose()
    rebuilt.dispose()
  })

  it('names invalid model.json fields and weights sizes', async () => {
    const { modelJson, weights } = await trained.model.toArtifacts('weights.bin')
    expect(() => loadMlp({ ...modelJson, format: 'graph-model' }, weights)).toThrow(
      /invalid MLP model.json[\s\S]*format/,
    )
    expect(() => loadMlp(modelJson, weights.subarray(0, 12))).toThrow(
      /MLP weights have 12 bytes, expected \d+/,
    )
    const topology = structuredClone(modelJson.modelTopology) as {
      config: { layers: { class_name: string }[] }
    }
    topology.config.layers[1]!.class_name = 'Dropout'
    expect(() => loadMlp({ ...modelJson, modelTopology: topology }, weights)).toThrow(
      /modelTopology\.config\.layers\[1\]\.class_name/,
    )
  })

  it('disposes every tensor over 10,000 single-row predictions', () => {
    const before = tf.memory().numTensors
    const row = createMatrix(1, 3)
    for (let i = 0; i < 10_000; i++) {
      row.data.set([i % 50, (i % 7) / 7, 0])
      trained.predictProba(row)
    }
    expect(tf.memory().numTensors).toBe(before)
  })
})
