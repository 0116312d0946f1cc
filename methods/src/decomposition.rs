//! PCA through the SVD (scikit-learn `PCA`), and the spectrum helpers of projects
//! 28, 29 and 43: singular values, percent variance, the "first index whose cumulative
//! percent exceeds a threshold" effective dimensionality, participation ratio, numerical
//! matrix rank, double centring and low-rank reconstruction.
//!
//! Written on nalgebra's SVD rather than `linfa_reduction::Pca`, which does not give
//! scikit-learn's numbers: its `explained_variance` divides by the number of kept
//! components minus one instead of `n_samples - 1`, its `explained_variance_ratio`
//! normalises over the kept components only (so it always sums to 1), its truncated
//! SVD is an iterative randomised LOBPCG solve (not exact to 1e-10), it clips singular
//! values at 1e-8, has no sign convention, caps components at `n_features` instead of
//! `min(n_samples, n_features)`, and has no variance-fraction rule.
//!
//! The SVD is always taken of the transpose (`d x n`), which is what an ndarray
//! row-major buffer already is for nalgebra's column-major layout, and PCA asks only for
//! its left factor (= the right singular vectors of `x`): nalgebra accumulates that
//! factor along contiguous columns, which makes it 2–3 times faster than asking for
//! `V` of `x` (measured: [2000, 1600] in about 6 s, [2688, 1024] in 2.5 s on one core;
//! singular values alone in 2.7 s).

use anyhow::{bail, Result};
use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

use crate::check;

/// `f32::EPSILON`, the tolerance torch's `matrix_rank` uses for float32 data.
pub const EPS_F32: f64 = f32::EPSILON as f64;
/// `f64::EPSILON`, numpy's `matrix_rank` tolerance for float64 data.
pub const EPS_F64: f64 = f64::EPSILON;

/// Thin SVD `x = u · diag(s) · vt`, as numpy's `svd(x, full_matrices=False)`:
/// `u: [n, k]`, `s: [k]` descending, `vt: [k, d]`, `k = min(n, d)`. The sign of each
/// singular pair is whatever the solver gives (no convention).
#[derive(Debug, Clone)]
pub struct Svd {
    pub u: Array2<f64>,
    pub s: Array1<f64>,
    pub vt: Array2<f64>,
}

/// `(u, s, vt)`, the factors that were asked for.
type SvdParts = (Option<Array2<f64>>, Array1<f64>, Option<Array2<f64>>);

/// The SVD of `x`, computed on `xᵀ` (see the module doc). Returns `(u, s, vt)` of `x`,
/// each factor only when asked for.
fn svd_parts(x: ArrayView2<f64>, want_u: bool, want_vt: bool, what: &str) -> Result<SvdParts> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        bail!("{what} is empty ({n} x {d}): the SVD needs at least one row and one column");
    }
    check::finite_2d(x, what)?;
    // Column j of m is row j of x: m = xᵀ, [d, n].
    let m = DMatrix::from_iterator(d, n, x.iter().copied());
    let k = n.min(d);
    let max_niter = 6 * k * k + 1000;
    let Some(svd) = nalgebra::linalg::SVD::try_new(m, want_vt, want_u, f64::EPSILON, max_niter)
    else {
        bail!("the SVD of {what} ({n} x {d}) did not converge in {max_niter} iterations");
    };
    let s = Array1::from_iter(svd.singular_values.iter().copied());
    // xᵀ = U' S V'ᵀ  ⇒  x = V' S U'ᵀ: u(x) = V', vt(x) = U'ᵀ.
    let u = match (want_u, &svd.v_t) {
        (true, Some(vt_m)) => Some(Array2::from_shape_fn((n, k), |(i, j)| vt_m[(j, i)])),
        (true, None) => bail!("the SVD of {what} returned no singular vectors"),
        _ => None,
    };
    let vt = match (want_vt, &svd.u) {
        (true, Some(u_m)) => Some(Array2::from_shape_fn((k, d), |(j, c)| u_m[(c, j)])),
        (true, None) => bail!("the SVD of {what} returned no singular vectors"),
        _ => None,
    };
    Ok((u, s, vt))
}

