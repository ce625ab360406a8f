import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { isProvider, parsePayload } from '../../../src/events/adapters.ts'
import { PROVIDERS, PayloadParseError, type Provider } from '../../../src/events/types.ts'

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/esp/${name}`, import.meta.url), 'utf8')

describe('adapter registry', () => {
  it('routes each provider', () => {
    const bodies: Record<Provider, string> = {
      sendgrid: fixture('sendgrid-event-webhook-batch.json'),
      ses: fixture('ses-sns-open-notification.json'),
      mailgun: JSON.stringify(JSON.parse(fixture('mailgun-webhook-requests.json'))[0]),
      postmark: JSON.stringify(JSON.parse(fixture('postmark-webhook-requests.json'))[0]),
      jsonl: '{"contact":"c1","type":"open","time":1741501809020}',
      csv: 'contact,type,time\nc1,open,1741501809020',
    }
    for (const provider of PROVIDERS) {
      const result = parsePayload(provider, bodies[provider])
      expect(result.events.length, provider).toBeGreaterThan(0)
      expect(
        result.events.every((event) => event.provider === provider),
        provider,
      ).toBe(true)
    }
  })

  it('throws PayloadParseError with the provider', () => {
    for (const provider of PROVIDERS) {
      let caught: unknown
      try {
        parsePayload(provider, provider === 'jsonl' ? 'not json' : '')
      } catch (error) {
        caught = error
      }
      expect(caught, provider).toBeInstanceOf(PayloadParseError)
      expect((caught as PayloadParseError).provider).toBe(provider)
    }
  })

  it('names the JSON error position', () => {
    expect(() => parsePayload('sendgrid', '[{"email": "a@example.com", oops}]')).toThrow(
      /^SendGrid body is not valid JSON: .*position 28/,
    )
  })

  it('recognizes providers', () => {
    for (const provider of PROVIDERS) expect(isProvider(provider), provider).toBe(true)
    expect(isProvider('SendGrid')).toBe(false)
    expect(isProvider('')).toBe(false)
    expect(isProvider(undefined)).toBe(false)
    expect(isProvider('toString')).toBe(false)
  })
})
