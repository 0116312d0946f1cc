//! Exact t-SNE, as scikit-learn's `TSNE(method="exact", metric="euclidean")` computes it:
//! the same joint probabilities (per-point binary search for the Gaussian precision that
//! gives the perplexity, on `float32` squared distances, then `P = (P + Pᵀ) / ΣP`), the same
//! Student-t KL objective and gradient, and the same optimiser (gradient descent with
//! momentum 0.5 for the 250 early-exaggeration iterations, then 0.8; per-coordinate gains
//! +0.2 / ×0.8 floored at 0.01 and reset between the two phases; a progress and
//! gradient-norm check every 50 iterations).
//!
//! Written by hand because `linfa-tsne` 0.8.1 (a wrapper of `bhtsne`) cannot be given an
//! initial embedding (it draws one from its own RNG), fixes the learning rate at 200 (sklearn's
//! `"auto"` is `max(N / early_exaggeration / 4, 50)`), rescales the data by its largest
//! absolute value, re-centres the embedding after every step, exaggerates for 251 instead of
//! 250 iterations, never resets the gains, has no convergence checks and returns no KL
//! divergence, and panics on bad input. With a different start and different steps its
//! result cannot be compared with sklearn's.
//!
//! Given the same initial embedding, the optimisation is deterministic, but for small N it
//! is chaotic: with sklearn's defaults on 17 points (learning rate 50 against an exaggerated
//! P), a 1e-15 relative change of the start changes sklearn's own final embedding by tens of
//! units. Only sklearn's operation order (its BLAS) would reproduce its final embedding in
//! that regime; this code follows sklearn step for step, which reproduces the first
//! iterations to rounding and whole runs wherever the optimisation is stable.

use anyhow::{bail, Result};
use nalgebra::DMatrix;
use ndarray::{Array2, ArrayView2};

use crate::check;

/// numpy's `np.finfo(np.double).eps`, sklearn's floor for P and Q.
const MACHINE_EPSILON: f64 = f64::EPSILON;
/// sklearn's early-exaggeration phase length (`TSNE._EXPLORATION_MAX_ITER`).
const EXPLORATION_ITER: usize = 250;
/// sklearn's `TSNE._N_ITER_CHECK`.
const N_ITER_CHECK: usize = 50;

/// t-SNE settings with sklearn's names; [`Default`] is sklearn's `TSNE()` (perplexity 30).
/// Project 42 uses `TsneParams::perplexity(4.0)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TsneParams {
    pub n_components: usize,
    pub perplexity: f64,
    pub early_exaggeration: f64,
    /// `None` is sklearn's `"auto"`: `max(N / early_exaggeration / 4, 50)`.
    pub learning_rate: Option<f64>,
    /// Total iterations. sklearn requires at least 250; here fewer are allowed and the run
    /// then ends inside the early-exaggeration phase.
    pub max_iter: usize,
    /// Stop when the KL divergence has not improved for this many iterations (checked
    /// every 50; after the exaggeration phase, which uses 250 as sklearn does).
    pub n_iter_without_progress: usize,
    /// Stop when the norm of the gain-scaled gradient falls to this (checked every 50).
    pub min_grad_norm: f64,
}

impl Default for TsneParams {
    fn default() -> Self {
        TsneParams {
            n_components: 2,
            perplexity: 30.0,
            early_exaggeration: 12.0,
            learning_rate: None,
            max_iter: 1000,
            n_iter_without_progress: 300,
            min_grad_norm: 1e-7,
        }
    }
}

impl TsneParams {
    /// sklearn's defaults with the given perplexity.
    pub fn perplexity(perplexity: f64) -> Self {
        TsneParams {
            perplexity,
            ..TsneParams::default()
        }
    }
}

/// The result of [`tsne`].
#[derive(Debug, Clone)]
pub struct Tsne {
    /// `[n_samples, n_components]`.
    pub embedding: Array2<f64>,
    /// sklearn's `kl_divergence_`: the KL divergence evaluated at the last iteration
    /// (before its update). When the run ends inside the early-exaggeration phase
    /// (`max_iter <= 250`) it is that of the exaggerated P, as sklearn's first phase reports
    /// (sklearn itself reports `f64::MAX` for `max_iter = 250`).
    pub kl_divergence: f64,
    /// sklearn's `n_iter_`: index of the last iteration run.
    pub n_iter: usize,
    /// The learning rate used (sklearn's `learning_rate_`).
    pub learning_rate: f64,
    /// The joint probabilities `[n, n]` (symmetric, zero diagonal, sums to 1).
    pub p: Array2<f64>,
}

