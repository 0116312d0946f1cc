"""statsmodels OLS and scikit-learn logistic regression on the --quick losses.

Reads quick_losses.json (from fixture_losses.py). Train = rows 0..30, test = rows 30..60,
as the --quick run splits the contexts. Loss matrix L[s, t] = token_losses[s][t];
flattened row-major with positions P[s, t] = t.
  - OLS: sm.OLS(position, sm.add_constant(loss)).fit() -> params, bse, tvalues, pvalues,
    conf_int, rsquared, rsquared_adj, fvalue, f_pvalue, llf, aic, bic.
  - LogisticRegression(solver='lbfgs') with its defaults (C=1, max_iter=100, tol=1e-4) and
    once more with tol=1e-10, max_iter=10000 (the optimum both aim at): coef_, intercept_,
    predicted classes and confusion matrices on train and test.
Pinned: numpy 2.4.6, scipy 1.17.1, scikit-learn 1.9.1, statsmodels 0.15.0 (.venv-methods).
"""
import json
import sys
from pathlib import Path

import numpy as np
import sklearn
import statsmodels
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix

src = json.loads(Path(sys.argv[1]).read_text())
out = Path(sys.argv[2])
N_TRAIN = 30
L = np.array([r["token_losses"] for r in src["rows"]], dtype=np.float64)
train, test = L[:N_TRAIN], L[N_TRAIN : 2 * N_TRAIN]
x_tr, x_te = train.reshape(-1), test.reshape(-1)
pos_tr = np.tile(np.arange(5), N_TRAIN)
pos_te = np.tile(np.arange(5), test.shape[0])

ols = sm.OLS(pos_tr.astype(float), sm.add_constant(x_tr)).fit()


def logistic(**kw):
    clf = LogisticRegression(solver="lbfgs", **kw).fit(x_tr[:, None], pos_tr)
    p_tr = clf.predict(x_tr[:, None])
    p_te = clf.predict(x_te[:, None])
    return {
        "coef": clf.coef_[:, 0].tolist(),
        "intercept": clf.intercept_.tolist(),
        "n_iter": int(clf.n_iter_[0]),
        "pred_train": p_tr.tolist(),
        "pred_test": p_te.tolist(),
        "confusion_train": confusion_matrix(pos_tr, p_tr, labels=range(5)).tolist(),
        "confusion_test": confusion_matrix(pos_te, p_te, labels=range(5)).tolist(),
        "proba_train_first3": clf.predict_proba(x_tr[:3, None]).tolist(),
    }


res = {
    "numpy": np.__version__,
    "sklearn": sklearn.__version__,
    "statsmodels": statsmodels.__version__,
    "n_train_rows": N_TRAIN,
    "ols": {
        "params": ols.params.tolist(),
        "bse": ols.bse.tolist(),
        "tvalues": ols.tvalues.tolist(),
        "pvalues": ols.pvalues.tolist(),
        "conf_int": ols.conf_int().tolist(),
        "rsquared": ols.rsquared,
        "rsquared_adj": ols.rsquared_adj,
        "fvalue": ols.fvalue,
        "f_pvalue": ols.f_pvalue,
        "llf": ols.llf,
        "aic": ols.aic,
        "bic": ols.bic,
        "nobs": ols.nobs,
        "df_model": ols.df_model,
        "df_resid": ols.df_resid,
    },
    "logistic_default": logistic(),
    "logistic_optimum": logistic(tol=1e-10, max_iter=10000),
}
out.write_text(json.dumps(res, indent=1) + "\n")
print(f"wrote {out}")
