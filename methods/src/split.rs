//! Train/test splits as scikit-learn's `train_test_split`, plain and stratified
//! (`stratify=y`), for projects 30 and 48.
//!
//! The sizes follow scikit-learn exactly: `n_test = ceil(test_size · n)` computed in
//! floating point (so `0.07 · 100 = 7.000000000000001` gives 8), `n_train = n − n_test`;
//! the stratified per-class counts come from scikit-learn's `_approximate_mode`, first for
//! the training set over the class counts, then for the test set over what is left, with
//! the floor-then-largest-remainder rule and random tie-breaking. The shuffles use the
//! caller's `rand` generator: the indices differ from numpy's (its generator cannot be
//! reproduced), but the per-class counts (up to which tied class gets a remainder) are
//! scikit-learn's, and train and test are disjoint and together cover every sample.
//!
//! By hand: linfa's `Dataset::split_with_ratio` is unshuffled and unstratified, and no
//! crate applies scikit-learn's rounding rules.

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::Rng;

/// Sample indices of the two parts, each in shuffled order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainTest {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// `(n_train, n_test)` for `n` samples and a test fraction in (0, 1), as scikit-learn's
/// `_validate_shuffle_split` with `train_size=None`.
pub fn split_sizes(n: usize, test_size: f64) -> Result<(usize, usize)> {
    if !(test_size > 0.0 && test_size < 1.0) {
        bail!("test_size={test_size} must be a fraction in the open interval (0, 1)");
    }
    let n_test = (test_size * n as f64).ceil() as usize;
    if n_test >= n {
        bail!(
            "with {n} samples and test_size={test_size} the training set would be empty; \
             use more samples or a smaller test_size"
        );
    }
    Ok((n - n_test, n_test))
}

/// A shuffled split of `0..n`: the first `n_test` of a random permutation are the test
/// set, the next `n_train` the training set (scikit-learn's `ShuffleSplit`).
pub fn train_test_split<R: Rng + ?Sized>(
    n: usize,
    test_size: f64,
    rng: &mut R,
) -> Result<TrainTest> {
    let (_, n_test) = split_sizes(n, test_size)?;
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(rng);
    let train = perm.split_off(n_test);
    Ok(TrainTest { train, test: perm })
}

/// scikit-learn's `_approximate_mode(class_counts, n_draws, rng)`: how many of `n_draws`
/// samples each class gets, `floor(count/total · n_draws)` plus one for the classes with
/// the largest remainders (ties broken at random) until the draws add up.
pub fn approximate_mode<R: Rng + ?Sized>(
    class_counts: &[usize],
    n_draws: usize,
    rng: &mut R,
) -> Vec<usize> {
    let total: usize = class_counts.iter().sum();
    if total == 0 {
        return vec![0; class_counts.len()];
    }
    // the same floating-point operations as numpy: counts / total * n_draws
    let continuous: Vec<f64> = class_counts
        .iter()
        .map(|&c| c as f64 / total as f64 * n_draws as f64)
        .collect();
    let mut floored: Vec<usize> = continuous.iter().map(|c| c.floor() as usize).collect();
    let mut need = n_draws.saturating_sub(floored.iter().sum());
    if need > 0 {
        let remainder: Vec<f64> = continuous
            .iter()
            .zip(&floored)
            .map(|(c, &f)| c - f as f64)
            .collect();
        let mut values = remainder.clone();
        values.sort_by(|a, b| b.total_cmp(a));
        values.dedup();
        for value in values {
            let mut inds: Vec<usize> = (0..remainder.len())
                .filter(|&i| remainder[i] == value)
                .collect();
            let add_now = inds.len().min(need);
            inds.shuffle(rng);
            for &i in &inds[..add_now] {
                floored[i] += 1;
            }
            need -= add_now;
            if need == 0 {
                break;
            }
        }
    }
    floored
}

