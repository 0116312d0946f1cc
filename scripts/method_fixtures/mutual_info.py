"""Reference values for methods/src/mutual_info.rs (project 45).

* Histogram (plug-in) MI in bits, exactly as the project 45 notebook computes it:
  Z = numpy.histogram2d(x, y, bins=b), p = Z / sum(Z), marginals are row / column sums,
  H = -sum(p * log2(p + 1e-13)), MI = H(x) + H(y) - H(x, y); and the entropy of a 1-D
  numpy.histogram.
* KSG mutual information as scikit-learn's mutual_info_regression(x[:, None], y,
  n_neighbors=3, discrete_features=False, random_state=R). Its tiny noise comes from numpy's
  RNG and cannot be reproduced in Rust, so each case also records the scaled, noisy arrays
  sklearn's _estimate_mi builds (rebuilt here step by step with the same RNG) and what
  sklearn's private core _compute_mi_cc gives on them: the Rust core must match that exactly.
* scipy.spatial.distance.minkowski and cdist(metric="minkowski", p=...).
"""
import os
import sys

import numpy as np
from scipy.spatial.distance import cdist, minkowski
from sklearn.feature_selection import mutual_info_regression
from sklearn.feature_selection._mutual_info import _compute_mi_cc
from sklearn.preprocessing import scale
from sklearn.utils import check_random_state

from _common import write

# _common.write imports xgboost for its version: drop this folder from the path so that the
# sibling script xgboost.py cannot shadow the installed package.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]

K = 3
RANDOM_STATE = 7
SPREAD_STATES = list(range(20))
rng = np.random.default_rng(45)


def r6(v):
    """Six decimals: short in the JSON, and the fixture's inputs are these values exactly."""
    return np.round(np.asarray(v, dtype=np.float64), 6)


def exact(a):
    """Floats as their shortest round-trip strings: serde_json (without its float_roundtrip
    feature) may read a 17-digit number one ulp off, and these arrays are compared bit for
    bit (tied distances, bin edges)."""
    return [repr(float(v)) for v in np.ravel(a)]


def prepared(x, y, random_state):
    """The arrays sklearn's _estimate_mi hands to _compute_mi_cc for one continuous feature
    and a continuous target (same steps, same RNG draws, same order)."""
    X = x.reshape(-1, 1).astype(np.float64)
    r = check_random_state(random_state)
    X = scale(X, with_mean=False, copy=True)
    means = np.maximum(1, np.mean(np.abs(X), axis=0))
    X += 1e-10 * means * r.standard_normal(size=(len(x), 1))
    t = scale(y.astype(np.float64), with_mean=False)
    t += 1e-10 * np.maximum(1, np.mean(np.abs(t))) * r.standard_normal(size=len(y))
    return X[:, 0].copy(), t


def ksg_case(x, y, raw_core=False, core=True):
    x = r6(x)
    y = r6(y)
    public = float(mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=K,
                                          discrete_features=False,
                                          random_state=RANDOM_STATE)[0])
    xn, yn = prepared(x, y, RANDOM_STATE)
    core_mi = float(_compute_mi_cc(xn, yn, K))
    assert core_mi == public, (core_mi, public)  # the rebuilt arrays are sklearn's own
    spread = [float(mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=K,
                                           random_state=s)[0]) for s in SPREAD_STATES]
    case = {
        "x": x, "y": y, "n_neighbors": K, "random_state": RANDOM_STATE,
        "sklearn_mi": public,
        "std_x": float(np.nanstd(x)), "std_y": float(np.nanstd(y)),
        "sklearn_mi_over_states": spread,
    }
    if core:
        # (left out of one n = 500 case only to keep the file small)
        case.update({"x_noisy": exact(xn), "y_noisy": exact(yn), "core_mi": core_mi})
    if raw_core:
        # The core on the scaled data without noise: ties stay ties (zero radii).
        xs = scale(x.reshape(-1, 1), with_mean=False)[:, 0]
        ys = scale(y, with_mean=False)
        case["x_scaled"] = exact(xs)
        case["y_scaled"] = exact(ys)
        case["core_mi_no_noise"] = float(_compute_mi_cc(xs.copy(), ys.copy(), K))
    return case


def p45_part2():
    x = rng.uniform(0.001, 2.7, 347)
    return x, 3 * np.cos(2 * x) + np.log(x) + rng.normal(0, 0.5, 347)


P45 = p45_part2()


