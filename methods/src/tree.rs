//! CART decision tree classifier with Gini impurity, as scikit-learn's
//! `DecisionTreeClassifier(criterion="gini", splitter="best")` builds it: the same split
//! search, stopping rules, node order, thresholds, probabilities and Gini feature
//! importances (`feature_importances_`).
//!
//! Written by hand because `linfa-trees` 0.8.1 builds a different tree from the same data:
//! - a split's threshold is the midpoint between a value and the *next value of the whole
//!   training column*, even when that sample is not in the node (sklearn: the next value
//!   present in the node), so deeper thresholds differ and can fall outside the node's range;
//! - class weights and Gini impurities are `f32`, so near-equal splits are ranked
//!   differently and impurity decreases carry ~1e-7 errors;
//! - `min_impurity_decrease` cannot go below `f64::EPSILON` (default 1e-5), while sklearn
//!   splits any impure node that has a valid split, even with zero decrease;
//! - after fitting it prunes sibling leaves that predict the same class, so the structure
//!   (depth, leaves, node samples) is not sklearn's, and `predict` sends `x == threshold`
//!   right while fitting sent it left;
//! - `feature_importance` is the per-feature *mean* of unweighted impurity decreases,
//!   normalised, not sklearn's sum of sample-weighted decreases;
//! - it has no class probabilities, node sample counts or node impurities.
//!
//! On this module's fixtures (`DecisionTree::params().split_quality(Gini)` with sklearn's
//! depth / min-split / min-leaf and `min_impurity_decrease(1e-15)`) linfa grows 10, 15 and
//! 7 leaves where sklearn grows 12, 16 and 9, its importances differ from sklearn's by up
//! to 0.44, and 2 of 60 test predictions differ in two of the three cases.
//!
//! Like sklearn, the features are cast to `f32` before fitting and predicting, and the
//! thresholds are `f64` midpoints of consecutive distinct `f32` values in the node (values
//! closer than `1e-7` count as equal). sklearn visits the features in a random order and
//! keeps the first of equally good splits; here the features are visited in index order,
//! so the two trees are identical whenever every best split is unique (the usual case for
//! continuous features), and otherwise may differ at the tied node.

use anyhow::{bail, Result};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::check;

/// sklearn's `FEATURE_THRESHOLD` (a `float32`): feature values closer than this are equal.
const FEATURE_THRESHOLD: f32 = 1e-7;

/// Hyperparameters (sklearn's names and meanings). [`Default`] is sklearn's default tree
/// (unlimited depth); [`TreeParams::max_depth`] gives project 30's depth-4 tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeParams {
    /// Maximal depth (root = depth 0); `None` grows until the leaves are pure or too small.
    pub max_depth: Option<usize>,
    /// A node with fewer samples is not split (sklearn default 2).
    pub min_samples_split: usize,
    /// Each child of a split keeps at least this many samples (sklearn default 1).
    pub min_samples_leaf: usize,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
        }
    }
}

impl TreeParams {
    /// sklearn's defaults with `max_depth = depth` (project 30: `TreeParams::max_depth(4)`).
    pub fn max_depth(depth: usize) -> Self {
        TreeParams {
            max_depth: Some(depth),
            ..TreeParams::default()
        }
    }
}

/// The test of an internal node: samples with `x[feature] <= threshold` go to `left`.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub feature: usize,
    pub threshold: f64,
    /// Index of the left child in [`DecisionTree::nodes`].
    pub left: usize,
    /// Index of the right child in [`DecisionTree::nodes`].
    pub right: usize,
}

/// One node, as sklearn's `tree_` arrays describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `None` for a leaf.
    pub split: Option<Split>,
    /// Gini impurity of the training samples in the node (`tree_.impurity`).
    pub impurity: f64,
    /// Number of training samples in the node (`tree_.n_node_samples`).
    pub samples: usize,
    /// Training samples per class, in the order of [`DecisionTree::classes`].
    pub counts: Vec<usize>,
    /// Class fractions `counts / samples` (sklearn ≥ 1.4's `tree_.value[node, 0, :]`).
    pub value: Vec<f64>,
    /// Depth of the node (root 0).
    pub depth: usize,
}

impl Node {
    pub fn is_leaf(&self) -> bool {
        self.split.is_none()
    }
}

/// A fitted tree. The nodes are numbered as sklearn numbers them: depth first, a node
/// before its left subtree, the left subtree before the right one; node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionTree {
    nodes: Vec<Node>,
    classes: Vec<usize>,
    n_features: usize,
    importances: Array1<f64>,
}

