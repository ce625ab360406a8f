import cliProgress from 'cli-progress'

export interface Progress {
  update(done: number, total: number): void
  stop(): void
}

/**
 * Starts a progress bar on a terminal; elsewhere (CI logs, pipes) it prints one line at each
 * quarter, so logs stay short.
 */
export function startProgress(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(10)} [{bar}] {percentage}% {value}/{total} {duration_formatted}`,
        stream,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
    let started = false
    return {
      update(done, total) {
        if (!started) bar.start(total, 0)
        started = true
        bar.setTotal(total)
        bar.update(done)
      },
      stop: () => started && bar.stop(),
    }
  }

  let nextQuarter = 1
  return {
    update(done, total) {
      // One step has no progress worth a line.
      if (total <= 1) return
      while (total > 0 && done / total >= nextQuarter / 4 && nextQuarter <= 4) {
        stream.write(`${label}: ${nextQuarter * 25}% (${done}/${total})\n`)
        nextQuarter += 1
      }
    },
    stop: () => undefined,
  }
}