/// Thin SVD of `x` (numpy `linalg.svd(x, full_matrices=False)`; signs unspecified).
pub fn svd(x: ArrayView2<f64>) -> Result<Svd> {
    let (u, s, vt) = svd_parts(x, true, true, "the matrix")?;
    match (u, vt) {
        (Some(u), Some(vt)) => Ok(Svd { u, s, vt }),
        _ => bail!("the SVD returned no singular vectors"),
    }
}

/// Singular values of `x`, descending (numpy `linalg.svd(x, compute_uv=False)`).
pub fn singular_values(x: ArrayView2<f64>) -> Result<Array1<f64>> {
    Ok(svd_parts(x, false, false, "the matrix")?.1)
}

/// How many singular values exceed `σ_max · max(n, d) · eps` — numpy's `matrix_rank`
/// with `eps = EPS_F64`, torch's default for float32 data with `eps = EPS_F32`.
pub fn matrix_rank(x: ArrayView2<f64>, eps: f64) -> Result<usize> {
    let s = singular_values(x)?;
    Ok(rank_of(&s, x.dim(), eps))
}

fn rank_of(s: &Array1<f64>, (n, d): (usize, usize), eps: f64) -> usize {
    let smax = s.iter().copied().fold(0.0, f64::max);
    let tol = smax * n.max(d) as f64 * eps;
    s.iter().filter(|&&v| v > tol).count()
}

// ------------------------------------------------------------------ PCA

/// How many components `Pca::fit` keeps (scikit-learn's `n_components`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NComponents {
    /// Exactly this many, `0 ..= min(n_samples, n_features)`.
    Count(usize),
    /// A fraction in the open interval (0, 1): the smallest number of components whose
    /// cumulative explained-variance ratio is strictly greater than it (sklearn's
    /// `searchsorted(cumsum(ratio), f, side='right') + 1`). sklearn rejects 1.0; to keep
    /// everything use `All`.
    VarianceFraction(f64),
    /// `None` in sklearn: `min(n_samples, n_features)`.
    All,
}

/// A fitted PCA, attribute for attribute scikit-learn 1.9's `PCA` with the exact `full`
/// solver (LAPACK SVD of the centred data). sklearn's default `svd_solver='auto'` picks
/// that solver for matrices up to 500 on a side and for a fractional `n_components`,
/// but for tall data (`n >= 10 d`, `d <= 1000`) it switches to an eigendecomposition of
/// the covariance, and for larger matrices with an integer count below `0.8 min(n, d)`
/// to a randomised SVD; both approximate what is computed exactly here (same centring,
/// variances and sign convention).
#[derive(Debug, Clone)]
pub struct Pca {
    /// Number of components kept (`n_components_`).
    pub n_components: usize,
    /// Number of training samples (`n_samples_`).
    pub n_samples: usize,
    /// Per-feature training mean (`mean_`), `[d]`.
    pub mean: Array1<f64>,
    /// Principal axes (`components_`), `[n_components, d]`, rows unit length, each row's
    /// largest-magnitude entry positive (sklearn 1.9's `svd_flip(u_based_decision=False)`).
    pub components: Array2<f64>,
    /// `s² / (n_samples - 1)` of the kept components (`explained_variance_`).
    pub explained_variance: Array1<f64>,
    /// `explained_variance / total variance` (all components in the total).
    pub explained_variance_ratio: Array1<f64>,
    /// Singular values of the centred training matrix, kept components (`singular_values_`).
    pub singular_values: Array1<f64>,
    /// Mean explained variance of the discarded components, 0 when none is discarded
    /// (`noise_variance_`).
    pub noise_variance: f64,
}

