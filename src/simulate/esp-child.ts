/**
 * Entry point of the child process that `runEspInChild` forks. It waits for one ChildRequest,
 * runs that ESP's stream, reports progress and the result over IPC, and disconnects.
 */
import type { ChildMessage, ChildRequest } from './esp-processes.ts'
import { simulateEsp } from './esp-stream.ts'
import { createPlan } from './plan.ts'

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      reject(new Error('esp-child.ts has no IPC channel: start it with child_process.fork'))
      return
    }
    process.send(message, undefined, {}, (error) => (error ? reject(error) : resolve()))
  })
}

let finished = false

async function run(request: ChildRequest): Promise<void> {
  try {
    const plan = createPlan(request.options)
    const result = await simulateEsp(plan, request.esp, () => {
      void send({ type: 'progress' })
    })
    await send({ type: 'done', result })
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
    await send({ type: 'failed', error: text })
  }
  finished = true
  process.disconnect?.()
}

if (process.send === undefined) {
  console.error('esp-child.ts has no IPC channel: start it with child_process.fork')
  process.exitCode = 1
} else {
  process.once('message', (request: ChildRequest) => {
    void run(request)
  })
  // A parent that goes away before the result is sent no longer wants the files.
  process.once('disconnect', () => {
    if (!finished) process.exit(1)
  })
}
