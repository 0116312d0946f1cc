//! Logistic regressions: the L2-penalised multinomial/binary model of scikit-learn's
//! `LogisticRegression` (project 21), the L1-penalised binary model of statsmodels'
//! `Logit.fit_regularized(method='l1')` (project 48), and the confusion matrix.
//!
//! # L2 (scikit-learn)
//!
//! [`LogisticL2::fit`] minimises scikit-learn's objective
//! `C · Σ_i log-loss_i + ½‖W‖²`, the intercepts fitted and not penalised. With more than two
//! classes the loss is the multinomial (softmax) cross-entropy over `n_classes` weight
//! vectors; with two classes it is the binomial loss over one weight vector for
//! `classes[1]`, so that, as in scikit-learn, `coef` has one row and `intercept` one entry
//! for a binary problem (a 2-class softmax with the same penalty would be a different
//! model: its logit difference carries half the penalty).
//!
//! The solver is linfa-logistic's L-BFGS: dividing scikit-learn's objective by `C` gives
//! exactly linfa's `Σ log-loss + (α/2)‖W‖²` with `α = 1/C`, intercept unpenalised. It is run
//! to a tight gradient tolerance and then checked against scikit-learn's own first-order
//! condition, so the result is the optimum of scikit-learn's objective. scikit-learn's
//! defaults (`tol = 1e-4` on the gradient of the objective divided by `C·n`, at most 100
//! iterations) stop short of that optimum by up to ~1e-3 in the coefficients on unscaled
//! features (measured in the fixture), and its iterates cannot be reproduced without
//! scipy's L-BFGS-B line by line; the optimum both are aiming at is what we return.
//! The check also guards against a quirk of linfa's multinomial cost: its log-sum-exp is
//! shifted by the largest logit of the whole matrix and clamped at `ln 1e-15`, so rows whose
//! logits all lie ~35 below that maximum get an inexact cost (the gradient is exact); a
//! solve misled by it fails the check with an error instead of returning a wrong model.
//! The multinomial intercepts are only defined up to a common constant (the penalty does
//! not touch them); like scikit-learn, which starts from zero so that its iterates keep
//! them summing to zero, we centre them to sum 0.
//!
//! # L1 (statsmodels)
//!
//! [`l1_logit`] minimises statsmodels' `−loglike(β)/n + (α/n)·Σ_k |β_k|`, i.e.
//! `−loglike + α‖β‖₁`, over every column of the design the caller passes (a scalar alpha
//! penalises the constant column too), then applies statsmodels' `trim_mode='auto'` rule.
//! Written by hand: no crate implements statsmodels' trimming, and linfa has no L1 logistic
//! model. statsmodels reaches the optimum with SLSQP on a split-variable formulation; we
//! use proximal Newton steps (coordinate descent on the quadratic model, Armijo line search
//! on the true objective), which gives exact zeros and converges quadratically.

use crate::check;
use anyhow::{bail, Context, Result};
use linfa::prelude::*;
use linfa_logistic::{LogisticRegression as LinfaBinary, MultiLogisticRegression};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use statrs::distribution::{ContinuousCDF, Normal};

/// scikit-learn's L-BFGS stopping tolerance, on the max-abs gradient of its objective
/// divided by `C·n`.
const SKLEARN_TOL: f64 = 1e-4;
/// The max-abs gradient of scikit-learn's objective divided by `C·n` that a fit must
/// reach, a hundred times below scikit-learn's `tol`. linfa's L-BFGS stops where the cost
/// no longer decreases in floating point, typically at 1e-9–1e-8 (scikit-learn itself,
/// even with `tol=1e-12`, stops at ~1e-7 because of scipy's `ftol`).
const GRAD_TOL: f64 = 1e-6;

/// A fitted L2-penalised logistic regression (scikit-learn `LogisticRegression`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticL2 {
    /// The sorted distinct labels seen in training; column `k` of
    /// [`predict_proba`](Self::predict_proba) is `classes[k]`.
    pub classes: Vec<usize>,
    /// `[n_classes, n_features]`, or `[1, n_features]` (the weights of `classes[1]`) for
    /// two classes, as scikit-learn's `coef_`.
    pub coef: Array2<f64>,
    /// `[n_classes]`, or `[1]` for two classes, as scikit-learn's `intercept_`.
    pub intercept: Array1<f64>,
    /// The inverse penalty strength used.
    pub c: f64,
}

