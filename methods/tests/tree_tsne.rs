//! methods::tree (CART, Gini) against sklearn DecisionTreeClassifier and methods::tsne
//! (exact t-SNE) against sklearn TSNE(method="exact"); fixture written by
//! scripts/method_fixtures/tree_tsne.py.
mod fixture;

use fixture::{arr2, assert_close, cases, max_abs_diff, num, usizes, vec1};
use methods::tree::{DecisionTree, TreeParams};
use methods::tsne::{joint_probabilities, kl_divergence, pca_init, tsne, TsneParams};
use ndarray::{array, Array1, Array2};
use serde_json::Value;

const TREE_CASES: [&str; 3] = ["binary", "three_class", "stopping"];

fn labels(v: &Value) -> Array1<usize> {
    Array1::from(usizes(v))
}

fn params(c: &Value) -> TreeParams {
    TreeParams {
        max_depth: c["max_depth"].as_u64().map(|d| d as usize),
        min_samples_split: c["min_samples_split"].as_u64().unwrap() as usize,
        min_samples_leaf: c["min_samples_leaf"].as_u64().unwrap() as usize,
    }
}

fn fit(c: &Value) -> DecisionTree {
    DecisionTree::fit(arr2(&c["x"]).view(), labels(&c["y"]).view(), &params(c)).unwrap()
}

