/**
 * SVG charts drawn as strings for the offline training report: line charts, horizontal bar
 * charts and a heat map. Every string that comes from data is escaped, and coordinates are
 * rounded to two decimals so the markup stays small and tests can compute them by hand.
 */

/** Escapes the five characters that are special in HTML text and in quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;')
}

/** Formats an SVG coordinate with at most two decimals and no trailing zeros. */
export function coordinate(value: number): string {
  const rounded = Math.round(value * 100) / 100
  return String(Object.is(rounded, -0) ? 0 : rounded)
}

/**
 * Formats a value for a label: integers as they are, other numbers with `digits` significant
 * digits. A magnitude below 1e-12, such as the float noise of a centroid mapped back to
 * original units, prints as 0.
 */
export function formatValue(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value)
  if (Math.abs(value) < 1e-12) return '0'
  if (Number.isInteger(value)) return String(value)
  return String(Number(value.toPrecision(digits)))
}

/** Returns a function that maps [domainMin, domainMax] linearly onto [rangeStart, rangeEnd]. */
export function linearScale(
  domain: readonly [number, number],
  range: readonly [number, number],
): (value: number) => number {
  const [d0, d1] = domain
  const [r0, r1] = range
  // A zero-width domain (one point, or equal values) maps to the middle of the range.
  if (d1 === d0) return () => (r0 + r1) / 2
  return (value) => r0 + ((value - d0) / (d1 - d0)) * (r1 - r0)
}

/** Returns round tick values (steps of 1, 2 or 5 times a power of ten) within the domain. */
export function niceTicks(domain: readonly [number, number], count = 5): number[] {
  const [low, high] = domain
  if (!(high > low)) return [low]
  const rawStep = (high - low) / Math.max(1, count)
  const power = 10 ** Math.floor(Math.log10(rawStep))
  const multiple = [1, 2, 5, 10].find((m) => m * power >= rawStep) ?? 10
  const step = multiple * power
  const ticks: number[] = []
  for (let tick = Math.ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    // Rounding to the step's decimals removes float noise such as 0.30000000000000004.
    ticks.push(Number(tick.toFixed(Math.max(0, -Math.floor(Math.log10(step))))))
  }
  return ticks
}

/** Series colors, chosen to stay distinct for readers with red-green color blindness. */
const PALETTE = ['#1f77b4', '#e66100', '#5d3a9b', '#1a9850', '#7f7f7f']

export interface LineSeries {
  name: string
  x: readonly number[]
  y: readonly number[]
}

export interface LineChartOptions {
  title: string
  xLabel: string
  yLabel: string
  series: readonly LineSeries[]
  width?: number
  height?: number
  /** Fixed axis ranges. By default each axis spans its data. */
  xDomain?: [number, number]
  yDomain?: [number, number]
  /** A vertical line at this x value, such as the chosen k. */
  marker?: { x: number; label: string }
  /** Draws the line y = x, the chance line of a ROC curve or perfect calibration. */
  diagonal?: boolean
  /** Draws a dot on every point, for short series. */
  dots?: boolean
  /** Uses the x values as tick labels, for short integer axes such as k. */
  integerXTicks?: boolean
  /** Corner of the plot for the legend, top left by default. */
  legend?: 'top-left' | 'bottom-right'
}

/** Plot margins in pixels, leaving room for tick labels and axis titles. */
export const MARGIN = { top: 28, right: 16, bottom: 44, left: 60 }

function extent(values: Iterable<number>): [number, number] {
  let low = Infinity
  let high = -Infinity
  for (const value of values) {
    if (!Number.isFinite(value)) continue
    low = Math.min(low, value)
    high = Math.max(high, value)
  }
  return low <= high ? [low, high] : [0, 1]
}

