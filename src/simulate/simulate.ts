/**
 * The simulator's entry point: draws the plan, writes the CSV files, and runs the SendGrid and
 * SES streams, in two child processes for large runs.
 */
import { mkdir } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import type { Esp } from './contacts.ts'
import { CONTACTS_FILE, TRUTH_FILE, writeContactsCsv, writeTruthCsv } from './csv-files.ts'
import { runEspInChild } from './esp-processes.ts'
import { simulateEsp, type EspStreamResult } from './esp-stream.ts'
import { SIM_EVENT_TYPES, type SimEventType } from './events.ts'
import type { SimulationOptions } from './options.ts'
import { PERSONA_NAMES, type PersonaName } from './personas.ts'
import { createPlan, type SimulationPlan } from './plan.ts'

export { MAX_EVENTS_PER_FILE } from './esp-stream.ts'

/**
 * Messages (contacts times campaigns) from which the two ESP streams run in child processes.
 * Below it, starting the processes (one to two seconds with tsx) costs more than it saves.
 */
export const PARALLEL_MIN_MESSAGES = 300_000

const ESPS: readonly Esp[] = ['sendgrid', 'ses']

export interface SimulationSummary {
  seed: number
  contacts: number
  campaigns: number
  /** Window start, end and churn cutoff as ISO date-times. */
  start: string
  end: string
  cutoff: string
  /** Events written, by simulated type (SendGrid `processed` and SES `Send` count as `send`). */
  events: Record<SimEventType, number>
  totalEvents: number
  /** Opens made by Apple's privacy proxy, included in `events.open`. */
  machineOpens: number
  /** Clicks made by link scanners, included in `events.click`. */
  scannerClicks: number
  contactsByEsp: Record<Esp, number>
  contactsByPersona: Record<PersonaName, number>
  /** Contacts with `churned` = 1 in truth.csv. */
  churned: number
  /** Files written, relative to `outDir`, with '/' separators. */
  files: string[]
}

/** Placement of the ESP streams: in turn in this process, or in two child processes at once. */
export type StreamMode = 'inline' | 'processes'

function countBy<K extends string>(keys: readonly K[], values: Iterable<K>): Record<K, number> {
  const counts = Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>
  for (const value of values) counts[value] += 1
  return counts
}

function summarize(plan: SimulationPlan, results: EspStreamResult[], engaged: Uint8Array) {
  const { options, window, contacts, campaigns } = plan
  const events = countBy(SIM_EVENT_TYPES, [])
  for (const result of results) {
    for (const type of SIM_EVENT_TYPES) events[type] += result.events[type]
  }
  const sum = (field: 'totalEvents' | 'machineOpens' | 'scannerClicks') =>
    results.reduce((total, result) => total + result[field], 0)
  const summary: SimulationSummary = {
    seed: options.seed,
    contacts: contacts.length,
    campaigns: campaigns.length,
    start: new Date(window.startMs).toISOString(),
    end: new Date(window.endMs).toISOString(),
    cutoff: new Date(window.cutoffMs).toISOString(),
    events,
    totalEvents: sum('totalEvents'),
    machineOpens: sum('machineOpens'),
    scannerClicks: sum('scannerClicks'),
    contactsByEsp: countBy(
      ESPS,
      contacts.map((contact) => contact.esp),
    ),
    contactsByPersona: countBy(
      PERSONA_NAMES,
      contacts.map((contact) => contact.persona),
    ),
    churned: contacts.length - engaged.reduce((total, flag) => total + flag, 0),
    files: [CONTACTS_FILE, TRUTH_FILE, ...results.flatMap((result) => result.files)],
  }
  return summary
}

async function runStreams(
  plan: SimulationPlan,
  mode: StreamMode,
  onCampaignDone: () => void,
): Promise<EspStreamResult[]> {
  if (mode === 'inline') {
    const results: EspStreamResult[] = []
    for (const esp of ESPS) results.push(await simulateEsp(plan, esp, onCampaignDone))
    return results
  }
  const controller = new AbortController()
  const runs = ESPS.map((esp) =>
    runEspInChild(plan.options, esp, controller.signal, onCampaignDone),
  )
  try {
    return await Promise.all(runs)
  } catch (error) {
    // Stop the other stream, so that a failed run does not keep writing files.
    controller.abort()
    await Promise.allSettled(runs)
    throw error
  }
}

/**
 * Runs a simulation with the streams placed by `mode`. Both modes write the same files.
 * `simulate` picks the mode; tests call this directly to compare the two.
 */
export async function runSimulation(
  plan: SimulationPlan,
  mode: StreamMode,
  onProgress?: (done: number, total: number) => void,
): Promise<SimulationSummary> {
  await mkdir(plan.options.outDir, { recursive: true })
  await writeContactsCsv(plan.options.outDir, plan.contacts)
  const total = plan.campaigns.length * ESPS.length
  let done = 0
  const results = await runStreams(plan, mode, () => {
    done += 1
    onProgress?.(done, total)
  })
  const engaged = new Uint8Array(plan.contacts.length)
  for (const result of results) for (const index of result.engagedAfterCutoff) engaged[index] = 1
  await writeTruthCsv(plan.options.outDir, plan.contacts, engaged)
  return summarize(plan, results, engaged)
}

/**
 * Simulates `options.contacts` contacts over `options.days` days and writes under `outDir`:
 * contacts.csv, truth.csv, sendgrid/batch-NNNNN.json and ses/notifications-NNNNN.json. Batch
 * files of an earlier run in those subfolders are deleted first.
 *
 * Runs with at least PARALLEL_MIN_MESSAGES messages stream SendGrid and SES in two child
 * processes when the machine has two or more cores. `onProgress(done, total)` is called each
 * time one ESP finishes one campaign, so `total` is twice the number of campaigns.
 *
 * The same options always produce byte-identical files. Raises a RangeError on invalid options.
 */
export async function simulate(
  options: SimulationOptions,
  onProgress?: (done: number, total: number) => void,
): Promise<SimulationSummary> {
  const plan = createPlan(options)
  const messages = plan.contacts.length * plan.campaigns.length
  const parallel = messages >= PARALLEL_MIN_MESSAGES && availableParallelism() >= 2
  return runSimulation(plan, parallel ? 'processes' : 'inline', onProgress)
}
