//! Project 34's offline checks. The --quick run (the tiny random GPT-2 and the story in
//! src/quick_text.txt, offline) is compared with references that do not come from the
//! program: transformers/torch/numpy on the same model and text
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`: the c_attn outputs
//! as transformers' forward hook sees them, its attention probabilities, numpy's
//! statistics), the raw weights read here straight from `model.safetensors` (the c_attn
//! output recomputed by hand), and closed forms. The batch builder, the descriptive
//! helper, the densities and the token stdev are also unit-tested on synthetic inputs in
//! `src/qkv.rs` (offline checks 1, 4 and 5).

// Matrix checks read best as index loops.
#![allow(clippy::needless_range_loop)]

use common::testing::reference::{safetensors_matrix, tiny_gpt2_dir};
use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, json_usizes, points, read_csv,
    run_project, xs, ys, FigureSeries, ProjectRun,
};
use common::{HookedModel, Names, PaddingSide};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project34_qkv_activations");
const MATRICES: [&str; 3] = ["Q", "K", "V"];
const FEATURES: [&str; 3] = ["Arithmetic mean", "L1 mean", "Variance"];
const CATEGORIES: [&str; 2] = ["Target", "Non-target"];
/// Activations of two float32 implementations of the same model (ours through libtorch,
/// transformers') agree to about 1e-6.
const ACT_TOL: f64 = 1e-5;

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

fn cfg(key: &str) -> usize {
    reference()["config"][key].as_u64().unwrap() as usize
}

fn layer() -> usize {
    reference()["layer"].as_u64().unwrap() as usize
}

/// The rows of the batch as Python built them.
fn rows() -> Vec<Vec<u32>> {
    reference()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json_usizes(r).into_iter().map(|t| t as u32).collect())
        .collect()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_close(got, want, tol, what).unwrap();
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// The heatmaps of a figure's CSV: panel -> matrix (rows as stored).
fn heatmaps(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// `[rows][cols]` of a flat list.
fn matrix(flat: &[f64], cols: usize) -> Vec<Vec<f64>> {
    assert_eq!(flat.len() % cols, 0);
    flat.chunks(cols).map(|c| c.to_vec()).collect()
}

/// transformers' c_attn output of sequence 0 at layer `l`: `[pos][3d]`.
fn c_attn_seq0(l: usize) -> Vec<Vec<f64>> {
    let all = json_f64s(&reference()["c_attn_seq0"]);
    let (p, w) = (rows()[0].len(), 3 * cfg("n_embd"));
    matrix(&all[l * p * w..(l + 1) * p * w], w)
}

/// A float32 tensor of the tiny model's `model.safetensors` (any shape, flattened), read
/// from the file's bytes: the name is `name` or ends with `.name`.
fn vector(name: &str) -> Vec<f64> {
    let bytes = std::fs::read(tiny_gpt2_dir().join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let keys: Vec<&String> = header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k == name || k.ends_with(&format!(".{name}")))
        .collect();
    assert_eq!(keys.len(), 1, "{name}: {keys:?}");
    let e = &header[keys[0]];
    assert_eq!(e["dtype"], "F32");
    let off = json_usizes(&e["data_offsets"]);
    bytes[8 + n + off[0]..8 + n + off[1]]
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1", "part2a", "part2b", "part3a", "part3b", "part4", "part5a", "part5b",
    ] {
        run().check_figure(&format!("ch6_proj34_{f}")).unwrap();
    }
}

/// Offline check 1 on the quick story: the program's batch equals Python's (same token
/// ids), every row holds 51 tokens ending in 588 and equals the stream's slice ending at
/// its position, every target before position 50 is dropped; the printed counts and
/// decoded tails are transformers' tokenizer's.
#[test]
fn check1_batch_of_target_contexts() {
    let r = reference();
    let positions = json_usizes(&r["positions"]);
    let kept = json_usizes(&r["kept"]);
    assert_eq!(r["target_id"], 588);
    assert!(
        positions.iter().any(|&p| p < 50),
        "the story has a target before 50"
    );
    assert_eq!(
        kept,
        positions
            .iter()
            .copied()
            .filter(|&p| p >= 50)
            .collect::<Vec<_>>()
    );
    let s = run();
    assert_eq!(
        s.summary_line("target \" like\" = token ").unwrap(),
        format!(
            "target \" like\" = token 588: {} occurrences",
            positions.len()
        )
    );
    assert_eq!(
        s.summary_line("targets with 50 tokens of context: ")
            .unwrap(),
        format!(
            "targets with 50 tokens of context: {} (dropped {} at positions < 50)",
            kept.len(),
            positions.len() - kept.len()
        )
    );
    assert_eq!(
        s.summary_line("batch: ").unwrap(),
        format!(
            "batch: [{}, 51] token ids; column 50 is always 588, column 49 the non-target",
            kept.len()
        )
    );
    let n_tokens = r["n_tokens"].as_u64().unwrap();
    assert!(s
        .summary_line("the quick story: ")
        .unwrap()
        .ends_with(&format!(
            " characters, {n_tokens} tokens (one sequence, no truncation)"
        )));

    let (header, table) = read_csv(&s.file("batch.csv")).unwrap();
    assert_eq!(header, ["row", "target_position", "token_ids"]);
    let want = rows();
    assert_eq!(table.len(), kept.len());
    // Each row is the 51 tokens ending at its position, so rows whose windows overlap
    // agree on the shared tokens.
    for (i, row) in table.iter().enumerate() {
        assert_eq!(row[0], i.to_string());
        assert_eq!(row[1], kept[i].to_string());
        let ids: Vec<u32> = row[2].split(' ').map(|t| t.parse().unwrap()).collect();
        assert_eq!(ids.len(), 51);
        assert_eq!(ids[50], 588);
        assert_eq!(ids, want[i], "row {i}");
        if i > 0 && kept[i] - kept[i - 1] <= 50 {
            let shift = kept[i] - kept[i - 1];
            assert_eq!(
                ids[..51 - shift],
                want[i - 1][shift..],
                "rows {} and {i}",
                i - 1
            );
        }
    }
    for (i, tail) in r["tails"].as_array().unwrap().iter().enumerate() {
        let tail = tail.as_str().unwrap();
        assert_eq!(
            s.summary_line(&format!("row {i} (position ")).unwrap(),
            format!("row {i} (position {}) ends: {tail:?}", kept[i])
        );
        assert!(tail.ends_with(" like"));
    }
}

/// ln_1(x) @ W + b in float64 from the raw weights: `x` `[pos][d]` -> `[pos][3d]`.
fn c_attn_by_hand(x: &[Vec<f64>], l: usize) -> Vec<Vec<f64>> {
    let d = cfg("n_embd");
    let g = vector(&format!("h.{l}.ln_1.weight"));
    let b = vector(&format!("h.{l}.ln_1.bias"));
    let w = safetensors_matrix(&tiny_gpt2_dir(), &format!("h.{l}.attn.c_attn.weight")).unwrap();
    assert_eq!((w.rows, w.cols), (d, 3 * d), "Conv1D layout [d, 3d]");
    let bias = vector(&format!("h.{l}.attn.c_attn.bias"));
    x.iter()
        .map(|row| {
            let mean = row.iter().sum::<f64>() / d as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
            let ln: Vec<f64> = (0..d)
                .map(|e| (row[e] - mean) / (var + 1e-5).sqrt() * g[e] + b[e])
                .collect();
            (0..3 * d)
                .map(|c| {
                    (0..d)
                        .map(|e| ln[e] * f64::from(w.data[e * 3 * d + c]))
                        .sum::<f64>()
                        + bias[c]
                })
                .collect()
        })
        .collect()
}

/// Offline check 2, on the program's output: the Part 1 image is transformers' c_attn
/// output at the target position (rows = sequences, columns Q | K | V, separators at d and
/// 2d), and the same as ln_1(block input) @ W + b computed here from the raw weights; the
/// Part 5a head images are columns h*d_head .. of the Q block of sequence 0.
#[test]
fn check2_c_attn_output_split_and_heads() {
    let (d, hd, h) = (cfg("n_embd"), cfg("head_dim"), cfg("n_head"));
    let l = layer();
    assert_eq!(l, 2, "the tiny model's last block stands in for layer 6");
    let n = rows().len();
    let hm = heatmaps("ch6_proj34_part1");
    let img = &hm[&format!("QKV activations (c_attn output) of layer {l} at the target token")];
    assert_eq!((img.len(), img[0].len()), (n, 3 * d));
    let want = matrix(&json_f64s(&reference()["c_attn_final"]), 3 * d);
    for i in 0..n {
        close(&img[i], &want[i], ACT_TOL, &format!("part 1 row {i}"));
    }
    let (_, csv) = read_csv(&run().file("ch6_proj34_part1.csv")).unwrap();
    let mut vlines: Vec<f64> = csv
        .iter()
        .filter(|r| r[2] == "vline")
        .map(|r| r[3].parse().unwrap())
        .collect();
    vlines.sort_by(f64::total_cmp);
    assert_eq!(vlines, [d as f64, 2.0 * d as f64]);

    // by hand from transformers' block input of sequence 0
    let resid = matrix(&json_f64s(&reference()["resid_pre_seq0"]), d);
    let hand = c_attn_by_hand(&resid, l);
    let seq0 = c_attn_seq0(l);
    for t in 0..resid.len() {
        close(
            &hand[t],
            &seq0[t],
            ACT_TOL,
            &format!("by hand vs transformers, token {t}"),
        );
    }
    close(&img[0], &hand[50], ACT_TOL, "part 1 row 0 vs by hand");

    let heads = heatmaps("ch6_proj34_part5a");
    assert_eq!(heads.len(), h);
    for head in 0..h {
        let img = &heads[&format!("panel{head}")];
        assert_eq!(
            (img.len(), img[0].len()),
            (hd, 51),
            "Qh{head}: [head dims x tokens]"
        );
        for j in 0..hd {
            let col = head * hd + j; // the Q block starts at column 0
            let want: Vec<f64> = hand.iter().map(|r| r[col]).collect();
            close(&img[j], &want, ACT_TOL, &format!("Qh{head} dim {j}"));
        }
    }
    let (_, rows5) = read_csv(&run().file("ch6_proj34_part5a.csv")).unwrap();
    let labels: Vec<&str> = rows5
        .iter()
        .filter(|r| r[2] == "text")
        .map(|r| r[5].as_str())
        .collect();
    assert_eq!(labels, (0..h).map(|i| format!("Qh{i}")).collect::<Vec<_>>());
}

/// The tiny model through common with the hook points the program caches.
fn hooked_run(seqs: &[Vec<u32>]) -> common::ActivationCache {
    let m =
        HookedModel::from_pretrained(tiny_gpt2_dir().to_str().unwrap(), tch::Device::Cpu).unwrap();
    let batch = m.batch_from_ids(seqs, PaddingSide::Right).unwrap();
    let names = Names::matching("blocks.*.attn.hook_q")
        .and("blocks.*.attn.hook_k")
        .and("blocks.*.attn.hook_v")
        .and("blocks.*.attn.hook_pattern");
    m.run_with_cache(&batch, names).unwrap().1
}

fn values(t: &tch::Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).flatten(0, -1)).unwrap()
}

/// Offline check 2, on the hook points the program reads: `attn.hook_q | hook_k | hook_v`
/// of every block are transformers' c_attn output split at d and 2d, with heads as
/// contiguous column blocks; causal softmax(q k^T / sqrt(d_head)) recomputed here from
/// them equals transformers' attention probabilities (and common's hook_pattern).
#[test]
fn check2_hook_points_and_attention() {
    let (d, hd, h, n_layer) = (
        cfg("n_embd"),
        cfg("head_dim"),
        cfg("n_head"),
        cfg("n_layer"),
    );
    let seqs = rows();
    let cache = hooked_run(&seqs);
    let p = 51;
    for l in 0..n_layer {
        let want = c_attn_seq0(l);
        for (m, name) in MATRICES.iter().enumerate() {
            let t = cache
                .get(&format!("blocks.{l}.attn.hook_{}", name.to_lowercase()))
                .unwrap();
            assert_eq!(t.size(), [seqs.len() as i64, p as i64, h as i64, hd as i64]);
            let got = values(&t.get(0)); // [p, h, hd] row-major = [p, d]
            let exp: Vec<f64> = want
                .iter()
                .flat_map(|r| r[m * d..(m + 1) * d].to_vec())
                .collect();
            close(&got, &exp, ACT_TOL, &format!("layer {l} {name}"));
        }
    }
    let l = layer();
    let q = values(
        &cache
            .get(&format!("blocks.{l}.attn.hook_q"))
            .unwrap()
            .get(0),
    );
    let k = values(
        &cache
            .get(&format!("blocks.{l}.attn.hook_k"))
            .unwrap()
            .get(0),
    );
    let at = |x: &[f64], t: usize, head: usize, j: usize| x[t * d + head * hd + j];
    let mut probs = vec![];
    for head in 0..h {
        for i in 0..p {
            let scores: Vec<f64> = (0..=i)
                .map(|j| {
                    (0..hd)
                        .map(|e| at(&q, i, head, e) * at(&k, j, head, e))
                        .sum::<f64>()
                        / (hd as f64).sqrt()
                })
                .collect();
            let mx = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = scores.iter().map(|s| (s - mx).exp()).sum();
            probs.extend(scores.iter().map(|s| (s - mx).exp() / z));
            probs.extend(std::iter::repeat_n(0.0, p - 1 - i)); // masked future keys
        }
    }
    close(
        &probs,
        &json_f64s(&reference()["attn_seq0"]),
        1e-5,
        "recomputed vs transformers",
    );
    let pattern = values(
        &cache
            .get(&format!("blocks.{l}.attn.hook_pattern"))
            .unwrap()
            .get(0),
    );
    close(&probs, &pattern, 1e-5, "recomputed vs hook_pattern");
    assert_eq!(reference()["attn_recompute_max_err"].as_f64().unwrap(), 0.0);
}

/// Offline check 3: a different token at the last position leaves every Q, K, V at
/// positions 0..49 bit-identical (and changes position 50).
#[test]
fn check3_causality() {
    let seqs = rows();
    let changed: Vec<Vec<u32>> = seqs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[50] = 589;
            r
        })
        .collect();
    let (a, b) = (hooked_run(&seqs), hooked_run(&changed));
    for l in 0..cfg("n_layer") {
        for m in ["q", "k", "v"] {
            let name = format!("blocks.{l}.attn.hook_{m}");
            let (x, y) = (a.get(&name).unwrap(), b.get(&name).unwrap());
            assert!(
                x.narrow(1, 0, 50).equal(&y.narrow(1, 0, 50)),
                "{name} before the end"
            );
            assert!(
                !x.narrow(1, 50, 1).equal(&y.narrow(1, 50, 1)),
                "{name} at the end"
            );
        }
    }
}

/// Parts 2 and 3 (and the descriptive helper of offline check 4 on real activations):
/// the Part 2a bars, the Part 3 table and the Part 3a/3b lines equal numpy's per-sequence
/// mean, mean |x| and variance (ddof 1) averaged over sequences, at positions -1 and -2,
/// for every layer and matrix.
#[test]
fn parts2_and_3_descriptives() {
    let n_layer = cfg("n_layer");
    let l = layer();
    let desc = &reference()["descriptives"]; // [layer][matrix][category][feature]
    let get = |l: usize, m: usize, c: usize, f: usize| desc[l][m][c][f].as_f64().unwrap();

    let s = series("ch6_proj34_part2a");
    let panel = format!("Descriptives of Q in layer {l}");
    for (c, (cat, offset)) in CATEGORIES.iter().zip([-0.2, 0.2]).enumerate() {
        let bars = points(&s, &panel, cat);
        close(
            &xs(bars),
            &[offset, 1.0 + offset, 2.0 + offset],
            1e-12,
            "bar x",
        );
        let want: Vec<f64> = (0..3).map(|f| get(l, 0, c, f)).collect();
        close(&ys(bars), &want, ACT_TOL, &format!("2a {cat}"));
        // the printed line: the same three numbers to 6 decimals
        let line = run()
            .summary_line(&format!("layer {l} Q {cat:<10}: mean "))
            .unwrap();
        let printed: Vec<f64> = line
            .split([',', ' '])
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(printed.len(), 4, "{line}"); // the layer, then the three
        close(&printed[1..], &want, 1e-6 + ACT_TOL, &line);
    }

    let (header, table) = read_csv(&run().file("part3_descriptives.csv")).unwrap();
    assert_eq!(
        header,
        ["layer", "matrix", "feature", "target", "non_target"]
    );
    assert_eq!(table.len(), n_layer * 9);
    for (i, row) in table.iter().enumerate() {
        let (l, m, f) = (i / 9, (i / 3) % 3, i % 3);
        assert_eq!(
            row[..3],
            [
                l.to_string(),
                MATRICES[m].to_string(),
                FEATURES[f].to_string()
            ]
        );
        for c in 0..2 {
            let got: f64 = row[3 + c].parse().unwrap();
            close(
                &[got],
                &[get(l, m, c, f)],
                ACT_TOL,
                &format!("table {row:?}"),
            );
        }
    }

    let a = series("ch6_proj34_part3a");
    let b = series("ch6_proj34_part3b");
    for (f, feature) in FEATURES.iter().enumerate() {
        for (m, name) in MATRICES.iter().enumerate() {
            let avg: Vec<f64> = (0..n_layer)
                .map(|l| 0.5 * (get(l, m, 0, f) + get(l, m, 1, f)))
                .collect();
            let diff: Vec<f64> = (0..n_layer)
                .map(|l| get(l, m, 1, f) - get(l, m, 0, f))
                .collect();
            let pa = points(&a, feature, name);
            assert_eq!(xs(pa), (0..n_layer).map(|l| l as f64).collect::<Vec<_>>());
            close(&ys(pa), &avg, ACT_TOL, &format!("3a {feature} {name}"));
            close(
                &ys(points(&b, feature, name)),
                &diff,
                ACT_TOL,
                &format!("3b {feature} {name}"),
            );
        }
        let zero = points(&b, feature, "series0");
        assert_eq!(zero.len(), 1);
        assert!(zero[0].1 == 0.0 && zero[0].0.is_nan(), "grey zero line");
    }
}

/// Offline check 5 and Parts 2b and 4: the densities equal numpy's `density=True` over
/// linspace(-7, 7, 234) (layer 6's stand-in) and linspace(-4, 4, 101) (every layer,
/// layer 0 in the bottom row), plotted at the left edges; every one integrates to 1 (all
/// values of the tiny model fall inside the edges).
#[test]
fn parts2b_and_4_densities() {
    let n_layer = cfg("n_layer");
    let l = layer();
    let edges = |a: f64, b: f64, n: usize| -> Vec<f64> {
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect()
    };
    let e2 = edges(-7.0, 7.0, 234);
    let s = series("ch6_proj34_part2b");
    let panel = format!("Attention matrices distributions from layer {l}");
    for (m, name) in MATRICES.iter().enumerate() {
        for (c, cat) in CATEGORIES.iter().enumerate() {
            let p = points(&s, &panel, &format!("{name} {}", cat.to_lowercase()));
            close(&xs(p), &e2[..233], 1e-12, "left edges");
            let want = json_f64s(&reference()["density_part2"][m][c]);
            close(&ys(p), &want, 1e-9, &format!("2b {name} {cat}"));
            let area: f64 = ys(p).iter().map(|v| v * 14.0 / 233.0).sum();
            assert!((area - 1.0).abs() < 1e-9, "{name} {cat}: area {area}");
        }
    }
    let hm = heatmaps("ch6_proj34_part4");
    assert_eq!(hm.len(), 6);
    for (c, cat) in CATEGORIES.iter().enumerate() {
        for (m, name) in MATRICES.iter().enumerate() {
            let img = &hm[&format!("{cat} {name}")];
            assert_eq!((img.len(), img[0].len()), (n_layer, 100));
            for l in 0..n_layer {
                let row = &img[n_layer - 1 - l]; // origin lower
                let want = json_f64s(&reference()["density_part4"][l][m][c]);
                close(row, &want, 1e-9, &format!("4 {cat} {name} layer {l}"));
                let area: f64 = row.iter().map(|v| v * 0.08).sum();
                assert!(
                    (area - 1.0).abs() < 1e-9,
                    "{cat} {name} layer {l}: area {area}"
                );
            }
        }
    }
}

/// Part 5b: the mean over sequences, heads and head dims of the unbiased std across the
/// 51 tokens, per layer and matrix, equals numpy's on transformers' activations.
#[test]
fn part5b_token_std() {
    let n_layer = cfg("n_layer");
    let s = series("ch6_proj34_part5b");
    let (_, table) = read_csv(&run().file("part5_token_std.csv")).unwrap();
    assert_eq!(table.len(), 3 * n_layer);
    for (m, name) in MATRICES.iter().enumerate() {
        let want: Vec<f64> = (0..n_layer)
            .map(|l| reference()["token_std"][l][m].as_f64().unwrap())
            .collect();
        let p = points(&s, "Per-head standard deviation across tokens", name);
        close(&ys(p), &want, ACT_TOL, &format!("5b {name}"));
        let col: Vec<f64> = table[m * n_layer..(m + 1) * n_layer]
            .iter()
            .map(|r| {
                assert_eq!(r[1], *name);
                r[2].parse().unwrap()
            })
            .collect();
        close(&col, &want, ACT_TOL, "table");
    }
}

/// Bad input fails before the output folder is touched, with an error that says what to
/// do, never a panic.
#[test]
fn bad_input_fails_fast_without_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let no_target = tmp.path().join("no_target.txt");
    std::fs::write(&no_target, "A text that never uses the word. Likely not.").unwrap();
    let no_target = no_target.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--layer", "3"], "--layer 3 is out of range"),
        (vec!["--target", " like you"], "must be exactly one"),
        (vec!["--context", "64"], "--context 64 does not fit"),
        (vec!["--batch-size", "0"], "--batch-size must be at least 1"),
        (vec!["--model", "./no/such/model"], "./no/such/model"),
        (vec!["--book-file", &no_target], "nothing to analyse"),
        (
            vec!["--book-file", "/no/such/book.txt"],
            "reading --book-file",
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
        let siblings: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != "no_target.txt")
            .collect();
        assert!(siblings.is_empty(), "{flags:?} left {siblings:?}");
    }
}
