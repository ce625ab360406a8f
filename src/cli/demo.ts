import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config/index.ts'
import { importContactsCsv, readCsvObjects } from '../events/contacts.ts'
import { addCounts, IngestBatcher, type IngestCounts } from '../events/ingest.ts'
import { computeFeatures } from '../features/compute.ts'
import { compareFeatures, type FeatureDrift } from '../drift/psi.ts'
import { adjustedRandIndex } from '../ml/metrics.ts'
import { simulate } from '../simulate/simulate.ts'
import { openStore, type Store } from '../store/client.ts'
import { fitBundle, prepareTrainingData, type TrainResult } from '../../training/pipeline.ts'
import { buildServer } from '../../inference/server.ts'
import { ScoringService } from '../../inference/service.ts'
import { startProgress, startStageProgress } from './progress.ts'

const DAY_MS = 86_400_000

export interface DemoOptions {
  contacts: number
  days: number
  seed: number
  k: number
  horizonDays: number
  /** Contacts scored over HTTP at the end. */
  sample: number
  workDir: string
  bundleName: string
}

export interface DemoSummary {
  options: DemoOptions
  events: IngestCounts
  contacts: number
  cutoff: string
  personas: { id: number; name: string; size: number; description: string }[]
  personaAdjustedRandIndex: number
  /** Number of personas and its sampled silhouette. */
  personaK: { k: number; silhouette: number | null }
  churn: TrainResult['churn']['metrics']
  /** The churn model chosen on validation, and every candidate's test metrics. */
  churnModels: { chosen: string; candidates: ChurnCandidateSummary[] }
  scoring: { contacts: number; errors: number; milliseconds: number; agreesWithOffline: number }
  drift: { reference: string; current: string; top: FeatureDrift[]; moderateOrMajor: number }
  bundle: { dir: string; version: string }
  stepSeconds: Record<string, number>
  reportFile: string
}

/** One churn candidate in the summary; metrics are of calibrated probabilities. */
export interface ChurnCandidateSummary {
  kind: string
  skipped?: string
  validationPrAuc?: number
  testRocAuc?: number
  testPrAuc?: number
  testBrier?: number
}

function summarizeChurnModels(churn: TrainResult['churn']): DemoSummary['churnModels'] {
  const candidates = churn.candidates.map((candidate) =>
    candidate.skipped !== undefined
      ? { kind: candidate.kind, skipped: candidate.skipped }
      : {
          kind: candidate.kind,
          validationPrAuc: candidate.validationPrAuc,
          testRocAuc: candidate.test?.rocAuc,
          testPrAuc: candidate.test?.prAuc,
          testBrier: candidate.test?.brier,
        },
  )
  return { chosen: churn.chosen, candidates }
}

function formatCandidate(candidate: ChurnCandidateSummary, chosen: string): string {
  if (candidate.skipped !== undefined) return `- ${candidate.kind}: skipped, ${candidate.skipped}`
  const mark = candidate.kind === chosen ? ' (chosen)' : ''
  return (
    `- ${candidate.kind}${mark}: test ROC AUC ${candidate.testRocAuc?.toFixed(3)}, ` +
    `PR AUC ${candidate.testPrAuc?.toFixed(3)}, Brier ${candidate.testBrier?.toFixed(3)}; ` +
    `validation PR AUC ${candidate.validationPrAuc?.toFixed(3)}`
  )
}

type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>

function stepTimer(times: Record<string, number>, log: (line: string) => void): Step {
  return async (name, run) => {
    const started = performance.now()
    log(`==> ${name}`)
    const result = await run()
    times[name] = (performance.now() - started) / 1000
    log(`    ${name} took ${times[name].toFixed(1)} s`)
    return result
  }
}

async function ingestFolder(
  store: Store,
  folder: string,
  provider: 'sendgrid' | 'ses',
): Promise<IngestCounts> {
  const files = (await readdir(folder)).filter((name) => name.endsWith('.json')).sort()
  const progress = startProgress(provider)
  const batcher = new IngestBatcher(store.client)
  for (const [index, name] of files.entries()) {
    await batcher.add(provider, await readFile(join(folder, name), 'utf8'), `file:${name}`)
    progress.update(index + 1, files.length)
  }
  const counts = await batcher.finish()
  progress.stop()
  return counts
}

async function readTruth(file: string): Promise<Map<string, string>> {
  const { records } = readCsvObjects(await readFile(file, 'utf8'))
  return new Map(records.map(({ row }) => [row.contact_key ?? '', row.persona ?? '']))
}

