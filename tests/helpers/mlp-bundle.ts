/**
 * A champion bundle whose churn model is the tfjs MLP, for API tests of the MLP path.
 *
 * Training chooses between the forest and the MLP, and trains the MLP only when the training
 * window has MIN_MLP_TRAIN_CHURNERS churners, which takes a simulated store of over a thousand
 * contacts and minutes of set-up. This helper instead trains the MLP on the windows of the
 * small store that setUpTrainedStore builds. It uses the functions training uses: `trainMlp`,
 * then isotonic calibration and permutation importance on the validation window, then
 * `churnArtifacts`. The registry code publishes the MLP beside the forest bundle's persona files.
 */
import { loadTfBackend } from '../../inference/tf-backend.ts'
import { selectFeatures, type FeatureMatrix } from '../../src/features/compute.ts'
import { churnLabels } from '../../src/features/labels.ts'
import { fitIsotonic } from '../../src/ml/calibration.ts'
import { columnMedians, permutationImportance } from '../../src/ml/importance.ts'
import { selectRows, type Matrix } from '../../src/ml/matrix.ts'
import { loadBundle, publishBundle } from '../../src/registry/bundle.ts'
import { promote } from '../../src/registry/champion.ts'
import type { Manifest } from '../../src/registry/manifest.ts'
import {
  CHURN_FEATURES,
  CHURN_FILES,
  churnArtifacts,
  log1pFlags,
  reachableRows,
} from '../../training/churn.ts'
import { trainMlp } from '../../training/mlp.ts'
import type { TrainedStore } from './trained-store.ts'

export interface MlpChampionOptions {
  /** Seed of the MLP's initializers, shuffles and permutation importance. Default 11. */
  seed?: number
  /** Training epochs. Default 20, as in training. */
  epochs?: number
}

export interface MlpChampion {
  version: string
  dir: string
  manifest: Manifest
}

/** Churn features and labels of one window's reachable contacts, as trainChurn selects them. */
interface LabelledRows {
  x: Matrix
  y: Uint8Array
}

async function labelledRows(
  setup: TrainedStore,
  features: FeatureMatrix,
  horizonDays: number,
): Promise<LabelledRows> {
  const labels = await churnLabels(
    setup.store.client,
    features.contactKeys,
    features.asOfMs,
    horizonDays,
  )
  const rows = reachableRows(features)
  return {
    x: selectRows(selectFeatures(features, CHURN_FEATURES), rows),
    y: Uint8Array.from(rows, (row) => labels[row] as number),
  }
}

/**
 * Trains the churn MLP on the training window of `setup`, publishes a bundle with it as
 * version `<forest version>-mlp` and promotes that bundle to champion. The trained model's
 * tensors are disposed before it returns, but the Adam optimizer's state is not.
 */
export async function publishMlpChampion(
  setup: TrainedStore,
  options: MlpChampionOptions = {},
): Promise<MlpChampion> {
  const { seed = 11, epochs = 20 } = options
  const forest = setup.trained.manifest
  const { horizonDays } = forest.churn
  const backend = await loadTfBackend()
  const train = await labelledRows(setup, setup.trained.train, horizonDays)
  const validation = await labelledRows(setup, setup.trained.validation, horizonDays)

  const mlp = await trainMlp(train.x, train.y, { seed, epochs, log1p: log1pFlags() })
  try {
    const predict = (x: Matrix) => mlp.predictProba(x)
    const calibration = fitIsotonic(predict(validation.x), validation.y)
    const importance = permutationImportance(predict, validation.x, validation.y, { seed })
    const ranked = CHURN_FEATURES.map((feature, j) => ({
      feature,
      mean: importance.mean[j] as number,
      std: importance.std[j] as number,
    })).sort((a, b) => b.mean - a.mean)
    const artifacts = await churnArtifacts({
      ...setup.trained.churn,
      chosen: 'tfjs-mlp',
      mlp,
      calibration,
    })

    // The forest's selection, candidates and churn metrics describe another model, so they are
    // left out. Scoring reads none of them.
    const { files: _files, metrics, churn, ...fields } = forest
    const { selectedBy: _selectedBy, candidates: _candidates, ...churnFields } = churn
    const version = `${forest.version}-mlp`
    const manifest: Omit<Manifest, 'files'> = {
      ...fields,
      version,
      createdAt: new Date().toISOString(),
      churn: {
        ...churnFields,
        modelKind: 'tfjs-mlp',
        modelFile: artifacts.modelFile,
        weightsFile: artifacts.weightsFile,
        scalerFile: artifacts.scalerFile,
        calibrationFile: CHURN_FILES.calibration,
        medians: Array.from(columnMedians(train.x)),
        importance: ranked,
        candidates: [{ kind: 'tfjs-mlp', backend: backend.name }],
      },
      metrics: { personaInertia: metrics.personaInertia as number },
    }

    const { personas } = forest
    const forestFiles = (await loadBundle(setup.trained.dir)).files
    const personaFiles = Object.fromEntries(
      [personas.scalerFile, personas.centroidsFile].map((name) => [
        name,
        forestFiles.get(name) as Buffer,
      ]),
    )
    const published = await publishBundle(setup.config.modelsDir, manifest, {
      ...personaFiles,
      ...artifacts.files,
    })
    await promote(setup.config.modelsDir, setup.bundle, version)
    return { version, dir: published.dir, manifest: published.manifest }
  } finally {
    mlp.model.dispose()
  }
}
