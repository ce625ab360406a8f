import { z } from 'zod'
import { ApiError } from './errors.ts'
import { ERROR_CODES, type ErrorCode } from './errors.ts'
import { WEEKDAYS } from '../src/features/catalogue.ts'
import { HOURS_PER_WEEK } from '../src/features/send-time.ts'

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]

export const errorSchema = z.object({
  error: z.object({
    code: z.enum(errorCodes),
    message: z.string(),
    path: z.array(z.union([z.string(), z.number()])),
  }),
})

const isPlainObject = (value: unknown) =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * A JSON object of feature values, documented as numbers. The service checks each name and value
 * (a known feature, a finite number in range), so one bad value fails only its own contact.
 * A custom check in place of z.record, because z.record parses and copies every entry: about
 * 16 us per contact of 83 features against 1 us (zod 4, Node 20).
 */
const featureValues = z
  .custom<Record<string, unknown>>(isPlainObject, {
    message: 'Invalid input: expected an object of feature values by name',
  })
  .meta({ type: 'object', additionalProperties: { type: 'number' } })

/** A JSON array of counts, documented as integers and checked per contact by the service. */
const weekCounts = z
  .custom<unknown[]>(Array.isArray, {
    message: `Invalid input: expected an array of ${HOURS_PER_WEEK} counts`,
  })
  .meta({
    type: 'array',
    items: { type: 'integer', minimum: 0 },
    minItems: HOURS_PER_WEEK,
    maxItems: HOURS_PER_WEEK,
  })

export const contactInputSchema = z
  .object({
    key: z.string().min(1).max(320).optional(),
    features: featureValues.optional(),
    /**
     * Human opens per local hour of the week, Monday 00:00 first (168 counts),
     * read only with `features` and checked per contact.
     */
    hourOfWeekOpens: weekCounts.optional(),
  })
  .strict()

export type ContactInput = z.infer<typeof contactInputSchema>

/** A contact that failed contactInputSchema: why, and where below the contact. */
export interface ContactProblem {
  message: string
  path: (string | number)[]
}

const CONTACT_FIELDS = Object.keys(contactInputSchema.shape)
  .map((name) => JSON.stringify(name))
  .join(', ')

/**
 * Checks one entry of a score request's `contacts` against contactInputSchema.
 * Returns the contact, or its first problem with the path of the offending
 * field, such as `["segment"]` for a field the contact does not take.
 */
export function parseContactInput(value: unknown): ContactInput | ContactProblem {
  const result = contactInputSchema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0] as z.core.$ZodIssue
  if (issue.code === 'unrecognized_keys') {
    const [field] = issue.keys
    return {
      message: `Unknown field ${JSON.stringify(field)}; a contact takes ${CONTACT_FIELDS}`,
      path: [...issue.path.map(toPathPart), field as string],
    }
  }
  const path = issue.path.map(toPathPart)
  const where = path.length > 0 ? `${path.join('.')}: ` : ''
  return { message: `${where}${issue.message}`, path }
}

const toPathPart = (part: PropertyKey) => (typeof part === 'number' ? part : String(part))

/**
 * One entry of a score request's `contacts`. Each entry is checked by the
 * service with parseContactInput, so that a fault in one contact fails only
 * that contact. The OpenAPI document describes it as contactInputSchema.
 */
const { $schema: _draft, ...contactJsonSchema } = z.toJSONSchema(contactInputSchema, {
  unrepresentable: 'any',
})
const contactEntrySchema = z.unknown().meta(contactJsonSchema)

/** Latest `asOf` accepted: features as of a later time would extrapolate recency and tenure. */
const MAX_AS_OF_AHEAD_MS = 86_400_000

/** Parses an optional `asOf` into epoch ms (now when absent); a time over a day ahead is an error at `path`. */
export function resolveAsOf(asOf: string | undefined, path: string[], nowMs = Date.now()): number {
  if (!asOf) return nowMs
  const asOfMs = Date.parse(asOf)
  if (asOfMs > nowMs + MAX_AS_OF_AHEAD_MS) {
    throw new ApiError(
      'INVALID_REQUEST',
      `${path.join('.')}: must be at most a day after now, received ${asOf}`,
      path,
    )
  }
  return asOfMs
}

