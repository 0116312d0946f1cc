mod fixture;

use std::sync::Arc;

use fixture::{arr2, cases, max_abs_diff, num, usizes, vec1};
use methods::xgboost::{
    default_lib_path, Booster, DMatrix, Importance, XgbClassifier, XgbLib, XgbParams,
};
use ndarray::{array, s, Array1, Array2, Axis};
use serde_json::Value;

/// The library `./scripts/setup.sh` installs. Missing, the test fails with the setup
/// message: it never passes silently.
fn lib() -> Arc<XgbLib> {
    XgbLib::load().unwrap_or_else(|e| panic!("{e:#}"))
}

fn params_from(v: &Value, rounds: usize) -> XgbParams {
    let f = |k: &str| num(&v[k]);
    let st = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("param {k}"))
            .to_string()
    };
    XgbParams {
        objective: st("objective"),
        num_class: None,
        n_estimators: rounds,
        max_depth: f("max_depth") as usize,
        learning_rate: f("eta"),
        subsample: f("subsample"),
        colsample_bytree: f("colsample_bytree"),
        reg_lambda: f("reg_lambda"),
        reg_alpha: f("reg_alpha"),
        gamma: f("gamma"),
        min_child_weight: f("min_child_weight"),
        max_bin: f("max_bin") as usize,
        tree_method: st("tree_method"),
        eval_metric: Some(st("eval_metric")),
        seed: f("seed") as u64,
        nthread: f("nthread") as usize,
        extra: Vec::new(),
    }
}

struct Data {
    x_train: Array2<f64>,
    y_train: Vec<usize>,
    x_test: Array2<f64>,
    y_test: Vec<usize>,
}

fn data(ablated: bool) -> Data {
    let d = &cases("xgboost")["data"];
    let mut x = arr2(&d["x"]);
    if ablated {
        let col = d["ablated_column"].as_u64().unwrap() as usize;
        x.column_mut(col).fill(0.0);
    }
    let y: Vec<usize> = vec1(&d["y"]).iter().map(|&v| v as usize).collect();
    let (train, test) = (usizes(&d["train"]), usizes(&d["test"]));
    Data {
        x_train: x.select(Axis(0), &train),
        y_train: train.iter().map(|&i| y[i]).collect(),
        x_test: x.select(Axis(0), &test),
        y_test: test.iter().map(|&i| y[i]).collect(),
    }
}

fn compare_case(name: &str, ablated: bool) {
    let c = &cases("xgboost")[name];
    let params = params_from(&c["params"], c["rounds"].as_u64().unwrap() as usize);
    let d = data(ablated);
    let clf = XgbClassifier::fit_with(&lib(), d.x_train.view(), &d.y_train, &params).unwrap();
    assert_eq!(
        clf.booster().boosted_rounds().unwrap(),
        c["n_trees"].as_u64().unwrap() as usize
    );

    let p = clf.predict_proba(d.x_test.view()).unwrap();
    let diff_p = max_abs_diff(p.as_slice().unwrap(), &vec1(&c["p_test"]));
    let m = clf.predict_margin(d.x_test.view()).unwrap();
    let diff_m = max_abs_diff(m.as_slice().unwrap(), &vec1(&c["margin_test"]));
    println!("{name}: max |dp| = {diff_p:e}, max |dmargin| = {diff_m:e}");
    assert!(diff_p <= 1e-6, "{name}: probabilities differ by {diff_p}");
    assert!(diff_m <= 1e-6, "{name}: margins differ by {diff_m}");
    // and they are the same float32 numbers (Python's predict returns float32 too)
    let same_f32 =
        |a: &Array1<f64>, b: Vec<f64>| a.iter().zip(&b).all(|(x, y)| *x as f32 == *y as f32);
    assert!(
        same_f32(&p, vec1(&c["p_test"])),
        "{name}: probabilities are not the same float32"
    );
    assert!(
        same_f32(&m, vec1(&c["margin_test"])),
        "{name}: margins are not the same float32"
    );
    assert_eq!(
        clf.accuracy(d.x_train.view(), &d.y_train).unwrap(),
        num(&c["acc_train"])
    );
    assert_eq!(
        clf.accuracy(d.x_test.view(), &d.y_test).unwrap(),
        num(&c["acc_test"])
    );

    for (kind, key) in [
        (Importance::Weight, "weight"),
        (Importance::Gain, "gain"),
        (Importance::Cover, "cover"),
        (Importance::TotalGain, "total_gain"),
        (Importance::TotalCover, "total_cover"),
    ] {
        let ours = clf.importance(kind).unwrap();
        let r = &c["importance"][key];
        let mut reference: Vec<(usize, f64)> = usizes(&r["features"])
            .into_iter()
            .zip(vec1(&r["scores"]))
            .collect();
        reference.sort_by_key(|&(i, _)| i);
        // Both are XGBoost's float32 scores, widened: identical, not just close.
        assert_eq!(ours, reference, "{name}: {key} importance");
        assert!(
            ours.iter().all(|&(_, s)| s > 0.0),
            "{name}: {key} has a zero score"
        );
    }
}