/// Exact t-SNE of `x: [n_samples, n_features]`, started from `init: [n_samples,
/// n_components]` or, when `None`, from [`pca_init`] (sklearn's `init="pca"`).
pub fn tsne(
    x: ArrayView2<f64>,
    params: &TsneParams,
    init: Option<ArrayView2<f64>>,
) -> Result<Tsne> {
    let n = x.nrows();
    let k = params.n_components;
    check_params(params)?;
    let p_square = joint_probabilities(x, params.perplexity)?;
    let y0 = match init {
        Some(y) => {
            if y.dim() != (n, k) {
                bail!(
                    "t-SNE: the initial embedding is {:?} but must be [n_samples, n_components] = [{n}, {k}]",
                    y.dim()
                );
            }
            check::finite_2d(y, "t-SNE initial embedding")?;
            y.to_owned()
        }
        None => pca_init(x, k)?,
    };
    let learning_rate = params
        .learning_rate
        .unwrap_or_else(|| (n as f64 / params.early_exaggeration / 4.0).max(50.0));
    let dof = (k.saturating_sub(1)).max(1) as f64;
    let p = condensed(&p_square);
    let mut y: Vec<f64> = y0.iter().copied().collect();

    // Phase 1: early exaggeration, momentum 0.5.
    let p_exaggerated: Vec<f64> = p.iter().map(|v| v * params.early_exaggeration).collect();
    let phase1 = Descent {
        p: &p_exaggerated,
        n,
        k,
        dof,
        learning_rate,
        momentum: 0.5,
        min_grad_norm: params.min_grad_norm,
        n_iter_without_progress: EXPLORATION_ITER,
    };
    let (mut error, mut it) = phase1.run(&mut y, 0, params.max_iter.min(EXPLORATION_ITER));
    // Phase 2: the real P, momentum 0.8 (sklearn always runs it; it is empty when
    // max_iter <= 250). sklearn divides the exaggerated P back, which may differ from the
    // original P in the last bit.
    let p: Vec<f64> = p_exaggerated
        .iter()
        .map(|v| v / params.early_exaggeration)
        .collect();
    if it + 1 < params.max_iter {
        let phase2 = Descent {
            p: &p,
            momentum: 0.8,
            n_iter_without_progress: params.n_iter_without_progress,
            ..phase1
        };
        (error, it) = phase2.run(&mut y, it + 1, params.max_iter);
    }
    if !error.is_finite() || y.iter().any(|v| !v.is_finite()) {
        bail!("t-SNE diverged (non-finite embedding or KL divergence): lower the learning rate");
    }
    Ok(Tsne {
        embedding: Array2::from_shape_vec((n, k), y)?,
        kl_divergence: error,
        n_iter: it,
        learning_rate,
        p: p_square,
    })
}

fn check_params(params: &TsneParams) -> Result<()> {
    if params.n_components == 0 {
        bail!("t-SNE: n_components must be at least 1");
    }
    if !(params.early_exaggeration >= 1.0 && params.early_exaggeration.is_finite()) {
        bail!(
            "t-SNE: early_exaggeration must be a finite number >= 1, got {}",
            params.early_exaggeration
        );
    }
    if let Some(lr) = params.learning_rate {
        if !(lr > 0.0 && lr.is_finite()) {
            bail!("t-SNE: learning_rate must be positive and finite, got {lr}");
        }
    }
    if params.max_iter == 0 {
        bail!("t-SNE: max_iter must be at least 1");
    }
    if params.min_grad_norm.is_nan() || params.min_grad_norm < 0.0 {
        bail!(
            "t-SNE: min_grad_norm must be >= 0, got {}",
            params.min_grad_norm
        );
    }
    Ok(())
}

