import { Command, InvalidArgumentError } from 'commander'
import { ConfigError } from '../config/index.ts'
import { PayloadParseError } from '../events/types.ts'
import { BundleError } from '../registry/bundle.ts'
import { StoreLockedError } from '../store/client.ts'
import { registerDemo } from './commands/demo.ts'
import { registerFeatures } from './commands/features.ts'
import { registerIngest } from './commands/ingest.ts'
import { registerServe } from './commands/serve.ts'
import { registerSimulate } from './commands/simulate.ts'
import { registerTrain } from './commands/train.ts'

/** Errors whose message is the whole story: printed without a stack trace. */
const EXPECTED_ERRORS = [
  ConfigError,
  StoreLockedError,
  BundleError,
  PayloadParseError,
  InvalidArgumentError,
]

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
    registerServe,
  ]) {
    register(program)
  }
  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (!EXPECTED_ERRORS.some((kind) => error instanceof kind)) throw error
    process.stderr.write(`segments: ${(error as Error).message}\n`)
    process.exitCode = error instanceof ConfigError ? 2 : 1
  }
}

await main(process.argv)
