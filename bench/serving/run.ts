/**
 * Serving benchmark: our scoring API against a FastAPI + scikit-learn peer, both on loopback,
 * with contacts given by their features.
 *
 *   node --import tsx bench/serving/run.ts --python /usr/bin/python3
 *
 * Builds a small simulated store and a bundle, and trains the peer's models on the same
 * matrices. Then it starts both servers as child processes and drives POST /v1/score with
 * autocannon: one and 100 contacts per request at saturation. One contact per request is also
 * sent at half of each server's own saturation rate, paced (paced.ts) and with autocannon's rate.
 */
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { adjustedRandIndex } from '../../src/ml/metrics.ts'
import { fixed, printTable } from '../training/table.ts'
import { runLoad, type LoadResult, type Target } from './load.ts'
import { runPacedLoad } from './paced.ts'
import { PEER_SCRIPT, startOurServer, startPeerServer, stopServer, type Server } from './servers.ts'
import { buildStore, writePeerData, type BuiltStore } from './store.ts'

const USAGE = `Usage: node --import tsx bench/serving/run.ts [options]

  --contacts N          simulated contacts of the store (default 2000)
  --days N              simulated days; training needs more than twice the 30-day
                        horizon before the cutoff (default 150)
  --k N                 personas (default 8)
  --trees N             trees of the churn forest, ours and the peer's (default 100)
  --seed N              seed of the simulation and training (default 7)
  --duration S          seconds per measurement, after a 3 s warm-up (default 10)
  --connections N       connections at saturation (default 32)
  --rate-connections N  connections for the half-rate run (default 32)
  --workers N           uvicorn workers of the peer (default 2)
  --python PATH         Python with scikit-learn, FastAPI and uvicorn (default python3)
  --our-port N          loopback port of our API (default 18080)
  --peer-port N         loopback port of the peer (default 18081)
  --no-peer             measure our server only
  --profile-dir DIR     run our server with --cpu-prof and write its CPU profile to DIR
  --dir DIR             folder for the store, bundle and peer models, deleted at the end
                        (default: a folder under the system temp folder)
  --help                print this help`

