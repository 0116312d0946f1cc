"""Reference outputs for methods/src/hypothesis.rs: scipy t-tests (one-sample, pooled,
Welch; one- and two-sided; vectorised over columns), statsmodels McNemar and Bonferroni,
scipy Benjamini-Hochberg, Cohen's d with the pooled SD as p44 defines it, numpy arctanh.

Inputs are rounded to a few decimals before the reference runs, so the JSON holds exactly
the values Python used (and stays small)."""
import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from _common import write

rng = np.random.default_rng(20240522)


def r(a, d=4):
    return np.round(np.asarray(a, dtype=float), d)


def t_out(res):
    return {"statistic": float(res.statistic), "pvalue": float(res.pvalue), "df": float(res.df)}


cases = {}
ALTS = ("two-sided", "less", "greater")

# ---- one-sample t-test -------------------------------------------------------------
one = []
samples = [
    ("spec_p23", np.array([1.0, 2, 3, 4, 5]), 0.0),
    ("random_n15", r(rng.normal(0.4, 1.0, 15)), 0.0),
    ("shifted_popmean", r(rng.normal(2.0, 0.7, 9)), 2.5),
    ("two_samples", np.array([0.3, 1.1]), 0.0),
    ("ties", np.array([1.0, 1, 1, 2, 2, 3, 3, 3, 3]), 1.5),
    ("far_tail", r(rng.normal(5.0, 0.5, 12)), 0.0),
    ("large_n", r(rng.normal(0.05, 1.0, 1000), 3), 0.0),
]
for name, x, mu in samples:
    one.append({"name": name, "x": x, "popmean": mu,
                **{alt: t_out(stats.ttest_1samp(x, mu, alternative=alt)) for alt in ALTS}})
cases["ttest_1samp"] = one

# ---- the Student-t tail itself, over a grid reaching p near 1 and far into the tail ----
grid_t = [0.0, 1e-4, 1e-3, 0.05, 0.7, 1.96, 3.3, 8.0, 25.0, 60.0]
grid_df = [1.0, 2.5, 8.0, 53.0, 1998.0, 3998.0, 20000.0]
cases["t_tail"] = [{"t": t, "df": df, "sf": float(stats.t.sf(t, df)),
                    "two_sided": float(2 * stats.t.sf(t, df))}
                   for df in grid_df for t in grid_t]

# ---- two-sample t-tests (pooled and Welch) ------------------------------------------
two = []
pairs = [
    ("spec_p44", np.array([1.0, 2, 3, 4, 5]), np.array([2.0, 4, 6, 8, 10])),
    ("spec_p23", np.array([3.0, 4, 5, 6, 7]), np.array([1.0, 2, 3, 4, 5])),
    ("spec_p38", np.array([1.0, 2, 3, 4, 5]), np.array([3.0, 4, 5, 6, 7, 8])),
    ("unequal_sizes", r(rng.normal(0.0, 1.0, 12)), r(rng.normal(0.6, 2.5, 31))),
    ("identical", np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 3, 4])),
    ("one_group_constant", np.array([2.0, 2, 2, 2]), r(rng.normal(1.0, 0.3, 6))),
    ("far_tail", r(rng.normal(0.0, 1.0, 25)), r(rng.normal(3.5, 1.0, 20))),
    # word lengths as in p44 part 1: integers, many ties, df = 3998
    ("word_lengths", rng.integers(3, 12, 2000).astype(float),
     rng.integers(3, 12, 2000).astype(float) + (rng.random(2000) < 0.2)),
]
for name, x, y in pairs:
    two.append({"name": name, "x": x, "y": y,
                "pooled": {alt: t_out(stats.ttest_ind(x, y, alternative=alt)) for alt in ALTS},
                "welch": {alt: t_out(stats.ttest_ind(x, y, equal_var=False, alternative=alt))
                          for alt in ALTS}})
cases["ttest_ind"] = two

