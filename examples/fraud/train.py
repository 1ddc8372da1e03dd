"""The fraud example's data and models, made here from a seed (nothing is
downloaded): a day of card transactions at 20 merchants, each labelled fraud or not
by a hidden rule, and two models trained on them with scikit-learn:

- models/fraud-v1.onnx: standard scaling and a logistic regression;
- models/fraud-v2.onnx: gradient boosting, 100 trees of depth 3.

It also writes transactions.jsonl, an hour of new transactions to score: in its
second half, amounts at a third of the merchants triple, a population the models
were not trained on, which the score step's drift measure picks up; and
expected.jsonl, scikit-learn's own count of transactions fraud-v1 flags per
merchant and minute, to check millrace's counts against; and flags.jsonl, whether
each model flags each transaction, for checking a live swap from one to the other.

Usage: python train.py [OUT_DIR]   (default: this folder). Needs scikit-learn,
skl2onnx and onnx: ~/.cache/millrace/ml-venv/bin/python has them (scripts/setup).
"""

import json
import os
import sys
from collections import Counter

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "guest-sdk", "python", "models"))
from millrace_onnx import export  # noqa: E402

FEATURES = ["amount", "hour", "distance_km", "merchant_risk", "card_age_days"]
MERCHANTS = [f"m{i:02d}" for i in range(20)]
RISK = np.linspace(0.0, 1.0, len(MERCHANTS))


def transactions(rng, n, shifted=None):
    """n transactions: their merchant index and features (float32); `shifted`
    (a boolean per merchant) triples those merchants' amounts."""
    merchant = rng.integers(0, len(MERCHANTS), n)
    amount = rng.lognormal(3.5, 0.8, n)
    if shifted is not None:
        amount = np.where(shifted[merchant], amount * 3, amount)
    X = np.column_stack([
        amount,
        rng.integers(0, 24, n),
        rng.exponential(8.0, n),
        RISK[merchant] + rng.normal(0, 0.05, n),
        rng.exponential(400.0, n),
    ]).astype(np.float32)
    return merchant, X


def fraud(rng, X):
    """The hidden rule: large, far, night-time purchases on new cards at risky
    merchants."""
    z = (0.012 * X[:, 0] + 0.08 * X[:, 2] + 2.5 * X[:, 3] - 0.004 * X[:, 4]
         + np.where(X[:, 1] < 6, 1.2, 0.0) - 4.0 + rng.normal(0, 0.5, len(X)))
    return (z > 0).astype(int)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(os.path.join(out, "models"), exist_ok=True)
    rng = np.random.default_rng(2026)
    _, X = transactions(rng, 20_000)
    y = fraud(rng, X)
    v1 = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    v2 = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
    export(v1, X, FEATURES, os.path.join(out, "models", "fraud-v1.onnx"))
    export(v2, X, FEATURES, os.path.join(out, "models", "fraud-v2.onnx"))

    # An hour of new transactions, 5 a second, in order; the second half shifted.
    n = 18_000
    shifted = np.arange(len(MERCHANTS)) % 3 == 0
    first_merchant, first = transactions(rng, n // 2)
    second_merchant, second = transactions(rng, n // 2, shifted)
    merchant = np.concatenate([first_merchant, second_merchant])
    X_new = np.concatenate([first, second])
    start = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    ts = start + np.arange(n) * 200
    flagged = v1.predict(X_new)
    flagged_v2 = v2.predict(X_new)
    with open(os.path.join(out, "flags.jsonl"), "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "v1": int(flagged[i]), "v2": int(flagged_v2[i])}) + "\n")
    with open(os.path.join(out, "transactions.jsonl"), "w") as f:
        for i in range(n):
            record = {"id": i, "ts": int(ts[i]), "merchant": MERCHANTS[merchant[i]]}
            record.update({name: float(x) for name, x in zip(FEATURES, X_new[i])})
            f.write(json.dumps(record) + "\n")
    counts = Counter()
    for i in np.flatnonzero(flagged == 1):
        counts[(MERCHANTS[merchant[i]], int((ts[i] - start) // 60_000))] += 1
    with open(os.path.join(out, "expected.jsonl"), "w") as f:
        for (name, minute), count in sorted(counts.items()):
            window = start + minute * 60_000
            f.write(json.dumps({"merchant": name, "window_start": window, "flagged": count}) + "\n")
    print(f"trained fraud-v1 (accuracy {v1.score(X, y):.3f}) and fraud-v2 ({v2.score(X, y):.3f}); "
          f"{n} transactions, {int(flagged.sum())} flagged by fraud-v1, in {out}")


if __name__ == "__main__":
    main()
