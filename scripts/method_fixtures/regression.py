"""Reference outputs for methods/src/regression.rs (OLS, statsmodels) and
methods/src/curve_fit.rs (Levenberg-Marquardt, scipy curve_fit).

OLS: sm.OLS(y, sm.add_constant(X)).fit() and its summary text (printed with a fixed
clock so that the Date/Time lines are reproducible).
curve_fit: scipy.optimize.curve_fit with its defaults (method 'lm', no bounds).
"""
import os
import sys
import time

# _common.write() imports xgboost for its version; this folder's xgboost.py (another
# topic's fixture script) would shadow the package, so load the real one first.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
try:
    import xgboost  # noqa: F401
except ImportError:
    pass
sys.path.insert(0, _here)

import numpy as np
import statsmodels.api as sm
import statsmodels.iolib.summary as sm_summary
from scipy.optimize import curve_fit

from _common import write

# The summary prints time.localtime(); pin it to this Unix time (read as UTC).
SUMMARY_UNIX_TIME = 1_700_000_000
sm_summary.time.localtime = lambda *a: time.gmtime(SUMMARY_UNIX_TIME)

rng = np.random.default_rng(20240521)


def ols_case(x, y, yname=None, xname=None):
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(y, dtype=float)
    r = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit()
    jb, jbpv, skew, kurt = sm.stats.stattools.jarque_bera(r.resid)
    omni, omnipv = sm.stats.stattools.omni_normtest(r.resid)
    case = dict(
        x=x, y=y,
        params=r.params, bse=r.bse, tvalues=r.tvalues, pvalues=r.pvalues,
        conf_int=r.conf_int(0.05), cov_params=r.cov_params(),
        rsquared=r.rsquared, rsquared_adj=r.rsquared_adj,
        fvalue=r.fvalue, f_pvalue=r.f_pvalue, llf=r.llf, aic=r.aic, bic=r.bic,
        ssr=r.ssr, ess=r.ess, centered_tss=r.centered_tss, scale=r.scale,
        resid=r.resid, fittedvalues=r.fittedvalues,
        nobs=int(r.nobs), df_model=int(r.df_model), df_resid=int(r.df_resid),
        omnibus=None if np.isnan(omni) else omni,
        omnibus_pvalue=None if np.isnan(omnipv) else omnipv,
        skew=skew, kurtosis=kurt, jarque_bera=jb, jb_pvalue=jbpv,
        durbin_watson=sm.stats.stattools.durbin_watson(r.resid),
        condition_number=r.condition_number, min_eigenvalue=r.eigenvals[-1],
        summary=str(r.summary()),
    )
    if yname is not None or xname is not None:
        case["yname"] = yname
        case["xname"] = xname
        case["summary_named"] = str(r.summary(yname=yname, xname=xname))
    return case


cases = {"summary_unix_time": SUMMARY_UNIX_TIME}
ols = {}

# p21 Part 2: token position (0..4) regressed on its loss, one predictor.
pos = np.tile(np.arange(5.0), 40)
loss = np.abs(rng.normal(4.0 - 0.3 * pos, 1.5))
ols["p21_one_predictor"] = ols_case(loss, pos, yname="position", xname=["const", "loss"])

# Three predictors on different scales (p30/p31 style multiple regression).
x3 = rng.normal(size=(80, 3)) * [1.0, 3.0, 0.2] + [0.0, 5.0, -1.0]
y3 = 1.0 + x3 @ [0.5, -2.0, 0.01] + rng.normal(size=80)
ols["three_predictors"] = ols_case(x3, y3)

# p36 Part 5: log-norm at t on the log-norms at t-1 and t-2 (an AR(2) in logs).
z = np.zeros(153)
z[:2] = rng.normal(size=2)
for t in range(2, 153):
    z[t] = 0.4 + 0.5 * z[t - 1] + 0.2 * z[t - 2] + 0.3 * rng.normal()
norms = np.exp(z)
lags = np.column_stack([np.log(norms[1:-1]), np.log(norms[:-2])])
ols["p36_two_lags"] = ols_case(lags, np.log(norms[2:]))

