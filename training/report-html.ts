/**
 * Renders a bundle's training report as one self-contained HTML page: inline CSS and inline
 * SVG charts, no script and no external resource, so it opens offline. A Content Security
 * Policy that allows nothing but inline styles makes the browser refuse any request the
 * markup might still cause.
 */
import {
  barChart,
  escapeHtml,
  formatValue,
  heatMap,
  lineChart,
  type LineSeries,
} from './report-charts.ts'
import type { ReportInput } from './report.ts'

/** Section ids and headings, in page order. */
export const REPORT_SECTIONS = [
  { id: 'k-selection', heading: 'k selection' },
  { id: 'personas', heading: 'Personas' },
  { id: 'hour-profiles', heading: 'Hour-of-day profiles' },
  { id: 'dbscan', heading: 'DBSCAN' },
  { id: 'churn', heading: 'Churn models' },
  { id: 'importance', heading: 'Feature importance' },
  { id: 'training', heading: 'Training run' },
] as const

type SectionId = (typeof REPORT_SECTIONS)[number]['id']

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1b1b1b; margin: 24px auto; max-width: 1080px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
.subtitle { color: #555; margin-top: 0; }
.missing { color: #8a5300; background: #fff6e5; border-left: 4px solid #e6a23c; padding: 6px 10px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border-bottom: 1px solid #e2e2e2; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { font-weight: 600; }
td:first-child { white-space: nowrap; }
summary { cursor: pointer; margin: 8px 0; }
.scroll { overflow-x: auto; }
code { font-size: 12px; }
svg.chart { font: 11px system-ui, sans-serif; }
svg .grid { stroke: #eee; }
svg .frame { fill: none; stroke: #999; }
svg .series { fill: none; stroke-width: 2; }
svg .reference { stroke: #999; stroke-dasharray: 4 4; }
svg .marker { stroke: #c00; stroke-dasharray: 5 3; }
svg .marker-label { fill: #c00; font-weight: 600; }
svg .bar { fill: #1f77b4; }
svg .error-bar { stroke: #333; stroke-width: 1.5; }
svg .axis { stroke: #333; }
svg .axis-title { font-size: 12px; fill: #333; }
svg .heat-cell { stroke: #fff; }
`

const missing = (detail: string) =>
  `<p class="missing">Not available in this bundle: ${escapeHtml(detail)}</p>`

const figure = (caption: string, chart: string) =>
  `<figure><figcaption>${escapeHtml(caption)}</figcaption>${chart}</figure>`

function table(
  headers: string[],
  rows: string[][],
  numeric: boolean[] = [],
  rowClasses: string[] = [],
) {
  const cell = (tag: string, text: string, j: number) =>
    `<${tag}${numeric[j] ? ' class="number"' : ''}>${text}</${tag}>`
  const head = `<tr>${headers.map((h, j) => cell('th', escapeHtml(h), j)).join('')}</tr>`
  const body = rows
    .map((row, i) => {
      const rowClass = rowClasses[i] ? ` class="${rowClasses[i]}"` : ''
      return `<tr${rowClass}>${row.map((text, j) => cell('td', text, j)).join('')}</tr>`
    })
    .join('\n')
  return `<table>\n${head}\n${body}\n</table>`
}

const percent = (share: number) => `${formatValue(share * 100, 3)}%`

function kSelectionSection(input: ReportInput): string {
  const selection = input.kSelection
  if (!selection) return missing('the silhouette and inertia of each k tried were not recorded.')
  const marker = Number.isFinite(selection.chosenK)
    ? { x: selection.chosenK, label: `chosen k = ${selection.chosenK}` }
    : undefined
  const chart = (title: string, y: number[]) =>
    lineChart({
      title,
      xLabel: 'k (number of personas)',
      yLabel: title,
      series: [{ name: title, x: selection.k, y }],
      marker,
      dots: true,
      integerXTicks: true,
    })
  const rows = selection.k.map((k, i) => [
    String(k),
    Number.isFinite(selection.silhouette[i])
      ? formatValue(selection.silhouette[i] as number, 4)
      : 'not computed',
    formatValue(selection.inertia[i] ?? Number.NaN, 6),
  ])
  const scores = table(
    ['k', 'silhouette', 'inertia'],
    rows,
    [true, true, true],
    selection.k.map((k) => (k === selection.chosenK ? 'chosen' : '')),
  )
  // A fixed k gives one row, which has no curve to draw.
  if (selection.k.length < 2) {
    return [`<p>k was fixed at ${selection.chosenK}, so no other k was tried.</p>`, scores].join(
      '\n',
    )
  }
  return [
    `<p>k-means was fitted for each k from ${selection.k[0]} to ${selection.k[selection.k.length - 1]}; the k with the highest sampled silhouette was chosen.</p>`,
    `<div class="charts">`,
    figure('Silhouette against k', chart('silhouette', selection.silhouette)),
    figure('Inertia against k', chart('inertia', selection.inertia)),
    `</div>`,
    scores,
  ].join('\n')
}

function personasSection(input: ReportInput): string {
  const { list, features, contacts } = input.personas
  const total = list.reduce((sum, persona) => sum + persona.size, 0)
  const sizes = barChart({
    title: 'Persona sizes',
    labels: list.map((persona) => persona.name),
    values: list.map((persona) => persona.size),
    valueLabel: 'contacts',
  })
  const profiles = table(
    ['id', 'name', 'description', 'contacts', 'share'],
    list.map((persona) => [
      String(persona.id),
      escapeHtml(persona.name),
      escapeHtml(persona.description),
      String(persona.size),
      total > 0 ? percent(persona.size / total) : '',
    ]),
    [true, false, false, true, true],
  )
  const centroids = table(
    ['persona', ...features],
    list.map((persona) => [
      escapeHtml(persona.name),
      ...features.map((_, j) => formatValue(persona.centroid[j] ?? Number.NaN)),
    ]),
    [false, ...features.map(() => true)],
  )
  return [
    `<p>${contacts} contacts known at the cutoff were clustered into ${list.length} personas.</p>`,
    figure('Contacts per persona', sizes),
    profiles,
    '<h3>Centroids in original feature units</h3>',
    `<div class="scroll">${centroids}</div>`,
  ].join('\n')
}

function hourProfilesSection(input: ReportInput): string {
  const list = input.personas.list
  if (list.length === 0) return missing('no personas.')
  const chart = heatMap({
    title: 'Share of human engagement per local hour',
    rowLabels: list.map((persona) => persona.name),
    columnLabels: Array.from({ length: 24 }, (_, hour) => String(hour)),
    values: list.map((persona) => persona.hourProfile),
  })
  return [
    '<p>Mean share of each persona\u2019s human opens and clicks per hour of the contact\u2019s local day (0 to 23); darker is a larger share.</p>',
    `<div class="scroll">${chart}</div>`,
  ].join('\n')
}

function dbscanSection(input: ReportInput): string {
  const dbscan = input.dbscan
  if (!dbscan) return missing('DBSCAN was not run for this bundle.')
  const rows = [
    ['eps', formatValue(dbscan.eps, 4)],
    ['min points', String(dbscan.minPoints)],
    ['rows fitted (sample)', String(dbscan.sampleSize)],
    ['clusters', String(dbscan.clusters)],
    ['noise share', percent(dbscan.noiseShare)],
    ['contacts per cluster', dbscan.sizes.map(String).join(', ') || 'none'],
  ]
  const k = dbscan.minPoints
  const chart = lineChart({
    title: `${k}-distance curve`,
    xLabel: 'share of sample rows, sorted by distance',
    yLabel: `distance to neighbour ${k}`,
    series: [{ name: `${k}-distance`, x: dbscan.kDistance.x, y: dbscan.kDistance.y }],
    xDomain: [0, 1],
    marker: { x: kneeShare(dbscan), label: `eps = ${formatValue(dbscan.eps, 3)}` },
  })
  return [
    '<p>DBSCAN on the scaled persona features, a density-based view beside k-means; scoring does not use it.</p>',
    table(['parameter', 'value'], rows, [false, true]),
    figure(`Sorted ${k}-distance curve`, chart),
  ].join('\n')
}

/** Share of sample rows at which the k-distance curve first reaches eps, where the marker goes. */
function kneeShare(dbscan: NonNullable<ReportInput['dbscan']>): number {
  const index = dbscan.kDistance.y.findIndex((distance) => distance >= dbscan.eps)
  return index < 0 ? 1 : (dbscan.kDistance.x[index] as number)
}

type ChurnReport = NonNullable<ReportInput['churn']>

function churnMetricsTable(churn: ChurnReport): string {
  const metric = (value: number | undefined) =>
    value === undefined ? 'not recorded' : formatValue(value, 4)
  const rows = churn.models.map((model) => {
    const name = escapeHtml(model.name)
    if (model.skipped !== undefined) {
      return [name, '', '', '', '', `not trained: ${escapeHtml(model.skipped)}`]
    }
    return [
      name,
      metric(model.rocAuc),
      metric(model.prAuc),
      metric(model.brier),
      metric(model.brierUncalibrated),
      model.name === churn.chosen ? 'chosen' : 'candidate',
    ]
  })
  return table(
    ['model', 'ROC AUC', 'PR AUC', 'Brier', 'Brier before calibration', 'status'],
    rows,
    [false, true, true, true, true, false],
    churn.models.map((model) => (model.name === churn.chosen ? 'chosen' : '')),
  )
}

function churnCharts(churn: ChurnReport): string[] {
  const rocSeries: LineSeries[] = churn.models.flatMap((model) =>
    model.roc ? [{ name: model.name, x: model.roc.x, y: model.roc.y }] : [],
  )
  const reliabilitySeries: LineSeries[] = churn.models.flatMap((model) =>
    model.reliability ? [{ name: model.name, x: model.reliability.x, y: model.reliability.y }] : [],
  )

  const roc =
    rocSeries.length === 0
      ? missing('ROC curves.')
      : figure(
          'ROC curve on the test window',
          lineChart({
            title: 'ROC curve',
            xLabel: 'false positive rate',
            yLabel: 'true positive rate',
            series: rocSeries,
            xDomain: [0, 1],
            yDomain: [0, 1],
            diagonal: true,
            legend: 'bottom-right',
          }),
        )
  const reliability =
    reliabilitySeries.length === 0
      ? missing('reliability curves.')
      : figure(
          'Reliability curve on the test window',
          lineChart({
            title: 'Reliability curve',
            xLabel: 'mean predicted churn probability',
            yLabel: 'observed churn rate',
            series: reliabilitySeries,
            xDomain: [0, 1],
            yDomain: [0, 1],
            diagonal: true,
            dots: true,
          }),
        )
  return ['<div class="charts">', roc, reliability, '</div>']
}

function churnSection(input: ReportInput): string {
  const churn = input.churn
  if (!churn || churn.models.length === 0) return missing('no churn model metrics.')

  const selectedBy = churn.selectedBy ? ` (selected by ${escapeHtml(churn.selectedBy)})` : ''
  const chosen = churn.chosen
    ? `<p>Chosen model: <strong>${escapeHtml(churn.chosen)}</strong>${selectedBy}.</p>`
    : '<p>The chosen model was not recorded.</p>'
  const note =
    '<p>Metrics and curves are of calibrated probabilities on the test window, which lies after everything the models saw.</p>'
  return [chosen, note, churnMetricsTable(churn), ...churnCharts(churn)].join('\n')
}

/** Features drawn in the importance chart. The table below the chart lists all of them. */
export const MAX_IMPORTANCE_BARS = 20

function importanceSection(input: ReportInput): string {
  const importance = input.importance
  if (!importance || importance.features.length === 0)
    return missing('permutation importance was not measured.')
  // Largest importance first, so the chart reads top down.
  const order = importance.features
    .map((_, i) => i)
    .sort((a, b) => (importance.mean[b] ?? 0) - (importance.mean[a] ?? 0))
  const top = order.slice(0, MAX_IMPORTANCE_BARS)

  const metric = importance.metric ?? 'score'
  const chart = barChart({
    title: 'Permutation importance',
    labels: top.map((i) => importance.features[i] as string),
    values: top.map((i) => importance.mean[i] as number),
    errors: importance.std ? top.map((i) => importance.std?.[i] ?? 0) : undefined,
    valueLabel: `mean drop of ${metric} when the feature is permuted`,
  })

  const model = importance.model ? ` of the ${escapeHtml(importance.model)} model` : ''
  const split = importance.split ? ` on the ${escapeHtml(importance.split)}` : ''
  const spread = importance.std ? '; lines show one standard deviation over the repeats' : ''
  const caption =
    order.length > top.length
      ? `The ${top.length} most important of ${order.length} features`
      : 'Permutation importance'

  const all = table(
    ['feature', `mean drop of ${metric}`, 'standard deviation'],
    order.map((i) => [
      escapeHtml(importance.features[i] as string),
      formatValue(importance.mean[i] ?? Number.NaN),
      importance.std ? formatValue(importance.std[i] ?? Number.NaN) : 'not recorded',
    ]),
    [false, true, true],
  )
  return [
    `<p>Permutation importance${model}${split}: the mean drop of ${escapeHtml(metric)} when one feature's values are shuffled${spread}.</p>`,
    figure(caption, chart),
    `<details><summary>All ${order.length} features</summary>\n${all}\n</details>`,
  ].join('\n')
}

function trainingSection(input: ReportInput): string {
  const { training } = input
  const rows = [
    ['bundle', escapeHtml(input.name)],
    ['version', escapeHtml(input.version)],
    ['created', escapeHtml(input.createdAt)],
    ['churn training features as of', escapeHtml(training.featuresAsOf)],
    ['cutoff (test window and personas)', escapeHtml(training.cutoff)],
    ['labels until', escapeHtml(training.labelsUntil)],
    ['churn horizon', `${formatValue(training.horizonDays)} days`],
    ['contacts in the churn training split', String(training.churnContacts)],
    ['data hash (sha256)', `<code>${escapeHtml(training.dataHash)}</code>`],
  ]
  const libraries = table(
    ['library', 'version'],
    input.libraries.map((library) => [escapeHtml(library.name), escapeHtml(library.version)]),
  )
  return [table(['field', 'value'], rows), '<h3>Library versions</h3>', libraries].join('\n')
}

const RENDERERS: Record<SectionId, (input: ReportInput) => string> = {
  'k-selection': kSelectionSection,
  personas: personasSection,
  'hour-profiles': hourProfilesSection,
  dbscan: dbscanSection,
  churn: churnSection,
  importance: importanceSection,
  training: trainingSection,
}

/** Renders the whole report page. */
export function renderReport(input: ReportInput): string {
  const title = `Training report: ${input.name} ${input.version}`
  const sections = REPORT_SECTIONS.map(
    ({ id, heading }) =>
      `<section id="${id}">\n<h2>${escapeHtml(heading)}</h2>\n${RENDERERS[id](input)}\n</section>`,
  )
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="subtitle">Created ${escapeHtml(input.createdAt)}; personas fitted on features as of the cutoff, churn tested on the labels after it.</p>`,
    ...sections,
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
