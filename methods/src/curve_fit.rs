//! Nonlinear least squares as scipy's `curve_fit` does it without bounds: method `'lm'`,
//! MINPACK's Levenberg–Marquardt (`lmdif`, or `lmder` when a Jacobian is given), run
//! here by the `levenberg-marquardt` crate (a port of MINPACK's `lmder`).
//!
//! The crate's defaults differ from scipy's, so the call sets them to MINPACK's:
//! `ftol = xtol = 1.49012e-8`, `gtol = 0`, step bound factor 100, internal scaling on.
//! scipy's numeric Jacobian is MINPACK's `fdjac2` forward difference (step
//! `sqrt(ε)·|pⱼ|`, or `sqrt(ε)` at 0), counted as n function calls; the crate has no
//! numeric Jacobian of its own (its `differentiate_numerically` is a checking aid with
//! another step rule), so `fdjac2` is written out below. The function-call budget
//! (`maxfev`, 200·(n+1) with the numeric Jacobian, 100·(n+1) with an analytic one) is
//! counted and checked as MINPACK does it — the crate's own `patience` counts only the
//! trial steps. Following MINPACK keeps the iterates, and so the point where the
//! `ftol`/`xtol` tests stop, the same as scipy's: two starting points on the same data
//! stop ~1e-5 apart in relative terms, far more than the agreement with scipy.
//!
//! `pcov` is scipy's: `inv(JᵀJ) · RSS / (n − p)` with the Jacobian MINPACK last
//! evaluated (at the start of the final iteration).
//!
//! ```
//! use methods::curve_fit::{fit_sigmoid, sigmoid};
//! use ndarray::Array1;
//! let x = Array1::linspace(-10.0, 10.0, 50);
//! let y = x.mapv(|v| sigmoid(v, &[10.0, 0.0, 1.0, 2.0]));
//! let fit = fit_sigmoid(x.view(), y.view(), None).unwrap();
//! assert!((fit.params[0] - 10.0).abs() < 1e-4);
//! ```

use crate::check;
use anyhow::{bail, Result};
use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt, TerminationReason};
use nalgebra::{storage::Owned, DMatrix, DVector, Dyn};
use ndarray::{Array1, Array2, ArrayView1};
use std::cell::{Cell, RefCell};

/// A model `f(x, params)` evaluated at one sample.
pub type Model<'a> = dyn Fn(f64, &[f64]) -> f64 + 'a;
/// A model's gradient in the parameters at one sample: writes ∂f/∂pⱼ into `out[j]`.
pub type ModelJacobian<'a> = dyn Fn(f64, &[f64], &mut [f64]) + 'a;

/// Solver settings; `Default` is scipy's `curve_fit`/`leastsq` defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveFitOptions {
    /// Most model evaluations over the whole sample (forward-difference columns of the
    /// numeric Jacobian included); `None`: 200·(n_params+1) with the numeric Jacobian,
    /// 100·(n_params+1) with an analytic one (scipy's rule).
    pub maxfev: Option<usize>,
    /// Stop when the actual and predicted relative reductions of the sum of squares are
    /// both at most `ftol`.
    pub ftol: f64,
    /// Stop when the relative change of the scaled parameters is at most `xtol`.
    pub xtol: f64,
    /// Stop when the cosine between the residuals and every Jacobian column is at most
    /// `gtol` (0 disables the test, as in scipy).
    pub gtol: f64,
    /// The forward-difference step is `sqrt(max(epsfcn, ε))·|pⱼ|`; `None`: machine ε.
    pub epsfcn: Option<f64>,
}

impl Default for CurveFitOptions {
    fn default() -> Self {
        CurveFitOptions {
            maxfev: None,
            ftol: 1.49012e-8,
            xtol: 1.49012e-8,
            gtol: 0.0,
            epsfcn: None,
        }
    }
}

