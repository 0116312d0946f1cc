//! Project 35's offline checks. The --quick run (the tiny random GPT-2 and the text in
//! src/quick_text.txt, offline) is compared with references that do not come from the
//! program: transformers/torch/numpy on the same model and text (`fixtures/reference.json`,
//! written by `scripts/make_fixture.py`: the c_attn outputs as transformers' forward hook
//! sees them, its pre-softmax weights and attention probabilities, numpy's pools and
//! densities), recomputations here in float64 from those activations, and closed forms
//! (pool sizes, the 1/(i+1) mask demo, sqrt(n)). One test also checks common's
//! `attn.hook_attn_scores` / `attn.hook_pattern` against transformers.

// Matrix checks read best as index loops.
#![allow(clippy::needless_range_loop)]

use common::testing::reference::tiny_gpt2_dir;
use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project, xs, ys,
    FigureSeries, ProjectRun,
};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project35_attention_scores");
/// Two float32 implementations of the same model agree to about 1e-6.
const ACT_TOL: f64 = 1e-5;

fn reference() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/reference.json")).expect("reference.json")
    })
}

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| run_project(BIN, &["--quick", "--device", "cpu", "--seed", "3"]).unwrap())
}

fn cfg(key: &str) -> usize {
    reference()["config"][key].as_u64().unwrap() as usize
}

fn layer() -> usize {
    reference()["layer"].as_u64().unwrap() as usize
}