impl LogisticL2 {
    /// Fits `LogisticRegression(C=c)` (lbfgs, softmax loss for more than two classes,
    /// intercept fitted and not penalised) on `x: [n_samples, n_features]` and labels `y`.
    /// scikit-learn's default is `c = 1.0`.
    ///
    /// Errors on non-finite input, mismatched lengths, fewer than two classes, a
    /// non-positive `c`, or a fit that does not reach the optimum.
    ///
    /// linfa's L-BFGS can stall far from the optimum on unscaled features whose classes
    /// are well separated (5 classes of one feature on [3k, 3k+1] stop at a gradient of
    /// 0.13). Then the same problem is solved again on the features centred and divided
    /// by one common scale s: with z = (x − m)/s the slopes are w_z = w·s, and
    /// ½‖w‖² + C·Σ CE = (½‖w_z‖² + C·s²·Σ CE)/s², so fitting z with C·s² has exactly the
    /// same optimum, mapped back as w = w_z/s, b = b_z − w_z·m/s (centring only moves the
    /// unpenalised intercepts). One scale for every column keeps the reparametrisation
    /// exact (per-column scales would change the penalty); the result is checked against
    /// the original problem's first-order condition.
    pub fn fit(x: ArrayView2<f64>, y: &[usize], c: f64) -> Result<Self> {
        let direct_err = match Self::fit_direct(x, y, c) {
            Ok(m) => return Ok(m),
            Err(e) if e.to_string().contains("did not converge") => e,
            Err(e) => return Err(e),
        };
        let n = x.nrows() as f64;
        let mean = x.sum_axis(Axis(0)) / n;
        let centred = &x - &mean;
        let s = (centred.mapv(|v| v * v).sum() / (n * x.ncols() as f64)).sqrt();
        if !(s.is_finite() && s > 0.0) {
            return Err(direct_err);
        }
        let z = centred / s;
        let fz = Self::fit_direct(z.view(), y, c * s * s)
            .map_err(|e| anyhow::anyhow!("{direct_err}; on the standardised features too: {e}"))?;
        let coef = fz.coef.mapv(|w| w / s);
        let intercept = &fz.intercept - &(fz.coef.dot(&mean) / s);
        let model = LogisticL2 {
            classes: fz.classes,
            coef,
            intercept,
            c,
        };
        let g = model.objective_gradient_max(x, y)?;
        if g.is_nan() || g > GRAD_TOL {
            bail!(
                "{direct_err}; the standardised refit reached a gradient of {g:.3e} on the \
                 original features, above {GRAD_TOL:e}"
            );
        }
        Ok(model)
    }

