/**
 * Opens a trained bundle's report.html in Chromium through file:// with every other request
 * blocked, and checks that it renders without errors and draws what its input holds. Also
 * checks the `segments report` command on the same bundle.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { publishBundle, sha256Hex } from '../../src/registry/bundle.ts'
import { MAX_IMPORTANCE_BARS, renderReport } from '../../training/report-html.ts'
import { formatValue } from '../../training/report-charts.ts'
import { trainBundle } from '../../training/pipeline.ts'
import { reportInputFromTraining, type ReportInput } from '../../training/report.ts'
import { setUpTrainedStore, type TrainedStore } from '../helpers/trained-store.ts'

const CHROMIUM = '/usr/bin/chromium'

// Without the background-networking flags Chromium tries to reach update and sync services.
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const HEADINGS = [
  'k selection',
  'Personas',
  'Hour-of-day profiles',
  'DBSCAN',
  'Churn models',
  'Feature importance',
  'Training run',
]

const finitePairs = (x: number[], y: number[]) =>
  x.filter((value, i) => Number.isFinite(value) && Number.isFinite(y[i])).length

/** Counts the points of each `polyline.series` inside `selector`, in document order. */
function polylinePoints(page: Page, selector: string): Promise<number[]> {
  return page
    .locator(`${selector} polyline.series`)
    .evaluateAll((lines) =>
      lines.map((line) => (line.getAttribute('points') ?? '').split(' ').filter(Boolean).length),
    )
}

/** A report page opened in Chromium, with what went wrong while it loaded. */
interface OpenedReport {
  page: Page
  consoleErrors: string[]
  pageErrors: string[]
  failedRequests: string[]
  /** Requests to anything but file: URLs, which the route aborts. */
  blockedRequests: string[]
}

/** Opens a report through file:// with every other request aborted and recorded. */
async function openReport(browser: Browser, path: string): Promise<OpenedReport> {
  const page = await browser.newPage()
  const opened: OpenedReport = {
    page,
    consoleErrors: [],
    pageErrors: [],
    failedRequests: [],
    blockedRequests: [],
  }
  page.on('console', (message) => {
    if (message.type() === 'error') opened.consoleErrors.push(message.text())
  })
  page.on('pageerror', (error) => opened.pageErrors.push(error.message))
  page.on('requestfailed', (request) => opened.failedRequests.push(request.url()))
  await page.route('**', async (route) => {
    const url = route.request().url()
    if (url.startsWith('file:')) return route.continue()
    opened.blockedRequests.push(url)
    return route.abort()
  })
  await page.goto(pathToFileURL(path).href, { waitUntil: 'load' })
  return opened
}

function expectCleanLoad(opened: OpenedReport): void {
  expect(opened.consoleErrors).toEqual([])
  expect(opened.pageErrors).toEqual([])
  expect(opened.failedRequests).toEqual([])
  expect(opened.blockedRequests).toEqual([])
}

let setup: TrainedStore
let browser: Browser
/** The bundle of the trained store, trained with a fixed k. */
let fixedK: OpenedReport
let page: Page
let input: ReportInput
let reportPath: string
/** A second bundle on the same store, with k chosen by the silhouette. */
let chosenK: OpenedReport
let chosenInput: ReportInput

