/**
 * Simulates the contacts of one ESP and writes that ESP's batch files. Each contact belongs to
 * one ESP and draws from its own random stream, so the two ESPs can run in any order or in
 * parallel processes and still write the same files.
 */
import type { Rng } from '../ml/random.ts'
import { JsonBatchWriter } from './batch-writer.ts'
import type { Campaign } from './campaigns.ts'
import type { Contact, Esp } from './contacts.ts'
import { isHumanEngagement, SIM_EVENT_TYPES, type SimEvent, type SimEventType } from './events.ts'
import { simulateMessage, type ContactState } from './messages.ts'
import type { SimulationPlan } from './plan.ts'
import { formatSendGridEvent } from './sendgrid.ts'
import { formatSnsNotification } from './ses.ts'
import { EventTimeline } from './timeline.ts'

/** Maximum number of events per SendGrid batch or SES notification file. */
export const MAX_EVENTS_PER_FILE = 5000

const BATCH_FILES: Record<Esp, { folder: string; prefix: string }> = {
  sendgrid: { folder: 'sendgrid', prefix: 'batch' },
  ses: { folder: 'ses', prefix: 'notifications' },
}

/** Counts and files written by one ESP stream. */
export interface EspStreamResult {
  esp: Esp
  events: Record<SimEventType, number>
  totalEvents: number
  machineOpens: number
  scannerClicks: number
  /** Files written, relative to the output folder. */
  files: string[]
  /** Indexes of this ESP's contacts with a human open or click after the cutoff. */
  engagedAfterCutoff: number[]
}

interface Recipient {
  contact: Contact
  state: ContactState
  rng: Rng
}

function simulateCampaign(plan: SimulationPlan, recipients: Recipient[], campaign: Campaign) {
  const events: SimEvent[] = []
  for (const { contact, state, rng } of recipients) {
    simulateMessage({ contact, state, campaign, window: plan.window, rng }, events)
  }
  return events
}

class EspWriter {
  readonly result: EspStreamResult
  private readonly writer: JsonBatchWriter
  private readonly engaged = new Set<number>()

  constructor(
    private readonly plan: SimulationPlan,
    readonly esp: Esp,
  ) {
    const { folder, prefix } = BATCH_FILES[esp]
    this.writer = new JsonBatchWriter(plan.options.outDir, folder, prefix, MAX_EVENTS_PER_FILE)
    const events = Object.fromEntries(SIM_EVENT_TYPES.map((type) => [type, 0]))
    this.result = {
      esp,
      events: events as Record<SimEventType, number>,
      totalEvents: 0,
      machineOpens: 0,
      scannerClicks: 0,
      files: this.writer.files,
      engagedAfterCutoff: [],
    }
  }

  prepare(): Promise<void> {
    return this.writer.prepare()
  }

  private count(event: SimEvent): void {
    const { result } = this
    result.events[event.type] += 1
    result.totalEvents += 1
    if (event.actor === 'apple_proxy') result.machineOpens += 1
    if (event.actor === 'link_scanner') result.scannerClicks += 1
    // Judge by the time as written, because SendGrid timestamps are whole seconds.
    const writtenMs =
      this.esp === 'sendgrid' ? Math.floor(event.timeMs / 1000) * 1000 : event.timeMs
    if (isHumanEngagement(event) && writtenMs > this.plan.window.cutoffMs) {
      this.engaged.add(event.message.contactIndex)
    }
  }

  async write(events: SimEvent[]): Promise<void> {
    const { contacts, campaigns, keys, window } = this.plan
    for (const event of events) {
      this.count(event)
      const contact = contacts[event.message.contactIndex] as Contact
      const campaign = campaigns[event.message.campaignIndex] as Campaign
      const json =
        this.esp === 'sendgrid'
          ? formatSendGridEvent(event, contact, campaign, keys)
          : formatSnsNotification(event, contact, campaign, keys, window.endMs)
      this.writer.add(json)
      if (this.writer.isFull) await this.writer.flush()
    }
  }

  async close(): Promise<EspStreamResult> {
    await this.writer.close()
    this.result.engagedAfterCutoff = [...this.engaged].sort((a, b) => a - b)
    return this.result
  }
}

/**
 * Simulates every campaign for the contacts of `esp` and writes its batch files in time order.
 * Calls `onCampaignDone` after each campaign.
 */
export async function simulateEsp(
  plan: SimulationPlan,
  esp: Esp,
  onCampaignDone?: () => void,
): Promise<EspStreamResult> {
  const recipients = plan.contacts
    .filter((contact) => contact.esp === esp)
    .map((contact) => ({
      contact,
      state: { suppressedFromMs: Infinity },
      rng: plan.messageStreams.fork(contact.index),
    }))
  const writer = new EspWriter(plan, esp)
  await writer.prepare()
  const timeline = new EventTimeline()
  for (const campaign of plan.campaigns) {
    timeline.add(simulateCampaign(plan, recipients, campaign))
    // No later campaign sends before its start, so every event before it is final.
    const nextSendMs = plan.campaigns[campaign.index + 1]?.sendAtMs ?? Infinity
    await writer.write(timeline.takeBefore(nextSendMs))
    onCampaignDone?.()
  }
  return writer.close()
}