#[test]
fn library_is_the_fixture_version() {
    let lib = lib();
    let meta = serde_json::from_str::<Value>(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../assets/fixtures/methods/xgboost.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let want = meta["meta"]["versions"]["xgboost"]
        .as_str()
        .unwrap()
        .to_string();
    let (a, b, c) = lib.version();
    assert_eq!(
        format!("{a}.{b}.{c}"),
        want,
        "libxgboost at {} is not the fixture's version",
        lib.path().display()
    );
}

#[test]
fn p47_part1_hist_matches_xgb_train() {
    compare_case("toy_hist", false);
}

#[test]
fn p47_part4_l1_l2_matches_xgb_train_and_skips_constant_feature() {
    compare_case("l1l2_hist", true);
    let d = data(true);
    let c = &cases("xgboost")["l1l2_hist"];
    let params = params_from(&c["params"], 100);
    let clf = XgbClassifier::fit_with(&lib(), d.x_train.view(), &d.y_train, &params).unwrap();
    let used: Vec<usize> = clf
        .importance(Importance::Gain)
        .unwrap()
        .iter()
        .map(|&(i, _)| i)
        .collect();
    let col = cases("xgboost")["data"]["ablated_column"].as_u64().unwrap() as usize;
    assert!(
        !used.contains(&col),
        "the all-zero feature {col} was used: {used:?}"
    );
    assert_eq!(used.len(), 9, "{used:?}");
}

#[test]
fn exact_tree_method_matches_xgb_train() {
    compare_case("toy_exact", false);
}

#[test]
fn hist_trees_do_not_depend_on_thread_count() {
    let c = &cases("xgboost")["toy_hist"];
    let params = XgbParams {
        nthread: 2,
        ..params_from(&c["params"], 100)
    };
    let d = data(false);
    let clf = XgbClassifier::fit_with(&lib(), d.x_train.view(), &d.y_train, &params).unwrap();
    let p = clf.predict_proba(d.x_test.view()).unwrap();
    assert!(max_abs_diff(p.as_slice().unwrap(), &vec1(&c["p_test"])) <= 1e-6);
}

#[test]
fn default_params_are_the_spec_ones() {
    let p = XgbParams::default();
    assert_eq!(
        (p.n_estimators, p.max_depth, p.learning_rate),
        (100, 2, 0.05)
    );
    assert_eq!((p.subsample, p.colsample_bytree), (0.8, 0.8));
    assert_eq!(
        (p.reg_lambda, p.reg_alpha, p.gamma, p.min_child_weight),
        (1.0, 0.0, 0.0, 1.0)
    );
    assert_eq!(
        (p.objective.as_str(), p.tree_method.as_str()),
        ("binary:logistic", "hist")
    );
    assert_eq!(p.eval_metric.as_deref(), Some("logloss"));
    // and they are what the fixture's Part 1 case used
    let c = &cases("xgboost")["toy_hist"];
    assert_eq!(
        XgbParams {
            nthread: 0,
            ..params_from(&c["params"], 100)
        },
        p
    );
}

/// One round, eta 1, no subsampling, base score 0.5 (margin 0): the first tree's split,
/// gain and leaves follow from g = p − y = ±0.5 and h = p(1−p) = 0.25 by hand.
fn one_tree(y: &[f64], alpha: f64, lambda: f64, gamma: f64) -> (Value, Array1<f64>) {
    let lib = lib();
    let x: Array2<f64> = Array2::from_shape_fn((8, 1), |(i, _)| i as f64);
    let y = Array1::from(y.to_vec());
    let d = DMatrix::new(&lib, x.view(), Some(y.view())).unwrap();
    let params = XgbParams {
        n_estimators: 1,
        learning_rate: 1.0,
        subsample: 1.0,
        colsample_bytree: 1.0,
        reg_alpha: alpha,
        reg_lambda: lambda,
        gamma,
        extra: vec![("base_score".into(), "0.5".into())],
        ..XgbParams::default()
    };
    let b = Booster::train(&d, &params).unwrap();
    let dump = b.dump_json(true).unwrap();
    assert_eq!(dump.len(), 1);
    let tree: Value = serde_json::from_str(&dump[0]).unwrap();
    let margin = b.predict(&d, true).unwrap().column(0).to_owned();
    (tree, margin)
}

#[test]
fn first_tree_gain_and_leaves_match_hand_computation() {
    // y = 0,0,0,0,1,1,1,1. Split 4|4: G_L = 2, G_R = −2, H_L = H_R = 1 (= min_child_weight).
    // alpha 0.5, lambda 1: T(±2) = ±1.5; XGBoost's gain (no ½) = 1.5²/2 + 1.5²/2 − 0 = 2.25;
    // leaves −T(G)/(H+λ) = ∓0.75. Deeper splits would leave a child with H < 1.
    let (tree, margin) = one_tree(&[0., 0., 0., 0., 1., 1., 1., 1.], 0.5, 1.0, 0.0);
    assert_eq!(tree["split"], "f0", "{tree}");
    assert!((num(&tree["gain"]) - 2.25).abs() < 1e-6, "{tree}");
    let kids = tree["children"].as_array().unwrap();
    let leaves: Vec<f64> = kids.iter().map(|k| num(&k["leaf"])).collect();
    let covers: Vec<f64> = kids.iter().map(|k| num(&k["cover"])).collect();
    assert_eq!(covers, vec![1.0, 1.0], "{tree}");
    let mut sorted = leaves.clone();
    sorted.sort_by(f64::total_cmp);
    assert!(max_abs_diff(&sorted, &[-0.75, 0.75]) < 1e-6, "{tree}");
    let want = array![-0.75, -0.75, -0.75, -0.75, 0.75, 0.75, 0.75, 0.75];
    assert!(
        max_abs_diff(margin.as_slice().unwrap(), want.as_slice().unwrap()) < 1e-6,
        "{margin}"
    );
    // gamma prunes (gain 2.25 < 3: no split) but is not subtracted from the reported gain
    let balanced = [0., 0., 0., 0., 1., 1., 1., 1.];
    let (tree, _) = one_tree(&balanced, 0.5, 1.0, 0.5);
    assert!((num(&tree["gain"]) - 2.25).abs() < 1e-6, "{tree}");
    let (tree, _) = one_tree(&balanced, 0.5, 1.0, 3.0);
    assert!(
        tree.get("children").is_none(),
        "gamma 3 should prune the split: {tree}"
    );

    // y = 0×6, 1×2: G = 2, H = 2. With lambda 5, alpha 0 the 4|4 split (G_L = 2, G_R = 0)
    // gains 4/6 + 0 − 4/7 = 2/21 and the leaves are −2/6 and 0.
    let y = [0., 0., 0., 0., 0., 0., 1., 1.];
    let (tree, margin) = one_tree(&y, 0.0, 5.0, 0.0);
    assert!((num(&tree["gain"]) - 2.0 / 21.0).abs() < 1e-6, "{tree}");
    assert!(
        (margin[0] + 1.0 / 3.0).abs() < 1e-6 && margin[7].abs() < 1e-6,
        "{margin}"
    );
    // With alpha 5 > |G| every T(G) is 0: no split and a single leaf of weight 0.
    let (tree, margin) = one_tree(&y, 5.0, 5.0, 0.0);
    assert!(tree.get("children").is_none(), "a split was made: {tree}");
    assert_eq!(num(&tree["leaf"]), 0.0, "{tree}");
    assert!(margin.iter().all(|&m| m == 0.0), "{margin}");
}

#[test]
fn multiclass_softprob_gives_distributions() {
    let lib = lib();
    let d = data(false);
    // three classes from the first feature's tertiles
    let x = &d.x_train;
    let mut col: Vec<f64> = x.column(0).to_vec();
    col.sort_by(f64::total_cmp);
    let (t1, t2) = (col[col.len() / 3], col[2 * col.len() / 3]);
    let y: Array1<f64> = x.column(0).mapv(|v| {
        if v < t1 {
            0.0
        } else if v < t2 {
            1.0
        } else {
            2.0
        }
    });
    let dm = DMatrix::new(&lib, x.view(), Some(y.view())).unwrap();
    let params = XgbParams {
        objective: "multi:softprob".into(),
        num_class: Some(3),
        eval_metric: Some("mlogloss".into()),
        ..XgbParams::default()
    };
    let b = Booster::train(&dm, &params).unwrap();
    let p = b.predict(&dm, false).unwrap();
    assert_eq!(p.dim(), (x.nrows(), 3));
    for row in p.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5, "{row}");
    }
    let correct = p
        .rows()
        .into_iter()
        .zip(&y)
        .filter(|(r, &t)| {
            let arg = (0..3).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap();
            arg as f64 == t
        })
        .count();
    assert!(
        correct as f64 / y.len() as f64 > 0.9,
        "train accuracy {correct}/{}",
        y.len()
    );
}

