//! The small helpers project 24's parts share (integer linspace, descriptive statistics,
//! jitter). The hidden states themselves come from `common::model::hidden`.

use anyhow::{ensure, Result};
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use tch::{Kind, Tensor};

/// `n` evenly spaced values from `a` to `b` inclusive, truncated toward zero to integers
/// (`np.linspace(a, b, n).astype(int)`).
pub fn int_linspace(a: usize, b: usize, n: usize) -> Vec<usize> {
    common::stats::linspace(a as f64, b as f64, n)
        .into_iter()
        .map(|x| x.trunc() as usize)
        .collect()
}

/// Descriptive statistics of each vector along the last dimension of a tensor.
pub struct RowStats {
    /// Arithmetic mean.
    pub mean: Vec<f64>,
    /// Mean of the absolute values (L1 mean).
    pub l1_mean: Vec<f64>,
    /// Unbiased variance (N - 1 in the denominator).
    pub var: Vec<f64>,
    /// Unbiased standard deviation (N - 1 in the denominator).
    pub std: Vec<f64>,
}

/// [`RowStats`] of every vector of `x` `[..., d]` (computed in float64), flattened in
/// row-major order of the leading dimensions.
pub fn row_stats(x: &Tensor) -> Result<RowStats> {
    let d = *x.size().last().unwrap_or(&0);
    ensure!(
        d >= 2,
        "an unbiased variance needs at least 2 values per vector, got {d}"
    );
    let x = x.to_kind(Kind::Double).reshape([-1, d]);
    let v = |t: Tensor| Vec::<f64>::try_from(t).map_err(anyhow::Error::from);
    Ok(RowStats {
        mean: v(x.mean_dim(-1, false, Kind::Double))?,
        l1_mean: v(x.abs().mean_dim(-1, false, Kind::Double))?,
        var: v(x.var_dim(-1, true, false))?,
        std: v(x.std_dim(-1, true, false))?,
    })
}

/// The cosine-similarity matrix of the rows of `x` `[n, d]` (float64): `a·b / (‖a‖‖b‖)`.
pub fn cosine_rows(x: &Tensor) -> Result<Vec<Vec<f64>>> {
    common::device::to_rows_f64(&common::stats::cosine_matrix(&x.to_kind(Kind::Double)))
}

/// `k + N(0, sd)` for each of `n` points of layer `k`: the scatter plots' x positions.
pub fn jittered(k: usize, n: usize, sd: f64, rng: &mut StdRng) -> Vec<f64> {
    let normal = Normal::new(0.0, sd).expect("a positive standard deviation");
    (0..n).map(|_| k as f64 + normal.sample(rng)).collect()
}

/// The float32 values of a tensor as f64.
pub fn values(x: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(
        x.to_kind(Kind::Double).flatten(0, -1),
    )?)
}

/// A tensor shape as Python prints it: `(1, 10, 1024)`.
pub fn shape(t: &Tensor) -> String {
    let s: Vec<String> = t.size().iter().map(|d| d.to_string()).collect();
    format!("({})", s.join(", "))
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// Offline check 5: the integer linspace of the spec.
    #[test]
    fn integer_linspace() {
        assert_eq!(int_linspace(0, 9, 4), vec![0, 3, 6, 9]);
        assert_eq!(int_linspace(0, 24, 4), vec![0, 8, 16, 24]);
        // truncation, not rounding: 0, 1.67, 3.33, 5 -> 0, 1, 3, 5
        assert_eq!(int_linspace(0, 5, 4), vec![0, 1, 3, 5]);
    }

    /// Offline check 6: mean, unbiased variance and L1 mean.
    #[test]
    fn statistics_helper() {
        let s = row_stats(&Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0])).unwrap();
        assert_eq!(s.mean, vec![2.5]);
        assert!((s.var[0] - 5.0 / 3.0).abs() < 1e-12, "{}", s.var[0]);
        assert!((s.std[0] - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((s.var[0] - 1.6667).abs() < 1e-4);
        let s = row_stats(&Tensor::from_slice(&[-1.0f32, 1.0])).unwrap();
        assert_eq!((s.mean[0], s.l1_mean[0]), (0.0, 1.0));
        // one vector per row of a [2, 2, 3] tensor, in row-major order
        let x = Tensor::from_slice(&[0f32, 1., 2., 3., 4., 5., 6., 7., 8., -9., -10., -11.])
            .reshape([2, 2, 3]);
        let s = row_stats(&x).unwrap();
        assert_eq!(s.mean, vec![1.0, 4.0, 7.0, -10.0]);
        assert_eq!(s.l1_mean, vec![1.0, 4.0, 7.0, 10.0]);
        assert_eq!(s.var, vec![1.0; 4]);
    }

    /// Offline check 4: distances and the strict upper triangles.
    #[test]
    fn triangles_and_distances() {
        assert_eq!(common::stats::upper_triangle_indices(25).len(), 300);
        assert_eq!(common::stats::upper_triangle_indices(9).len(), 36);
        assert!(common::stats::upper_triangle_indices(25)
            .iter()
            .all(|&(i, j)| i < j));
    }

    #[test]
    fn cosine_matrix_is_symmetric_with_unit_diagonal() {
        let x = Tensor::from_slice(&[1f32, 0., 0., 1., 1., 1., -2., 0.5, 3.]).reshape([3, 3]);
        let m = cosine_rows(&x).unwrap();
        for i in 0..3 {
            assert!((m[i][i] - 1.0).abs() < 1e-12);
            for j in 0..3 {
                assert!((m[i][j] - m[j][i]).abs() < 1e-12);
            }
        }
        // (1, 0, 0) . (1, 1, 1) / sqrt(3)
        assert!((m[0][1] - 1.0 / 3f64.sqrt()).abs() < 1e-12, "{}", m[0][1]);
    }
}
