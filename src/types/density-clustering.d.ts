/**
 * Types of the parts of density-clustering 1.3.0 (CommonJS, shipped without types) that
 * src/ml/dbscan.ts uses.
 */
declare module 'density-clustering' {
  namespace densityClustering {
    class DBSCAN {
      /**
       * Clusters `dataset` and returns the row indices of each cluster. A row is a neighbour
       * when its distance is strictly below `epsilon`, and the row itself counts towards
       * `minPts`. The dataset must be an `Array`, because typed arrays are rejected.
       */
      run(
        dataset: number[][],
        epsilon: number,
        minPts: number,
        distanceFunction?: (a: number[], b: number[]) => number,
      ): number[][]
      clusters: number[][]
      /** Rows that were not core rows when visited, including border rows that joined a cluster later. */
      noise: number[]
    }
  }
  export = densityClustering
}
