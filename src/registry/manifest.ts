import { z } from 'zod'

export const BUNDLE_KIND = 'contact-segments-bundle'
export const BUNDLE_FORMAT_VERSION = 1

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest')
const finite = z.number().refine(Number.isFinite, 'expected a finite number')

/** 168 shares of human opens, one per hour of the week, that sum to 1. */
const weekProfile = z
  .array(finite.refine((value) => value >= 0, 'expected a non-negative share'))
  .length(168)
  .refine(
    (shares) => Math.abs(shares.reduce((sum, share) => sum + share, 0) - 1) < 1e-6,
    'expected shares that sum to 1',
  )

export const personaSchema = z.object({
  id: z.number().int().nonnegative(),
  name: z.string().min(1),
  description: z.string(),
  size: z.number().int().nonnegative(),
  /** Centroid in original feature units, keyed by persona feature name. */
  centroid: z.record(z.string(), finite),
  /** Mean share of human engagement per local hour (24 values). */
  hourProfile: z.array(finite).length(24),
  /** Mean share of human opens per local hour of the week, Monday 00:00 first; absent in older bundles. */
  weekProfile: weekProfile.optional(),
})
export type Persona = z.infer<typeof personaSchema>

const kSelectionRowSchema = z.object({
  k: z.number().int().positive(),
  /** Null when the fit found fewer than two clusters. */
  silhouette: finite.nullable(),
  inertia: finite,
})

const personaStabilitySchema = z.object({
  /** Version of the champion the personas were matched to, or null without one. */
  previousVersion: z.string().nullable(),
  /** Largest centroid distance, in scaled units, at which a persona kept its previous id. */
  maxDistance: finite,
  matches: z.array(
    z.object({
      id: z.number().int().nonnegative(),
      /** Null for a new persona. */
      previousId: z.number().int().nonnegative().nullable(),
      previousName: z.string().nullable(),
      distance: finite.nullable(),
      /** `centroid` within maxDistance, `name` for a farther persona with the same name. */
      matchedBy: z.enum(['centroid', 'name']).nullable(),
    }),
  ),
})

const personaDbscanSchema = z.object({
  eps: finite,
  minPts: z.number().int().positive(),
  /** Rows DBSCAN was fitted on. The others joined the cluster of the nearest core row within eps. */
  sampleSize: z.number().int().positive(),
  clusters: z.number().int().nonnegative(),
  noiseShare: finite,
  sizes: z.array(z.number().int().nonnegative()),
  kDistanceK: z.number().int().positive(),
  /** Sorted k-distances of the sample at evenly spaced ranks. */
  kDistanceCurve: z.array(finite),
})

export const referenceSchema = z.object({
  feature: z.string(),
  edges: z.array(finite),
  shares: z.array(finite),
})
export type FeatureReference = z.infer<typeof referenceSchema>

const reliabilityBinSchema = z.object({
  lower: finite,
  upper: finite,
  count: z.number().int().nonnegative(),
  meanPredicted: finite.nullable(),
  observedRate: finite.nullable(),
})

/** Calibrated churn metrics of one model on one window. */
const windowMetricsSchema = z.object({
  rows: z.number().int().nonnegative(),
  churnRate: finite,
  rocAuc: finite,
  prAuc: finite,
  brier: finite,
  logLoss: finite,
  reliability: z.array(reliabilityBinSchema),
})

/** One churn model trained on the split, or the reason it was skipped. */
export const churnCandidateSchema = z.object({
  kind: z.string(),
  skipped: z.string().optional(),
  /** tfjs backend the MLP was trained on. */
  backend: z.string().optional(),
  /** PR AUC of the uncalibrated scores on the validation window. */
  validationPrAuc: finite.optional(),
  validation: windowMetricsSchema.optional(),
  test: windowMetricsSchema.optional(),
  testBrierUncalibrated: finite.optional(),
})

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
    /** Everyone's mean share of human opens per hour of the week; absent in older bundles. */
    weekProfile: weekProfile.optional(),
    /** Number of personas k, fixed or chosen by the silhouette. Absent in older bundles. */
    chosenK: z.number().int().positive().optional(),
    /** Sampled silhouette and inertia of every k tried. Absent in older bundles. */
    kSelection: z.array(kSelectionRowSchema).optional(),
    /** Match of each persona to the previous champion's personas. Absent in older bundles. */
    stability: personaStabilitySchema.optional(),
    /** DBSCAN on the scaled persona features, a second view not used for scoring. */
    dbscan: personaDbscanSchema.optional(),
  }),
  churn: z.object({
    /** The model's main file: forest JSON, or the MLP's tfjs model.json. */
    modelFile: z.string(),
    /** `histogram-forest` or `tfjs-mlp`. */
    modelKind: z.string(),
    /** The MLP's binary weights; only with modelKind `tfjs-mlp`. */
    weightsFile: z.string().optional(),
    /** The MLP's input scaler; only with modelKind `tfjs-mlp`. */
    scalerFile: z.string().optional(),
    /** Isotonic calibration of the model's scores; absent in older bundles, which score uncalibrated. */
    calibrationFile: z.string().optional(),
    features: z.array(z.string()).min(1),
    horizonDays: z.number().positive(),
    /** Probability thresholds of the medium and high risk bands. */
    bands: z.object({ medium: finite, high: finite }),
    /** Training-window median per churn feature, the reference of score reasons; absent in older bundles. */
    medians: z.array(finite).optional(),
    /** Permutation importance on the validation window: mean and std of the ROC AUC drop. */
    importance: z.array(z.object({ feature: z.string(), mean: finite, std: finite })).optional(),
    /** Metric that chose modelKind among the candidates. */
    selectedBy: z.string().optional(),
    candidates: z.array(churnCandidateSchema).optional(),
  }),
  training: z.object({
    featuresAsOf: z.iso.datetime(),
    labelsUntil: z.iso.datetime(),
    /** Contacts in the churn training window (those known at the cutoff minus twice the horizon). */
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
