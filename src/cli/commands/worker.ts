import type { Command } from 'commander'
import type { Worker } from 'bullmq'
import { pino, type Logger } from 'pino'
import { connectRedis, redactUrl } from '../../queue/connection.ts'
import { TRAINING_QUEUE } from '../../queue/training-job.ts'
import { startTrainingWorker } from '../../queue/worker.ts'
import { runTrainingJob } from '../../../training/jobs.ts'
import { getConfig, withStore } from '../context.ts'

/**
 * Resolves once the worker has closed after SIGTERM or SIGINT. The first
 * signal lets the running job finish. A second one exits at once, so that
 * job runs again on a worker after its lock expires.
 */
function closeOnSignals(worker: Worker, logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'training worker exiting now; its running job will be retried')
        process.exit(1)
      }
      stopping = true
      logger.info({ signal }, 'training worker stopping after the running job, if any')
      worker.close().then(resolve, reject)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'Run training jobs from the queue at REDIS_URL, one at a time, until SIGTERM or SIGINT. ' +
        'With the embedded store the worker owns the store folder while it runs, so other commands ' +
        'that open the store fail until it stops. Add training with `segments train --queue` meanwhile',
    )
    .action(async () => {
      const config = getConfig()
      const logger = pino({ name: 'segments-worker', level: config.logLevel })
      // Fail now with a clear message when Redis is down; the worker itself reconnects forever.
      const probe = await connectRedis(config.redisUrl)
      await probe.quit()

      await withStore(async (store) => {
        const context = {
          client: store.client,
          modelsDir: config.modelsDir,
          defaultZone: config.defaultTimeZone,
          logger,
        }
        const worker = startTrainingWorker(config, (job) => runTrainingJob(job, context), logger)
        await worker.waitUntilReady()
        logger.info(
          {
            queue: TRAINING_QUEUE,
            prefix: config.queue.prefix,
            redis: redactUrl(config.redisUrl),
            store: store.location,
            modelsDir: config.modelsDir,
          },
          'training worker started',
        )
        await closeOnSignals(worker, logger)
      })
      logger.info('training worker stopped')
    })
}