impl DecisionTree {
    /// Fits the tree on `x: [n_samples, n_features]` and class labels `y` (any `usize`
    /// labels; at least two classes). Constant features are allowed (never split on).
    pub fn fit(x: ArrayView2<f64>, y: ArrayView1<usize>, params: &TreeParams) -> Result<Self> {
        let (n, d) = x.dim();
        check::rows_match(n, y.len(), 2, "decision tree")?;
        if d == 0 {
            bail!("decision tree: x has no feature columns");
        }
        check::finite_2d(x, "decision tree x")?;
        fits_f32(x, "decision tree x")?;
        if params.min_samples_split < 2 {
            bail!(
                "decision tree: min_samples_split must be at least 2, got {}",
                params.min_samples_split
            );
        }
        if params.min_samples_leaf < 1 {
            bail!("decision tree: min_samples_leaf must be at least 1, got 0");
        }
        if params.max_depth == Some(0) {
            bail!("decision tree: max_depth must be at least 1 (or None), got 0");
        }
        let labels: Vec<usize> = y.to_vec();
        let classes = check::classes(&labels, 1, "decision tree")?;
        let class_of: Vec<usize> = labels
            .iter()
            .map(|l| classes.binary_search(l).unwrap_or(0))
            .collect();
        // Column-major f32 copy of x: sklearn fits on float32 features.
        let cols: Vec<Vec<f32>> = (0..d)
            .map(|j| x.column(j).iter().map(|&v| v as f32).collect())
            .collect();
        let mut builder = Builder {
            cols: &cols,
            class_of: &class_of,
            n_classes: classes.len(),
            n_total: n as f64,
            params,
            nodes: Vec::new(),
        };
        let mut samples: Vec<usize> = (0..n).collect();
        let counts = builder.counts(&samples);
        let root_impurity = gini(&counts, n as f64);
        builder.build(&mut samples, 0, root_impurity);
        let nodes = builder.nodes;
        let importances = importances(&nodes, d);
        Ok(DecisionTree {
            nodes,
            classes,
            n_features: d,
            importances,
        })
    }

    /// The nodes, root first (see the type's doc for the order).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The sorted distinct training labels; probabilities and counts follow this order.
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Gini importances (sklearn's `feature_importances_`): per feature, the sum over the
    /// nodes split on it of `n_node·impurity − n_left·impurity_left − n_right·impurity_right`,
    /// divided by the number of training samples and normalised to sum to 1. All zeros when
    /// the tree is a single leaf.
    pub fn feature_importances(&self) -> &Array1<f64> {
        &self.importances
    }

    /// Depth of the deepest leaf (sklearn `get_depth`; a single leaf has depth 0).
    pub fn depth(&self) -> usize {
        self.nodes.iter().map(|n| n.depth).max().unwrap_or(0)
    }

    /// Number of leaves (sklearn `get_n_leaves`).
    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// Index (in [`Self::nodes`]) of the leaf each row of `x` falls into (sklearn `apply`).
    pub fn apply(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        self.check_x(x)?;
        Ok(x.rows()
            .into_iter()
            .map(|row| {
                let mut i = 0;
                while let Some(s) = &self.nodes[i].split {
                    // sklearn compares the float32 feature with the float64 threshold.
                    i = if (row[s.feature] as f32) as f64 <= s.threshold {
                        s.left
                    } else {
                        s.right
                    };
                }
                i
            })
            .collect())
    }

    /// Class probabilities `[n_samples, n_classes]`: the class fractions of each row's leaf.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let leaves = self.apply(x)?;
        let mut p = Array2::zeros((leaves.len(), self.classes.len()));
        for (r, &leaf) in leaves.iter().enumerate() {
            for (c, &v) in self.nodes[leaf].value.iter().enumerate() {
                p[[r, c]] = v;
            }
        }
        Ok(p)
    }

    /// Predicted labels: the most frequent training class of each row's leaf (the first
    /// in [`Self::classes`] order on a tie, as sklearn's argmax).
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Vec<usize>> {
        let leaves = self.apply(x)?;
        Ok(leaves
            .iter()
            .map(|&leaf| {
                let counts = &self.nodes[leaf].counts;
                let mut best = 0;
                for (c, &k) in counts.iter().enumerate() {
                    if k > counts[best] {
                        best = c;
                    }
                }
                self.classes[best]
            })
            .collect())
    }

