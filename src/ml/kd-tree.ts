/**
 * A k-d tree over the rows of a matrix, with Euclidean radius and k-nearest queries whose
 * results equal a brute-force search. Each point distance is the square root of the sum of
 * squared coordinate differences taken in column order, the same sum as the all-pairs code of
 * dbscan.ts. A node is pruned only when a lower bound on that sum rules out every point in its
 * bounding box. Rows can be deleted, after which queries skip them.
 */
import type { Matrix } from './matrix.ts'

/** Maximum points per leaf, unless all points of a leaf are equal. */
const DEFAULT_LEAF_SIZE = 16

const view = new DataView(new ArrayBuffer(8))

/** Returns the next double after a finite non-negative `value` in direction `step` (+1 or -1). */
function adjacentDouble(value: number, step: 1 | -1): number {
  if (value === 0 && step === -1) return 0
  view.setFloat64(0, value)
  view.setBigUint64(0, view.getBigUint64(0) + BigInt(step))
  return view.getFloat64(0)
}

/**
 * Returns the largest double `s` with `Math.sqrt(s) <= radius`. Because `Math.sqrt` is
 * correctly rounded and monotone, `sum <= threshold` is then the same test as
 * `Math.sqrt(sum) <= radius` for every sum, without a square root per point.
 */
export function squaredThreshold(radius: number): number {
  let s = radius * radius
  while (s > 0 && Math.sqrt(s) > radius) s = adjacentDouble(s, -1)
  while (s < Number.MAX_VALUE && Math.sqrt(adjacentDouble(s, 1)) <= radius) {
    s = adjacentDouble(s, 1)
  }
  return s
}

function medianOfThree(a: number, b: number, c: number): number {
  if (a < b) {
    if (b < c) return b
    return a < c ? c : a
  }
  if (a < c) return a
  return b < c ? c : b
}

export interface KNearest {
  /** Row indices, nearest first. Among rows at equal distance the order is unspecified. */
  indices: Int32Array
  /** Distances matching `indices`, ascending. */
  distances: Float64Array
}

/**
 * A k-d tree that splits each node at the median of its widest column. The tree copies the
 * points in its own order, so later changes to the matrix do not affect it.
 */
export class KdTree {
  readonly rows: number
  readonly cols: number
  /** Points in tree order: position p contains row `order[p]`. */
  private readonly points: Float64Array
  private readonly order: Int32Array
  /** Tree position of each row. */
  private readonly position: Int32Array
  private readonly start: Int32Array
  private readonly end: Int32Array
  /** Left child per node, -1 for a leaf. The right child is `right[node]`. */
  private readonly left: Int32Array
  private readonly right: Int32Array
  private readonly parent: Int32Array
  /** Bounding box corners per node, `cols` values each. */
  private readonly lower: Float64Array
  private readonly upper: Float64Array
  /** Rows not deleted, per node. */
  private readonly liveCount: Int32Array
  /** Leaf node of each tree position. */
  private readonly leafOf: Int32Array
  private readonly deleted: Uint8Array
  private readonly stack = new Int32Array(256)
  private found = new Int32Array(64)
  private heapDistances = new Float64Array(0)
  private heapIndices = new Int32Array(0)

