//! Project 47's offline checks. The --quick run (the tiny random GPT-2, the project's own
//! text, 40 windows per class) is compared with references that do not come from the
//! program: transformers/torch and the xgboost Python package (`fixtures/reference.json`,
//! written by `scripts/make_fixture.py`: the tokens and " that" categories of the text, the
//! `transformer.h[L].mlp.act` outputs, the spec's ablation hook, the hand-built tree),
//! closed forms (the hand-computed gain and leaves, 25 % of each class), and the spec's
//! id lists. Checks 2, 3, 4 and 6 are also unit-tested in `src/probe.rs` and `src/that.rs`.

use common::testing::{read_csv, run_project, ProjectRun};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project47_xgboost_probing");
const THAT: u64 = 326;
const POST_COMP: [u64; 14] = [
    339, 673, 340, 484, 356, 314, 345, 262, 257, 281, 428, 326, 777, 883,
];
const POST_DP: [u64; 17] = [
    318, 373, 389, 547, 468, 423, 550, 466, 750, 857, 2499, 3022, 22523, 6067, 5419, 10143, 3421,
];
const BATCH: usize = 40;

fn reference() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/reference.json")).expect("reference.json")
    })
}

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| run_project(BIN, &["--quick", "--device", "cpu"]).unwrap())
}

fn value(prefix: &str) -> f64 {
    run().summary_value(prefix).unwrap()
}

fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(name)).unwrap()
}

fn col<'a>(h: &[String], rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let j = h
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("{name} in {h:?}"));
    rows.iter().map(|r| r[j].as_str()).collect()
}

fn ints(s: &str) -> Vec<u64> {
    s.split_whitespace().map(|v| v.parse().unwrap()).collect()
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1_data",
        "part1_importance",
        "part3a",
        "part3b",
        "part4",
        "part5",
        "part6a",
        "part6b",
    ] {
        run().check_figure(&format!("ch7_proj47_{f}")).unwrap();
    }
}

/// Offline check 1: the toy probe beats 62 % (Bayes limit Φ(0.71) ≈ 76 %, printed from
/// the closed form), and with both classes from one distribution it is at 50 ± 8 %.
#[test]
fn check1_toy_accuracy() {
    let te = value("check 1: toy test accuracy ");
    assert!(te > 62.0 && te <= 100.0, "{te}");
    let bayes = value("Bayes-optimal accuracy Phi(sqrt(sum mu^2)/2): ");
    assert!((bayes - 76.0).abs() < 0.05, "{bayes}");
    let ctrl = value("check 1: same-distribution control test accuracy ");
    assert!((ctrl - 50.0).abs() <= 8.0, "{ctrl}");
    // gains for the ten features, largest at the ends (f0/f9) on this seed's data
    let (h, rows) = table("part1_gain.csv");
    assert_eq!(rows.len(), 10);
    let g: Vec<f64> = col(&h, &rows, "gain")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let middle = g[4].max(g[5]);
    assert!(g[0] > middle && g[9] > middle, "{g:?}");
}

/// Offline check 2: the first tree on the hand-built data, against the hand computation
/// (T(12) = 7, T(−4) = 0, T(8) = 3 with α = λ = 5; XGBoost reports the gain without ½)
/// and against the xgboost Python package; α = 100 gives no split and a leaf of 0.
#[test]
fn check2_hand_built_tree() {
    let want_gain = 49.0 / 11.0 - 9.0 / 13.0;
    let want_leaf = -0.05 * 7.0 / 11.0;
    let py = &reference()["hand_alpha5"];
    assert_eq!(py["split"][0].as_str(), Some("f0"));
    assert!((py["split"][2].as_f64().unwrap() - want_gain).abs() < 1e-6);
    assert!((py["leaves"][0].as_f64().unwrap() - want_leaf).abs() < 1e-8);
    let line = run().summary_line("check 2: hand-built data").unwrap();
    let split = format!("split f0 < {}, gain ", py["split"][1].as_f64().unwrap());
    assert!(line.contains(&split), "{line}");
    let gain = value(&line[..line.find(&split).unwrap() + split.len()]);
    assert!((gain - want_gain).abs() < 1e-5, "{gain}");
    assert!(
        line.contains(&format!("leaves [{want_leaf:.6}, 0.000000]")),
        "{line}"
    );
    assert_eq!(reference()["hand_alpha100"]["split"], Value::Null);
    assert_eq!(
        run().summary_line("check 2: alpha = 100").unwrap(),
        "check 2: alpha = 100 > |G|: split none, leaves [0.000000]"
    );
}