/// Why MINPACK stopped (scipy's `ier` 1–4: all count as converged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convergence {
    /// `ier` 1: the relative reduction of the sum of squares is at most `ftol`.
    Ftol,
    /// `ier` 2: the relative change of the parameters is at most `xtol`.
    Xtol,
    /// `ier` 3: both.
    FtolXtol,
    /// `ier` 4: the residuals are orthogonal to the Jacobian's columns (`gtol`).
    Gtol,
    /// The residuals are exactly zero (MINPACK would go on to report 1–3).
    ZeroResiduals,
}

impl Convergence {
    /// scipy's `ier` for this outcome.
    pub fn ier(self) -> i32 {
        match self {
            Convergence::Ftol | Convergence::ZeroResiduals => 1,
            Convergence::Xtol => 2,
            Convergence::FtolXtol => 3,
            Convergence::Gtol => 4,
        }
    }
}

/// A converged fit.
#[derive(Clone, Debug)]
pub struct CurveFit {
    /// The fitted parameters (scipy's `popt`).
    pub params: Array1<f64>,
    /// scipy's `pcov`, `inv(JᵀJ)·RSS/(n − p)`; `None` where scipy returns an all-`inf`
    /// matrix with "Covariance of the parameters could not be estimated": a singular
    /// Jacobian, or as many parameters as samples.
    pub pcov: Option<Array2<f64>>,
    /// `f(x, params) − y` at the solution.
    pub residuals: Array1<f64>,
    /// Residual sum of squares.
    pub rss: f64,
    /// Model evaluations over the whole sample, counted as MINPACK counts them (scipy's
    /// `infodict['nfev']`).
    pub nfev: usize,
    /// Which stopping test was met.
    pub convergence: Convergence,
}

impl CurveFit {
    /// One-standard-deviation errors `sqrt(diag(pcov))`, when `pcov` exists.
    pub fn perr(&self) -> Option<Array1<f64>> {
        self.pcov.as_ref().map(|c| c.diag().mapv(f64::sqrt))
    }

    /// R² of the fitted curve, 1 − RSS / Σ(y − ȳ)² (`y` the fitted data).
    pub fn r_squared(&self, y: ArrayView1<f64>) -> Result<f64> {
        if y.len() != self.residuals.len() {
            bail!(
                "curve_fit R²: y has {} values, the fit {}",
                y.len(),
                self.residuals.len()
            );
        }
        let mean = y.sum() / y.len() as f64;
        let tss: f64 = y.iter().map(|v| (v - mean) * (v - mean)).sum();
        if tss == 0.0 {
            bail!("curve_fit R²: y is constant, so R² is undefined");
        }
        Ok(1.0 - self.rss / tss)
    }
}

/// `scipy.optimize.curve_fit(f, x, y, p0)` with a numeric (forward-difference) Jacobian.
pub fn curve_fit(
    model: impl Fn(f64, &[f64]) -> f64,
    x: ArrayView1<f64>,
    y: ArrayView1<f64>,
    p0: &[f64],
) -> Result<CurveFit> {
    curve_fit_with(&model, None, x, y, p0, &CurveFitOptions::default())
}

