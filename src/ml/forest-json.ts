/** Validation of histogram-forest JSON, so a damaged model bundle fails on load, not on predict. */
import { z } from 'zod'

import { MAX_BINS } from './forest-bins.ts'
import {
  HistogramForest,
  type ForestJson,
  type ForestModel,
  type TreeJson,
} from './forest-model.ts'

const optionsSchema = z.object({
  nTrees: z.number().int().min(1),
  maxDepth: z.number().int().min(1),
  minSamplesLeaf: z.number().int().min(1),
  maxFeatures: z.number().int().min(1),
  bins: z.number().int().min(2).max(MAX_BINS),
  seed: z.number(),
  classWeight: z.literal('balanced').nullable(),
})

const treeSchema = z.object({
  feature: z.array(z.number().int()).min(1),
  threshold: z.array(z.number()),
  left: z.array(z.number().int()),
  right: z.array(z.number().int()),
  value: z.array(z.number().min(0).max(1)),
})

type Issue = { path: (string | number)[]; message: string }

// Children must come after their parent, which rules out cycles and out-of-range ids.
function checkNode(tree: TreeJson, node: number, nFeatures: number): Issue | null {
  const feature = tree.feature[node] as number
  const left = tree.left[node] as number
  const right = tree.right[node] as number
  const size = tree.feature.length
  if (feature === -1) {
    if (left === -1 && right === -1) return null
    return { path: ['left', node], message: 'a leaf (feature -1) must have left and right -1' }
  }
  if (feature < 0 || feature >= nFeatures) {
    const message = `must be -1 or in [0, ${nFeatures}), got ${feature}`
    return { path: ['feature', node], message }
  }
  if (left <= node || left >= size) {
    return { path: ['left', node], message: `must be in (${node}, ${size}), got ${left}` }
  }
  if (right <= node || right >= size) {
    return { path: ['right', node], message: `must be in (${node}, ${size}), got ${right}` }
  }
  return null
}

function checkTree(tree: TreeJson, nFeatures: number): Issue | null {
  const size = tree.feature.length
  for (const field of ['threshold', 'left', 'right', 'value'] as const) {
    if (tree[field].length !== size) {
      const message = `has ${tree[field].length} entries, but feature has ${size}`
      return { path: [field], message }
    }
  }
  for (let node = 0; node < size; node++) {
    const issue = checkNode(tree, node, nFeatures)
    if (issue !== null) return issue
  }
  return null
}

const forestSchema = z
  .object({
    kind: z.literal('histogram-forest'),
    formatVersion: z.literal(1),
    nFeatures: z.number().int().min(1),
    options: optionsSchema,
    featureImportance: z.array(z.number().min(0)),
    trees: z.array(treeSchema).min(1),
  })
  .superRefine((forest, context) => {
    if (forest.featureImportance.length !== forest.nFeatures) {
      const entries = forest.featureImportance.length
      const message = `has ${entries} entries, expected nFeatures (${forest.nFeatures})`
      context.addIssue({ code: 'custom', path: ['featureImportance'], message })
    }
    forest.trees.forEach((tree, t) => {
      const issue = checkTree(tree, forest.nFeatures)
      if (issue !== null) {
        const path = ['trees', t, ...issue.path]
        context.addIssue({ code: 'custom', path, message: issue.message })
      }
    })
  })

/**
 * Builds a forest from `toJSON()` output. Throws an Error that names each invalid field, for
 * example `trees[3].left[5]`, when the value does not have the histogram-forest format 1 shape.
 */
export function loadForest(json: unknown): ForestModel {
  const result = forestSchema.safeParse(json)
  if (!result.success) {
    throw new Error(`invalid histogram-forest JSON: ${z.prettifyError(result.error)}`)
  }
  const forest: ForestJson = result.data
  const trees = forest.trees.map((tree) => ({
    feature: Int32Array.from(tree.feature),
    threshold: Float64Array.from(tree.threshold),
    left: Int32Array.from(tree.left),
    right: Int32Array.from(tree.right),
    value: Float64Array.from(tree.value),
  }))
  const importance = Float64Array.from(forest.featureImportance)
  return new HistogramForest(forest.nFeatures, trees, importance, forest.options)
}
