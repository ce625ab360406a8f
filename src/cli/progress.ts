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

/** One step of a multi-stage job: `done` of `total` units of the named stage. */
export interface StageEvent {
  stage: string
  done: number
  total: number
}

export interface StageProgress {
  update(event: StageEvent): void
  stop(): void
}

/**
 * Starts one progress bar for a job of several stages, showing the current
 * stage's name and percent. Off a terminal it prints a line each time a
 * stage passes a quarter of its steps.
 */
export function startStageProgress(stream: NodeJS.WriteStream = process.stderr): StageProgress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: '{stage} [{bar}] {percentage}% {value}/{total} {duration_formatted}',
        stream,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
    let started = false
    return {
      update({ stage, done, total }) {
        const payload = { stage: stage.padEnd(10) }
        if (!started) bar.start(total, done, payload)
        started = true
        bar.setTotal(total)
        bar.update(done, payload)
      },
      stop: () => started && bar.stop(),
    }
  }

  let currentStage: string | undefined
  let nextQuarter = 1
  return {
    update({ stage, done, total }) {
      if (stage !== currentStage) {
        currentStage = stage
        nextQuarter = 1
      }
      if (total <= 0) return
      // A step that passes several quarters at once, such as the one step of a one-step stage,
      // prints one line with its own percent.
      const quarter = Math.min(4, Math.floor((done / total) * 4))
      if (quarter < nextQuarter) return
      stream.write(`${stage}: ${Math.floor((done / total) * 100)}% (${done}/${total})\n`)
      nextQuarter = quarter + 1
    },
    stop: () => undefined,
  }
}
