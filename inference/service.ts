import { basename, join, relative } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../src/config/index.ts'
import { FEATURES } from '../src/features/catalogue.ts'
import { computeFeatures, selectFeatures } from '../src/features/compute.ts'
import { createMatrix } from '../src/ml/matrix.ts'
import { BundleError, loadBundle, loadChampion, readChampion } from '../src/registry/bundle.ts'
import type { Store } from '../src/store/client.ts'
import { countWeekOpens, toDenseWeek } from '../src/features/send-time.ts'
import { scoreRowList, type ScoreBatcher, type ScoreRow } from './batcher.ts'
import { ApiError, isStoreUnreachable, storeUnavailableError, type ErrorBody } from './errors.ts'
import { FeatureCache, type CachedContact } from './feature-cache.ts'
import { buildScoringModel, type ScoringModel } from './model.ts'
import type { ScoreLogWriter } from './score-log.ts'
import type { ContactScore } from './scoring.ts'
import { parseContactInput, type ContactInput } from './schemas.ts'
import { parseHourOfWeekOpens } from './send-time.ts'

/** One contact of a score request, as parseContactInput returns it; values are checked per contact. */
export type { ContactInput }

export interface ScoreOptions {
  /**
   * True when the features are wanted as of now rather than a given time, so
   * cached features up to SEGMENTS_FEATURE_CACHE_SECONDS old may stand in.
   */
  asOfNow?: boolean
  /** Id of the HTTP request, recorded with each score_log row; '' when absent. */
  requestId?: string
}

/** Returns an entry's `key` when it is a string, so that a result can name an invalid contact. */
function keyOf(entry: unknown): string | null {
  const key = (entry as { key?: unknown } | null)?.key
  return typeof key === 'string' ? key : null
}

/** Keys that are addresses are stored lower-cased, so they are looked up that way. */
const normalizeKey = (key: string) => (key.includes('@') ? key.trim().toLowerCase() : key)

export type ScoreOutcome = { index: number; key: string | null } & (
  ContactScore | { error: ErrorBody }
)

/** A contact scored by key, with the time and the values of its features. */
export type ContactReport = {
  index: 0
  key: string
  asOf: string
  features: Record<string, number>
} & ContactScore

/** A champion that failed to load while the watcher polled, as `/readyz` reports it. */
export interface ReloadError {
  /** Version named by champion.json, or null when champion.json itself is invalid. */
  version: string | null
  /** File that failed its check, relative to SEGMENTS_MODELS_DIR. */
  file: string
  reason: string
  failedAt: string
}

/** Result of one check of champion.json. */
export type ReloadOutcome = 'unchanged' | 'loaded' | 'failed' | 'no-champion'

/** Shared state of the API: the store, the configuration and the model in service. */
export class ScoringService {
  /**
   * Model in service. It is replaced in one assignment, and each request reads
   * it once at its start, so a request in flight keeps the model it began with.
   */
  model: ScoringModel | undefined
  /** Last failed reload, cleared once champion.json names a version that loads. */
  lastReloadError: ReloadError | undefined
  /** Version folder named by champion.json when `model` was loaded. */
  private modelSourceVersion: string | undefined
  /** Failure already logged, so a champion that keeps failing is logged once. */
  private loggedFailure: string | undefined
  private reloading: Promise<ReloadOutcome> | undefined
  /** Scoring calls in progress per model, so a replaced model is disposed only once none uses it. */
  private readonly leases = new Map<ScoringModel, number>()
  /** Replaced models that calls in progress still use. */
  private readonly retired = new Set<ScoringModel>()
  /** Features of contacts scored by key as of now, emptied when another model scores. */
  readonly featureCache: FeatureCache
  /** Joins the model calls of concurrent requests. Without one, each request calls the model itself. */
  batcher: ScoreBatcher | undefined
  /** Receives every score with its features for the score_log table; set by the server. */
  scoreLog: ScoreLogWriter | undefined

  constructor(
    readonly config: Readonly<Config>,
    readonly store: Store,
    readonly bundleName: string,
  ) {
    this.featureCache = new FeatureCache({
      ttlMs: config.featureCache.seconds * 1000,
      maxEntries: config.featureCache.maxEntries,
    })
  }

