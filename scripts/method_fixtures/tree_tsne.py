"""Reference outputs for methods::tree and methods::tsne.

Decision tree: sklearn DecisionTreeClassifier(criterion='gini', ...) on continuous random
features. sklearn visits the features in a random order (random_state) and keeps the first
of equally good splits, so the tree is only determined by the data when every best split
is unique: each case is fitted with 12 random states and the script stops unless all 12
trees are identical (same features, thresholds, values), i.e. the reference does not
depend on sklearn's tie-breaking.

t-SNE: sklearn TSNE(method='exact') on 17 points in 50-D (three loose clusters), started
from a fixed float64 initial embedding (the PCA init sklearn itself computes, recomputed
here as TSNE._fit does, float32 cast included), so the optimisation is deterministic.
With sklearn's defaults (learning rate 'auto' = 50 for N = 17, exaggeration 12) the
optimisation is chaotic: a 1e-15 relative change of the init changes sklearn's own final
embedding by tens of units (measured below and stored). So the fixture holds
- the joint P matrix (sklearn's _joint_probabilities), for two perplexities;
- sklearn's _kl_divergence (KL and gradient) at a fixed embedding;
- sklearn's _gradient_descent after 10 early-exaggeration iterations with the default
  settings, called exactly as TSNE._tsne calls it (float noise has not grown yet);
- a full 1000-iteration run with learning_rate=0.1, where the optimisation is stable
  (a 1e-12 change of the init moves the result by ~1e-9), to compare whole runs;
- the full default run (p42's settings) and the spread of its KL divergence and of the
  pairwise-distance rank correlation over 20 runs from inits perturbed by 1e-12.
"""
import os

import numpy as np
from scipy.spatial.distance import squareform
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.manifold._t_sne import _gradient_descent, _joint_probabilities, _kl_divergence
from sklearn.metrics import pairwise_distances
from sklearn.tree import DecisionTreeClassifier, export_text

from _common import write

HERE = os.path.dirname(os.path.abspath(__file__))

cases = {}


# ---------------------------------------------------------------- decision trees
def tree_signature(t):
    tr = t.tree_
    return (tr.feature.tolist(), tr.threshold.tolist(), tr.value.tolist(),
            tr.children_left.tolist())


def tree_case(name, x, y, x_test, y_test, **params):
    trees = [DecisionTreeClassifier(criterion="gini", random_state=s, **params).fit(x, y)
             for s in range(12)]
    sig = tree_signature(trees[0])
    if any(tree_signature(t) != sig for t in trees[1:]):
        bad = [s for s, t in enumerate(trees) if tree_signature(t) != sig]
        raise SystemExit(f"tree case {name} depends on sklearn's tie-breaking (random states {bad}): change data")
    t = trees[0]
    tr = t.tree_
    leaf = tr.children_left == -1
    return {
        "x": x, "y": y, "x_test": x_test, "y_test": y_test,
        "max_depth": params.get("max_depth"),
        "min_samples_split": params.get("min_samples_split", 2),
        "min_samples_leaf": params.get("min_samples_leaf", 1),
        "classes": t.classes_,
        "predict": t.predict(x), "predict_test": t.predict(x_test),
        "proba_test": t.predict_proba(x_test),
        "score": t.score(x, y), "score_test": t.score(x_test, y_test),
        "importances": t.feature_importances_,
        "depth": t.get_depth(), "n_leaves": t.get_n_leaves(),
        # node arrays in sklearn's (depth-first, left-first) order; leaves: feature -1
        "feature": np.where(leaf, -1, tr.feature),
        "threshold": np.where(leaf, 0.0, tr.threshold),
        "children_left": tr.children_left, "children_right": tr.children_right,
        "impurity": tr.impurity, "n_node_samples": tr.n_node_samples,
        "value": tr.value[:, 0, :],
        "apply_test": t.apply(x_test),
        "export_text": export_text(t, feature_names=[f"f{j}" for j in range(x.shape[1])]),
    }


def r5(a):
    return np.round(a, 5)


# Each case draws from its own seeded generator; the seeds are ones for which the 12
# random states agree (most seeds give a tie somewhere in a small deep node).

# 2 classes, 10 features: label from features 0-3 (one interaction, one sine), features
# 4-9 pure noise (feature 9 explicitly irrelevant), 260 rows = 200 train + 60 test.
rng = np.random.default_rng(18)
n, d = 260, 10
x = r5(rng.standard_normal((n, d)))
s = x[:, 0] + 0.8 * x[:, 1] * x[:, 2] + 0.6 * np.sin(3 * x[:, 3]) + 0.4 * rng.standard_normal(n)
y = (s > 0.1).astype(int)
cases["binary"] = tree_case("binary", x[:200], y[:200], x[200:], y[200:], max_depth=4)

# 3 classes (labels 0, 2, 5: not 0..k-1), 8 features of different scales; classes from the
# argmax of linear scores with noise; features 5-7 irrelevant.
rng = np.random.default_rng(6)
n, d = 270, 8
x = r5(rng.standard_normal((n, d)) * np.array([1.0, 3.0, 0.5, 2.0, 1.0, 1.0, 4.0, 0.2]))
w = np.array([[1.0, 0.0, 0.0], [0.0, 0.4, -0.3], [0.0, 2.0, 0.0], [-0.3, 0.0, 0.6],
              [0.5, -0.5, 0.5], [0, 0, 0], [0, 0, 0], [0, 0, 0]])
