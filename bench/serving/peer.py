"""FastAPI peer of the serving benchmark: scikit-learn k-means centroids and a random forest
behind POST /v1/score with the request and response shape of contact-segments' API, for
contacts given with their features.

Train once, then serve with uvicorn (each worker loads the pickled models):

    python3 peer.py train DIR          # reads DIR/meta.json and the matrices, writes DIR/model.pkl
    PEER_MODEL_DIR=DIR PEER_API_KEY_SHA256=HEX [PEER_REASONS=1] \\
        python3 -m uvicorn peer:app --app-dir bench/serving --workers 2 --port 18081

With PEER_REASONS=1 each result also gets up to 3 churn reasons computed as our API computes
them (src/ml/importance.ts substitutionReasons): each feature that differs from its training
median is set to the median in a copy of the row, and the features whose substitution changes
the probability most are returned.
"""

import hashlib
import hmac
import json
import os
import pickle
import sys
from typing import Dict, List, Optional

import numpy as np

MODEL_FILE = "model.pkl"


def read_matrix(prefix):
    with open(prefix + ".json") as header_file:
        header = json.load(header_file)
    return np.fromfile(prefix + ".f64", dtype="<f8").reshape(header["rows"], header["cols"])


def train(directory):
    from sklearn.cluster import KMeans
    from sklearn.ensemble import RandomForestClassifier

    with open(os.path.join(directory, "meta.json")) as meta_file:
        meta = json.load(meta_file)
    persona = read_matrix(os.path.join(directory, "persona"))
    kmeans = KMeans(
        n_clusters=meta["k"], n_init=4, algorithm="lloyd", random_state=meta["seed"] % 2**32
    )
    kmeans.fit(persona)
    x = read_matrix(os.path.join(directory, "churn"))
    y = np.fromfile(os.path.join(directory, "churn.u8"), dtype=np.uint8)
    # n_jobs=1 for serving: joblib's thread pool costs more than it saves on small batches.
    forest = RandomForestClassifier(
        n_estimators=meta["trees"],
        max_depth=meta["maxDepth"],
        min_samples_leaf=meta["minSamplesLeaf"],
        max_features="sqrt",
        class_weight=meta["classWeight"],
        n_jobs=1,
        random_state=meta["seed"] % 2**32,
    )
    forest.fit(x, y)
    with open(os.path.join(directory, MODEL_FILE), "wb") as model_file:
        pickle.dump({"meta": meta, "centroids": kmeans.cluster_centers_, "forest": forest}, model_file)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "train":
        sys.exit("usage: python3 peer.py train DIR")
    train(sys.argv[2])
    sys.exit(0)

from fastapi import FastAPI, Header, HTTPException  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

with open(os.path.join(os.environ["PEER_MODEL_DIR"], MODEL_FILE), "rb") as model_file:
    MODEL = pickle.load(model_file)
META = MODEL["meta"]
CENTROIDS = MODEL["centroids"]
FOREST = MODEL["forest"]
FEATURE_INDEX = {name: j for j, name in enumerate(META["featureNames"])}
PERSONA_COLUMNS = [FEATURE_INDEX[name] for name in META["personaFeatures"]]
CHURN_COLUMNS = [FEATURE_INDEX[name] for name in META["churnFeatures"]]
LOG1P = np.array(META["scaler"]["log1p"])
MEAN = np.array(META["scaler"]["mean"])
STD = np.array(META["scaler"]["std"])
API_KEY_DIGEST = bytes.fromhex(os.environ["PEER_API_KEY_SHA256"])
REASONS = os.environ.get("PEER_REASONS") == "1"
MEDIANS = np.array(META["churnMedians"])
CHURN_NAMES = META["churnFeatures"]
REASON_COUNT = 3

app = FastAPI()


class ContactInput(BaseModel):
    key: Optional[str] = None
    features: Dict[str, float]


class ScoreRequest(BaseModel):
    contacts: List[ContactInput] = Field(..., min_items=1, max_items=10_000)


def check_key(authorization):
    token = authorization[7:] if authorization and authorization.startswith("Bearer ") else ""
    digest = hashlib.sha256(token.encode()).digest()
    if not hmac.compare_digest(digest, API_KEY_DIGEST):
        raise HTTPException(status_code=401, detail="invalid API key")


def band(probability):
    if probability >= META["bands"]["high"]:
        return "high"
    return "medium" if probability >= META["bands"]["medium"] else "low"


def substitution_reasons(x, probabilities):
    """Returns up to REASON_COUNT reasons per row, from one predict_proba call for all copies.

    NOTE: effects are on the forest's uncalibrated probabilities, while our API calibrates first,
    so the reasons can differ in order even where the forests agree.
    """
    rows, columns = np.nonzero(x != MEDIANS)
    copies = x[rows]
    copies[np.arange(len(rows)), columns] = MEDIANS[columns]
    substituted = FOREST.predict_proba(copies)[:, 1] if len(rows) else np.empty(0)
    effects = probabilities[rows] - substituted
    reasons = [[] for _ in range(len(x))]
    for row, column, effect in zip(rows, columns, effects):
        if effect != 0:
            reasons[row].append((abs(effect), column, effect))
    return [
        [
            {"feature": CHURN_NAMES[column], "value": float(x[i, column]), "effect": float(effect)}
            for _, column, effect in sorted(found, key=lambda entry: -entry[0])[:REASON_COUNT]
        ]
        for i, found in enumerate(reasons)
    ]


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/v1/score")
def score(request: ScoreRequest, authorization: Optional[str] = Header(default=None)):
    check_key(authorization)
    names = META["featureNames"]
    rows = np.empty((len(request.contacts), len(names)))
    for i, contact in enumerate(request.contacts):
        try:
            rows[i] = [contact.features[name] for name in names]
        except KeyError as error:
            raise HTTPException(status_code=400, detail=f"contacts.{i}.features: missing {error}")
    persona = rows[:, PERSONA_COLUMNS]
    persona = np.where(LOG1P, np.log1p(np.maximum(persona, 0)), persona)
    persona = (persona - MEAN) / STD
    squared = ((persona[:, None, :] - CENTROIDS[None, :, :]) ** 2).sum(axis=2)
    ids = squared.argmin(axis=1)
    distances = np.sqrt(squared[np.arange(len(ids)), ids])
    churn_rows = rows[:, CHURN_COLUMNS]
    probabilities = FOREST.predict_proba(churn_rows)[:, 1]
    reasons = substitution_reasons(churn_rows, probabilities) if REASONS else None
    results = [
        {
            "index": i,
            "key": contact.key,
            "persona": {"id": int(ids[i]), "distance": float(distances[i])},
            "churn": {"probability": float(probabilities[i]), "band": band(probabilities[i])},
            **({"reasons": reasons[i]} if REASONS else {}),
            "modelVersion": META["version"],
        }
        for i, contact in enumerate(request.contacts)
    ]
    return {"modelVersion": META["version"], "results": results}
