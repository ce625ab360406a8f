/**
 * Builds the serving benchmark's store and bundle: simulated contacts and events ingested
 * into an embedded chDB folder, and a champion bundle trained on them. Also writes the
 * matrices the FastAPI peer is trained on (matrix-file.ts format) and the request bodies.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { importContactsCsv } from '../../src/events/contacts.ts'
import { ingestBody } from '../../src/events/ingest.ts'
import { selectFeatures } from '../../src/features/compute.ts'
import { selectRows } from '../../src/ml/matrix.ts'
import { transform } from '../../src/ml/scaler.ts'
import { simulate } from '../../src/simulate/simulate.ts'
import { openStore } from '../../src/store/client.ts'
import { CHURN_FEATURES, reachableRows } from '../../training/churn.ts'
import {
  fitBundle,
  prepareTrainingData,
  type TrainingData,
  type TrainResult,
} from '../../training/pipeline.ts'
import { writeLabels, writeMatrix } from '../training/matrix-file.ts'

export interface StoreOptions {
  dir: string
  contacts: number
  days: number
  k: number
  trees: number
  seed: number
}

export const BUNDLE_NAME = 'segments'

export interface BuiltStore {
  chdbPath: string
  modelsDir: string
  data: TrainingData
  trained: TrainResult
}

/** Options of the store's connection for an embedded chDB folder. */
export const chdbConnection = (chdbPath: string) => ({
  chdbPath,
  user: 'default',
  password: '',
  database: 'default',
  requestTimeoutMs: 30_000,
  url: undefined,
})

/**
 * Simulates contacts and events into `dir/simulation` and ingests them into an embedded
 * store at `chdbPath`, which is closed again before this returns. Returns the simulation's
 * churn cutoff in epoch ms.
 */
export async function fillStore(options: StoreOptions, chdbPath: string): Promise<number> {
  const simulationDir = join(options.dir, 'simulation')
  const summary = await simulate({
    contacts: options.contacts,
    days: options.days,
    seed: options.seed,
    outDir: simulationDir,
  })
  const store = await openStore(chdbConnection(chdbPath))
  try {
    const contactsCsv = readFileSync(join(simulationDir, 'contacts.csv'), 'utf8')
    await importContactsCsv(store.client, contactsCsv, 'bench:contacts.csv')
    for (const file of summary.files.filter((name) => name.endsWith('.json'))) {
      const provider = file.startsWith('sendgrid/') ? 'sendgrid' : 'ses'
      const body = readFileSync(join(simulationDir, file), 'utf8')
      await ingestBody(store.client, provider, body, `bench:${file}`)
    }
  } finally {
    await store.close()
  }
  return Date.parse(summary.cutoff)
}

/** Fills a store and trains a champion bundle on it as of the simulation's cutoff. */
export async function buildStore(options: StoreOptions): Promise<BuiltStore> {
  const chdbPath = join(options.dir, 'clickhouse')
  const modelsDir = join(options.dir, 'models')
  const asOfMs = await fillStore(options, chdbPath)
  const store = await openStore(chdbConnection(chdbPath))
  try {
    const split = { asOfMs, horizonDays: 30, defaultZone: 'UTC' }
    const data = await prepareTrainingData(store.client, split)
    const trained = await fitBundle(data, {
      ...split,
      name: BUNDLE_NAME,
      modelsDir,
      k: options.k,
      seed: options.seed,
      nTrees: options.trees,
    })
    return { chdbPath, modelsDir, data, trained }
  } finally {
    await store.close()
  }
}

/**
 * Writes what peer.py trains on into `dir`. These are the persona matrix of the bundle in
 * scaled units (`persona.f64`) and the churn training matrix of reachable contacts with its
 * labels (`churn.f64`, `churn.u8`). `meta.json` adds the feature orders, the scaler and the
 * forest's hyperparameters read from the bundle.
 */
export function writePeerData(dir: string, built: BuiltStore): void {
  mkdirSync(dir, { recursive: true })
  const { manifest, personas, churn, train, test } = built.trained
  const labels = built.data.trainLabels
  writeMatrix(
    join(dir, 'persona'),
    transform(personas.scaler, selectFeatures(test, personas.features)),
  )

  const rows = reachableRows(train)
  writeMatrix(join(dir, 'churn'), selectRows(selectFeatures(train, CHURN_FEATURES), rows))
  writeLabels(
    join(dir, 'churn'),
    Uint8Array.from(rows, (row) => labels[row] as number),
  )
  const forest = churn.model.toJSON().options
  const meta = {
    featureNames: manifest.featureNames,
    personaFeatures: personas.features,
    churnFeatures: CHURN_FEATURES,
    churnMedians: churn.medians,
    scaler: personas.scaler,
    k: personas.centroids.rows,
    trees: forest.nTrees,
    maxDepth: forest.maxDepth,
    minSamplesLeaf: forest.minSamplesLeaf,
    classWeight: forest.classWeight,
    seed: forest.seed,
    bands: manifest.churn.bands,
    version: manifest.version,
  }
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta))
}
