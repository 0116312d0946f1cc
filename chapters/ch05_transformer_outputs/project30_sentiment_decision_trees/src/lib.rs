//! The analysis steps of project 30 that do not touch the model: batching arithmetic,
//! the PCA (80% variance) + depth-4 decision tree pipeline with its train/test handling,
//! and the accuracy-on-depth regression. `main.rs` calls them; `tests/quick.rs` checks
//! them on synthetic data with known answers (the spec's offline checks 3-6).

use anyhow::Result;
use common::ml::decomposition::{NComponents, Pca};
use common::ml::regression::ols1;
use common::ml::split::stratified_train_test_split;
use common::ml::tree::{DecisionTree, TreeParams};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::Rng;

/// Sentences per batch (the book's).
pub const BATCH_SIZE: usize = 32;
/// PCA keeps the fewest components whose cumulative explained variance exceeds this.
pub const VARIANCE_KEPT: f64 = 0.8;
/// Depth of every decision tree.
pub const TREE_DEPTH: usize = 4;
/// Test fraction of every split.
pub const TEST_SIZE: f64 = 0.2;

/// How `n_rows` sentences fall into consecutive batches of `batch`: `(number of batches,
/// sentences used, rows dropped at the end)`. 3,367 rows -> 105 batches, 3,360, 7.
pub fn batch_plan(n_rows: usize, batch: usize) -> (usize, usize, usize) {
    let n = n_rows / batch;
    (n, n * batch, n_rows - n * batch)
}

/// Data reduced to principal components, fitted on one part and applied to another.
#[derive(Debug, Clone)]
pub struct Reduced {
    /// Scores of the rows the PCA was fitted on, `[n_fit, k]`.
    pub fitted: Array2<f64>,
    /// Scores of the other rows (projected with the fitted mean and axes), `[n_other, k]`.
    pub other: Array2<f64>,
    /// Components kept (`k`).
    pub n_components: usize,
    /// Total explained-variance ratio of the kept components.
    pub variance_explained: f64,
    /// The fitted rows were all identical (layer 0's [CLS]): no PCA is possible, so one
    /// constant feature stands in for the components and a tree on it can only predict
    /// the majority class.
    pub no_variance: bool,
}

/// Every row of `x` equals the first within a relative 1e-6 (float noise of identical
/// computations), so the data have no direction of variance.
pub fn rows_identical(x: ArrayView2<f64>) -> bool {
    if x.nrows() < 2 {
        return true;
    }
    let first = x.row(0);
    let scale = first.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-30);
    x.rows().into_iter().all(|r| {
        r.iter()
            .zip(first.iter())
            .all(|(a, b)| (a - b).abs() <= 1e-6 * scale)
    })
}

/// PCA (centred, not scaled) fitted on `fit`, keeping the smallest number of components
/// whose cumulative explained-variance ratio is strictly greater than 0.8; `fit` and
/// `other` are both projected with the fitted mean and axes. Identical rows give one
/// constant feature instead (see [`Reduced::no_variance`]).
pub fn pca80(fit: ArrayView2<f64>, other: ArrayView2<f64>) -> Result<Reduced> {
    if rows_identical(fit) {
        return Ok(Reduced {
            fitted: Array2::zeros((fit.nrows(), 1)),
            other: Array2::zeros((other.nrows(), 1)),
            n_components: 0,
            variance_explained: 0.0,
            no_variance: true,
        });
    }
    let pca = Pca::fit(fit, NComponents::VarianceFraction(VARIANCE_KEPT))?;
    Ok(Reduced {
        fitted: pca.transform(fit)?,
        other: pca.transform(other)?,
        n_components: pca.n_components,
        variance_explained: pca.explained_variance_ratio.sum(),
        no_variance: false,
    })
}

/// One fitted tree and its accuracies.
pub struct TreeFit {
    pub tree: DecisionTree,
    pub train_acc: f64,
    pub test_acc: f64,
}

/// A depth-4 Gini tree (sklearn defaults otherwise) fitted on the training rows.
pub fn fit_tree(
    x_train: ArrayView2<f64>,
    y_train: ArrayView1<usize>,
    x_test: ArrayView2<f64>,
    y_test: ArrayView1<usize>,
) -> Result<TreeFit> {
    let tree = DecisionTree::fit(x_train, y_train, &TreeParams::max_depth(TREE_DEPTH))?;
    Ok(TreeFit {
        train_acc: tree.accuracy(x_train, y_train)?,
        test_acc: tree.accuracy(x_test, y_test)?,
        tree,
    })
}

/// Rows `idx` of `x` and the matching labels.
pub fn take(x: ArrayView2<f64>, y: &[usize], idx: &[usize]) -> (Array2<f64>, Array1<usize>) {
    (
        x.select(Axis(0), idx),
        idx.iter().map(|&i| y[i]).collect::<Array1<usize>>(),
    )
}

/// One repetition of Part 6 on one layer: a fresh stratified 80/20 split, PCA fitted on
/// the training rows only, test rows projected with it, a depth-4 tree on the training
/// scores. Returns the reduction (for its component count) and the tree.
pub fn split_pca_tree<R: Rng + ?Sized>(
    x: ArrayView2<f64>,
    y: &[usize],
    rng: &mut R,
) -> Result<(Reduced, TreeFit)> {
    let split = stratified_train_test_split(y, TEST_SIZE, rng)?;
    let (xtr, ytr) = take(x, y, &split.train);
    let (xte, yte) = take(x, y, &split.test);
    let red = pca80(xtr.view(), xte.view())?;
    let fit = fit_tree(red.fitted.view(), ytr.view(), red.other.view(), yte.view())?;
    Ok((red, fit))
}

/// OLS with intercept of `acc` on x = 1..=n: `(β0, β1)`.
pub fn accuracy_on_depth(acc: &[f64]) -> Result<(f64, f64)> {
    let x: Array1<f64> = (1..=acc.len()).map(|v| v as f64).collect();
    let fit = ols1(x.view(), ArrayView1::from(acc))?;
    Ok((fit.params[0], fit.params[1]))
}

/// Mean of the successive differences of `acc` (= (last − first) / (n − 1)).
pub fn mean_successive_difference(acc: &[f64]) -> f64 {
    let d: Vec<f64> = acc.windows(2).map(|w| w[1] - w[0]).collect();
    d.iter().sum::<f64>() / d.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_batching() {
        assert_eq!(batch_plan(3367, BATCH_SIZE), (105, 3360, 7));
        assert_eq!(batch_plan(103, BATCH_SIZE), (3, 96, 7));
    }

    #[test]
    fn successive_difference_telescopes() {
        let a = [0.5, 0.7, 0.6, 0.9];
        assert!((mean_successive_difference(&a) - (0.9 - 0.5) / 3.0).abs() < 1e-15);
    }
}
