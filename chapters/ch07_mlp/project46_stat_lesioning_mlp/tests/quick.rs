//! Project 46's offline checks. The --quick run (tiny-bert, random weights, the 108
//! sentences and the test sentences with "platypus"/"plethora" standing in for
//! "him"/"her"; its layer 1 stands in for layers 9 and 23) is compared with references that
//! do not come from the program: transformers/torch/scipy on the same model and sentences
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py` with forward hooks on
//! `intermediate.dense`, scipy's `ttest_ind` and `false_discovery_control`, and ONE FULL
//! FORWARD PASS PER LESION), and the spec's token ids and mask positions for the real
//! uncased vocabulary. Offline checks 1 (padding), 4 (sign) and 5 (control sets) are also
//! unit-tested in `src/lesion.rs` on synthetic data.

use common::testing::{
    assert_close, figure_series, json_f64s, points, read_csv, run_project, FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project46_stat_lesioning_mlp");
/// Two float32 implementations of the same model agree to about 1e-6.
const TOL: f64 = 1e-5;

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

fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_i64().expect("an integer"))
        .collect()
}

/// A nested list flattened in order.
fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        x => vec![x.as_f64().expect("a number")],
    }
}

fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(name)).unwrap()
}

fn column(name: &str, col: &str) -> Vec<String> {
    run().column(name, col).unwrap()
}

fn fcolumn(name: &str, col: &str) -> Vec<f64> {
    run().f64_column(name, col).unwrap()
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn line(prefix: &str) -> String {
    run().summary_line(prefix).unwrap()
}

fn value(prefix: &str) -> f64 {
    run().summary_value(prefix).unwrap()
}

fn layer(l: usize) -> &'static Value {
    &reference()["layers"][l]
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part2", "part3", "part4", "part5", "part6", "part7a", "part7b",
    ] {
        run().check_figure(&format!("ch7_proj46_{f}")).unwrap();
    }
}

/// Offline check 1: the padded batch of 108, one target per sentence at the position the
/// reference tokenizer finds; with the real uncased vocabulary the spec's ids 2032/2014.
#[test]
fn check1_target_indexing() {
    let r = reference();
    let shape = i64s(&r["batch_shape"]);
    let lens = i64s(&r["lengths"]);
    assert!(
        lens.iter().min() < lens.iter().max(),
        "the batch must really be padded"
    );
    assert_eq!(
        line("check 1: "),
        format!(
            "check 1: batch [{}, {}] padded to the longest (lengths {}..{}); every sentence \
             holds exactly one target; the first half's is \"platypus\" and the second half's \
             \"plethora\": true",
            shape[0],
            shape[1],
            lens.iter().min().unwrap(),
            lens.iter().max().unwrap()
        )
    );
    let want: Vec<String> = i64s(&r["target_index"])
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert_eq!(want.len(), 108);
    assert_eq!(
        line("target_index: "),
        format!("target_index: {}", want.join(" "))
    );
    assert_eq!(
        line("target ids: "),
        format!(
            "target ids: \"platypus\" = {}, \"plethora\" = {}; 108 sentences (54 \"him\", then \
             the same 54 with \"her\")",
            r["ids"]["him"], r["ids"]["her"]
        )
    );
    // the real vocabulary: the spec's ids and mask positions
    let real = line("real vocabulary");
    for part in [
        "'him' = 2032, 'her' = 2014",
        "108 sentences",
        "108 with the right target at target_index",
        "mask_idx_her = 5, mask_idx_him = 11",
        "aligned with the clean sentence: true",
    ] {
        assert!(real.contains(part), "{part:?} not in {real:?}");
    }
}

/// Offline check 6: [MASK] at the index of 'her'/'him' in the clean sentence, equal lengths
/// (tiny vocabulary, against the reference tokenizer; the real one in check 1's test).
#[test]
fn check6_mask_positions() {
    let r = reference();
    assert_eq!(
        line("check 6: "),
        format!(
            "check 6: test sentences {} tokens each; mask_idx_her = {}, mask_idx_him = {}; \
             sentence 0 holds \"plethora\" at {} and \"platypus\" at {}: true",
            r["test_len"],
            r["mask_idx_her"],
            r["mask_idx_him"],
            r["mask_idx_her"],
            r["mask_idx_him"]
        )
    );
    let real = line("real vocabulary");
    let lens = real
        .split("test sentence lengths [")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    let lens: Vec<&str> = lens.split(", ").collect();
    assert_eq!(lens.len(), 3);
    assert!(lens.iter().all(|l| *l == lens[0]), "{lens:?}");
}

/// Parts 1–3: t, p and the "him"/"her" classes of every neuron of every layer equal
/// scipy's on transformers' intermediate.dense output.
#[test]
fn part3_ttests_match_scipy() {
    let n = reference()["n_layers"].as_u64().unwrap() as usize;
    let d = reference()["d_mlp"].as_u64().unwrap() as usize;
    let layers = column("part3_ttests.csv", "layer");
    let t = fcolumn("part3_ttests.csv", "t");
    let p = fcolumn("part3_ttests.csv", "p");
    let class = column("part3_ttests.csv", "class");
    assert_eq!(t.len(), n * d);
    for l in 0..n {
        let r = layer(l);
        let rows = l * d..(l + 1) * d;
        assert!(layers[rows.clone()].iter().all(|v| *v == l.to_string()));
        let rt = json_f64s(&r["t"]);
        let rel: Vec<f64> = rt.iter().map(|v| v * TOL * 10.0).collect();
        for (j, (a, b)) in t[rows.clone()].iter().zip(&rt).enumerate() {
            assert!(
                (a - b).abs() <= rel[j].abs() + TOL,
                "layer {l} neuron {j}: t {a} vs {b}"
            );
        }
        assert_close(&p[rows.clone()], &json_f64s(&r["p"]), 1e-6, "p values").unwrap();
        let (him, her) = (i64s(&r["him"]), i64s(&r["her"]));
        for j in 0..d {
            let want = if him.contains(&(j as i64)) {
                "him"
            } else if her.contains(&(j as i64)) {
                "her"
            } else {
                "nonsig"
            };
            assert_eq!(class[l * d + j], want, "layer {l} neuron {j}");
        }
        let pct = |k: usize| 100.0 * k as f64 / d as f64;
        assert_eq!(
            line(&format!("L{l}_him: ")),
            format!(
                "L{l}_him: {:4} neurons ({:5.1}%), L{l}_her: {:4} neurons ({:5.1}%)",
                him.len(),
                pct(him.len()),
                her.len(),
                pct(her.len())
            )
        );
        // the figure: her (yellow circles) and him (blue squares) percentages
        let s = series("ch7_proj46_part3");
        let panel = "Significant neurons per layer";
        assert_eq!(
            points(&s, panel, "\"her\" neurons")[l],
            (l as f64, pct(her.len()))
        );
        assert_eq!(
            points(&s, panel, "\"him\" neurons")[l],
            (l as f64, pct(him.len()))
        );
    }
    assert_eq!(
        line("expansion units per layer: "),
        format!("expansion units per layer: {d}")
    );
}

/// Part 2 (layer 1): t, p and BH-adjusted p against scipy; the scatter's three groups and
/// the pie's percentages.
#[test]
fn part2_one_layer() {
    let r = layer(1);
    let d = reference()["d_mlp"].as_u64().unwrap() as usize;
    assert_close(
        &fcolumn("part2_ttests.csv", "p"),
        &json_f64s(&r["p"]),
        1e-6,
        "p",
    )
    .unwrap();
    assert_close(
        &fcolumn("part2_ttests.csv", "p_bh"),
        &json_f64s(&r["p_bh"]),
        1e-6,
        "p_bh",
    )
    .unwrap();
    let (him, her) = (i64s(&r["him"]), i64s(&r["her"]));
    let nonsig = d - him.len() - her.len();
    assert!(
        !him.is_empty() && !her.is_empty() && nonsig > 0,
        "every group is exercised"
    );
    let title = format!(
        "{} \"him\" neurons and {} \"her\" neurons",
        him.len(),
        her.len()
    );
    let s = series("ch7_proj46_part2");
    let xs = |name: &str| -> Vec<i64> {
        points(&s, &title, name)
            .iter()
            .map(|p| p.0 as i64)
            .collect()
    };
    assert_eq!(xs("him > her"), him);
    assert_eq!(xs("her > him"), her);
    assert_eq!(xs("Non-sig.").len(), nonsig);
    let t = json_f64s(&r["t"]);
    for (x, y) in points(&s, &title, "him > her") {
        assert!((y - t[*x as usize]).abs() < 1e-4 * t[*x as usize].abs().max(1.0));
    }
    // the pie's labels, to 1 decimal, in the order him, her, non-significant
    let (_, rows) = read_csv(&run().file("ch7_proj46_part2.csv")).unwrap();
    let labels: Vec<&str> = rows
        .iter()
        .filter(|r| r[2] == "text")
        .map(|r| r[5].as_str())
        .collect();
    let pct = |k: usize| format!("{:.1}%", 100.0 * k as f64 / d as f64);
    assert_eq!(labels, [pct(him.len()), pct(her.len()), pct(nonsig)]);
}

/// The 12 target logits of a [3][2][2] table CSV, in (sentence, position, token) order.
fn tl_csv(name: &str, col: &str) -> Vec<f64> {
    let (h, rows) = table(name);
    assert_eq!(&h[..3], ["sentence", "position", "token"]);
    let want: Vec<[String; 3]> = (0..3)
        .flat_map(|s| {
            ["her_pos", "him_pos"]
                .into_iter()
                .flat_map(move |p| ["her", "him"].map(|t| [s.to_string(), p.into(), t.into()]))
        })
        .collect();
    let keys: Vec<[String; 3]> = rows
        .iter()
        .map(|r| [r[0].clone(), r[1].clone(), r[2].clone()])
        .collect();
    assert_eq!(keys, want);
    fcolumn(name, col)
}

/// Part 4: the clean target logits equal transformers' MLM logits; the bars show them.
#[test]
fn part4_clean_logits() {
    let want = flat(&reference()["clean_tl"]);
    assert_close(
        &tl_csv("part4_clean_logits.csv", "logit"),
        &want,
        TOL,
        "clean logits",
    )
    .unwrap();
    let s = series("ch7_proj46_part4");
    let panel = "Clean logits at the two positions";
    // bar (position p, token k) of sentence s sits at s*1.5 + 0.5p + (k ? +0.1 : -0.1)
    let names = [
        ["'her' at her-position", "'him' at her-position"],
        ["'her' at him-position", "'him' at him-position"],
    ];
    for (p, row) in names.iter().enumerate() {
        for (k, name) in row.iter().enumerate() {
            let pts = points(&s, panel, name);
            assert_eq!(pts.len(), 3);
            for (si, (x, y)) in pts.iter().enumerate() {
                let cx = si as f64 * 1.5 + 0.5 * p as f64 + if k == 1 { 0.1 } else { -0.1 };
                assert!((x - cx).abs() < 1e-12, "{name} x {x} vs {cx}");
                assert!(
                    (y - want[si * 4 + p * 2 + k]).abs() < TOL,
                    "{name} sentence {si}"
                );
            }
        }
    }
}

/// Part 5 and offline checks 2 and 3: Δ = clean − ablated equals the reference's full
/// hooked pass; empty sets and batch item 0 change nothing (exactly); zeroing after the
/// GELU gives the same logits; the per-row mask equals common's Hook::zero per sentence.
#[test]
fn part5_last_layer_and_checks_2_3() {
    let r = reference();
    let got = tl_csv("part5_delta.csv", "delta");
    assert_close(&got, &flat(&r["part5_delta"]), TOL, "part 5 delta").unwrap();
    assert_eq!(
        &got[..4],
        [0.0; 4],
        "sentence 0: nothing lesioned, Δ exactly 0"
    );
    assert!(
        got[4..].iter().any(|v| v.abs() > 1e-3),
        "the lesion changes something"
    );
    assert_eq!(r["check2_empty"].as_f64(), Some(0.0));
    assert_eq!(r["check2_item0"].as_f64(), Some(0.0));
    assert_eq!(
        line("check 2: "),
        "check 2: empty neuron sets: max |Δ logits| = 0; lesion aimed at items 1 and 2: item \
         0's max |Δ logits| = 0"
    );
    assert!(
        value("check 3: zeroing at mlp.hook_post instead of mlp.hook_pre: max |Δ logits| = ")
            <= 1e-6
    );
    assert!(r["check3"].as_f64().unwrap() <= 1e-6);
    assert!(value("per-row lesion vs Hook::zero(..).positions(..).features(..) on each sentence alone: max |Δ logits| = ") <= TOL);
    let (him, her) = (i64s(&layer(1)["him"]), i64s(&layer(1)["her"]));
    assert_eq!(
        line("lesion: "),
        format!(
            "lesion: {} \"her\" neurons at (1, {}), {} \"him\" neurons at (2, {})",
            her.len(),
            r["mask_idx_her"],
            him.len(),
            r["mask_idx_him"]
        )
    );
    // the scatter: the 12 clean (x) against ablated (y) values
    let s = series("ch7_proj46_part5");
    let pts = points(&s, "B) Clean vs ablated", "series1");
    let clean = flat(&r["clean_tl"]);
    let ablated = flat(&r["part5_tl"]);
    assert_eq!(pts.len(), 12);
    for (i, (x, y)) in pts.iter().enumerate() {
        assert!(
            (x - clean[i]).abs() < TOL && (y - ablated[i]).abs() < TOL,
            "point {i}"
        );
    }
}

fn laminar_check(csv: &str, key: &str, delta_key: &str) {
    let r = reference();
    let want: Vec<Vec<f64>> = r[key].as_array().unwrap().iter().map(json_f64s).collect();
    let cols = [
        "mean_abs_delta",
        "delta_her_at_her_mask",
        "delta_him_at_him_mask",
    ];
    for (k, c) in cols.iter().enumerate() {
        let w: Vec<f64> = want.iter().map(|v| v[k]).collect();
        assert_close(&fcolumn(csv, c), &w, TOL, c).unwrap();
    }
    // mean |Δ| is over the 8 values of sentences 1 and 2 of the reference's Δ
    for (l, d) in r[delta_key].as_array().unwrap().iter().enumerate() {
        let v = flat(d);
        assert_eq!(&v[..4], [0.0; 4]);
        let m = v[4..].iter().map(|x| x.abs()).sum::<f64>() / 8.0;
        assert!((m - want[l][0]).abs() < 1e-12);
    }
    assert!(fcolumn(csv, "max_abs_delta_sentence0")
        .iter()
        .all(|v| *v == 0.0));
}

/// Part 6: the laminar lesion of every layer equals one full hooked pass per layer in
/// transformers (the program starts at the clean residual stream instead).
#[test]
fn part6_laminar() {
    laminar_check("part6_laminar.csv", "part6", "part6_delta");
    assert_eq!(
        value("sentence 0 (nothing lesioned): max |Δ| over all layers = "),
        0.0
    );
    let s = series("ch7_proj46_part6");
    let want: Vec<f64> = reference()["part6"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| json_f64s(v)[1])
        .collect();
    let pts = points(
        &s,
        "B) Targeted logit change",
        "HER manipulation ('her' at HER mask)",
    );
    for (l, (x, y)) in pts.iter().enumerate() {
        assert!((x - (l as f64 - 0.1)).abs() < 1e-12 && (y - want[l]).abs() < TOL);
    }
}

/// Part 7 and offline check 5: the control sets are numpy's argsort of |t| (first n_pos,
/// first n_neg), of the real sets' sizes, with |t| ≤ every |t| outside; the control
/// lesions equal transformers'.
#[test]
fn part7_control_and_check5() {
    let r = reference();
    let him_c = column("part7_control_sets.csv", "him_control");
    let her_c = column("part7_control_sets.csv", "her_control");
    let parse =
        |s: &str| -> Vec<i64> { s.split_whitespace().map(|v| v.parse().unwrap()).collect() };
    let mut sizes: HashMap<usize, (usize, usize)> = HashMap::new();
    for (l, sets) in r["control_sets"].as_array().unwrap().iter().enumerate() {
        let (h, e) = (i64s(&sets[0]), i64s(&sets[1]));
        assert_eq!(parse(&him_c[l]), h, "layer {l} him control");
        assert_eq!(parse(&her_c[l]), e, "layer {l} her control");
        assert_eq!(h.len(), i64s(&layer(l)["him"]).len());
        assert_eq!(e.len(), i64s(&layer(l)["her"]).len());
        let t = json_f64s(&layer(l)["t"]);
        for set in [&h, &e] {
            let inside = set.iter().map(|&j| t[j as usize].abs()).fold(0.0, f64::max);
            let outside = (0..t.len() as i64)
                .filter(|j| !set.contains(j))
                .map(|j| t[j as usize].abs())
                .fold(f64::INFINITY, f64::min);
            assert!(inside <= outside, "layer {l}");
        }
        sizes.insert(l, (h.len(), e.len()));
    }
    assert!(line("check 5: ").contains("outside them: true"));
    laminar_check("part7_laminar.csv", "part7", "part7_delta");
    // Part 7a: the percentages of the control set sizes
    let d = r["d_mlp"].as_f64().unwrap();
    let s = series("ch7_proj46_part7a");
    let panel = "Control sets per layer (least-tuned neurons)";
    for (l, (h, e)) in sizes {
        assert_eq!(
            points(&s, panel, "\"him\" neurons")[l].1,
            100.0 * h as f64 / d
        );
        assert_eq!(
            points(&s, panel, "\"her\" neurons")[l].1,
            100.0 * e as f64 / d
        );
    }
}

/// Offline check 4 (BH): the fixed p vector adjusted as scipy's false_discovery_control.
#[test]
fn check4_bh_matches_scipy() {
    let r = reference();
    let l = line("check 4: BH-adjusted p of ");
    let got: Vec<f64> = l
        .rsplit(": ")
        .next()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_close(&got, &json_f64s(&r["bh_adjusted"]), 1e-15, "BH").unwrap();
    assert_eq!(json_f64s(&r["bh_p"]).len(), got.len());
}

/// Bad input: a layer out of range and a decoder model are clear errors.
#[test]
fn bad_input_is_an_error() {
    let out = std::process::Command::new(BIN)
        .args(["--quick", "--device", "cpu", "--layer", "7"])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--layer 7 is out of range:") && err.contains("has 2 blocks (0..=1)"),
        "{err}"
    );
    let gpt2 = common::cli::tiny_gpt2();
    let out = std::process::Command::new(BIN)
        .args(["--quick", "--device", "cpu", "--model", &gpt2])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("decoder"), "{err}");
}