/// `curve_fit` with an optional analytic Jacobian (`jac=` in scipy: MINPACK's `lmder`)
/// and explicit solver settings.
///
/// Errors: non-finite or mismatched inputs; more parameters than samples; a model or
/// Jacobian value that is not finite; no convergence within `maxfev` evaluations, or
/// MINPACK's "no further improvement possible" (scipy raises `RuntimeError` for both).
pub fn curve_fit_with(
    model: &Model,
    jacobian: Option<&ModelJacobian>,
    x: ArrayView1<f64>,
    y: ArrayView1<f64>,
    p0: &[f64],
    options: &CurveFitOptions,
) -> Result<CurveFit> {
    let n_params = p0.len();
    check::rows_match(x.len(), y.len(), 1, "curve_fit")?;
    if n_params == 0 {
        bail!("curve_fit: p0 is empty; give one starting value per model parameter");
    }
    if x.len() < n_params {
        bail!(
            "curve_fit: {n_params} parameters cannot be fitted to {} data points; \
             give at least as many points as parameters",
            x.len()
        );
    }
    check::finite_1d(x, "curve_fit: x")?;
    check::finite_1d(y, "curve_fit: y")?;
    check::finite(p0, "curve_fit: p0")?;
    for (name, v) in [
        ("ftol", options.ftol),
        ("xtol", options.xtol),
        ("gtol", options.gtol),
    ] {
        if !v.is_finite() || v < 0.0 {
            bail!("curve_fit: {name} must be a finite number ≥ 0, got {v}");
        }
    }
    let maxfev = options
        .maxfev
        .unwrap_or(if jacobian.is_some() { 100 } else { 200 } * (n_params + 1));
    if maxfev == 0 {
        bail!("curve_fit: maxfev must be at least 1");
    }
    let eps = options
        .epsfcn
        .unwrap_or(f64::EPSILON)
        .max(f64::EPSILON)
        .sqrt();

    let xs: Vec<f64> = x.to_vec();
    let ys: Vec<f64> = y.to_vec();
    let mut problem = Problem {
        model,
        jacobian,
        x: &xs,
        y: &ys,
        params: DVector::from_column_slice(p0),
        resid: DVector::zeros(xs.len()),
        eps,
        maxfev,
        nfev: Cell::new(0),
        last_trial_nfev: None,
        out_of_budget: false,
        base: RefCell::new(None),
        last_jacobian: RefCell::new(None),
        bad_value: Cell::new(None),
    };
    problem.resid = problem.residuals_at(&problem.params);
    problem.nfev.set(1);
    if let Some(i) = problem.resid.iter().position(|v| !v.is_finite()) {
        bail!(
            "curve_fit: the model is not finite at p0 {p0:?} for x[{i}] = {}; \
             choose another starting point",
            xs[i]
        );
    }

    let solver = LevenbergMarquardt::new()
        .with_ftol(options.ftol)
        .with_xtol(options.xtol)
        .with_gtol(options.gtol)
        .with_stepbound(100.0)
        .with_scale_diag(true)
        // The crate counts trial steps only; MINPACK's budget is checked in `Problem`.
        .with_patience(maxfev + 1);
    let (problem, report) = solver.minimize(problem);

    let convergence = match report.termination {
        TerminationReason::Converged {
            ftol: true,
            xtol: true,
        } => Convergence::FtolXtol,
        TerminationReason::Converged { ftol: true, .. } => Convergence::Ftol,
        TerminationReason::Converged { .. } => Convergence::Xtol,
        TerminationReason::Orthogonal => Convergence::Gtol,
        TerminationReason::ResidualsZero => Convergence::ZeroResiduals,
        _ if problem.out_of_budget => bail!(
            "curve_fit did not converge: the number of calls to the function has reached \
             maxfev = {maxfev} (scipy: \"Optimal parameters not found\"); give a better \
             p0 or a larger maxfev"
        ),
        _ if problem.bad_value.get().is_some() => {
            let (what, i) = problem.bad_value.get().unwrap_or(("model", 0));
            bail!(
                "curve_fit: the {what} is not finite at parameters {:?} for x[{i}] = {}; \
                 the model overflows there — choose another p0 or reparametrise",
                problem.params.as_slice(),
                xs.get(i).copied().unwrap_or(f64::NAN)
            )
        }
        TerminationReason::NoImprovementPossible(which) => bail!(
            "curve_fit did not converge: {which} is too small, no further improvement is \
             possible (scipy: \"Optimal parameters not found\"); loosen the tolerances or \
             change p0"
        ),
        TerminationReason::Numerical(what) => bail!(
            "curve_fit did not converge: {what} became non-finite at parameters {:?}; \
             choose another p0",
            problem.params.as_slice()
        ),
        other => bail!("curve_fit did not converge: {other:?}"),
    };

    let params = Array1::from_iter(problem.params.iter().copied());
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        bail!("curve_fit: parameter {i} diverged to {}", params[i]);
    }
    let residuals = Array1::from_iter(problem.resid.iter().copied());
    let rss = residuals.dot(&residuals);
    let m = xs.len();
    let pcov = match problem.last_jacobian.into_inner() {
        Some(j) if m > n_params => covariance(j).map(|c| c * (rss / (m - n_params) as f64)),
        _ => None,
    };
    Ok(CurveFit {
        params,
        pcov,
        residuals,
        rss,
        nfev: problem.nfev.get(),
        convergence,
    })
}

