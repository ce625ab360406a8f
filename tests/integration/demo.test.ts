import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runDemo, type DemoSummary } from '../../src/cli/demo.ts'
import { loadConfig } from '../../src/config/index.ts'
import { loadChampion } from '../../src/registry/bundle.ts'

let dir: string
let summary: DemoSummary
const lines: string[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-'))
  const config = loadConfig({
    SEGMENTS_MODELS_DIR: join(dir, 'models'),
    SEGMENTS_LOG_LEVEL: 'silent',
  })
  summary = await runDemo(
    config,
    {
      contacts: 1500,
      days: 120,
      seed: 11,
      k: 8,
      horizonDays: 30,
      sample: 200,
      workDir: join(dir, 'work'),
      bundleName: 'demo',
    },
    (line) => lines.push(line),
  )
}, 180_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('demo', () => {
  it('ingests every simulated event', () => {
    expect(summary.contacts).toBeGreaterThan(1400)
    expect(summary.events.stored).toBeGreaterThan(50_000)
    expect(summary.events.duplicates).toBe(0)
  })

  it('finds personas well above chance', () => {
    // A random labelling has an adjusted Rand index of about 0.
    expect(summary.personaAdjustedRandIndex).toBeGreaterThan(0.5)
    expect(summary.personas).toHaveLength(8)
    expect(new Set(summary.personas.map((persona) => persona.name)).size).toBe(8)
  })

  it('predicts churn well above chance', () => {
    expect(summary.churn.testRocAuc).toBeGreaterThan(0.8)
    expect(summary.churn.testBrier).toBeLessThan(0.2)
  })

  it('scores over HTTP like training', () => {
    expect(summary.scoring.contacts).toBe(200)
    expect(summary.scoring.errors).toBe(0)
    expect(summary.scoring.agreesWithOffline).toBe(1)
  })

  it('measures drift per feature', () => {
    expect(summary.drift.top).toHaveLength(5)
    for (const drift of summary.drift.top) expect(drift.psi).toBeGreaterThanOrEqual(0)
  })

  it('publishes a loadable champion', async () => {
    const bundle = await loadChampion(join(dir, 'models'), 'demo')
    expect(bundle.manifest.version).toBe(summary.bundle.version)
    expect(bundle.manifest.metrics.churnTestRocAuc).toBe(summary.churn.testRocAuc)
  })

  it('writes the printed report', async () => {
    const report = await readFile(summary.reportFile, 'utf8')
    expect(report).toContain(
      `adjusted Rand index against the simulator's personas: ${summary.personaAdjustedRandIndex.toFixed(3)}`,
    )
    expect(report).toContain(
      `ROC AUC on the holdout (labels after the cutoff): ${summary.churn.testRocAuc.toFixed(3)}`,
    )
    expect(lines.join('\n')).toContain(report.trim())
  })
})
