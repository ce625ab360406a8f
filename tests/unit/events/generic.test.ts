import { describe, expect, it } from 'vitest'
import { contentEventId } from '../../../src/events/event-id.ts'
import { parseCsv, parseJsonl } from '../../../src/events/generic.ts'
import { PayloadParseError, type NormalizedEvent } from '../../../src/events/types.ts'
import { normalizedEvent } from '../../helpers/events.ts'

/** Builds a generic event with empty optional fields and the fields given. */
function event(fields: Partial<NormalizedEvent>): NormalizedEvent {
  return normalizedEvent({
    ...fields,
  })
}

describe('jsonl adapter', () => {
  it('maps every field', () => {
    const line = JSON.stringify({
      event_id: 'ev-1',
      contact: ' Alex.Doe+News@Example.com ',
      type: 'click',
      time: '2025-03-09T07:15:00.003+00:00',
      campaign_id: 'spring-sale',
      message_id: 'm-1',
      url: 'https://shop.example.com/spring',
      user_agent: 'Mozilla/5.0',
      ip: '198.51.100.61',
      machine_open: false,
    })
    expect(parseJsonl(line)).toEqual({
      events: [
        event({
          eventId: 'ev-1',
          contactKey: 'alex.doe+news@example.com',
          campaignId: 'spring-sale',
          messageId: 'm-1',
          type: 'click',
          occurredAtMs: 1741504500003,
          url: 'https://shop.example.com/spring',
          userAgent: 'Mozilla/5.0',
          ip: '198.51.100.61',
        }),
      ],
      rejects: [],
      ignored: 0,
      duplicates: 0,
    })
  })

  it('keeps a contact id as given', () => {
    const body = '{"event_id":"e","contact":" c_0001 ","type":"open","time":1741501809020}'
    expect(parseJsonl(body).events[0]?.contactKey).toBe('c_0001')
  })

  it('reads epoch ms and offsets', () => {
    const lines = [
      { event_id: 'a', contact: 'c1', type: 'send', time: 1741501800000 },
      { event_id: 'b', contact: 'c1', type: 'send', time: '1741501800000' },
      { event_id: 'c', contact: 'c1', type: 'send', time: '2025-03-09T01:30:00-05:00' },
      { event_id: 'd', contact: 'c1', type: 'send', time: '2025-03-09T07:30:00.5+01:00' },
    ]
    const body = lines.map((line) => JSON.stringify(line)).join('\n')
    const times = parseJsonl(body).events.map((item) => item.occurredAtMs)
    expect(times).toEqual([1741501800000, 1741501800000, 1741501800000, 1741501800500])
  })

  it('hashes an event without event_id', () => {
    const body = '{"contact":"a@example.com","type":"delivered","time":1741501805881}'
    const expected = contentEventId('jsonl', {
      contactKey: 'a@example.com',
      type: 'delivered',
      occurredAtMs: 1741501805881,
      campaignId: '',
      messageId: '',
      url: '',
    })
    expect(parseJsonl(body).events[0]?.eventId).toBe(expected)
  })

  it('maps machine_open and bounce_kind', () => {
    const body = [
      '{"event_id":"o","contact":"c1","type":"open","time":1741501809020,"machine_open":true}',
      '{"event_id":"b","contact":"c1","type":"bounce","time":1741501809020,"bounce_kind":"soft"}',
      '{"event_id":"d","contact":"c1","type":"delivered","time":1741501809020,"bounce_kind":"hard","url":"x"}',
    ].join('\n')
    const events = parseJsonl(body).events
    expect(events.map((item) => item.machineOpen)).toEqual([true, false, false])
    expect(events.map((item) => item.bounceKind)).toEqual(['', 'soft', ''])
    expect(events[2]?.url).toBe('')
  })

  it('ignores unknown fields and blank lines', () => {
    const body =
      '\n{"event_id":"e","contact":"c1","type":"open","time":1741501809020,"extra":1}\r\n\n'
    const result = parseJsonl(body)
    expect(result.events).toHaveLength(1)
    expect(result.rejects).toEqual([])
  })

  it('drops a repeat within a body', () => {
    const line = '{"contact":"c1","type":"open","time":1741501809020}'
    expect(parseJsonl(`${line}\n${line}`).events).toHaveLength(1)
  })

  it('accepts an empty body', () => {
    expect(parseJsonl('')).toEqual({ events: [], rejects: [], ignored: 0, duplicates: 0 })
  })
})

