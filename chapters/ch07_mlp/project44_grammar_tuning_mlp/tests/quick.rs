//! Project 44's offline checks. The --quick run (the tiny random GPT-2 with GPT-2's real
//! BPE, the project's quick word lists, the book's sentence, offline) is compared with
//! references that do not come from the program: transformers/torch/numpy/scipy on the
//! same model and words (`fixtures/reference.json`, written by `scripts/make_fixture.py`:
//! the c_fc outputs as transformers' forward hook sees them, scipy's t-tests and BH, numpy's
//! correlations), the spec's values and closed forms. GPT-Neo (checks 4 and 6) is run
//! through common on the tiny random GPT-Neo and compared with transformers' c_fc output
//! and with a direct unscaled q·k. The t-test, BH, permutation and word-filter checks
//! (1, 2, 3, 5) are also unit-tested in `src/analysis.rs`.

use common::testing::{json_f64s, read_csv, run_project, ProjectRun};
use common::{HookedModel, Names, PaddingSide};
use serde_json::Value;
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_project44_grammar_tuning_mlp");
const FIG: &str = "ch7_proj44";
/// Two float32 implementations of the same model agree to about 1e-6; statistics of
/// their activations are compared to this.
const TOL: f64 = 1e-4;

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

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
}

/// A table the program wrote (`name.csv`) as columns of numbers (NaN allowed).
fn table(name: &str) -> (Vec<String>, Vec<Vec<f64>>) {
    let (h, rows) = read_csv(&run().file(&format!("{name}.csv"))).unwrap();
    let cols = (0..h.len())
        .map(|c| rows.iter().map(|r| r[c].parse().unwrap()).collect())
        .collect();
    (h, cols)
}

fn csv_rows(fig: &str) -> Vec<Vec<String>> {
    run().check_figure(&format!("{FIG}_{fig}")).unwrap()
}

/// (x, y) of the rows of `panel` / `series` in a figure CSV.
fn points(rows: &[Vec<String>], panel: &str, series: &str) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r[0] == panel && r[1] == series)
        .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap()))
        .collect()
}

/// (x, y) of the scatter points of `panel` (its series unlabelled).
fn scatter(rows: &[Vec<String>], panel: &str) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r[0] == panel && r[2] == "scatter")
        .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap()))
        .collect()
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    common::testing::reference::pearson(x, y)
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1", "part2", "part3a", "part3b", "part4", "part5a", "part5b", "part5c", "part6a",
        "part6b", "part7", "part8a", "part8b",
    ] {
        run().check_figure(&format!("{FIG}_{f}")).unwrap();
    }
}

/// Offline check 5 on the run: the kept counts, the first words of each split and the
/// length counts of Part 1 are those transformers' tokenizer gives for the quick lists
/// (47 entries each, the empty one after the trailing newline included; 45 kept).
#[test]
fn check5_word_lists_and_splits() {
    let r = reference();
    for cat in ["nouns", "verbs"] {
        let k = &r["kept"][cat];
        assert_eq!(k["total"], 47);
        assert_eq!(
            run().summary_line(&format!("{cat}: ")).unwrap(),
            format!(
                "{cat}: {} of {} entries are single tokens (\" \" + word)",
                k["kept"], k["total"]
            )
        );
        for split in ["split1", "split2"] {
            let set = format!("{cat}_{split}");
            let first: Vec<String> = r["first5"][&set]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| format!("{:?}", w.as_str().unwrap()))
                .collect();
            assert_eq!(
                run().summary_line(&format!("{cat} {split}: ")).unwrap(),
                format!(
                    "{cat} {split}: {} words, first 5: {}",
                    r["sets"][&set].as_array().unwrap().len(),
                    first.join(", ")
                )
            );
        }
    }
    assert_eq!(r["first5"]["verbs_split1"][0], " is");
    assert_eq!(r["first5"]["nouns_split2"][0], " way");
    // Part 1's bars: counts of each character length among the first 40 kept words
    let rows = csv_rows("part1");
    for (cat, series, dx) in [("nouns", "Nouns", -0.15), ("verbs", "Verbs", 0.15)] {
        let words = r["kept"][cat]["words"].as_array().unwrap();
        let lens: Vec<usize> = words[..40]
            .iter()
            .map(|w| w.as_str().unwrap().chars().count())
            .collect();
        let bars: Vec<(f64, f64)> = rows
            .iter()
            .filter(|row| row[1] == series && row[2] == "bar")
            .map(|row| (row[3].parse().unwrap(), row[4].parse().unwrap()))
            .collect();
        assert!(!bars.is_empty(), "{series}");
        let mut total = 0.0;
        for (x, h) in bars {
            let len = (x - dx).round() as usize;
            assert!((x - dx - len as f64).abs() < 1e-9);
            assert_eq!(h, lens.iter().filter(|&&l| l == len).count() as f64);
            total += h;
        }
        assert_eq!(total, 40.0);
    }
}

