import type { NormalizedEvent } from '../../src/events/types.ts'

/** Builds a normalized event whose fields are all empty or zero, then `fields`. */
export function normalizedEvent(fields: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return {
    eventId: '',
    provider: 'jsonl',
    contactKey: '',
    campaignId: '',
    messageId: '',
    type: 'open',
    occurredAtMs: 0,
    url: '',
    userAgent: '',
    ip: '',
    machineOpen: false,
    bounceKind: '',
    ...fields,
  }
}
