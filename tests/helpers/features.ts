/** Shared setup for the feature tests: an event factory, a temporary chDB store and row lookup. */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { NormalizedEvent } from '../../src/events/types.ts'
import type { FeatureMatrix } from '../../src/features/compute.ts'
import { openStore, type Store } from '../../src/store/client.ts'
import { makeTempDir } from './integration.ts'

/** Field values that every event of one factory shares unless `extra` overrides them. */
export interface EventDefaults {
  /** Prefix of the event id, which continues with a counter starting at 1. */
  idPrefix: string
  campaignId?: string
  ip?: string
  userAgent?: string
  /** URL of click events; every other type gets an empty URL. */
  url?: string
}

export type EventFactory = (
  contactKey: string,
  messageId: string,
  type: NormalizedEvent['type'],
  at: number | string,
  extra?: Partial<NormalizedEvent>,
) => NormalizedEvent

/**
 * Creates a factory of `jsonl` events with ids `${idPrefix}1`, `${idPrefix}2`, … in call order.
 * `at` is epoch milliseconds or an ISO 8601 string. Defaults left out are empty strings.
 */
export function createEventFactory(defaults: EventDefaults): EventFactory {
  const { idPrefix, campaignId = '', ip = '', userAgent = '', url = '' } = defaults
  let sequence = 0
  return (contactKey, messageId, type, at, extra = {}) => {
    sequence += 1
    return {
      eventId: `${idPrefix}${sequence}`,
      provider: 'jsonl',
      contactKey,
      campaignId,
      messageId,
      type,
      occurredAtMs: typeof at === 'number' ? at : Date.parse(at),
      url: type === 'click' ? url : '',
      userAgent,
      ip,
      machineOpen: false,
      bounceKind: '',
      ...extra,
    }
  }
}

export interface TempStore {
  store: Store
  /** Folder that contains the store's data folder, free for other files of the test. */
  dir: string
  /** Closes the store and deletes `dir`. */
  close: () => Promise<void>
}

/**
 * Opens an embedded chDB store in a new temporary folder named after `prefix`. chDB binds one
 * data folder per process, so a test file opens one store at most.
 */
export async function openTempStore(prefix: string): Promise<TempStore> {
  const dir = await makeTempDir(prefix)
  let store: Store
  try {
    store = await openStore({
      chdbPath: join(dir, 'store'),
      user: 'default',
      password: '',
      database: 'default',
      requestTimeoutMs: 30_000,
      url: undefined,
    })
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
  return {
    store,
    dir,
    close: async () => {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Returns the feature values of contact `key` by feature name, failing if the row is missing. */
export function valuesOf(features: FeatureMatrix, key: string): Record<string, number> {
  const row = features.contactKeys.indexOf(key)
  expect(row, `${key} is in the matrix`).toBeGreaterThanOrEqual(0)
  const { cols, data } = features.matrix
  return Object.fromEntries(
    features.featureNames.map((name, j) => [name, data[row * cols + j] as number]),
  )
}
