//! belongs in common: a fallback for `common::ml::logistic::LogisticL2::fit` on an
//! unscaled feature.
//!
//! linfa's L-BFGS (behind `LogisticL2::fit`) can stall far from the optimum on a single
//! unscaled feature whose classes are well separated (measured: 5 classes on disjoint
//! intervals [3k, 3k+1] stop with a gradient of 0.13, and `fit` refuses them with "did not
//! converge ... try standardising the features"). Standardising alone would change the
//! model, because the L2 penalty acts on the slopes. It need not: with z = (x − m) / s
//! the slopes are w_z = w·s, so scikit-learn's objective ½‖w‖² + C·Σ CE equals
//! (½‖w_z‖² + C·s²·Σ CE) / s². Fitting z with C·s² therefore has the same optimum, which
//! maps back exactly as w = w_z / s, b = b_z − w_z·m / s (centring only moves the
//! unpenalised intercepts). The result is checked against the first-order condition of the
//! original problem, the same test `fit` applies.

use anyhow::{ensure, Result};
use common::ml::logistic::LogisticL2;
use ndarray::{Array2, ArrayView2};

/// The gradient bound `LogisticL2::fit` demands (its `GRAD_TOL`).
const GRAD_TOL: f64 = 1e-6;

/// `LogisticL2::fit(x, y, c)` for a single feature column; if that solve does not converge,
/// the same optimum through the standardised reparametrisation above. Returns the model and
/// whether the fallback was needed.
pub fn fit_one_feature(x: ArrayView2<f64>, y: &[usize], c: f64) -> Result<(LogisticL2, bool)> {
    ensure!(x.ncols() == 1, "fit_one_feature takes one feature column");
    let direct_err = match LogisticL2::fit(x, y, c) {
        Ok(m) => return Ok((m, false)),
        Err(e) => e,
    };
    let n = x.nrows() as f64;
    let m = x.column(0).sum() / n;
    let s = (x.column(0).mapv(|v| (v - m).powi(2)).sum() / n).sqrt();
    ensure!(s > 0.0, "the feature is constant: {direct_err}");
    let z: Array2<f64> = x.mapv(|v| (v - m) / s);
    let fz = LogisticL2::fit(z.view(), y, c * s * s)?;
    let coef = fz.coef.mapv(|w| w / s);
    let intercept = &fz.intercept - &fz.coef.column(0).mapv(|w| w * m / s);
    let model = LogisticL2 {
        classes: fz.classes,
        coef,
        intercept,
        c,
    };
    let g = model.objective_gradient_max(x, y)?;
    ensure!(
        g <= GRAD_TOL,
        "logistic regression did not converge directly ({direct_err}) nor through the \
         standardised feature (gradient {g:.3e})"
    );
    Ok((model, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Uniform};

    fn intervals(gap: f64) -> (Array2<f64>, Vec<usize>) {
        let mut rng = StdRng::seed_from_u64(3);
        let u = Uniform::new(0.0, 1.0).unwrap();
        let (mut xs, mut ys) = (vec![], vec![]);
        for k in 0..5 {
            for _ in 0..100 {
                xs.push(gap * k as f64 + u.sample(&mut rng));
                ys.push(k);
            }
        }
        (Array2::from_shape_vec((xs.len(), 1), xs).unwrap(), ys)
    }

    #[test]
    fn disjoint_intervals_fit_through_the_fallback() {
        let (x, y) = intervals(3.0);
        assert!(
            LogisticL2::fit(x.view(), &y, 1.0).is_err(),
            "linfa now converges here"
        );
        let (m, fallback) = fit_one_feature(x.view(), &y, 1.0).unwrap();
        assert!(fallback);
        assert!(m.objective_gradient_max(x.view(), &y).unwrap() <= GRAD_TOL);
        assert!(m.score(x.view(), &y).unwrap() > 0.9);
        assert!(m.coef.sum().abs() < 1e-6 && m.intercept.sum().abs() < 1e-9);
    }

    #[test]
    fn reparametrisation_reaches_the_direct_optimum() {
        // where the direct solve converges, the standardised one must give the same model
        let (x, y) = intervals(1.0);
        let (direct, fallback) = fit_one_feature(x.view(), &y, 1.0).unwrap();
        assert!(!fallback);
        let n = x.nrows() as f64;
        let m = x.sum() / n;
        let s = (x.mapv(|v| (v - m).powi(2)).sum() / n).sqrt();
        let z = x.mapv(|v| (v - m) / s);
        let fz = LogisticL2::fit(z.view(), &y, s * s).unwrap();
        for k in 0..5 {
            let w = fz.coef[[k, 0]] / s;
            let b = fz.intercept[k] - fz.coef[[k, 0]] * m / s;
            assert!(
                (w - direct.coef[[k, 0]]).abs() < 1e-5,
                "{w} vs {}",
                direct.coef[[k, 0]]
            );
            assert!(
                (b - direct.intercept[k]).abs() < 1e-4,
                "{b} vs {}",
                direct.intercept[k]
            );
        }
    }
}
