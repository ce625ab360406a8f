/**
 * Runs one ESP stream in a child Node process (see esp-child.ts), so that SendGrid and SES
 * stream on two cores at once.
 */
import { fork } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Esp } from './contacts.ts'
import type { EspStreamResult } from './esp-stream.ts'
import type { SimulationOptions } from './options.ts'

/** The request a child receives once it has started. */
export interface ChildRequest {
  options: SimulationOptions
  esp: Esp
}

/** Messages a child sends back: one 'progress' per campaign, then 'done' or 'failed'. */
export type ChildMessage =
  | { type: 'progress' }
  | { type: 'done'; result: EspStreamResult }
  | { type: 'failed'; error: string }

const CHILD_ENTRY = fileURLToPath(new URL('./esp-child.ts', import.meta.url))

/**
 * V8 young-generation semi-space for the children, in MB. A campaign's events outlive several
 * default-sized scavenges. In two runs on the 2-core development machine, 64 MB cut the CPU time
 * of a 20,000-contact SendGrid stream by about 14%.
 */
const SEMI_SPACE_MB = 64

/**
 * Returns the file URL of tsx's ESM loader. Node 20 cannot load .ts files by itself, so the
 * child preloads the loader, as `node --import tsx` does.
 */
function tsxLoaderUrl(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
}

/** Copies the options that a child needs, leaving out anything that cannot cross IPC. */
function childOptions(options: SimulationOptions): SimulationOptions {
  const { contacts, days, seed, outDir, start, cutoffDays } = options
  return { contacts, days, seed, outDir, start, cutoffDays }
}

/**
 * Simulates the contacts of `esp` in a child process and resolves with what it wrote. Aborting
 * `signal` kills the child. Rejects when the child fails or exits before reporting a result.
 */
export function runEspInChild(
  options: SimulationOptions,
  esp: Esp,
  signal: AbortSignal,
  onCampaignDone?: () => void,
): Promise<EspStreamResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD_ENTRY, [], {
      execArgv: ['--import', tsxLoaderUrl(), `--max-semi-space-size=${SEMI_SPACE_MB}`],
      serialization: 'advanced',
      signal,
    })
    let settled = false
    const settle = (outcome: () => void) => {
      if (settled) return
      settled = true
      outcome()
    }
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') onCampaignDone?.()
      else if (message.type === 'done') settle(() => resolve(message.result))
      else {
        const error = new Error(`Simulation of ${esp} failed in a child process: ${message.error}`)
        settle(() => reject(error))
      }
    })
    child.once('error', (error) => settle(() => reject(error)))
    child.once('exit', (code, exitSignal) => {
      const reason = `Simulation child for ${esp} exited (code ${code}, signal ${exitSignal})`
      settle(() => reject(new Error(`${reason} before reporting a result`)))
    })
    const request: ChildRequest = { options: childOptions(options), esp }
    child.send(request)
  })
}