  /**
   * Loads the champion bundle; on failure the model already in service stays.
   * The caller logs the failure, so it is stored in `lastReloadError` and
   * counted as logged: a later reload check that fails the same way logs nothing.
   */
  async loadChampion(): Promise<ScoringModel> {
    const { modelsDir } = this.config
    let version: string | undefined
    let pointerRead = false
    try {
      version = await readChampion(modelsDir, this.bundleName)
      pointerRead = true
      // Without a marked version, loadChampion raises the BundleError that reports it.
      const bundle =
        version === undefined
          ? await loadChampion(modelsDir, this.bundleName)
          : await loadBundle(join(modelsDir, this.bundleName, version))
      const model = buildScoringModel(bundle)
      this.replaceModel(model)
      this.modelSourceVersion = basename(bundle.dir)
      this.lastReloadError = undefined
      this.loggedFailure = undefined
      return model
    } catch (error) {
      // A reload check finds no champion without storing or logging an error, so neither does this.
      if (!(pointerRead && version === undefined)) this.recordFailure(version, error)
      throw error
    }
  }

  /** Stores a failed load in `lastReloadError`; returns false when the same failure was logged last. */
  private recordFailure(version: string | undefined, error: unknown): boolean {
    const failure = describeReloadError(this.config.modelsDir, this.bundleName, version, error)
    this.lastReloadError = failure
    const key = `${failure.version}\n${failure.file}\n${failure.reason}`
    if (key === this.loggedFailure) return false
    this.loggedFailure = key
    return true
  }

  /**
   * Reads champion.json and, when it names a version other than the loaded
   * one, loads that bundle with every hash and consistency check before it
   * replaces the model in service. A failure keeps the old model, is stored
   * in `lastReloadError` and is logged at warn once per version and reason.
   * Calls made while a check runs share its result. Never rejects.
   */
  reloadChampion(log: FastifyBaseLogger): Promise<ReloadOutcome> {
    this.reloading ??= this.checkChampion(log).finally(() => {
      this.reloading = undefined
    })
    return this.reloading
  }

  /**
   * Calls `reloadChampion` every `intervalMs` milliseconds, each check
   * starting after the previous one ends. The timer is unref'd, so it does
   * not keep the process alive. Returns the function that stops polling.
   */
  watchChampion(options: { intervalMs: number; log: FastifyBaseLogger }): () => void {
    const { intervalMs, log } = options
    if (!(intervalMs > 0)) {
      throw new RangeError(`Invalid reload interval ${intervalMs} ms: expected a positive number`)
    }
    let timer: NodeJS.Timeout | undefined
    let stopped = false
    const schedule = () => {
      timer = setTimeout(async () => {
        await this.reloadChampion(log)
        if (!stopped) schedule()
      }, intervalMs)
      timer.unref()
    }
    schedule()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }

  private async checkChampion(log: FastifyBaseLogger): Promise<ReloadOutcome> {
    const { modelsDir } = this.config
    let version: string | undefined
    try {
      version = await readChampion(modelsDir, this.bundleName)
      if (version === undefined || version === this.modelSourceVersion) {
        this.lastReloadError = undefined
        this.loggedFailure = undefined
        return version === undefined ? 'no-champion' : 'unchanged'
      }
      const model = buildScoringModel(await loadBundle(join(modelsDir, this.bundleName, version)))
      const previous = this.modelSourceVersion ?? null
      this.replaceModel(model)
      this.modelSourceVersion = version
      this.lastReloadError = undefined
      this.loggedFailure = undefined
      log.info({ version, previous }, 'loaded the new champion bundle')
      return 'loaded'
    } catch (error) {
      if (this.recordFailure(version, error)) {
        const failure = this.lastReloadError as ReloadError
        log.warn(
          { err: error, version: failure.version, file: failure.file },
          `champion bundle failed to load; the model in service stays ${this.modelSourceVersion ?? 'unloaded'}`,
        )
      }
      return 'failed'
    }
  }

  /**
   * Puts `next` in service. The model it replaces keeps serving the calls
   * that began with it, and its MLP weights are freed when the last one ends.
   */
  private replaceModel(next: ScoringModel): void {
    const previous = this.model
    this.model = next
    if (previous === undefined || previous === next) return
    this.retired.add(previous)
    this.disposeIfUnused(previous)
  }

