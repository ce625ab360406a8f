/**
 * Training jobs on a real BullMQ queue in the Redis at 127.0.0.1:6379, run by
 * real `segments worker` child processes on a real chDB store. Each test uses
 * its own queue prefix and removes that queue's keys afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { QueueEvents } from 'bullmq'
import type { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, type Config } from '../../src/config/index.ts'
import { connectRedis } from '../../src/queue/connection.ts'
import { trainingJobId } from '../../src/queue/training-job.ts'
import {
  enqueueTraining,
  openTrainingQueue,
  type TrainingJob,
  type TrainingQueue,
} from '../../src/queue/training-queue.ts'
import { listVersions, loadBundle, publishBundle, readChampion } from '../../src/registry/bundle.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const REDIS_URL = 'redis://127.0.0.1:6379'
const REPOSITORY_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CLI = join(REPOSITORY_ROOT, 'bin', 'segments.js')
/** Short lock and backoff so a killed worker's job is recovered, and a retry starts, within seconds. */
const LOCK_SECONDS = 4
const BACKOFF_SECONDS = 2
/** Limit of one job's wait and of each test; generous, because the machine is shared with other suites. */
const JOB_TIMEOUT_MS = 120_000

let trained: TrainedStore
let redis: Redis

interface WorkerProcess {
  child: ChildProcess
  /** pino JSON lines written so far. */
  logs: Record<string, unknown>[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

interface QueueSetup {
  prefix: string
  modelsDir: string
  /** Configuration the workers of this queue read from `env`. */
  config: Readonly<Config>
  queue: TrainingQueue
  events: QueueEvents
  env: Record<string, string>
}

const setups: QueueSetup[] = []
const workers: WorkerProcess[] = []

/** Environment of every child: ours without SEGMENTS_ variables, plus the test's own. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('SEGMENTS_') && name !== 'REDIS_URL') env[name] = value
  }
  return { ...env, ...extra }
}

/** Creates a queue under a fresh prefix, with a models folder of its own. */
async function setUpQueue(label: string): Promise<QueueSetup> {
  const prefix = `test-jobs-${label}-${randomUUID().slice(0, 8)}`
  const modelsDir = join(trained.root, `models-${label}`)
  const env = {
    REDIS_URL,
    SEGMENTS_QUEUE_PREFIX: prefix,
    SEGMENTS_CHDB_PATH: trained.env.SEGMENTS_CHDB_PATH!,
    SEGMENTS_MODELS_DIR: modelsDir,
    SEGMENTS_JOB_LOCK_SECONDS: String(LOCK_SECONDS),
    SEGMENTS_JOB_BACKOFF_SECONDS: String(BACKOFF_SECONDS),
    SEGMENTS_JOB_ATTEMPTS: '3',
    SEGMENTS_LOG_LEVEL: 'info',
  }
  const config = loadConfig(env)
  const queue = openTrainingQueue(redis, config)
  const events = new QueueEvents('training', { connection: { url: REDIS_URL }, prefix })
  await events.waitUntilReady()
  const setup = { prefix, modelsDir, config, queue, events, env }
  setups.push(setup)
  return setup
}

/** Starts `segments worker` and resolves once it logs that it started. */
async function startWorker(setup: QueueSetup): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, 'worker'], {
    cwd: REPOSITORY_ROOT,
    env: childEnv(setup.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Record<string, unknown>[] = []
  let stderr = ''
  let buffered = ''
  child.stdout!.setEncoding('utf8')
  child.stderr!.setEncoding('utf8')
  child.stderr!.on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close' rather than 'exit', so every log line has been read by then.
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  const started = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines.filter((text) => text.trim() !== '')) {
        const entry = JSON.parse(line) as Record<string, unknown>
        logs.push(entry)
        if (entry.msg === 'training worker started') resolve()
      }
    })
    void exited.then(({ code }) =>
      reject(new Error(`worker exited with code ${code} before it started: ${stderr}`)),
    )
  })
  const worker = { child, logs, exited }
  workers.push(worker)
  await started
  return worker
}

/** Runs the CLI to its end and returns its exit code and output. */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: REPOSITORY_ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => (stdout += chunk))
  child.stderr.on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Builds the training request every test sends, on the store's simulated data. */
function request(name: string, overrides: Record<string, unknown> = {}) {
  return {
    name,
    asOf: new Date(trained.cutoffMs).toISOString(),
    horizonDays: 30,
    k: 4,
    seed: 11,
    trees: 10,
    ...overrides,
  }
}

