import { z } from 'zod'

export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
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

export const scoreRequestSchema = (maxContacts: number) =>
  z
    .object({
      contacts: z.array(contactInputSchema).min(1).max(maxContacts),
      /** Point in time for features computed by key (ISO 8601); default now. */
      asOf: z.iso.datetime({ offset: true }).optional(),
    })
    .strict()

export const scoreResultSchema = z.object({
  index: z.number().int(),
  key: z.string().nullable(),
  persona: z.object({ id: z.number().int(), name: z.string(), distance: z.number() }).optional(),
  churn: z.object({ probability: z.number(), band: z.enum(['low', 'medium', 'high']) }).optional(),
  bestSendHour: z.object({ hour: z.number().int(), ownShare: z.number() }).optional(),
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