/// Per-class `(train_counts, test_counts)` of a stratified split of classes with these
/// sizes, as scikit-learn's `StratifiedShuffleSplit` computes them. Errors as scikit-learn
/// does: a class with fewer than 2 members, or fewer train or test samples than classes.
pub fn stratified_counts<R: Rng + ?Sized>(
    class_counts: &[usize],
    test_size: f64,
    rng: &mut R,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let n: usize = class_counts.iter().sum();
    let (n_train, n_test) = split_sizes(n, test_size)?;
    let k = class_counts.len();
    if k < 2 {
        bail!("a stratified split needs at least two classes, got {k}");
    }
    if let Some((c, &m)) = class_counts.iter().enumerate().find(|(_, &m)| m < 2) {
        bail!(
            "a stratified split needs at least 2 members per class, class index {c} has {m}; \
             merge or drop that class"
        );
    }
    if n_train < k {
        bail!("the training set would hold {n_train} samples, fewer than the {k} classes");
    }
    if n_test < k {
        bail!(
            "the test set would hold {n_test} samples, fewer than the {k} classes; \
             raise test_size"
        );
    }
    let train = approximate_mode(class_counts, n_train, rng);
    let remaining: Vec<usize> = class_counts
        .iter()
        .zip(&train)
        .map(|(c, t)| c - t)
        .collect();
    let test = approximate_mode(&remaining, n_test, rng);
    Ok((train, test))
}

/// A stratified shuffled split of the samples labelled `y` (scikit-learn
/// `train_test_split(..., test_size=test_size, stratify=y)`): each class contributes the
/// counts of [`stratified_counts`] (classes in sorted label order), drawn at random from
/// its members; both parts are then shuffled.
pub fn stratified_train_test_split<R: Rng + ?Sized>(
    y: &[usize],
    test_size: f64,
    rng: &mut R,
) -> Result<TrainTest> {
    let mut labels: Vec<usize> = y.to_vec();
    labels.sort_unstable();
    labels.dedup();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); labels.len()];
    for (i, v) in y.iter().enumerate() {
        // every label is in `labels`, so the search always succeeds
        if let Ok(c) = labels.binary_search(v) {
            members[c].push(i);
        }
    }
    let counts: Vec<usize> = members.iter().map(Vec::len).collect();
    let (n_train, n_test) = stratified_counts(&counts, test_size, rng).map_err(|e| {
        anyhow::anyhow!("stratified split of labels {labels:?} with counts {counts:?}: {e}")
    })?;
    let mut train = Vec::with_capacity(n_train.iter().sum());
    let mut test = Vec::with_capacity(n_test.iter().sum());
    for (c, idx) in members.iter_mut().enumerate() {
        idx.shuffle(rng);
        train.extend_from_slice(&idx[..n_train[c]]);
        test.extend_from_slice(&idx[n_train[c]..n_train[c] + n_test[c]]);
    }
    train.shuffle(rng);
    test.shuffle(rng);
    Ok(TrainTest { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn approximate_mode_matches_sklearn_docstring() {
        // the deterministic examples of sklearn's own docstring
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(approximate_mode(&[4, 2], 3, &mut rng), vec![2, 1]);
        assert_eq!(approximate_mode(&[5, 2], 4, &mut rng), vec![3, 1]);
        // [2, 2, 2, 1] with 2 draws: two of the three tied classes get one each
        let m = approximate_mode(&[2, 2, 2, 1], 2, &mut rng);
        assert_eq!(m.iter().sum::<usize>(), 2);
        assert_eq!(m[3], 0);
        assert!(m[..3].iter().all(|&v| v <= 1), "{m:?}");
    }

    #[test]
    fn float_rounding_of_the_test_count() {
        assert_eq!(split_sizes(100, 0.07).unwrap(), (92, 8));
        assert_eq!(split_sizes(10, 0.7).unwrap(), (3, 7));
        assert!(split_sizes(10, 0.0).is_err());
        assert!(split_sizes(10, 1.0).is_err());
        assert!(split_sizes(1, 0.5).is_err());
    }
}
