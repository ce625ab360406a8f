import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../../inference/server.ts'
import { ScoringService, type ContactInput } from '../../inference/service.ts'
import { loadConfig } from '../../src/config/index.ts'
import { publishBundle, setChampion } from '../../src/registry/bundle.ts'
import { promote } from '../../src/registry/champion.ts'
import type { Manifest } from '../../src/registry/manifest.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const SETUP_TIMEOUT_MS = 180_000
const REQUEST_TIMEOUT_MS = 30_000
const CONCURRENT_REQUESTS = 12

interface HttpReply {
  status: number
  body: any
}

/** A promise with its resolve function, to hold requests at a known point. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((done) => (resolve = done))
  return { promise, resolve }
}

/**
 * A scoring service whose score() can be held: while `hold` is set, each call
 * counts itself and waits for the hold to be released.
 */
class HeldScoringService extends ScoringService {
  hold: Promise<void> | undefined
  entered = 0

  override async score(contacts: ContactInput[], asOfMs: number, model = this.requireModel()) {
    if (this.hold) {
      this.entered += 1
      await this.hold
    }
    return super.score(contacts, asOfMs, model)
  }
}

let setup: TrainedStore
let service: HeldScoringService
let app: FastifyInstance
let baseUrl: string
const logLines: any[] = []

async function send(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  const text = await response.text()
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
}