/// sklearn's `_joint_probabilities` on the squared Euclidean distances of `x`'s rows, as a
/// square `[n, n]` matrix (zero diagonal, off-diagonal entries at least `f64::EPSILON`).
/// Errors unless `0 < perplexity < n_samples` (sklearn's rule).
pub fn joint_probabilities(x: ArrayView2<f64>, perplexity: f64) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    check::at_least(n, 2, "t-SNE (samples)")?;
    if d == 0 {
        bail!("t-SNE: x has no feature columns");
    }
    check::finite_2d(x, "t-SNE x")?;
    if !(perplexity > 0.0 && perplexity.is_finite()) {
        bail!("t-SNE: perplexity must be positive and finite, got {perplexity}");
    }
    if perplexity >= n as f64 {
        bail!("t-SNE: perplexity ({perplexity}) must be less than the number of samples ({n}): lower it or add samples");
    }
    // Squared distances, cast to float32 as sklearn does before the binary search.
    let mut sq = vec![0f32; n * n];
    for i in 0..n {
        for j in (i + 1)..n {
            let s: f64 = x
                .row(i)
                .iter()
                .zip(x.row(j).iter())
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            sq[i * n + j] = s as f32;
            sq[j * n + i] = s as f32;
        }
    }
    let cond = binary_search_perplexity(&sq, n, perplexity as f32);
    let mut sym = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            sym[i * n + j] = cond[i * n + j] + cond[j * n + i];
        }
    }
    let sum = pairwise_sum(&sym).max(MACHINE_EPSILON);
    let mut p = Array2::zeros((n, n));
    for i in 0..n {
        for j in (i + 1)..n {
            let v = (sym[i * n + j] / sum).max(MACHINE_EPSILON);
            p[[i, j]] = v;
            p[[j, i]] = v;
        }
    }
    Ok(p)
}

/// sklearn's `_utils._binary_search_perplexity` (exact case): row-conditional Gaussian
/// probabilities whose entropy matches `ln(perplexity)` to 1e-5, 100 bisection steps at most.
fn binary_search_perplexity(sq: &[f32], n: usize, perplexity: f32) -> Vec<f64> {
    let tol = 1e-5f32 as f64; // PERPLEXITY_TOLERANCE is a C float
    let eps_dbl = 1e-8f32 as f64; // EPSILON_DBL is a C float
    let desired_entropy = (perplexity as f64).ln();
    let mut p = vec![0.0; n * n];
    for i in 0..n {
        let (mut beta_min, mut beta_max, mut beta) = (f64::NEG_INFINITY, f64::INFINITY, 1.0);
        let row = &sq[i * n..(i + 1) * n];
        let pr = &mut p[i * n..(i + 1) * n];
        for _ in 0..100 {
            let mut sum_p = 0.0;
            for j in 0..n {
                if j != i {
                    pr[j] = ((-row[j]) as f64 * beta).exp();
                    sum_p += pr[j];
                }
            }
            if sum_p == 0.0 {
                sum_p = eps_dbl;
            }
            let mut sum_disti_p = 0.0;
            for j in 0..n {
                pr[j] /= sum_p;
                sum_disti_p += row[j] as f64 * pr[j];
            }
            let entropy = sum_p.ln() + beta * sum_disti_p;
            let diff = entropy - desired_entropy;
            if diff.abs() <= tol {
                break;
            }
            if diff > 0.0 {
                beta_min = beta;
                beta = if beta_max == f64::INFINITY {
                    beta * 2.0
                } else {
                    (beta + beta_max) / 2.0
                };
            } else {
                beta_max = beta;
                beta = if beta_min == f64::NEG_INFINITY {
                    beta / 2.0
                } else {
                    (beta + beta_min) / 2.0
                };
            }
        }
    }
    p
}