impl Pca {
    /// Fit on `x: [n_samples, n_features]` (centred, not scaled).
    ///
    /// Errors on non-finite values, fewer than 2 samples, a count above
    /// `min(n_samples, n_features)`, a fraction outside (0, 1), and data without any
    /// variance (every row identical, so no direction can be ranked).
    pub fn fit(x: ArrayView2<f64>, n_components: NComponents) -> Result<Pca> {
        let (n, d) = x.dim();
        check::finite_2d(x, "PCA input")?;
        if n < 2 {
            bail!("PCA needs at least 2 samples (its variances divide by n - 1), got {n}");
        }
        if d == 0 {
            bail!("PCA input has no features (0 columns)");
        }
        let kmax = n.min(d);
        match n_components {
            NComponents::Count(c) if c > kmax => bail!(
                "PCA n_components = {c} is more than min(n_samples, n_features) = \
                 min({n}, {d}) = {kmax}: ask for at most {kmax}"
            ),
            NComponents::VarianceFraction(f) if !(f > 0.0 && f < 1.0) => bail!(
                "PCA variance fraction must lie strictly between 0 and 1 (as in scikit-learn), \
                 got {f}; use NComponents::All to keep every component"
            ),
            _ => {}
        }
        let mean = col_means(x)?;
        let centred = &x - &mean;
        let (_, s, vt) = svd_parts(centred.view(), false, true, "the centred PCA input")?;
        let Some(mut vt) = vt else {
            bail!("the SVD returned no singular vectors");
        };
        svd_flip_v(&mut vt);
        let denom = (n - 1) as f64;
        let ev: Array1<f64> = s.mapv(|v| v * v / denom);
        let total: f64 = ev.sum();
        // Identical rows whose mean does not round back to the values (0.1·j − 0.3)
        // leave centring residue of a few ulps: count a spread below 1e-12 of the data's
        // scale (largest singular value against the data's norm) as none.
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs())) * (n as f64).sqrt();
        let largest = s.iter().cloned().fold(0.0f64, f64::max);
        if total <= 0.0 || largest <= 1e-12 * scale {
            bail!(
                "PCA input has zero variance: every row is identical, so there is no \
                 direction to keep (a classifier on it can only predict the majority class)"
            );
        }
        let ratio = ev.mapv(|v| v / total);
        let k = match n_components {
            NComponents::Count(c) => c,
            NComponents::All => kmax,
            NComponents::VarianceFraction(f) => {
                let mut cum = 0.0;
                let mut below = 0;
                for &r in ratio.iter() {
                    cum += r;
                    if cum <= f {
                        below += 1;
                    }
                }
                (below + 1).min(kmax)
            }
        };
        let noise_variance = if k < kmax {
            ev.slice(ndarray::s![k..]).mean().unwrap_or(0.0)
        } else {
            0.0
        };
        Ok(Pca {
            n_components: k,
            n_samples: n,
            mean,
            components: vt.slice(ndarray::s![..k, ..]).to_owned(),
            explained_variance: ev.slice(ndarray::s![..k]).to_owned(),
            explained_variance_ratio: ratio.slice(ndarray::s![..k]).to_owned(),
            singular_values: s.slice(ndarray::s![..k]).to_owned(),
            noise_variance,
        })
    }

    /// Fit on `x` and return its scores `[n_samples, n_components]` too.
    pub fn fit_transform(
        x: ArrayView2<f64>,
        n_components: NComponents,
    ) -> Result<(Pca, Array2<f64>)> {
        let pca = Pca::fit(x, n_components)?;
        let z = pca.transform(x)?;
        Ok((pca, z))
    }

    /// Scores of (new) data with the training mean: `x · componentsᵀ − mean · componentsᵀ`,
    /// in that order as sklearn computes it. `x: [m, d]` → `[m, n_components]`.
    pub fn transform(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let d = self.mean.len();
        if x.ncols() != d {
            bail!(
                "PCA transform: the data has {} features but the PCA was fitted on {d}",
                x.ncols()
            );
        }
        check::finite_2d(x, "PCA transform input")?;
        let ct = self.components.t();
        let shift = self.mean.dot(&ct);
        Ok(x.dot(&ct) - &shift)
    }

    /// Back to feature space: `z · components + mean`. `z: [m, n_components]` → `[m, d]`.
    pub fn inverse_transform(&self, z: ArrayView2<f64>) -> Result<Array2<f64>> {
        if z.ncols() != self.n_components {
            bail!(
                "PCA inverse_transform: the scores have {} columns but the PCA keeps {} components",
                z.ncols(),
                self.n_components
            );
        }
        check::finite_2d(z, "PCA scores")?;
        Ok(z.dot(&self.components) + &self.mean)
    }
}