    /// One linfa solve of scikit-learn's objective, checked against its first-order
    /// condition.
    fn fit_direct(x: ArrayView2<f64>, y: &[usize], c: f64) -> Result<Self> {
        let what = "logistic regression";
        check::rows_match(x.nrows(), y.len(), 2, what)?;
        check::finite_2d(x, "logistic regression input x")?;
        if x.ncols() == 0 {
            bail!("{what}: x has no feature columns");
        }
        if !(c.is_finite() && c > 0.0) {
            bail!("{what}: C must be a positive finite number, got {c}");
        }
        let classes = check::classes(y, 1, what)?;
        let n = x.nrows() as f64;
        // linfa's objective is n times the one GRAD_TOL is about; it stops when the L2 norm
        // of its gradient is below this, or (in practice first) when the line search can no
        // longer decrease the cost in floating point.
        let linfa_tol = 1e-12 * n;
        let targets = Array1::from(y.to_vec());
        let data = DatasetBase::new(x, targets);
        let (coef, intercept) = if classes.len() == 2 {
            let fitted = LinfaBinary::default()
                .alpha(1.0 / c)
                .gradient_tolerance(linfa_tol)
                .max_iterations(10_000)
                .fit(&data)
                .context("linfa-logistic's binary fit failed")?;
            // linfa models its "positive" label, which is the more frequent class; ours
            // (scikit-learn's) is classes[1]. The objective is symmetric under β → −β.
            let sign = if fitted.labels().pos.class == classes[1] {
                1.0
            } else {
                -1.0
            };
            let w = fitted.params().mapv(|v| sign * v);
            (
                w.insert_axis(Axis(0)),
                Array1::from(vec![sign * fitted.intercept()]),
            )
        } else {
            let fitted = MultiLogisticRegression::default()
                .alpha(1.0 / c)
                .gradient_tolerance(linfa_tol)
                .max_iterations(10_000)
                .fit(&data)
                .context("linfa-logistic's multinomial fit failed")?;
            // linfa's params are [n_features, n_classes]; scikit-learn's coef_ the transpose.
            let w = fitted.params().t().to_owned();
            let b = fitted.intercept();
            let mean = b.sum() / b.len() as f64;
            (w, b.mapv(|v| v - mean))
        };
        let model = LogisticL2 {
            classes,
            coef,
            intercept,
            c,
        };
        let g = model.objective_gradient_max(x, y)?;
        if g.is_nan() || g > GRAD_TOL {
            let hint = if g <= SKLEARN_TOL {
                " (it does meet scikit-learn's own tol=1e-4)"
            } else {
                ""
            };
            bail!(
                "{what} did not converge: the largest gradient component of the objective / (C·n) \
                 is {g:.3e}, above {GRAD_TOL:e}{hint}; try standardising the features"
            );
        }
        Ok(model)
    }

    /// Number of features the model was fitted on.
    pub fn n_features(&self) -> usize {
        self.coef.ncols()
    }

    fn check_x(&self, x: ArrayView2<f64>) -> Result<()> {
        if x.ncols() != self.n_features() {
            bail!(
                "logistic regression: x has {} columns, the model was fitted on {}",
                x.ncols(),
                self.n_features()
            );
        }
        check::finite_2d(x, "logistic regression input x")
    }

    /// `x · coefᵀ + intercept`: `[n, n_classes]`, or `[n, 1]` for two classes.
    pub fn decision_function(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.check_x(x)?;
        Ok(x.dot(&self.coef.t()) + &self.intercept)
    }

    /// Class probabilities `[n, n_classes]`, columns in the order of `classes`; each row
    /// sums to 1.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let z = self.decision_function(x)?;
        let k = self.classes.len();
        let mut p = Array2::zeros((x.nrows(), k));
        for (mut row, zr) in p.rows_mut().into_iter().zip(z.rows()) {
            if k == 2 {
                let p1 = sigmoid(zr[0]);
                row[0] = 1.0 - p1;
                row[1] = p1;
            } else {
                row.assign(&softmax(zr));
            }
        }
        Ok(p)
    }

    /// The most probable class of each row (the first one on a tie, as numpy's argmax).
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        let p = self.predict_proba(x)?;
        Ok(p.rows()
            .into_iter()
            .map(|r| self.classes[argmax(r)])
            .collect())
    }

    /// Mean accuracy of [`predict`](Self::predict) on `(x, y)`.
    pub fn score(&self, x: ArrayView2<f64>, y: &[usize]) -> Result<f64> {
        check::rows_match(x.nrows(), y.len(), 1, "logistic regression score")?;
        let pred = self.predict(x)?;
        let hits = pred.iter().zip(y).filter(|(a, b)| a == b).count();
        Ok(hits as f64 / y.len() as f64)
    }

    /// Max-abs gradient of scikit-learn's objective divided by `C·n`, i.e. of
    /// `mean log-loss + ‖W‖²/(2Cn)`, over coefficients and intercepts: the quantity
    /// scikit-learn's lbfgs compares with `tol`.
    pub fn objective_gradient_max(&self, x: ArrayView2<f64>, y: &[usize]) -> Result<f64> {
        check::rows_match(x.nrows(), y.len(), 1, "logistic regression gradient")?;
        let p = self.predict_proba(x)?;
        let n = x.nrows() as f64;
        // residual r[i, k] = p[i, k] − 1{y_i = classes[k]}, over the rows the model has
        let mut r = if self.classes.len() == 2 {
            p.column(1).to_owned().insert_axis(Axis(1))
        } else {
            p
        };
        for (i, &yi) in y.iter().enumerate() {
            let k = self
                .classes
                .binary_search(&yi)
                .map_err(|_| anyhow::anyhow!("label {yi} was not seen in training"))?;
            if self.classes.len() == 2 {
                if k == 1 {
                    r[[i, 0]] -= 1.0;
                }
            } else {
                r[[i, k]] -= 1.0;
            }
        }
        let gw = r.t().dot(&x) / n + &self.coef / (self.c * n);
        let gb = r.sum_axis(Axis(0)) / n;
        Ok(gw.iter().chain(gb.iter()).fold(0.0, |m, v| m.max(v.abs())))
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn softmax(z: ArrayView1<f64>) -> Array1<f64> {
    let m = z.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e = z.mapv(|v| (v - m).exp());
    let s = e.sum();
    e / s
}

fn argmax(r: ArrayView1<f64>) -> usize {
    let mut best = 0;
    for (k, &v) in r.iter().enumerate() {
        if v > r[best] {
            best = k;
        }
    }
    best
}

/// A confusion matrix: `counts[[i, j]]` = samples of true class `labels[i]` predicted as
/// `labels[j]` (rows true, columns predicted, as scikit-learn's `confusion_matrix`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusionMatrix {
    /// Sorted labels indexing rows and columns.
    pub labels: Vec<usize>,
    /// `[n_labels, n_labels]` counts.
    pub counts: Array2<usize>,
}

