/**
 * Returns whether `zone` is an IANA time zone name that Intl accepts, spelled
 * in its canonical case: Intl accepts `europe/paris`, ClickHouse does not.
 */
export function isTimeZone(zone: string): boolean {
  let resolved: string
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone
  } catch {
    return false
  }
  // An alias resolves to another name (Asia/Kolkata to Asia/Calcutta); only a case change is rejected.
  return resolved.toLowerCase() !== zone.toLowerCase() || resolved === zone
}
