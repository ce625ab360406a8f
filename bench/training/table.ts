/** Markdown tables and small number formats for the benchmark's summaries. */
import { loadavg } from 'node:os'

/** Prints a Markdown table with right-aligned columns. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, j) =>
    Math.max(title.length, ...rows.map((row) => (row[j] ?? '').length)),
  )
  const line = (cells: string[]) =>
    `| ${cells.map((cell, j) => cell.padStart(widths[j] as number)).join(' | ')} |`
  console.log(line(header))
  console.log(`| ${widths.map((w) => '-'.repeat(Math.max(1, w - 1)) + ':').join(' | ')} |`)
  for (const row of rows) console.log(line(row))
}

export const fixed = (value: number, digits = 2) => value.toFixed(digits)

/** Relative difference of `ours` from `peer`, in percent with a sign. */
export function percentDifference(ours: number, peer: number): string {
  const percent = ((ours - peer) / peer) * 100
  return `${percent >= 0 ? '+' : ''}${percent.toFixed(3)}%`
}

/** One-minute load average, for the line printed before each measurement. */
export const load = () => loadavg()[0]!.toFixed(2)

/** Runs `fit` and returns its result with the elapsed wall time in seconds. */
export function timed<T>(fit: () => T): { result: T; seconds: number } {
  const start = performance.now()
  const result = fit()
  return { result, seconds: (performance.now() - start) / 1000 }
}
