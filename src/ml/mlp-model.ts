/**
 * The churn MLP in its bundle form: a tfjs `model.json` (topology and weights manifest, the
 * format `tf.loadLayersModel` reads) and one binary weights file, plus prediction on any tfjs
 * backend. Rebuilding the model from those files is synchronous, so bundles with an MLP load
 * as fast as those with a forest.
 */
import * as tf from '@tensorflow/tfjs'
import { z } from 'zod'
import { assertFinite, type Matrix } from './matrix.ts'
import { transform, type ScalerParams } from './scaler.ts'

/**
 * Bound of the MLP's scaled inputs, in standard deviations. A feature that is nearly constant in
 * the training window can lie hundreds of deviations out later (days since the last send did
 * in the simulator's data), and a ReLU network extrapolates such inputs linearly into a
 * saturated output.
 */
export const MLP_INPUT_CLIP = 5

/** Standardizes rows with the MLP's scaler and clips each value to +-MLP_INPUT_CLIP. */
export function prepareMlpInput(scaler: ScalerParams, x: Matrix): Matrix {
  const scaled = transform(scaler, x)
  const { data } = scaled
  for (let k = 0; k < data.length; k++) {
    data[k] = Math.min(MLP_INPUT_CLIP, Math.max(-MLP_INPUT_CLIP, data[k] as number))
  }
  return scaled
}

/** Rows per `predict` batch. tfjs defaults to 32 rows, which makes large inputs much slower. */
export const PREDICT_BATCH_SIZE = 8192

const ACTIVATIONS = ['relu', 'sigmoid', 'tanh', 'linear'] as const

/** Error of `loadMlp` for an invalid file, with `file` naming which of the two it was. */
export class MlpArtifactError extends Error {
  constructor(
    readonly file: 'model' | 'weights',
    message: string,
  ) {
    super(message)
    this.name = 'MlpArtifactError'
  }
}

/** A model.json as tfjs writes it, restricted to what this project trains. */
export interface MlpModelJson {
  format: 'layers-model'
  generatedBy: string
  convertedBy: null
  modelTopology: unknown
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]
}

/** One dense layer read from the topology. */
interface DenseSpec {
  units: number
  activation: (typeof ACTIVATIONS)[number]
}

const denseLayerSchema = z.object({
  class_name: z.literal('Dense'),
  config: z.object({
    units: z.number().int().positive(),
    activation: z.enum(ACTIVATIONS),
    use_bias: z.literal(true),
    batch_input_shape: z.tuple([z.null(), z.number().int().positive()]).optional(),
  }),
})

const topologySchema = z.object({
  class_name: z.literal('Sequential'),
  config: z.object({ layers: z.array(denseLayerSchema).min(1) }),
})

const weightEntrySchema = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.literal('float32'),
})

const modelJsonSchema = z.object({
  format: z.literal('layers-model'),
  modelTopology: topologySchema,
  weightsManifest: z
    .array(z.object({ paths: z.array(z.string()).length(1), weights: z.array(weightEntrySchema) }))
    .length(1),
})

/** A trained MLP that maps rows of scaled features to a score in [0, 1]. */
export class MlpModel {
  constructor(
    readonly nFeatures: number,
    private readonly model: tf.LayersModel,
  ) {}

  /**
   * Returns the sigmoid output per row of already scaled input. Every tensor made here is
   * disposed before it returns. Throws a RangeError on a column count mismatch or a
   * non-finite entry.
   */
  predictScaled(x: Matrix): Float64Array {
    if (x.cols !== this.nFeatures) {
      throw new RangeError(`matrix has ${x.cols} columns, but the MLP takes ${this.nFeatures}`)
    }
    assertFinite(x, 'MLP input')
    if (x.rows === 0) return new Float64Array(0)
    const output = tf.tidy(() => {
      const input = tf.tensor2d(Float32Array.from(x.data), [x.rows, x.cols])
      const predicted = this.model.predict(input, { batchSize: PREDICT_BATCH_SIZE }) as tf.Tensor
      return predicted.dataSync()
    })
    return Float64Array.from(output)
  }