def ksg_cases():
    cases = {}
    for n in (500, 50):
        x = rng.standard_normal(n)
        cases[f"independent_{n}"] = ksg_case(x, rng.standard_normal(n))
        x = rng.standard_normal(n)
        cases[f"linear_{n}"] = ksg_case(x, 0.8 * x + 0.6 * rng.standard_normal(n),
                                       core=n != 500)
        x = rng.standard_normal(n)
        cases[f"square_{n}"] = ksg_case(x, x ** 2 + 0.3 * rng.standard_normal(n))
    # Project 45, part 2.
    cases["p45_part2"] = ksg_case(*P45)
    # Discrete-looking data: many exact ties in each variable and in the joint space.
    x = rng.integers(0, 5, 200).astype(float)
    cases["ties_integers"] = ksg_case(x, x + rng.integers(0, 3, 200), raw_core=True)
    x = np.round(rng.standard_normal(150), 1)
    cases["ties_rounded"] = ksg_case(x, np.round(x + 0.5 * rng.standard_normal(150), 1),
                                     raw_core=True)
    # Exactly n_neighbors + 1 samples, the smallest sklearn accepts.
    cases["minimal_4"] = ksg_case(np.array([0.1, 0.7, 0.3, 1.9]),
                                  np.array([1.0, -0.2, 0.5, 0.4]), raw_core=True)
    return cases


def entropy_bits(counts):
    p = counts / counts.sum()
    return float(-np.sum(p * np.log2(p + 1e-13)))


def binned_case(x, y, bins_list, keep=None, data_from=None):
    """keep: the bin counts whose histograms (counts, edges) are written; data_from: the KSG
    case that holds the same x and y (then they are not written twice)."""
    x = r6(x)
    y = r6(y)
    keep = list(bins_list) if keep is None else keep
    out = {"bins": list(bins_list), "mi": [], "h_x": [], "h_y": [], "h_xy": [],
           "h_x_1d": [], "hist_bins": keep, "counts": [], "x_edges": [], "y_edges": []}
    if data_from is None:
        out.update({"x": x, "y": y})
    else:
        out["data_from"] = data_from
    for b in bins_list:
        Z, xe, ye = np.histogram2d(x, y, bins=b)
        pZ = Z / np.sum(Z)
        px = np.sum(pZ, axis=1)
        py = np.sum(pZ, axis=0)
        hx = -np.sum(px * np.log2(px + 1e-13))
        hy = -np.sum(py * np.log2(py + 1e-13))
        hxy = -np.sum(pZ * np.log2(pZ + 1e-13))
        out["mi"].append(float(hx + hy - hxy))
        out["h_x"].append(float(hx))
        out["h_y"].append(float(hy))
        out["h_xy"].append(float(hxy))
        c1, e1 = np.histogram(x, bins=b)
        assert np.array_equal(e1, xe) and np.array_equal(c1, Z.sum(axis=1))
        out["h_x_1d"].append(entropy_bits(c1.astype(float)))
        if b not in keep:
            continue
        out["counts"].append(Z)
        out["x_edges"].append(exact(xe))
        out["y_edges"].append(exact(ye))
    return out


def binned_cases():
    cases = {}
    cases["p45_part2"] = binned_case(*P45, range(4, 25), keep=[4, 8, 24],
                                     data_from="p45_part2")
    cases["independent_500"] = binned_case(np.round(rng.uniform(size=500), 4),
                                           np.round(rng.uniform(size=500), 4), [2, 4, 8])
    # Values on the bin edges: integers 0..8 with 8 bins put edges on the data, and the
    # maximum goes into the last (closed) bin.
    x = rng.integers(0, 9, 120).astype(float)
    cases["on_edges"] = binned_case(x, (x * 3 + rng.integers(0, 4, 120)) % 7, [8, 3, 5])
    # A constant variable: numpy widens its range to [v - 0.5, v + 0.5].
    cases["constant_y"] = binned_case(rng.standard_normal(40), np.full(40, 2.5), [4])
    return cases


def minkowski_cases():
    ps = [0.5, 1.0, 1.5, 2.0, 3.0, np.inf]
    u = r6(rng.standard_normal(20))
    v = r6(rng.standard_normal(20))
    a = r6(rng.standard_normal((5, 20)))
    b = r6(rng.standard_normal((4, 20)))
    out = {"u": u, "v": v, "a": a, "b": b,
           "p": ["inf" if np.isinf(p) else p for p in ps],
           "minkowski": [float(minkowski(u, v, p)) for p in ps],
           "cdist": [cdist(a, b, metric="minkowski", p=p) for p in ps]}
    return out


write("mutual_info", {"ksg": ksg_cases(), "binned": binned_cases(),
                      "minkowski": minkowski_cases()},
      meta={"n_neighbors": K, "random_state": RANDOM_STATE})
