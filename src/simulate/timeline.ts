/**
 * Puts the events of successive campaigns into time order with bounded memory. Events of one
 * campaign can come days after the next campaign starts (weekend readers), so each campaign's
 * events wait here until no later campaign can produce an earlier event.
 */
import { compareEvents, type SimEvent } from './events.ts'

export class EventTimeline {
  private pending: SimEvent[] = []

  /**
   * Adds the events of one campaign, which must come in contact order and, within a message,
   * in ordinal order. Sorting them by time alone then yields `compareEvents` order, because
   * Array.prototype.sort is stable, and it is cheaper than the full comparison.
   */
  add(events: SimEvent[]): void {
    events.sort((a, b) => a.timeMs - b.timeMs)
    this.pending = mergeSorted(this.pending, events)
  }

  /** Removes and returns, in time order, every pending event before `beforeMs`. */
  takeBefore(beforeMs: number): SimEvent[] {
    let count = 0
    while (count < this.pending.length && (this.pending[count]?.timeMs ?? Infinity) < beforeMs) {
      count += 1
    }
    const taken = this.pending.slice(0, count)
    this.pending = this.pending.slice(count)
    return taken
  }

  get size(): number {
    return this.pending.length
  }
}

function mergeSorted(left: SimEvent[], right: SimEvent[]): SimEvent[] {
  if (left.length === 0) return right
  if (right.length === 0) return left
  const merged: SimEvent[] = new Array(left.length + right.length)
  let i = 0
  let j = 0
  let k = 0
  while (i < left.length && j < right.length) {
    const a = left[i] as SimEvent
    const b = right[j] as SimEvent
    if (compareEvents(a, b) <= 0) {
      merged[k++] = a
      i += 1
    } else {
      merged[k++] = b
      j += 1
    }
  }
  while (i < left.length) merged[k++] = left[i++] as SimEvent
  while (j < right.length) merged[k++] = right[j++] as SimEvent
  return merged
}
