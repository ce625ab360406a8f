import { Command, InvalidArgumentError } from 'commander'
import { ConfigError } from '../config/index.ts'
import { PayloadParseError } from '../events/types.ts'
import { BundleError } from '../registry/bundle.ts'
import { StoreLockedError } from '../store/client.ts'
import { TrainingDataError } from '../../training/errors.ts'
import { registerDemo } from './commands/demo.ts'
import { registerFeatures } from './commands/features.ts'
import { registerIngest } from './commands/ingest.ts'
import { registerModels } from './commands/models.ts'
import { registerReport } from './commands/report.ts'
import { registerServe } from './commands/serve.ts'
import { registerSimulate } from './commands/simulate.ts'
import { registerTrain } from './commands/train.ts'
import { JobNotFoundError, registerJobs } from './commands/jobs.ts'
import { registerWorker } from './commands/worker.ts'
import { QueueConnectionError } from '../queue/connection.ts'
import { TrainingJobDataError } from '../queue/training-job.ts'

/** Errors whose message is the whole story: printed without a stack trace. */
const EXPECTED_ERRORS = [
  ConfigError,
  StoreLockedError,
  BundleError,
  PayloadParseError,
  InvalidArgumentError,
  TrainingDataError,
  QueueConnectionError,
  TrainingJobDataError,
  JobNotFoundError,
  // Raised by input checks of the learners and the simulator, with the value and the allowed range.
  RangeError,
]

type SystemError = NodeJS.ErrnoException & Record<string, unknown>

const SYSTEM_ERRORS: Record<string, (error: SystemError) => string> = {
  ENOENT: (error) => `File or folder not found: ${String(error.path)}`,
  EISDIR: (error) => `Cannot read ${String(error.path)}: it is a folder, expected a file`,
  EACCES: (error) => `Cannot access ${String(error.path)}: permission denied`,
  ECONNREFUSED: (error) =>
    `Cannot connect to ${String(error.address)}:${String(error.port)} (connection refused); check CLICKHOUSE_URL`,
  EADDRINUSE: (error) =>
    `Cannot listen on ${String(error.address)}:${String(error.port)}: the port is in use; set SEGMENTS_PORT to a free one`,
  EADDRNOTAVAIL: (error) =>
    `Cannot listen on ${String(error.address)}: no such address on this machine; check SEGMENTS_HOST`,
  ENOTFOUND: (error) =>
    `Cannot resolve host ${String(error.hostname)}; check SEGMENTS_HOST or CLICKHOUSE_URL`,
}

/** Returns a one-line description of an error a user can act on, or undefined for a bug, which keeps its stack trace. */
function describeError(error: unknown): string | undefined {
  if (EXPECTED_ERRORS.some((kind) => error instanceof kind)) return (error as Error).message
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const describe = code ? SYSTEM_ERRORS[code] : undefined
  return describe ? describe(error as SystemError) : undefined
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('segments')
    .description('Behavioural segments and churn-risk scores from email engagement events')
    .showHelpAfterError()
  for (const register of [
    registerDemo,
    registerSimulate,
    registerIngest,
    registerFeatures,
    registerTrain,
    registerModels,
    registerReport,
    registerServe,
    registerWorker,
    registerJobs,
  ]) {
    register(program)
  }
  try {
    await program.parseAsync(argv)
  } catch (error) {
    const message = describeError(error)
    if (message === undefined) throw error
    process.stderr.write(`segments: ${message}\n`)
    process.exitCode = error instanceof ConfigError ? 2 : 1
  }
}

await main(process.argv)