fn flat(a: &Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

// ------------------------------------------------------------------ decision tree

#[test]
fn tree_structure_matches_sklearn() {
    let all = cases("tree_tsne");
    for name in TREE_CASES {
        let c = &all[name];
        let t = fit(c);
        let nodes = t.nodes();
        let feature: Vec<i64> = c["feature"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(nodes.len(), feature.len(), "{name}: node count");
        let ours_feature: Vec<i64> = nodes
            .iter()
            .map(|n| n.split.as_ref().map_or(-1, |s| s.feature as i64))
            .collect();
        assert_eq!(ours_feature, feature, "{name}: split features");
        let ours_thr: Vec<f64> = nodes
            .iter()
            .map(|n| n.split.as_ref().map_or(0.0, |s| s.threshold))
            .collect();
        let d = max_abs_diff(&ours_thr, &vec1(&c["threshold"]));
        eprintln!("{name}: max threshold difference {d:e}");
        assert!(d <= 1e-12, "{name}: thresholds differ by {d}");
        let left: Vec<i64> = nodes
            .iter()
            .map(|n| n.split.as_ref().map_or(-1, |s| s.left as i64))
            .collect();
        let right: Vec<i64> = nodes
            .iter()
            .map(|n| n.split.as_ref().map_or(-1, |s| s.right as i64))
            .collect();
        let sk = |k: &str| -> Vec<i64> {
            c[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        };
        assert_eq!(left, sk("children_left"), "{name}: left children");
        assert_eq!(right, sk("children_right"), "{name}: right children");
        let samples: Vec<usize> = nodes.iter().map(|n| n.samples).collect();
        assert_eq!(
            samples,
            usizes(&c["n_node_samples"]),
            "{name}: node samples"
        );
        let imp: Vec<f64> = nodes.iter().map(|n| n.impurity).collect();
        let d = max_abs_diff(&imp, &vec1(&c["impurity"]));
        eprintln!("{name}: max impurity difference {d:e}");
        assert!(d <= 1e-12, "{name}: impurities differ by {d}");
        let value: Vec<f64> = nodes.iter().flat_map(|n| n.value.clone()).collect();
        let d = max_abs_diff(&value, &flat(&arr2(&c["value"])));
        assert!(d <= 1e-12, "{name}: node values differ by {d}");
        assert_eq!(
            t.classes(),
            usizes(&c["classes"]).as_slice(),
            "{name}: classes"
        );
    }
}

#[test]
fn tree_predictions_and_probabilities_match_sklearn() {
    let all = cases("tree_tsne");
    for name in TREE_CASES {
        let c = &all[name];
        let t = fit(c);
        let (x, xt) = (arr2(&c["x"]), arr2(&c["x_test"]));
        assert_eq!(
            t.predict(x.view()).unwrap(),
            usizes(&c["predict"]),
            "{name}: train"
        );
        assert_eq!(
            t.predict(xt.view()).unwrap(),
            usizes(&c["predict_test"]),
            "{name}: test"
        );
        assert_eq!(
            t.apply(xt.view()).unwrap(),
            usizes(&c["apply_test"]),
            "{name}: leaves"
        );
        let proba = t.predict_proba(xt.view()).unwrap();
        let d = max_abs_diff(&flat(&proba), &flat(&arr2(&c["proba_test"])));
        eprintln!("{name}: max probability difference {d:e}");
        assert!(d <= 1e-12, "{name}: probabilities differ by {d}");
        let acc = t.accuracy(x.view(), labels(&c["y"]).view()).unwrap();
        assert!(
            (acc - num(&c["score"])).abs() <= 1e-12,
            "{name}: train accuracy {acc}"
        );
        let acc = t.accuracy(xt.view(), labels(&c["y_test"]).view()).unwrap();
        assert!(
            (acc - num(&c["score_test"])).abs() <= 1e-12,
            "{name}: test accuracy {acc}"
        );
    }
}

#[test]
fn tree_importances_match_sklearn() {
    let all = cases("tree_tsne");
    for name in TREE_CASES {
        let c = &all[name];
        let t = fit(c);
        let imp = t.feature_importances().to_vec();
        let d = max_abs_diff(&imp, &vec1(&c["importances"]));
        eprintln!("{name}: max importance difference {d:e}");
        assert!(d <= 1e-12, "{name}: importances differ by {d}");
        assert!((imp.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{name}: sum");
        assert!(imp.iter().all(|&v| v >= 0.0), "{name}: negative importance");
        // Recomputed here from the node arrays: Σ over splits of the weighted decrease.
        let nodes = t.nodes();
        let mut by_hand = vec![0.0; t.n_features()];
        for n in nodes {
            if let Some(s) = &n.split {
                let (l, r) = (&nodes[s.left], &nodes[s.right]);
                by_hand[s.feature] += n.samples as f64 * n.impurity
                    - l.samples as f64 * l.impurity
                    - r.samples as f64 * r.impurity;
            }
        }
        let total: f64 = by_hand.iter().sum();
        by_hand.iter_mut().for_each(|v| *v /= total);
        assert!(max_abs_diff(&imp, &by_hand) < 1e-12, "{name}: by hand");
    }
}

#[test]
fn tree_depth_leaves_and_text_match_sklearn() {
    let all = cases("tree_tsne");
    for name in TREE_CASES {
        let c = &all[name];
        let t = fit(c);
        assert_eq!(
            t.depth(),
            c["depth"].as_u64().unwrap() as usize,
            "{name}: depth"
        );
        assert_eq!(
            t.n_leaves(),
            c["n_leaves"].as_u64().unwrap() as usize,
            "{name}: leaves"
        );
        let names: Vec<String> = (0..t.n_features()).map(|j| format!("f{j}")).collect();
        let text = t.export_text(Some(&names)).unwrap();
        assert_eq!(
            text,
            c["export_text"].as_str().unwrap(),
            "{name}: export_text"
        );
    }
    // Project 30's setting reaches the maximal depth.
    assert_eq!(fit(&all["binary"]).depth(), 4);
}

#[test]
fn tree_pure_nodes_are_leaves_and_leaves_have_a_reason() {
    let all = cases("tree_tsne");
    for name in TREE_CASES {
        let c = &all[name];
        let t = fit(c);
        let p = params(c);
        for (i, n) in t.nodes().iter().enumerate() {
            let pure = n.counts.iter().filter(|&&k| k > 0).count() == 1;
            if pure {
                assert!(n.is_leaf(), "{name}: pure node {i} was split");
                assert_eq!(n.impurity, 0.0);
            }
            if n.is_leaf() {
                let too_deep = p.max_depth.is_some_and(|m| n.depth >= m);
                let too_small =
                    n.samples < p.min_samples_split || n.samples < 2 * p.min_samples_leaf;
                // In these fixtures every impure, splittable node has a valid split.
                assert!(
                    pure || too_deep || too_small,
                    "{name}: leaf {i} without reason"
                );
            } else {
                let s = n.split.as_ref().unwrap();
                let (l, r) = (&t.nodes()[s.left], &t.nodes()[s.right]);
                assert_eq!(l.samples + r.samples, n.samples);
                assert!(l.samples >= p.min_samples_leaf && r.samples >= p.min_samples_leaf);
                assert_eq!(l.depth, n.depth + 1);
            }
        }
    }
}

#[test]
fn tree_separable_1d_needs_one_split_at_the_midpoint() {
    // Project 30's offline check: x < 0 -> 0, else 1.
    let xs = [-2.3, -1.1, -0.7, -0.05, 0.4, 0.9, 1.6, 2.2];
    let x = Array2::from_shape_vec((8, 1), xs.to_vec()).unwrap();
    let y = array![0usize, 0, 0, 0, 1, 1, 1, 1];
    let t = DecisionTree::fit(x.view(), y.view(), &TreeParams::max_depth(4)).unwrap();
    assert_eq!(t.nodes().len(), 3);
    let s = t.nodes()[0].split.as_ref().unwrap();
    // sklearn's threshold: the f64 midpoint of the float32 neighbours -0.05 and 0.4.
    let expected = (-0.05f32) as f64 / 2.0 + (0.4f32) as f64 / 2.0;
    assert_eq!(s.threshold, expected);
    assert_eq!(t.accuracy(x.view(), y.view()).unwrap(), 1.0);
    assert_eq!(t.feature_importances().to_vec(), vec![1.0]);
    let proba = t.predict_proba(array![[-0.06], [0.2]].view()).unwrap();
    assert_eq!(proba, array![[1.0, 0.0], [0.0, 1.0]]);
}

#[test]
fn tree_on_constant_features_predicts_the_majority() {
    // Project 30, layer 0: every [CLS] vector is the same.
    let x = Array2::from_elem((10, 3), 0.25);
    let y = array![1usize, 1, 0, 1, 1, 0, 1, 1, 1, 0];
    let t = DecisionTree::fit(x.view(), y.view(), &TreeParams::max_depth(4)).unwrap();
    assert_eq!(t.n_leaves(), 1);
    assert_eq!(t.depth(), 0);
    assert_eq!(t.predict(x.view()).unwrap(), vec![1; 10]);
    assert_eq!(t.feature_importances().to_vec(), vec![0.0; 3]);
    assert!((t.accuracy(x.view(), y.view()).unwrap() - 0.7).abs() < 1e-15);
}

#[test]
fn tree_bad_input_is_an_error() {
    let x = array![[0.0, 1.0], [1.0, f64::NAN], [2.0, 0.0], [3.0, 1.0]];
    let y = array![0usize, 0, 1, 1];
    let p = TreeParams::max_depth(4);
    let e = DecisionTree::fit(x.view(), y.view(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite") && e.contains("row 1"), "{e}");

    let x = array![[0.0], [1.0], [2.0]];
    let e = DecisionTree::fit(x.view(), array![3usize, 3, 3].view(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("two classes"), "{e}");

    let empty = Array2::<f64>::zeros((0, 3));
    let e = DecisionTree::fit(empty.view(), Array1::<usize>::zeros(0).view(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 2 samples"), "{e}");

    let no_cols = Array2::<f64>::zeros((4, 0));
    let e = DecisionTree::fit(no_cols.view(), y.view(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no feature"), "{e}");

    let e = DecisionTree::fit(x.view(), y.view(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 rows") && e.contains("4 entries"), "{e}");

    let bad = TreeParams {
        min_samples_leaf: 0,
        ..TreeParams::default()
    };
    let x4 = array![[0.0], [1.0], [2.0], [3.0]];
    let e = DecisionTree::fit(x4.view(), y.view(), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("min_samples_leaf"), "{e}");

    let huge = array![[0.0], [1e300], [2.0], [3.0]];
    let e = DecisionTree::fit(huge.view(), y.view(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("float32"), "{e}");

    let t = DecisionTree::fit(x4.view(), y.view(), &p).unwrap();
    let e = t
        .predict(array![[0.0, 1.0]].view())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 feature columns") && e.contains("fitted on 1"),
        "{e}"
    );
    let e = t
        .predict(array![[f64::INFINITY]].view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
}

// ------------------------------------------------------------------ t-SNE

fn tsne_case() -> Value {
    cases("tree_tsne")["tsne"].clone()
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (rank, &i) in idx.iter().enumerate() {
            r[i] = rank as f64;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let m = (a.len() as f64 - 1.0) / 2.0;
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - m) * (y - m)).sum();
    let var: f64 = ra.iter().map(|x| (x - m) * (x - m)).sum();
    cov / var
}

fn pdist(e: &Array2<f64>) -> Vec<f64> {
    let n = e.nrows();
    let mut out = Vec::new();
    for i in 0..n {
        for j in (i + 1)..n {
            let d: f64 = e
                .row(i)
                .iter()
                .zip(e.row(j).iter())
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            out.push(d.sqrt());
        }
    }
    out
}

#[test]
fn tsne_joint_probabilities_match_sklearn() {
    let c = tsne_case();
    let x = arr2(&c["x"]);
    for (perp, key) in [(4.0, "p"), (2.5, "p_perplexity_2_5")] {
        let p = joint_probabilities(x.view(), perp).unwrap();
        let d = max_abs_diff(&flat(&p), &flat(&arr2(&c[key])));
        eprintln!("perplexity {perp}: max P difference {d:e}");
        assert!(d <= 1e-8, "perplexity {perp}: P differs by {d}");
        assert!((p.sum() - 1.0).abs() < 1e-12);
        assert!(
            max_abs_diff(&flat(&p), &flat(&p.t().to_owned())) == 0.0,
            "symmetric"
        );
    }
}

#[test]
fn tsne_kl_divergence_and_gradient_match_sklearn() {
    let c = tsne_case();
    let p = arr2(&c["p"]);
    let (kl, grad) = kl_divergence(p.view(), arr2(&c["y_fixed"]).view()).unwrap();
    let kl_ref = num(&c["kl_fixed"]);
    let dg = max_abs_diff(&flat(&grad), &flat(&arr2(&c["grad_fixed"])));
    eprintln!(
        "KL difference {:e}, max gradient difference {dg:e}",
        kl - kl_ref
    );
    assert!(
        (kl - kl_ref).abs() <= 1e-12 * kl_ref.abs(),
        "KL {kl} vs {kl_ref}"
    );
    assert_close(
        &flat(&grad),
        &flat(&arr2(&c["grad_fixed"])),
        1e-14,
        1e-10,
        "gradient",
    );
}

#[test]
fn tsne_first_iterations_match_sklearn() {
    // Project 42's settings (learning rate auto = 50), 10 early-exaggeration iterations.
    let c = tsne_case();
    let x = arr2(&c["x"]);
    let params = TsneParams {
        max_iter: 10,
        ..TsneParams::perplexity(4.0)
    };
    let r = tsne(x.view(), &params, Some(arr2(&c["init"]).view())).unwrap();
    assert_eq!(r.learning_rate, 50.0);
    assert_eq!(r.n_iter, c["iter10_it"].as_u64().unwrap() as usize);
    let reference = arr2(&c["iter10_embedding"]);
    let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let d = max_abs_diff(&flat(&r.embedding), &flat(&reference));
    eprintln!("after 10 iterations: max difference {d:e} on a scale of {scale}");
    assert!(
        d <= 1e-9 * scale,
        "embedding after 10 iterations differs by {d} (scale {scale})"
    );
    let kl_ref = num(&c["iter10_kl"]);
    assert!(
        (r.kl_divergence - kl_ref).abs() <= 1e-9 * kl_ref,
        "KL {}",
        r.kl_divergence
    );
}

#[test]
fn tsne_stable_run_matches_sklearn() {
    // learning_rate 0.1: 1000 iterations where a 1e-12 change of the init moves sklearn's
    // own result by ~3e-10 (stored in the fixture), so whole runs can be compared.
    let c = tsne_case();
    let x = arr2(&c["x"]);
    let params = TsneParams {
        learning_rate: Some(num(&c["stable_learning_rate"])),
        ..TsneParams::perplexity(4.0)
    };
    let r = tsne(x.view(), &params, Some(arr2(&c["init"]).view())).unwrap();
    assert_eq!(r.n_iter, c["stable_n_iter"].as_u64().unwrap() as usize);
    let d = max_abs_diff(&flat(&r.embedding), &flat(&arr2(&c["stable_embedding"])));
    let kl_ref = num(&c["stable_kl"]);
    eprintln!(
        "stable run: max embedding difference {d:e}, KL difference {:e}",
        r.kl_divergence - kl_ref
    );
    assert!(d <= 1e-4, "embedding differs by {d}");
    assert!(
        (r.kl_divergence - kl_ref).abs() <= 1e-8,
        "KL {} vs {kl_ref}",
        r.kl_divergence
    );
}

#[test]
fn tsne_default_run_lies_in_sklearns_spread() {
    // Project 42's settings are chaotic for N = 17 (see the fixture script), so the final
    // embedding is compared with what sklearn itself produces from nearly the same init.
    let c = tsne_case();
    let x = arr2(&c["x"]);
    let r = tsne(
        x.view(),
        &TsneParams::perplexity(4.0),
        Some(arr2(&c["init"]).view()),
    )
    .unwrap();
    assert_eq!(r.embedding.dim(), (17, 2));
    assert_eq!(r.learning_rate, num(&c["default_learning_rate"]));
    assert_eq!(r.n_iter, c["default_n_iter"].as_u64().unwrap() as usize);
    let kls = vec1(&c["default_kl_perturbed"]);
    let (lo, hi) = kls
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(
        r.kl_divergence >= lo / 2.0 && r.kl_divergence <= hi * 2.0,
        "KL {} outside sklearn's spread [{lo}, {hi}] (halved/doubled)",
        r.kl_divergence
    );
    // Far below the KL of the starting point: the optimisation did its job.
    let (kl0, _) = kl_divergence(r.p.view(), arr2(&c["init"]).view()).unwrap();
    assert!(
        r.kl_divergence < kl0 / 10.0,
        "KL {} vs start {kl0}",
        r.kl_divergence
    );
    // Each point's nearest neighbour in the map is from its own cluster, as in sklearn's.
    let lab = usizes(&c["labels"]);
    for e in [&r.embedding, &arr2(&c["default_embedding"])] {
        for i in 0..17 {
            let nn = (0..17)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    let da = (&e.row(i) - &e.row(a)).mapv(|v| v * v).sum();
                    let db = (&e.row(i) - &e.row(b)).mapv(|v| v * v).sum();
                    da.total_cmp(&db)
                })
                .unwrap();
            assert_eq!(lab[nn], lab[i], "point {i}'s nearest neighbour {nn}");
        }
    }
    let rc = spearman(&pdist(&r.embedding), &pdist(&arr2(&c["default_embedding"])));
    let rcs = vec1(&c["default_rank_corr_perturbed"]);
    let rc_lo = rcs.iter().fold(1.0f64, |m, &v| m.min(v));
    eprintln!("default run: KL {} (sklearn {}, perturbed {lo}..{hi}), rank correlation {rc} (sklearn's own >= {rc_lo})", r.kl_divergence, num(&c["default_kl"]));
    assert!(
        rc >= rc_lo - 0.2,
        "distance rank correlation {rc} vs sklearn's own {rc_lo}"
    );
}

#[test]
fn tsne_pca_init_matches_sklearn() {
    let c = tsne_case();
    let x = arr2(&c["x"]);
    let init = pca_init(x.view(), 2).unwrap();
    // sklearn's init is float32: agreement to float32 rounding.
    let rel = flat(&init)
        .iter()
        .zip(flat(&arr2(&c["pca_init_f32"])))
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs() / b.abs()));
    eprintln!("PCA init: max relative difference {rel:e}");
    assert_close(
        &flat(&init),
        &flat(&arr2(&c["pca_init_f32"])),
        1e-11,
        1e-6,
        "PCA init",
    );
    let col0 = init.column(0);
    let m = col0.mean().unwrap();
    let sd = (col0.mapv(|v| (v - m) * (v - m)).sum() / 17.0).sqrt();
    assert!((sd - 1e-4).abs() < 1e-16, "std of the first column {sd}");
    // Without an init, tsne starts from this one.
    let params = TsneParams {
        max_iter: 3,
        ..TsneParams::perplexity(4.0)
    };
    let a = tsne(x.view(), &params, None).unwrap();
    let b = tsne(x.view(), &params, Some(init.view())).unwrap();
    assert_eq!(a.embedding, b.embedding);
}

#[test]
fn tsne_bad_input_is_an_error() {
    let c = tsne_case();
    let x = arr2(&c["x"]);
    let p4 = TsneParams::perplexity(4.0);

    let mut bad = x.clone();
    bad[[3, 7]] = f64::NAN;
    let e = tsne(bad.view(), &p4, None).unwrap_err().to_string();
    assert!(e.contains("non-finite") && e.contains("row 3"), "{e}");

    let e = tsne(x.view(), &TsneParams::perplexity(17.0), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("perplexity") && e.contains("17"), "{e}");
    let e = tsne(x.view(), &TsneParams::perplexity(0.0), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("perplexity"), "{e}");

    let empty = Array2::<f64>::zeros((0, 5));
    let e = tsne(empty.view(), &p4, None).unwrap_err().to_string();
    assert!(e.contains("at least 2"), "{e}");

    let wrong = Array2::<f64>::zeros((16, 2));
    let e = tsne(x.view(), &p4, Some(wrong.view()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("initial embedding") && e.contains("17"), "{e}");

    let same = Array2::<f64>::ones((6, 4));
    let e = tsne(same.view(), &TsneParams::perplexity(2.0), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("identical"), "{e}");

    let lr0 = TsneParams {
        learning_rate: Some(0.0),
        ..p4.clone()
    };
    let e = tsne(x.view(), &lr0, None).unwrap_err().to_string();
    assert!(e.contains("learning_rate"), "{e}");

    let e = kl_divergence(arr2(&c["p"]).view(), Array2::<f64>::zeros((5, 2)).view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 rows"), "{e}");
}