/**
 * Draws a line chart with one polyline per series. Each polyline has one point per (x, y)
 * pair of its series in order, leaving out pairs with a non-finite value.
 */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 480
  const height = options.height ?? 300
  const left = MARGIN.left
  const right = width - MARGIN.right
  const top = MARGIN.top
  const bottom = height - MARGIN.bottom
  const xDomain = options.xDomain ?? extent(options.series.flatMap((s) => s.x))
  const yDomain = options.yDomain ?? extent(options.series.flatMap((s) => s.y))
  const sx = linearScale(xDomain, [left, right])
  const sy = linearScale(yDomain, [bottom, top])
  const parts: string[] = []

  const xTicks = options.integerXTicks
    ? [...new Set(options.series.flatMap((s) => s.x))].sort((a, b) => a - b)
    : niceTicks(xDomain)
  for (const tick of xTicks) {
    const x = coordinate(sx(tick))
    parts.push(
      `<line class="grid" x1="${x}" y1="${top}" x2="${x}" y2="${bottom}"/>`,
      `<text class="tick" x="${x}" y="${bottom + 16}" text-anchor="middle">${formatValue(tick)}</text>`,
    )
  }
  for (const tick of niceTicks(yDomain)) {
    const y = coordinate(sy(tick))
    parts.push(
      `<line class="grid" x1="${left}" y1="${y}" x2="${right}" y2="${y}"/>`,
      `<text class="tick" x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatValue(tick)}</text>`,
    )
  }
  parts.push(
    `<rect class="frame" x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/>`,
  )

  if (options.diagonal) {
    const low = Math.max(xDomain[0], yDomain[0])
    const high = Math.min(xDomain[1], yDomain[1])
    parts.push(
      `<line class="reference" x1="${coordinate(sx(low))}" y1="${coordinate(sy(low))}" x2="${coordinate(sx(high))}" y2="${coordinate(sy(high))}"/>`,
    )
  }
  if (options.marker) {
    const x = coordinate(sx(options.marker.x))
    parts.push(
      `<line class="marker" x1="${x}" y1="${top}" x2="${x}" y2="${bottom}"/>`,
      `<text class="marker-label" x="${x}" y="${top - 6}" text-anchor="middle">${escapeHtml(options.marker.label)}</text>`,
    )
  }

  options.series.forEach((series, index) => {
    const color = PALETTE[index % PALETTE.length] as string
    const count = Math.min(series.x.length, series.y.length)
    const points: string[] = []
    for (let i = 0; i < count; i++) {
      const x = series.x[i] as number
      const y = series.y[i] as number
      // A missing value, such as an undefined silhouette, leaves its point out.
      if (Number.isFinite(x) && Number.isFinite(y)) {
        points.push(`${coordinate(sx(x))},${coordinate(sy(y))}`)
      }
    }
    parts.push(
      `<polyline class="series" data-series="${escapeHtml(series.name)}" stroke="${color}" points="${points.join(' ')}"/>`,
    )
    if (options.dots) {
      for (const point of points) {
        const [cx, cy] = point.split(',')
        parts.push(`<circle class="dot" cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`)
      }
    }
    // Legend entries stack from the chosen corner of the plot, 150 pixels wide for a model name.
    const bottomRight = options.legend === 'bottom-right'
    const legendX = bottomRight ? right - 150 : left + 8
    const legendY = bottomRight
      ? bottom - 14 - (options.series.length - 1 - index) * 16
      : top + 14 + index * 16
    parts.push(
      `<line x1="${legendX}" y1="${legendY}" x2="${legendX + 18}" y2="${legendY}" stroke="${color}" stroke-width="2"/>`,
      `<text class="legend" x="${legendX + 22}" y="${legendY}" dominant-baseline="middle">${escapeHtml(series.name)}</text>`,
    )
  })

  parts.push(
    `<text class="axis-title" x="${coordinate((left + right) / 2)}" y="${height - 6}" text-anchor="middle">${escapeHtml(options.xLabel)}</text>`,
    `<text class="axis-title" transform="translate(14 ${coordinate((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeHtml(options.yLabel)}</text>`,
  )
  return svg(options.title, width, height, 'line-chart', parts)
}

export interface BarChartOptions {
  title: string
  labels: readonly string[]
  values: readonly number[]
  /** Error bar half-widths, such as the standard deviation of permutation importance. */
  errors?: readonly number[]
  valueLabel: string
  width?: number
}

/** Height of one bar's row in a horizontal bar chart, in pixels. */
export const BAR_ROW_HEIGHT = 22

