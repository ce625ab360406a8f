/**
 * Trains the churn MLP with tfjs on standardized features. Training repeats exactly for one
 * seed on one backend: the initializers are seeded, and the rows are shuffled here with the
 * project's seeded generator, because tfjs's own `fit` shuffle uses Math.random.
 */
import * as tf from '@tensorflow/tfjs'
import type { Matrix } from '../src/ml/matrix.ts'
import { MlpModel, prepareMlpInput } from '../src/ml/mlp-model.ts'
import { createRng } from '../src/ml/random.ts'
import { fitScaler, type ScalerParams } from '../src/ml/scaler.ts'

export interface MlpOptions {
  seed: number
  /** Units of each hidden layer. Default [64, 32]. */
  hidden?: number[]
  /** Default 20. */
  epochs?: number
  /** Default 256. */
  batchSize?: number
  /** Adam learning rate. Default 0.001. */
  learningRate?: number
  /** Per input column: apply log1p before standardizing (for skewed counts). */
  log1p: boolean[]
}

export interface TrainedMlp {
  model: MlpModel
  scaler: ScalerParams
  /** Training loss after each epoch, weighted by the class weights. */
  losses: number[]
  /** Class weights [label 0, label 1] used in the loss: rows / (2 * rows of the class). */
  classWeight: [number, number]
  /** Returns raw (uncalibrated) scores of unscaled rows. */
  predictProba(x: Matrix): Float64Array
}

// Fisher-Yates with the seeded generator.
function shuffledOrder(rows: number, rng: ReturnType<typeof createRng>): Uint32Array {
  const order = Uint32Array.from({ length: rows }, (_, i) => i)
  for (let i = rows - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const swap = order[i] as number
    order[i] = order[j] as number
    order[j] = swap
  }
  return order
}

function buildModel(inputs: number, hidden: number[], seed: number): tf.Sequential {
  const model = tf.sequential()
  hidden.forEach((units, i) =>
    model.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 0 ? { inputShape: [inputs] } : {}),
      }),
    ),
  )
  model.add(
    tf.layers.dense({
      units: 1,
      activation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + hidden.length }),
    }),
  )
  return model
}

/**
 * Trains a dense network (ReLU hidden layers, sigmoid output) on `x` and 0/1 labels `y` with
 * balanced class weights, as scikit-learn's class_weight='balanced' computes them. The inputs
 * are standardized by a scaler fitted here, which is returned to be stored with the model, and
 * clipped to +-MLP_INPUT_CLIP.
 * Throws a RangeError for a length mismatch or labels of one class.
 */
export async function trainMlp(
  x: Matrix,
  y: Uint8Array,
  options: MlpOptions,
  onEpoch?: (done: number, total: number) => void,
): Promise<TrainedMlp> {
  if (y.length !== x.rows)
    throw new RangeError(`y has ${y.length} labels, but x has ${x.rows} rows`)
  const positives = y.reduce((sum, label) => sum + label, 0)
  if (positives === 0 || positives === y.length) {
    throw new RangeError(`y must contain both classes, got ${positives} of ${y.length} positive`)
  }
  const hidden = options.hidden ?? [64, 32]
  const epochs = options.epochs ?? 20
  const batchSize = options.batchSize ?? 256
  const classWeight: [number, number] = [
    y.length / (2 * (y.length - positives)),
    y.length / (2 * positives),
  ]

  const scaler = fitScaler(x, { log1p: options.log1p })
  const scaled = prepareMlpInput(scaler, x)
  const model = buildModel(x.cols, hidden, options.seed)
  model.compile({
    optimizer: tf.train.adam(options.learningRate ?? 0.001),
    loss: 'binaryCrossentropy',
  })

  const rng = createRng(options.seed)
  const losses: number[] = []
  const features = new Float32Array(x.rows * x.cols)
  const labels = new Float32Array(x.rows)
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffledOrder(x.rows, rng.fork(epoch))
    order.forEach((row, i) => {
      features.set(scaled.data.subarray(row * x.cols, (row + 1) * x.cols), i * x.cols)
      labels[i] = y[row] as number
    })
    const xs = tf.tensor2d(features, [x.rows, x.cols])
    const ys = tf.tensor2d(labels, [x.rows, 1])
    try {
      const history = await model.fit(xs, ys, {
        epochs: 1,
        batchSize,
        shuffle: false,
        verbose: 0,
        classWeight: { 0: classWeight[0], 1: classWeight[1] },
      })
      losses.push(history.history.loss?.[0] as number)
    } finally {
      tf.dispose([xs, ys])
    }
    onEpoch?.(epoch + 1, epochs)
  }

  const mlp = new MlpModel(x.cols, model)
  return {
    model: mlp,
    scaler,
    losses,
    classWeight,
    predictProba: (rows) => mlp.predictScaled(prepareMlpInput(scaler, rows)),
  }
}