  /** Serializes the model as tfjs's model.json (naming `weightsFile`) and the weights' bytes. */
  async toArtifacts(weightsFile: string): Promise<{ modelJson: MlpModelJson; weights: Buffer }> {
    let saved: tf.io.ModelArtifacts | undefined
    await this.model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
      }),
    )
    if (!saved?.weightSpecs || !saved.weightData) {
      throw new Error('tfjs saved the MLP without weights')
    }
    const data = saved.weightData
    const bytes = Array.isArray(data)
      ? Buffer.concat(data.map((part) => Buffer.from(part)))
      : Buffer.from(data)
    const modelJson: MlpModelJson = {
      format: 'layers-model',
      generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
      convertedBy: null,
      modelTopology: saved.modelTopology,
      weightsManifest: [{ paths: [weightsFile], weights: saved.weightSpecs }],
    }
    return { modelJson, weights: bytes }
  }

  /** Frees the model's weight tensors. */
  dispose(): void {
    this.model.dispose()
  }
}

function readDenseSpecs(modelJson: z.infer<typeof modelJsonSchema>): {
  inputs: number
  layers: DenseSpec[]
} {
  const layers = modelJson.modelTopology.config.layers
  const inputShape = layers[0]?.config.batch_input_shape
  if (!inputShape) {
    throw new MlpArtifactError(
      'model',
      'invalid MLP model.json: the first layer has no batch_input_shape',
    )
  }
  return {
    inputs: inputShape[1],
    layers: layers.map((layer) => ({
      units: layer.config.units,
      activation: layer.config.activation,
    })),
  }
}

/**
 * Rebuilds an MLP from its model.json and weights bytes, as `tf.loadLayersModel` with
 * `tf.io.fromMemory` would but synchronously. Accepts only a Sequential stack of Dense layers
 * with biases, the shape `trainMlp` writes. Throws an MlpArtifactError naming the invalid
 * field, or the weights' expected and actual byte length.
 */
export function loadMlp(json: unknown, weights: Uint8Array): MlpModel {
  const parsed = modelJsonSchema.safeParse(json)
  if (!parsed.success) {
    throw new MlpArtifactError('model', `invalid MLP model.json: ${z.prettifyError(parsed.error)}`)
  }
  const { inputs, layers } = readDenseSpecs(parsed.data)
  const specs = parsed.data.weightsManifest[0]!.weights

  let width = inputs
  const expected: number[][] = []
  for (const layer of layers) {
    expected.push([width, layer.units], [layer.units])
    width = layer.units
  }
  if (width !== 1)
    throw new MlpArtifactError(
      'model',
      `invalid MLP model.json: the last layer has ${width} units, expected 1`,
    )
  const shapes = specs.map((spec) => spec.shape)
  if (JSON.stringify(shapes) !== JSON.stringify(expected)) {
    throw new MlpArtifactError(
      'model',
      `invalid MLP model.json: weights have shapes ${JSON.stringify(shapes)}, expected ${JSON.stringify(expected)}`,
    )
  }
  const values = shapes.reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0)
  if (weights.byteLength !== values * 4) {
    throw new MlpArtifactError(
      'weights',
      `MLP weights have ${weights.byteLength} bytes, expected ${values * 4}`,
    )
  }

  const model = tf.sequential()
  layers.forEach((layer, i) =>
    model.add(
      tf.layers.dense({
        units: layer.units,
        activation: layer.activation,
        ...(i === 0 ? { inputShape: [inputs] } : {}),
      }),
    ),
  )
  const buffer = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength)
  const named = tf.io.decodeWeights(buffer as ArrayBuffer, specs)
  const tensors = specs.map((spec) => named[spec.name] as tf.Tensor)
  model.setWeights(tensors)
  tf.dispose(tensors)
  return new MlpModel(inputs, model)
}
