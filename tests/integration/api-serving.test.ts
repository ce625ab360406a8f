/**
 * The scoring path over real HTTP on loopback: micro-batching of concurrent
 * requests, the best send time and its profiles, the feature cache, and
 * GET /v1/segments with its OpenAPI schema.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scoreRowList } from '../../inference/batcher.ts'
import { buildServer } from '../../inference/server.ts'
import { GLOBAL_PSEUDO_OPENS, PERSONA_PSEUDO_OPENS } from '../../inference/send-time.ts'
import { scoreResponseSchema } from '../../inference/schemas.ts'
import { ScoringService, type ScoreOutcome } from '../../inference/service.ts'
import { loadConfig, type Config } from '../../src/config/index.ts'
import type { NormalizedEvent } from '../../src/events/types.ts'
import { computeFeatures } from '../../src/features/compute.ts'
import {
  countWeekOpens,
  HOURS_PER_WEEK,
  type WeekOpenCounts,
} from '../../src/features/send-time.ts'
import { manifestSchema, type Manifest } from '../../src/registry/manifest.ts'
import { storeContacts, storeEvents } from '../../src/store/events.ts'
import { createEventFactory } from '../helpers/features.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000
const CONTACTS = 120

/** Long enough that requests sent together reach the batcher within one wait. */
const BATCH_WAIT_MS = 300
const SPLIT_MAX_ROWS = 4

interface HttpReply {
  status: number
  body: any
}

let setup: TrainedStore
let manifest: Manifest
let keys: string[]
/** A service without a batcher, whose direct model calls the batched results must equal. */
let unbatched: ScoringService
let batchedApp: FastifyInstance
let batchedUrl: string
let splitApp: FastifyInstance
let splitUrl: string
let cacheService: ScoringService
let cacheApp: FastifyInstance
let cacheUrl: string

async function request(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const text = await response.text()
  const isJson = response.headers.get('content-type')?.startsWith('application/json')
  return { status: response.status, body: isJson ? JSON.parse(text) : text }
}