fn col_means(x: ArrayView2<f64>) -> Result<Array1<f64>> {
    x.mean_axis(Axis(0))
        .ok_or_else(|| anyhow::anyhow!("cannot take column means of a matrix without rows"))
}

/// sklearn's `svd_flip(u, vt, u_based_decision=False)`: in each row of `vt` the entry of
/// largest magnitude (the first one on ties, as `argmax`) becomes positive.
fn svd_flip_v(vt: &mut Array2<f64>) {
    for mut row in vt.rows_mut() {
        let mut best = 0;
        let mut best_abs = f64::NEG_INFINITY;
        for (j, v) in row.iter().enumerate() {
            if v.abs() > best_abs {
                best_abs = v.abs();
                best = j;
            }
        }
        if row[best] < 0.0 {
            row.mapv_inplace(|v| -v);
        }
    }
}

// ------------------------------------------------------------------ spectra

/// What is removed before an SVD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Centring {
    /// Nothing (p29's image compression).
    None,
    /// Each column's mean over rows (PCA; p28's and p43's token × dimension matrices).
    Columns,
    /// Column means, row means, plus the grand mean back: `x − m0 − m1 + g` (p29 Part 2).
    Double,
}

/// A matrix with its means removed, and the means to put back.
#[derive(Debug, Clone)]
pub struct Centred {
    /// The centred matrix.
    pub centred: Array2<f64>,
    /// Column means `m0` (`[d]`; zeros for `Centring::None`).
    pub column_means: Array1<f64>,
    /// Row means `m1` (`[n]`; zeros unless `Centring::Double`).
    pub row_means: Array1<f64>,
    /// Grand mean `g` (0 unless `Centring::Double`).
    pub grand_mean: f64,
}

impl Centred {
    /// Remove the means `centring` names from `x` (numpy order: `((x − m0) − m1) + g`).
    pub fn new(x: ArrayView2<f64>, centring: Centring) -> Result<Centred> {
        let (n, d) = x.dim();
        if n == 0 || d == 0 {
            bail!("cannot centre an empty matrix ({n} x {d})");
        }
        check::finite_2d(x, "the matrix to centre")?;
        let zeros_c = Array1::zeros(d);
        let zeros_r = Array1::zeros(n);
        Ok(match centring {
            Centring::None => Centred {
                centred: x.to_owned(),
                column_means: zeros_c,
                row_means: zeros_r,
                grand_mean: 0.0,
            },
            Centring::Columns => {
                let m0 = col_means(x)?;
                Centred {
                    centred: &x - &m0,
                    column_means: m0,
                    row_means: zeros_r,
                    grand_mean: 0.0,
                }
            }
            Centring::Double => {
                let m0 = col_means(x)?;
                let m1 = x
                    .mean_axis(Axis(1))
                    .ok_or_else(|| anyhow::anyhow!("cannot centre a matrix without columns"))?;
                let g = x.sum() / (n * d) as f64;
                let mut c = &x - &m0;
                c -= &m1.view().insert_axis(Axis(1));
                c += g;
                Centred {
                    centred: c,
                    column_means: m0,
                    row_means: m1,
                    grand_mean: g,
                }
            }
        })
    }

    /// Add the means back to a matrix of the centred shape: `((m + m0) + m1) − g`.
    pub fn restore(&self, m: ArrayView2<f64>) -> Result<Array2<f64>> {
        if m.dim() != self.centred.dim() {
            bail!(
                "cannot restore the means: the matrix is {:?} but the centred one was {:?}",
                m.dim(),
                self.centred.dim()
            );
        }
        let mut out = &m + &self.column_means;
        out += &self.row_means.view().insert_axis(Axis(1));
        out -= self.grand_mean;
        Ok(out)
    }
}

