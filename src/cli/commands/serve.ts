import type { Command } from 'commander'
import type { FastifyInstance } from 'fastify'
import {
  disablePretenuring,
  keepStoreThreadsLow,
  listThreads,
  threadsStartedBetween,
} from '../../../inference/latency-tuning.ts'
import { buildServer, type ServerOptions } from '../../../inference/server.ts'
import { ScoringService } from '../../../inference/service.ts'
import { openStore } from '../../store/client.ts'
import { DEFAULT_BUNDLE, getConfig } from '../context.ts'

/**
 * Builds the API, loads the champion bundle and starts the champion watcher
 * unless SEGMENTS_MODEL_RELOAD_SECONDS is 0. A champion that fails to load is
 * logged once, here, and the API starts without a model. Returns the app, not
 * yet listening; closing it stops the watcher.
 */
export async function prepareServer(
  service: ScoringService,
  options: ServerOptions = {},
): Promise<FastifyInstance> {
  const app = buildServer(service, options)
  const reloadSeconds = service.config.modelReloadSeconds
  try {
    await service.loadChampion()
  } catch (error) {
    const until =
      reloadSeconds > 0
        ? `a champion bundle that passes its checks is published (checked every ${reloadSeconds} s)`
        : 'a bundle is trained and serve is restarted (SEGMENTS_MODEL_RELOAD_SECONDS is 0)'
    app.log.warn({ err: error }, `no model loaded; /v1/score returns 503 until ${until}`)
  }
  if (reloadSeconds > 0) {
    const stopWatching = service.watchChampion({
      intervalMs: reloadSeconds * 1000,
      log: app.log,
    })
    app.addHook('onClose', async () => stopWatching())
  }
  return app
}

/** Lists the process's threads, or none where /proc is missing (keepStoreThreadsLow then logs why). */
function safeListThreads(): Map<number, string> {
  try {
    return listThreads()
  } catch {
    return new Map()
  }
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'Start the scoring API on SEGMENTS_HOST:SEGMENTS_PORT with the champion bundle, reloading it when champion.json changes',
    )
    .option('--name <name>', 'bundle name', DEFAULT_BUNDLE)
    .action(async (opts) => {
      const config = getConfig()
      disablePretenuring()
      const threadsBeforeStore = safeListThreads()
      const store = await openStore(config.clickhouse)
      const storeThreads =
        store.engine === 'chdb'
          ? threadsStartedBetween(threadsBeforeStore, safeListThreads())
          : undefined
      const service = new ScoringService(config, store, opts.name)
      const app = await prepareServer(service)
      let stopLowering = () => {}
      const stopping = new AbortController()
      const close = async (signal: string) => {
        app.log.info({ signal }, 'stopping: finishing requests in flight')
        stopping.abort()
        stopLowering()
        await app.close()
        await store.close()
        app.log.info('stopped')
      }
      try {
        await app.listen({ host: config.host, port: config.port })
      } catch (error) {
        await app.close()
        await store.close()
        throw error
      }
      process.once('SIGINT', close)
      process.once('SIGTERM', close)
      // Finding the thread pool takes a few hundred milliseconds, while requests are served.
      void keepStoreThreadsLow({
        nice: config.backgroundNice,
        storeThreads,
        intervalMs: 5000,
        log: app.log,
        signal: stopping.signal,
      }).then((stop) => {
        if (stopping.signal.aborted) stop()
        else stopLowering = stop
      })
    })
}
