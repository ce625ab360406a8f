/**
 * Feature query benchmark on embedded chDB.
 *
 *   node --import tsx bench/features/run.ts --events 10000000 --contacts 1000000 [--dir DIR]
 *
 * A child process builds the data set (or finds it already built) and exits,
 * so the memory figures of this process cover only the measured queries.
 * Then `computeFeatures` and a bare GROUP BY contact_key over the same rows
 * run `--repeats` times each, followed by the stage probes of stages.ts.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { availableParallelism, cpus, totalmem, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { ClickHouseClient } from '@clickhouse/client'
import { computeFeatures, listTimeZones } from '../../src/features/compute.ts'
import { buildFeatureQuery } from '../../src/features/sql.ts'
import { openStore, type Store } from '../../src/store/client.ts'
import { CUTOFF_MS, ensureDataset } from './dataset.ts'
import { maxRssBytes, measure, median, mib, type Measurement } from './measure.ts'
import { execDiscarding, runProbes } from './stages.ts'

const USAGE = `Usage: node --import tsx bench/features/run.ts [options]

  --events N         events to generate (default 10000000)
  --contacts N       contacts to spread them over (default 1000000)
  --dir DIR          chDB data folder; reused when it holds the same data set
                     (default: a folder per size under the system temp folder)
  --repeats N        runs of each measured query; the median is reported (default 3)
  --stage-repeats N  runs of each stage probe and of the feature SQL without
                     Node (FORMAT Null, unparsed JSON) (default 1)
  --no-stages        skip the stage probes
  --no-split         skip the feature SQL runs without Node (FORMAT Null, unparsed JSON)
  --max-memory-gb N  sets chDB's max_memory_usage for the measuring session, in GiB,
                     to protect a shared machine (default: chDB's own limits)
  --zone ZONE        default time zone for contacts without one (default UTC)
  --help             print this help`

interface Options {
  events: number
  contacts: number
  dir: string
  repeats: number
  stageRepeats: number
  stages: boolean
  split: boolean
  maxMemoryGb: number | undefined
  zone: string
  buildOnly: boolean
}

function positiveInteger(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid --${name} ${JSON.stringify(text)}: expected a positive integer`)
  }
  return value
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string' },
      contacts: { type: 'string' },
      dir: { type: 'string' },
      repeats: { type: 'string' },
      'stage-repeats': { type: 'string' },
      'no-stages': { type: 'boolean', default: false },
      'no-split': { type: 'boolean', default: false },
      'max-memory-gb': { type: 'string' },
      zone: { type: 'string', default: 'UTC' },
      // Internal: set on the child process that builds the data set.
      'build-only': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const events = positiveInteger('events', values.events, 10_000_000)
  const contacts = positiveInteger('contacts', values.contacts, 1_000_000)
  const dir =
    values.dir ?? join(tmpdir(), 'contact-segments-bench', `features-${events}-${contacts}`)
  return {
    events,
    contacts,
    dir: resolve(dir),
    repeats: positiveInteger('repeats', values.repeats, 3),
    stageRepeats: positiveInteger('stage-repeats', values['stage-repeats'], 1),
    stages: !values['no-stages'],
    split: !values['no-split'],
    maxMemoryGb:
      values['max-memory-gb'] === undefined
        ? undefined
        : positiveInteger('max-memory-gb', values['max-memory-gb'], 0),
    zone: values.zone,
    buildOnly: values['build-only'],
  }
}

function open(dir: string): Promise<Store> {
  return openStore({
    chdbPath: dir,
    user: 'default',
    password: '',
    database: 'default',
    requestTimeoutMs: 30_000,
    url: undefined,
  })
}

async function firstValue(
  client: ClickHouseClient,
  query: string,
  params: Record<string, unknown> = {},
) {
  const result = await client.query({ query, query_params: params, format: 'JSONCompactEachRow' })
  const rows = await result.json<unknown[]>()
  return rows[0]?.[0]
}

/** Builds the data set in a child process, which releases the data folder when it exits. */
function buildInChild(options: Options): void {
  const script = fileURLToPath(import.meta.url)
  const args = [
    ...process.execArgv,
    script,
    '--build-only',
    '--events',
    String(options.events),
    '--contacts',
    String(options.contacts),
    '--dir',
    options.dir,
  ]
  const child = spawnSync(process.execPath, args, { stdio: 'inherit' })
  if (child.status !== 0) {
    throw new Error(
      `Building the data set in ${options.dir} failed (exit status ${child.status}, signal ${child.signal})`,
    )
  }
}