/// The singular-value spectrum of a (centred) matrix, as projects 28, 29 and 43 use it.
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// Singular values, descending.
    pub singular_values: Array1<f64>,
    /// `100 · s² / Σ s²`.
    pub percent: Array1<f64>,
    /// Running sum of `percent`.
    pub cumulative_percent: Array1<f64>,
    /// Shape of the matrix (for `rank`).
    pub shape: (usize, usize),
}

impl Spectrum {
    /// Centre `x` as asked and take its singular values (no vectors: fast).
    pub fn of(x: ArrayView2<f64>, centring: Centring) -> Result<Spectrum> {
        let c = Centred::new(x, centring)?;
        let s = svd_parts(c.centred.view(), false, false, "the centred matrix")?.1;
        Spectrum::from_singular_values(s.view(), x.dim())
    }

    /// From singular values already computed for a matrix of `shape`.
    pub fn from_singular_values(s: ArrayView1<f64>, shape: (usize, usize)) -> Result<Spectrum> {
        check::finite_1d(s, "singular values")?;
        if s.iter().any(|&v| v < 0.0) {
            bail!("singular values must be non-negative");
        }
        let total: f64 = s.iter().map(|v| v * v).sum();
        if total <= 0.0 {
            bail!(
                "the matrix has no variance (all singular values are 0, e.g. every row \
                 identical after centring): percent variance is undefined"
            );
        }
        let percent = s.mapv(|v| 100.0 * (v * v) / total);
        let mut acc = 0.0;
        let cumulative_percent = percent.mapv(|p| {
            acc += p;
            acc
        });
        Ok(Spectrum {
            singular_values: s.to_owned(),
            percent,
            cumulative_percent,
            shape,
        })
    }

    /// Eigenvalues `λ = s²` (proportional to the covariance eigenvalues when centred).
    pub fn eigenvalues(&self) -> Array1<f64> {
        self.singular_values.mapv(|v| v * v)
    }

    /// Participation ratio `(Σλ)² / Σλ²` with `λ = s²` (p43 Part 5).
    pub fn participation_ratio(&self) -> f64 {
        let l = self.eigenvalues();
        let s1: f64 = l.sum();
        let s2: f64 = l.iter().map(|v| v * v).sum();
        s1 * s1 / s2
    }

    /// The 0-based index of the first component whose cumulative percent is strictly
    /// greater than `threshold_pct` — the "effective dimensionality" of p28/p43 and the
    /// `r` of p29, which is the number of components needed MINUS ONE (the references'
    /// convention; p29 then keeps `r` components). `threshold_pct` in [0, 100).
    pub fn first_index_above(&self, threshold_pct: f64) -> Result<usize> {
        if !(0.0..100.0).contains(&threshold_pct) {
            bail!(
                "the cumulative-variance threshold is a percent in [0, 100), got {threshold_pct}"
            );
        }
        match self
            .cumulative_percent
            .iter()
            .position(|&c| c > threshold_pct)
        {
            Some(i) => Ok(i),
            None => bail!(
                "no component's cumulative variance exceeds {threshold_pct}% (the total is {}%)",
                self.cumulative_percent.last().copied().unwrap_or(0.0)
            ),
        }
    }

    /// Numerical rank: singular values above `σ_max · max(n, d) · eps`.
    pub fn rank(&self, eps: f64) -> usize {
        rank_of(&self.singular_values, self.shape, eps)
    }
}

/// Participation ratio of column-centred `x: [n_tokens, d]` (p43):
/// `(Σλ)² / Σλ²` of `λ = s²`, `s` its singular values.
pub fn participation_ratio(x: ArrayView2<f64>) -> Result<f64> {
    Ok(Spectrum::of(x, Centring::Columns)?.participation_ratio())
}

