import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { kmeans } from 'ml-kmeans'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LINK_SCANNER_USER_AGENT,
  MAX_EVENTS_PER_FILE,
  PERSONA_NAMES,
  simulate,
  type PersonaName,
  type SimulationSummary,
} from '../../../src/simulate/index.ts'

const OPTIONS = { contacts: 1600, days: 90, seed: 5 }
const DAY_MS = 86_400_000
const MAX_MACHINE_OPEN_DELAY_MS = 5 * 60_000
const DOCUMENTATION_IP = /^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}$/
const EXAMPLE_HOST = /^https:\/\/([a-z0-9-]+\.)*example\.(com|net)\//
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const CONTACT_KEY = /^c\d{6}@example\.com$/

type Json = Record<string, any>
type Kind =
  'send' | 'delivered' | 'open' | 'click' | 'bounce' | 'deferred' | 'unsubscribe' | 'complaint'

/** One event read back from either ESP's files, reduced to what the checks need. */
interface ReadEvent {
  esp: 'sendgrid' | 'ses'
  contactKey: string
  kind: Kind
  timeMs: number
  messageId: string
  campaignId: string
  machineOpen: boolean
  userAgent: string
  bounceType: string
}

interface Output {
  summary: SimulationSummary
  folder: string
  sendgridFiles: Json[][]
  sesFiles: Json[][]
  events: ReadEvent[]
  contacts: Map<string, { timeZone: string; createdAtMs: number }>
  truth: Map<string, { persona: PersonaName; churned: number; churnDay: number | null }>
}

const SENDGRID_KINDS: Record<string, Kind> = {
  processed: 'send',
  delivered: 'delivered',
  open: 'open',
  click: 'click',
  bounce: 'bounce',
  deferred: 'deferred',
  unsubscribe: 'unsubscribe',
  spamreport: 'complaint',
}

const SES_KINDS: Record<string, Kind> = {
  Send: 'send',
  Delivery: 'delivered',
  Open: 'open',
  Click: 'click',
  Bounce: 'bounce',
  DeliveryDelay: 'deferred',
  Subscription: 'unsubscribe',
  Complaint: 'complaint',
}

const SES_DETAIL_FIELDS: Record<string, string> = {
  Send: 'send',
  Delivery: 'delivery',
  Open: 'open',
  Click: 'click',
  Bounce: 'bounce',
  DeliveryDelay: 'deliveryDelay',
  Subscription: 'subscription',
  Complaint: 'complaint',
}

async function readJsonFiles(folder: string): Promise<Json[][]> {
  const names = (await readdir(folder)).sort()
  const texts = await Promise.all(names.map((name) => readFile(join(folder, name), 'utf8')))
  return texts.map((text) => JSON.parse(text))
}

async function readCsv(path: string): Promise<{ header: string; rows: string[][] }> {
  const lines = (await readFile(path, 'utf8')).trimEnd().split('\n')
  return { header: lines[0] ?? '', rows: lines.slice(1).map((line) => line.split(',')) }
}

function fromSendGrid(record: Json): ReadEvent {
  return {
    esp: 'sendgrid',
    contactKey: record.email,
    kind: SENDGRID_KINDS[record.event] as Kind,
    timeMs: record.timestamp * 1000,
    messageId: record.sg_message_id,
    campaignId: record.campaign_id,
    machineOpen: record.sg_machine_open === true,
    userAgent: record.useragent ?? '',
    bounceType: record.type ?? '',
  }
}

function sesDetail(record: Json): Json {
  return record[SES_DETAIL_FIELDS[record.eventType] ?? ''] ?? {}
}

function fromSes(notification: Json): ReadEvent {
  const record = JSON.parse(notification.Message)
  const detail = sesDetail(record)
  const userAgent = detail.userAgent ?? ''
  const kind = SES_KINDS[record.eventType] as Kind
  return {
    esp: 'ses',
    contactKey: record.mail.destination[0],
    kind,
    timeMs: Date.parse(kind === 'send' ? record.mail.timestamp : detail.timestamp),
    messageId: record.mail.messageId,
    campaignId: record.mail.tags.campaign_id[0],
    // SES has no machine-open flag, so Apple proxy opens show only by their bare user agent.
    machineOpen: kind === 'open' && userAgent === 'Mozilla/5.0',
    userAgent,
    bounceType: detail.bounceType ?? '',
  }
}