/**
 * Draws a horizontal bar chart with one bar per label, from zero to its value. Negative values
 * (possible for permutation importance) extend left of the zero line.
 */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 560
  // About 7 pixels per character of the 12-pixel label font.
  const labelWidth = Math.min(220, 12 + 7 * Math.max(4, ...options.labels.map((l) => l.length)))
  // Room for a value label such as -0.000123 at the 11-pixel font.
  const valueWidth = 80
  const left = labelWidth
  const right = width - valueWidth
  const top = 8
  const height = top + options.labels.length * BAR_ROW_HEIGHT + 30
  const low = Math.min(0, ...options.values.map((v, i) => v - (options.errors?.[i] ?? 0)))
  const high = Math.max(0, ...options.values.map((v, i) => v + (options.errors?.[i] ?? 0)))
  const sx = linearScale([low, high === low ? low + 1 : high], [left, right])
  const zero = sx(0)
  const parts: string[] = []

  options.labels.forEach((label, i) => {
    const value = options.values[i] as number
    const y = top + i * BAR_ROW_HEIGHT
    const x0 = Math.min(zero, sx(value))
    const barWidth = Math.abs(sx(value) - zero)
    parts.push(
      `<text class="bar-label" x="${left - 6}" y="${coordinate(y + BAR_ROW_HEIGHT / 2)}" text-anchor="end" dominant-baseline="middle">${escapeHtml(label)}</text>`,
      `<rect class="bar" x="${coordinate(x0)}" y="${y + 3}" width="${coordinate(barWidth)}" height="${BAR_ROW_HEIGHT - 6}"><title>${escapeHtml(label)}: ${formatValue(value)}</title></rect>`,
    )
    const error = options.errors?.[i]
    if (error !== undefined && error > 0) {
      const cy = coordinate(y + BAR_ROW_HEIGHT / 2)
      parts.push(
        `<line class="error-bar" x1="${coordinate(sx(value - error))}" y1="${cy}" x2="${coordinate(sx(value + error))}" y2="${cy}"/>`,
      )
    }
    parts.push(
      `<text class="bar-value" x="${right + 6}" y="${coordinate(y + BAR_ROW_HEIGHT / 2)}" dominant-baseline="middle">${formatValue(value)}</text>`,
    )
  })

  const axisY = top + options.labels.length * BAR_ROW_HEIGHT
  parts.push(
    `<line class="axis" x1="${coordinate(zero)}" y1="${top}" x2="${coordinate(zero)}" y2="${axisY}"/>`,
    `<text class="axis-title" x="${coordinate((left + right) / 2)}" y="${axisY + 20}" text-anchor="middle">${escapeHtml(options.valueLabel)}</text>`,
  )
  return svg(options.title, width, height, 'bar-chart', parts)
}

export interface HeatMapOptions {
  title: string
  rowLabels: readonly string[]
  columnLabels: readonly string[]
  /** One array per row, one value per column. */
  values: readonly (readonly number[])[]
  cellWidth?: number
  cellHeight?: number
}

/** Mixes white with a dark blue by `t` in [0, 1]. */
function heatColor(t: number): string {
  const clamp = Math.max(0, Math.min(1, t))
  const channel = (from: number, to: number) => Math.round(from + (to - from) * clamp)
  return `rgb(${channel(247, 8)},${channel(251, 48)},${channel(255, 107)})`
}

/**
 * Draws a heat map: one `g.heat-row` per row holding one `rect.heat-cell` per column. Color
 * runs from white at zero to dark blue at the largest value of the whole map, so rows can be
 * compared with each other.
 */
export function heatMap(options: HeatMapOptions): string {
  const cellWidth = options.cellWidth ?? 20
  const cellHeight = options.cellHeight ?? 22
  const labelWidth = Math.min(220, 12 + 7 * Math.max(4, ...options.rowLabels.map((l) => l.length)))
  const top = 20
  const width = labelWidth + options.columnLabels.length * cellWidth + 8
  const height = top + options.rowLabels.length * cellHeight + 8
  const maximum = Math.max(0, ...options.values.flat().filter(Number.isFinite))
  const parts: string[] = []

  options.columnLabels.forEach((label, j) => {
    const x = coordinate(labelWidth + j * cellWidth + cellWidth / 2)
    parts.push(
      `<text class="tick" x="${x}" y="${top - 6}" text-anchor="middle">${escapeHtml(label)}</text>`,
    )
  })
  options.rowLabels.forEach((label, i) => {
    const y = top + i * cellHeight
    const cells = (options.values[i] ?? []).map((value, j) => {
      const fill = heatColor(maximum > 0 ? value / maximum : 0)
      const title = `${escapeHtml(label)}, ${escapeHtml(options.columnLabels[j] ?? String(j))}: ${formatValue(value)}`
      return `<rect class="heat-cell" x="${labelWidth + j * cellWidth}" y="${y}" width="${cellWidth}" height="${cellHeight}" fill="${fill}"><title>${title}</title></rect>`
    })
    parts.push(
      `<g class="heat-row" data-row="${escapeHtml(label)}">`,
      `<text class="bar-label" x="${labelWidth - 6}" y="${coordinate(y + cellHeight / 2)}" text-anchor="end" dominant-baseline="middle">${escapeHtml(label)}</text>`,
      ...cells,
      '</g>',
    )
  })
  return svg(options.title, width, height, 'heat-map', parts)
}

function svg(title: string, width: number, height: number, kind: string, parts: string[]): string {
  return [
    `<svg class="chart ${kind}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    `<title>${escapeHtml(title)}</title>`,
    ...parts,
    '</svg>',
  ].join('\n')
}