/// Participation ratio `(Σλ)² / Σλ²` of given (covariance) eigenvalues. Equals `d` for
/// `d` equal eigenvalues, 1 for a single non-zero one.
pub fn participation_ratio_of_eigenvalues(eigenvalues: &[f64]) -> Result<f64> {
    check::finite(eigenvalues, "eigenvalues")?;
    if eigenvalues.iter().any(|&v| v < 0.0) {
        bail!("covariance eigenvalues must be non-negative");
    }
    let s1: f64 = eigenvalues.iter().sum();
    let s2: f64 = eigenvalues.iter().map(|v| v * v).sum();
    if s2 <= 0.0 {
        bail!("all eigenvalues are 0: the participation ratio is undefined");
    }
    Ok(s1 * s1 / s2)
}

/// Effective dimensionality of column-centred `x` (p28, p43): the 0-based index of the
/// first component whose cumulative percent variance exceeds `threshold_pct` (95 in
/// both projects) — components needed minus one, the references' convention.
pub fn effective_dimensionality(x: ArrayView2<f64>, threshold_pct: f64) -> Result<usize> {
    Spectrum::of(x, Centring::Columns)?.first_index_above(threshold_pct)
}

/// A rank-`k` approximation of a matrix, with the spectrum it was cut from.
#[derive(Debug, Clone)]
pub struct LowRank {
    /// `U_k diag(s_k) V_kᵀ` of the centred matrix plus the removed means.
    pub reconstruction: Array2<f64>,
    /// Number of singular triplets kept.
    pub k: usize,
    /// Spectrum of the centred matrix.
    pub spectrum: Spectrum,
}

/// Keep the first `k` singular triplets of `x` centred as `centring` says, then add the
/// means back (p29: `Centring::None` for the image, `Centring::Double` for hidden
/// states). `k = 0` leaves only the means; `k = min(n, d)` reproduces `x`.
pub fn low_rank(x: ArrayView2<f64>, k: usize, centring: Centring) -> Result<LowRank> {
    let (n, d) = x.dim();
    if k > n.min(d) {
        bail!(
            "cannot keep {k} components of a {n} x {d} matrix: at most {}",
            n.min(d)
        );
    }
    let c = Centred::new(x, centring)?;
    let svd = svd(c.centred.view())?;
    let spectrum = Spectrum::from_singular_values(svd.s.view(), (n, d))?;
    let us = &svd.u.slice(ndarray::s![.., ..k]) * &svd.s.slice(ndarray::s![..k]);
    let approx = us.dot(&svd.vt.slice(ndarray::s![..k, ..]));
    Ok(LowRank {
        reconstruction: c.restore(approx.view())?,
        k,
        spectrum,
    })
}

/// p29's rule: `r` = first 0-based index whose cumulative percent exceeds
/// `threshold_pct`, then keep `r` components (`s_0 .. s_{r-1}`).
pub fn low_rank_at_threshold(
    x: ArrayView2<f64>,
    threshold_pct: f64,
    centring: Centring,
) -> Result<LowRank> {
    let r = Spectrum::of(x, centring)?.first_index_above(threshold_pct)?;
    low_rank(x, r, centring)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn flip_makes_largest_entry_positive() {
        let mut v = array![[0.1, -0.9, 0.2], [0.5, 0.5, -0.5]];
        svd_flip_v(&mut v);
        assert_eq!(v.row(0).to_vec(), vec![-0.1, 0.9, -0.2]);
        // ties: the first largest (0.5) is already positive
        assert_eq!(v.row(1).to_vec(), vec![0.5, 0.5, -0.5]);
    }

    #[test]
    fn svd_of_wide_and_tall_reproduces_the_matrix() {
        let x = array![
            [1.0, 2.0, 3.0, 4.0],
            [2.0, 0.5, -1.0, 3.0],
            [0.0, 1.0, 1.0, -2.0]
        ];
        for m in [x.clone(), x.t().to_owned()] {
            let f = svd(m.view()).unwrap();
            let back = (&f.u * &f.s).dot(&f.vt);
            let err = (&back - &m).iter().fold(0.0f64, |a, v| a.max(v.abs()));
            assert!(err < 1e-13, "{err}");
            assert!(f.s.windows(2).into_iter().all(|w| w[0] >= w[1]));
        }
    }
}