async function runSimulation(): Promise<Output> {
  const folder = await mkdtemp(join(tmpdir(), 'simulate-output-'))
  const summary = await simulate({ ...OPTIONS, outDir: folder })
  const sendgridFiles = await readJsonFiles(join(folder, 'sendgrid'))
  const sesFiles = await readJsonFiles(join(folder, 'ses'))
  const events = [...sendgridFiles.flat().map(fromSendGrid), ...sesFiles.flat().map(fromSes)]
  const contactsCsv = await readCsv(join(folder, 'contacts.csv'))
  const truthCsv = await readCsv(join(folder, 'truth.csv'))
  expect(contactsCsv.header).toBe('contact_key,time_zone,created_at')
  expect(truthCsv.header).toBe('contact_key,persona,churned,churn_day')
  const contacts = new Map(
    contactsCsv.rows.map(([key, timeZone, createdAt]) => [
      key ?? '',
      { timeZone: timeZone ?? '', createdAtMs: Date.parse(createdAt ?? '') },
    ]),
  )
  const truth = new Map(
    truthCsv.rows.map(([key, persona, churned, churnDay]) => [
      key ?? '',
      {
        persona: persona as PersonaName,
        churned: Number(churned),
        churnDay: churnDay === '' || churnDay === undefined ? null : Number(churnDay),
      },
    ]),
  )
  return { summary, folder, sendgridFiles, sesFiles, events, contacts, truth }
}

function isHuman(event: ReadEvent): boolean {
  if (event.kind === 'open') return !event.machineOpen
  return event.kind === 'click' && event.userAgent !== LINK_SCANNER_USER_AGENT
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const name = key(item)
    const group = groups.get(name)
    if (group === undefined) groups.set(name, [item])
    else group.push(item)
  }
  return groups
}

/** Local hour and weekday computed with Intl directly, independent of the simulator's helpers. */
function localTime(zone: string, ms: number): { hour: number; weekday: string } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hour: 'numeric',
    hourCycle: 'h23',
    weekday: 'short',
  }).formatToParts(ms)
  return {
    hour: Number(parts.find((part) => part.type === 'hour')?.value),
    weekday: parts.find((part) => part.type === 'weekday')?.value ?? '',
  }
}

let output: Output

beforeAll(async () => {
  output = await runSimulation()
}, 120_000)

afterAll(async () => {
  if (output !== undefined) await rm(output.folder, { recursive: true, force: true })
})