  /**
   * Builds the tree in O(n log n) time. Throws a RangeError for a matrix without rows or
   * columns, a non-finite entry or a leaf size below 1.
   */
  constructor(m: Matrix, leafSize = DEFAULT_LEAF_SIZE) {
    if (m.rows === 0 || m.cols === 0) {
      throw new RangeError(
        `a k-d tree needs at least one row and one column, got ${m.rows} x ${m.cols}`,
      )
    }
    if (!Number.isInteger(leafSize) || leafSize < 1) {
      throw new RangeError(`leafSize must be an integer >= 1, got ${leafSize}`)
    }
    for (let i = 0; i < m.data.length; i++) {
      if (!Number.isFinite(m.data[i])) {
        const row = Math.floor(i / m.cols)
        throw new RangeError(
          `k-d tree input has a non-finite value at row ${row}, column ${i % m.cols}`,
        )
      }
    }
    const { rows, cols, data } = m
    this.rows = rows
    this.cols = cols
    this.order = Int32Array.from({ length: rows }, (_, i) => i)
    // A split leaves at least ceil(leafSize / 2) rows on each side, so this bounds the nodes.
    const minLeaf = Math.ceil(leafSize / 2)
    const maxNodes = 2 * Math.ceil(rows / minLeaf) + 1
    this.start = new Int32Array(maxNodes)
    this.end = new Int32Array(maxNodes)
    this.left = new Int32Array(maxNodes).fill(-1)
    this.right = new Int32Array(maxNodes).fill(-1)
    this.parent = new Int32Array(maxNodes).fill(-1)
    this.lower = new Float64Array(maxNodes * cols)
    this.upper = new Float64Array(maxNodes * cols)
    this.liveCount = new Int32Array(maxNodes)
    this.leafOf = new Int32Array(rows)
    this.deleted = new Uint8Array(rows)

    let nodes = 1
    this.start[0] = 0
    this.end[0] = rows
    const pending = [0]
    while (pending.length > 0) {
      const node = pending.pop() as number
      const from = this.start[node] as number
      const to = this.end[node] as number
      this.liveCount[node] = to - from
      const widest = this.fitBox(node, data)
      const spread =
        widest < 0
          ? 0
          : (this.upper[node * cols + widest] as number) -
            (this.lower[node * cols + widest] as number)
      if (to - from <= leafSize || spread === 0) {
        for (let p = from; p < to; p++) this.leafOf[p] = node
        continue
      }
      const middle = (from + to) >>> 1
      this.selectMedian(data, widest, from, to, middle)
      const leftNode = nodes++
      const rightNode = nodes++
      this.left[node] = leftNode
      this.right[node] = rightNode
      this.parent[leftNode] = node
      this.parent[rightNode] = node
      this.start[leftNode] = from
      this.end[leftNode] = middle
      this.start[rightNode] = middle
      this.end[rightNode] = to
      pending.push(rightNode, leftNode)
    }

    this.points = new Float64Array(rows * cols)
    this.position = new Int32Array(rows)
    for (let p = 0; p < rows; p++) {
      const row = this.order[p] as number
      this.position[row] = p
      this.points.set(data.subarray(row * cols, row * cols + cols), p * cols)
    }
  }

  /** Sets the bounding box of `node` and returns its widest column. */
  private fitBox(node: number, data: Float64Array): number {
    const { cols, order } = this
    const base = node * cols
    const from = this.start[node] as number
    const to = this.end[node] as number
    this.lower.fill(Infinity, base, base + cols)
    this.upper.fill(-Infinity, base, base + cols)
    for (let p = from; p < to; p++) {
      const offset = (order[p] as number) * cols
      for (let j = 0; j < cols; j++) {
        const value = data[offset + j] as number
        if (value < (this.lower[base + j] as number)) this.lower[base + j] = value
        if (value > (this.upper[base + j] as number)) this.upper[base + j] = value
      }
    }
    let widest = -1
    let best = -1
    for (let j = 0; j < cols; j++) {
      const spread = (this.upper[base + j] as number) - (this.lower[base + j] as number)
      if (spread > best) {
        best = spread
        widest = j
      }
    }
    return widest
  }

  /**
   * Reorders `order[from..to)` so position `k` contains the row of rank k by column `column`,
   * with smaller or equal values before it and larger or equal after. This is Hoare's
   * selection with a three-way partition, so many equal values do not make it quadratic.
   */
  private selectMedian(
    data: Float64Array,
    column: number,
    from: number,
    to: number,
    k: number,
  ): void {
    const { order, cols } = this
    const value = (p: number) => data[(order[p] as number) * cols + column] as number
    const swap = (a: number, b: number) => {
      const t = order[a] as number
      order[a] = order[b] as number
      order[b] = t
    }
    let lo = from
    let hi = to - 1
    while (lo < hi) {
      // Median of three as the pivot.
      const mid = (lo + hi) >>> 1
      const pivot = medianOfThree(value(lo), value(mid), value(hi))
      let lt = lo
      let gt = hi
      let i = lo
      while (i <= gt) {
        const v = value(i)
        if (v < pivot) swap(lt++, i++)
        else if (v > pivot) swap(i, gt--)
        else i++
      }
      if (k < lt) hi = lt - 1
      else if (k > gt) lo = gt + 1
      else return
    }
  }

  /** Returns the squared distance from the query to the box of `node`, summed in column order. */
  private boxLowerBound(node: number, query: Float64Array, offset: number): number {
    const { cols, lower, upper } = this
    const base = node * cols
    let sum = 0
    for (let j = 0; j < cols; j++) {
      const q = query[offset + j] as number
      const lo = lower[base + j] as number
      const hi = upper[base + j] as number
      let d = 0
      if (q < lo) d = lo - q
      else if (q > hi) d = q - hi
      sum += d * d
    }
    return sum
  }

  /** Returns the squared distance from the query to the farthest corner of the box of `node`. */
  private boxUpperBound(node: number, query: Float64Array, offset: number): number {
    const { cols, lower, upper } = this
    const base = node * cols
    let sum = 0
    for (let j = 0; j < cols; j++) {
      const q = query[offset + j] as number
      const a = q - (lower[base + j] as number)
      const b = (upper[base + j] as number) - q
      const d = a > b ? a : b
      sum += d * d
    }
    return sum
  }

