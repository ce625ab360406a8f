import { z } from 'zod'
import { ApiError } from './errors.ts'
import { ERROR_CODES, type ErrorCode } from './errors.ts'

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]

export const errorSchema = z.object({
  error: z.object({
    code: z.enum(errorCodes),
    message: z.string(),
    path: z.array(z.union([z.string(), z.number()])),
  }),
})

export const contactInputSchema = z
  .object({
    key: z.string().min(1).max(320).optional(),
    features: z.record(z.string(), z.number()).optional(),
  })
  .strict()

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
      contacts: z.array(contactInputSchema).min(1).max(maxContacts),
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
const sendHourSchema = z.object({ hour: z.number().int(), ownShare: z.number() })

export const scoreResultSchema = z.object({
  index: z.number().int(),
  key: z.string().nullable(),
  persona: personaScoreSchema.optional(),
  churn: churnScoreSchema.optional(),
  bestSendHour: sendHourSchema.optional(),
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
      size: z.number().int(),
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
  bestSendHour: sendHourSchema,
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
