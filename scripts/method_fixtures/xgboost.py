"""Reference for common::ml::xgboost: XGBoost's native API (xgb.train) on project 47's toy
data (spec p47, Part 1), made smaller: 150 + 150 samples, 10 features, class 1 shifted by
linspace(0.7, -0.7, 10). Seeded, nthread=1, so every number here is reproducible; the Rust
side trains through the same libxgboost (C API) and must give the same predictions and
feature importances.

Cases:
  toy_hist   - Part 1 settings (depth 2, eta 0.05, 100 rounds, 80% row / column subsample, hist)
  l1l2_hist  - Part 4 settings (Part 1 plus reg_alpha = 5, reg_lambda = 5), with feature 3
               set to 0 everywhere (an ablated neuron): it must never be used in a split
  toy_exact  - Part 1 settings with tree_method exact and seed 7
"""
import os
import sys

import numpy as np

# This file is itself called xgboost.py: take its folder off the path while importing the
# real package, or `import xgboost` would import this script.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
import xgboost as xgb  # noqa: E402

sys.path.insert(0, HERE)
from _common import write  # noqa: E402

rng = np.random.default_rng(47)
n_per, d = 150, 10
x0 = rng.normal(0.0, 1.0, size=(n_per, d))
x1 = rng.normal(np.linspace(0.7, -0.7, d), 1.0, size=(n_per, d))
X = np.round(np.vstack([x0, x1]), 4)  # 4 decimals keep the JSON small; both sides use these
y = np.r_[np.zeros(n_per), np.ones(n_per)]
# stratified 75/25 split: 38 test samples from each class
test = np.r_[rng.permutation(n_per)[:38], n_per + rng.permutation(n_per)[:38]]
train = np.setdiff1d(np.arange(2 * n_per), test)
train = rng.permutation(train)

PART1 = {
    "objective": "binary:logistic",
    "max_depth": 2,
    "eta": 0.05,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "reg_alpha": 0.0,
    "gamma": 0.0,
    "min_child_weight": 1.0,
    "max_bin": 256,
    "tree_method": "hist",
    "eval_metric": "logloss",
    "seed": 0,
    "nthread": 1,
}
ROUNDS = 100
KINDS = ["weight", "gain", "cover", "total_gain", "total_cover"]


def case(params, Xc):
    dtrain = xgb.DMatrix(Xc[train], label=y[train])
    dtest = xgb.DMatrix(Xc[test], label=y[test])
    bst = xgb.train(params, dtrain, num_boost_round=ROUNDS)
    p_test = bst.predict(dtest)
    p_train = bst.predict(dtrain)
    margin = bst.predict(dtest, output_margin=True)
    importance = {}
    for k in KINDS:
        s = bst.get_score(importance_type=k)
        importance[k] = {"features": [int(f[1:]) for f in s], "scores": [float(v) for v in s.values()]}
    acc_train = float(np.mean((p_train > 0.5) == (y[train] == 1)))
    acc_test = float(np.mean((p_test > 0.5) == (y[test] == 1)))
    print(f"  {params['tree_method']} alpha={params['reg_alpha']} lambda={params['reg_lambda']}: "
          f"train acc {100 * acc_train:.1f}%, test acc {100 * acc_test:.1f}%, "
          f"{len(importance['gain']['features'])} features used")
    return {
        "params": params,
        "rounds": ROUNDS,
        "p_test": p_test.astype(np.float64),
        "margin_test": margin.astype(np.float64),
        "importance": importance,
        "acc_train": acc_train,
        "acc_test": acc_test,
        "n_trees": bst.num_boosted_rounds(),
    }


X_ablated = X.copy()
X_ablated[:, 3] = 0.0
cases = {
    # the data: train on x[train], predict x[test]; "ablated" zeroes column 3
    "data": {"x": X, "y": y, "train": train, "test": test, "ablated_column": 3},
    "toy_hist": case(PART1, X),
    "l1l2_hist": case({**PART1, "reg_alpha": 5.0, "reg_lambda": 5.0}, X_ablated),
    "toy_exact": case({**PART1, "tree_method": "exact", "seed": 7}, X),
}
assert 3 not in cases["l1l2_hist"]["importance"]["gain"]["features"]
write("xgboost", cases, meta={"xgboost_api": "xgb.train (native), get_score, predict"})