# Six samples: the omnibus test is undefined (n < 8) and prints nan.
x6 = rng.normal(size=6)
ols["six_samples"] = ols_case(x6, 1.0 + x6 + rng.normal(size=6))

# Badly scaled predictors: %g formatting of big/small numbers, the eigenvalue note.
xs = rng.normal(size=(50, 2)) * [1e5, 1e-6]
ys = (3.0 + xs @ [2e-5, 4e5] + rng.normal(size=50)) * 1e6
ols["badly_scaled"] = ols_case(xs, ys)

cases["ols"] = ols


def sigmoid(x, A, x0, k, b):
    return A / (1 + np.exp(-k * (x - x0))) + b


def fit_case(x, y, p0, **kw):
    popt, pcov, info, msg, ier = curve_fit(sigmoid, x, y, p0=p0, full_output=True, **kw)
    # scipy's pcov is all-inf when MINPACK's R factor is singular (the noiseless case);
    # JSON has no inf, so that is written as null.
    pcov = pcov if np.isfinite(pcov).all() else None
    return dict(x=x, y=y, p0=p0, popt=popt, pcov=pcov, nfev=int(info["nfev"]), ier=int(ier))


fits = {}
# p32 Part 4: noisy sigmoid (10, 0, 1, 2), initial guess [max(y), median(x), 1, min(y)].
xs4 = np.linspace(-10, 10, 50)
ys4 = sigmoid(xs4, 10, 0, 1, 2) + rng.normal(size=50)
fits["p32_noisy"] = fit_case(xs4, ys4, [ys4.max(), np.median(xs4), 1.0, ys4.min()])
# Same data, another initial guess.
fits["other_p0"] = fit_case(xs4, ys4, [5.0, 2.0, 0.5, 0.0])
# p32 Part 5 shape: a decreasing profile over layers 0..46 (k = -0.5), same rule for p0.
xl = np.arange(47.0)
yl = sigmoid(xl, 6.0, 30.0, -0.5, -3.0) + 0.2 * rng.normal(size=47)
fits["decreasing"] = fit_case(xl, yl, [yl.max(), np.median(xl), 1.0, yl.min()])
# Noiseless (10, 0, 1, 2): the parameters come back exactly (spec p32 offline check 5).
y0 = sigmoid(xs4, 10, 0, 1, 2)
fits["noiseless"] = fit_case(xs4, y0, [y0.max(), np.median(xs4), 1.0, y0.min()])
cases["sigmoid"] = fits


# A general model with an analytic Jacobian (scipy's lmder, maxfev 100*(n+1)).
def expdecay(x, a, b, c):
    return a * np.exp(-b * x) + c


def expdecay_jac(x, a, b, c):
    e = np.exp(-b * x)
    return np.column_stack([e, -a * x * e, np.ones_like(x)])


xe = np.linspace(0, 4, 60)
ye = expdecay(xe, 2.5, 1.3, 0.5) + 0.05 * rng.normal(size=60)
p0e = [1.0, 1.0, 1.0]
popt, pcov, info, msg, ier = curve_fit(expdecay, xe, ye, p0=p0e, full_output=True)
popt_j, pcov_j, info_j, _, _ = curve_fit(expdecay, xe, ye, p0=p0e, jac=expdecay_jac,
                                         full_output=True)
cases["expdecay"] = dict(x=xe, y=ye, p0=p0e, popt=popt, pcov=pcov, nfev=int(info["nfev"]),
                         popt_jac=popt_j, pcov_jac=pcov_j, nfev_jac=int(info_j["nfev"]))

# maxfev too small: scipy raises "Optimal parameters not found".
try:
    curve_fit(sigmoid, xs4, ys4, p0=[ys4.max(), 0.0, 1.0, ys4.min()], maxfev=12)
    cases["maxfev12_fails"] = False
except RuntimeError as e:
    cases["maxfev12_fails"] = True
    cases["maxfev12_message"] = str(e)

write("regression", cases)