    /// Fraction of rows whose predicted label equals `y` (sklearn `score`).
    pub fn accuracy(&self, x: ArrayView2<f64>, y: ArrayView1<usize>) -> Result<f64> {
        check::rows_match(x.nrows(), y.len(), 1, "decision tree accuracy")?;
        let pred = self.predict(x)?;
        let hits = pred.iter().zip(y.iter()).filter(|(p, t)| p == t).count();
        Ok(hits as f64 / y.len() as f64)
    }

    /// The tree as text, in the format of sklearn's `export_text(tree, feature_names=...,
    /// decimals=2)` (without its `max_depth` truncation); `feature_names` defaults to
    /// `feature_0, feature_1, ...`.
    pub fn export_text(&self, feature_names: Option<&[String]>) -> Result<String> {
        let names: Vec<String> = match feature_names {
            Some(f) if f.len() != self.n_features => bail!(
                "export_text: {} feature names given for a tree on {} features",
                f.len(),
                self.n_features
            ),
            Some(f) => f.to_vec(),
            None => (0..self.n_features)
                .map(|j| format!("feature_{j}"))
                .collect(),
        };
        let mut out = String::new();
        self.export_node(0, 1, &names, &mut out);
        Ok(out)
    }

    fn export_node(&self, i: usize, depth: usize, names: &[String], out: &mut String) {
        let indent = format!("{}|{}", "|   ".repeat(depth - 1), "---");
        let node = &self.nodes[i];
        match &node.split {
            Some(s) => {
                let name = &names[s.feature];
                out.push_str(&format!("{indent} {name} <= {:.2}\n", s.threshold));
                self.export_node(s.left, depth + 1, names, out);
                out.push_str(&format!("{indent} {name} >  {:.2}\n", s.threshold));
                self.export_node(s.right, depth + 1, names, out);
            }
            None => {
                let mut best = 0;
                for (c, &v) in node.value.iter().enumerate() {
                    if v > node.value[best] {
                        best = c;
                    }
                }
                out.push_str(&format!("{indent} class: {}\n", self.classes[best]));
            }
        }
    }

    fn check_x(&self, x: ArrayView2<f64>) -> Result<()> {
        if x.ncols() != self.n_features {
            bail!(
                "decision tree: x has {} feature columns but the tree was fitted on {}",
                x.ncols(),
                self.n_features
            );
        }
        check::finite_2d(x, "decision tree x")?;
        fits_f32(x, "decision tree x")
    }
}

/// sklearn casts the features to float32; values beyond its range would become ±inf.
fn fits_f32(x: ArrayView2<f64>, what: &str) -> Result<()> {
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| v.abs() > f32::MAX as f64) {
        bail!(
            "{what} holds {v} at row {r}, column {c}, too large for float32: rescale the features"
        );
    }
    Ok(())
}

/// Gini impurity `1 − Σ count² / n²`, computed as sklearn's `Gini.node_impurity`.
fn gini(counts: &[usize], n: f64) -> f64 {
    let sq: f64 = counts.iter().map(|&c| (c as f64) * (c as f64)).sum();
    1.0 - sq / (n * n)
}

/// sklearn's `Tree.compute_feature_importances(normalize=True)`.
fn importances(nodes: &[Node], d: usize) -> Array1<f64> {
    let mut imp = Array1::<f64>::zeros(d);
    for node in nodes {
        if let Some(s) = &node.split {
            let (l, r) = (&nodes[s.left], &nodes[s.right]);
            imp[s.feature] += node.samples as f64 * node.impurity
                - l.samples as f64 * l.impurity
                - r.samples as f64 * r.impurity;
        }
    }
    imp /= nodes[0].samples as f64;
    let total = imp.sum();
    if total > 0.0 {
        imp /= total;
    }
    imp
}

struct Builder<'a> {
    cols: &'a [Vec<f32>],
    class_of: &'a [usize],
    n_classes: usize,
    n_total: f64,
    params: &'a TreeParams,
    nodes: Vec<Node>,
}

/// The best split of a node: its feature, threshold, number of samples going left
/// (after sorting by the feature) and its proxy improvement.
struct Best {
    feature: usize,
    threshold: f64,
    pos: usize,
    proxy: f64,
}