/** Posts contacts to /v1/score as of the cutoff, or as of now when `asOf` is null. */
function score(base: string, contacts: unknown[], asOf: string | null = setup.summary.cutoff) {
  return request(`${base}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(asOf === null ? { contacts } : { contacts, asOf }),
  })
}

async function startServer(env: Record<string, string>) {
  const service = new ScoringService(
    loadConfig({ ...setup.env, ...env }),
    setup.store,
    setup.bundle,
  )
  await service.loadChampion()
  const app = buildServer(service)
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { service, app, url }
}

/** Reads one sample of the Prometheus text, such as `segments_model_batch_requests_count`. */
async function metric(base: string, sample: string): Promise<number> {
  const reply = await request(`${base}/metrics`)
  const line = (reply.body as string).split('\n').find((text) => text.startsWith(`${sample} `))
  expect(line, `${sample} in /metrics`).toBeDefined()
  return Number((line as string).slice(sample.length + 1))
}

/** Features of contacts as of the cutoff, by name, as a caller would send them. */
async function featuresOf(contactKeys: string[]): Promise<Record<string, number>[]> {
  const computed = await computeFeatures(
    setup.store.client,
    setup.cutoffMs,
    setup.config.defaultTimeZone,
    contactKeys,
  )
  const { cols, data } = computed.matrix
  return contactKeys.map((key) => {
    const row = computed.contactKeys.indexOf(key)
    expect(row, key).toBeGreaterThanOrEqual(0)
    return Object.fromEntries(
      computed.featureNames.map((name, j) => [name, data[row * cols + j] as number]),
    )
  })
}

/** Expects batched results to equal unbatched ones, field by field. */
function expectSameScores(batched: ScoreOutcome[], direct: ScoreOutcome[]): void {
  expect(batched).toHaveLength(direct.length)
  batched.forEach((result, i) => {
    const expected = direct[i] as ScoreOutcome
    if ('error' in expected) {
      expect(result, `result ${i}`).toEqual(expected)
      return
    }
    const { churn, ...rest } = expected
    expect(result, `result ${i}`).toMatchObject(rest)
    // A float32 churn network may round differently by batch size, so the probability gets a
    // tolerance; the forest and everything else must match exactly.
    const scored = result as typeof expected
    expect(scored.churn.band, `result ${i} band`).toBe(churn.band)
    expect(Math.abs(scored.churn.probability - churn.probability), `result ${i}`).toBeLessThan(1e-6)
  })
}

/** `weekday` values of the API, Monday first, as slot 0 is Monday 00:00. */
const WEEKDAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
/** Short weekday names that Intl.DateTimeFormat gives in the en-US locale, Monday first. */
const INTL_WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']

const THUNDERBIRD_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0'
const GMAIL_PROXY_AGENT =
  'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'
/** The bare user agent of Apple's Mail Privacy Protection proxy, a machine open. */
const APPLE_PROXY_AGENT = 'Mozilla/5.0'

const KOLKATA = 'send-time-kolkata@example.com'
const NEW_YORK = 'send-time-new-york@example.com'
const NO_RECORD = 'send-time-no-record@example.com'
const NO_OPENS = 'send-time-no-opens@example.com'

/** A contact written for the send-time tests, with its human opens counted by hand. */
interface SendTimeContact {
  key: string
  /** Zone of the contact record, or undefined for a contact without a record (default zone). */
  timeZone: string | undefined
  /** Times of the human opens, each in a message of its own. */
  humanOpens: string[]
  /** Human opens per slot, worked out by hand next to the times. */
  slots: Record<number, number>
}

const SEND_TIME_CONTACTS: SendTimeContact[] = [
  {
    // Kolkata is UTC+05:30 all year. 02:45Z and 03:15Z on the ten Thursdays from 9 January are
    // 08:15 and 08:45 on Thursday (slot 3 * 24 + 8 = 80). 2025-03-28T18:29Z is 23:59 on Friday
    // (slot 119) and 18:31Z is 00:01 on Saturday (slot 120).
    key: KOLKATA,
    timeZone: 'Asia/Kolkata',
    humanOpens: [
      ...Array.from({ length: 10 }, (_, week) => [
        new Date(Date.UTC(2025, 0, 9 + 7 * week, 2, 45)).toISOString(),
        new Date(Date.UTC(2025, 0, 9 + 7 * week, 3, 15)).toISOString(),
      ]).flat(),
      '2025-03-28T18:29:00Z',
      '2025-03-28T18:31:00Z',
    ],
    slots: { 80: 20, 119: 1, 120: 1 },
  },
  {
    // New York entered summer time on 2025-03-09 at 07:00Z. 14:30Z on Saturday 8 March (UTC-5)
    // and 13:30Z on the four Saturdays from 15 March (UTC-4) are all 09:30 on Saturday (slot
    // 5 * 24 + 9 = 129). 06:30Z on 9 March is 01:30 on Sunday (slot 145), and 07:30Z is 03:30
    // (slot 147). A fixed UTC-5 would put four of the Saturday opens in slot 128.
    key: NEW_YORK,
    timeZone: 'America/New_York',
    humanOpens: [
      '2025-03-08T14:30:00Z',
      '2025-03-09T06:30:00Z',
      '2025-03-09T07:30:00Z',
      '2025-03-15T13:30:00Z',
      '2025-03-22T13:30:00Z',
      '2025-03-29T13:30:00Z',
      '2025-04-05T13:30:00Z',
    ],
    slots: { 129: 5, 145: 1, 147: 1 },
  },
  {
    // No contact record, so the default zone, UTC: 21:10Z and 21:50Z on Tuesdays are slot
    // 24 + 21 = 45, and 23:59:59Z on Sunday 16 February is the last slot, 167.
    key: NO_RECORD,
    timeZone: undefined,
    humanOpens: ['2025-02-04T21:10:00Z', '2025-02-11T21:50:00Z', '2025-02-16T23:59:59Z'],
    slots: { 45: 2, 167: 1 },
  },
  {
    key: NO_OPENS,
    timeZone: 'Europe/Warsaw',
    humanOpens: [],
    slots: {},
  },
]

const makeSendTimeEvent = createEventFactory({
  idPrefix: 'send-time-',
  campaignId: 'send-time',
  userAgent: THUNDERBIRD_AGENT,
  ip: '192.0.2.60',
  url: 'https://shop.example.com/',
})

/**
 * Events of the send-time contacts: each human open in a message of its own, and activity that
 * is not a human open. The machine opens of New York fall on Monday 17 March at 08:00 local
 * time (slot 8), so counting them would give slot 8 eight opens, more than the five of slot 129.
 */
const SEND_TIME_EVENTS: NormalizedEvent[] = [
  ...SEND_TIME_CONTACTS.flatMap((contact) =>
    contact.humanOpens.map((at, i) =>
      makeSendTimeEvent(contact.key, `${contact.key}-open-${i}`, 'open', at),
    ),
  ),
  ...Array.from({ length: 6 }, (_, i) =>
    makeSendTimeEvent(NEW_YORK, `apple-${i}`, 'open', Date.UTC(2025, 2, 17, 12, i), {
      userAgent: APPLE_PROXY_AGENT,
    }),
  ),
  makeSendTimeEvent(NEW_YORK, 'flagged', 'open', '2025-03-17T12:10:00Z', { machineOpen: true }),
  makeSendTimeEvent(NEW_YORK, 'gmail', 'delivered', '2025-03-17T12:20:00Z'),
  // A Gmail proxy fetch 5 s after delivery is a prefetch, so a machine open.
  makeSendTimeEvent(NEW_YORK, 'gmail', 'open', '2025-03-17T12:20:05Z', {
    userAgent: GMAIL_PROXY_AGENT,
  }),
  makeSendTimeEvent(NEW_YORK, 'click', 'click', '2025-03-17T12:30:00Z'),
  makeSendTimeEvent(NO_OPENS, 'no-opens-1', 'delivered', '2025-03-18T09:00:00Z'),
  makeSendTimeEvent(NO_OPENS, 'no-opens-1', 'open', '2025-03-18T09:00:30Z', {
    userAgent: APPLE_PROXY_AGENT,
  }),
  makeSendTimeEvent(NO_OPENS, 'no-opens-1', 'click', '2025-03-18T09:05:00Z'),
  makeSendTimeEvent(NO_OPENS, 'no-opens-2', 'delivered', '2025-03-25T09:00:00Z'),
  makeSendTimeEvent(NO_OPENS, 'no-opens-2', 'open', '2025-03-25T09:10:00Z', { machineOpen: true }),
]

/**
 * Counts a contact's human opens per slot of the week in its local time, using the time zone
 * data of Intl.DateTimeFormat (ICU) in place of ClickHouse's.
 */
function countLocalOpens(contact: SendTimeContact): number[] {
  const timeZone = contact.timeZone ?? setup.config.defaultTimeZone
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: '2-digit',
    hourCycle: 'h23',
  })
  const opens = new Array<number>(HOURS_PER_WEEK).fill(0)
  for (const at of contact.humanOpens) {
    const parts = format.formatToParts(Date.parse(at))
    const weekday = INTL_WEEKDAYS.indexOf(
      parts.find((part) => part.type === 'weekday')?.value ?? '',
    )
    const hour = Number(parts.find((part) => part.type === 'hour')?.value)
    expect(weekday, `weekday of ${at} in ${timeZone}`).toBeGreaterThanOrEqual(0)
    opens[24 * weekday + hour]! += 1
  }
  return opens
}

/** Reads the 168-slot profiles of a persona and of everyone from the bundle's manifest. */
function storedProfiles(personaId: number): { persona: number[]; global: number[] } {
  const persona = manifest.personas.list.find((entry) => entry.id === personaId)?.weekProfile
  const global = manifest.personas.weekProfile
  expect(persona, `week profile of persona ${personaId}`).toHaveLength(HOURS_PER_WEEK)
  expect(global, 'global week profile').toHaveLength(HOURS_PER_WEEK)
  return { persona: persona as number[], global: global as number[] }
}

interface ExpectedSendTime {
  hourOfWeek: number
  weekday: string
  hour: number
  ownShare: number
  personaShare: number
  globalShare: number
}

/**
 * Computes the best send time by the documented formula, score[s] = opens[s] + 84 *
 * persona[s] + 21 * global[s], with ties to the earliest slot, and the shares of the three
 * sources, opens / (opens + 105), 84 / (opens + 105) and 21 / (opens + 105).
 */
function expectedSendTime(opens: readonly number[], personaId: number): ExpectedSendTime {
  const { persona, global } = storedProfiles(personaId)
  let best = 0
  let bestScore = -Infinity
  for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
    const score =
      (opens[slot] as number) + 84 * (persona[slot] as number) + 21 * (global[slot] as number)
    if (score > bestScore) {
      bestScore = score
      best = slot
    }
  }
  const own = opens.reduce((sum, count) => sum + count, 0)
  const total = own + 84 + 21
  return {
    hourOfWeek: best,
    weekday: WEEKDAY_NAMES[Math.floor(best / 24)] as string,
    hour: best % 24,
    ownShare: own / total,
    personaShare: 84 / total,
    globalShare: 21 / total,
  }
}

/** Expects an API `bestSendTime` to equal the expected one, field by field. */
function expectSendTime(actual: any, expected: ExpectedSendTime, label: string): void {
  expect(actual.hourOfWeek, label).toBe(expected.hourOfWeek)
  expect(actual.weekday, label).toBe(expected.weekday)
  expect(actual.hour, label).toBe(expected.hour)
  expect(actual.ownShare, label).toBeCloseTo(expected.ownShare, 12)
  expect(actual.personaShare, label).toBeCloseTo(expected.personaShare, 12)
  expect(actual.globalShare, label).toBeCloseTo(expected.globalShare, 12)
}

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-serving-test', contacts: CONTACTS, days: 120 })
  manifest = setup.trained.manifest
  keys = setup.trained.test.contactKeys
  unbatched = new ScoringService(setup.config, setup.store, setup.bundle)
  await unbatched.loadChampion()
  ;({ app: batchedApp, url: batchedUrl } = await startServer({
    SEGMENTS_BATCH_MAX_ROWS: '1000',
    SEGMENTS_BATCH_MAX_WAIT_MS: String(BATCH_WAIT_MS),
  }))
  ;({ app: splitApp, url: splitUrl } = await startServer({
    SEGMENTS_BATCH_MAX_ROWS: String(SPLIT_MAX_ROWS),
    SEGMENTS_BATCH_MAX_WAIT_MS: '50',
  }))
  ;({
    service: cacheService,
    app: cacheApp,
    url: cacheUrl,
  } = await startServer({ SEGMENTS_FEATURE_CACHE_SECONDS: '600' }))
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await batchedApp?.close()
  await splitApp?.close()
  await cacheApp?.close()
  await setup?.close()
})

describe('micro-batching', () => {
  it('shares one model call', async () => {
    // Contacts with their features need no query, so the six requests reach the batcher at
    // nearly the same time.
    const features = await featuresOf(keys.slice(0, 6))
    const requests = features.map((row) => [{ features: row }])

    const replies = await Promise.all(requests.map((contacts) => score(batchedUrl, contacts)))
    const calls = await metric(batchedUrl, 'segments_model_batch_requests_count')
    const joined = await metric(batchedUrl, 'segments_model_batch_requests_sum')
    const rows = await metric(batchedUrl, 'segments_model_batch_rows_sum')

    for (const reply of replies) expect(reply.status).toBe(200)
    expect(joined).toBe(6)
    expect(rows).toBe(6)
    expect(calls).toBeGreaterThanOrEqual(1)
    expect(calls).toBeLessThan(6)
  })

  it('matches unbatched scoring', async () => {
    const groups = [keys.slice(0, 3), keys.slice(3, 4), keys.slice(4, 9), keys.slice(9, 11)]
    const asOfMs = setup.cutoffMs

    const replies = await Promise.all(
      groups.map((group) =>
        score(
          batchedUrl,
          group.map((key) => ({ key })),
        ),
      ),
    )

    for (const [i, group] of groups.entries()) {
      const reply = replies[i] as HttpReply
      expect(reply.status).toBe(200)
      const direct = await unbatched.score(
        group.map((key) => ({ key })),
        asOfMs,
      )
      expectSameScores(reply.body.results, direct)
    }
  })

  it('isolates an unknown contact', async () => {
    const groups = [
      [{ key: keys[20] }, { key: 'nobody@example.com' }, { key: keys[21] }],
      [{ key: 'nobody-else@example.com' }],
      [{ key: keys[22] }],
    ]

    const replies = await Promise.all(groups.map((contacts) => score(batchedUrl, contacts)))

    for (const reply of replies) expect(reply.status).toBe(200)
    const [first, second, third] = replies.map((reply) => reply.body.results)
    expect(first[0].persona).toBeDefined()
    expect(first[1]).toEqual({
      index: 1,
      key: 'nobody@example.com',
      error: {
        code: 'UNKNOWN_CONTACT',
        message: `No events or contact record before ${setup.summary.cutoff} for key "nobody@example.com"`,
        path: ['contacts', 1, 'key'],
      },
    })
    expect(first[2].key).toBe(keys[21])
    expect(first[2].persona).toBeDefined()
    expect(second[0].error.code).toBe('UNKNOWN_CONTACT')
    expect(second[0].error.path).toEqual(['contacts', 0, 'key'])
    expect(third[0].persona).toBeDefined()
    expectSameScores(first, await unbatched.score(groups[0] as { key: string }[], setup.cutoffMs))
  })

  it('splits a large request', async () => {
    const group = keys.slice(30, 40)

    const reply = await score(
      splitUrl,
      group.map((key) => ({ key })),
    )
    const calls = await metric(splitUrl, 'segments_model_batch_rows_count')
    const withinLimit = await metric(
      splitUrl,
      `segments_model_batch_rows_bucket{le="${SPLIT_MAX_ROWS}"}`,
    )

    expect(reply.status).toBe(200)
    // 10 rows in calls of at most 4: 4, 4 and 2.
    expect(calls).toBe(3)
    expect(withinLimit).toBe(calls)
    expectSameScores(
      reply.body.results,
      await unbatched.score(
        group.map((key) => ({ key })),
        setup.cutoffMs,
      ),
    )
  })
})

describe('best send time', () => {
  beforeAll(async () => {
    const created = Date.UTC(2024, 11, 1)
    await storeContacts(
      setup.store.client,
      SEND_TIME_CONTACTS.filter((contact) => contact.timeZone !== undefined).map((contact) => ({
        contactKey: contact.key,
        timeZone: contact.timeZone as string,
        createdAtMs: created,
      })),
    )
    await storeEvents(setup.store.client, SEND_TIME_EVENTS)
  })

  it('counts local hours by hand', () => {
    // Checks the test's own loop against the slots worked out next to each event. The slots of
    // the contact without a record assume the default zone is UTC.
    expect(setup.config.defaultTimeZone).toBe('UTC')
    for (const contact of SEND_TIME_CONTACTS) {
      const counted = Object.fromEntries(
        countLocalOpens(contact)
          .map((opens, slot) => [slot, opens] as const)
          .filter(([, opens]) => opens > 0),
      )
      expect(counted, contact.key).toEqual(contact.slots)
    }
  })

  it('follows hand-counted opens', async () => {
    const reply = await score(
      batchedUrl,
      SEND_TIME_CONTACTS.map((contact) => ({ key: contact.key })),
    )

    expect(reply.status).toBe(200)
    SEND_TIME_CONTACTS.forEach((contact, index) => {
      const result = reply.body.results[index]
      expect(result.key).toBe(contact.key)
      expect(result.persona, contact.key).toBeDefined()
      const expected = expectedSendTime(countLocalOpens(contact), result.persona.id)
      expectSendTime(result.bestSendTime, expected, contact.key)
    })
  })

  it('outweighs the profiles with many opens', async () => {
    // Kolkata's 20 opens on Thursday at 08:00 beat the 1 open of any other slot unless that
    // slot's profile weight leads slot 80's by 19 pseudo-opens or more, which the first check
    // rules out for this bundle. The shares have 20 + 1 + 1 = 22 own opens.
    const reply = await score(batchedUrl, [{ key: KOLKATA }])
    const result = reply.body.results[0]
    const { persona, global } = storedProfiles(result.persona.id)
    const weights = persona.map((share, slot) => 84 * share + 21 * (global[slot] as number))

    expect(reply.status).toBe(200)
    expect(Math.max(...weights) - (weights[80] as number)).toBeLessThan(19)
    expect(result.bestSendTime.hourOfWeek).toBe(80)
    expect(result.bestSendTime.weekday).toBe('thu')
    expect(result.bestSendTime.hour).toBe(8)
    expect(result.bestSendTime.ownShare).toBeCloseTo(22 / 127, 12)
    expect(result.bestSendTime.personaShare).toBeCloseTo(84 / 127, 12)
    expect(result.bestSendTime.globalShare).toBeCloseTo(21 / 127, 12)
  })

  it('blends the profiles without opens', async () => {
    const [features] = await featuresOf([NO_OPENS])

    const reply = await score(batchedUrl, [{ key: NO_OPENS }, { features }])

    expect(reply.status).toBe(200)
    for (const [index, result] of (reply.body.results as any[]).entries()) {
      const label = index === 0 ? `${NO_OPENS} by key` : `${NO_OPENS} by features`
      const expected = expectedSendTime(
        new Array<number>(HOURS_PER_WEEK).fill(0),
        result.persona.id,
      )
      expect(result.bestSendTime.ownShare, label).toBe(0)
      expect(result.bestSendTime.personaShare, label).toBeCloseTo(0.8, 12)
      expect(result.bestSendTime.globalShare, label).toBeCloseTo(0.2, 12)
      expectSendTime(result.bestSendTime, expected, label)
    }
  })

  it('keeps shares consistent on simulated contacts', async () => {
    // The simulated opens are not counted here, so only the relations between the fields are
    // checked: ownShare = n / (n + 105) for a whole number of opens n, and the slot's day and
    // hour.
    const group = keys.slice(40, 60)

    const reply = await score(
      batchedUrl,
      group.map((key) => ({ key })),
    )

    expect(reply.status).toBe(200)
    let withOpens = 0
    for (const result of reply.body.results) {
      const sendTime = result.bestSendTime
      const opens = (105 * sendTime.ownShare) / (1 - sendTime.ownShare)
      if (opens > 0.5) withOpens += 1
      expect(Math.abs(opens - Math.round(opens)), result.key).toBeLessThan(1e-6)
      expect(sendTime.personaShare, result.key).toBeCloseTo(84 / (Math.round(opens) + 105), 12)
      expect(sendTime.globalShare, result.key).toBeCloseTo(21 / (Math.round(opens) + 105), 12)
      expect(sendTime.hourOfWeek, result.key).toBe(
        24 * WEEKDAY_NAMES.indexOf(sendTime.weekday) + sendTime.hour,
      )
      expect(sendTime.hourOfWeek, result.key).toBeLessThan(HOURS_PER_WEEK)
    }
    expect(withOpens).toBeGreaterThan(0)
  })

  it('takes hourOfWeekOpens with features', async () => {
    const key = keys[61] as string
    const [features] = await featuresOf([key])
    const hourOfWeekOpens = new Array<number>(HOURS_PER_WEEK).fill(0)
    hourOfWeekOpens[24 * 2 + 19] = 500

    const reply = await score(batchedUrl, [
      { features, hourOfWeekOpens },
      { features, hourOfWeekOpens: [1, 2] },
    ])
    const [scored, invalid] = reply.body.results

    // 500 opens on Wednesday at 19:00 outweigh the 105 pseudo-opens of the profiles.
    expect(reply.status).toBe(200)
    expect(scored.bestSendTime.hourOfWeek).toBe(67)
    expect(scored.bestSendTime.weekday).toBe('wed')
    expect(scored.bestSendTime.hour).toBe(19)
    expect(scored.bestSendTime.ownShare).toBeCloseTo(500 / 605, 12)
    expect(invalid).toEqual({
      index: 1,
      key: null,
      error: {
        code: 'INVALID_REQUEST',
        message: 'hourOfWeekOpens must have 168 values (Monday 00:00 first), received 2',
        path: ['contacts', 1, 'hourOfWeekOpens'],
      },
    })
  })

  it('names a negative open count', async () => {
    const [features] = await featuresOf([keys[62] as string])
    const hourOfWeekOpens = new Array<number>(HOURS_PER_WEEK).fill(0)
    hourOfWeekOpens[3] = -2

    const reply = await score(batchedUrl, [{ key: keys[62] }, { features, hourOfWeekOpens }])
    const [byKey, invalid] = reply.body.results

    expect(reply.status).toBe(200)
    expect(byKey.bestSendTime).toBeDefined()
    expect(invalid.error).toEqual({
      code: 'INVALID_REQUEST',
      message: 'hourOfWeekOpens[3] must be an integer from 0 to 1e9, received -2',
      path: ['contacts', 1, 'hourOfWeekOpens', 3],
    })
  })

  it('rejects hourOfWeekOpens with a key', async () => {
    const reply = await score(batchedUrl, [
      { key: keys[63], hourOfWeekOpens: new Array<number>(HOURS_PER_WEEK).fill(1) },
    ])

    expect(reply.status).toBe(200)
    expect(reply.body.results[0].error.code).toBe('INVALID_REQUEST')
    expect(reply.body.results[0].error.path).toEqual(['contacts', 0, 'hourOfWeekOpens'])
  })

  it('stores week profiles in the bundle', async () => {
    // Everyone's profile is the mean over contacts with opens, so it equals the persona
    // profiles weighted by each persona's members with opens.
    const opens = await countWeekOpens(
      setup.store.client,
      setup.cutoffMs,
      setup.config.defaultTimeZone,
    )
    const { list, weekProfile: global } = manifest.personas
    const withOpens = new Array<number>(list.length).fill(0)
    keys.forEach((key, row) => {
      const counts = opens.get(key) as WeekOpenCounts | undefined
      if (counts && counts.counts.some((count) => count > 0)) {
        withOpens[setup.trained.personas.labels[row] as number]! += 1
      }
    })
    const total = withOpens.reduce((sum, count) => sum + count, 0)

    expect(global).toHaveLength(HOURS_PER_WEEK)
    expect(total).toBeGreaterThan(0)
    for (let slot = 0; slot < HOURS_PER_WEEK; slot++) {
      const weighted = list.reduce(
        (sum, persona) => sum + (withOpens[persona.id] as number) * persona.weekProfile![slot]!,
        0,
      )
      expect(weighted / total, `slot ${slot}`).toBeCloseTo(global![slot] as number, 12)
    }
  })

  it('scores a bundle without week profiles', () => {
    // Bundles trained before the 168-slot profiles still load and get a send time.
    const { weekProfile: _global, list, ...personas } = manifest.personas
    const older = manifestSchema.parse({
      ...manifest,
      personas: { ...personas, list: list.map(({ weekProfile: _week, ...persona }) => persona) },
    })
    const model = { ...(unbatched.model as NonNullable<typeof unbatched.model>), manifest: older }
    const features = new Float64Array(manifest.featureNames.length)

    const [result] = scoreRowList(model, [{ features, weekOpens: undefined }])

    expect(older.personas.weekProfile).toBeUndefined()
    expect(result?.bestSendTime.ownShare).toBe(0)
    expect(result?.bestSendTime.hourOfWeek).toBeGreaterThanOrEqual(0)
    expect(result?.bestSendTime.hourOfWeek).toBeLessThan(HOURS_PER_WEEK)
  })
})

describe('feature cache', () => {
  it('reuses features as of now', async () => {
    const key = keys[70] as string
    const hitsBefore = cacheService.featureCache.hits

    const first = await score(cacheUrl, [{ key }], null)
    const second = await score(cacheUrl, [{ key }], null)

    expect(first.status).toBe(200)
    expect(second.body.results).toEqual(first.body.results)
    expect(cacheService.featureCache.hits).toBe(hitsBefore + 1)
    expect(await metric(cacheUrl, 'segments_feature_cache_lookups_total{outcome="hit"}')).toBe(
      hitsBefore + 1,
    )
  })

  it('reports the time cached features were computed', async () => {
    const key = keys[73] as string
    const path = `${cacheUrl}/v1/contacts/${encodeURIComponent(key)}`
    const startMs = Date.now()
    const first = await request(path)
    await new Promise((resolve) => setTimeout(resolve, 50))
    const second = await request(path)

    expect(first.status).toBe(200)
    expect(Date.parse(first.body.asOf)).toBeGreaterThanOrEqual(startMs)
    // The second reply is served from the cache, with the first computation's time.
    expect(second.body.asOf).toBe(first.body.asOf)
    expect(second.body.features).toEqual(first.body.features)
  })

  it('skips the cache with asOf', async () => {
    const key = keys[71] as string
    const before = { hits: cacheService.featureCache.hits, size: cacheService.featureCache.size }

    await score(cacheUrl, [{ key }])
    await score(cacheUrl, [{ key }])

    expect(cacheService.featureCache.hits).toBe(before.hits)
    expect(cacheService.featureCache.size).toBe(before.size)
  })

  it('serves cached opens while fresh', async () => {
    // A human open stored after the first request is not seen as of now while the entry
    // lives, but a request with asOf reads the store.
    const key = keys[72] as string
    const first = await score(cacheUrl, [{ key }], null)
    const nowMs = Date.now()
    await storeEvents(setup.store.client, [
      {
        eventId: 'cache-test-open',
        provider: 'jsonl',
        contactKey: key,
        campaignId: 'late',
        messageId: 'cache-test-message',
        type: 'open',
        occurredAtMs: nowMs - 60_000,
        url: '',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0',
        ip: '192.0.2.50',
        machineOpen: false,
        bounceKind: '',
      },
    ])

    const cached = await score(cacheUrl, [{ key }], null)
    const fresh = await score(cacheUrl, [{ key }], new Date(nowMs).toISOString())

    // ownShare = opens / (opens + pseudo-opens), so opens = pseudo * ownShare / (1 - ownShare).
    const pseudo = PERSONA_PSEUDO_OPENS + GLOBAL_PSEUDO_OPENS
    const ownOpens = (result: any) =>
      (result.bestSendTime.ownShare * pseudo) / (1 - result.bestSendTime.ownShare)
    expect(cached.body.results).toEqual(first.body.results)
    expect(ownOpens(fresh.body.results[0])).toBeCloseTo(ownOpens(first.body.results[0]) + 1, 6)
  })

  it('empties when the model reloads', async () => {
    const key = keys[73] as string
    await score(cacheUrl, [{ key }], null)
    expect(cacheService.featureCache.size).toBeGreaterThan(0)
    const misses = cacheService.featureCache.misses

    await cacheService.loadChampion()
    await score(cacheUrl, [{ key }], null)

    // The first look-up with the new model object empties the cache, so the key misses again.
    expect(cacheService.featureCache.misses).toBe(misses + 1)
    expect(cacheService.featureCache.size).toBe(1)
  })
})

describe('GET /v1/segments', () => {
  it('lists share and centroid', async () => {
    const reply = await request(`${batchedUrl}/v1/segments`)
    const personas = reply.body.personas as {
      id: number
      size: number
      share: number
      centroid: Record<string, number>
    }[]

    expect(reply.status).toBe(200)
    expect(personas).toHaveLength(manifest.personas.list.length)
    for (const persona of personas) {
      const stored = manifest.personas.list.find((entry) => entry.id === persona.id)
      expect(persona.share).toBeCloseTo(persona.size / CONTACTS, 15)
      expect(persona.centroid).toEqual(stored?.centroid)
      expect(Object.keys(persona.centroid)).toEqual(manifest.personas.features)
    }
    expect(personas.reduce((sum, persona) => sum + persona.share, 0)).toBeCloseTo(1, 12)
  })

  it('is in the OpenAPI document', async () => {
    const reply = await request(`${batchedUrl}/docs/json`)
    const route = reply.body.paths['/v1/segments'].get
    const schema = route.responses['200'].content['application/json'].schema
    const persona = schema.properties.personas.items

    expect(reply.status).toBe(200)
    expect(Object.keys(persona.properties)).toEqual([
      'id',
      'name',
      'description',
      'size',
      'share',
      'centroid',
    ])
    expect(route.responses['503']).toBeDefined()
  })

  it('documents the send time', async () => {
    const reply = await request(`${batchedUrl}/docs/json`)
    const route = reply.body.paths['/v1/score'].post
    const result =
      route.responses['200'].content['application/json'].schema.properties.results.items
    const contact = route.requestBody.content['application/json'].schema.properties.contacts.items

    expect(Object.keys(result.properties.bestSendTime.properties)).toEqual([
      'hourOfWeek',
      'weekday',
      'hour',
      'ownShare',
      'personaShare',
      'globalShare',
    ])
    expect(result.properties.bestSendHour).toBeUndefined()
    expect(contact.properties.hourOfWeekOpens.type).toBe('array')
    expect(contact.properties.hourOfWeekOpens.items.type).toBe('integer')
    expect(contact.properties.features.type).toBe('object')
    expect(contact.properties.features.additionalProperties.type).toBe('number')
  })
})

describe('score replies', () => {
  it('match the response schema', async () => {
    const [features] = await featuresOf(keys.slice(0, 1))
    const contacts = [
      { key: keys[1] },
      { features },
      { key: 'nobody@example.com' },
      { features: { ...features, sends_7d: 'three' } },
      { features: 'not an object' },
    ]

    const reply = await score(batchedUrl, contacts)
    const checked = scoreResponseSchema.safeParse(reply.body)

    expect(reply.status).toBe(200)
    expect(checked.error).toBeUndefined()
    // zod drops keys its schema lacks, so equal data means the reply has no extra fields.
    expect(checked.data).toEqual(reply.body)
    expect(reply.body.results.map((result: ScoreOutcome) => 'error' in result)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ])
    expect(reply.body.results[4].error.path).toEqual(['contacts', 4, 'features'])
  })

  it('label features with a key', async () => {
    const [features] = await featuresOf(keys.slice(2, 3))
    const [other] = await featuresOf(keys.slice(3, 4))

    const labelled = await score(batchedUrl, [{ key: keys[3], features }])
    const plain = await score(batchedUrl, [{ features }])
    const stored = await score(batchedUrl, [{ key: keys[3] }])

    expect(other).not.toEqual(features)
    expect(labelled.status).toBe(200)
    expect(labelled.body.results[0].key).toBe(keys[3])
    expect(labelled.body.results[0].churn).toEqual(plain.body.results[0].churn)
    expect(labelled.body.results[0].persona).toEqual(plain.body.results[0].persona)
    expect(labelled.body.results[0].persona.distance).not.toBe(
      stored.body.results[0].persona.distance,
    )
  })
})
