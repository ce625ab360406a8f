"""scikit-learn side of the training benchmark.

Reads matrices written by matrix-file.ts (NAME.f64 with a NAME.json header of rows and cols),
fits one scikit-learn model, and prints one JSON object with the fit time in seconds
(time.perf_counter around fit only) and the model's quality figures.

    python3 peer.py kmeans --x PREFIX --k 8 --n-init 4 --tol 1e-4 --max-iter 300 --seed 1 \
        [--init PREFIX] --labels-out FILE
    python3 peer.py dbscan --x PREFIX --eps 0.3 --min-samples 10 --labels-out FILE
    python3 peer.py forest --x-train PREFIX --y-train FILE --x-test PREFIX --y-test FILE \
        --trees 100 --depth 12 --min-leaf 5 --jobs 2 --seed 1 [--class-weight balanced]
"""

import argparse
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.cluster import DBSCAN, KMeans
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score


def read_matrix(prefix):
    with open(prefix + ".json") as header_file:
        header = json.load(header_file)
    values = np.fromfile(prefix + ".f64", dtype="<f8")
    expected = header["rows"] * header["cols"]
    if values.size != expected:
        sys.exit(f"{prefix}.f64 has {values.size} values, but its header says {expected}")
    return values.reshape(header["rows"], header["cols"])


def read_labels(path):
    return np.fromfile(path, dtype=np.uint8)


def fit_kmeans(args):
    x = read_matrix(args.x)
    if args.init:
        init = read_matrix(args.init)
        n_init = 1
    else:
        init = "k-means++"
        n_init = args.n_init
    model = KMeans(
        n_clusters=args.k,
        init=init,
        n_init=n_init,
        max_iter=args.max_iter,
        tol=args.tol,
        algorithm="lloyd",
        random_state=args.seed,
    )
    start = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - start
    model.labels_.astype("<i4").tofile(args.labels_out)
    return {"seconds": seconds, "inertia": float(model.inertia_), "iterations": int(model.n_iter_)}


def fit_dbscan(args):
    x = read_matrix(args.x)
    model = DBSCAN(eps=args.eps, min_samples=args.min_samples, n_jobs=args.jobs)
    start = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - start
    labels = model.labels_
    labels.astype("<i4").tofile(args.labels_out)
    clusters = int(labels.max()) + 1 if labels.size else 0
    return {"seconds": seconds, "clusters": clusters, "noiseShare": float(np.mean(labels == -1))}


def fit_forest(args):
    x_train = read_matrix(args.x_train)
    y_train = read_labels(args.y_train)
    x_test = read_matrix(args.x_test)
    y_test = read_labels(args.y_test)
    model = RandomForestClassifier(
        n_estimators=args.trees,
        max_depth=args.depth,
        min_samples_leaf=args.min_leaf,
        max_features="sqrt",
        bootstrap=True,
        class_weight=args.class_weight,
        n_jobs=args.jobs,
        random_state=args.seed,
    )
    start = time.perf_counter()
    model.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    scores = model.predict_proba(x_test)[:, 1]
    return {"seconds": seconds, "auc": float(roc_auc_score(y_test, scores))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    kmeans = commands.add_parser("kmeans")
    kmeans.add_argument("--x", required=True)
    kmeans.add_argument("--k", type=int, required=True)
    kmeans.add_argument("--n-init", type=int, default=4)
    kmeans.add_argument("--tol", type=float, default=1e-4)
    kmeans.add_argument("--max-iter", type=int, default=300)
    kmeans.add_argument("--seed", type=int, default=1)
    kmeans.add_argument("--init", help="prefix of a k x cols start matrix; implies n_init=1")
    kmeans.add_argument("--labels-out", required=True)

    dbscan = commands.add_parser("dbscan")
    dbscan.add_argument("--x", required=True)
    dbscan.add_argument("--eps", type=float, required=True)
    dbscan.add_argument("--min-samples", type=int, required=True)
    dbscan.add_argument("--jobs", type=int, default=None)
    dbscan.add_argument("--labels-out", required=True)

    forest = commands.add_parser("forest")
    forest.add_argument("--x-train", required=True)
    forest.add_argument("--y-train", required=True)
    forest.add_argument("--x-test", required=True)
    forest.add_argument("--y-test", required=True)
    forest.add_argument("--trees", type=int, default=100)
    forest.add_argument("--depth", type=int, default=12)
    forest.add_argument("--min-leaf", type=int, default=5)
    forest.add_argument("--jobs", type=int, default=2)
    forest.add_argument("--seed", type=int, default=1)
    forest.add_argument("--class-weight", choices=["balanced"], default=None)

    args = parser.parse_args()
    fit = {"kmeans": fit_kmeans, "dbscan": fit_dbscan, "forest": fit_forest}[args.command]
    result = fit(args)
    result["sklearn"] = sklearn.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