describe('simulate', () => {
  describe('files', () => {
    it('lists every contact once', () => {
      expect(output.contacts.size).toBe(OPTIONS.contacts)
      expect(output.truth.size).toBe(OPTIONS.contacts)
      for (const [key, contact] of output.contacts) {
        expect(key).toMatch(CONTACT_KEY)
        expect(output.truth.has(key)).toBe(true)
        expect(Number.isNaN(contact.createdAtMs)).toBe(false)
        expect(() => new Intl.DateTimeFormat('en-US', { timeZone: contact.timeZone })).not.toThrow()
      }
    })

    it('caps events per file', () => {
      for (const file of [...output.sendgridFiles, ...output.sesFiles]) {
        expect(Array.isArray(file)).toBe(true)
        expect(file.length).toBeGreaterThan(0)
        expect(file.length).toBeLessThanOrEqual(MAX_EVENTS_PER_FILE)
      }
    })

    it('matches the summary counts', () => {
      const { summary, events } = output
      expect(summary.totalEvents).toBe(events.length)
      for (const [kind, group] of groupBy(events, (event) => event.kind)) {
        expect(summary.events[kind as Kind], kind).toBe(group.length)
      }
      const machineOpens = events.filter((event) => event.machineOpen).length
      expect(summary.machineOpens).toBe(machineOpens)
      const churned = [...output.truth.values()].filter((row) => row.churned === 1).length
      expect(summary.churned).toBe(churned)
    })

    it('writes files in time order', () => {
      for (const esp of ['sendgrid', 'ses']) {
        const times = output.events.filter((event) => event.esp === esp).map((e) => e.timeMs)
        const unordered = times.filter((time, i) => i > 0 && time < (times[i - 1] ?? 0))
        expect(unordered, esp).toEqual([])
      }
    })
  })

  describe('sendgrid', () => {
    it('has the documented fields', () => {
      const records = output.sendgridFiles.flat()
      const problems = records.flatMap(sendgridProblems)
      expect(problems.slice(0, 10)).toEqual([])
      expect(new Set(records.map((record) => record.sg_event_id)).size).toBe(records.length)
    })

    it('covers every event type', () => {
      const names = new Set(output.sendgridFiles.flat().map((record) => record.event))
      expect([...names].sort()).toEqual(Object.keys(SENDGRID_KINDS).sort())
      const bounceTypes = new Set(
        output.sendgridFiles
          .flat()
          .filter((record) => record.event === 'bounce')
          .map((record) => record.type),
      )
      expect([...bounceTypes].sort()).toEqual(['blocked', 'bounce'])
    })
  })

  describe('ses', () => {
    it('has the SNS envelope', () => {
      const notifications = output.sesFiles.flat()
      expect(notifications.flatMap(envelopeProblems).slice(0, 10)).toEqual([])
      const ids = new Set(notifications.map((notification) => notification.MessageId))
      expect(ids.size).toBe(notifications.length)
    })

    it('has the SES record fields', () => {
      const records = output.sesFiles.flat().map((notification) => JSON.parse(notification.Message))
      expect(records.flatMap(sesRecordProblems).slice(0, 10)).toEqual([])
    })

    it('covers the frequent event types', () => {
      const types = new Set(
        output.sesFiles.flat().map((notification) => JSON.parse(notification.Message).eventType),
      )
      for (const type of ['Send', 'Delivery', 'Open', 'Click', 'Bounce', 'DeliveryDelay']) {
        expect(types.has(type), type).toBe(true)
      }
    })
  })

  describe('events', () => {
    it('stay inside the window', () => {
      const startMs = Date.parse(output.summary.start)
      const endMs = Date.parse(output.summary.end)
      expect(endMs - startMs).toBe(OPTIONS.days * DAY_MS)
      const outside = (ms: number) => !(ms >= startMs && ms <= endMs)
      const events = output.events.filter((event) => outside(event.timeMs))
      expect(events.slice(0, 10)).toEqual([])
      const notifications = output.sesFiles.flat().filter((notification) => {
        const mailTimestamp = JSON.parse(notification.Message).mail.timestamp
        return outside(Date.parse(notification.Timestamp)) || outside(Date.parse(mailTimestamp))
      })
      expect(notifications.slice(0, 10)).toEqual([])
    })

    it('keep each contact on one ESP', () => {
      const espsByContact = groupBy(output.events, (event) => event.contactKey)
      let sendgrid = 0
      for (const events of espsByContact.values()) {
        const esps = new Set(events.map((event) => event.esp))
        expect(esps.size).toBe(1)
        if (esps.has('sendgrid')) sendgrid += 1
      }
      const share = sendgrid / espsByContact.size
      expect(share).toBeGreaterThan(0.6)
      expect(share).toBeLessThan(0.8)
    })

    it('start after signup', () => {
      // SendGrid timestamps are whole seconds, so a send can read up to 1 s before signup.
      const early = output.events.filter((event) => {
        const createdAtMs = output.contacts.get(event.contactKey)?.createdAtMs ?? NaN
        return !(event.timeMs + 1000 > createdAtMs)
      })
      expect(early.slice(0, 10)).toEqual([])
    })

    it('put machine opens right after delivery', () => {
      const deliveries = new Map<string, number>()
      for (const event of output.events) {
        if (event.kind === 'delivered') deliveries.set(event.messageId, event.timeMs)
      }
      const machineOpens = output.events.filter((event) => event.machineOpen)
      expect(machineOpens.length).toBeGreaterThan(1000)
      for (const open of machineOpens) {
        const deliveredMs = deliveries.get(open.messageId)
        expect(deliveredMs, open.messageId).toBeDefined()
        const delayMs = open.timeMs - (deliveredMs ?? 0)
        // SendGrid timestamps are whole seconds, so a delay can read as up to 1 s negative.
        expect(delayMs).toBeGreaterThanOrEqual(-1000)
        expect(delayMs).toBeLessThanOrEqual(MAX_MACHINE_OPEN_DELAY_MS)
      }
    })

    it('put scanner clicks within seconds', () => {
      const deliveries = new Map<string, number>()
      for (const event of output.events) {
        if (event.kind === 'delivered') deliveries.set(event.messageId, event.timeMs)
      }
      const scannerClicks = output.events.filter(
        (event) => event.kind === 'click' && event.userAgent === LINK_SCANNER_USER_AGENT,
      )
      expect(scannerClicks.length).toBeGreaterThan(100)
      for (const click of scannerClicks) {
        const delayMs = click.timeMs - (deliveries.get(click.messageId) ?? -Infinity)
        expect(delayMs).toBeGreaterThanOrEqual(0)
        expect(delayMs).toBeLessThanOrEqual(3000)
      }
    })

    it('stop sending after opt-outs', () => {
      for (const events of groupBy(output.events, (event) => event.contactKey).values()) {
        const stops = events.filter(
          (event) =>
            event.kind === 'unsubscribe' ||
            event.kind === 'complaint' ||
            (event.kind === 'bounce' && ['bounce', 'Permanent'].includes(event.bounceType)),
        )
        if (stops.length === 0) continue
        const stopMs = Math.min(...stops.map((event) => event.timeMs))
        // SendGrid's whole seconds can put a send in the same second as the stop.
        const later = events.filter(
          (event) => event.kind === 'send' && event.timeMs > stopMs + 1000,
        )
        expect(later, events[0]?.contactKey).toEqual([])
      }
    })

    it('use a bounce rate near 1-2%', () => {
      const sends = output.summary.events.send
      const bounceRate = output.summary.events.bounce / sends
      expect(bounceRate).toBeGreaterThan(0.008)
      expect(bounceRate).toBeLessThan(0.025)
    })
  })

  describe('churn', () => {
    it('matches engagement after the cutoff', () => {
      const cutoffMs = Date.parse(output.summary.cutoff)
      const engaged = new Set(
        output.events
          .filter((event) => isHuman(event) && event.timeMs > cutoffMs)
          .map((event) => event.contactKey),
      )
      for (const [key, row] of output.truth) {
        expect(row.churned, key).toBe(engaged.has(key) ? 0 : 1)
      }
    })

    it('stops engagement on the churn day', () => {
      const startMs = Date.parse(output.summary.start)
      for (const event of output.events.filter(isHuman)) {
        const churnDay = output.truth.get(event.contactKey)?.churnDay ?? null
        if (churnDay === null) continue
        expect(event.timeMs).toBeLessThan(startMs + churnDay * DAY_MS)
      }
    })

    it('gives every fading contact a churn day', () => {
      for (const [key, row] of output.truth) {
        if (row.persona === 'fading') expect(row.churnDay, key).not.toBeNull()
      }
    })

    it('leaves a share of contacts engaged', () => {
      const rows = [...output.truth.values()]
      const churnedShare = rows.filter((row) => row.churned === 1).length / rows.length
      expect(churnedShare).toBeGreaterThan(0.2)
      expect(churnedShare).toBeLessThan(0.6)
    })
  })

  describe('personas', () => {
    /** Per persona: human opens with their contact's time zone, and delivered messages. */
    function humanOpensByPersona(): Map<PersonaName, { opens: ReadEvent[]; delivered: number }> {
      const result = new Map(
        PERSONA_NAMES.map((name) => [name, { opens: [] as ReadEvent[], delivered: 0 }]),
      )
      for (const event of output.events) {
        const persona = output.truth.get(event.contactKey)?.persona
        const entry = persona === undefined ? undefined : result.get(persona)
        if (entry === undefined) continue
        if (event.kind === 'delivered') entry.delivered += 1
        if (event.kind === 'open' && isHuman(event)) entry.opens.push(event)
      }
      return result
    }

    function shareOf(opens: ReadEvent[], test: (hour: number, weekday: string) => boolean): number {
      const matching = opens.filter((open) => {
        const zone = output.contacts.get(open.contactKey)?.timeZone ?? 'UTC'
        const local = localTime(zone, open.timeMs)
        return test(local.hour, local.weekday)
      })
      return matching.length / opens.length
    }

    function openRate(persona: PersonaName): number {
      const entry = humanOpensByPersona().get(persona)
      return (entry?.opens.length ?? 0) / (entry?.delivered ?? 1)
    }

    function clickRate(persona: PersonaName): number {
      const keys = new Set(
        [...output.truth].filter(([, row]) => row.persona === persona).map(([key]) => key),
      )
      const delivered = output.events.filter(
        (event) => event.kind === 'delivered' && keys.has(event.contactKey),
      ).length
      const clickedMessages = new Set(
        output.events
          .filter((event) => event.kind === 'click' && isHuman(event) && keys.has(event.contactKey))
          .map((event) => event.messageId),
      )
      return clickedMessages.size / delivered
    }

    it('night owls read at night', () => {
      const opens = humanOpensByPersona().get('night_owl')?.opens ?? []
      expect(opens.length).toBeGreaterThan(200)
      expect(shareOf(opens, (hour) => hour >= 22 || hour < 5)).toBeGreaterThan(0.7)
    })

    it('early birds read at dawn', () => {
      const opens = humanOpensByPersona().get('early_bird')?.opens ?? []
      expect(opens.length).toBeGreaterThan(200)
      expect(shareOf(opens, (hour) => hour >= 5 && hour < 8)).toBeGreaterThan(0.6)
    })

    it('office readers read on workdays', () => {
      const opens = humanOpensByPersona().get('office_hours')?.opens ?? []
      const workday = (weekday: string) => !['Sat', 'Sun'].includes(weekday)
      expect(opens.length).toBeGreaterThan(200)
      const office = (hour: number, weekday: string) => workday(weekday) && hour >= 9 && hour < 17
      expect(shareOf(opens, office)).toBeGreaterThan(0.7)
    })

    it('weekend readers read on weekends', () => {
      const byPersona = humanOpensByPersona()
      const weekend = (_: number, weekday: string) => weekday === 'Sat' || weekday === 'Sun'
      const weekendShare = shareOf(byPersona.get('weekend_reader')?.opens ?? [], weekend)
      expect(weekendShare).toBeGreaterThan(0.7)
      expect(shareOf(byPersona.get('night_owl')?.opens ?? [], weekend)).toBeLessThan(0.4)
    })

    it('dormant contacts rarely open', () => {
      const others = PERSONA_NAMES.filter((name) => name !== 'dormant').map(openRate)
      expect(openRate('dormant')).toBeLessThan(0.2 * Math.min(...others))
    })

    it('heavy clickers click most', () => {
      const others = PERSONA_NAMES.filter((name) => name !== 'heavy_clicker').map(clickRate)
      expect(clickRate('heavy_clicker')).toBeGreaterThan(2 * Math.max(...others))
      const otherOpenRates = PERSONA_NAMES.filter((name) => name !== 'heavy_clicker').map(openRate)
      expect(openRate('heavy_clicker')).toBeGreaterThan(Math.max(...otherOpenRates))
    })

    it('fading contacts fade', () => {
      const startMs = Date.parse(output.summary.start)
      const endMs = Date.parse(output.summary.end)
      const opens = humanOpensByPersona().get('fading')?.opens ?? []
      const firstMonth = opens.filter((open) => open.timeMs < startMs + 30 * DAY_MS).length
      const lastMonth = opens.filter((open) => open.timeMs >= endMs - 30 * DAY_MS).length
      expect(firstMonth).toBeGreaterThan(100)
      expect(lastMonth * 4).toBeLessThan(firstMonth)
    })

    it('new contacts sign up before the cutoff', () => {
      const cutoffMs = Date.parse(output.summary.cutoff)
      for (const [key, row] of output.truth) {
        const createdAtMs = output.contacts.get(key)?.createdAtMs ?? NaN
        if (row.persona === 'new') {
          expect(createdAtMs).toBeGreaterThanOrEqual(cutoffMs - 30 * DAY_MS)
          expect(createdAtMs).toBeLessThan(cutoffMs)
        } else {
          expect(createdAtMs).toBeLessThan(Date.parse(output.summary.start))
        }
      }
      expect(openRate('new')).toBeGreaterThan(openRate('office_hours'))
    })

    it('separate under k-means', () => {
      const cutoffMs = Date.parse(output.summary.cutoff)
      const keys = [...output.truth.keys()]
      const rows = keys.map((key) => contactFeatures(key, cutoffMs))
      const clusters = bestKmeans(standardize(rows), PERSONA_NAMES.length)
      const purity = clusterPurity(
        clusters,
        keys.map((key) => output.truth.get(key)?.persona ?? 'dormant'),
      )
      expect(purity).toBeGreaterThan(0.7)
    })
  })
})