/// Offline check 1 on the run: the word-length t-test and d equal scipy's; the per-neuron
/// t and p of Part 3 equal scipy's ttest_ind on transformers' c_fc activations; for equal
/// groups (20 and 20) t = d·sqrt(n/2) = d·sqrt(10) exactly.
#[test]
fn check1_ttests_and_cohens_d() {
    let r = reference();
    let l = &r["length"];
    let line = run().summary_line("word lengths: t(").unwrap();
    assert_eq!(
        line,
        format!(
            "word lengths: t({}) = {:.4}, p = {:.6}, Cohen's d = {:.4}",
            num(&l["df"]) as i64,
            num(&l["t"]),
            num(&l["p"]),
            num(&l["d"])
        )
    );
    let (h, cols) = table("part3_neuron_tests");
    assert_eq!(h, ["neuron", "t", "p", "p_fdr_bh", "cohens_d"]);
    let k = r["n_neurons"].as_u64().unwrap() as usize;
    assert_eq!(cols[0].len(), k);
    let (t, p, d) = (&cols[1], &cols[2], &cols[4]);
    let (wt, wp, wd) = (
        json_f64s(&r["t1"]),
        json_f64s(&r["p1"]),
        json_f64s(&r["d1"]),
    );
    for j in 0..k {
        close(t[j], wt[j], TOL, &format!("t neuron {j}"));
        close(p[j], wp[j], TOL, &format!("p neuron {j}"));
        close(d[j], wd[j], TOL, &format!("d neuron {j}"));
        assert!((t[j] - d[j] * 10f64.sqrt()).abs() < 1e-9, "t = d sqrt(10)");
    }
    // Fig 3a plots exactly these (d, t) pairs
    let pts: Vec<(f64, f64)> = csv_rows("part3a")
        .iter()
        .filter(|row| row[2] == "scatter")
        .map(|row| (row[3].parse().unwrap(), row[4].parse().unwrap()))
        .collect();
    assert_eq!(pts.len(), k);
    for (j, (x, y)) in pts.iter().enumerate() {
        assert!((x - d[j]).abs() < 1e-12 && (y - t[j]).abs() < 1e-12);
    }
}

