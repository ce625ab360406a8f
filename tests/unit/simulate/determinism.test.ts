import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { simulate } from '../../../src/simulate/index.ts'
import { createPlan } from '../../../src/simulate/plan.ts'
import { runSimulation } from '../../../src/simulate/simulate.ts'

const SMALL = { contacts: 300, days: 45, seed: 11 }
const folders: string[] = []

async function tempFolder(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'simulate-'))
  folders.push(folder)
  return folder
}

async function listFiles(root: string, folder = root): Promise<string[]> {
  const files: string[] = []
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name)
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)))
    else files.push(relative(root, path).split('\\').join('/'))
  }
  return files.sort()
}

async function hashFiles(root: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>()
  for (const file of await listFiles(root)) {
    const bytes = await readFile(join(root, file))
    hashes.set(file, createHash('sha256').update(bytes).digest('hex'))
  }
  return hashes
}

function csvRows(text: string): string[] {
  return text.trimEnd().split('\n').slice(1)
}

afterAll(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true })
})

describe('simulate', () => {
  it('repeats byte for byte', async () => {
    const [first, second] = [await tempFolder(), await tempFolder()]
    const summaryA = await simulate({ ...SMALL, outDir: first })
    const summaryB = await simulate({ ...SMALL, outDir: second })
    const hashesA = await hashFiles(first)
    const hashesB = await hashFiles(second)
    expect(summaryB).toEqual(summaryA)
    expect([...hashesA.keys()]).toEqual([...summaryA.files].sort())
    expect(hashesA.size).toBeGreaterThanOrEqual(4)
    expect(hashesB).toEqual(hashesA)
  })

  it('matches across process modes', async () => {
    const [inline, processes] = [await tempFolder(), await tempFolder()]
    const inlineSummary = await runSimulation(createPlan({ ...SMALL, outDir: inline }), 'inline')
    const plan = createPlan({ ...SMALL, outDir: processes })
    const processSummary = await runSimulation(plan, 'processes')
    expect(processSummary).toEqual(inlineSummary)
    expect(await hashFiles(processes)).toEqual(await hashFiles(inline))
  })

  it('differs across seeds', async () => {
    const [first, second] = [await tempFolder(), await tempFolder()]
    await simulate({ ...SMALL, outDir: first })
    await simulate({ ...SMALL, seed: SMALL.seed + 1, outDir: second })
    const hashesA = await hashFiles(first)
    const hashesB = await hashFiles(second)
    for (const file of ['contacts.csv', 'truth.csv', 'sendgrid/batch-00001.json']) {
      expect(hashesB.get(file), file).toBeDefined()
      expect(hashesB.get(file), file).not.toBe(hashesA.get(file))
    }
  })

  it('keeps contacts independent', async () => {
    // Each contact has its own random stream, so adding contacts leaves the first ones unchanged.
    const [small, large] = [await tempFolder(), await tempFolder()]
    await simulate({ ...SMALL, contacts: 100, outDir: small })
    await simulate({ ...SMALL, contacts: 250, outDir: large })
    for (const file of ['contacts.csv', 'truth.csv']) {
      const smallRows = csvRows(await readFile(join(small, file), 'utf8'))
      const largeRows = csvRows(await readFile(join(large, file), 'utf8'))
      expect(smallRows).toHaveLength(100)
      expect(largeRows.slice(0, 100), file).toEqual(smallRows)
    }
  })

  it('removes stale batches', async () => {
    const folder = await tempFolder()
    await simulate({ ...SMALL, contacts: 600, outDir: folder })
    const summary = await simulate({ ...SMALL, contacts: 20, outDir: folder })
    expect(await listFiles(folder)).toEqual([...summary.files].sort())
  })

  it('reports progress per campaign', async () => {
    const calls: [number, number][] = []
    const summary = await simulate({ ...SMALL, outDir: await tempFolder() }, (done, total) => {
      calls.push([done, total])
    })
    // Each of the two ESP streams reports each campaign.
    const total = 2 * summary.campaigns
    expect(calls).toHaveLength(total)
    expect(calls.at(-1)).toEqual([total, total])
    expect(calls.every(([done], index) => done === index + 1)).toBe(true)
  })

  it('rejects invalid options', async () => {
    const outDir = await tempFolder()
    await expect(simulate({ ...SMALL, contacts: 0, outDir })).rejects.toThrow(/contacts/)
    await expect(simulate({ ...SMALL, days: 20, outDir })).rejects.toThrow(/cutoffDays/)
    await expect(simulate({ ...SMALL, cutoffDays: 45, outDir })).rejects.toThrow(/cutoffDays/)
    await expect(simulate({ ...SMALL, start: '2025-01-06T00:00', outDir })).rejects.toThrow(/start/)
    expect((await stat(outDir)).isDirectory()).toBe(true)
  })

  it('accepts a start with a zone', async () => {
    const summary = await simulate({
      ...SMALL,
      contacts: 20,
      start: '2025-03-03T09:30:00+01:00',
      outDir: await tempFolder(),
    })
    expect(summary.start).toBe('2025-03-03T08:30:00.000Z')
    expect(summary.end).toBe('2025-04-17T08:30:00.000Z')
    expect(summary.cutoff).toBe('2025-03-18T08:30:00.000Z')
  })
})