/// Offline check 3: only used neurons are listed, with gains > 0, and the zeroed
/// (constant) neurons of Part 6 are never used again.
#[test]
fn check3_gain_importance() {
    let (h, rows) = table("part4_gain.csv");
    assert!(!rows.is_empty());
    let n_used = value("important (used) neurons: ");
    assert_eq!(rows.len() as f64, n_used);
    assert!(rows.len() <= 300, "at most 100 trees x 3 splits");
    for (f, g) in col(&h, &rows, "feature").iter().zip(col(&h, &rows, "gain")) {
        assert!(g.parse::<f64>().unwrap() > 0.0, "{f} {g}");
    }
    let (h5, r5) = table("part5_layers.csv");
    let (h6, r6) = table("part6_layers.csv");
    assert_eq!(r5.len(), 3);
    assert_eq!(r6.len(), 3);
    let before = col(&h5, &r5, "important_neurons");
    let after = col(&h6, &r6, "important_after");
    for l in 0..3 {
        let b: HashSet<u64> = ints(before[l]).into_iter().collect();
        let a = ints(after[l]);
        assert!(!b.is_empty() && !a.is_empty(), "layer {l}");
        assert!(
            a.iter().all(|v| !b.contains(v)),
            "layer {l}: {a:?} vs {b:?}"
        );
        assert!(a.iter().all(|&v| v < 64));
    }
    assert_eq!(
        value("check 3: ablated (constant 0) neurons used again by the new probes: "),
        0.0
    );
}

/// Offline check 4: tokens and category counts as transformers' tokenizer and a Python
/// loop find them; every sampled window has 6 tokens, ends in 326, is followed by a token
/// of its class, and no position is drawn twice.
#[test]
fn check4_categories_and_windows() {
    let r = reference();
    assert_eq!(value("tokens: "), r["n_tokens"].as_f64().unwrap());
    assert_eq!(
        value("complementizer: "),
        r["counts"]["complementizer"].as_f64().unwrap()
    );
    assert_eq!(
        value("demonstrative pronoun (discarded): "),
        r["counts"]["pronoun"].as_f64().unwrap()
    );
    assert_eq!(
        value("demonstrative determiner: "),
        r["counts"]["determiner"].as_f64().unwrap()
    );
    let (h, rows) = table("part2_batches.csv");
    assert_eq!(rows.len(), 2 * BATCH);
    let labels = col(&h, &rows, "label");
    let ids = col(&h, &rows, "ids");
    let next = col(&h, &rows, "next_id");
    let pos = col(&h, &rows, "position");
    for k in 0..rows.len() {
        let w = ints(ids[k]);
        assert_eq!(w.len(), 6);
        assert_eq!(w[5], THAT);
        let n: u64 = next[k].parse().unwrap();
        assert!(!POST_DP.contains(&n));
        assert_eq!(labels[k] == "1", POST_COMP.contains(&n), "row {k}");
    }
    assert_eq!(labels.iter().filter(|&&l| l == "0").count(), BATCH);
    let distinct: HashSet<&str> = pos.iter().copied().collect();
    assert_eq!(distinct.len(), 2 * BATCH);
}

