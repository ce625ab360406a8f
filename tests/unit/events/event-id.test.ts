import { describe, expect, it } from 'vitest'
import { parsePayload } from '../../../src/events/adapters.ts'
import {
  CONTENT_ID_HEX_LENGTH,
  contentEventId,
  type EventContent,
} from '../../../src/events/event-id.ts'

const CONTENT: EventContent = {
  contactKey: 'alex.doe+news@example.com',
  type: 'open',
  occurredAtMs: 1741501809020,
  campaignId: 'spring-sale',
  messageId: 'm-1',
  url: '',
}

describe('content event id', () => {
  it('matches an independent sha256', () => {
    // sha256 of '["postmark","alex.doe+news@example.com","open",1741501809020,"spring-sale","m-1",""]'
    // computed outside this code base, first 32 hex digits.
    expect(contentEventId('postmark', CONTENT)).toBe('87846fe9ff6ca09194ce81765bbd0549')
  })

  it('is stable for equal content', () => {
    const copy = { ...CONTENT }
    expect(contentEventId('jsonl', copy)).toBe(contentEventId('jsonl', CONTENT))
    expect(contentEventId('jsonl', CONTENT)).toHaveLength(CONTENT_ID_HEX_LENGTH)
    expect(contentEventId('jsonl', CONTENT)).toMatch(/^[0-9a-f]+$/)
  })

  it('changes with each content field', () => {
    const base = contentEventId('jsonl', CONTENT)
    const changes: Array<Partial<EventContent>> = [
      { contactKey: 'other@example.com' },
      { type: 'click' },
      { occurredAtMs: CONTENT.occurredAtMs + 1 },
      { campaignId: 'other' },
      { messageId: 'm-2' },
      { url: 'https://shop.example.com/' },
    ]
    for (const change of changes) {
      const changed = contentEventId('jsonl', { ...CONTENT, ...change })
      expect(changed, JSON.stringify(change)).not.toBe(base)
    }
    expect(contentEventId('csv', CONTENT)).not.toBe(base)
  })

  it('keeps field boundaries apart', () => {
    const left = contentEventId('jsonl', { ...CONTENT, campaignId: 'a","b', messageId: '' })
    const right = contentEventId('jsonl', { ...CONTENT, campaignId: 'a', messageId: 'b' })
    expect(left).not.toBe(right)
  })

  it('repeats ids for a re-posted body', () => {
    const body = [
      '{"contact":"a@example.com","type":"open","time":"2025-03-09T06:30:09.020Z","ip":"192.0.2.1"}',
      '{"contact":"b@example.com","type":"click","time":1741501809950,"url":"https://x.example/"}',
    ].join('\n')
    const first = parsePayload('jsonl', body).events.map((event) => event.eventId)
    const second = parsePayload('jsonl', body).events.map((event) => event.eventId)
    expect(second).toEqual(first)
    expect(new Set(first).size).toBe(2)
  })

  it('ignores user agent and ip', () => {
    const line = (ip: string) =>
      `{"contact":"a@example.com","type":"open","time":1741501809020,"ip":"${ip}"}`
    const first = parsePayload('jsonl', line('192.0.2.1')).events[0]?.eventId
    const second = parsePayload('jsonl', line('192.0.2.2')).events[0]?.eventId
    expect(first).toBe(second)
  })
})