fn err_of<T>(r: anyhow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

fn fit_err(params: XgbParams) -> String {
    let d = data(false);
    err_of(XgbClassifier::fit_with(
        &lib(),
        d.x_train.view(),
        &d.y_train,
        &params,
    ))
}

#[test]
fn unknown_parameter_name_is_xgboosts_error() {
    let e = fit_err(XgbParams {
        extra: vec![("max_dept".into(), "3".into())],
        ..XgbParams::default()
    });
    assert!(
        e.contains(r#"Parameters: { "max_dept" } are not used"#),
        "{e}"
    );
}

#[test]
fn bad_parameter_values_are_xgboosts_errors() {
    let e = fit_err(XgbParams {
        subsample: 1.5,
        ..XgbParams::default()
    });
    assert!(
        e.contains("value 1.5 for Parameter subsample exceed bound [0,1]"),
        "{e}"
    );
    let e = fit_err(XgbParams {
        tree_method: "zzz".into(),
        ..XgbParams::default()
    });
    assert!(e.contains("Invalid Input: 'zzz'"), "{e}");
    assert!(!e.contains("Stack trace"), "{e}");
    let e = fit_err(XgbParams {
        extra: vec![("max_depth".into(), "abc".into())],
        ..XgbParams::default()
    });
    assert!(
        e.contains("Invalid Parameter format for max_depth expect int but value='abc'"),
        "{e}"
    );
    let e = fit_err(XgbParams {
        n_estimators: 0,
        ..XgbParams::default()
    });
    assert!(e.contains("n_estimators"), "{e}");
    // a wrong objective is refused by XgbClassifier, and by XGBoost through Booster
    let e = fit_err(XgbParams {
        objective: "binary:nope".into(),
        ..XgbParams::default()
    });
    assert!(e.contains("binary:logistic"), "{e}");
    let d = data(false);
    let y: Array1<f64> = d.y_train.iter().map(|&c| c as f64).collect();
    let dm = DMatrix::new(&lib(), d.x_train.view(), Some(y.view())).unwrap();
    let objective = "binary:nope".to_string();
    let e = err_of(Booster::train(
        &dm,
        &XgbParams {
            objective,
            ..XgbParams::default()
        },
    ));
    assert!(
        e.contains("Unknown objective function: `binary:nope`"),
        "{e}"
    );
}

#[test]
fn label_outside_0_1_is_xgboosts_error() {
    let lib = lib();
    let x = array![[0.0], [1.0], [2.0], [3.0]];
    let y = array![0.0, 1.0, 2.0, 1.0];
    let d = DMatrix::new(&lib, x.view(), Some(y.view())).unwrap();
    let e = err_of(Booster::train(&d, &XgbParams::default()));
    assert!(e.contains("label must be in"), "{e}");
    assert!(e.contains("logistic regression"), "{e}");
}

#[test]
fn missing_library_says_how_to_install_it() {
    let path = std::path::Path::new("/nonexistent/.libxgboost/lib/libxgboost.so");
    let e = err_of(XgbLib::open(path));
    assert_eq!(
        e,
        "libxgboost.so not found at /nonexistent/.libxgboost/lib/libxgboost.so: run ./scripts/setup.sh \
         once (it installs the PyPI xgboost-cpu wheel into .venv), or set ML4LLM_XGBOOST_LIB"
    );
    // a file that is not a shared library
    let json = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/fixtures/methods/xgboost.json");
    let e = err_of(XgbLib::open(&json));
    assert!(e.contains("could not be loaded as a shared library"), "{e}");
    // the default path is the workspace's .libxgboost unless the variable overrides it
    if std::env::var_os("ML4LLM_XGBOOST_LIB").is_none() {
        assert!(default_lib_path().ends_with(".libxgboost/lib/libxgboost.so"));
    }
}

#[test]
fn nan_labels_and_features_are_refused() {
    let lib = lib();
    let x = array![[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]];
    let e = err_of(DMatrix::new(
        &lib,
        x.view(),
        Some(array![0.0, f64::NAN, 1.0].view()),
    ));
    assert!(
        e.contains("labels y holds a non-finite value (NaN) at index 1"),
        "{e}"
    );
    let mut bad = x.clone();
    bad[[2, 1]] = f64::NAN;
    let e = err_of(DMatrix::new(
        &lib,
        bad.view(),
        Some(array![0.0, 1.0, 1.0].view()),
    ));
    assert!(e.contains("row 2, column 1"), "{e}");
    let e = err_of(DMatrix::new(&lib, x.view(), Some(array![0.0, 1.0].view())));
    assert!(e.contains("3 rows but the target has 2"), "{e}");
}

#[test]
fn classifier_input_errors() {
    let d = data(false);
    let p = XgbParams::default();
    let e = err_of(XgbClassifier::fit_with(
        &lib(),
        d.x_train.view(),
        &vec![1; d.y_train.len()],
        &p,
    ));
    assert!(e.contains("at least two classes"), "{e}");
    let y2: Vec<usize> = d.y_train.iter().map(|&c| c + 1).collect();
    let e = err_of(XgbClassifier::fit_with(&lib(), d.x_train.view(), &y2, &p));
    assert!(e.contains("labels 0 and 1"), "{e}");
    let clf = XgbClassifier::fit_with(&lib(), d.x_train.view(), &d.y_train, &p).unwrap();
    let e = err_of(clf.predict_proba(d.x_test.slice(s![.., ..5])));
    assert!(e.contains("trained on 10 features, x has 5"), "{e}");
}
