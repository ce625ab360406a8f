/** Public API of the email engagement simulator. */
export { simulate, MAX_EVENTS_PER_FILE, type SimulationSummary } from './simulate.ts'
export {
  resolveWindow,
  DEFAULT_START,
  type SimulationOptions,
  type SimulationWindow,
} from './options.ts'
export {
  PERSONA_NAMES,
  PERSONAS,
  type PersonaName,
  type PersonaParameters,
  type ReadingWindow,
} from './personas.ts'
export { zoneOffsetMs, zonedToUtcMs, utcToLocalParts, type LocalParts } from './time-zones.ts'
export { APPLE_PROXY_USER_AGENT, LINK_SCANNER_USER_AGENT } from './devices.ts'
export { CONTACTS_HEADER, TRUTH_HEADER } from './csv-files.ts'
