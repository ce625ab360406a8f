import { z } from 'zod'

export const BUNDLE_KIND = 'contact-segments-bundle'
export const BUNDLE_FORMAT_VERSION = 1

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest')
const finite = z.number().refine(Number.isFinite, 'expected a finite number')

export const personaSchema = z.object({
  id: z.number().int().nonnegative(),
  name: z.string().min(1),
  description: z.string(),
  size: z.number().int().nonnegative(),
  /** Centroid in original feature units, keyed by persona feature name. */
  centroid: z.record(z.string(), finite),
  /** Mean share of human engagement per local hour (24 values). */
  hourProfile: z.array(finite).length(24),
})
export type Persona = z.infer<typeof personaSchema>

export const referenceSchema = z.object({
  feature: z.string(),
  edges: z.array(finite),
  shares: z.array(finite),
})
export type FeatureReference = z.infer<typeof referenceSchema>

export const manifestSchema = z.object({
  kind: z.literal(BUNDLE_KIND),
  formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  createdAt: z.iso.datetime(),
  featureNames: z.array(z.string()).min(1),
  personas: z.object({
    features: z.array(z.string()).min(1),
    /** Contacts the personas were fitted on (those known at the cutoff). */
    contacts: z.number().int().nonnegative(),
    /** Scaler parameters, applied before the centroids; also stored in `files`. */
    scalerFile: z.string(),
    centroidsFile: z.string(),
    list: z.array(personaSchema).min(1),
  }),
  churn: z.object({
    modelFile: z.string(),
    modelKind: z.string(),
    features: z.array(z.string()).min(1),
    horizonDays: z.number().positive(),
    /** Probability thresholds of the medium and high risk bands. */
    bands: z.object({ medium: finite, high: finite }),
  }),
  training: z.object({
    featuresAsOf: z.iso.datetime(),
    labelsUntil: z.iso.datetime(),
    /** Contacts in the churn training split (those known at the cutoff minus the horizon). */
    contacts: z.number().int().nonnegative(),
    dataHash: sha256,
  }),
  metrics: z.record(z.string(), finite),
  reference: z.array(referenceSchema),
  libraries: z.record(z.string(), z.string()),
  /** Every other file of the bundle with its sha256; names are plain file names. */
  files: z.record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a plain file name'),
    sha256,
  ),
})
export type Manifest = z.infer<typeof manifestSchema>
