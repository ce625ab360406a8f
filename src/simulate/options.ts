/** Options of a simulation run, their defaults and checks, and the time window they span. */

export const DAY_MS = 86_400_000
export const MINUTE_MS = 60_000
export const SECOND_MS = 1_000

/** The default first day of the simulation, a Monday. */
export const DEFAULT_START = '2025-01-06'

/** Default gap between the cutoff and the end of the window, in days. */
export const DEFAULT_HORIZON_DAYS = 30

/** Maximum window length in days, which keeps campaign indexes within 16 bits. */
export const MAX_DAYS = 3660

export interface SimulationOptions {
  /** Number of contacts, a positive integer. */
  contacts: number
  /** Length of the window in days, a positive integer. */
  days: number
  /** Seed of every random draw. The same options give byte-identical files. */
  seed: number
  /** Folder that receives the CSV files and the `sendgrid/` and `ses/` batches. */
  outDir: string
  /** First day of the window as an ISO date or a date-time with a zone. Default '2025-01-06'. */
  start?: string
  /** Days from the start to the churn cutoff. Default `days - 30`. */
  cutoffDays?: number
}

/** The simulated span as UTC milliseconds. Events fall in [startMs, endMs]. */
export interface SimulationWindow {
  startMs: number
  endMs: number
  cutoffMs: number
  days: number
  cutoffDays: number
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/
const DATE_TIME_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/

function parseStart(start: string): number {
  // Date-times without a zone would be read in the host's zone, which breaks determinism.
  const ms = DATE_ONLY.test(start) || DATE_TIME_WITH_ZONE.test(start) ? Date.parse(start) : NaN
  if (Number.isNaN(ms)) {
    throw new RangeError(
      `Invalid start ${JSON.stringify(start)}: expected an ISO date such as '2025-01-06' ` +
        `or a date-time with a zone such as '2025-01-06T00:00:00Z'`,
    )
  }
  return ms
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Invalid ${name} ${value}: expected an integer from ${min} to ${max}`)
  }
}

/** Validates the options and returns the window they describe. Raises a RangeError on bad input. */
export function resolveWindow(options: SimulationOptions): SimulationWindow {
  requireInteger('contacts', options.contacts, 1, 100_000_000)
  requireInteger('days', options.days, 2, MAX_DAYS)
  if (!Number.isFinite(options.seed)) {
    throw new RangeError(`Invalid seed ${options.seed}: expected a finite number`)
  }
  if (options.cutoffDays === undefined && options.days <= DEFAULT_HORIZON_DAYS) {
    throw new RangeError(
      `Invalid days ${options.days}: the default cutoff is days - ${DEFAULT_HORIZON_DAYS}, ` +
        `so pass cutoffDays or use more than ${DEFAULT_HORIZON_DAYS} days`,
    )
  }
  const cutoffDays = options.cutoffDays ?? options.days - DEFAULT_HORIZON_DAYS
  requireInteger('cutoffDays', cutoffDays, 1, options.days - 1)
  const startMs = parseStart(options.start ?? DEFAULT_START)
  return {
    startMs,
    endMs: startMs + options.days * DAY_MS,
    cutoffMs: startMs + cutoffDays * DAY_MS,
    days: options.days,
    cutoffDays,
  }
}