impl ConfusionMatrix {
    /// Counts `(y_true, y_pred)` pairs. `labels` fixes the rows/columns (sorted and
    /// deduplicated here); `None` uses the sorted union of both label sets, as
    /// scikit-learn does. A label outside `labels` is an error (scikit-learn silently
    /// drops such samples).
    pub fn new(y_true: &[usize], y_pred: &[usize], labels: Option<&[usize]>) -> Result<Self> {
        check::rows_match(y_true.len(), y_pred.len(), 1, "confusion matrix")?;
        let mut labels: Vec<usize> = match labels {
            Some(l) => l.to_vec(),
            None => y_true.iter().chain(y_pred).copied().collect(),
        };
        labels.sort_unstable();
        labels.dedup();
        let k = labels.len();
        let mut counts = Array2::zeros((k, k));
        for (&t, &p) in y_true.iter().zip(y_pred) {
            let i = labels.binary_search(&t).map_err(|_| {
                anyhow::anyhow!(
                    "confusion matrix: true label {t} is not among the labels {labels:?}"
                )
            })?;
            let j = labels.binary_search(&p).map_err(|_| {
                anyhow::anyhow!(
                    "confusion matrix: predicted label {p} is not among the labels {labels:?}"
                )
            })?;
            counts[[i, j]] += 1;
        }
        Ok(ConfusionMatrix { labels, counts })
    }

    /// Total number of samples.
    pub fn total(&self) -> usize {
        self.counts.sum()
    }

    /// Fraction of samples on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let diag: usize = (0..self.labels.len()).map(|i| self.counts[[i, i]]).sum();
        diag as f64 / self.total() as f64
    }

    /// Each row divided by its sum (scikit-learn `normalize='true'`): row `i` holds the
    /// fractions of true class `labels[i]` given each prediction; multiply by 100 for
    /// percent. A row with no samples is all 0, as scikit-learn writes it.
    pub fn row_normalised(&self) -> Array2<f64> {
        let mut out = self.counts.mapv(|v| v as f64);
        for mut row in out.rows_mut() {
            let s = row.sum();
            if s > 0.0 {
                row /= s;
            }
        }
        out
    }

    /// Per-class accuracy (recall): the diagonal of [`row_normalised`](Self::row_normalised).
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        let r = self.row_normalised();
        (0..self.labels.len()).map(|i| r[[i, i]]).collect()
    }
}

/// statsmodels' default `auto_trim_tol`.
pub const AUTO_TRIM_TOL: f64 = 0.01;
/// statsmodels' default `qc_tol`.
pub const QC_TOL: f64 = 0.03;