/// `inv(JᵀJ)` through the SVD of `J`; `None` when `J` is numerically singular.
fn covariance(j: DMatrix<f64>) -> Option<Array2<f64>> {
    let (m, n) = j.shape();
    let svd = j.svd(false, true);
    let v_t = svd.v_t?;
    let s = &svd.singular_values;
    let smax = s.max();
    if smax.is_nan()
        || smax <= 0.0
        || s.iter()
            .any(|&v| v <= f64::EPSILON * m.max(n) as f64 * smax)
    {
        return None;
    }
    let c = Array2::from_shape_fn((n, n), |(a, b)| {
        (0..n)
            .map(|k| v_t[(k, a)] * v_t[(k, b)] / (s[k] * s[k]))
            .sum::<f64>()
    });
    c.iter().all(|v| v.is_finite()).then_some(c)
}

/// The least-squares problem handed to the crate, with MINPACK's bookkeeping.
struct Problem<'a> {
    model: &'a Model<'a>,
    jacobian: Option<&'a ModelJacobian<'a>>,
    x: &'a [f64],
    y: &'a [f64],
    params: DVector<f64>,
    /// Residuals `f − y` at `params`.
    resid: DVector<f64>,
    /// Forward-difference step factor `sqrt(max(epsfcn, ε))`.
    eps: f64,
    maxfev: usize,
    /// Function evaluations so far, as MINPACK counts them.
    nfev: Cell<usize>,
    /// `nfev` right after the latest trial step: MINPACK stops when it reaches `maxfev`
    /// and that step did not converge, i.e. when another step is asked for.
    last_trial_nfev: Option<usize>,
    out_of_budget: bool,
    /// The point of the latest Jacobian (the accepted iterate) and its residuals: the
    /// crate returns there after a rejected final step, which is no new evaluation.
    base: RefCell<Option<(DVector<f64>, DVector<f64>)>>,
    last_jacobian: RefCell<Option<DMatrix<f64>>>,
    /// The first non-finite model/Jacobian value met: (which, sample index).
    bad_value: Cell<Option<(&'static str, usize)>>,
}