# ---- vectorised pooled t-test over columns -----------------------------------------
n1, n2, k = 30, 25, 200
shift = np.zeros(k)
shift[::5] = np.linspace(-2.0, 2.0, k // 5)  # every fifth column has a real difference
X = r(rng.normal(0.0, 1.0, (n1, k)) * rng.uniform(0.5, 2.0, k), 3)
Y = r(rng.normal(shift, 1.0, (n2, k)) * rng.uniform(0.5, 2.0, k), 3)
X[:, 7] = 0.25   # both groups constant, same value: t = 0/0 (scipy NaN)
Y[:, 7] = 0.25
X[:, 11] = 1.0   # both constant, different values: zero pooled variance (scipy -inf)
Y[:, 11] = 2.0
Y[:, 13] = -0.5  # one group constant: still a proper t-test
res = stats.ttest_ind(X, Y, axis=0)
cases["ttest_ind_columns"] = {
    "x": X, "y": Y, "statistic": [None if not np.isfinite(v) else v for v in res.statistic],
    "pvalue": [None if not np.isfinite(s) else p for s, p in zip(res.statistic, res.pvalue)],
    "df": float(n1 + n2 - 2), "degenerate": [7, 11],
}


# ---- Cohen's d (p44: pooled SD with n1 + n2 - 2, ddof=1 variances) ----------------------
def cohens_d(a, b, axis=0):
    na, nb = a.shape[axis], b.shape[axis]
    sp = np.sqrt(((na - 1) * a.var(axis=axis, ddof=1) + (nb - 1) * b.var(axis=axis, ddof=1))
                 / (na + nb - 2))
    return (a.mean(axis=axis) - b.mean(axis=axis)) / sp


# the inputs are those of the ttest_ind cases of the same name
cases["cohens_d"] = {name: float(cohens_d(x, y)) for name, x, y in pairs if name != "identical"}
with np.errstate(all="ignore"):
    dcols = cohens_d(X, Y)
cases["cohens_d_columns"] = [None if not np.isfinite(v) else v for v in dcols]

# ---- McNemar (statsmodels, chi-square with continuity correction) -----------------------
mc = []
for table in ([[40, 10], [2, 48]], [[30, 5], [5, 60]], [[100, 80], [120, 700]],
              [[5, 0], [7, 9]], [[300, 200], [50, 450]], [[1, 1], [0, 1]], [[10, 3], [4, 10]]):
    t = np.array(table)
    res = mcnemar(t, exact=False, correction=True)
    mc.append({"table": t, "statistic": float(res.statistic), "pvalue": float(res.pvalue)})
cases["mcnemar"] = mc

# ---- multiple comparisons --------------------------------------------------------------
lists = {
    "spec_p44": [0.01, 0.02, 0.03, 0.04, 0.05],
    # Benjamini & Hochberg (1995), section 4: 15 p values from a clinical trial
    "bh1995": [0.0201, 0.7590, 0.0004, 0.0095, 0.0278, 0.0001, 0.0344, 0.0459, 0.3240, 0.0298,
               0.4262, 0.5719, 0.6528, 0.0019, 1.0],
    "ties_and_large": [0.04, 0.9, 0.04, 0.6, 0.001, 0.04, 0.75, 0.6, 0.0, 0.3, 0.55, 1.0],
    "random60": r(rng.uniform(0, 1, 60) ** 3, 6),
    "single": [0.3],
}
mult = []
for name, ps in lists.items():
    ps = np.asarray(ps, dtype=float)
    bh = stats.false_discovery_control(ps, method="bh")
    bonf = multipletests(ps, alpha=0.05, method="bonferroni")[1]
    # the specs' rules (p22, p44, p46): adjusted p < q, raw p < alpha / m (statsmodels'
    # reject uses <=, which differs when a value sits exactly on the threshold)
    mult.append({"name": name, "ps": ps, "bh": bh, "bh_significant_05": (bh < 0.05).tolist(),
                 "bonferroni": bonf,
                 "bonferroni_significant_05": (ps < 0.05 / len(ps)).tolist()})
cases["multiple"] = mult

# ---- Fisher z --------------------------------------------------------------------------
rs = np.concatenate([[0.0, 0.5, -0.5, 0.9999, -0.95], r(rng.uniform(-1, 1, 20), 6)])
cases["fisher_z"] = {"r": rs, "z": np.arctanh(rs)}

write("hypothesis", cases)