const BARE_GROUP_BY = `SELECT count(), sum(c) FROM (
  SELECT contact_key, count() AS c FROM events
  WHERE occurred_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')
    AND occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')
  GROUP BY contact_key)`

function describeRun(label: string, run: Measurement<unknown>, detail: string): void {
  console.log(
    `${label}: ${run.seconds.toFixed(2)} s, CPU ${run.processCpuSeconds.toFixed(2)} s ` +
      `(engine threads ${run.cpuSeconds.toFixed(2)} s), load average ${run.loadAverage.toFixed(1)}, ` +
      `peak RSS ${mib(run.memory.rss)} (heap ${mib(run.memory.heapUsed)}, buffers ${mib(run.memory.arrayBuffers)}, ` +
      `${run.memory.samples} samples), ` +
      `spilled parts ${run.counters.ExternalSortWritePart + run.counters.ExternalAggregationWritePart}, ${detail}`,
  )
}

async function printMachine(client: ClickHouseClient): Promise<void> {
  const model = cpus()[0]?.model ?? 'unknown'
  console.log(
    `Machine: ${availableParallelism()} CPUs (${model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory`,
  )
  console.log(
    `Node ${process.version}, chDB engine ${String(await firstValue(client, 'SELECT version()'))}`,
  )
  console.log(
    `Engine max_threads: ${String(await firstValue(client, "SELECT value FROM system.settings WHERE name = 'max_threads'"))}`,
  )
}

async function printTable(client: ClickHouseClient): Promise<number> {
  const params = { to: CUTOFF_MS }
  const total = Number(await firstValue(client, 'SELECT count() FROM events'))
  const before = Number(
    await firstValue(
      client,
      "SELECT count() FROM events WHERE occurred_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')",
      params,
    ),
  )
  const parts = await firstValue(
    client,
    "SELECT count() FROM system.parts WHERE table = 'events' AND active",
  )
  const bytes = Number(
    await firstValue(
      client,
      "SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'events' AND active",
    ),
  )
  const mix = await client.query({
    query: 'SELECT type, count() AS n FROM events GROUP BY type ORDER BY type',
    format: 'JSONCompactEachRow',
  })
  const types = (await mix.json<[string, number][]>()).map(([type, n]) => `${type} ${n}`).join(', ')
  console.log(
    `Events: ${total} in ${String(parts)} parts, ${mib(bytes)} on disk; ${before} before the cutoff ${new Date(CUTOFF_MS).toISOString()}`,
  )
  console.log(`Event types: ${types}`)
  return before
}

async function explainPipeline(client: ClickHouseClient, zone: string): Promise<void> {
  const sql = buildFeatureQuery({ zones: await listTimeZones(client), defaultZone: zone })
  const result = await client.query({
    query: `EXPLAIN PIPELINE ${sql}`,
    query_params: { from: 0, to: CUTOFF_MS },
    format: 'TabSeparatedRaw',
  })
  // The fingerprint identifies the version of sql.ts that a log was measured with.
  const fingerprint = createHash('sha256').update(sql).digest('hex').slice(0, 12)
  console.log(`Feature query: ${sql.length} characters, sha256 ${fingerprint}`)
  console.log('EXPLAIN PIPELINE of the feature query:')
  console.log(await result.text())
}