impl Problem<'_> {
    fn residuals_at(&self, p: &DVector<f64>) -> DVector<f64> {
        let p = p.as_slice();
        DVector::from_iterator(
            self.x.len(),
            self.x
                .iter()
                .zip(self.y)
                .map(|(&xi, &yi)| (self.model)(xi, p) - yi),
        )
    }
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for Problem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, p: &DVector<f64>) {
        self.params.copy_from(p);
        if let Some((bp, br)) = self.base.borrow().as_ref() {
            if bp == p {
                self.resid.copy_from(br);
                return;
            }
        }
        if self.last_trial_nfev.is_some_and(|c| c >= self.maxfev) {
            self.out_of_budget = true;
            return;
        }
        self.resid = self.residuals_at(p);
        let nfev = self.nfev.get() + 1;
        self.nfev.set(nfev);
        self.last_trial_nfev = Some(nfev);
    }

    fn params(&self) -> DVector<f64> {
        self.params.clone()
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        if self.out_of_budget {
            return None;
        }
        if let Some(i) = self.resid.iter().position(|v| !v.is_finite()) {
            self.bad_value.set(Some(("model", i)));
            return None;
        }
        Some(self.resid.clone())
    }

    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let (m, n) = (self.x.len(), self.params.len());
        let mut jac = DMatrix::zeros(m, n);
        match self.jacobian {
            Some(grad) => {
                let p = self.params.as_slice();
                let mut row = vec![0.0; n];
                for (i, &xi) in self.x.iter().enumerate() {
                    grad(xi, p, &mut row);
                    for (j, &g) in row.iter().enumerate() {
                        jac[(i, j)] = g;
                    }
                }
            }
            None => {
                // MINPACK fdjac2: column j = (r(p + h eⱼ) − r(p)) / h, h = eps·|pⱼ| or eps.
                let mut p = self.params.clone();
                for j in 0..n {
                    let temp = p[j];
                    let mut h = self.eps * temp.abs();
                    if h == 0.0 {
                        h = self.eps;
                    }
                    p[j] = temp + h;
                    let shifted = self.residuals_at(&p);
                    p[j] = temp;
                    for i in 0..m {
                        jac[(i, j)] = (shifted[i] - self.resid[i]) / h;
                    }
                }
                self.nfev.set(self.nfev.get() + n);
            }
        }
        if let Some(k) = jac.iter().position(|v| !v.is_finite()) {
            self.bad_value.set(Some(("Jacobian", k % m)));
            return None;
        }
        *self.base.borrow_mut() = Some((self.params.clone(), self.resid.clone()));
        *self.last_jacobian.borrow_mut() = Some(jac.clone());
        Some(jac)
    }
}

/// The 4-parameter logistic of spec p32: `A / (1 + exp(−k (x − x0))) + b`, with
/// `p = [A, x0, k, b]`.
pub fn sigmoid(x: f64, p: &[f64; 4]) -> f64 {
    p[0] / (1.0 + (-p[2] * (x - p[1])).exp()) + p[3]
}

/// Spec p32's starting point `[max(y), median(x), 1, min(y)]` (median as numpy's:
/// the mean of the two middle values for even n).
pub fn sigmoid_initial_guess(x: ArrayView1<f64>, y: ArrayView1<f64>) -> Result<[f64; 4]> {
    check::at_least(x.len(), 1, "sigmoid initial guess: x")?;
    check::at_least(y.len(), 1, "sigmoid initial guess: y")?;
    check::finite_1d(x, "sigmoid initial guess: x")?;
    check::finite_1d(y, "sigmoid initial guess: y")?;
    let mut xs = x.to_vec();
    xs.sort_by(f64::total_cmp);
    let h = xs.len() / 2;
    let median = if xs.len() % 2 == 1 {
        xs[h]
    } else {
        (xs[h - 1] + xs[h]) / 2.0
    };
    let ymax = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let ymin = y.iter().copied().fold(f64::INFINITY, f64::min);
    Ok([ymax, median, 1.0, ymin])
}

/// Fits [`sigmoid`] as spec p32 Parts 4–5 do with `curve_fit(sigmoid, x, y, p0)`
/// (numeric Jacobian, scipy defaults). `p0 = None` uses [`sigmoid_initial_guess`].
/// A decreasing profile comes back with whichever of the two equivalent forms
/// (k < 0, or A < 0 with k > 0) MINPACK's path reaches, as in scipy.
pub fn fit_sigmoid(
    x: ArrayView1<f64>,
    y: ArrayView1<f64>,
    p0: Option<[f64; 4]>,
) -> Result<CurveFit> {
    let p0 = match p0 {
        Some(p) => p,
        None => sigmoid_initial_guess(x, y)?,
    };
    // The solver hands back as many parameters as p0 has: always 4 here.
    let model = |x: f64, p: &[f64]| match <&[f64; 4]>::try_from(p) {
        Ok(p) => sigmoid(x, p),
        Err(_) => f64::NAN,
    };
    curve_fit(model, x, y, &p0)
}