/** Names of the entries of `dir`, or none when it does not exist. */
async function entriesOf(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

/** Resolves with the first progress of the job that the predicate accepts. */
function progressMatching(
  events: QueueEvents,
  jobId: string,
  accept: (progress: { stage?: string; percent?: number }) => boolean,
): Promise<{ stage?: string; percent?: number }> {
  return new Promise((resolve) => {
    const listener = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      const progress = data as { stage?: string; percent?: number }
      if (id !== jobId || !accept(progress)) return
      events.off('progress', listener)
      resolve(progress)
    }
    events.on('progress', listener)
  })
}

/**
 * Resolves with the first log entry of the worker that the predicate accepts. A job's state
 * can change in Redis before the worker's log line about it arrives, so tests wait for it.
 */
async function waitForLog(
  worker: WorkerProcess,
  accept: (entry: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + JOB_TIMEOUT_MS
  for (;;) {
    const entry = worker.logs.find(accept)
    if (entry) return entry
    if (Date.now() > deadline) throw new Error('the worker did not write the expected log line')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function stopWorker(worker: WorkerProcess) {
  if (worker.child.exitCode === null && worker.child.signalCode === null) {
    worker.child.kill('SIGTERM')
  }
  return worker.exited
}

beforeAll(async () => {
  // First, so a missing Redis fails the suite at once with a message naming it.
  redis = await connectRedis(REDIS_URL)
  trained = await setUpTrainedStore({ prefix: 'jobs-test', contacts: 400, days: 120 })
  // The workers own the store while they run, so this process lets it go.
  await trained.store.close()
}, 120_000)

afterEach(async () => {
  for (const worker of workers.splice(0)) {
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGKILL')
      await worker.exited
    }
  }
  for (const setup of setups.splice(0)) {
    await setup.events.close()
    await setup.queue.obliterate({ force: true })
    await setup.queue.close()
  }
})

afterAll(async () => {
  await redis?.quit()
  if (trained) await rm(trained.root, { recursive: true, force: true })
})

describe('segments worker', () => {
  it(
    'recovers a job from a killed worker',
    async () => {
      const setup = await setUpQueue('kill')
      const first = await startWorker(setup)
      const { job } = await enqueueTraining(setup.queue, request('killed'), setup.config)
      const jobId = String(job.id)

      const seen = await progressMatching(
        setup.events,
        jobId,
        (progress) => progress.stage !== undefined && progress.stage !== 'bundle',
      )
      first.child.kill('SIGKILL')
      const exit = await first.exited
      expect(exit.signal).toBe('SIGKILL')
      expect(seen.stage).not.toBe('bundle')

      // The kill came before the bundle stage: no version folder and no champion pointer.
      const bundleDir = join(setup.modelsDir, 'killed')
      expect(await job.getState()).toBe('active')
      expect(await listVersions(setup.modelsDir, 'killed')).toEqual([])
      expect(await readChampion(setup.modelsDir, 'killed')).toBeUndefined()
      expect((await entriesOf(bundleDir)).filter((name) => !name.startsWith('.tmp-'))).toEqual([])

      const second = await startWorker(setup)
      const result = await job.waitUntilFinished(setup.events, JOB_TIMEOUT_MS)
      const finished = (await setup.queue.getJob(jobId)) as TrainingJob
      expect(await finished.getState()).toBe('completed')
      expect(finished.stalledCounter).toBe(1)
      expect(finished.attemptsStarted).toBe(2)
      const stalled = await waitForLog(second, (entry) => String(entry.msg).includes('stalled'))
      expect(stalled.jobId).toBe(jobId)

      expect(await listVersions(setup.modelsDir, 'killed')).toEqual([result.version])
      expect(await readChampion(setup.modelsDir, 'killed')).toBe(result.version)
      expect((await entriesOf(bundleDir)).filter((name) => name.startsWith('.tmp-'))).toEqual([])
      const bundle = await loadBundle(join(bundleDir, result.version))
      expect(bundle.manifest.name).toBe('killed')
      expect(bundle.manifest.personas.list).toHaveLength(4)
      expect(result.dir).toBe(join(bundleDir, result.version))

      const exitAfterTerm = await stopWorker(second)
      expect(exitAfterTerm.code).toBe(0)
      expect(second.logs.at(-1)?.msg).toBe('training worker stopped')
    },
    JOB_TIMEOUT_MS * 2,
  )

  it(
    'finishes the running job on SIGTERM',
    async () => {
      const setup = await setUpQueue('term')
      const worker = await startWorker(setup)
      const { job } = await enqueueTraining(setup.queue, request('stopped'), setup.config)
      await progressMatching(
        setup.events,
        String(job.id),
        (progress) => progress.stage !== undefined,
      )
      worker.child.kill('SIGTERM')
      const exit = await worker.exited

      expect(exit.code).toBe(0)
      expect(await job.getState()).toBe('completed')
      const messages = worker.logs.map((entry) => entry.msg)
      const stopping = messages.indexOf('training worker stopping after the running job, if any')
      const completed = messages.indexOf('training job completed')
      expect(stopping).toBeGreaterThan(-1)
      expect(completed).toBeGreaterThan(stopping)
      expect(messages.at(-1)).toBe('training worker stopped')
      expect(await listVersions(setup.modelsDir, 'stopped')).toHaveLength(1)
    },
    JOB_TIMEOUT_MS,
  )

  it(
    'retries a failed job after backoff',
    async () => {
      const setup = await setUpQueue('retry')
      // A file where the bundle's folder belongs makes publishing fail with ENOTDIR.
      await mkdir(setup.modelsDir, { recursive: true })
      const blocker = join(setup.modelsDir, 'retried')
      await writeFile(blocker, 'not a folder')
      const worker = await startWorker(setup)
      const { job } = await enqueueTraining(setup.queue, request('retried'), setup.config)
      const jobId = String(job.id)

      let delayed = await setup.queue.getJob(jobId)
      while ((await delayed!.getState()) !== 'delayed') {
        await new Promise((resolve) => setTimeout(resolve, 50))
        delayed = await setup.queue.getJob(jobId)
      }
      expect(delayed!.attemptsMade).toBe(1)
      expect(delayed!.failedReason).toContain('ENOTDIR')
      await rm(blocker)

      const result = await job.waitUntilFinished(setup.events, JOB_TIMEOUT_MS)
      const finished = (await setup.queue.getJob(jobId)) as TrainingJob
      expect(finished.attemptsMade).toBe(2)
      expect(finished.opts.backoff).toEqual({ type: 'exponential', delay: BACKOFF_SECONDS * 1000 })
      expect(await listVersions(setup.modelsDir, 'retried')).toEqual([result.version])

      const failure = await waitForLog(
        worker,
        (entry) => entry.msg === 'training job failed; it will be retried',
      )
      expect(failure.jobId).toBe(jobId)
      expect(failure.willRetry).toBe(true)
      // The retry starts no sooner than the backoff after the failure. The failure is logged a
      // little after it is stored, hence the slack.
      expect(finished.processedOn! - (failure.time as number)).toBeGreaterThanOrEqual(
        BACKOFF_SECONDS * 1000 - 500,
      )
    },
    JOB_TIMEOUT_MS,
  )

  it(
    'fails invalid job data without retries',
    async () => {
      const setup = await setUpQueue('invalid')
      const worker = await startWorker(setup)
      // Added past enqueueTraining's validation, as another client might.
      const invalid = await setup.queue.add(
        'train',
        { ...request('Not-A-Name'), horizonDays: 0 } as never,
        { jobId: 'invalid-data', attempts: 3 },
      )
      await expect(invalid.waitUntilFinished(setup.events, JOB_TIMEOUT_MS)).rejects.toThrow(
        /Invalid training job data: name: expected a bundle name.*horizonDays: expected an integer from 1 to 3650/,
      )
      const failed = (await setup.queue.getJob('invalid-data')) as TrainingJob
      expect(await failed.getState()).toBe('failed')
      expect(failed.attemptsMade).toBe(1)
      const failure = await waitForLog(
        worker,
        (entry) => entry.msg === 'training job failed for good',
      )
      expect(failure.jobId).toBe('invalid-data')

      // The worker goes on with the next job.
      const { job } = await enqueueTraining(setup.queue, request('after-invalid'), setup.config)
      const result = await job.waitUntilFinished(setup.events, JOB_TIMEOUT_MS)
      expect(result.version).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/)
    },
    JOB_TIMEOUT_MS,
  )

  it(
    'rejects a second owner of the store',
    async () => {
      const setup = await setUpQueue('locked')
      const worker = await startWorker(setup)
      const asOf = new Date(trained.cutoffMs).toISOString()

      const inline = await runCli(['train', '--as-of', asOf, '--k', '4'], setup.env)
      expect(inline.code).toBe(1)
      expect(inline.stderr).toContain(
        `Cannot open the embedded ClickHouse data folder ${trained.env.SEGMENTS_CHDB_PATH}`,
      )
      expect(inline.stderr).toContain(`it is in use by process ${worker.child.pid}`)
      expect(inline.stderr).toContain('segments train --queue')

      const secondWorker = await runCli(['worker'], setup.env)
      expect(secondWorker.code).toBe(1)
      expect(secondWorker.stderr).toContain('Cannot open the embedded ClickHouse data folder')
    },
    JOB_TIMEOUT_MS,
  )
})

describe('segments train --queue and jobs status', () => {
  it(
    'adds one job per request',
    async () => {
      const setup = await setUpQueue('cli')
      const asOf = new Date(trained.cutoffMs).toISOString()
      const args = [
        'train',
        '--queue',
        '--as-of',
        asOf,
        '--k',
        '4',
        '--seed',
        '11',
        '--trees',
        '10',
      ]
      const first = await runCli([...args, '--name', 'cli'], setup.env)
      const again = await runCli([...args, '--name', 'cli'], setup.env)
      expect(first.code).toBe(0)
      expect(again.code).toBe(0)
      const added = JSON.parse(first.stdout) as { jobId: string; state: string; created: boolean }
      const repeated = JSON.parse(again.stdout) as typeof added
      const expectedId = trainingJobId({ ...request('cli'), asOf })
      expect(added).toEqual({ jobId: expectedId, state: 'waiting', created: true })
      expect(repeated).toEqual({ jobId: expectedId, state: 'waiting', created: false })
      expect(again.stderr).toContain(`already job ${expectedId} (waiting); nothing was added`)
      expect(await setup.queue.getJobCounts('waiting', 'active', 'delayed')).toEqual({
        waiting: 1,
        active: 0,
        delayed: 0,
      })

      const waiting = await runCli(['jobs', 'status', expectedId], setup.env)
      expect(waiting.code).toBe(0)
      const before = JSON.parse(waiting.stdout) as Record<string, unknown>
      expect(before.state).toBe('waiting')
      expect(before.data).toEqual({ ...request('cli'), asOf })
      expect(before.maxAttempts).toBe(3)
      expect(before.result).toBeNull()

      await startWorker(setup)
      const job = (await setup.queue.getJob(expectedId)) as TrainingJob
      const result = await job.waitUntilFinished(setup.events, JOB_TIMEOUT_MS)
      const done = await runCli(['jobs', 'status', expectedId], setup.env)
      const after = JSON.parse(done.stdout) as Record<string, unknown>
      expect(after.state).toBe('completed')
      expect(after.progress).toEqual({ stage: 'bundle', percent: 100 })
      expect(after.result).toEqual(result)
      expect(after.attemptsMade).toBe(1)
      expect(after.failedReason).toBeNull()

      const unknown = await runCli(['jobs', 'status', 'train-unknown'], setup.env)
      expect(unknown.code).toBe(1)
      expect(unknown.stderr).toContain(
        `No job "train-unknown" in the training queue (prefix ${setup.prefix})`,
      )
    },
    JOB_TIMEOUT_MS,
  )

  it(
    'reports an unreachable Redis',
    async () => {
      // Nothing listens on port 1 of loopback, so the connection is refused.
      const env = { REDIS_URL: 'redis://user:secret@127.0.0.1:1' }
      for (const args of [['jobs', 'status', 'any'], ['worker']]) {
        const run = await runCli(args, env)
        expect(run.code).toBe(1)
        expect(run.stderr).toContain(
          'Cannot connect to Redis at redis://127.0.0.1:1 (connection refused)',
        )
        expect(run.stderr).not.toContain('secret')
      }
    },
    JOB_TIMEOUT_MS,
  )
})

/** Runs a process to its end and returns its id, which then belongs to no running process. */
async function deadProcessId(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

describe('publishBundle after a killed publisher', () => {
  it('removes abandoned temporary folders', async () => {
    const modelsDir = join(trained.root, 'models-publish')
    const parent = join(modelsDir, 'republished')
    const deadPid = await deadProcessId()
    const abandoned = [`.tmp-old-${deadPid}`, `.tmp-reused-${process.pid}`]
    // The parent of this process (the vitest runner) is alive, so its folder may be mid-write.
    const live = `.tmp-live-${process.ppid}`
    for (const name of [...abandoned, live]) {
      await mkdir(join(parent, name), { recursive: true })
      await writeFile(join(parent, name, 'churn-forest.json'), '{"cut short')
    }

    const source = await loadBundle(trained.trained.dir)
    const { files: _files, ...manifest } = source.manifest
    const artifacts = Object.fromEntries(source.files)
    const published = await publishBundle(
      modelsDir,
      { ...manifest, name: 'republished', version: 'v2' },
      artifacts,
    )

    expect(await entriesOf(parent)).toEqual([live, 'v2'])
    const loaded = await loadBundle(published.dir)
    expect(loaded.manifest.files).toEqual(source.manifest.files)
  })
})
