import { describe, expect, it } from 'vitest'
import {
  barChart,
  coordinate,
  escapeHtml,
  formatValue,
  heatMap,
  lineChart,
  linearScale,
  MARGIN,
  niceTicks,
} from '../../training/report-charts.ts'

/** Returns the value of every `name="..."` attribute of the elements with class `className`. */
function attributes(svg: string, className: string, name: string): string[] {
  const elements = svg.match(new RegExp(`<[a-z]+ class="${className}"[^>]*>`, 'g')) ?? []
  return elements.map((element) => new RegExp(`\\b${name}="([^"]*)"`).exec(element)?.[1] ?? '')
}

describe('escapeHtml', () => {
  it('escapes the five special characters', () => {
    expect(escapeHtml(`<script>alert("x" & 'y')</script>`)).toBe(
      '&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;',
    )
  })

  it('escapes an ampersand before the others', () => {
    expect(escapeHtml('&lt;')).toBe('&amp;lt;')
  })

  it('leaves plain text alone', () => {
    expect(escapeHtml('night owls, 23:00')).toBe('night owls, 23:00')
  })
})

describe('coordinate and formatValue', () => {
  it('rounds coordinates to two decimals', () => {
    expect(coordinate(142.123)).toBe('142.12')
    expect(coordinate(60)).toBe('60')
    expect(coordinate(-0.001)).toBe('0')
  })

  it('formats values with significant digits', () => {
    expect(formatValue(12)).toBe('12')
    expect(formatValue(0.123456)).toBe('0.123')
    expect(formatValue(0.123456, 4)).toBe('0.1235')
    expect(formatValue(Number.NaN)).toBe('NaN')
    expect(formatValue(2.78e-17)).toBe('0')
    expect(formatValue(-1.11e-16)).toBe('0')
    expect(formatValue(1e-9)).toBe('1e-9')
  })
})

describe('linearScale', () => {
  it('maps the domain ends onto the range ends', () => {
    const scale = linearScale([2, 10], [100, 20])
    expect(scale(2)).toBe(100)
    expect(scale(10)).toBe(20)
    expect(scale(6)).toBe(60)
  })

  it('maps a zero-width domain to the middle', () => {
    expect(linearScale([3, 3], [0, 50])(3)).toBe(25)
  })
})

describe('niceTicks', () => {
  it('steps by 0.2 over [0, 1]', () => {
    expect(niceTicks([0, 1])).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1])
  })

  it('starts at the first multiple of the step', () => {
    expect(niceTicks([13, 87])).toEqual([20, 40, 60, 80])
  })

  it('returns one tick for an empty domain', () => {
    expect(niceTicks([5, 5])).toEqual([5])
  })
})

describe('lineChart', () => {
  // Default size 480 x 300: the plot spans x 60..464 and y 256..28.
  const svg = lineChart({
    title: 'test',
    xLabel: 'k',
    yLabel: 'value',
    series: [{ name: 'a', x: [1, 2, 3], y: [0, 5, 10] }],
    marker: { x: 2, label: 'chosen k = 2' },
    dots: true,
  })

  it('places the points by hand-computed coordinates', () => {
    expect(MARGIN).toEqual({ top: 28, right: 16, bottom: 44, left: 60 })
    expect(attributes(svg, 'series', 'points')).toEqual(['60,256 262,142 464,28'])
  })

  it('draws one dot per point', () => {
    expect(attributes(svg, 'dot', 'cx')).toEqual(['60', '262', '464'])
    expect(attributes(svg, 'dot', 'cy')).toEqual(['256', '142', '28'])
  })

  it('draws the marker at its x value', () => {
    expect(attributes(svg, 'marker', 'x1')).toEqual(['262'])
    expect(svg).toContain('>chosen k = 2</text>')
  })

  it('leaves out points with a missing value', () => {
    const gappy = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'a', x: [0, 1, 2], y: [0, Number.NaN, 1] }],
    })
    expect(attributes(gappy, 'series', 'points')).toEqual(['60,256 464,28'])
  })

  it('draws the diagonal over fixed domains', () => {
    const roc = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'a', x: [0, 0.5, 1], y: [0, 0.75, 1] }],
      xDomain: [0, 1],
      yDomain: [0, 1],
      diagonal: true,
    })
    // y = 256 - 0.75 * 228 = 85.
    expect(attributes(roc, 'series', 'points')).toEqual(['60,256 262,85 464,28'])
    const diagonal = ['x1', 'y1', 'x2', 'y2'].map((name) => attributes(roc, 'reference', name)[0])
    expect(diagonal).toEqual(['60', '256', '464', '28'])
  })

  it('escapes series names', () => {
    const named = lineChart({
      title: '<t>',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: '"a"<b>', x: [0], y: [0] }],
    })
    expect(named).toContain('data-series="&quot;a&quot;&lt;b&gt;"')
    expect(named).not.toContain('<b>')
    expect(named).toContain('<title>&lt;t&gt;</title>')
  })
})