  /** Runs `work` with `model` counted as in use. */
  private async withModel<T>(model: ScoringModel, work: () => Promise<T>): Promise<T> {
    this.leases.set(model, (this.leases.get(model) ?? 0) + 1)
    try {
      return await work()
    } finally {
      const left = (this.leases.get(model) ?? 1) - 1
      if (left > 0) this.leases.set(model, left)
      else this.leases.delete(model)
      this.disposeIfUnused(model)
    }
  }

  private disposeIfUnused(model: ScoringModel): void {
    if (!this.retired.has(model) || this.leases.has(model)) return
    this.retired.delete(model)
    model.churn.dispose()
  }

  requireModel(): ScoringModel {
    if (!this.model)
      throw new ApiError(
        'MODEL_NOT_LOADED',
        'No model bundle is loaded yet; train one with `segments train`',
      )
    return this.model
  }

  /**
   * Scores contacts given by key (features computed from the store as of
   * `asOfMs`) or with their features. Each entry is checked against the
   * contact schema here, so a contact that is invalid or cannot be scored
   * gets an error of its own, and the others are still scored. `model`
   * defaults to the one in service at the call.
   */
  async score(
    entries: readonly unknown[],
    asOfMs: number,
    model: ScoringModel = this.requireModel(),
    options: ScoreOptions = {},
  ): Promise<ScoreOutcome[]> {
    return this.withModel(model, () => this.scoreWith(entries, asOfMs, model, options))
  }

  private async scoreWith(
    entries: readonly unknown[],
    asOfMs: number,
    model: ScoringModel,
    options: ScoreOptions,
  ): Promise<ScoreOutcome[]> {
    const names = model.manifest.featureNames
    const rows = createMatrix(entries.length, names.length)
    const weekOpens: (ArrayLike<number> | undefined)[] = entries.map(() => undefined)
    // Time each contact scored by key was computed as of: asOfMs, or earlier for a cache hit.
    const featureTimes: (number | null)[] = entries.map(() => null)
    const outcomes: (ScoreOutcome | undefined)[] = entries.map(() => undefined)
    const scorable: number[] = []

    const fail = (
      index: number,
      code: ErrorBody['code'],
      message: string,
      path: (string | number)[],
    ) => {
      outcomes[index] = { index, key: keyOf(entries[index]), error: { code, message, path } }
    }

    // Entries that fail the contact schema are left out as undefined.
    const contacts = entries.map((entry, index): ContactInput | undefined => {
      const parsed = parseContactInput(entry)
      if (!('message' in parsed)) return parsed
      fail(index, 'INVALID_REQUEST', parsed.message, ['contacts', index, ...parsed.path])
      return undefined
    })

    contacts.forEach((contact, index) => {
      if (contact === undefined) return
      if (contact.features) {
        const problem = copyFeatures(contact.features, names, rows.data, index * names.length)
        if (problem)
          return fail(index, 'INVALID_REQUEST', problem.message, [
            'contacts',
            index,
            'features',
            ...problem.path,
          ])
        if (contact.hourOfWeekOpens) {
          const parsed = parseHourOfWeekOpens(contact.hourOfWeekOpens)
          if ('message' in parsed) {
            return fail(index, 'INVALID_REQUEST', parsed.message, [
              'contacts',
              index,
              'hourOfWeekOpens',
              ...parsed.path,
            ])
          }
          weekOpens[index] = parsed.opens
        }
        scorable.push(index)
      } else if (contact.hourOfWeekOpens) {
        fail(
          index,
          'INVALID_REQUEST',
          'hourOfWeekOpens is read only with "features"; a contact given by key has its opens counted from the store',
          ['contacts', index, 'hourOfWeekOpens'],
        )
      } else if (!contact.key) {
        fail(index, 'INVALID_REQUEST', 'Give the contact\'s "key" or its "features"', [
          'contacts',
          index,
        ])
      }
    })

    // Contacts that already failed, such as a key with hourOfWeekOpens, are not looked up.
    const byKey = contacts.flatMap((contact, index) =>
      !contact || contact.features || !contact.key || outcomes[index] ? [] : [index],
    )
    if (byKey.length > 0) {
      const keys = byKey.map((index) => contacts[index]?.key as string)
      let featuresOf: Map<string, CachedContact>
      try {
        featuresOf = await this.featuresByKey(model, keys, asOfMs, options.asOfNow === true)
      } catch (error) {
        if (!isStoreUnreachable(error)) throw error
        // Only the contacts given by key need the store, so the others are still scored.
        for (const index of byKey) {
          const { code, message, path } = storeUnavailableError(error, ['contacts', index, 'key'])
          fail(index, code, message, path)
        }
        featuresOf = new Map()
      }
      for (const index of byKey) {
        if (outcomes[index]) continue
        const key = contacts[index]?.key as string
        const found = featuresOf.get(normalizeKey(key))
        if (found === undefined) {
          fail(index, 'UNKNOWN_CONTACT', unknownContactMessage(key, asOfMs), [
            'contacts',
            index,
            'key',
          ])
          continue
        }
        rows.data.set(found.features, index * names.length)
        weekOpens[index] = found.weekOpens
        featureTimes[index] = found.asOfMs
        scorable.push(index)
      }
    }

    scorable.sort((a, b) => a - b)
    const scores = await this.scoreModelRows(
      model,
      scorable.map((index) => ({
        features: rows.data.subarray(index * names.length, (index + 1) * names.length),
        weekOpens: weekOpens[index],
      })),
    )
    scorable.forEach((index, i) => {
      outcomes[index] = { index, key: contacts[index]?.key ?? null, ...(scores[i] as ContactScore) }
    })
    this.scoreLog?.record({
      model,
      requestId: options.requestId ?? '',
      contacts: scorable.map((index, i) => {
        const { key } = contacts[index] as ContactInput
        return {
          key: key === undefined ? null : normalizeKey(key),
          asOfMs: featureTimes[index] ?? null,
          features: rows.data.subarray(index * names.length, (index + 1) * names.length),
          score: scores[i] as ContactScore,
        }
      }),
    })
    return outcomes as ScoreOutcome[]
  }

