"""Export a trained scikit-learn model for millrace's `score` step.

    from millrace_onnx import export
    export(model, X_train, ["amount", "hour"], "fraud.onnx")

writes the model as ONNX (skl2onnx, probabilities as a plain tensor) with three
metadata entries that millrace reads:

- ``millrace.features``: the features' names, which a spec's ``score`` step uses
  when it lists no ``features`` of its own;
- ``millrace.reference``: a few training rows and what scikit-learn predicts for
  them; every load of the model is checked against them, so a model millrace would
  read differently from scikit-learn is refused before it scores anything;
- ``millrace.training``: each feature's training distribution in quantile bins,
  against which the step measures drift (population stability index).

Needs scikit-learn, skl2onnx and onnx (``scripts/setup`` installs pinned versions
into ~/.cache/millrace/ml-venv).
"""

import json

import numpy as np
from skl2onnx import to_onnx

# The operator sets millrace's evaluator reads.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def training_bins(column, bins=10):
    """Quantile bin edges of one feature and the share of rows in each bin, as
    NumPy's searchsorted(edges, x, side="left") assigns them."""
    edges = np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, column, side="left"), minlength=len(edges) + 1)
    return [float(e) for e in edges], [float(c) / len(column) for c in counts]


def export(model, X, features, path, reference_rows=8, bins=10):
    """Writes `model`, trained on `X` (rows of the features named `features`), to
    `path` as ONNX with millrace's metadata. Returns the ONNX model."""
    X = np.asarray(X, dtype=np.float32)
    if X.shape[1] != len(features):
        raise ValueError(f"X has {X.shape[1]} columns but {len(features)} feature names")
    is_classifier = hasattr(model, "predict_proba")
    options = {"zipmap": False} if is_classifier else None
    onx = to_onnx(model, X[:1], options=options, target_opset=TARGET_OPSET)

    sample = X[np.linspace(0, len(X) - 1, min(reference_rows, len(X))).astype(int)]
    reference = {"inputs": sample.astype(float).tolist()}
    if is_classifier:
        reference["probabilities"] = model.predict_proba(sample).tolist()
        reference["labels"] = [label.item() for label in model.predict(sample)]
    else:
        values = np.asarray(model.predict(sample), dtype=float)
        reference["values"] = values.reshape(len(sample), -1).tolist()

    training = []
    for j, name in enumerate(features):
        edges, fractions = training_bins(X[:, j], bins)
        training.append({"name": name, "edges": edges, "fractions": fractions})

    for key, value in [
        ("millrace.features", features),
        ("millrace.reference", reference),
        ("millrace.training", {"features": training}),
    ]:
        entry = onx.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value)
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())
    return onx