scores = x @ w + 0.5 * rng.standard_normal((n, 3))
y = np.array([0, 2, 5])[np.argmax(scores, axis=1)]
cases["three_class"] = tree_case("three_class", x[:210], y[:210], x[210:], y[210:], max_depth=4)

# Other stopping rules on a new binary problem: depth 6, min_samples_split 12,
# min_samples_leaf 5.
rng = np.random.default_rng(1)
n, d = 260, 6
x = r5(rng.standard_normal((n, d)))
y = ((x[:, 0] ** 2 + x[:, 1] ** 2 + 0.3 * rng.standard_normal(n)) > 1.2).astype(int)
cases["stopping"] = tree_case("stopping", x[:200], y[:200], x[200:], y[200:], max_depth=6,
                              min_samples_split=12, min_samples_leaf=5)

# ---------------------------------------------------------------- t-SNE
rng = np.random.default_rng(20240607)
sizes = [6, 6, 5]
centres = rng.standard_normal((3, 50)) * 1.2
xt = r5(np.vstack([c + rng.standard_normal((m, 50)) for c, m in zip(centres, sizes)]))
labels = np.repeat([0, 1, 2], sizes)
perplexity = 4.0
n_t = xt.shape[0]

# sklearn's init='pca', as TSNE._fit computes it (float32 cast included).
emb = PCA(n_components=2, random_state=0).fit_transform(xt).astype(np.float32, copy=False)
pca_init = emb / np.std(emb[:, 0]) * 1e-4
init = pca_init.astype(np.float64)

dist = pairwise_distances(xt, metric="euclidean", squared=True)
p_cond = _joint_probabilities(dist, perplexity, 0)
p_cond_25 = _joint_probabilities(dist, 2.5, 0)

# KL and gradient at a fixed embedding of moderate spread.
y_fixed = r5(rng.standard_normal((n_t, 2)) * 3.0)
kl_fixed, grad_fixed = _kl_divergence(y_fixed.ravel(), p_cond, 1, n_t, 2)


def run_tsne(init_array, **kw):
    t = TSNE(n_components=2, method="exact", perplexity=perplexity, init=init_array, **kw)
    return t, t.fit_transform(xt)


# The first 10 iterations with the defaults, through the optimiser TSNE._tsne uses.
lr_auto = max(n_t / 12.0 / 4.0, 50.0)
y10, err10, it10 = _gradient_descent(
    _kl_divergence, init.ravel().copy(), it=0, max_iter=10, n_iter_check=50,
    n_iter_without_progress=250, momentum=0.5, learning_rate=lr_auto, min_gain=0.01,
    min_grad_norm=1e-7, args=[p_cond * 12.0, 1, n_t, 2], kwargs=dict(skip_num_points=0))

# A whole run in the stable regime.
t_s, e_s = run_tsne(init, learning_rate=0.1)
_, e_s2 = run_tsne(init * (1.0 + 1e-12 * rng.standard_normal(init.shape)), learning_rate=0.1)

# The default (project 42) run and its spread under 1e-12 perturbations of the init.
t_d, e_d = run_tsne(init)
kls, rcs = [], []
for _ in range(20):
    tt, ee = run_tsne(init * (1.0 + 1e-12 * rng.standard_normal(init.shape)))
    kls.append(tt.kl_divergence_)
    rcs.append(spearmanr(pdist(e_d), pdist(ee))[0])

cases["tsne"] = {
    "x": xt, "labels": labels, "perplexity": perplexity,
    "init": init, "pca_init_f32": pca_init,
    "p": squareform(p_cond), "p_perplexity_2_5": squareform(p_cond_25),
    "y_fixed": y_fixed, "kl_fixed": kl_fixed, "grad_fixed": grad_fixed.reshape(n_t, 2),
    "iter10_embedding": y10.reshape(n_t, 2), "iter10_kl": err10, "iter10_it": it10,
    "stable_learning_rate": 0.1, "stable_embedding": e_s,
    "stable_kl": t_s.kl_divergence_, "stable_n_iter": t_s.n_iter_,
    "stable_sensitivity_1e12": np.max(np.abs(e_s2 - e_s)),
    "default_learning_rate": t_d.learning_rate_, "default_embedding": e_d,
    "default_kl": t_d.kl_divergence_, "default_n_iter": t_d.n_iter_,
    "default_kl_perturbed": np.array(kls), "default_rank_corr_perturbed": np.array(rcs),
}
print("tsne stable: kl", t_s.kl_divergence_, "n_iter", t_s.n_iter_,
      "sensitivity", cases["tsne"]["stable_sensitivity_1e12"])
print("tsne default: kl", t_d.kl_divergence_, "perturbed kl range", min(kls), max(kls),
      "rank corr range", min(rcs), max(rcs))
for k in ["binary", "three_class", "stopping"]:
    c = cases[k]
    print(k, "depth", c["depth"], "leaves", c["n_leaves"], "score", c["score"], c["score_test"])

# _common.write imports xgboost; the sibling fixture script xgboost.py would shadow it.
import sys  # noqa: E402
sys.path = [q for q in sys.path if os.path.abspath(q or ".") != HERE]
write("tree_tsne", cases)