/// An L1-penalised binary logistic regression as statsmodels'
/// `sm.Logit(y, X).fit_regularized(method='l1', alpha=alpha)` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct L1Logit {
    /// Coefficients, one per column of the design, trimmed ones exactly 0.
    pub params: Array1<f64>,
    /// `trimmed[k]`: parameter `k` was set to zero by the auto-trim rule.
    pub trimmed: Vec<bool>,
    /// Number of parameters not trimmed (statsmodels' `nnz_params`).
    pub nnz: usize,
    /// Standard errors from the inverse Hessian of the unpenalised negative
    /// log-likelihood restricted to the untrimmed parameters; NaN exactly where trimmed
    /// (as statsmodels).
    pub bse: Array1<f64>,
    /// Two-sided Wald z-test p-values `2·(1 − Φ(|β/SE|))`; NaN exactly where trimmed.
    pub pvalues: Array1<f64>,
    /// Log-likelihood at `params`.
    pub llf: f64,
    /// Predicted probabilities `P(y = 1)` on the training design.
    pub fitted: Array1<f64>,
}

impl L1Logit {
    /// `P(y = 1)` for each row of a design with the same columns as the fit.
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        if x.ncols() != self.params.len() {
            bail!(
                "L1 logit: x has {} columns, the model has {} parameters",
                x.ncols(),
                self.params.len()
            );
        }
        check::finite_2d(x, "L1 logit input x")?;
        Ok(x.dot(&self.params).mapv(sigmoid))
    }
}

/// statsmodels `Logit(y, x).fit_regularized(method='l1', alpha=alpha)` with the defaults
/// `trim_mode='auto'`, `auto_trim_tol=0.01`, `qc_tol=0.03`. `x` is the full design: add the
/// constant column yourself (statsmodels does not), and note that it is penalised like
/// every other column. `y` holds 0/1 labels, both present.
pub fn l1_logit(x: ArrayView2<f64>, y: &[usize], alpha: f64) -> Result<L1Logit> {
    l1_logit_weights(x, y, &vec![alpha; x.ncols()])
}

