/**
 * A store filled with simulated contacts and events, and a champion bundle
 * trained on it, for API tests that need a model to score with.
 */
import { createHash } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { importContactsCsv } from '../../src/events/contacts.ts'
import { ingestBody } from '../../src/events/ingest.ts'
import { simulate, type SimulationSummary } from '../../src/simulate/simulate.ts'
import { openStore, type Store } from '../../src/store/client.ts'
import { trainBundle, type TrainResult } from '../../training/pipeline.ts'
import { makeTempDir } from './integration.ts'

export interface TrainedStoreOptions {
  prefix: string
  contacts?: number
  days?: number
  seed?: number
  personas?: number
  trees?: number
  bundle?: string
}

export interface TrainedStore {
  root: string
  /** Environment the store and bundle were made with; spread it to build other configs. */
  env: Record<string, string>
  config: Readonly<Config>
  store: Store
  summary: SimulationSummary
  trained: TrainResult
  cutoffMs: number
  bundle: string
  close(): Promise<void>
}

/** Simulates contacts and events, ingests them, and trains a bundle as of the cutoff. */
export async function setUpTrainedStore(options: TrainedStoreOptions): Promise<TrainedStore> {
  const {
    prefix,
    contacts = 120,
    days = 120,
    seed = 11,
    personas = 4,
    trees = 10,
    bundle = 'segments',
  } = options
  const root = await makeTempDir(prefix)
  const env = {
    SEGMENTS_CHDB_PATH: join(root, 'clickhouse'),
    SEGMENTS_MODELS_DIR: join(root, 'models'),
    SEGMENTS_LOG_LEVEL: 'silent',
  }
  const config = loadConfig(env)
  const store = await openStore(config.clickhouse)
  try {
    const outDir = join(root, 'simulation')
    const summary = await simulate({ contacts, days, seed, outDir })
    const cutoffMs = Date.parse(summary.cutoff)
    const contactsCsv = await readFile(join(outDir, 'contacts.csv'), 'utf8')
    await importContactsCsv(store.client, contactsCsv, 'test:contacts.csv')
    for (const file of summary.files.filter((name) => name.endsWith('.json'))) {
      const provider = file.startsWith('sendgrid/') ? 'sendgrid' : 'ses'
      const body = await readFile(join(outDir, file), 'utf8')
      await ingestBody(store.client, provider, body, `test:${file}`)
    }

    const trained = await trainBundle(store.client, {
      name: bundle,
      modelsDir: config.modelsDir,
      asOfMs: cutoffMs,
      horizonDays: 30,
      k: personas,
      seed,
      nTrees: trees,
      defaultZone: config.defaultTimeZone,
    })

    return {
      root,
      env,
      config,
      store,
      summary,
      trained,
      cutoffMs,
      bundle,
      async close() {
        await store.close()
        await rm(root, { recursive: true, force: true })
      },
    }
  } catch (error) {
    // A failed set-up leaves no store open and no folder behind.
    await store.close()
    await rm(root, { recursive: true, force: true })
    throw error
  }
}

/** Returns the lower-case hex sha256 of a key, as SEGMENTS_API_KEYS stores it. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** Builds a SEGMENTS_API_KEYS value from key names, their scopes and their plain keys. */
export function apiKeysValue(keys: Record<string, { scopes: string[]; key: string }>): string {
  return Object.entries(keys)
    .map(([name, { scopes, key }]) => `${name}:${scopes.join(',')}:${sha256Hex(key)}`)
    .join(';')
}
