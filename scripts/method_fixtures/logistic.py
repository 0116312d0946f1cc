"""Reference outputs for methods::logistic and methods::split.

- sklearn LogisticRegression (lbfgs, multinomial softmax loss for > 2 classes, binomial loss
  for 2 classes, L2 on the coefficients only): once with the defaults (tol 1e-4, max_iter 100)
  and once run to a tight tolerance, i.e. the exact optimum of sklearn's objective.
- statsmodels Logit.fit_regularized(method='l1', alpha=...) with its default auto-trimming.
- sklearn train_test_split(stratify=y): the per-class train/test counts, as the set of
  outcomes over many seeds (ties in the remainders are broken at random), and the plain
  split's test count.
"""
import numpy as np
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from _common import write

rng = np.random.default_rng(20240521)
cases = {}


def sample_rows(n, most=80):
    """Every k-th row, at most `most` of them (keeps the JSON small)."""
    return np.arange(0, n, -(-n // most))


def sklearn_case(x, y, C=1.0):
    rows = sample_rows(len(y))
    default = LogisticRegression(C=C).fit(x, y)
    tight = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(x, y)
    pred = tight.predict(x)
    return {
        "x": x, "y": y, "C": C,
        "classes": default.classes_,
        "coef": default.coef_, "intercept": default.intercept_, "n_iter": default.n_iter_,
        "coef_tight": tight.coef_, "intercept_tight": tight.intercept_,
        "n_iter_tight": tight.n_iter_,
        "proba_rows": rows, "proba_tight": np.round(tight.predict_proba(x[rows]), 12),
        "predict": pred, "score": tight.score(x, y),
        "confusion": confusion_matrix(y, pred),
        "confusion_true": confusion_matrix(y, pred, normalize="true"),
    }


# p21-like: 5 positions, one unscaled loss-like feature, 100 tokens per position.
pos = np.repeat(np.arange(5), 100)
shape = np.array([2.0, 4.0, 3.0, 6.0, 2.5])
scale = np.array([2.5, 0.6, 1.2, 0.5, 1.6])
loss = np.round(rng.gamma(shape[pos], scale[pos]), 4)
cases["multi_p21"] = sklearn_case(loss[:, None], pos)

# 3 classes, 4 features of different scales, classes 1, 4, 6 (not 0..k).
n3 = 240
y3 = rng.choice([1, 4, 6], size=n3)
centres = {1: [0.0, 0.0, 0.0, 0.0], 4: [1.0, -0.5, 0.3, 0.0], 6: [-0.6, 1.0, -0.4, 0.2]}
x3 = np.array([centres[c] for c in y3]) + rng.normal(size=(n3, 4))
x3 = np.round(x3 * np.array([1.0, 2.0, 0.5, 3.0]), 4)
cases["multi_3x4"] = sklearn_case(x3, y3)
cases["multi_3x4_C0.1"] = sklearn_case(x3, y3, C=0.1)

# Binary, labels 3 and 7, three features.
nb = 200
yb = rng.choice([3, 7], size=nb, p=[0.4, 0.6])
xb = np.round(rng.normal(size=(nb, 3)) + np.outer(yb == 7, [0.8, -0.4, 0.0]), 4)
cases["binary"] = sklearn_case(xb, yb)

# 1-D, classes on disjoint intervals (monotone predicted class).
xs = np.round(np.sort(rng.uniform(0, 8, size=160)), 4)
ys = np.minimum((xs // 2).astype(int), 3)
cases["multi_separated"] = sklearn_case(xs[:, None], ys)


def nan_to_none(v):
    return [None if np.isnan(x) else float(x) for x in v]


def l1_case(X, y, alpha, data=None):
    """X with the constant first; stored without it (the test adds it back) or, for a
    design shared between cases, only by the name of the case that holds it."""
    res = sm.Logit(y, X).fit_regularized(method="l1", alpha=alpha, maxiter=3000, disp=0)
    rows = sample_rows(len(y))
    out = {"alpha": alpha} if data else {"x": X[:, 1:], "y": y.astype(int)}
    if data:
        out["data"] = data
    out.update({
        "alpha": alpha,
        "params": res.params, "trimmed": res.trimmed, "nnz": int(res.nnz_params),
        "fitted_rows": rows, "fitted": np.round(res.predict(X[rows]), 12), "llf": res.llf,
        # NaN (trimmed parameters) as null, which JSON can hold
        "bse": nan_to_none(res.bse), "pvalues": nan_to_none(res.pvalues),
    })
    if alpha == 0:
        mle = sm.Logit(y, X).fit(disp=0, tol=1e-12, maxiter=200)
        out["mle_params"] = mle.params
    return out


# p48-like: constant first, one activation-like feature, balanced classes, alpha 0.1.
m = 400
y48 = np.r_[np.zeros(m), np.ones(m)]
x48 = np.round(np.r_[rng.normal(0, 1, m), rng.normal(0.3, 1, m)] * 0.4 - 0.1, 4)
cases["l1_p48"] = l1_case(np.column_stack([np.ones(2 * m), x48]), y48, 0.1)

# Strong effect, x ~ N(0,1) vs N(1.5,1), n = 1000.
ys1 = np.r_[np.zeros(500), np.ones(500)]
xs1 = np.round(np.r_[rng.normal(0, 1, 500), rng.normal(1.5, 1, 500)], 4)
cases["l1_strong"] = l1_case(np.column_stack([np.ones(1000), xs1]), ys1, 0.1)

# Six columns, y depends on x1 and x2 only, alpha large enough to zero several.
n6 = 300
X6 = np.column_stack([np.ones(n6), np.round(rng.normal(size=(n6, 5)), 4)])
eta = 0.1 + 1.2 * X6[:, 1] - 0.7 * X6[:, 2]
y6 = (rng.uniform(size=n6) < 1 / (1 + np.exp(-eta))).astype(float)
cases["l1_several_zero"] = l1_case(X6, y6, 12.0)
cases["l1_mild"] = l1_case(X6, y6, 2.0, data="l1_several_zero")
# alpha huge: every parameter trimmed
cases["l1_all_zero"] = l1_case(X6, y6, 1000.0, data="l1_several_zero")
# alpha 0: the unpenalised MLE
cases["l1_alpha0"] = l1_case(X6, y6, 0.0, data="l1_several_zero")


def split_outcomes(counts, test_size, seeds=300):
    y = np.repeat(np.arange(len(counts)), counts)
    outcomes = set()
    for s in range(seeds):
        tr, te = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                                  random_state=s)
        assert len(set(tr) & set(te)) == 0 and len(tr) + len(te) == len(y)
        outcomes.add((tuple(np.bincount(y[tr], minlength=len(counts)).tolist()),
                      tuple(np.bincount(y[te], minlength=len(counts)).tolist())))
    outcomes = sorted(outcomes)
    return {"class_counts": counts, "test_size": test_size,
            "n_train": len(tr), "n_test": len(te),
            "train_counts": [list(o[0]) for o in outcomes],
            "test_counts": [list(o[1]) for o in outcomes]}


cases["stratified"] = [
    split_outcomes([500, 500], 0.2),          # p48: 2·minN balanced
    split_outcomes([1487, 1873], 0.2),        # p30: 3360 SST-2 rows
    split_outcomes([5, 7, 9], 0.25),
    split_outcomes([10, 3, 3], 0.3),
    split_outcomes([5, 5, 5], 0.5),           # tie in the remainders
    split_outcomes([4, 6, 11, 2], 0.33),
    split_outcomes([3, 3, 3, 3, 3, 3, 3], 0.5),  # several ties
]

plain = []
# 0.07·100 = 7.000000000000001 in floating point, so sklearn's ceil gives 8 test samples.
for n, ts in [(10, 0.25), (3360, 0.2), (7, 0.33), (10, 0.7), (100, 0.07), (100, 0.29),
              (3360, 0.55), (9, 0.5)]:
    tr, te = train_test_split(np.arange(n), test_size=ts, random_state=0)
    plain.append({"n": n, "test_size": ts, "n_train": len(tr), "n_test": len(te)})
cases["plain"] = plain

write("logistic", cases)