  /**
   * Returns the squared distance from the query to tree position `p`, or a partial sum of at
   * least `stopAt` once the sum reaches it, which rules the point out just as well.
   */
  private squaredDistance(
    p: number,
    query: Float64Array,
    offset: number,
    stopAt = Infinity,
  ): number {
    const { cols, points } = this
    const base = p * cols
    let sum = 0
    for (let j = 0; j < cols && sum < stopAt; j++) {
      const d = (query[offset + j] as number) - (points[base + j] as number)
      sum += d * d
    }
    return sum
  }

  private checkQuery(query: Float64Array, offset: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + this.cols > query.length) {
      throw new RangeError(
        `query offset ${offset} with ${this.cols} columns is out of range for ${query.length} values`,
      )
    }
  }

  private checkRadius(radius: number): void {
    if (!Number.isFinite(radius) || radius < 0) {
      throw new RangeError(`radius must be a finite number >= 0, got ${radius}`)
    }
  }

  /** Pushes the children of `node` on the stack, the nearer one last, and returns the new top. */
  private pushChildren(node: number, query: Float64Array, offset: number, top: number): number {
    const leftNode = this.left[node] as number
    const rightNode = this.right[node] as number
    const leftFirst =
      this.boxLowerBound(leftNode, query, offset) <= this.boxLowerBound(rightNode, query, offset)
    this.stack[top++] = leftFirst ? rightNode : leftNode
    this.stack[top++] = leftFirst ? leftNode : rightNode
    return top
  }

  /**
   * Counts the rows at distance at most `radius` from the point at `query[offset..offset+cols)`,
   * deleted rows excluded. The search stops once the count reaches `limit`, so a count of at
   * least `limit` means only that there are that many or more. A node whose box lies wholly within
   * the radius adds its count without visiting its points.
   */
  countInRadius(query: Float64Array, offset: number, radius: number, limit = Infinity): number {
    this.checkQuery(query, offset)
    this.checkRadius(radius)
    const threshold = squaredThreshold(radius)
    // A partial sum above the threshold rules a point out.
    const stopAt = adjacentDouble(threshold, 1)
    const { stack, left, right, liveCount, deleted, order } = this
    let top = 0
    stack[top++] = 0
    let count = 0
    while (top > 0 && count < limit) {
      const node = stack[--top] as number
      if (liveCount[node] === 0) continue
      if (this.boxLowerBound(node, query, offset) > threshold) continue
      if (this.boxUpperBound(node, query, offset) <= threshold) {
        count += liveCount[node] as number
        continue
      }
      if (left[node] !== -1) {
        // The nearer child first, because its points reach the limit sooner.
        top = this.pushChildren(node, query, offset, top)
        continue
      }
      const to = this.end[node] as number
      for (let p = this.start[node] as number; p < to; p++) {
        if (deleted[order[p] as number] === 1) continue
        if (this.squaredDistance(p, query, offset, stopAt) <= threshold) count++
      }
    }
    return count
  }

  /**
   * Finds the rows at distance at most `radius` from the point at `query[offset..offset+cols)`,
   * deleted rows excluded, and returns their count. The row indices are in `results` positions
   * 0 to count - 1, in no particular order, until the next call.
   */
  searchRadius(query: Float64Array, offset: number, radius: number): number {
    this.checkQuery(query, offset)
    this.checkRadius(radius)
    const threshold = squaredThreshold(radius)
    // A partial sum above the threshold rules a point out.
    const stopAt = adjacentDouble(threshold, 1)
    const { stack, left, right, liveCount, deleted, order } = this
    let top = 0
    stack[top++] = 0
    let count = 0
    while (top > 0) {
      const node = stack[--top] as number
      if (liveCount[node] === 0) continue
      if (this.boxLowerBound(node, query, offset) > threshold) continue
      if (left[node] !== -1) {
        stack[top++] = right[node] as number
        stack[top++] = left[node] as number
        continue
      }
      const to = this.end[node] as number
      const from = this.start[node] as number
      if (count + to - from > this.found.length) this.grow(count + to - from)
      for (let p = from; p < to; p++) {
        const row = order[p] as number
        if (deleted[row] === 1) continue
        if (this.squaredDistance(p, query, offset, stopAt) > threshold) continue
        this.found[count++] = row
      }
    }
    return count
  }

  /** Grows the result buffer to at least `size` entries, keeping its contents. */
  private grow(size: number): void {
    const grown = new Int32Array(Math.max(size, 2 * this.found.length))
    grown.set(this.found)
    this.found = grown
  }

  /**
   * Row indices found by the last `searchRadius` call, of which only the first `count` are
   * valid. Read it after the call, because a search can replace the array.
   */
  get results(): Int32Array {
    return this.found
  }

  /** Returns the rows within `radius` of a point as a new array, in no particular order. */
  queryRadius(query: Float64Array, radius: number, offset = 0): Int32Array {
    const count = this.searchRadius(query, offset, radius)
    return this.found.slice(0, count)
  }

  /**
   * Fills the max-heap with the `k` smallest squared distances from the query to rows not
   * deleted, and returns how many it contains (fewer than `k` when fewer rows remain).
   */
  private fillNearest(query: Float64Array, offset: number, k: number): number {
    this.checkQuery(query, offset)
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be an integer >= 1, got ${k}`)
    if (this.heapDistances.length < k) {
      this.heapDistances = new Float64Array(k)
      this.heapIndices = new Int32Array(k)
    }
    const heap = this.heapDistances
    const heapRows = this.heapIndices
    const { stack, left, right, liveCount, deleted, order } = this
    let size = 0
    let top = 0
    stack[top++] = 0
    while (top > 0) {
      const node = stack[--top] as number
      if (liveCount[node] === 0) continue
      // A node no nearer than the k-th distance so far cannot improve the set.
      if (size === k && this.boxLowerBound(node, query, offset) >= (heap[0] as number)) continue
      if (left[node] !== -1) {
        top = this.pushChildren(node, query, offset, top)
        continue
      }
      const to = this.end[node] as number
      for (let p = this.start[node] as number; p < to; p++) {
        const row = order[p] as number
        if (deleted[row] === 1) continue
        const d = this.squaredDistance(p, query, offset, size < k ? Infinity : (heap[0] as number))
        if (size < k) {
          // Sift up.
          let i = size++
          while (i > 0) {
            const up = (i - 1) >> 1
            if ((heap[up] as number) >= d) break
            heap[i] = heap[up] as number
            heapRows[i] = heapRows[up] as number
            i = up
          }
          heap[i] = d
          heapRows[i] = row
        } else if (d < (heap[0] as number)) {
          // Replace the root and sift down.
          let i = 0
          for (;;) {
            const a = 2 * i + 1
            if (a >= size) break
            const b = a + 1
            const child = b < size && (heap[b] as number) > (heap[a] as number) ? b : a
            if ((heap[child] as number) <= d) break
            heap[i] = heap[child] as number
            heapRows[i] = heapRows[child] as number
            i = child
          }
          heap[i] = d
          heapRows[i] = row
        }
      }
    }
    return size
  }

  /**
   * Returns the `k` rows nearest to the point at `query[offset..offset+cols)`, deleted rows
   * excluded, or all remaining rows when fewer than `k` remain. A query that is a row of the
   * tree finds that row (or a duplicate of it) first, at distance 0.
   */
  kNearest(query: Float64Array, k: number, offset = 0): KNearest {
    const size = this.fillNearest(query, offset, k)
    const pairs = Array.from({ length: size }, (_, i) => i).sort(
      (a, b) => (this.heapDistances[a] as number) - (this.heapDistances[b] as number),
    )
    return {
      indices: Int32Array.from(pairs, (i) => this.heapIndices[i] as number),
      distances: Float64Array.from(pairs, (i) => Math.sqrt(this.heapDistances[i] as number)),
    }
  }

  /**
   * Returns the distance to the k-th nearest row, deleted rows excluded, without sorting the
   * others. Throws a RangeError when fewer than `k` rows remain.
   */
  kthNearestDistance(query: Float64Array, k: number, offset = 0): number {
    const size = this.fillNearest(query, offset, k)
    if (size < k) throw new RangeError(`k ${k} exceeds the ${size} rows left in the tree`)
    return Math.sqrt(this.heapDistances[0] as number)
  }

  /** Deletes a row, so later queries skip it. Deleting a deleted row does nothing. */
  delete(row: number): void {
    if (!Number.isInteger(row) || row < 0 || row >= this.rows) {
      throw new RangeError(`row ${row} is out of range [0, ${this.rows})`)
    }
    if (this.deleted[row] === 1) return
    this.deleted[row] = 1
    let node = this.leafOf[this.position[row] as number] as number
    while (node !== -1) {
      this.liveCount[node]! -= 1
      node = this.parent[node] as number
    }
  }

  /** Returns true when the row was deleted. */
  isDeleted(row: number): boolean {
    return this.deleted[row] === 1
  }
}