/// Offline check 2 on the run: the BH-adjusted p values equal scipy's
/// false_discovery_control, are >= the raw p and monotone in their rank; the 3b title and
/// its marker groups follow from them (FDR < .05, |d| > .8).
#[test]
fn check2_fdr_counts() {
    let r = reference();
    let (_, cols) = table("part3_neuron_tests");
    let (p, adj, d) = (&cols[2], &cols[3], &cols[4]);
    let want = json_f64s(&r["fdr1"]);
    let k = p.len();
    for j in 0..k {
        close(adj[j], want[j], TOL, &format!("BH neuron {j}"));
        assert!(adj[j] >= p[j]);
        for i in 0..k {
            if p[i] < p[j] {
                assert!(adj[i] <= adj[j] + 1e-15);
            }
        }
    }
    let (n_sig, n_large) = (
        r["n_sig_fdr"].as_u64().unwrap(),
        r["n_large"].as_u64().unwrap(),
    );
    let title = format!("{n_sig}/{k} were significant, {n_large}/{k} were large effects.");
    let rows = csv_rows("part3b");
    let groups = [
        ("Not significant", false, None),
        ("FDR significant", true, Some(false)),
        ("Significant, |d| > 0.8", true, Some(true)),
    ];
    let mut total = 0;
    for (series, sig, large) in groups {
        let pts = points(&rows, &title, series);
        for (x, _) in &pts {
            let j = *x as usize;
            assert_eq!(want[j] < 0.05, sig, "neuron {j} in {series}");
            if let Some(l) = large {
                assert_eq!(d[j].abs() > 0.8, l);
            }
        }
        total += pts.len();
    }
    assert_eq!(total, k, "every neuron is in one group of {title:?}");
    assert_eq!(
        run()
            .summary_value("FDR-significant (BH adjusted p < 0.05): ")
            .unwrap(),
        n_sig as f64
    );
}

/// Part 4: T_split2 and T_split12, their correlations with T_split1 and the Bonferroni
/// agreement counts equal scipy/numpy's.
#[test]
fn part4_replication() {
    let r = reference();
    let k = r["n_neurons"].as_u64().unwrap();
    let rows = csv_rows("part4");
    for (name, key, rkey, panel) in [
        ("T_split2", "agree_2", "r_2", "A"),
        ("T_split12", "agree_12", "r_12", "B"),
    ] {
        let a = json_f64s(&r[key]);
        let rr = num(&r[rkey]);
        assert_eq!(
            run()
                .summary_line(&format!("T_split1 vs {name}: "))
                .unwrap(),
            format!(
                "T_split1 vs {name}: Bonferroni-significant in both {}, one {}, neither {} (of {k}); r = {rr:.4}",
                a[0], a[1], a[2]
            )
        );
        let title = format!("{panel}) T_split1 vs {name} (r = {rr:.3})");
        let mut pts = vec![];
        for s in ["Neither significant", "One significant", "Both significant"] {
            pts.extend(points(&rows, &title, s));
        }
        assert_eq!(pts.len() as u64, k, "{title}");
        let want = json_f64s(&r[if panel == "A" { "t2" } else { "t12" }]);
        let t1 = json_f64s(&r["t1"]);
        for (x, y) in pts {
            let j = t1.iter().position(|t| (t - x).abs() < 1e-6).unwrap();
            close(y, want[j], TOL, &title);
        }
    }
}

/// Part 5c: the largest and smallest T_split1 neurons are scipy's argmax / argmin.
#[test]
fn part5_extreme_neurons() {
    let r = reference();
    let (jmax, tmax) = (r["max_t"][0].as_u64().unwrap(), num(&r["max_t"][1]));
    let (jmin, tmin) = (r["min_t"][0].as_u64().unwrap(), num(&r["min_t"][1]));
    assert_eq!(
        run().summary_line("largest T_split1: ").unwrap(),
        format!(
            "largest T_split1: neuron {jmax} (t = {tmax:.4}); smallest: neuron {jmin} (t = {tmin:.4})"
        )
    );
    let rows = csv_rows("part5c");
    for series in [
        format!("Nouns, neuron {jmax} (t = {tmax:.2})"),
        format!("Verbs, neuron {jmin} (t = {tmin:.2})"),
    ] {
        let pts = points(
            &rows,
            "Neurons with the largest and smallest t-value",
            &series,
        );
        assert!(pts.len() >= 2, "{series}");
        let w = pts[1].0 - pts[0].0;
        let area: f64 = pts.iter().map(|p| p.1).sum::<f64>() * w;
        assert!(
            (area - 1.0).abs() < 1e-9,
            "{series}: density integrates to {area}"
        );
    }
    // 5a: counts of every activation of a set (20 words x neurons)
    let k = r["n_neurons"].as_f64().unwrap();
    let rows = csv_rows("part5a");
    let total: f64 = rows
        .iter()
        .filter(|row| row[1] == "nouns_split1")
        .map(|row| row[4].parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 20.0 * k);
}