const scoreOne = () =>
  send(`${baseUrl}/v1/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ contacts: [{ key: setup.trained.test.contactKeys[0] }] }),
  })

/** Publishes a copy of the first trained bundle under another version name. */
async function publishCopy(version: string): Promise<string> {
  const { dir, manifest } = setup.trained
  const artifacts: Record<string, Buffer> = {}
  for (const name of Object.keys(manifest.files)) {
    artifacts[name] = await readFile(join(dir, name))
  }
  const { files: _files, ...rest }: Manifest = manifest
  const published = await publishBundle(setup.config.modelsDir, { ...rest, version }, artifacts)
  return published.dir
}

const reloadWarnings = () =>
  logLines.filter((line) => line.level === 40 && /champion bundle failed to load/.test(line.msg))

beforeAll(async () => {
  setup = await setUpTrainedStore({ prefix: 'api-reload-test' })
  const config = loadConfig({ ...setup.env, SEGMENTS_LOG_LEVEL: 'info' })
  service = new HeldScoringService(config, setup.store, setup.bundle)
  await service.loadChampion()
  app = buildServer(service, {
    logStream: { write: (line: string) => void logLines.push(JSON.parse(line)) },
  })
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
}, SETUP_TIMEOUT_MS)

afterAll(async () => {
  await app?.close()
  await setup?.close()
})

describe('champion reload', () => {
  it('switches to a newly promoted version', async () => {
    const first = setup.trained.manifest.version
    expect((await scoreOne()).body.modelVersion).toBe(first)

    await publishCopy('reload-second')
    await promote(setup.config.modelsDir, setup.bundle, 'reload-second')
    const outcome = await service.reloadChampion(app.log)

    expect(outcome).toBe('loaded')
    const models = (await send(`${baseUrl}/v1/models`)).body
    expect(models.champion).toBe('reload-second')
    expect(models.loaded).toBe('reload-second')
    const scored = await scoreOne()
    expect(scored.status).toBe(200)
    expect(scored.body.modelVersion).toBe('reload-second')
    expect(scored.body.results[0].modelVersion).toBe('reload-second')
    expect(await service.reloadChampion(app.log)).toBe('unchanged')
  })

  it('updates the model version gauge', async () => {
    const scrape = await (await fetch(`${baseUrl}/metrics`)).text()

    expect(scrape).toContain('segments_model_info{version="reload-second"} 1')
    expect(scrape).not.toContain(`version="${setup.trained.manifest.version}"`)
  })

  it('answers every request in flight during a swap', async () => {
    const release = deferred()
    service.hold = release.promise
    service.entered = 0
    const before = Array.from({ length: CONCURRENT_REQUESTS }, scoreOne)
    await expect.poll(() => service.entered, { timeout: REQUEST_TIMEOUT_MS }).toBe(before.length)

    await publishCopy('reload-third')
    await promote(setup.config.modelsDir, setup.bundle, 'reload-third')
    expect(await service.reloadChampion(app.log)).toBe('loaded')
    const after = Array.from({ length: CONCURRENT_REQUESTS }, scoreOne)
    await expect
      .poll(() => service.entered, { timeout: REQUEST_TIMEOUT_MS })
      .toBe(before.length + after.length)
    service.hold = undefined
    release.resolve()
    const beforeReplies = await Promise.all(before)
    const afterReplies = await Promise.all(after)

    for (const reply of [...beforeReplies, ...afterReplies]) expect(reply.status).toBe(200)
    for (const reply of beforeReplies) {
      expect(reply.body.modelVersion).toBe('reload-second')
      expect(reply.body.results[0].modelVersion).toBe('reload-second')
    }
    for (const reply of afterReplies) {
      expect(reply.body.modelVersion).toBe('reload-third')
      expect(reply.body.results[0].modelVersion).toBe('reload-third')
    }
  })

  it('keeps the old model when the new one fails its checks', async () => {
    const brokenDir = await publishCopy('reload-broken')
    await writeFile(join(brokenDir, 'churn-forest.json'), '{"trees": "garbage"')
    await setChampion(setup.config.modelsDir, setup.bundle, 'reload-broken')
    const warningsBefore = reloadWarnings().length

    expect(await service.reloadChampion(app.log)).toBe('failed')
    expect(await service.reloadChampion(app.log)).toBe('failed')

    const scored = await scoreOne()
    expect(scored.status).toBe(200)
    expect(scored.body.modelVersion).toBe('reload-third')
    const ready = await send(`${baseUrl}/readyz`)
    expect(ready.status).toBe(200)
    expect(ready.body.model).toBe('reload-third')
    expect(ready.body.lastReloadError.version).toBe('reload-broken')
    expect(ready.body.lastReloadError.file).toBe(
      join(setup.bundle, 'reload-broken', 'churn-forest.json'),
    )
    expect(ready.body.lastReloadError.reason).toMatch(/does not match the manifest/)
    const warnings = reloadWarnings().slice(warningsBefore)
    expect(warnings).toHaveLength(1)
    expect(warnings[0].version).toBe('reload-broken')
    expect(warnings[0].err.message).toContain('churn-forest.json')
  })

  it('clears the reload error after a good champion', async () => {
    await promote(setup.config.modelsDir, setup.bundle, 'reload-second')

    expect(await service.reloadChampion(app.log)).toBe('loaded')
    const ready = (await send(`${baseUrl}/readyz`)).body
    expect(ready.model).toBe('reload-second')
    expect(ready.lastReloadError).toBeNull()
  })
})

describe('champion watcher', () => {
  it('loads a champion that appears after start', async () => {
    const empty = new ScoringService(
      loadConfig({ ...setup.env, SEGMENTS_MODELS_DIR: join(setup.root, 'later-models') }),
      setup.store,
      setup.bundle,
    )
    const server = buildServer(empty)
    try {
      await expect(empty.loadChampion()).rejects.toThrow(/champion\.json/)
      expect(await empty.reloadChampion(server.log)).toBe('no-champion')
      const stop = empty.watchChampion({ intervalMs: 20, log: server.log })
      server.addHook('onClose', async () => stop())

      const { trained } = setup
      const { files: _files, ...manifest }: Manifest = trained.manifest
      const artifacts: Record<string, Buffer> = {}
      for (const name of Object.keys(trained.manifest.files)) {
        artifacts[name] = await readFile(join(trained.dir, name))
      }
      await publishBundle(empty.config.modelsDir, manifest, artifacts)
      await setChampion(empty.config.modelsDir, setup.bundle, manifest.version)

      await expect
        .poll(() => empty.model?.manifest.version, { timeout: REQUEST_TIMEOUT_MS, interval: 20 })
        .toBe(manifest.version)
    } finally {
      await server.close()
    }
  })

  it('rejects a non-positive interval', () => {
    expect(() => service.watchChampion({ intervalMs: 0, log: app.log })).toThrow(RangeError)
  })
})