fn n_tokens() -> usize {
    reference()["ids"].as_array().unwrap().len()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_close(got, want, tol, what).unwrap();
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// The heatmaps of a figure's CSV: panel -> matrix (rows as stored, row 0 on top).
fn heatmaps(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// transformers' Q or K of layer `l`, `[T][d]`.
fn qk(which: &str, l: usize) -> Vec<Vec<f64>> {
    json_f64s(&reference()[which][l])
        .chunks(cfg("n_embd"))
        .map(|c| c.to_vec())
        .collect()
}

/// Causal attention of every head recomputed here in float64 from transformers' Q, K:
/// `[h][T][T]`.
fn causal_by_hand(l: usize) -> Vec<Vec<Vec<f64>>> {
    let (q, k) = (qk("q", l), qk("k", l));
    let (h, dh, t) = (cfg("n_head"), cfg("head_dim"), n_tokens());
    (0..h)
        .map(|hh| {
            (0..t)
                .map(|i| {
                    let s: Vec<f64> = (0..=i)
                        .map(|j| {
                            (0..dh)
                                .map(|c| q[i][hh * dh + c] * k[j][hh * dh + c])
                                .sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
                    (0..t)
                        .map(|j| if j <= i { (s[j] - m).exp() / z } else { 0.0 })
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1", "part3", "part4", "part5a", "part5b", "part6", "part7a", "part7b", "part8",
        "part9",
    ] {
        run().check_figure(&format!("ch6_proj35_{f}")).unwrap();
    }
}

/// The brief's hook check: common's `blocks.{l}.attn.hook_attn_scores` is the scaled
/// q·k (transformers' eager pre-softmax weights) with -inf strictly above the diagonal
/// (transformers too: float32's lowest value from its `where` plus the same from the causal
/// attention mask overflows to -inf), `hook_pattern` is
/// its softmax (= transformers' attention probabilities, exact zeros above the diagonal),
/// and `hook_q` / `hook_k` are the c_attn output's Q and K blocks.
#[test]
fn hook_attn_scores_are_masked_scaled_scores() {
    let model =
        HookedModel::from_pretrained(tiny_gpt2_dir().to_str().unwrap(), tch::Device::Cpu).unwrap();
    let ids: Vec<u32> = json_f64s(&reference()["ids"])
        .iter()
        .map(|&v| v as u32)
        .collect();
    let batch = model.batch_from_ids(&[ids], PaddingSide::Right).unwrap();
    let names = Names::matching("blocks.*.attn.hook_attn_scores")
        .and("blocks.*.attn.hook_pattern")
        .and("blocks.*.attn.hook_q")
        .and("blocks.*.attn.hook_k");
    let out = model
        .run(
            &batch,
            &RunOptions::default().cache(names).logits(LogitsAt::None),
        )
        .unwrap();
    let (h, t) = (cfg("n_head"), n_tokens());
    // What transformers held at its masked entries: -inf only (JSON null below).
    assert_eq!(reference()["masked_are_neg_inf"], true);
    for l in 0..cfg("n_layer") {
        let get = |n: &str| -> Vec<f64> {
            let x = out.cache.get(&format!("blocks.{l}.attn.{n}")).unwrap();
            Vec::<f64>::try_from(x.to_kind(tch::Kind::Double).flatten(0, -1)).unwrap()
        };
        let scores = get("hook_attn_scores");
        let want: Vec<Option<f64>> = reference()["pre_softmax"][l]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_f64)
            .collect();
        assert_eq!(scores.len(), h * t * t);
        let (mut kept, mut masked) = (vec![], 0);
        for hh in 0..h {
            for i in 0..t {
                for j in 0..t {
                    let n = (hh * t + i) * t + j;
                    if j > i {
                        assert_eq!(scores[n], f64::NEG_INFINITY, "layer {l} [{hh},{i},{j}]");
                        assert_eq!(want[n], None, "transformers masks [{hh},{i},{j}] too");
                        masked += 1;
                    } else {
                        kept.push((scores[n], want[n].expect("unmasked in transformers")));
                    }
                }
            }
        }
        assert_eq!(masked, h * t * (t - 1) / 2);
        let (g, w): (Vec<f64>, Vec<f64>) = kept.into_iter().unzip();
        close(&g, &w, ACT_TOL, &format!("layer {l} scores"));
        let pattern = get("hook_pattern");
        close(
            &pattern,
            &json_f64s(&reference()["attentions"][l]),
            ACT_TOL,
            &format!("layer {l} pattern"),
        );
        // and the pattern is the softmax of the scores, rows summing to 1
        for r in 0..h * t {
            let row = &scores[r * t..(r + 1) * t];
            let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
            let sm: Vec<f64> = row.iter().map(|v| (v - m).exp() / z).collect();
            close(
                &pattern[r * t..(r + 1) * t],
                &sm,
                1e-6,
                "softmax of the scores",
            );
        }
        close(
            &get("hook_q"),
            &json_f64s(&reference()["q"][l]),
            ACT_TOL,
            "hook_q = c_attn Q",
        );
        close(
            &get("hook_k"),
            &json_f64s(&reference()["k"][l]),
            ACT_TOL,
            "hook_k = c_attn K",
        );
    }
}

/// Offline checks 1 and 2: the causal softmax rebuilt here from transformers' Q and K
/// equals transformers' own probabilities to 1e-5; its rows sum to 1, entries above the
/// diagonal are exactly 0, A[0, 0] = 1; the program's Part 7 pools equal those of
/// transformers' probabilities.
#[test]
fn check1_and_2_causal_softmax() {
    let (h, t, l) = (cfg("n_head"), n_tokens(), layer());
    for layer in 0..cfg("n_layer") {
        let a = causal_by_hand(layer);
        let flat: Vec<f64> = a.iter().flatten().flatten().copied().collect();
        close(
            &flat,
            &json_f64s(&reference()["attentions"][layer]),
            1e-5,
            "vs transformers",
        );
        for hh in 0..h {
            assert_eq!(a[hh][0][0], 1.0);
            for i in 0..t {
                assert!((a[hh][i].iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(a[hh][i][i + 1..].iter().all(|&v| v == 0.0));
            }
        }
    }
    let att = json_f64s(&reference()["attentions"][l]);
    let at = |hh: usize, i: usize, j: usize| att[(hh * t + i) * t + j];
    let final_prev: Vec<f64> = (0..h)
        .flat_map(|hh| (0..t - 1).map(move |j| at(hh, t - 1, j)))
        .collect();
    let self_other: Vec<f64> = (0..h)
        .flat_map(|hh| (1..t).map(move |i| at(hh, i, i)))
        .collect();
    let s = series("ch6_proj35_part7b");
    let panel = format!("Causal attention weights in layer {l}");
    close(
        &ys(points(&s, &panel, "Final to prev")),
        &final_prev,
        ACT_TOL,
        "final to prev",
    );
    close(
        &ys(points(&s, &panel, "Self-attention other tokens")),
        &self_other,
        ACT_TOL,
        "self",
    );
    let first = ys(points(&s, &panel, "Self-attention first token"));
    assert_eq!(
        first,
        vec![1.0; h],
        "first-token self-attention is exactly 1"
    );
    // strips at x = 1, 2, 3 with sd 0.04 jitter
    for (name, x0) in [("Final to prev", 1.0), ("Self-attention other tokens", 2.0)] {
        assert!(xs(points(&s, &panel, name))
            .iter()
            .all(|x| (x - x0).abs() < 0.3));
    }
}

/// Offline check 2, the N = 5 demo: the binary mask is triu(1), the -inf mask has -inf
/// exactly there, and its softmax has 1/(i+1) on row i's allowed positions, 0 elsewhere.
#[test]
fn check2_mask_demo() {
    let hm = heatmaps("ch6_proj35_part7a");
    let bin = &hm["A) Binary mask"];
    let inf = &hm["B) -inf mask (shown clipped to [0, 1])"];
    let soft = &hm["C) Softmax of B"];
    for i in 0..5 {
        for j in 0..5 {
            assert_eq!(bin[i][j], if j > i { 1.0 } else { 0.0 });
            assert_eq!(inf[i][j], if j > i { f64::NEG_INFINITY } else { 0.0 });
            let want = if j <= i { 1.0 / (i + 1) as f64 } else { 0.0 };
            assert!(
                (soft[i][j] - want).abs() < 1e-15,
                "[{i}][{j}] = {}",
                soft[i][j]
            );
        }
    }
}

/// Offline check 3 on the model: qkt_all (x) equals the mean over heads of qkt_each (y) as
/// numpy computes them from transformers' Q and K, and the two agree with each other to
/// 1e-5 relative; the printed shapes.
#[test]
fn check3_head_averaging() {
    let (t, h) = (n_tokens(), cfg("n_head"));
    let s = series("ch6_proj35_part9");
    let p = points(&s, "A) Head-agnostic vs head-averaged", "series0");
    let all = json_f64s(&reference()["qkt_all"]);
    let each = json_f64s(&reference()["mean_each"]);
    close(&xs(p), &all, ACT_TOL, "qkt_all");
    close(&ys(p), &each, ACT_TOL, "mean of qkt_each");
    let scale = all.iter().map(|v| v.abs()).fold(0.0, f64::max);
    for (a, b) in xs(p).iter().zip(ys(p)) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
    let d = points(&s, "B) Difference", "series0");
    assert_eq!(d.len(), t * t);
    assert_eq!(xs(d), (0..t * t).map(|i| i as f64).collect::<Vec<_>>());
    close(
        &ys(d),
        &xs(p)
            .iter()
            .zip(ys(p))
            .map(|(a, b)| a - b)
            .collect::<Vec<_>>(),
        1e-12,
        "diff",
    );
    assert_eq!(
        run().summary_line("qkt_all: ").unwrap(),
        format!("qkt_all: [{t}, {t}]; qkt_each: [{h}, {t}, {t}]")
    );
    assert!(run()
        .summary()
        .contains("mean of [1, 2, 3, 4] = 2.5; mean of the half-means (1.5, 3.5) = 2.5"));
    assert!(run().summary().contains("(1.5, 4) = 2.75"));
}

/// Offline check 4 and Part 4: the pools have H(T-2), H(H-1)(T-2), H(T-1), H(T-1), H
/// values and equal numpy's on transformers' Q, K; their Freedman-Diaconis densities
/// equal numpy's `bins="fd"` (plotted at the bin centres).
#[test]
fn check4_pools_and_part4() {
    let (h, t, l) = (cfg("n_head"), n_tokens(), layer());
    let within = json_f64s(&reference()["within"][l]);
    let across = json_f64s(&reference()["across"][l]);
    assert_eq!(within.len(), h * (t - 2));
    assert_eq!(across.len(), h * (h - 1) * (t - 2));
    let r = run();
    assert_eq!(
        r.summary_line("within head: ").unwrap(),
        format!(
            "within head: {} values; across heads: {} values",
            h * (t - 2),
            h * (h - 1) * (t - 2)
        )
    );
    assert_eq!(
        r.summary_line(&format!("layer {l}: pools of ")).unwrap(),
        format!(
            "layer {l}: pools of {}, {} and {h} values",
            h * (t - 1),
            h * (t - 1)
        )
    );
    let s = series("ch6_proj35_part4");
    close(
        &ys(points(&s, "A) Dot products", "Same head")),
        &within,
        ACT_TOL,
        "within",
    );
    close(
        &ys(points(&s, "A) Dot products", "Diff heads")),
        &across,
        ACT_TOL,
        "across",
    );
    for (i, name) in ["Same head", "Diff heads"].iter().enumerate() {
        let p = points(&s, "B) Distributions", name);
        let dens = json_f64s(&reference()["fd_density"][i]);
        let e = json_f64s(&reference()["fd_edges"][i]);
        let centres: Vec<f64> = e.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        assert_eq!(p.len(), dens.len(), "{name}: number of FD bins");
        close(&xs(p), &centres, ACT_TOL, "bin centres");
        close(&ys(p), &dens, 1e-6, &format!("{name} FD density"));
    }
}

/// Check 4's closed forms for the book's sizes, on the program's counting rule.
#[test]
fn check4_book_sizes() {
    let (h, t) = (16, 115);
    assert_eq!((h * (t - 2), h * (h - 1) * (t - 2)), (1808, 27120));
    assert_eq!((h * (t - 1), h), (1824, 16));
}

/// Offline check 5: with a fixed seed, at n = 100 the unscaled stdev is within 5% of 10
/// and the scaled one within 5% of 1; the theory line is sqrt(n) for n = 5..100.
#[test]
fn check5_why_scale() {
    let s = series("ch6_proj35_part1");
    let panel = "Standard deviation of a product of random matrices";
    let raw = points(&s, panel, "No scaling");
    let scaled = points(&s, panel, "sqrt(N) scaling");
    let theory = points(&s, panel, "Theory");
    let ns: Vec<f64> = (5..=100).map(f64::from).collect();
    assert_eq!(xs(raw), ns);
    assert_eq!(xs(scaled), ns);
    close(
        &ys(theory),
        &ns.iter().map(|n| n.sqrt()).collect::<Vec<_>>(),
        1e-12,
        "theory",
    );
    let (r, c) = (raw[95].1, scaled[95].1);
    assert!((r - 10.0).abs() < 0.5, "unscaled stdev at n = 100: {r}");
    assert!((c - 1.0).abs() < 0.05, "scaled stdev at n = 100: {c}");
    for i in 0..ns.len() {
        close(
            &[raw[i].1 / ns[i].sqrt()],
            &[scaled[i].1],
            1e-9,
            "M2 = M1 / sqrt(n)",
        );
    }
}

/// Offline check 6: the Purple excerpt encodes to 115 GPT-2 tokens starting
/// [30026, 1154, 318, 257, 3124] (also what transformers' tokenizer gives).
#[test]
fn check6_tokenizer() {
    let ids = json_f64s(&reference()["purple_ids"]);
    assert_eq!(ids.len(), 115);
    assert_eq!(ids[..5], [30026.0, 1154.0, 318.0, 257.0, 3124.0]);
    assert_eq!(
        run().summary_line("the Purple excerpt: ").unwrap(),
        "the Purple excerpt: 115 GPT-2 tokens, first five [30026, 1154, 318, 257, 3124], last two \" color.\""
    );
}

/// Parts 5, 6 and 8: every layer's densities equal numpy's on transformers' activations;
/// Part 6's mean ± unbiased stdev; Part 8's panel C has all its mass in the last bin.
#[test]
fn parts5_6_8_densities() {
    let n = cfg("n_layer");
    let hm = heatmaps("ch6_proj35_part5a");
    for (i, panel) in ["A) Within head", "B) Across heads"].iter().enumerate() {
        let img = &hm[*panel];
        assert_eq!((img.len(), img[0].len()), (n, 100));
        for l in 0..n {
            close(
                &img[n - 1 - l],
                &json_f64s(&reference()["density5"][l][i]),
                1e-9,
                panel,
            );
        }
    }
    // 5b: mean and population stdev over layers of those densities
    let s = series("ch6_proj35_part5b");
    let left: Vec<f64> = (0..100).map(|i| -20.0 + 0.4 * i as f64).collect();
    for (i, name) in ["Within head", "Across heads"].iter().enumerate() {
        let p = points(&s, "Average over layers (± stdev over layers)", name);
        close(&xs(p), &left, 1e-9, "left edges");
        let mean: Vec<f64> = (0..100)
            .map(|b| {
                (0..n)
                    .map(|l| json_f64s(&reference()["density5"][l][i])[b])
                    .sum::<f64>()
                    / n as f64
            })
            .collect();
        close(&ys(p), &mean, 1e-9, name);
    }

    let s = series("ch6_proj35_part6");
    for l in 0..n {
        let name = format!("layer {l}");
        let e = points(&s, "Means of QK^T", &name);
        close(
            &ys(e),
            &[reference()["mean6"][l].as_f64().unwrap()],
            ACT_TOL,
            "mean",
        );
        let b = points(&s, "Distributions of QK^T", &name);
        close(
            &ys(b),
            &json_f64s(&reference()["density6"][l]),
            1e-6,
            "6B density",
        );
        let c = points(&s, "Distributions of softmax(QK^T)", &name);
        let edges = json_f64s(&reference()["edges6c"][l]);
        close(&xs(c), &edges[..201], 1e-6, "6C left edges (data range)");
        let want = json_f64s(&reference()["density6c"][l]);
        let got = ys(c);
        // Float32 vs float64 softmax may move a value that sits on a bin edge: allow at
        // most two such moves (each changes two bins by one count).
        let one = 1.0 / ((cfg("n_head") * n_tokens() * n_tokens()) as f64 * (edges[1] - edges[0]));
        let moved = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| (*g - *w).abs() > 1e-6 * w.abs().max(1.0))
            .count();
        assert!(
            moved <= 4,
            "layer {l}: {moved} bins differ (one count = {one})"
        );
    }
    let (_, rows) = read_csv(&run().file("ch6_proj35_part6.csv")).unwrap();
    for l in 0..n {
        let r = rows
            .iter()
            .find(|r| r[0] == "Means of QK^T" && r[1] == format!("layer {l}") && r[2] == "errorbar")
            .unwrap();
        let sd: f64 = r[5].parse().unwrap();
        close(
            &[sd],
            &[reference()["std6"][l].as_f64().unwrap()],
            ACT_TOL,
            "unbiased stdev",
        );
    }

    let hm = heatmaps("ch6_proj35_part8");
    for (i, panel) in [
        "A) Final to previous",
        "B) Self-attention",
        "C) First to self",
    ]
    .iter()
    .enumerate()
    {
        let img = &hm[*panel];
        assert_eq!((img.len(), img[0].len()), (n, 90));
        for l in 0..n {
            close(
                &img[n - 1 - l],
                &json_f64s(&reference()["density8"][l][i]),
                1e-6,
                panel,
            );
            if i == 2 {
                let mut want = vec![0.0; 90];
                want[89] = 90.0;
                close(
                    &img[n - 1 - l],
                    &want,
                    1e-9,
                    "first to self: all in the last bin",
                );
            }
        }
    }
}

/// Bad input fails before the output folder is touched, with an error that says what to
/// do, never a panic.
#[test]
fn bad_input_fails_fast_without_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let roberta = common::cli::tiny_roberta();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--layer", "3"], "--layer 3 is out of range"),
        (vec!["--model", "./no/such/model"], "./no/such/model"),
        (
            vec!["--model", roberta.as_str()],
            "this project rebuilds GPT-2",
        ),
    ];
    for (flags, want) in cases {
        let o = std::process::Command::new(BIN)
            .args(["--quick", "--device", "cpu"])
            .args(&flags)
            .arg("--out")
            .arg(&out)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flags:?} must fail");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
        assert!(!out.exists(), "{flags:?} touched the output folder");
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "{flags:?} left files"
        );
    }
}