/// [`l1_logit`] with one penalty weight per column (statsmodels' array `alpha`); a 0
/// leaves that column unpenalised and never trimmed.
pub fn l1_logit_weights(x: ArrayView2<f64>, y: &[usize], alpha: &[f64]) -> Result<L1Logit> {
    let what = "L1 logit";
    check::rows_match(x.nrows(), y.len(), 2, what)?;
    check::finite_2d(x, "L1 logit design x")?;
    let d = x.ncols();
    if d == 0 {
        bail!("{what}: the design has no columns");
    }
    if alpha.len() != d {
        bail!("{what}: {} alpha weights for {d} columns", alpha.len());
    }
    if let Some(a) = alpha.iter().find(|a| !(a.is_finite() && **a >= 0.0)) {
        bail!("{what}: alpha must be finite and non-negative, got {a}");
    }
    if let Some(v) = y.iter().find(|&&v| v > 1) {
        bail!("{what}: y must hold 0/1 labels, found {v}");
    }
    check::classes(y, 1, what)?;
    for j in 0..d {
        if x.column(j).iter().all(|&v| v == 0.0) {
            bail!("{what}: column {j} of the design is all zeros; drop it");
        }
    }
    let consts = check::constant_columns(x);
    if consts.len() > 1 {
        bail!("{what}: columns {consts:?} are all constant (collinear); keep one constant column");
    }
    let yf: Array1<f64> = y.iter().map(|&v| v as f64).collect();
    let a = ArrayView1::from(alpha);
    let beta = prox_newton(x, yf.view(), a)?;

    // statsmodels' trimming works on the score of −loglike/n and alpha/n; the ratios below
    // are scale-free, so the unscaled gradient gives the same decisions.
    let g = nll_grad(x, yf.view(), beta.view());
    let qc_passed = (0..d).all(|k| a[k] == 0.0 || (g[k].abs() - a[k]) / a[k] <= QC_TOL);
    if !qc_passed {
        bail!(
            "{what}: the solution violates the L1 optimality condition by more than qc_tol={QC_TOL}; \
             this should not happen after convergence (please report)"
        );
    }
    let mut params = beta;
    let mut trimmed = vec![false; d];
    for k in 0..d {
        if a[k] != 0.0 && (a[k] - g[k].abs()) / a[k] > AUTO_TRIM_TOL {
            params[k] = 0.0;
            trimmed[k] = true;
        }
    }
    let nnz = trimmed.iter().filter(|t| !**t).count();
    let eta = x.dot(&params);
    let fitted = eta.mapv(sigmoid);
    // statsmodels' perfect-prediction check (np.allclose(fitted, y)); it only warns, but
    // with an unpenalised parameter the likelihood then has no maximum and the estimate
    // is wherever the solver stopped, so we refuse. With every alpha > 0 the penalised
    // estimate exists and is returned.
    let perfect = fitted
        .iter()
        .zip(&yf)
        .all(|(f, t)| (f - t).abs() <= 1e-8 + 1e-5 * t.abs());
    if perfect && a.iter().any(|&v| v == 0.0) {
        bail!(
            "{what}: perfect separation, the fitted probabilities equal the labels and an \
             unpenalised parameter has no finite estimate; use alpha > 0 for every column"
        );
    }
    let llf = -nll(eta.view(), yf.view());

    let mut bse = Array1::from_elem(d, f64::NAN);
    let mut pvalues = Array1::from_elem(d, f64::NAN);
    let keep: Vec<usize> = (0..d).filter(|&k| !trimmed[k]).collect();
    if !keep.is_empty() {
        let w = fitted.mapv(|p| p * (1.0 - p));
        let xs = x.select(Axis(1), &keep);
        let h = xs.t().dot(&(&xs * &w.view().insert_axis(Axis(1))));
        let m = keep.len();
        let hn = nalgebra::DMatrix::from_fn(m, m, |i, j| h[[i, j]]);
        let chol = nalgebra::Cholesky::new(hn).with_context(|| {
            format!(
                "{what}: the Hessian of the untrimmed parameters {keep:?} is singular \
                 (perfect or quasi-perfect separation, or collinear columns); increase alpha"
            )
        })?;
        let inv = chol.inverse();
        let normal = Normal::standard();
        for (i, &k) in keep.iter().enumerate() {
            let se = inv[(i, i)].sqrt();
            if !se.is_finite() {
                bail!("{what}: the standard error of parameter {k} is not finite");
            }
            bse[k] = se;
            pvalues[k] = 2.0 * normal.sf((params[k] / se).abs());
        }
    }
    Ok(L1Logit {
        params,
        trimmed,
        nnz,
        bse,
        pvalues,
        llf,
        fitted,
    })
}

/// ln(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// −loglike = Σ softplus(η) − yη.
fn nll(eta: ArrayView1<f64>, y: ArrayView1<f64>) -> f64 {
    eta.iter()
        .zip(y)
        .map(|(&e, &yi)| softplus(e) - yi * e)
        .sum()
}

/// Gradient of −loglike: Xᵀ(σ(Xβ) − y).
fn nll_grad(x: ArrayView2<f64>, y: ArrayView1<f64>, beta: ArrayView1<f64>) -> Array1<f64> {
    let r = x.dot(&beta).mapv(sigmoid) - y;
    x.t().dot(&r)
}

fn penalty(beta: ArrayView1<f64>, alpha: ArrayView1<f64>) -> f64 {
    beta.iter().zip(alpha).map(|(b, a)| a * b.abs()).sum()
}

/// Distance from the L1 optimality condition: per coordinate |g + α·sign β| where β ≠ 0,
/// max(|g| − α, 0) where β = 0.
fn kkt_violation(g: ArrayView1<f64>, beta: ArrayView1<f64>, alpha: ArrayView1<f64>) -> f64 {
    (0..g.len())
        .map(|k| {
            if beta[k] != 0.0 {
                (g[k] + alpha[k] * beta[k].signum()).abs()
            } else {
                (g[k].abs() - alpha[k]).max(0.0)
            }
        })
        .fold(0.0, f64::max)
}

fn soft_threshold(u: f64, t: f64) -> f64 {
    if u > t {
        u - t
    } else if u < -t {
        u + t
    } else {
        0.0
    }
}