impl Builder<'_> {
    fn counts(&self, samples: &[usize]) -> Vec<usize> {
        let mut counts = vec![0usize; self.n_classes];
        for &s in samples {
            counts[self.class_of[s]] += 1;
        }
        counts
    }

    /// Adds the node holding `samples` (and, recursively, its subtree); returns its index.
    /// `impurity` is the node's Gini impurity as its parent's split computed it.
    fn build(&mut self, samples: &mut [usize], depth: usize, impurity: f64) -> usize {
        let n = samples.len();
        let counts = self.counts(samples);
        let id = self.nodes.len();
        self.nodes.push(Node {
            split: None,
            impurity,
            samples: n,
            value: counts.iter().map(|&c| c as f64 / n as f64).collect(),
            counts,
            depth,
        });
        let p = self.params;
        // sklearn's DepthFirstTreeBuilder stopping rules (EPSILON: pure up to rounding).
        let leaf = p.max_depth.is_some_and(|m| depth >= m)
            || n < p.min_samples_split
            || n < 2 * p.min_samples_leaf
            || impurity <= f64::EPSILON;
        if leaf {
            return id;
        }
        let Some(best) = self.best_split(samples) else {
            return id;
        };
        // Reorder the node's samples: left child first, as sklearn partitions them.
        let col = &self.cols[best.feature];
        samples.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
        let (left, right) = samples.split_at_mut(best.pos);
        let (lc, rc) = (self.counts(left), self.counts(right));
        let (nl, nr) = (left.len() as f64, right.len() as f64);
        let (imp_l, imp_r) = (gini(&lc, nl), gini(&rc, nr));
        // sklearn's impurity_improvement; a split is kept unless it is below
        // min_impurity_decrease (0) by more than EPSILON, i.e. always.
        let nf = n as f64;
        let improvement = nf / self.n_total * (impurity - nr / nf * imp_r - nl / nf * imp_l);
        if improvement + f64::EPSILON < 0.0 {
            return id;
        }
        let l = self.build(left, depth + 1, imp_l);
        let r = self.build(right, depth + 1, imp_r);
        self.nodes[id].split = Some(Split {
            feature: best.feature,
            threshold: best.threshold,
            left: l,
            right: r,
        });
        id
    }

    /// sklearn's `node_split_best` with all features: for each non-constant feature, sweep
    /// the node's samples in increasing feature order and keep the position with the
    /// largest proxy improvement `−n_right·gini_right − n_left·gini_left` (strictly larger
    /// replaces, so the first feature and the lowest threshold win exact ties).
    fn best_split(&self, samples: &[usize]) -> Option<Best> {
        let n = samples.len();
        let min_leaf = self.params.min_samples_leaf;
        let total = self.counts(samples);
        let mut best: Option<Best> = None;
        let mut order: Vec<usize> = samples.to_vec();
        for (f, col) in self.cols.iter().enumerate() {
            order.sort_by(|&a, &b| col[a].total_cmp(&col[b]));
            let v: Vec<f32> = order.iter().map(|&s| col[s]).collect();
            if v[n - 1] <= v[0] + FEATURE_THRESHOLD {
                continue; // constant in this node
            }
            let mut left = vec![0usize; self.n_classes];
            let mut moved = 0; // samples order[..moved] are counted in `left`
            let mut p = 0;
            while p < n {
                // partitioner.next_p: skip values equal to the previous one (within 1e-7).
                p += 1;
                while p < n && v[p] <= v[p - 1] + FEATURE_THRESHOLD {
                    p += 1;
                }
                if p == n {
                    continue;
                }
                let p_prev = p - 1;
                if p < min_leaf || n - p < min_leaf {
                    continue;
                }
                while moved < p {
                    left[self.class_of[order[moved]]] += 1;
                    moved += 1;
                }
                let right: Vec<usize> = total.iter().zip(&left).map(|(t, l)| t - l).collect();
                let (nl, nr) = (p as f64, (n - p) as f64);
                let proxy = -nr * gini(&right, nr) - nl * gini(&left, nl);
                if best.as_ref().is_none_or(|b| proxy > b.proxy) {
                    best = Some(Best {
                        feature: f,
                        threshold: v[p_prev] as f64 / 2.0 + v[p] as f64 / 2.0,
                        pos: p,
                        proxy,
                    });
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gini_of_counts() {
        assert!((gini(&[6, 2, 0], 8.0) - 0.375).abs() < 1e-15);
        assert_eq!(gini(&[5, 0], 5.0), 0.0);
    }

    #[test]
    fn equal_values_share_a_side() {
        // Two samples at 1.0 with different classes: the only thresholds are 0.5 and 1.5.
        let x = array![[0.0], [1.0], [1.0], [2.0]];
        let y = array![0usize, 0, 1, 1];
        let t = DecisionTree::fit(x.view(), y.view(), &TreeParams::default()).unwrap();
        let s = t.nodes()[0].split.as_ref().unwrap();
        assert!(s.threshold == 0.5 || s.threshold == 1.5, "{}", s.threshold);
    }
}