async function benchmark(options: Options): Promise<void> {
  buildInChild(options)
  const store = await open(options.dir)
  const { client } = store
  try {
    await printMachine(client)
    if (options.maxMemoryGb !== undefined) {
      // chDB keeps a SET for the rest of the session, so it covers every later query.
      await client.command({ query: `SET max_memory_usage = ${options.maxMemoryGb * 2 ** 30}` })
      console.log(`chDB max_memory_usage: ${options.maxMemoryGb} GiB`)
    }
    console.log(`RSS after opening the store: ${mib(process.memoryUsage().rss)}`)
    const eventsBefore = await printTable(client)
    const params = { from: 0, to: CUTOFF_MS }

    const featureRuns: Measurement<number>[] = []
    const bareRuns: Measurement<string>[] = []
    for (let run = 1; run <= options.repeats; run++) {
      const features = await measure(client, async () => {
        const matrix = await computeFeatures(client, CUTOFF_MS, options.zone)
        return matrix.contactKeys.length
      })
      describeRun(`computeFeatures run ${run}`, features, `${features.value} rows`)
      featureRuns.push(features)

      const bare = await measure(client, async () => {
        const result = await client.query({
          query: BARE_GROUP_BY,
          query_params: params,
          format: 'JSONCompactEachRow',
        })
        return JSON.stringify(await result.json())
      })
      describeRun(`bare GROUP BY run ${run}`, bare, `result ${bare.value}`)
      bareRuns.push(bare)
    }

    // Engine time alone: the same SQL with the rows discarded inside chDB.
    const featureQuery = buildFeatureQuery({
      zones: await listTimeZones(client),
      defaultZone: options.zone,
    })
    const engineRuns: Measurement<number>[] = []
    const serializedRuns: Measurement<number>[] = []
    const splitRuns = options.split ? options.stageRepeats : 0
    for (let run = 1; run <= splitRuns; run++) {
      const engine = await measure(client, () => execDiscarding(client, featureQuery, params))
      describeRun(`feature query FORMAT Null run ${run}`, engine, 'rows discarded in chDB')
      engineRuns.push(engine)
      const serialized = await measure(client, () =>
        execDiscarding(client, featureQuery, params, 'JSONCompactEachRow'),
      )
      describeRun(
        `feature query JSONCompactEachRow run ${run}`,
        serialized,
        `${mib(serialized.value)} of JSON, not parsed`,
      )
      serializedRuns.push(serialized)
    }

    const featureSeconds = median(featureRuns.map((run) => run.seconds))
    const bareSeconds = median(bareRuns.map((run) => run.seconds))
    const featurePeak = Math.max(...featureRuns.map((run) => run.memory.rss))
    const rows = featureRuns[0]?.value ?? 0

    console.log('')
    console.log(
      `Summary for ${options.events} events, ${options.contacts} contacts, ${eventsBefore} events before the cutoff:`,
    )
    console.log(
      `  computeFeatures median ${featureSeconds.toFixed(2)} s, ${(eventsBefore / featureSeconds / 1e6).toFixed(2)}M events/s, ${rows} rows`,
    )
    const featureCpu = median(featureRuns.map((run) => run.processCpuSeconds))
    const bareCpu = median(bareRuns.map((run) => run.processCpuSeconds))
    console.log(
      `  computeFeatures CPU median ${featureCpu.toFixed(2)} s, ` +
        `${(eventsBefore / featureCpu / 1e6).toFixed(2)}M events per CPU second; ` +
        `bare GROUP BY CPU ${bareCpu.toFixed(2)} s, CPU ratio ${(featureCpu / bareCpu).toFixed(1)}`,
    )
    console.log(
      `  bare GROUP BY median ${bareSeconds.toFixed(2)} s, ratio ${(featureSeconds / bareSeconds).toFixed(1)}`,
    )
    if (engineRuns.length > 0) {
      const engineSeconds = median(engineRuns.map((run) => run.seconds))
      const serializedSeconds = median(serializedRuns.map((run) => run.seconds))
      console.log(
        `  feature SQL in chDB alone (FORMAT Null) median ${engineSeconds.toFixed(2)} s, ` +
          `with JSON output ${serializedSeconds.toFixed(2)} s`,
      )
    }
    console.log(
      `  peak RSS sampled during computeFeatures ${mib(featurePeak)}, process maxRSS ${mib(maxRssBytes())}`,
    )
    console.log(
      `| ${options.events} | ${featureSeconds.toFixed(2)} | ${(eventsBefore / featureSeconds / 1e6).toFixed(2)}M | ` +
        `${bareSeconds.toFixed(2)} | ${(featureSeconds / bareSeconds).toFixed(1)} | ${mib(featurePeak)} | ${mib(maxRssBytes())} |`,
    )
    console.log('')

    await explainPipeline(client, options.zone)
    if (options.stages) await runProbes(client, options.zone, params, options.stageRepeats)
    console.log(`Process maxRSS at the end: ${mib(maxRssBytes())}`)
  } finally {
    await store.close()
  }
}

async function buildOnly(options: Options): Promise<void> {
  const store = await open(options.dir)
  try {
    await ensureDataset(store.client, { events: options.events, contacts: options.contacts })
  } finally {
    await store.close()
  }
}

const options = parseOptions(process.argv.slice(2))
if (options.buildOnly) await buildOnly(options)
else await benchmark(options)