describe('jsonl adapter rejects', () => {
  const lines = [
    '{"event_id":"ok-1","contact":"a@example.com","type":"open","time":1741501809020}',
    '{"event_id":"no-contact","type":"open","time":1741501809020}',
    '{"event_id":"bad-mail","contact":"a@@example.com","type":"open","time":1741501809020}',
    '{"event_id":"bad-time","contact":"c1","type":"open","time":"yesterday"}',
    '{"event_id":"bad-type","contact":"c1","type":"opened","time":1741501809020}',
    '{"event_id":"ok-2","contact":"c1","type":"send","time":"2025-03-09T06:30:00Z"}',
    '{"event_id":"cut-off","contact":"c1",',
    '["not","an","object"]',
    '{"event_id":"kind","contact":"c1","type":"bounce","time":1741501809020,"bounce_kind":"medium"}',
    '{"event_id":"flag","contact":"c1","type":"open","time":1741501809020,"machine_open":"yes"}',
    '{"event_id":"far","contact":"c1","type":"open","time":"2125-03-09T06:30:00Z"}',
    '{"event_id":"secs","contact":"c1","type":"open","time":1741501809}',
    '{"event_id":"nolink","contact":"c1","type":"click","time":1741501809020}',
  ]
  const result = parseJsonl(lines.join('\n'))

  it('keeps the valid records', () => {
    expect(result.events.map((item) => item.eventId)).toEqual(['ok-1', 'ok-2'])
  })

  it('names each reject path and reason', () => {
    const rejects = result.rejects.map(({ path, reason }) => [path, reason])
    expect(rejects).toEqual([
      ['[1].contact', 'contact: missing, expected an email address or a contact id'],
      ['[2].contact', 'contact: expected an email address, received "a@@example.com"'],
      [
        '[3].time',
        'time: expected an ISO 8601 time with an offset or an integer epoch ms, received "yesterday"',
      ],
      [
        '[4].type',
        'type: unknown event type "opened", expected one of send, delivered, open, click, ' +
          'bounce, dropped, deferred, unsubscribe, complaint',
      ],
      ['[6]', expect.stringMatching(/^line is not valid JSON: /)],
      ['[7]', 'expected an event object, received ["not","an","object"]'],
      ['[8].bounce_kind', 'bounce_kind: expected hard or soft, received "medium"'],
      ['[9].machine_open', 'machine_open: expected true or false, received "yes"'],
      [
        '[10].time',
        'time: expected a time between 2000-01-01 and 2100-01-01 UTC, received "2125-03-09T06:30:00Z"',
      ],
      [
        '[11].time',
        'time: expected a time between 2000-01-01 and 2100-01-01 UTC, received 1741501809',
      ],
      ['[12].url', 'url: missing, expected a URL'],
    ])
  })

  it('keeps the line as raw text', () => {
    expect(result.rejects[0]?.raw).toBe(lines[1])
    expect(result.rejects[4]?.raw).toBe(lines[6])
  })

  it('throws when no line is JSON', () => {
    expect(() => parseJsonl('contact,type,time\nc1,open,1741501809020')).toThrow(PayloadParseError)
    expect(() => parseJsonl('contact,type,time')).toThrow(
      /^JSONL body has no line that is valid JSON \(line 1: /,
    )
  })
})

const HEADER = 'event_id,contact,type,time,campaign_id,url,user_agent'

describe('csv adapter', () => {
  it('maps a plain row', () => {
    const body = `${HEADER}\r\ne1,Alex.Doe@Example.com,open,2025-03-09T06:30:09.020Z,spring,,Mozilla/5.0\r\n`
    expect(parseCsv(body)).toEqual({
      events: [
        event({
          eventId: 'e1',
          provider: 'csv',
          contactKey: 'alex.doe@example.com',
          campaignId: 'spring',
          type: 'open',
          occurredAtMs: 1741501809020,
          userAgent: 'Mozilla/5.0',
        }),
      ],
      rejects: [],
      ignored: 0,
      duplicates: 0,
    })
  })

  it('reads a quoted field with commas', () => {
    const body = `${HEADER}\ne1,c1,click,1741501809950,"spring, 2025","https://x.example/?a=1,2",`
    const [only] = parseCsv(body).events
    expect(only?.campaignId).toBe('spring, 2025')
    expect(only?.url).toBe('https://x.example/?a=1,2')
  })

  it('reads doubled quotes', () => {
    const body = `${HEADER}\ne1,c1,open,1741501809020,,,"Agent ""Q"" 1.0"`
    expect(parseCsv(body).events[0]?.userAgent).toBe('Agent "Q" 1.0')
  })

  it('reads a line break inside quotes', () => {
    const body = `${HEADER}\ne1,c1,open,1741501809020,"two\r\nlines",,\ne2,c1,open,1741501809021,,,`
    const result = parseCsv(body)
    expect(result.events.map((item) => item.campaignId)).toEqual(['two\r\nlines', ''])
    expect(result.rejects).toEqual([])
  })

  it('reads empty quotes as missing', () => {
    const body = `${HEADER}\n"",c1,open,1741501809020,"",,`
    const [only] = parseCsv(body).events
    expect(only?.eventId).toHaveLength(32)
    expect(only?.campaignId).toBe('')
  })

  it('accepts columns in any order', () => {
    const body = 'time,type,contact\n1741501809020,open,c1\n'
    expect(parseCsv(body).events[0]?.contactKey).toBe('c1')
  })

  it('strips a byte order mark', () => {
    const body = '\uFEFFcontact,type,time\nc1,open,1741501809020'
    expect(parseCsv(body).events).toHaveLength(1)
  })

  it('accepts a header without rows', () => {
    expect(parseCsv('contact,type,time\n')).toEqual({
      events: [],
      rejects: [],
      ignored: 0,
      duplicates: 0,
    })
  })
})

describe('csv adapter rejects', () => {
  const rows = [
    'e1,c1,open,1741501809020,,,',
    'e2,,open,1741501809020,,,',
    'e3,c1,open,yesterday,,,',
    'e4,c1,opened,1741501809020,,,',
    'e5,c1,open,1741501809020,,',
    'e6,c1,open,1741501809020,"spring"x,,',
    'e7,c1,open,1741501809020,spr"ing,,',
    'e8,c1,send,2025-03-09T06:30:00Z,,,',
    'e9,c1,open,1741501809020,"never closed,,',
    'e10,c1,open,1741501809020,,,',
  ]
  const result = parseCsv([HEADER, ...rows].join('\n'))

  it('keeps the valid records', () => {
    expect(result.events.map((item) => item.eventId)).toEqual(['e1', 'e8'])
  })

  it('names each reject path and reason', () => {
    expect(result.rejects.map(({ path, reason }) => [path, reason])).toEqual([
      ['[1].contact', 'contact: missing, expected an email address or a contact id'],
      [
        '[2].time',
        'time: expected an ISO 8601 time with an offset or an integer epoch ms, received "yesterday"',
      ],
      [
        '[3].type',
        'type: unknown event type "opened", expected one of send, delivered, open, click, ' +
          'bounce, dropped, deferred, unsubscribe, complaint',
      ],
      ['[4]', 'expected 7 fields as in the header, received 6'],
      ['[5]', 'record on line 7 is malformed: unexpected character after a closing quote'],
      ['[6]', 'record on line 8 is malformed: quote character inside an unquoted field'],
      // The open quote swallows the rest of the body, so the row after it is part of this one.
      ['[8]', 'record on line 10 is malformed: unterminated quoted field'],
    ])
  })

  it('keeps the row as raw text', () => {
    expect(result.rejects[0]?.raw).toBe(rows[1])
    expect(result.rejects[6]?.raw).toBe(`${rows[8]}\n${rows[9]}`)
  })
})

describe('csv adapter body errors', () => {
  it('throws for an empty body', () => {
    expect(() => parseCsv('')).toThrow(PayloadParseError)
    expect(() => parseCsv('\n\n')).toThrow('CSV body is empty, expected a header row')
  })

  it('throws for an unknown column', () => {
    expect(() => parseCsv('contact,type,time,campain_id\n')).toThrow(
      'CSV header has unknown columns "campain_id", expected only event_id, contact, type, ' +
        'time, campaign_id, message_id, url, user_agent, ip, machine_open, bounce_kind',
    )
  })

  it('throws for a missing required column', () => {
    expect(() => parseCsv('contact,type\nc1,open')).toThrow(
      'CSV header lacks required columns time',
    )
  })

  it('throws for a repeated column', () => {
    expect(() => parseCsv('contact,type,time,type\n')).toThrow('CSV header repeats columns type')
  })

  it('throws for a malformed header', () => {
    expect(() => parseCsv('contact,"type,time\n')).toThrow(
      'CSV header row is invalid: unterminated quoted field',
    )
  })
})