/** Lists what is missing or malformed in one SendGrid record, as 'field: value' strings. */
function sendgridProblems(record: Json, index: number): string[] {
  const checks: [string, boolean][] = [
    ['email', CONTACT_KEY.test(record.email)],
    ['timestamp', Number.isInteger(record.timestamp)],
    ['event', record.event in SENDGRID_KINDS],
    ['sg_event_id', /^[A-Za-z0-9_-]{22}$/.test(record.sg_event_id)],
    ['sg_message_id', /^[A-Za-z0-9_-]{22}\.filterdrecv-/.test(record.sg_message_id)],
    ['campaign_id', /^(nl|promo)-\d{4}-\d{2}-\d{2}$/.test(record.campaign_id)],
    ['category', Array.isArray(record.category) && record.category.length > 0],
  ]
  if (record.event === 'open' || record.event === 'click') {
    checks.push(['useragent', typeof record.useragent === 'string' && record.useragent !== ''])
    checks.push(['ip', DOCUMENTATION_IP.test(record.ip)])
  }
  if (record.event === 'open') {
    checks.push(['sg_machine_open', typeof record.sg_machine_open === 'boolean'])
  }
  if (record.event === 'click') checks.push(['url', EXAMPLE_HOST.test(record.url)])
  if (record.event === 'bounce') checks.push(['type', ['bounce', 'blocked'].includes(record.type)])
  return checks
    .filter(([, ok]) => !ok)
    .map(([field]) => `[${index}] ${field}: ${JSON.stringify(record[field])}`)
}