  /**
   * Scores one contact by key, computing its features as of `asOfMs` the way
   * `score` does, and returns the features with the score. Throws
   * UNKNOWN_CONTACT when the store has nothing on the key before that time.
   */
  async scoreContact(
    key: string,
    asOfMs: number,
    options: ScoreOptions = {},
  ): Promise<ContactReport> {
    const model = this.requireModel()
    return this.withModel(model, () => this.scoreContactWith(key, asOfMs, model, options))
  }

  private async scoreContactWith(
    key: string,
    asOfMs: number,
    model: ScoringModel,
    options: ScoreOptions,
  ): Promise<ContactReport> {
    const names = model.manifest.featureNames
    const asOfNow = options.asOfNow === true
    const found = (await this.featuresByKey(model, [key], asOfMs, asOfNow)).get(normalizeKey(key))
    if (found === undefined) {
      throw new ApiError('UNKNOWN_CONTACT', unknownContactMessage(key, asOfMs), ['key'])
    }
    const { features } = found
    const [score] = await this.scoreModelRows(model, [found])
    this.scoreLog?.record({
      model,
      requestId: options.requestId ?? '',
      contacts: [
        { key: normalizeKey(key), asOfMs: found.asOfMs, features, score: score as ContactScore },
      ],
    })
    return {
      index: 0,
      key,
      ...(score as ContactScore),
      asOf: new Date(found.asOfMs).toISOString(),
      features: Object.fromEntries(names.map((name, j) => [name, features[j] as number])),
    }
  }

  /** Runs the model on rows through the batcher, or in one call without one. */
  private async scoreModelRows(model: ScoringModel, rows: ScoreRow[]): Promise<ContactScore[]> {
    if (rows.length === 0) return []
    return this.batcher ? this.batcher.submit(model, rows) : scoreRowList(model, rows)
  }

