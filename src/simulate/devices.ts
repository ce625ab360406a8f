/**
 * Mail clients, privacy proxies and link scanners that fetch tracking pixels and links, with
 * the user agents and IP addresses they report. Every address is in a documentation range
 * (RFC 5737), and every host name is under example.com or example.net.
 */
import type { Rng } from '../ml/random.ts'
import { pickWeighted } from './sampling.ts'

/** The user agents one contact's mail client reports for opens (pixel fetch) and clicks. */
export interface MailClient {
  name: string
  openUserAgent: string
  clickUserAgent: string
}

const IPHONE_MAIL =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 ' +
  '(KHTML, like Gecko) Mobile/15E148'
const IPHONE_SAFARI =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 ' +
  '(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'
const MAC_MAIL =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko)'
const MAC_SAFARI =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 ' +
  '(KHTML, like Gecko) Version/17.4 Safari/605.1.15'
const WINDOWS_CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 ' +
  '(KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36'
const ANDROID_CHROME =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 ' +
  '(KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36'
const GMAIL_IMAGE_PROXY =
  'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)'
const OUTLOOK_DESKTOP =
  'Mozilla/4.0 (compatible; ms-office; MSOffice 16) Microsoft Outlook 16.0.17328'
const THUNDERBIRD = 'Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0'

function client(name: string, openUserAgent: string, clickUserAgent: string): MailClient {
  return { name, openUserAgent, clickUserAgent }
}

/** Clients of contacts who read in Apple Mail, whose human opens still reach the tracker. */
export const APPLE_MAIL_CLIENTS: readonly { weight: number; value: MailClient }[] = [
  { weight: 3, value: client('apple-mail-ios', IPHONE_MAIL, IPHONE_SAFARI) },
  { weight: 1, value: client('apple-mail-mac', MAC_MAIL, MAC_SAFARI) },
]

/** Clients of everyone else. Gmail fetches pixels through its image proxy. */
export const OTHER_MAIL_CLIENTS: readonly { weight: number; value: MailClient }[] = [
  { weight: 5, value: client('gmail', GMAIL_IMAGE_PROXY, WINDOWS_CHROME) },
  { weight: 2, value: client('gmail-android', GMAIL_IMAGE_PROXY, ANDROID_CHROME) },
  { weight: 2, value: client('outlook', OUTLOOK_DESKTOP, WINDOWS_CHROME) },
  { weight: 1, value: client('webmail', WINDOWS_CHROME, WINDOWS_CHROME) },
  { weight: 0.5, value: client('thunderbird', THUNDERBIRD, THUNDERBIRD) },
]

/**
 * The bare user agent that Apple Mail Privacy Protection sends when its proxy prefetches the
 * pixel. SES has no machine-open flag, so this string is the only sign of such an open there.
 */
export const APPLE_PROXY_USER_AGENT = 'Mozilla/5.0'

/** User agent of the security gateway that follows every link of a message on arrival. */
export const LINK_SCANNER_USER_AGENT =
  'Mozilla/5.0 (compatible; ExampleSafeLinks/3.2; +https://scanner.example.net/about)'

/** Address the ESP sends from, reported on SendGrid delivered and bounce events. */
export const SENDING_IP = '198.51.100.10'

/** Picks the client a contact reads mail in. */
export function pickMailClient(rng: Rng, appleMail: boolean): MailClient {
  return pickWeighted(rng, appleMail ? APPLE_MAIL_CLIENTS : OTHER_MAIL_CLIENTS)
}

/** Picks a home or mobile address for human opens and clicks (198.51.100.32-254, 192.0.2.1-199). */
export function pickHumanIp(rng: Rng): string {
  if (rng.next() < 0.6) return `198.51.100.${32 + rng.int(223)}`
  return `192.0.2.${1 + rng.int(199)}`
}

/** Picks an Apple privacy proxy address in 203.0.113.0/24. Each prefetch draws a new one. */
export function pickAppleProxyIp(rng: Rng): string {
  return `203.0.113.${1 + rng.int(254)}`
}

/** Picks a link scanner's address in 192.0.2.200-254, drawn once per contact. */
export function pickScannerIp(rng: Rng): string {
  return `192.0.2.${200 + rng.int(55)}`
}
