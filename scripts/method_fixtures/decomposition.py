"""Reference outputs for methods/src/decomposition.rs and methods/src/descriptive.rs.

PCA (scikit-learn PCA, the 'full' solver that 'auto' picks for these sizes), the
spectrum helpers of projects 28/29/43 (singular values of the column-centred matrix,
percent variance, 0-based "first index with cumulative % > 95", participation ratio,
numpy matrix_rank, double-centred low-rank reconstruction), numpy percentiles/median/
linspace, scipy binned_statistic and scipy gaussian_kde.
"""
import os
import sys

import numpy as np
from scipy import stats
from sklearn.decomposition import PCA

import _common

# _common.write imports `xgboost` for its version; with this folder first on sys.path
# that would find the sibling fixture script xgboost.py instead of the package. Import
# the package once with this folder off the path, so the cached module is the real one.
_here = os.path.dirname(os.path.abspath(__file__))
_saved = list(sys.path)
sys.path = [q for q in sys.path if os.path.abspath(q or ".") != _here]
try:
    import xgboost  # noqa: F401
except ImportError:
    pass
sys.path = _saved

rng = np.random.default_rng(20240528)
cases = {}

# ---------------------------------------------------------------- PCA
# [60, 12] correlated data: independent normals mixed by a random matrix whose
# columns shrink, plus per-feature offsets (so centring matters).
n, d = 60, 12
mix = rng.normal(size=(d, d)) * np.geomspace(3.0, 0.05, d)[:, None]
x_train = rng.normal(size=(n, d)) @ mix + rng.normal(scale=5.0, size=d)
x_test = rng.normal(size=(8, d)) @ mix + rng.normal(scale=5.0, size=d)

pca_cases = []
for label, nc in [("int3", 3), ("float095", 0.95), ("float080", 0.8), ("none", None)]:
    p = PCA(n_components=nc).fit(x_train)
    assert p._fit_svd_solver == "full"
    z_test = p.transform(x_test)
    pca_cases.append({
        "label": label,
        "kind": "none" if nc is None else ("float" if isinstance(nc, float) else "int"),
        "value": 0 if nc is None else nc,
        "n_components": int(p.n_components_),
        "mean": p.mean_,
        "components": p.components_,
        "explained_variance": p.explained_variance_,
        "explained_variance_ratio": p.explained_variance_ratio_,
        "singular_values": p.singular_values_,
        "noise_variance": float(p.noise_variance_),
        "test_scores": z_test,
        "test_inverse": p.inverse_transform(z_test),
    })
cases["pca"] = {"x_train": x_train, "x_test": x_test, "fits": pca_cases}

# A wide matrix (n < d) for the transposed path: 5 components.
x_wide = rng.normal(size=(16, 30)) @ np.diag(np.geomspace(4.0, 0.2, 30))
p = PCA(n_components=5).fit(x_wide)
assert p._fit_svd_solver == "full"
cases["pca_wide"] = {
    "x": x_wide, "n_components": 5, "components": p.components_,
    "explained_variance": p.explained_variance_,
    "explained_variance_ratio": p.explained_variance_ratio_,
    "singular_values": p.singular_values_, "noise_variance": float(p.noise_variance_),
    "scores": p.transform(x_wide),
}


# ------------------------------------------- spectrum helpers (p28, p29, p43)
def spectrum(m):
    """What the notebooks do: column-centre, singular values, % and cumulative %."""
    c = m - m.mean(axis=0, keepdims=True)
    s = np.linalg.svd(c, compute_uv=False)
    pct = 100 * s**2 / np.sum(s**2)
    cum = np.cumsum(pct)
    lam = s**2
    return {
        "x": m, "singular_values": s, "percent": pct, "cumulative_percent": cum,
        "effective_dim_95": int(np.where(cum > 95)[0][0]),
        "effective_dim_80": int(np.where(cum > 80)[0][0]),
        "participation_ratio": float(np.sum(lam) ** 2 / np.sum(lam**2)),
        "rank_centred_f64": int(np.linalg.matrix_rank(c)),
        # torch.linalg.matrix_rank's default for float32: sigma_max * max(m, n) * eps32
        "rank_centred_f32eps": int(np.sum(s > s[0] * max(c.shape) * np.finfo(np.float32).eps)),
    }


cases["spectrum_tall"] = spectrum(x_train)
cases["spectrum_wide"] = spectrum(x_wide)
# rank-deficient: 18 x 25 of rank 6 (rank 6 after centring too, generically)
low = rng.normal(size=(18, 6)) @ rng.normal(size=(6, 25))
cases["spectrum_lowrank"] = spectrum(low)

