//! Input checks every method runs first, so that bad data gives an error that names the
//! problem — never a panic inside a solver and never a silent NaN in the result.

use anyhow::{bail, Result};
use ndarray::{ArrayView1, ArrayView2};

/// Every value finite (no NaN, no ±inf). `what` names the input in the error.
pub fn finite_1d(v: ArrayView1<f64>, what: &str) -> Result<()> {
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        bail!("{what} holds a non-finite value ({x}) at index {i}: remove or impute it first");
    }
    Ok(())
}

/// Every value of a `[n_samples, n_features]` matrix finite.
pub fn finite_2d(x: ArrayView2<f64>, what: &str) -> Result<()> {
    for ((r, c), v) in x.indexed_iter() {
        if !v.is_finite() {
            bail!(
                "{what} holds a non-finite value ({v}) at row {r}, column {c}: remove or impute it first"
            );
        }
    }
    Ok(())
}

/// A slice of finite values.
pub fn finite(v: &[f64], what: &str) -> Result<()> {
    finite_1d(ArrayView1::from(v), what)
}

/// `x` has as many rows as `y` has entries, and at least `min` of them.
pub fn rows_match(n_x: usize, n_y: usize, min: usize, what: &str) -> Result<()> {
    if n_x != n_y {
        bail!("{what}: the design matrix has {n_x} rows but the target has {n_y} entries");
    }
    if n_x < min {
        bail!("{what} needs at least {min} samples, got {n_x}");
    }
    Ok(())
}

/// At least `min` values.
pub fn at_least(n: usize, min: usize, what: &str) -> Result<()> {
    if n < min {
        bail!("{what} needs at least {min} values, got {n}");
    }
    Ok(())
}

/// The sorted distinct class labels of `y`, erroring when there are fewer than two
/// classes or when a class has fewer than `min_per_class` members.
pub fn classes(y: &[usize], min_per_class: usize, what: &str) -> Result<Vec<usize>> {
    let mut counts = std::collections::BTreeMap::new();
    for &c in y {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    if counts.len() < 2 {
        bail!(
            "{what} needs at least two classes, the labels hold {}",
            counts.len()
        );
    }
    if let Some((c, n)) = counts.iter().find(|(_, &n)| n < min_per_class) {
        bail!("{what}: class {c} has {n} member(s), at least {min_per_class} are needed");
    }
    Ok(counts.into_keys().collect())
}

/// Column indices whose values are all equal (zero variance).
pub fn constant_columns(x: ArrayView2<f64>) -> Vec<usize> {
    (0..x.ncols())
        .filter(|&j| {
            let col = x.column(j);
            let first = col[0];
            col.iter().all(|&v| v == first)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn non_finite_is_named() {
        let e = finite(&[1.0, f64::NAN], "x").unwrap_err().to_string();
        assert!(e.contains("index 1"), "{e}");
        let m = array![[1.0, 2.0], [3.0, f64::INFINITY]];
        let e = finite_2d(m.view(), "X").unwrap_err().to_string();
        assert!(e.contains("row 1, column 1"), "{e}");
    }

    #[test]
    fn classes_need_two_and_enough_members() {
        assert_eq!(classes(&[2, 0, 2, 0], 2, "t").unwrap(), vec![0, 2]);
        assert!(classes(&[1, 1, 1], 1, "t").is_err());
        let e = classes(&[0, 0, 1], 2, "t").unwrap_err().to_string();
        assert!(e.contains("class 1 has 1"), "{e}");
    }

    #[test]
    fn constant_columns_found() {
        let m = array![[1.0, 2.0, 5.0], [1.0, 3.0, 5.0]];
        assert_eq!(constant_columns(m.view()), vec![0, 2]);
    }
}
