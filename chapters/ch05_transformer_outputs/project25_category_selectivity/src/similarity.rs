//! The methods of project 25: the category mask (strict upper triangle of the outer
//! product of the labels), cosine-similarity matrices of row-normalised vectors, the
//! similarity groups picked out by the mask, density histograms over the values' own range
//! (numpy's semantics, from `common::plot`), and Student's pooled-variance t-test (from `common::ml`).

use anyhow::{ensure, Result};
use common::ml::hypothesis::{ttest_ind, Alternative};
use common::plot::{density_histogram, Bins};
use tch::{Kind, Tensor};

/// `mask[i][j] = c[i] * c[j]` above the diagonal (i < j), 0 on and below it. With labels
/// 1/2/3 the products 1, 4, 9 are pairs within a category and 2, 3, 6 pairs across two.
pub fn category_mask(labels: &[u32]) -> Vec<Vec<u32>> {
    let n = labels.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| if j > i { labels[i] * labels[j] } else { 0 })
                .collect()
        })
        .collect()
}

/// The cosine-similarity matrix `S = X Xᵀ` of the L2-normalised rows of `x` `[n, d]`,
/// computed in float64. Identical rows can give `1 + ε`; [`group_values`] clamps.
pub fn cosine_matrix(x: &Tensor) -> Result<Vec<Vec<f64>>> {
    let x = x.to_kind(Kind::Double);
    let norms = (&x * &x)
        .sum_dim_intlist([-1i64].as_slice(), true, Kind::Double)
        .sqrt();
    let xn = &x / norms;
    let s = xn.matmul(&xn.transpose(0, 1));
    // exactly symmetric: the matrix product's s[i][j] and s[j][i] can differ in the last
    // bit (differently blocked or threaded kernels; seen on a CI machine)
    common::device::to_rows_f64(&((&s + s.transpose(0, 1)) * 0.5))
}

/// The entries `s[i][j]` whose mask value is one of `codes`, concatenated code by code in
/// the order given (row-major within a code, as numpy's boolean indexing reads them),
/// each clamped to at most 1 so that `1 + ε` from identical vectors stays in range.
pub fn group_values(s: &[Vec<f64>], mask: &[Vec<u32>], codes: &[u32]) -> Vec<f64> {
    let mut out = vec![];
    for &c in codes {
        for (srow, mrow) in s.iter().zip(mask) {
            for (&v, &m) in srow.iter().zip(mrow) {
                if m == c {
                    out.push(v.min(1.0));
                }
            }
        }
    }
    out
}

/// `bins + 1` equally spaced edges from `lo` to `hi` (`np.linspace(lo, hi, bins + 1)`).
pub fn edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    common::stats::linspace(lo, hi, bins + 1)
}

/// A density histogram over the values' own range: `bins` equal bins from min to max
/// (numpy's `histogram(v, bins, density=True)`; a constant sample gets `[v−0.5, v+0.5]`).
/// Returns `(edges, density)`; an empty sample is an error.
pub fn own_range_histogram(values: &[f64], bins: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    ensure!(!values.is_empty(), "a histogram of no values");
    Ok(density_histogram(values, &Bins::Count(bins)))
}

/// Student's independent two-sample t statistic with pooled variance (scipy's
/// `ttest_ind(a, b)`): t = (m1 − m2) / (sp √(1/n1 + 1/n2)).
pub fn student_t(a: &[f64], b: &[f64]) -> Result<f64> {
    Ok(ttest_ind(a, b, true, Alternative::TwoSided)?.statistic)
}

