//! The XGBoost probe of spec p47: a stratified 75/25 split, a fresh classifier, train and
//! test accuracy and the gain of every neuron it uses (through `common::ml::xgboost`, the
//! real libxgboost); and offline check 2, the first tree of a hand-built dataset.

use anyhow::{anyhow, bail, Context, Result};
use common::ml::split::stratified_train_test_split;
use common::ml::xgboost::{Booster, DMatrix, Importance, XgbClassifier, XgbLib, XgbParams};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::Rng;
use std::sync::Arc;

/// Part 1's classifier (the notebook's `XGBClassifier(n_estimators=100, max_depth=2,
/// learning_rate=0.05, subsample=0.8, colsample_bytree=0.8, eval_metric="logloss")`),
/// with XGBoost's `seed`.
pub fn part1_params(seed: u64) -> XgbParams {
    XgbParams {
        seed,
        ..XgbParams::default()
    }
}

/// Part 4's classifier: Part 1's plus `reg_alpha = 5` (L1) and `reg_lambda = 5` (L2).
pub fn part4_params(seed: u64) -> XgbParams {
    XgbParams {
        reg_alpha: 5.0,
        reg_lambda: 5.0,
        ..part1_params(seed)
    }
}

/// One fitted probe.
pub struct Probe {
    pub train_acc: f64,
    pub test_acc: f64,
    /// Test-set size of class 0 and of class 1.
    pub test_counts: [usize; 2],
    /// `(feature, mean gain)` of the features used in at least one split, by feature.
    pub gains: Vec<(usize, f64)>,
}

impl Probe {
    pub fn used(&self) -> Vec<usize> {
        self.gains.iter().map(|g| g.0).collect()
    }
}

fn rows(x: ArrayView2<f64>, idx: &[usize]) -> Array2<f64> {
    x.select(Axis(0), idx)
}

/// A new stratified 75/25 split of `(x, y)` and a freshly created classifier fitted on
/// its training part.
pub fn fit_probe<R: Rng + ?Sized>(
    lib: &Arc<XgbLib>,
    x: ArrayView2<f64>,
    y: &[usize],
    params: &XgbParams,
    rng: &mut R,
) -> Result<Probe> {
    let split = stratified_train_test_split(y, 0.25, rng)?;
    let ytr: Vec<usize> = split.train.iter().map(|&i| y[i]).collect();
    let yte: Vec<usize> = split.test.iter().map(|&i| y[i]).collect();
    let (xtr, xte) = (rows(x, &split.train), rows(x, &split.test));
    let clf = XgbClassifier::fit_with(lib, xtr.view(), &ytr, params)?;
    let ones = yte.iter().filter(|&&c| c == 1).count();
    Ok(Probe {
        train_acc: clf.accuracy(xtr.view(), &ytr)?,
        test_acc: clf.accuracy(xte.view(), &yte)?,
        test_counts: [yte.len() - ones, ones],
        gains: clf.importance(Importance::Gain)?,
    })
}

/// The hand-built dataset of offline check 2: one feature x = 0, 1, 2, 3 with labels
/// 0, 0, 0, 1, each row of weight 8 (so that every row has hessian 8·¼ = 2 at p = ½ and
/// a depth-2 tree may split it under min_child_weight = 1).
pub const HAND_X: [f64; 4] = [0.0, 1.0, 2.0, 3.0];
pub const HAND_Y: [f64; 4] = [0.0, 0.0, 0.0, 1.0];
pub const HAND_W: f64 = 8.0;

/// The first (only) tree XGBoost grows on the hand-built dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct HandTree {
    /// `(feature, threshold, gain)` of the root split, None when the root is a leaf.
    pub split: Option<(usize, f64, f64)>,
    /// Leaf values (η · weight) left to right.
    pub leaves: Vec<f64>,
}

/// One boosting round (η = 0.05, no row or column subsampling, base score ½ i.e. margin
/// 0) with L1 `alpha` and L2 `lambda` on the hand-built dataset, read from XGBoost's JSON
/// dump.
pub fn hand_built_tree(lib: &Arc<XgbLib>, alpha: f64, lambda: f64) -> Result<HandTree> {
    let x = Array2::from_shape_vec((4, 1), HAND_X.to_vec())?;
    let y = Array1::from(HAND_Y.to_vec());
    let d = DMatrix::new(lib, x.view(), Some(y.view()))?;
    d.set_float_info("weight", Array1::from_elem(4, HAND_W).view())?;
    let params = XgbParams {
        n_estimators: 1,
        subsample: 1.0,
        colsample_bytree: 1.0,
        reg_alpha: alpha,
        reg_lambda: lambda,
        extra: vec![("base_score".into(), "0.5".into())],
        ..XgbParams::default()
    };
    let booster = Booster::train(&d, &params)?;
    let dump = booster.dump_json(true)?;
    let tree: serde_json::Value =
        serde_json::from_str(dump.first().context("XGBoost dumped no tree")?)?;
    let mut leaves = Vec::new();
    collect_leaves(&tree, &mut leaves)?;
    let split = match tree.get("split") {
        None => None,
        Some(s) => {
            let name = s.as_str().context("split name")?;
            let f = name
                .strip_prefix('f')
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| anyhow!("split on {name:?}"))?;
            let num = |k: &str| tree[k].as_f64().with_context(|| format!("{k} of the root"));
            Some((f, num("split_condition")?, num("gain")?))
        }
    };
    Ok(HandTree { split, leaves })
}

