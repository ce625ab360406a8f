import * as tf from '@tensorflow/tfjs'
import { describe, expect, it } from 'vitest'
import { backendName, loadTfBackend, pickBackendFrom } from '../../../inference/tf-backend.ts'

function recordingLogger() {
  const lines: { level: string; object: object; message: string }[] = []
  return {
    lines,
    info: (object: object, message: string) => lines.push({ level: 'info', object, message }),
    warn: (object: object, message: string) => lines.push({ level: 'warn', object, message }),
  }
}

describe('loadTfBackend', () => {
  it('falls back in order', async () => {
    expect(backendName()).toBeNull()
    const log = recordingLogger()
    const chosen = await loadTfBackend(log)
    // The skipped packages are exactly those before the chosen one in the fallback order.
    const order = [
      '@tensorflow/tfjs-node-gpu',
      '@tensorflow/tfjs-node',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs',
    ]
    const position = order.indexOf(chosen.packageName)
    expect(position).toBeGreaterThanOrEqual(0)
    expect(chosen.skipped.map((entry) => entry.packageName)).toEqual(order.slice(0, position))
    expect(['tensorflow', 'wasm', 'cpu']).toContain(chosen.name)
    expect(tf.getBackend()).toBe(chosen.name)
    expect(backendName()).toBe(chosen.name)
    expect(log.lines.filter((line) => line.message === 'tfjs backend chosen')).toHaveLength(1)
  })

  it('loads only once', async () => {
    const first = await loadTfBackend()
    expect(await loadTfBackend()).toBe(first)
  })
})

describe('pickBackendFrom', () => {
  it('skips a package that is not installed', async () => {
    const log = recordingLogger()
    const chosen = await pickBackendFrom(
      [
        { packageName: '@tensorflow/tfjs-backend-absent-for-test', backend: 'absent' },
        { packageName: null, backend: 'cpu' },
      ],
      log,
    )
    expect(chosen.name).toBe('cpu')
    expect(chosen.skipped).toHaveLength(1)
    expect(chosen.skipped[0]?.reason).toMatch(/Cannot find (package|module)/)
  })

  it('rejects when every candidate fails', async () => {
    await expect(
      pickBackendFrom([{ packageName: null, backend: 'not-registered' }]),
    ).rejects.toThrow(/no tfjs backend could be loaded/)
  })
})