  /**
   * Computes the features of contacts by key as of `asOfMs`, each row in the
   * order of the bundle's featureNames (columns are matched by name, because
   * the bundle's order may differ from the catalogue's), with their human
   * opens per hour of the week. The map is keyed by the normalized key and
   * has no entry for keys without events or a contact record before that
   * time. With `asOfNow`, cached contacts are reused and the rest are cached.
   */
  private async featuresByKey(
    model: ScoringModel,
    keys: string[],
    asOfMs: number,
    asOfNow: boolean,
  ): Promise<Map<string, CachedContact>> {
    const found = new Map<string, CachedContact>()
    const cache = asOfNow ? this.featureCache : undefined
    const missing: string[] = []
    for (const key of new Set(keys.map(normalizeKey))) {
      const cached = cache?.get(model, key)
      if (cached) found.set(key, cached)
      else missing.push(key)
    }
    if (missing.length === 0) return found

    const { client } = this.store
    const zone = this.config.defaultTimeZone
    const [computed, opens] = await Promise.all([
      computeFeatures(client, asOfMs, zone, missing),
      countWeekOpens(client, asOfMs, zone, missing),
    ])
    const names = model.manifest.featureNames
    const matrix = selectFeatures(computed, names)
    computed.contactKeys.forEach((key, row) => {
      const counts = opens.get(key)
      // A copy, so a cached row does not keep the whole matrix of its request alive.
      const contact: CachedContact = {
        features: matrix.data.slice(row * names.length, (row + 1) * names.length),
        weekOpens: counts ? toDenseWeek(counts) : undefined,
        asOfMs,
      }
      found.set(key, contact)
      cache?.set(model, key, contact)
    })
    return found
  }
}

/** Names the failed file relative to the models folder, so probes do not expose server paths. */
function describeReloadError(
  modelsDir: string,
  name: string,
  version: string | undefined,
  error: unknown,
): ReloadError {
  const failedAt = new Date().toISOString()
  const fallbackFile = join(modelsDir, name, version ?? 'champion.json')
  const file = error instanceof BundleError ? error.file : fallbackFile
  const reason =
    error instanceof BundleError ? error.reason : ((error as Error)?.message ?? String(error))
  return { version: version ?? null, file: relative(modelsDir, file), reason, failedAt }
}

const unknownContactMessage = (key: string, asOfMs: number) =>
  `No events or contact record before ${new Date(asOfMs).toISOString()} for key ${JSON.stringify(key)}`

/**
 * Values each feature unit can take. The bounds of counts and other units are
 * far past real data but keep squares and sums in the models finite.
 */
const UNIT_RANGES: Record<string, [number, number]> = {
  count: [0, 1e9],
  share: [0, 1],
  days: [0, 36_500],
  ratio: [-1, 1],
  flag: [0, 1],
  // A local time of day in hours, from 0 up to 24.
  hour: [0, 24],
  minutes: [0, 1e9],
}
const OTHER_RANGE: [number, number] = [-1e9, 1e9]

const FEATURE_RANGES = new Map(
  FEATURES.map((feature) => [feature.name, UNIT_RANGES[feature.unit] ?? OTHER_RANGE]),
)

/** Name set and value bounds of a bundle's feature list, in its order. */
interface FeatureLayout {
  known: Set<string>
  min: Float64Array
  max: Float64Array
}

/** Layouts of the bundles' feature lists, so each contact's features are checked in O(features). */
const featureLayouts = new WeakMap<string[], FeatureLayout>()

function featureLayout(names: string[]): FeatureLayout {
  let layout = featureLayouts.get(names)
  if (!layout) {
    const ranges = names.map((name) => FEATURE_RANGES.get(name) ?? OTHER_RANGE)
    layout = {
      known: new Set(names),
      min: Float64Array.from(ranges, ([min]) => min),
      max: Float64Array.from(ranges, ([, max]) => max),
    }
    featureLayouts.set(names, layout)
  }
  return layout
}

/**
 * Copies a contact's features into `target` in bundle order; returns the
 * problem when one is missing, unknown, not finite or outside its unit's range.
 */
function copyFeatures(
  features: Record<string, unknown>,
  names: string[],
  target: Float64Array,
  offset: number,
): { message: string; path: string[] } | undefined {
  const { known, min, max } = featureLayout(names)
  for (const name in features) {
    if (!known.has(name)) {
      return {
        message: `Unknown feature ${JSON.stringify(name)}; the model takes: ${names.join(', ')}`,
        path: [name],
      }
    }
  }
  for (let j = 0; j < names.length; j++) {
    const name = names[j] as string
    const value = features[name]
    if (value === undefined) return { message: `Missing feature "${name}"`, path: [name] }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return {
        // JSON.stringify would show an Infinity, which JSON.parse gives for 1e400, as null.
        message: `Feature "${name}" must be a finite number, received ${typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value))}`,
        path: [name],
      }
    }
    if (value < (min[j] as number) || value > (max[j] as number)) {
      return {
        message: `Feature "${name}" must be from ${min[j]} to ${max[j]}, received ${value}`,
        path: [name],
      }
    }
    target[offset + j] = value
  }
  return undefined
}