describe('barChart', () => {
  it('draws one bar per value from zero', () => {
    // Labels of at most 4 characters give a 40-pixel label column, so bars span x 40..480.
    const svg = barChart({ title: 't', labels: ['a', 'bb'], values: [2, 4], valueLabel: 'n' })
    expect(attributes(svg, 'bar', 'x')).toEqual(['40', '40'])
    expect(attributes(svg, 'bar', 'width')).toEqual(['220', '440'])
    expect(attributes(svg, 'bar', 'y')).toEqual(['11', '33'])
  })

  it('extends negative values left of zero', () => {
    // Domain [-1, 3] onto 40..480: zero at 150.
    const svg = barChart({ title: 't', labels: ['a', 'b'], values: [-1, 3], valueLabel: 'n' })
    expect(attributes(svg, 'bar', 'x')).toEqual(['40', '150'])
    expect(attributes(svg, 'bar', 'width')).toEqual(['110', '330'])
    expect(attributes(svg, 'axis', 'x1')).toEqual(['150'])
  })

  it('draws error bars around the value', () => {
    // Domain [0, 5] onto 40..480: 88 pixels per unit.
    const svg = barChart({
      title: 't',
      labels: ['a'],
      values: [4],
      errors: [1],
      valueLabel: 'n',
    })
    expect(attributes(svg, 'error-bar', 'x1')).toEqual(['304'])
    expect(attributes(svg, 'error-bar', 'x2')).toEqual(['480'])
  })

  it('escapes labels', () => {
    const svg = barChart({ title: 't', labels: ['<img src=x>'], values: [1], valueLabel: 'n' })
    expect(svg).toContain('&lt;img src=x&gt;')
    expect(svg).not.toContain('<img')
  })
})

describe('heatMap', () => {
  const svg = heatMap({
    title: 't',
    rowLabels: ['a', 'b'],
    columnLabels: ['0', '1', '2'],
    values: [
      [0, 1, 2],
      [2, 0, 0],
    ],
  })

  it('draws one row group per row and one cell per column', () => {
    const rows = svg.split('<g class="heat-row"').slice(1)
    expect(rows).toHaveLength(2)
    for (const row of rows) expect(row.match(/class="heat-cell"/g)).toHaveLength(3)
  })

  it('colors cells from white to dark blue by the map maximum', () => {
    expect(attributes(svg, 'heat-cell', 'fill')).toEqual([
      'rgb(247,251,255)',
      'rgb(128,150,181)',
      'rgb(8,48,107)',
      'rgb(8,48,107)',
      'rgb(247,251,255)',
      'rgb(247,251,255)',
    ])
  })

  it('places cells by column and row', () => {
    // Row labels of at most 4 characters give a 40-pixel label column, and cells are 20 x 22 from y 20.
    expect(attributes(svg, 'heat-cell', 'x')).toEqual(['40', '60', '80', '40', '60', '80'])
    expect(attributes(svg, 'heat-cell', 'y')).toEqual(['20', '20', '20', '42', '42', '42'])
  })
})
