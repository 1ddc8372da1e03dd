"""The scikit-learn side of the scoring benchmark (host/benches/scoring.rs runs it):
trains the three models the benchmark scores on generated data, exports them for
millrace, writes the rows to score, and times scikit-learn itself on those rows,
one row per call (as a PyFlink UDF calls predict_proba) and in batches of 10,000.

Usage: baseline.py OUT_DIR ROWS. Writes OUT_DIR/<model>.onnx, OUT_DIR/rows.f32 (ROWS
rows of 8 little-endian float32 features) and prints one JSON object:
{"<model>": {"per_row": rows/s, "batched": rows/s}, ...}.
"""

import json
import os
import sys
import time

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "guest-sdk", "python", "models"))
from millrace_onnx import export  # noqa: E402

FEATURES = [f"f{i}" for i in range(8)]


def rate(rows, seconds):
    return rows / seconds if seconds > 0 else float("inf")


def time_per_row(model, X, budget=2.0):
    """Rows per second scoring one row per call, for about `budget` seconds."""
    done, start = 0, time.process_time()
    while time.process_time() - start < budget and done < len(X):
        model.predict_proba(X[done:done + 1])
        done += 1
    return rate(done, time.process_time() - start)


def time_batched(model, X, batch=10_000):
    start = time.process_time()
    for at in range(0, len(X), batch):
        model.predict_proba(X[at:at + batch])
    return rate(len(X), time.process_time() - start)


def main():
    out, rows = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(15)
    X = rng.normal(size=(20_000, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] - 0.5 * X[:, 3] + rng.normal(size=len(X)) * 0.5 > 0).astype(int)
    models = {
        "logistic-regression": LogisticRegression(max_iter=1000).fit(X, y),
        "random-forest-100": RandomForestClassifier(n_estimators=100, max_depth=6, random_state=0).fit(X, y),
        "gradient-boosting-100": GradientBoostingClassifier(n_estimators=100, max_depth=6, random_state=0).fit(X, y),
    }
    test = rng.normal(size=(rows, 8)).astype(np.float32)
    test.astype("<f4").tofile(os.path.join(out, "rows.f32"))
    timings = {}
    for name, model in models.items():
        export(model, X, FEATURES, os.path.join(out, f"{name}.onnx"))
        timings[name] = {"per_row": time_per_row(model, test), "batched": time_batched(model, test)}
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
