import type { Command } from 'commander'
import { buildServer } from '../../../inference/server.ts'
import { ScoringService } from '../../../inference/service.ts'
import { openStore } from '../../store/client.ts'
import { DEFAULT_BUNDLE, getConfig } from '../context.ts'

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'Start the scoring API on SEGMENTS_HOST:SEGMENTS_PORT with the champion bundle, reloading it when champion.json changes',
    )
    .option('--name <name>', 'bundle name', DEFAULT_BUNDLE)
    .action(async (opts) => {
      const config = getConfig()
      const store = await openStore(config.clickhouse)
      const service = new ScoringService(config, store, opts.name)
      const app = buildServer(service)
      const reloadSeconds = config.modelReloadSeconds
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
      const close = async (signal: string) => {
        app.log.info({ signal }, 'stopping: finishing requests in flight')
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
    })
}