/// The KL divergence `KL(P ‖ Q)` of an embedding `[n, n_components]` and its gradient, as
/// sklearn's `_kl_divergence` with `degrees_of_freedom = max(n_components − 1, 1)`; `p` is
/// a square joint-probability matrix such as [`joint_probabilities`] returns.
pub fn kl_divergence(p: ArrayView2<f64>, embedding: ArrayView2<f64>) -> Result<(f64, Array2<f64>)> {
    let (n, k) = embedding.dim();
    if p.dim() != (n, n) {
        bail!(
            "t-SNE KL divergence: P is {:?} but the embedding has {n} rows",
            p.dim()
        );
    }
    check::at_least(n, 2, "t-SNE KL divergence (points)")?;
    if k == 0 {
        bail!("t-SNE KL divergence: the embedding has no columns");
    }
    check::finite_2d(p, "t-SNE P")?;
    check::finite_2d(embedding, "t-SNE embedding")?;
    let y: Vec<f64> = embedding.iter().copied().collect();
    let dof = (k.saturating_sub(1)).max(1) as f64;
    let mut grad = vec![0.0; n * k];
    let kl = objective(&condensed(&p.to_owned()), &y, n, k, dof, true, &mut grad);
    Ok((kl, Array2::from_shape_vec((n, k), grad)?))
}

/// sklearn's `init="pca"`: the first `n_components` principal-component scores of `x`
/// (centred, SVD, signs such that each component's largest-magnitude loading is positive),
/// scaled so that the first column has (population) standard deviation 1e-4. sklearn then
/// casts it to float32 and runs the whole optimisation in float32; here it stays float64.
pub fn pca_init(x: ArrayView2<f64>, n_components: usize) -> Result<Array2<f64>> {
    let (n, d) = x.dim();
    check::at_least(n, 2, "t-SNE PCA init (samples)")?;
    check::finite_2d(x, "t-SNE x")?;
    if n_components == 0 || n_components > n.min(d) {
        bail!(
            "t-SNE PCA init: n_components = {n_components} must be between 1 and min(n_samples, n_features) = {}",
            n.min(d)
        );
    }
    let mean = x.mean_axis(ndarray::Axis(0)).unwrap_or_default();
    let centred = DMatrix::from_fn(n, d, |i, j| x[[i, j]] - mean[j]);
    let svd = centred.svd(true, true);
    let (Some(u), Some(vt)) = (svd.u, svd.v_t) else {
        bail!("t-SNE PCA init: the SVD did not converge");
    };
    let mut out = Array2::zeros((n, n_components));
    for c in 0..n_components {
        // sklearn's svd_flip(u_based_decision=False).
        let row = vt.row(c);
        let mut arg = 0;
        for j in 0..d {
            if row[j].abs() > row[arg].abs() {
                arg = j;
            }
        }
        let sign = if row[arg] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..n {
            out[[i, c]] = sign * u[(i, c)] * svd.singular_values[c];
        }
    }
    let col0 = out.column(0);
    let m = col0.mean().unwrap_or(0.0);
    let std = (col0.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n as f64).sqrt();
    if std.is_nan() || std <= 0.0 {
        bail!("t-SNE PCA init: all samples are identical, there is no first component: pass an initial embedding");
    }
    out.mapv_inplace(|v| v / std * 1e-4);
    Ok(out)
}

/// Upper triangle of a square matrix in row order (scipy's condensed form).
fn condensed(p: &Array2<f64>) -> Vec<f64> {
    let n = p.nrows();
    let mut out = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in (i + 1)..n {
            out.push(p[[i, j]]);
        }
    }
    out
}

