import { describe, expect, it } from 'vitest'

import { fromRows } from '../../../src/ml/matrix.ts'
import type { ScalerParams } from '../../../src/ml/scaler.ts'
import { describePersona, namePersonas } from '../../../src/segments/naming.ts'
import { matchByName, matchClusters, previousDistances } from '../../../src/segments/stability.ts'

// The identity scaler, so scaled and original units coincide.
const identity: ScalerParams = {
  kind: 'log1p-standard',
  formatVersion: 1,
  log1p: [false, false],
  mean: [0, 0],
  std: [1, 1],
}
const features = ['x', 'y']
const persona = (id: number, name: string, x: number, y: number) => ({
  id,
  name,
  centroid: { x, y },
})

describe('matchClusters', () => {
  it('keeps the ids of matched clusters', () => {
    const previous = {
      version: 'v1',
      list: [persona(0, 'a', 0, 0), persona(1, 'b', 10, 0), persona(2, 'c', 0, 10)],
    }
    const centroids = fromRows([
      [0.1, 10],
      [0, 0.2],
      [9.9, 0],
    ])
    const matches = matchClusters(centroids, features, identity, previous, { maxDistance: 1 })
    expect(matches.map((match) => match.id)).toEqual([2, 0, 1])
    expect(matches.map((match) => match.previous?.name)).toEqual(['c', 'a', 'b'])
    expect(matches[1]!.previous!.distance).toBeCloseTo(0.2, 12)
  })

  it('gives new clusters unused ids first', () => {
    // Persona 1 disappears and two clusters are new: id 3 has never been used, id 1 has.
    const previous = {
      version: 'v1',
      list: [persona(0, 'a', 0, 0), persona(1, 'b', 10, 0), persona(2, 'c', 0, 10)],
    }
    const centroids = fromRows([
      [50, 50],
      [0, 10],
      [0, 0],
      [-50, 50],
    ])
    const matches = matchClusters(centroids, features, identity, previous, { maxDistance: 1 })
    expect(matches.map((match) => match.id)).toEqual([3, 2, 0, 1])
    expect(matches.map((match) => match.previous?.id ?? null)).toEqual([null, 2, 0, null])
  })

  it('renumbers a matched id at or above k', () => {
    const previous = { version: 'v1', list: [persona(0, 'a', 0, 0), persona(5, 'f', 10, 0)] }
    const centroids = fromRows([
      [10, 0],
      [0, 0],
    ])
    const matches = matchClusters(centroids, features, identity, previous, { maxDistance: 1 })
    expect(matches.map((match) => match.id)).toEqual([1, 0])
    expect(matches[0]!.previous?.id).toBe(5)
  })

  it('matches each previous persona once', () => {
    const previous = { version: 'v1', list: [persona(0, 'a', 0, 0)] }
    const centroids = fromRows([
      [0.5, 0],
      [0.1, 0],
    ])
    const matches = matchClusters(centroids, features, identity, previous, { maxDistance: 1 })
    expect(matches.map((match) => match.previous?.id ?? null)).toEqual([null, 0])
    expect(matches.map((match) => match.id)).toEqual([1, 0])
  })

  it('uses the mean for a feature the previous bundle lacks', () => {
    const previous = { version: 'v1', list: [{ id: 0, name: 'a', centroid: { x: 3 } }] }
    const matches = matchClusters(fromRows([[3, 0]]), features, identity, previous, {
      maxDistance: 0,
    })
    expect(matches[0]!.previous).toEqual({ id: 0, name: 'a', distance: 0, by: 'centroid' })
  })

  it('rejects a negative distance', () => {
    expect(() =>
      matchClusters(fromRows([[0, 0]]), features, identity, undefined, { maxDistance: -1 }),
    ).toThrow('maxDistance must be a number >= 0, got -1')
  })
})

describe('naming', () => {
  const population = { open_rate_90d: 0.3, click_rate_90d: 0.05 }
  const steady = { tenure_days: 300, days_since_last_engagement: 5 }
  const night = { ...steady, open_rate_90d: 0.3, click_rate_90d: 0.04, night_share: 0.8 }

  it('skips names that are taken', () => {
    const [named] = namePersonas([night], population, new Set(['night owls']))
    expect(named!.name).toBe('steady readers')
  })

  it('numbers steady readers past taken ones', () => {
    const plain = { ...steady, open_rate_90d: 0.3, click_rate_90d: 0.05 }
    const names = namePersonas([plain, plain], population, new Set(['steady readers']))
    expect(names.map((named) => named.name)).toEqual(['steady readers 2', 'steady readers 3'])
  })

  it('describes a kept name from the current centroid', () => {
    expect(describePersona('night owls', night)).toBe(
      '80% of human opens and clicks between 22:00 and 05:00 local; open rate 30%, click rate 4%',
    )
    expect(describePersona('steady readers 2', night)).toBe('open rate 30%, click rate 4%')
    expect(describePersona('lapsed', night)).toBe('open rate 30%, click rate 4%')
  })
})

describe('matchByName', () => {
  it('moves a far cluster to the id of its name', () => {
    // Both previous personas moved too far to match, and the new clusters hold their ids in
    // the wrong order. The names put them back.
    const previous = { version: 'v1', list: [persona(0, 'a', 0, 0), persona(1, 'b', 10, 0)] }
    const centroids = fromRows([
      [12, 0],
      [2, 0],
    ])
    const matches = matchClusters(centroids, features, identity, previous, { maxDistance: 1 })
    expect(matches.map((match) => match.id)).toEqual([0, 1])
    const distances = previousDistances(centroids, features, identity, previous)
    const byId = [...matches].sort((x, y) => x.id - y.id)
    const newId = matchByName(byId, ['b', 'a'], previous, distances)
    expect(Array.from(newId)).toEqual([1, 0])
    expect(matches[0]!.id).toBe(1)
    expect(matches[0]!.previous).toEqual({ id: 1, name: 'b', distance: 2, by: 'name' })
    expect(matches[1]!.id).toBe(0)
    expect(matches[1]!.previous).toEqual({ id: 0, name: 'a', distance: 2, by: 'name' })
  })

  it('leaves ids of matched personas alone', () => {
    const previous = { version: 'v1', list: [persona(0, 'a', 0, 0), persona(1, 'b', 10, 0)] }
    const centroids = fromRows([
      [0, 0],
      [30, 0],
    ])
    const matches = matchClusters(centroids, features, identity, previous, { maxDistance: 1 })
    const distances = previousDistances(centroids, features, identity, previous)
    // The new cluster is named 'a', but 'a' already matched by centroid, so nothing moves.
    const newId = matchByName(matches, ['a', 'a'], previous, distances)
    expect(Array.from(newId)).toEqual([0, 1])
    expect(matches[1]!.previous).toBeNull()
  })
})