export const scoreRequestSchema = (maxContacts: number) =>
  z
    .object({
      contacts: z.array(contactEntrySchema).min(1).max(maxContacts),
      /** Point in time for features computed by key (ISO 8601); default now. */
      asOf: z.iso.datetime({ offset: true }).optional(),
    })
    .strict()

const personaScoreSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  distance: z.number(),
})
const churnScoreSchema = z.object({
  probability: z.number(),
  band: z.enum(['low', 'medium', 'high']),
})
/** A feature that moves the contact's churn probability, largest change first. */
const reasonSchema = z.object({
  feature: z.string(),
  /** The contact's value of the feature. */
  value: z.number(),
  /** Churn probability minus the probability with the feature at its training median. */
  effect: z.number(),
})
const sendTimeSchema = z.object({
  /** Local hour of the week, 0 to 167: Monday 00:00 is 0. */
  hourOfWeek: z.number().int(),
  weekday: z.enum(WEEKDAYS),
  /** Local hour of day, 0 to 23. */
  hour: z.number().int(),
  /** Weights of the contact's own opens, its persona's profile and everyone's profile. They sum to 1. */
  ownShare: z.number(),
  personaShare: z.number(),
  globalShare: z.number(),
})

export const scoreResultSchema = z.object({
  index: z.number().int(),
  key: z.string().nullable(),
  persona: personaScoreSchema.optional(),
  churn: churnScoreSchema.optional(),
  reasons: z.array(reasonSchema).optional(),
  bestSendTime: sendTimeSchema.optional(),
  modelVersion: z.string().optional(),
  error: errorSchema.shape.error.optional(),
})

export const scoreResponseSchema = z.object({
  modelVersion: z.string(),
  results: z.array(scoreResultSchema),
})

export const ingestResponseSchema = z.object({
  stored: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
  ignored: z.number().int(),
})

export const segmentsResponseSchema = z.object({
  modelVersion: z.string(),
  personas: z.array(
    z.object({
      id: z.number().int(),
      name: z.string(),
      description: z.string(),
      /** Contacts of the persona when it was fitted. */
      size: z.number().int(),
      /** Size over all fitted contacts, 0 to 1. */
      share: z.number(),
      /** Centre of the persona in feature units, by persona feature name. */
      centroid: z.record(z.string(), z.number()),
    }),
  ),
})

export const contactParamsSchema = z.object({ key: z.string().min(1).max(320) })

export const contactQuerySchema = z
  .object({
    /** Point in time for the contact's features (ISO 8601); default now. */
    asOf: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()

/** One /v1/score result of a contact scored by key, with the features it was scored on. */
export const contactResponseSchema = z.object({
  index: z.literal(0),
  key: z.string(),
  persona: personaScoreSchema,
  churn: churnScoreSchema,
  reasons: z.array(reasonSchema),
  bestSendTime: sendTimeSchema,
  modelVersion: z.string(),
  /** Time the features were computed as of (ISO 8601). */
  asOf: z.string(),
  /** Feature values in the order of the bundle's featureNames. */
  features: z.record(z.string(), z.number()),
})

export const modelsResponseSchema = z.object({
  name: z.string(),
  /** Version marked champion in champion.json, or null when none is marked. */
  champion: z.string().nullable(),
  /** Version the server scores with, or null when none is loaded. */
  loaded: z.string().nullable(),
  bundles: z.array(
    z.object({
      version: z.string(),
      createdAt: z.string().nullable(),
      metrics: z.record(z.string(), z.number()).nullable(),
      champion: z.boolean(),
      loaded: z.boolean(),
      /** Reason the bundle failed its checks; absent when it loaded. */
      error: z.string().optional(),
    }),
  ),
})