/// numpy's pairwise summation of a contiguous float64 array (`np.sum`), so that sums match
/// numpy's to the last bit.
fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |s, &v| s + v)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// sklearn's `_kl_divergence` on a condensed P: writes the gradient into `grad` and returns
/// the KL divergence (NaN when `compute_error` is false, as sklearn).
fn objective(
    p: &[f64],
    y: &[f64],
    n: usize,
    k: usize,
    dof: f64,
    compute_error: bool,
    grad: &mut [f64],
) -> f64 {
    let mut dist = Vec::with_capacity(p.len());
    let exponent = (dof + 1.0) / -2.0;
    for i in 0..n {
        for j in (i + 1)..n {
            let mut s = 0.0;
            for c in 0..k {
                let t = y[i * k + c] - y[j * k + c];
                s += t * t;
            }
            let base = s / dof + 1.0;
            // numpy's `**= -1.0` is a reciprocal.
            dist.push(if exponent == -1.0 {
                1.0 / base
            } else {
                base.powf(exponent)
            });
        }
    }
    let sum = 2.0 * pairwise_sum(&dist);
    let q: Vec<f64> = dist
        .iter()
        .map(|&v| (v / sum).max(MACHINE_EPSILON))
        .collect();
    let kl = if compute_error {
        2.0 * p
            .iter()
            .zip(&q)
            .map(|(&pv, &qv)| pv * (pv.max(MACHINE_EPSILON) / qv).ln())
            .sum::<f64>()
    } else {
        f64::NAN
    };
    // PQd as a square matrix, then grad_i = Σ_j PQd_ij (y_i − y_j), times 2(dof+1)/dof.
    let mut pqd = vec![0.0; n * n];
    let mut idx = 0;
    for i in 0..n {
        for j in (i + 1)..n {
            let v = (p[idx] - q[idx]) * dist[idx];
            pqd[i * n + j] = v;
            pqd[j * n + i] = v;
            idx += 1;
        }
    }
    let c = 2.0 * (dof + 1.0) / dof;
    for i in 0..n {
        for comp in 0..k {
            let yi = y[i * k + comp];
            let mut g = 0.0;
            for j in 0..n {
                g += pqd[i * n + j] * (yi - y[j * k + comp]);
            }
            grad[i * k + comp] = g * c;
        }
    }
    kl
}

/// One call of sklearn's `_gradient_descent` (fresh update and gains).
#[derive(Clone, Copy)]
struct Descent<'a> {
    p: &'a [f64],
    n: usize,
    k: usize,
    dof: f64,
    learning_rate: f64,
    momentum: f64,
    min_grad_norm: f64,
    n_iter_without_progress: usize,
}

impl Descent<'_> {
    /// Iterations `start..max_iter`; returns (last error, last iteration index).
    fn run(&self, y: &mut [f64], start: usize, max_iter: usize) -> (f64, usize) {
        let m = y.len();
        let mut update = vec![0.0; m];
        let mut gains = vec![1.0f64; m];
        let mut grad = vec![0.0; m];
        let mut error = f64::MAX;
        let mut best_error = f64::MAX;
        let mut best_iter = start;
        let mut i = start;
        for it in start..max_iter {
            i = it;
            let check = (it + 1) % N_ITER_CHECK == 0;
            error = objective(
                self.p,
                y,
                self.n,
                self.k,
                self.dof,
                check || it == max_iter - 1,
                &mut grad,
            );
            for c in 0..m {
                if update[c] * grad[c] < 0.0 {
                    gains[c] += 0.2;
                } else {
                    gains[c] *= 0.8;
                }
                gains[c] = gains[c].max(0.01);
                grad[c] *= gains[c];
                update[c] = self.momentum * update[c] - self.learning_rate * grad[c];
                y[c] += update[c];
            }
            if check {
                let grad_norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
                if error < best_error {
                    best_error = error;
                    best_iter = it;
                } else if it - best_iter > self.n_iter_without_progress {
                    break;
                }
                if grad_norm <= self.min_grad_norm {
                    break;
                }
            }
        }
        (error, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_is_a_sum() {
        let a: Vec<f64> = (0..300).map(|i| i as f64).collect();
        assert_eq!(pairwise_sum(&a), 299.0 * 300.0 / 2.0);
        assert_eq!(pairwise_sum(&a[..5]), 10.0);
    }

    #[test]
    fn rows_of_the_conditional_p_reach_the_perplexity() {
        let x = ndarray::Array2::from_shape_fn((9, 3), |(i, j)| {
            ((i * 7 + j * 3) % 5) as f64 + 0.1 * i as f64
        });
        let n = 9;
        let mut sq = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                sq[i * n + j] = x
                    .row(i)
                    .iter()
                    .zip(x.row(j).iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>() as f32;
            }
        }
        let p = binary_search_perplexity(&sq, n, 3.0);
        for i in 0..n {
            let row = &p[i * n..(i + 1) * n];
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let h: f64 = row.iter().filter(|&&v| v > 0.0).map(|&v| -v * v.ln()).sum();
            assert!(
                (h.exp() - 3.0).abs() < 1e-3,
                "row {i}: perplexity {}",
                h.exp()
            );
        }
    }
}