function personaAgreement(result: TrainResult, truth: Map<string, string>): number {
  const names = [...new Set(truth.values())].sort()
  const truthLabels: number[] = []
  const predicted: number[] = []
  result.test.contactKeys.forEach((key, row) => {
    const persona = truth.get(key)
    if (persona === undefined) return
    truthLabels.push(names.indexOf(persona))
    predicted.push(result.personas.labels[row] as number)
  })
  return adjustedRandIndex(truthLabels, predicted)
}

/** Scores a sample over real HTTP on loopback, half by key and half with their features. */
async function scoreOverHttp(
  config: Readonly<Config>,
  store: Store,
  result: TrainResult,
  options: DemoOptions,
) {
  // The demo's server lives on loopback for one request, so it runs without API keys.
  const service = new ScoringService(
    { ...config, logLevel: 'error', apiKeys: undefined },
    store,
    options.bundleName,
  )
  await service.loadChampion()
  const app = buildServer(service)
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  try {
    const { test } = result
    const count = Math.min(options.sample, test.contactKeys.length)
    const step = Math.max(1, Math.floor(test.contactKeys.length / count))
    const rows = Array.from({ length: count }, (_, i) => i * step)
    const contacts = rows.map((row, i) =>
      i % 2 === 0
        ? { key: test.contactKeys[row] as string }
        : {
            features: Object.fromEntries(
              test.featureNames.map((name, j) => [
                name,
                test.matrix.data[row * test.matrix.cols + j] as number,
              ]),
            ),
          },
    )
    const started = performance.now()
    const response = await fetch(`${address}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ contacts, asOf: new Date(test.asOfMs).toISOString() }),
    })
    const milliseconds = performance.now() - started
    if (!response.ok)
      throw new Error(`POST /v1/score returned ${response.status}: ${await response.text()}`)
    const body = (await response.json()) as {
      results: { persona?: { id: number }; error?: unknown }[]
    }
    const errors = body.results.filter((entry) => entry.error).length
    const agreeing = body.results.filter(
      (entry, i) => entry.persona?.id === result.personas.labels[rows[i] as number],
    ).length
    return {
      contacts: count,
      errors,
      milliseconds,
      agreesWithOffline: agreeing / Math.max(1, count),
    }
  } finally {
    await app.close()
  }
}

function formatSummary(summary: DemoSummary): string {
  const lines = [
    '# contact-segments demo',
    '',
    `${summary.contacts} contacts, ${summary.events.stored} events stored (${summary.events.duplicates} duplicates, ` +
      `${summary.events.rejected} rejected, ${summary.events.ignored} ignored); cutoff ${summary.cutoff}`,
    '',
    '## Personas',
    ...summary.personas.map((p) => `- ${p.name} (${p.size} contacts): ${p.description}`),
    `- adjusted Rand index against the simulator's personas: ${summary.personaAdjustedRandIndex.toFixed(3)}`,
    `- k = ${summary.personaK.k}, sampled silhouette ${summary.personaK.silhouette?.toFixed(3) ?? 'not computed'}`,
    '',
    '## Churn',
    `- ROC AUC on the holdout (labels after the cutoff): ${summary.churn.testRocAuc.toFixed(3)}`,
    `- Brier score: ${summary.churn.testBrier.toFixed(3)}; churn rate: train ${(summary.churn.trainChurnRate * 100).toFixed(1)}%, ` +
      `validation ${(summary.churn.validationChurnRate * 100).toFixed(1)}%, holdout ${(summary.churn.testChurnRate * 100).toFixed(1)}%`,
    '- candidates, calibrated on the validation window and chosen by its PR AUC:',
    ...summary.churnModels.candidates.map(
      (candidate) => `  ${formatCandidate(candidate, summary.churnModels.chosen)}`,
    ),
    '',
    '## Scoring API',
    `- ${summary.scoring.contacts} contacts scored in one POST /v1/score in ${summary.scoring.milliseconds.toFixed(0)} ms, ` +
      `${summary.scoring.errors} errors; persona agrees with offline training for ${(summary.scoring.agreesWithOffline * 100).toFixed(1)}%`,
    '',
    '## Drift (PSI, the window personas were fitted on against the next one)',
    `- reference ${summary.drift.reference}, current ${summary.drift.current}: ` +
      `${summary.drift.moderateOrMajor} features with PSI >= 0.1; the five largest:`,
    ...summary.drift.top.map((d) => `- ${d.feature}: ${d.psi.toFixed(3)} (${d.level})`),
    '',
    '## Time per step (s)',
    ...Object.entries(summary.stepSeconds).map(
      ([name, seconds]) => `- ${name}: ${seconds.toFixed(1)}`,
    ),
    '',
    `Bundle: ${summary.bundle.dir}`,
    `Training report (HTML): ${join(summary.bundle.dir, 'report.html')}`,
    `Report: ${summary.reportFile}`,
  ]
  return `${lines.join('\n')}\n`
}

/**
 * The main job end to end on a fresh embedded store: simulate, ingest
 * through the webhook adapters, compute features, train personas and churn,
 * publish a bundle, score over HTTP, check drift and write a report.
 */
export async function runDemo(
  config: Readonly<Config>,
  options: DemoOptions,
  log: (line: string) => void,
): Promise<DemoSummary> {
  const times: Record<string, number> = {}
  const step = stepTimer(times, log)
  const simDir = join(options.workDir, 'simulation')
  const chdbPath = join(options.workDir, 'clickhouse')
  await rm(options.workDir, { recursive: true, force: true })
  await mkdir(options.workDir, { recursive: true })

  const simulation = await step('simulate', async () => {
    const progress = startProgress('simulate')
    const summary = await simulate(
      { contacts: options.contacts, days: options.days, seed: options.seed, outDir: simDir },
      (done, total) => progress.update(done, total),
    )
    progress.stop()
    return summary
  })
  const cutoffMs = Date.parse(simulation.cutoff)

  const store = await openStore({ ...config.clickhouse, chdbPath })
  try {
    const events = await step('ingest', async () => {
      const contacts = await importContactsCsv(
        store.client,
        await readFile(join(simDir, 'contacts.csv'), 'utf8'),
        'file:contacts.csv',
      )
      const counts = await ingestFolder(store, join(simDir, 'sendgrid'), 'sendgrid')
      addCounts(counts, await ingestFolder(store, join(simDir, 'ses'), 'ses'))
      log(
        `    ${contacts.stored} contacts, ${counts.stored} events stored, ${counts.rejected} rejected`,
      )
      return { counts, contacts: contacts.stored }
    })

    const trainOptions = {
      name: options.bundleName,
      modelsDir: config.modelsDir,
      asOfMs: cutoffMs,
      horizonDays: options.horizonDays,
      k: options.k,
      seed: options.seed,
      defaultZone: config.defaultTimeZone,
    }
    const data = await step('features', () => prepareTrainingData(store.client, trainOptions))
    const trained = await step('train', async () => {
      const progress = startStageProgress()
      return fitBundle(data, trainOptions, (event) => progress.update(event)).finally(() =>
        progress.stop(),
      )
    })

    const truth = await readTruth(join(simDir, 'truth.csv'))
    const ari = personaAgreement(trained, truth)
    const scoring = await step('score', () => scoreOverHttp(config, store, trained, options))

    const drift = await step('drift', async () => {
      const laterMs = cutoffMs + options.horizonDays * DAY_MS
      const later = await computeFeatures(store.client, laterMs, config.defaultTimeZone)
      const drifts = compareFeatures(trained.test, later)
      return {
        reference: new Date(trained.test.asOfMs).toISOString(),
        current: new Date(laterMs).toISOString(),
        top: drifts.slice(0, 5),
        moderateOrMajor: drifts.filter((d) => d.level !== 'stable').length,
      }
    })

    const reportFile = join(options.workDir, 'report.md')
    const summary: DemoSummary = {
      options,
      events: events.counts,
      contacts: events.contacts,
      cutoff: simulation.cutoff,
      personas: trained.personas.personas.map(({ id, name, size, description }) => ({
        id,
        name,
        size,
        description,
      })),
      personaAdjustedRandIndex: ari,
      personaK: { k: trained.personas.chosenK, silhouette: trained.personas.silhouette },
      churn: trained.churn.metrics,
      churnModels: summarizeChurnModels(trained.churn),
      scoring,
      drift,
      bundle: { dir: trained.dir, version: trained.manifest.version },
      stepSeconds: times,
      reportFile,
    }
    const text = formatSummary(summary)
    await writeFile(reportFile, text)
    await writeFile(join(options.workDir, 'report.json'), `${JSON.stringify(summary, null, 2)}\n`)
    log(text)
    return summary
  } finally {
    await store.close()
  }
}