fn tv_len() -> usize {
    reference()["t_within_verb"].as_array().unwrap().len()
}

/// Part 6: the within-category t values and the share of small |d| equal scipy/numpy's.
#[test]
fn part6_within_category_controls() {
    let r = reference();
    let rows = csv_rows("part6a");
    let pts = scatter(&rows, "A) Nouns vs verbs and nouns vs nouns");
    let (t1, tn) = (json_f64s(&r["t1"]), json_f64s(&r["t_within_noun"]));
    assert_eq!(pts.len(), t1.len());
    for (j, (x, y)) in pts.iter().enumerate() {
        close(*x, t1[j], TOL, "6a x");
        close(*y, tn[j], TOL, "6a y");
    }
    let pts = scatter(&rows, "B) Nouns vs verbs and verbs vs verbs");
    assert_eq!(pts.len(), tv_len());
    let tv = json_f64s(&r["t_within_verb"]);
    for (j, (_, y)) in pts.iter().enumerate() {
        close(*y, tv[j], TOL, "6b y");
    }
    assert_eq!(
        run().summary_line("|d| < 0.2: ").unwrap(),
        format!(
            "|d| < 0.2: within nouns {:.4}, across (nouns vs verbs) {:.4}",
            num(&r["frac_small_within"]),
            num(&r["frac_small_across"])
        )
    );
}

/// Part 7: every layer's proportions, mean |t| and split correlation equal scipy/numpy's
/// (mean |t| is NaN, null in the fixture, where no neuron is significant).
#[test]
fn part7_laminar() {
    let r = reference();
    let (h, cols) = table("part7_laminar");
    assert_eq!(h.len(), 6);
    let lam = r["laminar"].as_array().unwrap();
    assert_eq!(cols[0].len(), lam.len());
    assert_eq!(lam.len(), r["n_layer"].as_u64().unwrap() as usize);
    for (l, row) in lam.iter().enumerate() {
        for c in 1..6 {
            let want = &row[c];
            if want.is_null() {
                assert!(cols[c][l].is_nan(), "layer {l} column {c}");
            } else {
                close(cols[c][l], num(want), TOL, &format!("layer {l} {}", h[c]));
            }
        }
    }
}