/// Minimises −loglike(β) + Σ α_k|β_k| by proximal Newton: at each step the smooth part is
/// replaced by its second-order model, whose L1-penalised minimiser is found by cyclic
/// coordinate descent, then a backtracking (Armijo) line search on the true objective.
/// Stops when the optimality condition holds to 1e-10 per sample.
fn prox_newton(
    x: ArrayView2<f64>,
    y: ArrayView1<f64>,
    alpha: ArrayView1<f64>,
) -> Result<Array1<f64>> {
    let (n, d) = x.dim();
    let tol = 1e-10 * n as f64;
    let mut beta = Array1::<f64>::zeros(d);
    let objective = |b: ArrayView1<f64>| nll(x.dot(&b).view(), y) + penalty(b, alpha);
    let mut f = objective(beta.view());
    for _ in 0..200 {
        let p = x.dot(&beta).mapv(sigmoid);
        let g = x.t().dot(&(&p - &y));
        if kkt_violation(g.view(), beta.view(), alpha) <= tol {
            return Ok(beta);
        }
        let w = p.mapv(|v| v * (1.0 - v));
        let h = x.t().dot(&(&x * &w.view().insert_axis(Axis(1))));
        for k in 0..d {
            if h[[k, k]].is_nan() || h[[k, k]] <= 1e-300 {
                bail!(
                    "L1 logit: the curvature along column {k} vanished (fitted probabilities \
                     saturated at 0/1: perfect separation); increase alpha"
                );
            }
        }
        // Coordinate descent on q(z) = gᵀ(z−β) + ½(z−β)ᵀH(z−β) + Σα|z|.
        let mut z = beta.clone();
        let mut r = g.clone(); // ∇ of the smooth model at z
        for _sweep in 0..10_000 {
            let mut largest = 0.0f64;
            for k in 0..d {
                let hkk = h[[k, k]];
                let zk = soft_threshold(z[k] - r[k] / hkk, alpha[k] / hkk);
                let step = zk - z[k];
                if step != 0.0 {
                    r.scaled_add(step, &h.column(k));
                    z[k] = zk;
                    largest = largest.max(step.abs() * hkk.sqrt());
                }
            }
            if largest <= 1e-13 * (1.0 + n as f64).sqrt() {
                break;
            }
        }
        let dir = &z - &beta;
        let decrease = g.dot(&dir) + penalty(z.view(), alpha) - penalty(beta.view(), alpha);
        if decrease >= 0.0 {
            // the model cannot improve: converged as far as floating point allows
            let viol = kkt_violation(g.view(), beta.view(), alpha);
            if viol <= 1e3 * tol {
                return Ok(beta);
            }
            bail!("L1 logit: no descent direction while the optimality gap is {viol:.3e}");
        }
        // Near the optimum the predicted decrease falls below the rounding error of f
        // itself (f is a sum of n terms, known to about n·ε·|f|): an Armijo test on f
        // then rejects even the exact step and only ever smaller ones pass, so the
        // optimality gap stalls just above the tolerance. There the quadratic model is
        // exact to far better than f can tell: take the full step.
        if -decrease <= 1e-12 * (1.0 + f.abs()) {
            beta = &beta + &dir;
            f = objective(beta.view());
            if !f.is_finite() {
                bail!("L1 logit: the coefficients diverged (perfect separation with alpha = 0?)");
            }
            continue;
        }
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            let cand = &beta + &(&dir * t);
            let fc = objective(cand.view());
            if fc <= f + 1e-4 * t * decrease {
                beta = cand;
                f = fc;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            let viol = kkt_violation(g.view(), beta.view(), alpha);
            if viol <= 1e3 * tol {
                return Ok(beta);
            }
            bail!("L1 logit: line search failed with optimality gap {viol:.3e}");
        }
        if beta.iter().any(|b| !b.is_finite()) {
            bail!("L1 logit: the coefficients diverged (perfect separation with alpha = 0?)");
        }
    }
    bail!(
        "L1 logit did not converge in 200 Newton steps: with alpha = 0 this means the classes \
         are (quasi-)separable and the maximum-likelihood estimate does not exist; use alpha > 0"
    )
}