/// Offline check 5: the ablation hook with no neurons changes nothing; with neurons
/// [1, 5, 9] at layer 2 the hooked activations are 0 there, the rest and the earlier
/// logits are unchanged, and the last-position logit change equals transformers' (the
/// spec's forward hook on mlp.act); the clean mlp.hook_post equals the mlp.act output.
#[test]
fn check5_ablation_hook() {
    let r = reference();
    let window: Vec<String> = r["window"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        run().summary_line("window: ").unwrap(),
        format!("window: {}", window.join(" "))
    );
    assert_eq!(
        value(
            "check 5: empty neuron list: Frobenius norm of the last-position logit difference = "
        ),
        0.0
    );
    assert_eq!(
        value("check 5: neurons [1, 5, 9]: max |hooked activation| there at the last position = "),
        0.0
    );
    assert_eq!(
        value("check 5: max |Δ activation| at the other neurons of the last position = "),
        0.0
    );
    assert_eq!(
        value("check 5: max |Δ activation| at earlier positions = "),
        0.0
    );
    assert_eq!(
        value("check 5: max |Δ logits| at earlier positions = "),
        0.0
    );
    assert_eq!(r["ablation_earlier_max"].as_f64(), Some(0.0));
    let norm = value("check 5: Frobenius norm of the last-position logit difference = ");
    let want = r["ablation_frobenius"].as_f64().unwrap();
    assert!((norm - want).abs() < 1e-4 * want, "{norm} vs {want}");
    assert_eq!(
        run().summary_line("check 5: Part 6 runs: ").unwrap(),
        "check 5: Part 6 runs: max |hooked activation| at the ablated neurons = 0, max |Δ \
         activation| elsewhere = 0"
    );
    let (h, rows) = table("check5_clean_last_activations.csv");
    let layer = col(&h, &rows, "layer");
    let neuron = col(&h, &rows, "neuron");
    let val = col(&h, &rows, "value");
    assert_eq!(rows.len(), 3 * 64);
    for k in 0..rows.len() {
        let (l, j): (usize, usize) = (layer[k].parse().unwrap(), neuron[k].parse().unwrap());
        let want = r["mlp_act_last"][l][j].as_f64().unwrap();
        let got: f64 = val[k].parse().unwrap();
        assert!(
            (got - want).abs() < 1e-5,
            "layer {l} neuron {j}: {got} vs {want}"
        );
    }
    // Part 6's norms are finite and non-zero for every layer
    let (h6, r6) = table("part6_layers.csv");
    for c in ["norm_detr", "norm_comp"] {
        for v in col(&h6, &r6, c) {
            let v: f64 = v.parse().unwrap();
            assert!(v.is_finite() && v > 0.0, "{c} {v}");
        }
    }
}

/// Offline check 6: 25 % of each class in every test set: n = 80 gives 10 + 10.
#[test]
fn check6_stratified_split() {
    let n = 2 * BATCH;
    let n_test = (0.25 * n as f64).ceil() as usize;
    assert_eq!(
        run().summary_line("check 6: ").unwrap(),
        format!(
            "check 6: test set {} determiner + {} complementizer of {n} (25% of each class: {})",
            n_test / 2,
            n_test / 2,
            n_test / 2
        )
    );
    // Part 1's split of 1000: 750/250
    assert_eq!(
        run().summary_line("X (1000, 10)").unwrap(),
        "X (1000, 10), y: 500 x 0 and 500 x 1; train 750 / test 250 (stratified 75/25)"
    );
}

/// Parts 4–6: accuracies are fractions, train above chance, one row per layer.
#[test]
fn parts_4_to_6_tables() {
    let (h, rows) = table("part5_layers.csv");
    for c in ["train_acc", "test_acc"] {
        for v in col(&h, &rows, c) {
            let v: f64 = v.parse().unwrap();
            // 20 test rows: accuracy is a multiple of 1/20
            assert!((0.0..=1.0).contains(&v), "{c} {v}");
        }
    }
    for v in col(&h, &rows, "test_acc") {
        let v: f64 = v.parse().unwrap();
        assert!((v * 20.0 - (v * 20.0).round()).abs() < 1e-9, "{v}");
    }
    let n_imp: Vec<usize> = col(&h, &rows, "n_important")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let lists = col(&h, &rows, "important_neurons");
    for (n, l) in n_imp.iter().zip(lists) {
        assert_eq!(*n, ints(l).len());
    }
}