pub fn mean(v: &[f64]) -> f64 {
    common::stats::mean(v)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    const LABELS: [u32; 34] = [
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3,
        3, 3, 3, 3,
    ];

    /// Offline check 1: the spec's counts of every mask value.
    #[test]
    fn mask_counts() {
        let m = category_mask(&LABELS);
        let count = |c: u32| m.iter().flatten().filter(|&&v| v == c).count();
        assert_eq!([1, 4, 9, 2, 3, 6].map(count), [45, 78, 55, 130, 110, 143]);
        for i in 0..34 {
            for j in 0..=i {
                assert_eq!(m[i][j], 0, "({i}, {j})");
            }
        }
        // 34·33/2 = 561 = 178 + 383 pairs above the diagonal
        assert_eq!(count(0), 34 * 34 - 561);
    }

    /// Offline check 5: a textbook t value and t = 0 for identical samples.
    #[test]
    fn t_test_values() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [2.0, 4.0, 6.0, 8.0, 10.0];
        // by hand: m = 3 vs 6, s² = 2.5 vs 10, sp² = 6.25, se = 2.5·√0.4 = 1.5811
        let t = student_t(&a, &b).unwrap();
        assert!((t - (-3.0 / (2.5 * 0.4f64.sqrt()))).abs() < 1e-12, "{t}");
        assert!((t - (-1.897)).abs() < 5e-4, "{t}");
        assert_eq!(student_t(&a, &a).unwrap(), 0.0);
        // unequal sizes (pooled ≠ Welch): m = 2 vs 6, s² = 1 vs 10, sp² = (2 + 40) / 6 = 7
        let t = student_t(&[1.0, 2.0, 3.0], &b).unwrap();
        let want = -4.0 / (7.0f64 * (1.0 / 3.0 + 1.0 / 5.0)).sqrt();
        assert!(
            (t - want).abs() < 1e-12 && (t - (-2.0702)).abs() < 1e-4,
            "{t}"
        );
    }

    /// Offline check 6: fixed edges, all values in range -> Σ density·dx = 1; numpy's
    /// closed last bin; values outside are ignored.
    #[test]
    fn histogram_semantics() {
        let e = edges(0.4, 1.0, 34);
        let dx = 0.6 / 34.0;
        let v: Vec<f64> = (0..200).map(|i| 0.4 + 0.6 * (i as f64) / 199.0).collect();
        let d = density_histogram(&v, &Bins::Edges(e.clone())).1;
        let total: f64 = d.iter().map(|x| x * dx).sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        // 1.0 lands in the last bin, 0.3 and 1.2 are ignored
        let d = density_histogram(&[1.0, 0.3, 1.2], &Bins::Edges(e.clone())).1;
        assert!((d[33] * dx - 1.0).abs() < 1e-9);
        assert_eq!(d[..33].iter().sum::<f64>(), 0.0);
        // [0, 1) | [1, 2] with 0, 1, 2, 2: counts 1, 3 -> densities 0.25, 0.75
        let d = density_histogram(&[0.0, 1.0, 2.0, 2.0], &Bins::Edges(vec![0.0, 1.0, 2.0])).1;
        assert_eq!(d, vec![0.25, 0.75]);
        let (e, d) = own_range_histogram(&[1.0, 2.0, 3.0], 2).unwrap();
        assert_eq!(e, vec![1.0, 2.0, 3.0]);
        assert_eq!(d, vec![1.0 / 3.0, 2.0 / 3.0]);
    }

    /// Offline check 4: symmetric, unit diagonal.
    #[test]
    fn cosine_matrix_properties() {
        let x = Tensor::from_slice(&[1f32, 0., 0., 1., 1., 1., -2., 0.5, 3.]).reshape([3, 3]);
        let s = cosine_matrix(&x).unwrap();
        for i in 0..3 {
            assert!((s[i][i] - 1.0).abs() < 1e-12);
            for j in 0..3 {
                assert_eq!(s[i][j], s[j][i]);
            }
        }
        assert!((s[0][1] - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        let mask = category_mask(&[1, 1, 2]);
        assert_eq!(group_values(&s, &mask, &[1]), vec![s[0][1]]);
        assert_eq!(group_values(&s, &mask, &[2]), vec![s[0][2], s[1][2]]);
        assert_eq!(
            group_values(&[vec![0.0, 1.0 + 1e-15]], &[vec![0, 1]], &[1]),
            vec![1.0]
        );
    }
}