interface Options {
  contacts: number
  days: number
  k: number
  trees: number
  seed: number
  duration: number
  connections: number
  rateConnections: number
  workers: number
  python: string
  ourPort: number
  peerPort: number
  profileDir: string | undefined
  peer: boolean
  dir: string
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Invalid --${name} ${JSON.stringify(text)}: expected a positive integer`)
  }
  return value
}

function parseOptions(argv: string[]): Options {
  const defaults: Record<string, string> = {
    contacts: '2000',
    days: '150',
    k: '8',
    trees: '100',
    seed: '7',
    duration: '10',
    connections: '32',
    'rate-connections': '32',
    workers: '2',
    'our-port': '18080',
    'peer-port': '18081',
  }
  const { values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(
        Object.entries(defaults).map(([name, value]) => [name, { type: 'string', default: value }]),
      ),
      python: { type: 'string', default: 'python3' },
      dir: { type: 'string' },
      'profile-dir': { type: 'string' },
      'no-peer': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    } as Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>,
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const number = (name: string) => positiveInteger(name, values[name] as string)
  const dir =
    (values.dir as string | undefined) ??
    join(tmpdir(), 'contact-segments-bench', `serving-${process.pid}`)
  return {
    contacts: number('contacts'),
    days: number('days'),
    k: number('k'),
    trees: number('trees'),
    seed: number('seed'),
    duration: number('duration'),
    connections: number('connections'),
    rateConnections: number('rate-connections'),
    workers: number('workers'),
    python: values.python as string,
    ourPort: number('our-port'),
    peerPort: number('peer-port'),
    peer: !values['no-peer'],
    profileDir:
      values['profile-dir'] === undefined ? undefined : resolve(values['profile-dir'] as string),
    dir: resolve(dir),
  }
}

/** Request bodies of `batch` contacts each, drawn in turn from the rows of the test matrix. */
function buildBodies(built: BuiltStore, batch: number, count: number): string[] {
  const { featureNames, matrix } = built.trained.test
  const bodies: string[] = []
  let row = 0
  for (let b = 0; b < count; b++) {
    const contacts = []
    for (let c = 0; c < batch; c++) {
      const offset = (row++ % matrix.rows) * matrix.cols
      const features = Object.fromEntries(
        featureNames.map((name, j) => [name, matrix.data[offset + j] as number]),
      )
      contacts.push({ features })
    }
    bodies.push(JSON.stringify({ contacts }))
  }
  return bodies
}

interface ScoreResponse {
  results: { persona?: { id: number }; churn?: { probability: number }; error?: unknown }[]
}

async function score(target: Target, body: string): Promise<ScoreResponse> {
  const response = await fetch(`${target.baseUrl}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.apiKey}` },
    body,
  })
  const text = await response.text()
  if (response.status !== 200) {
    throw new Error(
      `${target.name} returned ${response.status} for /v1/score: ${text.slice(0, 500)}`,
    )
  }
  return JSON.parse(text) as ScoreResponse
}

interface ScoredReason {
  feature: string
}

/**
 * Scores the same 100 contacts on both servers and prints how far the responses agree. Both
 * train on the same matrices but with different learners, so agreement is high, not exact.
 * Throws when a server returns an error for any contact.
 */
async function compareResponses(ours: Target, peer: Target, body: string): Promise<void> {
  const [a, b] = [await score(ours, body), await score(peer, body)]
  for (const [name, response] of [
    [ours.name, a],
    [peer.name, b],
  ] as const) {
    const failed = response.results.find((result) => result.error || !result.persona)
    if (failed) throw new Error(`${name} did not score a contact: ${JSON.stringify(failed)}`)
  }
  const ids = (response: ScoreResponse) => response.results.map((result) => result.persona!.id)
  const churn = (response: ScoreResponse) =>
    response.results.map((result) => result.churn!.probability)
  const ourChurn = churn(a)
  const peerChurn = churn(b)
  const meanAbsolute =
    ourChurn.reduce((sum, p, i) => sum + Math.abs(p - (peerChurn[i] as number)), 0) /
    ourChurn.length
  const firstReason = (response: ScoreResponse, i: number) =>
    (response.results[i] as { reasons?: ScoredReason[] }).reasons?.[0]?.feature
  const sameFirstReason = a.results.filter(
    (_, i) => firstReason(b, i) !== undefined && firstReason(a, i) === firstReason(b, i),
  ).length
  console.log(
    `${ours.name} and ${peer.name} on 100 contacts: persona ARI ` +
      `${fixed(adjustedRandIndex(ids(a), ids(b)), 3)}, mean |churn probability difference| ` +
      `${fixed(meanAbsolute, 3)}, same first churn reason for ${sameFirstReason}`,
  )
}

interface Measurement extends LoadResult {
  server: string
  batch: number
  connections: number
  rate: string
  load: string
}

/**
 * How a measurement sends its requests: autocannon as fast as responses come, autocannon's
 * own rate limit (bursts at the start of each second), or paced requests at evenly spaced times.
 */
type Pacing =
  | { kind: 'saturation' }
  | { kind: 'autocannon-rate'; rate: number }
  | { kind: 'paced'; rate: number }

function sendLoad(
  target: Target,
  bodies: string[],
  connections: number,
  durationSeconds: number,
  pacing: Pacing,
): Promise<LoadResult> {
  if (pacing.kind === 'paced') {
    return runPacedLoad(target, { bodies, connections, durationSeconds, rate: pacing.rate })
  }
  const overallRate = pacing.kind === 'autocannon-rate' ? pacing.rate : undefined
  return runLoad(target, { bodies, connections, durationSeconds, overallRate })
}

const pacingLabel = (pacing: Pacing) =>
  pacing.kind === 'saturation'
    ? 'saturation'
    : `${pacing.rate}/s ${pacing.kind === 'paced' ? 'paced' : 'bursts'}`

/**
 * Waits until our server's score log has inserted every row the last measurement left queued
 * or spooled, so that those inserts do not load the next measurement. A server whose /readyz
 * reports no score log, such as the peer, returns at once.
 */
async function scoreLogDrained(target: Target, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const response = await fetch(`${target.baseUrl}/readyz`)
    const body = (await response.json().catch(() => ({}))) as {
      scoreLog?: { memoryRows: number; spoolRows: number }
    }
    if (!body.scoreLog) return
    if (body.scoreLog.memoryRows + body.scoreLog.spoolRows === 0) return
    if (Date.now() > deadline) {
      throw new Error(`${target.name}: score log still has rows after ${timeoutMs} ms`)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

async function measure(
  target: Target,
  bodies: string[],
  batch: number,
  connections: number,
  duration: number,
  pacing: Pacing = { kind: 'saturation' },
): Promise<Measurement> {
  await sendLoad(target, bodies, connections, 3, pacing)
  const result = await sendLoad(target, bodies, connections, duration, pacing)
  const load = loadavg()[0]!.toFixed(2)
  // Requests that autocannon gave up on may still be queued in the server. Scoring one more
  // contact and waiting for it lets that backlog drain before the next measurement.
  await score(target, bodies[0] as string)
  await scoreLogDrained(target)
  const rate = pacingLabel(pacing)
  console.log(
    `${target.name}, ${batch} per request, ${connections} connections, ${rate}: ` +
      `${fixed(result.requestsPerSecond, 0)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ` +
      `${result.failures} failures (load ${load})`,
  )
  return { ...result, server: target.name, batch, connections, rate, load }
}

interface Bodies {
  single: string[]
  hundred: string[]
}

/**
 * Measures one server: one contact per request at saturation, then at half that rate paced
 * and with autocannon's bursts, then 100 contacts per request at saturation.
 */
async function measureServer(options: Options, target: Target, bodies: Bodies) {
  const { connections, duration, rateConnections } = options
  const saturated = await measure(target, bodies.single, 1, connections, duration)
  const rate = Math.max(1, Math.round(saturated.requestsPerSecond / 2))
  const paced = await measure(target, bodies.single, 1, rateConnections, duration, {
    kind: 'paced',
    rate,
  })
  const bursts = await measure(target, bodies.single, 1, rateConnections, duration, {
    kind: 'autocannon-rate',
    rate,
  })
  const hundred = await measure(target, bodies.hundred, 100, connections, duration)
  return [saturated, paced, bursts, hundred]
}

function printResults(measurements: Measurement[]): void {
  console.log('\nPOST /v1/score with features, loopback')
  printTable(
    [
      'server',
      'contacts/request',
      'connections',
      'rate',
      'req/s',
      'contacts/s',
      'p50 ms',
      'p99 ms',
      'failures',
      'load',
    ],
    measurements.map((m) => [
      m.server,
      `${m.batch}`,
      `${m.connections}`,
      m.rate,
      fixed(m.requestsPerSecond, 0),
      fixed(m.requestsPerSecond * m.batch, 0),
      `${m.p50Ms}`,
      `${m.p99Ms}`,
      `${m.failures}`,
      m.load,
    ]),
  )
  const saturation = (server: string, batch: number) =>
    measurements.find((m) => m.server === server && m.batch === batch && m.rate === 'saturation')
  for (const peer of [PEER, PEER_WITH_REASONS]) {
    for (const batch of [1, 100]) {
      const ours = saturation(OURS, batch)
      const theirs = saturation(peer, batch)
      if (!ours || !theirs) continue
      const ratio = ours.requestsPerSecond / theirs.requestsPerSecond
      console.log(`throughput ratio ours / ${peer} at ${batch} per request: ${fixed(ratio)}`)
    }
  }
  for (const kind of ['paced', 'bursts']) {
    const halfRate = measurements.find(
      (m) => m.server === OURS && m.batch === 1 && m.rate.endsWith(kind),
    )
    console.log(
      `our single-contact p99 at half our saturation rate, ${kind}: ${halfRate?.p99Ms} ms`,
    )
  }
}

const OURS = 'ours'
const PEER = 'FastAPI'
const PEER_WITH_REASONS = 'FastAPI + reasons'

async function trainPeer(options: Options, built: BuiltStore): Promise<string> {
  const peerDir = join(options.dir, 'peer')
  writePeerData(peerDir, built)
  const child = spawnSync(options.python, [PEER_SCRIPT, 'train', peerDir], { encoding: 'utf8' })
  if (child.status !== 0) throw new Error(`peer.py train failed:\n${child.stderr}`)
  return peerDir
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2))
  console.log(
    `machine: ${cpus().length} CPUs (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
  )
  console.log(`node ${process.version}, load average ${loadavg().map((v) => v.toFixed(2))}`)
  const servers: Server[] = []
  try {
    console.log(`building a store of ${options.contacts} contacts over ${options.days} days`)
    const built = await buildStore({ ...options, dir: options.dir })
    const { churn } = built.trained.manifest
    console.log(`bundle ${built.trained.manifest.version}: churn model ${churn.modelKind}`)
    // Without the peer, Python and scikit-learn are not needed.
    const peerDir = options.peer ? await trainPeer(options, built) : ''
    const bodies = { single: buildBodies(built, 1, 256), hundred: buildBodies(built, 100, 32) }

    const apiKey = randomBytes(32).toString('hex')
    const apiKeySha256 = createHash('sha256').update(apiKey, 'utf8').digest('hex')
    const ourServer = await startOurServer({
      port: options.ourPort,
      chdbPath: built.chdbPath,
      modelsDir: built.modelsDir,
      apiKeysValue: `bench:score:${apiKeySha256}`,
      spoolDir: join(options.dir, 'score-log-spool'),
      profileDir: options.profileDir,
    })
    servers.push(ourServer)
    const ours: Target = { ...ourServer, name: OURS, apiKey }
    const measurements: Measurement[] = []
    measurements.push(...(await measureServer(options, ours, bodies)))

    const peers = [
      [PEER, false],
      [PEER_WITH_REASONS, true],
    ] as const
    for (const [name, reasons] of options.peer ? peers : []) {
      const peerServer = await startPeerServer({
        python: options.python,
        port: options.peerPort,
        workers: options.workers,
        modelDir: peerDir,
        apiKeySha256,
        reasons,
      })
      servers.push(peerServer)
      const peer: Target = { ...peerServer, name, apiKey }
      await compareResponses(ours, peer, bodies.hundred[0] as string)
      measurements.push(...(await measureServer(options, peer, bodies)))
      await stopServer(peerServer)
    }
    printResults(measurements)
  } finally {
    for (const server of servers) await stopServer(server)
    rmSync(options.dir, { recursive: true, force: true })
  }
  console.log(`\nload average at the end: ${loadavg().map((v) => v.toFixed(2))}`)
}

await main()
