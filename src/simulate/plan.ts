/** Everything a run draws before simulating messages: window, contacts, campaigns, id keys. */
import { createRng, type Rng } from '../ml/random.ts'
import { buildCampaigns, type Campaign } from './campaigns.ts'
import { createContact, type Contact } from './contacts.ts'
import { runKeys, type RunKeys } from './ids.ts'
import { resolveWindow, type SimulationOptions, type SimulationWindow } from './options.ts'

/** Salts of the independent random streams of one run. */
const STREAM = { contacts: 1, campaigns: 2, messages: 3 } as const

export interface SimulationPlan {
  options: SimulationOptions
  window: SimulationWindow
  keys: RunKeys
  contacts: Contact[]
  campaigns: Campaign[]
  /** Parent of the per-contact message streams: contact i draws from `fork(i)`. */
  messageStreams: Rng
}

/**
 * Validates the options and draws the plan. The plan depends on the options alone, so a child
 * process that draws it again gets the same contacts and campaigns.
 */
export function createPlan(options: SimulationOptions): SimulationPlan {
  const window = resolveWindow(options)
  const root = createRng(options.seed)
  const contactStreams = root.fork(STREAM.contacts)
  const contacts = Array.from({ length: options.contacts }, (_, index) =>
    createContact(index, contactStreams.fork(index), window),
  )
  return {
    options,
    window,
    keys: runKeys(options.seed),
    contacts,
    campaigns: buildCampaigns(window, root.fork(STREAM.campaigns)),
    messageStreams: root.fork(STREAM.messages),
  }
}
