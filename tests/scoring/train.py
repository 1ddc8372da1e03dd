"""Trains one scikit-learn model of each kind millrace scores, on data generated
here, and writes for each, into OUT_DIR:

- <kind>.onnx: the model, exported with millrace_onnx (metadata included);
- <kind>.input.jsonl: records {"id", "f0", ..., "f3"} to score;
- <kind>.expected.jsonl: what scikit-learn predicts for each record, by id
  ({"id", "label", "probabilities"} or {"id", "value"});

and two models that millrace must refuse: zipmap.onnx (the classifier with
skl2onnx's default ZipMap output, an operator the evaluator does not run) and
tampered.onnx (the logistic model with one expected probability of its reference
set changed).

The features are float32 values, written exactly, so that millrace's evaluator and
scikit-learn see the same numbers. Usage: train.py OUT_DIR [ROWS]
"""

import json
import os
import sys

import numpy as np
import onnx
from skl2onnx import to_onnx
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "guest-sdk", "python", "models"))
from millrace_onnx import export  # noqa: E402

FEATURES = ["f0", "f1", "f2", "f3"]


def main():
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(2000, 4)).astype(np.float32) * np.float32(3)
    binary = (X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2] + rng.normal(size=2000) > 0).astype(int)
    three = np.digitize(X[:, 0] - X[:, 3] + rng.normal(size=2000), [-2.0, 2.0])
    target = X @ np.array([1.5, -2.0, 0.5, 3.0]) + np.sin(X[:, 1]) * 4 + rng.normal(size=2000)

    models = {
        "logistic": LogisticRegression().fit(X, binary),
        "logistic-multiclass": LogisticRegression(max_iter=500).fit(X, three),
        "scaled-logistic": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, three),
        "forest": RandomForestClassifier(n_estimators=100, max_depth=6, random_state=1).fit(X, binary),
        "forest-multiclass": RandomForestClassifier(n_estimators=30, max_depth=6, random_state=1).fit(X, three),
        "boosting": GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=1).fit(X, binary),
        "boosting-multiclass": GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=1).fit(X, three),
        "linear-regression": LinearRegression().fit(X, target),
        "forest-regression": RandomForestRegressor(n_estimators=50, max_depth=6, random_state=1).fit(X, target),
        "boosting-regression": GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=1).fit(X, target),
    }
    test = rng.normal(size=(rows, 4)).astype(np.float32) * np.float32(3)
    for name, model in models.items():
        export(model, X, FEATURES, os.path.join(out, f"{name}.onnx"))
        with open(os.path.join(out, f"{name}.input.jsonl"), "w") as inputs:
            for i, row in enumerate(test):
                record = {"id": i, "ts": i}
                record.update({f: float(x) for f, x in zip(FEATURES, row)})
                inputs.write(json.dumps(record) + "\n")
        with open(os.path.join(out, f"{name}.expected.jsonl"), "w") as expected:
            if hasattr(model, "predict_proba"):
                labels = model.predict(test)
                for i, (label, p) in enumerate(zip(labels, model.predict_proba(test))):
                    expected.write(json.dumps({"id": i, "label": label.item(), "probabilities": p.tolist()}) + "\n")
            else:
                for i, value in enumerate(model.predict(test)):
                    expected.write(json.dumps({"id": i, "value": float(value)}) + "\n")

    zipmap = to_onnx(models["logistic"], X[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    with open(os.path.join(out, "zipmap.onnx"), "wb") as f:
        f.write(zipmap.SerializeToString())
    tampered = onnx.load(os.path.join(out, "logistic.onnx"))
    for entry in tampered.metadata_props:
        if entry.key == "millrace.reference":
            reference = json.loads(entry.value)
            reference["probabilities"][3] = [0.5, 0.5]
            entry.value = json.dumps(reference)
    onnx.save(tampered, os.path.join(out, "tampered.onnx"))


if __name__ == "__main__":
    main()