# p29 Part 2: double centring and the r-component reconstruction (r = first index
# with cum > 95, keeping s_0 .. s_{r-1}); Part 1: plain (uncentred) rank-k.
hs = rng.normal(size=(18, 24)) @ np.diag(np.geomspace(3.0, 0.1, 24)) + rng.normal(size=24)
m0 = hs.mean(axis=0, keepdims=True)
m1 = hs.mean(axis=1, keepdims=True)
g = hs.mean()
dc = hs - m0 - m1 + g
U, s, Vt = np.linalg.svd(dc)
cum = np.cumsum(100 * s**2 / np.sum(s**2))
r = int(np.where(cum > 95)[0][0])
S = np.zeros((hs.shape[0], hs.shape[1]))
S[:r, :r] = np.diag(s[:r])
hs_r = U @ S @ Vt + m0 + m1 - g
U2, s2, Vt2 = np.linalg.svd(hs)
k = 7
plain = (U2[:, :k] * s2[:k]) @ Vt2[:k]
cases["low_rank"] = {
    "x": hs, "double_centred": dc, "double_centred_singular_values": s,
    "double_centred_cumulative_percent": cum, "r": r, "reconstruction_double": hs_r,
    "k": k, "reconstruction_plain": plain, "plain_singular_values": s2,
}

# ---------------------------------------------------------------- percentiles
ties = np.array([3.0, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 5, -2.5])
qs = [0, 1, 2.5, 5, 10, 25, 33.3, 50, 62.5, 75, 90, 95, 97.5, 99, 100]
cont = rng.normal(size=101) * 3 + 1
edges_q = list(np.linspace(0, 100, 41))
cases["percentile"] = {
    "ties": ties, "q": qs, "ties_percentiles": np.percentile(ties, qs),
    "ties_quantiles": np.quantile(ties, np.array(qs) / 100),
    "ties_median": float(np.median(ties)), "odd_median": float(np.median(ties[:-1])),
    "cont": cont, "q41": edges_q, "cont_percentiles": np.percentile(cont, edges_q),
    "one_to_hundred_5_95": np.percentile(np.arange(1, 101), [5, 95]),
}
cases["linspace"] = [
    {"start": a, "stop": b, "num": m, "out": np.linspace(a, b, m)}
    for a, b, m in [(0.0, 1.0, 11), (-20.0, 20.0, 101), (-3.7, 12.1, 100), (0.1, 0.7, 7), (2.0, 5.0, 1)]
]

# ---------------------------------------------------------------- binned statistic
xb = np.concatenate([rng.uniform(0, 10, 37), [0.0, 2.5, 5.0, 7.5, 10.0, 10.0000000001, -1.0, 11.0]])
vb = rng.normal(size=xb.size) * 2 + xb
# leave the bin [5, 7.5) empty for the explicit edges
keep = ~((xb > 5.0) & (xb < 7.5))
xb, vb = xb[keep], vb[keep]
edges = [0.0, 2.5, 5.0, 6.0, 7.5, 10.0]
binned = {"x": xb, "values": vb, "edges": edges, "int": {}, "explicit": {}}
for stat in ["mean", "median", "count", "sum", "std"]:
    r_int = stats.binned_statistic(xb, vb, statistic=stat, bins=6)
    r_edg = stats.binned_statistic(xb, vb, statistic=stat, bins=edges)
    binned["int"][stat] = r_int.statistic
    binned["explicit"][stat] = r_edg.statistic
    binned["int_edges"] = r_int.bin_edges
    binned["int_binnumber"] = r_int.binnumber
    binned["explicit_binnumber"] = r_edg.binnumber
# p39's check: x = 0..7, y = x^2, 4 percentile bins
x8 = np.arange(8.0)
e8 = np.percentile(x8, np.linspace(0, 100, 5))
binned["p39"] = {
    "x": x8, "values": x8**2, "edges": e8,
    "mean": stats.binned_statistic(x8, x8**2, "mean", bins=e8).statistic,
    "std": stats.binned_statistic(x8, x8**2, "std", bins=e8).statistic,
}
# constant x with int bins: scipy widens the range to [min - 0.5, max + 0.5]
xc = np.full(5, 2.0)
rc = stats.binned_statistic(xc, np.arange(5.0), "mean", bins=3)
binned["constant_x"] = {"x": xc, "values": np.arange(5.0), "edges": rc.bin_edges,
                        "mean": rc.statistic}
cases["binned"] = binned

# ---------------------------------------------------------------- gaussian_kde
kd = np.concatenate([rng.normal(-2, 0.7, 25), rng.normal(1.5, 1.2, 15)])
grid = np.linspace(kd.min() - 1, kd.max() + 1, 50)
kde_cases = {"data": kd, "grid": grid}
for bw in ["scott", "silverman", 0.3]:
    k = stats.gaussian_kde(kd, bw_method=bw)
    kde_cases[str(bw)] = {"factor": float(k.factor), "covariance": float(k.covariance[0, 0]),
                          "density": k(grid)}
# matplotlib violinplot's stats: 100 points from min to max, Scott KDE, mean, median
coords = np.linspace(kd.min(), kd.max(), 100)
kde_cases["violin"] = {"coords": coords, "vals": stats.gaussian_kde(kd)(coords),
                       "mean": float(np.mean(kd)), "median": float(np.median(kd))}
cases["kde"] = kde_cases



def nan_to_none(v):
    """JSON has no NaN: write scipy's empty-bin NaN as null (the Rust side reads None)."""
    v = _common.tolist(v)
    if isinstance(v, float) and np.isnan(v):
        return None
    if isinstance(v, dict):
        return {k: nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [nan_to_none(x) for x in v]
    return v


_common.write("decomposition", nan_to_none(cases))