/// Offline checks 3 and 4 on the run: the permutation --seed 0 draws and its argsort;
/// scrambled then unscrambled is the sentence; the sentence is the spec's 34 ids; token 0
/// is identical in the "sentence" and "words" runs in every layer (transformers says 0 too)
/// and later tokens differ; the per-layer correlations equal numpy's on transformers'
/// activations.
#[test]
fn check3_check4_part8_context() {
    let r = reference();
    let ids: Vec<u64> = r["sentence_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let spec: [u64; 34] = [
        464, 20132, 357, 34, 420, 418, 299, 1229, 7087, 64, 8, 318, 257, 2888, 286, 262, 18057,
        1641, 357, 32, 8344, 48319, 8, 290, 262, 691, 2877, 4693, 286, 262, 34306, 18490, 418, 13,
    ];
    assert_eq!(ids, spec);
    assert_eq!(
        run().summary_line("sentence: ").unwrap(),
        format!("sentence: 34 tokens: {spec:?}")
    );
    let perm: Vec<u64> = r["perm"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let inv: Vec<u64> = r["inverse"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(
        run().summary_line("permutation (seed 0): ").unwrap(),
        format!("permutation (seed 0): {perm:?}")
    );
    assert_eq!(
        run().summary_line("inverse: ").unwrap(),
        format!("inverse: {inv:?}")
    );
    let orig = run().summary_line("original: ").unwrap();
    let back = run().summary_line("unscrambled: ").unwrap();
    assert_eq!(orig["original: ".len()..], back["unscrambled: ".len()..]);
    assert!(orig.contains("The coconut (Cocos nucifera) is a member"));
    assert_ne!(
        run().summary_line("scrambled: ").unwrap()["scrambled: ".len()..],
        orig["original: ".len()..]
    );

    assert_eq!(num(&r["pos0_max_diff"]), 0.0);
    let first = run()
        .summary_value("position 0: largest |sentence - words| over all layers:")
        .unwrap();
    assert!(first < 1e-5, "{first}");
    let later = run()
        .summary_value(
            "positions 1..33: smallest per-token largest |sentence - words| over all layers:",
        )
        .unwrap();
    assert!(later > 1e-3, "{later}");

    let (_, cols) = table("part8_correlations");
    let r8 = r["r8"].as_array().unwrap();
    assert_eq!(cols[0].len(), r8.len());
    for (l, row) in r8.iter().enumerate() {
        let want = json_f64s(row);
        for k in 0..3 {
            close(cols[k + 1][l], want[k], TOL, &format!("layer {l} pair {k}"));
        }
    }
    // 8a: every 10th of 34 x 64 values, titles with numpy's r to 3 decimals
    let r8a = json_f64s(&r["r8a"]);
    let rows = csv_rows("part8a");
    for (k, (name, panel)) in [
        ("Sentence vs words", "A"),
        ("Sentence vs scrambled", "B"),
        ("Scrambled vs words", "C"),
    ]
    .iter()
    .enumerate()
    {
        let title = format!("{panel}) {name} (r = {:.3})", r8a[k]);
        let pts = scatter(&rows, &title);
        assert_eq!(pts.len(), (34 * 64usize).div_ceil(10), "{title}");
        let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
        assert!((pearson(&x, &y) - r8a[k]).abs() < TOL);
    }
}

fn neo_dir() -> std::path::PathBuf {
    common::assets_dir().join("models/tiny-gpt-neo")
}

fn hook_pre(m: &HookedModel, seqs: &[Vec<u32>]) -> Vec<Tensor> {
    let b = m.batch_from_ids(seqs, PaddingSide::Right).unwrap();
    let (_, c) = m
        .run_with_cache(&b, Names::matching("blocks.*.mlp.hook_pre"))
        .unwrap();
    (0..m.cfg.n_layers)
        .map(|l| {
            c.get(&format!("blocks.{l}.mlp.hook_pre"))
                .unwrap()
                .to_kind(Kind::Double)
        })
        .collect()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn fixture_rows(v: &Value, rows: i64) -> Tensor {
    Tensor::from_slice(&json_f64s(v)).reshape([rows, -1])
}

/// Offline check 4 on GPT-Neo: common's `mlp.hook_pre` of the tiny random GPT-Neo equals
/// transformers' c_fc output (forward hook) for an 8-token sequence and for its tokens one
/// at a time; token 0 is the same in both, later tokens differ.
#[test]
fn check4_gpt_neo_c_fc_and_causality() {
    let r = reference();
    let ids: Vec<u32> = r["neo_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let n = ids.len() as i64;
    let m = HookedModel::from_pretrained(neo_dir().to_str().unwrap(), Device::Cpu).unwrap();
    let seq = hook_pre(&m, std::slice::from_ref(&ids));
    let words = hook_pre(&m, &ids.iter().map(|&i| vec![i]).collect::<Vec<_>>());
    let (want_seq, want_words) = (
        r["neo_seq_c_fc"].as_array().unwrap(),
        r["neo_words_c_fc"].as_array().unwrap(),
    );
    assert_eq!(seq.len(), want_seq.len());
    for l in 0..seq.len() {
        let s = seq[l].get(0); // [n, d_mlp]
        let w = words[l].select(1, 0); // [n, d_mlp]
        assert!(
            max_abs(&s, &fixture_rows(&want_seq[l], n)) < 1e-5,
            "layer {l} sentence"
        );
        assert!(
            max_abs(&w, &fixture_rows(&want_words[l], n)) < 1e-5,
            "layer {l} words"
        );
        assert!(max_abs(&s.get(0), &w.get(0)) < 1e-5, "layer {l} token 0");
        for p in 1..n {
            assert!(max_abs(&s.get(p), &w.get(p)) > 1e-4, "layer {l} token {p}");
        }
    }
}

/// Offline check 6: GPT-Neo's attention scores are q·k without 1/sqrt(d_head), masked
/// to -inf outside the causal window (layer 1 is local, window 4); with a sequence no
/// longer than the window a local layer equals a global one, with a longer one it does not.
#[test]
fn check6_gpt_neo_attention() {
    let m = HookedModel::from_pretrained(neo_dir().to_str().unwrap(), Device::Cpu).unwrap();
    let ids: Vec<u32> = vec![5, 100, 37, 200, 12, 250, 3, 77];
    let n = ids.len() as i64;
    let b = m
        .batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)
        .unwrap();
    let (_, c) = m.run_with_cache(&b, Names::all()).unwrap();
    let window = 4;
    for (l, local) in [(0, false), (1, true)] {
        let q = c.get(&format!("blocks.{l}.attn.hook_q")).unwrap().get(0); // [p, h, dh]
        let k = c.get(&format!("blocks.{l}.attn.hook_k")).unwrap().get(0);
        let s = c
            .get(&format!("blocks.{l}.attn.hook_attn_scores"))
            .unwrap()
            .get(0); // [h, q, k]
        let qk = Tensor::einsum("qhd,khd->hqk", &[q, k], None::<i64>);
        for i in 0..n {
            for j in 0..n {
                let visible = j <= i && (!local || i - j < window);
                let got = s.narrow(1, i, 1).narrow(2, j, 1).reshape([-1]);
                if visible {
                    let want = qk.narrow(1, i, 1).narrow(2, j, 1).reshape([-1]);
                    assert!(max_abs(&got, &want) < 1e-5, "layer {l} ({i}, {j})");
                } else {
                    let v: Vec<f64> = Vec::try_from(got.to_kind(Kind::Double)).unwrap();
                    assert!(
                        v.iter().all(|x| *x == f64::NEG_INFINITY),
                        "layer {l} ({i}, {j})"
                    );
                }
            }
        }
    }

    // The same weights with both layers global.
    let tmp = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(neo_dir().join(f), tmp.path().join(f)).unwrap();
    }
    let mut cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(neo_dir().join("config.json")).unwrap())
            .unwrap();
    cfg["attention_layers"] = serde_json::json!(["global", "global"]);
    cfg["attention_types"] = serde_json::json!([[["global", "global"], 1]]);
    std::fs::write(tmp.path().join("config.json"), cfg.to_string()).unwrap();
    let g = HookedModel::from_pretrained(tmp.path().to_str().unwrap(), Device::Cpu).unwrap();
    let short = vec![ids[..4].to_vec()];
    for (a, b) in hook_pre(&m, &short).iter().zip(hook_pre(&g, &short)) {
        assert!(
            max_abs(a, &b) < 1e-6,
            "window 4 >= 4 tokens: local == global"
        );
    }
    let long = vec![ids.clone()];
    let (a, b) = (hook_pre(&m, &long), hook_pre(&g, &long));
    assert!(max_abs(&a[0], &b[0]) < 1e-6, "layer 0 is global in both");
    assert!(
        max_abs(&a[1], &b[1]) > 1e-4,
        "8 tokens: the local layer sees less"
    );
}

/// Bad input is a clear error before anything is written.
#[test]
fn bad_flags_are_errors() {
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .expect("layer 3 of a 3-block model must fail")
        .to_string();
    assert!(err.contains("--layer 3 is out of range"), "{err}");
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--n-words", "3"])
        .err()
        .expect("3 words must fail")
        .to_string();
    assert!(err.contains("at least 4 are needed"), "{err}");
    let bert = common::assets_dir().join("models/tiny-bert");
    let err = run_project(
        BIN,
        &[
            "--quick",
            "--device",
            "cpu",
            "--model",
            bert.to_str().unwrap(),
        ],
    )
    .err()
    .expect("an encoder must fail")
    .to_string();
    assert!(err.contains("causal language model"), "{err}");
}