fn collect_leaves(node: &serde_json::Value, out: &mut Vec<f64>) -> Result<()> {
    if let Some(v) = node.get("leaf") {
        out.push(v.as_f64().context("leaf value")?);
        return Ok(());
    }
    let children = node["children"].as_array().context("children")?;
    // children are listed yes (x < threshold) first
    let yes = node["yes"].as_u64().context("yes")?;
    let mut sorted: Vec<&serde_json::Value> = children.iter().collect();
    sorted.sort_by_key(|c| c["nodeid"].as_u64() != Some(yes));
    for c in sorted {
        collect_leaves(c, out)?;
    }
    Ok(())
}

/// The closed form of check 2 for the hand-built data: `T(G) = sign(G)·max(|G| − α, 0)`,
/// XGBoost's gain `T(G_L)²/(H_L+λ) + T(G_R)²/(H_R+λ) − T(G)²/(H+λ)` (XGBoost reports it
/// without the textbook ½), leaf weights `−T(G)/(H+λ)`, times η.
pub fn hand_closed_form(alpha: f64, lambda: f64, eta: f64) -> (f64, [f64; 2]) {
    let t = |g: f64| g.signum() * (g.abs() - alpha).max(0.0);
    // p = ½: g = w(p − y), h = w p (1 − p); the split x < 3 puts the three y = 0 rows left.
    let (gl, hl) = (3.0 * HAND_W * 0.5, 3.0 * HAND_W * 0.25);
    let (gr, hr) = (-HAND_W * 0.5, HAND_W * 0.25);
    let gain = t(gl).powi(2) / (hl + lambda) + t(gr).powi(2) / (hr + lambda)
        - t(gl + gr).powi(2) / (hl + hr + lambda);
    (
        gain,
        [-eta * t(gl) / (hl + lambda), -eta * t(gr) / (hr + lambda)],
    )
}

/// Errors unless the two class sizes match, as Part 4 needs.
pub fn check_balanced(n0: usize, n1: usize) -> Result<()> {
    if n0 != n1 {
        bail!("the two classes have {n0} and {n1} rows; they must match");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn lib() -> Arc<XgbLib> {
        XgbLib::load().expect("libxgboost (./scripts/setup.sh)")
    }

    /// Offline check 2: split, gain and leaves against the hand computation (α = λ = 5:
    /// T(12) = 7, T(−4) = 0, T(8) = 3; gain 49/11 − 9/13; leaves −0.05·7/11 and 0), and
    /// no split with |G| < α everywhere (leaf 0).
    #[test]
    fn check2_first_tree_matches_the_hand_computation() {
        let t = hand_built_tree(&lib(), 5.0, 5.0).unwrap();
        let (f, thr, gain) = t.split.expect("a split");
        assert_eq!(f, 0);
        assert!(thr > 2.0 && thr <= 3.0, "threshold {thr}");
        let want = 49.0 / 11.0 - 9.0 / 13.0;
        assert_eq!(hand_closed_form(5.0, 5.0, 0.05).0, want);
        assert!((gain - want).abs() < 1e-5, "{gain} vs {want}");
        assert_eq!(t.leaves.len(), 2);
        assert!(
            (t.leaves[0] + 0.05 * 7.0 / 11.0).abs() < 1e-7,
            "{:?}",
            t.leaves
        );
        assert_eq!(t.leaves[1], 0.0);
        let none = hand_built_tree(&lib(), 100.0, 5.0).unwrap();
        assert_eq!(none.split, None);
        assert_eq!(none.leaves, vec![0.0]);
    }

    /// Offline check 3: only used features are listed, every gain is > 0, and a constant
    /// feature (a zeroed neuron) is never used.
    #[test]
    fn check3_gain_lists_used_features_only() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 400;
        let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
        let mut x = Array2::<f64>::zeros((n, 4));
        for i in 0..n {
            x[[i, 0]] = y[i] as f64 + rng.random::<f64>(); // informative
            x[[i, 1]] = 0.0; // constant (zeroed)
            x[[i, 2]] = rng.random::<f64>(); // noise
            x[[i, 3]] = 0.0; // constant
        }
        let p = fit_probe(&lib(), x.view(), &y, &part4_params(0), &mut rng).unwrap();
        let used = p.used();
        assert!(used.contains(&0), "{used:?}");
        assert!(!used.contains(&1) && !used.contains(&3), "{used:?}");
        assert!(p.gains.iter().all(|g| g.1 > 0.0), "{:?}", p.gains);
        assert_eq!(p.test_counts, [50, 50]);
    }

    /// Offline check 6: 25 % of each class in the test set. For n = 5000 (2500 per class)
    /// that is 625 + 625 = 1250 test rows (the spec's "1250/1250" reads as 1250 of each,
    /// which would be 50 %: 25 % of each class is 625).
    #[test]
    fn check6_stratified_split_sizes() {
        let mut rng = StdRng::seed_from_u64(6);
        let y: Vec<usize> = (0..5000).map(|i| usize::from(i >= 2500)).collect();
        let s = stratified_train_test_split(&y, 0.25, &mut rng).unwrap();
        let ones = s.test.iter().filter(|&&i| y[i] == 1).count();
        assert_eq!((s.test.len() - ones, ones), (625, 625));
        assert_eq!(s.test.len(), 1250);
        assert_eq!(s.train.len(), 3750);
    }
}
