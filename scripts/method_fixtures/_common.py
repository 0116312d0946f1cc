"""Shared helpers for the method fixture scripts: write one JSON file per topic."""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "assets", "fixtures", "methods")


def tolist(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, dict):
        return {k: tolist(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [tolist(x) for x in v]
    return v


def write(topic, cases, meta=None):
    """Write assets/fixtures/methods/<topic>.json: {"meta": {...versions}, "cases": {...}}."""
    import scipy, sklearn, statsmodels  # noqa: E401
    versions = {"numpy": np.__version__, "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__, "statsmodels": statsmodels.__version__}
    # By distribution metadata, not `import xgboost`: this folder's own xgboost.py would
    # shadow the installed package.
    from importlib import metadata
    try:
        versions["xgboost"] = metadata.version("xgboost-cpu")
    except metadata.PackageNotFoundError:
        pass
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"{topic}.json")
    with open(path, "w") as f:
        json.dump({"meta": {"versions": versions, **(meta or {})}, "cases": tolist(cases)}, f,
                  separators=(",", ":"), allow_nan=True)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")