/** Lists what is missing or malformed in one SNS notification body. */
function envelopeProblems(notification: Json, index: number): string[] {
  const checks: [string, boolean][] = [
    ['Type', notification.Type === 'Notification'],
    ['MessageId', UUID.test(notification.MessageId)],
    ['TopicArn', /^arn:aws:sns:[a-z0-9-]+:\d{12}:/.test(notification.TopicArn)],
    ['Timestamp', ISO.test(notification.Timestamp)],
    ['SignatureVersion', notification.SignatureVersion === '1'],
    ['Signature', typeof notification.Signature === 'string' && notification.Signature !== ''],
    ['SigningCertURL', EXAMPLE_HOST.test(notification.SigningCertURL)],
    ['UnsubscribeURL', EXAMPLE_HOST.test(notification.UnsubscribeURL)],
    ['Message', typeof notification.Message === 'string'],
  ]
  return checks
    .filter(([, ok]) => !ok)
    .map(([field]) => `[${index}] ${field}: ${JSON.stringify(notification[field])}`)
}

function sesDetailChecks(type: string, detail: Json, destination: string): [string, boolean][] {
  const checks: [string, boolean][] = []
  if (type !== 'Send') checks.push(['timestamp', ISO.test(detail.timestamp)])
  if (type === 'Open' || type === 'Click') {
    checks.push(['userAgent', typeof detail.userAgent === 'string' && detail.userAgent !== ''])
    checks.push(['ipAddress', DOCUMENTATION_IP.test(detail.ipAddress)])
  }
  if (type === 'Click') checks.push(['link', EXAMPLE_HOST.test(detail.link)])
  if (type === 'Bounce') {
    checks.push(['bounceType', ['Permanent', 'Transient'].includes(detail.bounceType)])
    checks.push(['bouncedRecipients', detail.bouncedRecipients?.[0]?.emailAddress === destination])
  }
  if (type === 'Complaint') {
    const complained = detail.complainedRecipients?.[0]?.emailAddress
    checks.push(['complainedRecipients', complained === destination])
  }
  if (type === 'DeliveryDelay') {
    checks.push(['delayedRecipients', detail.delayedRecipients?.length === 1])
  }
  if (type === 'Subscription') {
    checks.push(['newTopicPreferences', detail.newTopicPreferences?.unsubscribeAll === true])
  }
  return checks
}