const K_RANGE = { min: 2, max: 5 }

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}; install it with apt-get install chromium (.ci/run does this).`,
    )
  }
  setup = await setUpTrainedStore({
    prefix: 'report-browser',
    contacts: 300,
    days: 150,
    personas: 4,
  })
  const { manifest, personas, churn } = setup.trained
  input = reportInputFromTraining({ manifest, personas, churn })
  reportPath = join(setup.trained.dir, 'report.html')

  const second = await trainBundle(setup.store.client, {
    name: 'chosen-k',
    modelsDir: setup.config.modelsDir,
    asOfMs: setup.cutoffMs,
    horizonDays: 30,
    kRange: K_RANGE,
    seed: 11,
    nTrees: 10,
    defaultZone: setup.config.defaultTimeZone,
  })
  chosenInput = reportInputFromTraining(second)

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS })
  fixedK = await openReport(browser, reportPath)
  page = fixedK.page
  chosenK = await openReport(browser, join(second.dir, 'report.html'))
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await setup?.close()
})

describe('report.html in the bundle', () => {
  it('is listed in the manifest with its hash', async () => {
    const bytes = await readFile(reportPath)
    expect(setup.trained.manifest.files['report.html']).toBe(sha256Hex(bytes))
  })

  it('is the rendering of the training input', async () => {
    expect(await readFile(reportPath, 'utf8')).toBe(renderReport(input))
  })
})

describe('report.html in Chromium', () => {
  it('loads without errors or requests', () => {
    expectCleanLoad(fixedK)
  })

  it('shows every section heading', async () => {
    expect(await page.locator('section > h2').allTextContents()).toEqual(HEADINGS)
  })

  it('draws 24 heat map cells per persona', async () => {
    const rows = page.locator('#hour-profiles g.heat-row')
    expect(await rows.count()).toBe(input.personas.list.length)
    const cells = await rows.evaluateAll((groups) =>
      groups.map((group) => group.querySelectorAll('rect.heat-cell').length),
    )
    expect(cells).toEqual(input.personas.list.map(() => 24))
  })

  it('draws one size bar per persona', async () => {
    expect(await page.locator('#personas rect.bar').count()).toBe(input.personas.list.length)
    const labels = await page.locator('#personas text.bar-label').allTextContents()
    expect(labels).toEqual(input.personas.list.map((persona) => persona.name))
  })

  it('lists each persona centroid', async () => {
    const rows = page.locator('#personas table').nth(1).locator('tr')
    expect(await rows.count()).toBe(input.personas.list.length + 1)
    const headers = await rows.first().locator('th').allTextContents()
    expect(headers).toEqual(['persona', ...input.personas.features])
  })

  it('draws a ROC and a reliability curve per model', async () => {
    const models = input.churn?.models ?? []
    expect(models.length).toBeGreaterThan(0)
    const charts = page.locator('#churn svg.line-chart')
    expect(await charts.count()).toBe(2)
    const roc = await polylinePoints(page, '#churn figure:nth-of-type(1)')
    // A skipped candidate, such as an MLP with too few churners to train on, has no curves.
    expect(roc).toEqual(models.flatMap((model) => (model.roc ? [model.roc.x.length] : [])))
    expect(roc.length).toBeGreaterThan(0)
    const reliability = await polylinePoints(page, '#churn figure:nth-of-type(2)')
    expect(reliability).toEqual(
      models.flatMap((model) => (model.reliability ? [model.reliability.x.length] : [])),
    )
    const modelNames = await page.locator('#churn table tr td:first-child').allTextContents()
    expect(modelNames).toEqual(models.map((model) => model.name))
  })

  it('says that k was fixed', async () => {
    expect(input.kSelection?.k).toEqual([4])
    expect(await page.locator('#k-selection').innerText()).toContain('k was fixed at 4')
    expect(await polylinePoints(page, '#k-selection')).toEqual([])
  })

  it('draws the k-distance curve', async () => {
    const dbscan = input.dbscan
    expect(dbscan).toBeDefined()
    const { x, y } = dbscan!.kDistance
    expect(x.length).toBeGreaterThan(1)
    expect(await polylinePoints(page, '#dbscan')).toEqual([finitePairs(x, y)])
    const text = await page.locator('#dbscan').innerText()
    expect(text).toContain(`eps = ${formatValue(dbscan!.eps, 3)}`)
  })

  it('draws the top importance bars and lists every feature', async () => {
    const features = input.importance?.features.length ?? 0
    expect(features).toBeGreaterThan(0)
    const bars = page.locator('#importance rect.bar')
    expect(await bars.count()).toBe(Math.min(features, MAX_IMPORTANCE_BARS))
    const rows = page.locator('#importance details table tr')
    expect(await rows.count()).toBe(features + 1)
  })

  it('gives every chart a visible size', async () => {
    const sizes = await page
      .locator('svg.chart')
      .evaluateAll((charts) => charts.map((chart) => chart.getBoundingClientRect().width))
    expect(sizes.length).toBeGreaterThanOrEqual(3)
    for (const width of sizes) expect(width).toBeGreaterThan(100)
  })
})

describe('report.html with k chosen by silhouette', () => {
  it('loads without errors or requests', () => {
    expectCleanLoad(chosenK)
  })

  it('draws silhouette and inertia for every k tried', async () => {
    const selection = chosenInput.kSelection
    expect(selection?.k).toEqual([2, 3, 4, 5])
    const { k, silhouette, inertia } = selection!
    const points = await polylinePoints(chosenK.page, '#k-selection')
    expect(points).toEqual([finitePairs(k, silhouette), finitePairs(k, inertia)])
  })

  it('marks the chosen k', async () => {
    const chosen = chosenInput.kSelection!.chosenK
    expect(chosen).toBe(chosenInput.personas.list.length)
    const labels = await chosenK.page.locator('#k-selection text.marker-label').allTextContents()
    expect(labels).toEqual([`chosen k = ${chosen}`, `chosen k = ${chosen}`])
    const row = chosenK.page.locator('#k-selection tr.chosen td').first()
    expect(await row.innerText()).toBe(String(chosen))
  })
})

interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI with the bundle's models folder and returns its exit code and output. */
function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/segments.js', ...args], {
      env: { ...process.env, ...setup.env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('segments report', () => {
  it('prints the report path of a version', async () => {
    const version = setup.trained.manifest.version
    const result = await runCli(['report', '--name', setup.bundle, '--version', version])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe(reportPath)
  })

  it('copies the champion report with --out', async () => {
    const out = join(setup.root, 'copy.html')
    const result = await runCli(['report', '--name', setup.bundle, '--out', out])
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toBe(out)
    expect(await readFile(out, 'utf8')).toBe(await readFile(reportPath, 'utf8'))
  })

  it('rejects a version that is not a folder name', async () => {
    const result = await runCli(['report', '--name', setup.bundle, '--version', '../x'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('Expected a version folder name')
    expect(result.stderr).toContain('"../x"')
  })

  it('names a version that is not found', async () => {
    const result = await runCli(['report', '--name', setup.bundle, '--version', 'absent'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(join('absent', 'manifest.json'))
  })

  it('explains a bundle without a report', async () => {
    const { files: _files, ...manifest } = setup.trained.manifest
    const dir = setup.trained.dir
    const artifacts: Record<string, Buffer> = {}
    for (const name of ['persona-scaler.json', 'persona-centroids.json', 'churn-forest.json']) {
      artifacts[name] = await readFile(join(dir, name))
    }
    await publishBundle(setup.config.modelsDir, { ...manifest, version: 'no-report' }, artifacts)
    const result = await runCli(['report', '--name', setup.bundle, '--version', 'no-report'])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('report.html: is not listed in the manifest')
    expect(result.stderr).toContain('train a new version')
  })
})