/** Lists what is missing or malformed in one SES event-publishing record. */
function sesRecordProblems(record: Json, index: number): string[] {
  const mail = record.mail ?? {}
  const destination = mail.destination?.[0]
  const checks: [string, boolean][] = [
    ['eventType', record.eventType in SES_KINDS],
    ['mail.timestamp', ISO.test(mail.timestamp)],
    ['mail.messageId', /^[0-9a-f]{16}-[0-9a-f-]{36}-000000$/.test(mail.messageId)],
    ['mail.source', /@mail\.example\.com>$/.test(mail.source)],
    ['mail.destination', mail.destination?.length === 1 && CONTACT_KEY.test(destination)],
    ['mail.tags.campaign_id', mail.tags?.campaign_id?.length === 1],
    ...sesDetailChecks(record.eventType, sesDetail(record), destination),
  ]
  return checks.filter(([, ok]) => !ok).map(([field]) => `[${index}] ${record.eventType} ${field}`)
}

/** Features of one contact before the cutoff, like those the persona model uses. */
function contactFeatures(key: string, cutoffMs: number): number[] {
  const zone = output.contacts.get(key)?.timeZone ?? 'UTC'
  const events = eventsByContact().get(key) ?? []
  const before = events.filter((event) => event.timeMs < cutoffMs)
  const delivered = before.filter((event) => event.kind === 'delivered').length
  const human = before.filter(isHuman)
  const opened = new Set(human.filter((event) => event.kind === 'open').map((e) => e.messageId))
  const clicked = new Set(human.filter((event) => event.kind === 'click').map((e) => e.messageId))
  const local = human.map((event) => localTime(zone, event.timeMs))
  const share = (test: (hour: number, weekday: string) => boolean) => {
    if (local.length === 0) return 0
    return local.filter((time) => test(time.hour, time.weekday)).length / local.length
  }
  const weekend = (weekday: string) => weekday === 'Sat' || weekday === 'Sun'
  const lastMs = Math.max(-Infinity, ...human.map((event) => event.timeMs))
  const recent = human.filter((event) => event.timeMs >= cutoffMs - 30 * DAY_MS).length
  const previous = human.filter(
    (event) => event.timeMs >= cutoffMs - 60 * DAY_MS && event.timeMs < cutoffMs - 30 * DAY_MS,
  ).length
  const createdAtMs = output.contacts.get(key)?.createdAtMs ?? cutoffMs
  return [
    delivered === 0 ? 0 : opened.size / delivered,
    delivered === 0 ? 0 : clicked.size / delivered,
    share((hour) => hour >= 22 || hour < 5),
    share((hour) => hour >= 5 && hour < 9),
    share((hour, weekday) => !weekend(weekday) && hour >= 9 && hour < 17),
    share((_, weekday) => weekend(weekday)),
    Math.log1p(Math.min(120, (cutoffMs - lastMs) / DAY_MS)),
    Math.log1p(Math.min(365, (cutoffMs - createdAtMs) / DAY_MS)),
    recent + previous === 0 ? 0 : (recent - previous) / (recent + previous),
  ]
}

let eventsByContactCache: Map<string, ReadEvent[]> | undefined

function eventsByContact(): Map<string, ReadEvent[]> {
  eventsByContactCache ??= groupBy(output.events, (event) => event.contactKey)
  return eventsByContactCache
}

function standardize(rows: number[][]): number[][] {
  const columns = rows[0]?.length ?? 0
  const means = Array.from({ length: columns }, (_, j) => {
    return rows.reduce((sum, row) => sum + (row[j] ?? 0), 0) / rows.length
  })
  const deviations = means.map((mean, j) => {
    const variance = rows.reduce((sum, row) => sum + ((row[j] ?? 0) - mean) ** 2, 0) / rows.length
    return Math.sqrt(variance) || 1
  })
  return rows.map((row) => row.map((value, j) => (value - (means[j] ?? 0)) / (deviations[j] ?? 1)))
}

/** Runs seeded k-means a few times and keeps the clustering with the lowest inertia. */
function bestKmeans(rows: number[][], k: number): number[] {
  let best: { clusters: number[]; inertia: number } | undefined
  for (let seed = 1; seed <= 5; seed++) {
    const result = kmeans(rows, k, { seed, initialization: 'kmeans++', maxIterations: 200 })
    const inertia = rows.reduce((sum, row, i) => {
      const centroid = result.centroids[result.clusters[i] ?? 0] ?? []
      return sum + row.reduce((total, value, j) => total + (value - (centroid[j] ?? 0)) ** 2, 0)
    }, 0)
    if (best === undefined || inertia < best.inertia) best = { clusters: result.clusters, inertia }
  }
  return best?.clusters ?? []
}

/** Share of contacts whose persona is the most common one in their cluster. */
function clusterPurity(clusters: number[], personas: PersonaName[]): number {
  const counts = new Map<number, Map<PersonaName, number>>()
  clusters.forEach((cluster, i) => {
    const persona = personas[i] ?? 'dormant'
    const byPersona = counts.get(cluster) ?? new Map<PersonaName, number>()
    byPersona.set(persona, (byPersona.get(persona) ?? 0) + 1)
    counts.set(cluster, byPersona)
  })
  let majority = 0
  for (const byPersona of counts.values()) majority += Math.max(...byPersona.values())
  return majority / clusters.length
}
