//! Project 24's offline checks. The --quick run (tiny random GPT-2, the project's own
//! passage, offline) is compared with references that do not come from the program:
//! transformers' hidden states for the same tiny model and texts
//! (`tests/fixtures/reference.json`, written by `scripts/make_fixture.py`), the raw
//! weights read straight from `model.safetensors`, the tiny model run again here through
//! common's API, the spec's token ids and closed forms. Cosines, means and standard
//! deviations are recomputed here in plain f64 loops.

// Matrix checks read best as index loops.
#![allow(clippy::needless_range_loop)]

use common::testing::reference::{cosine_matrix, safetensors_matrix, tiny_gpt2_dir};
use common::testing::{
    figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project, ys, FigureSeries,
    ProjectRun,
};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The spec's GPT-2 ids of "A wise man once said: Penguins are cute.".
const SPEC_IDS: [u32; 10] = [32, 10787, 582, 1752, 531, 25, 29755, 389, 13779, 13];
const SENTENCE: &str = "A wise man once said: Penguins are cute.";
const FOCUS: usize = 8;
const TOL: f64 = 2e-5;

fn reference() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("fixtures/reference.json")).expect("reference.json")
    })
}

/// transformers' hidden states of the sentence: `[n_hidden][token][d]`.
fn hidden() -> Vec<Vec<Vec<f64>>> {
    reference()["hidden"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_array().unwrap().iter().map(json_f64s).collect())
        .collect()
}

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| {
        run_project(
            env!("CARGO_BIN_EXE_project24_layer_cosine_similarity"),
            &["--quick", "--device", "cpu"],
        )
        .unwrap()
    })
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn label(k: usize) -> String {
    if k == 0 {
        "Emb".into()
    } else {
        format!("L{}", k - 1)
    }
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    common::testing::assert_close(got, want, tol, what).unwrap();
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Unbiased (N - 1) variance.
fn var(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64
}

/// The heatmaps of a figure's CSV: panel -> matrix (rows as stored).
fn heatmaps(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// n evenly spaced integers from 0 to b, truncated (the spec's integer linspace).
fn int_linspace(b: usize, n: usize) -> Vec<usize> {
    (0..n).map(|i| i * b / (n - 1)).collect()
}

fn n_hidden_from_config() -> usize {
    let cfg: Value = serde_json::from_str(
        &std::fs::read_to_string(tiny_gpt2_dir().join("config.json")).unwrap(),
    )
    .unwrap();
    cfg["n_layer"].as_u64().unwrap() as usize + 1
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part2a", "part2b", "part3a", "part3b", "part3c", "part4a", "part4b", "part5",
    ] {
        run().check_figure(&format!("ch5_proj24_{f}")).unwrap();
    }
}

/// Offline check 1: the sentence encodes to the spec's ids and decodes back.
#[test]
fn check1_tokenizer() {
    // the program's tokenizer (the tiny model's tokenizer.json) gives the spec's ids ...
    let line = run().summary_line("token ids: ").unwrap();
    assert_eq!(line, format!("token ids: {SPEC_IDS:?}"));
    assert_eq!(
        run().summary_line("attention mask: ").unwrap(),
        format!("attention mask: {:?}", [1; 10])
    );
    // ... and so do transformers' tokenizer and GPT-2's BPE from tiktoken (r50k_base)
    let r: Vec<u32> = json_f64s(&reference()["sentence_ids"])
        .iter()
        .map(|&x| x as u32)
        .collect();
    assert_eq!(r, SPEC_IDS);
    assert_eq!(reference()["sentence_decoded"], SENTENCE);
    let t = common::tokenizer::Tokenizer::gpt2();
    let ids = t.encode(SENTENCE).unwrap();
    assert_eq!(ids, SPEC_IDS);
    assert_eq!(t.decode(&ids).unwrap(), SENTENCE);
}

/// Offline check 2: n_layer + 1 hidden states; H[0] = wte[ids] + wpe[positions]; the last
/// one is ln_f(output of the last block); all equal transformers' hidden states.
#[test]
fn check2_hidden_states() {
    let n = n_hidden_from_config();
    assert_eq!(n, 4);
    assert_eq!(reference()["n_hidden"].as_u64().unwrap() as usize, n);
    let r = run();
    assert_eq!(
        r.summary_line("number of hidden states: ").unwrap(),
        format!("number of hidden states: {n}")
    );
    assert_eq!(
        r.summary_line("logits shape: ").unwrap(),
        "logits shape: (1, 10, 50257)"
    );
    assert_eq!(
        r.summary_line("shape of each hidden state: ").unwrap(),
        "shape of each hidden state: (1, 10, 16)"
    );

    // Part 2a panel A holds the focus token's vector at every hidden state.
    let s = series("ch5_proj24_part2a");
    let panel = "A) Activations of \" cute\"";
    let act = |k: usize| ys(points(&s, panel, &label(k)));

    // H[0] from the raw weights: token embedding row + position embedding row.
    let dir = tiny_gpt2_dir();
    let wte = safetensors_matrix(&dir, "wte.weight").unwrap();
    let wpe = safetensors_matrix(&dir, "wpe.weight").unwrap();
    let emb: Vec<f64> = wte
        .row(SPEC_IDS[FOCUS] as usize)
        .iter()
        .zip(wpe.row(FOCUS))
        .map(|(a, b)| a + b)
        .collect();
    close(&act(0), &emb, 1e-6, "H[0] = wte + wpe");

    // The last: the final layer norm, by hand from the raw ln_f weights, applied to the
    // last block's output (blocks.2.hook_resid_post, cached through common's API).
    let model = HookedModel::from_pretrained(&common::cli::tiny_gpt2(), tch::Device::Cpu).unwrap();
    let batch = model
        .batch_from_ids(&[SPEC_IDS.to_vec()], PaddingSide::Right)
        .unwrap();
    let last_block = format!("blocks.{}.hook_resid_post", n - 2);
    let out = model
        .run(
            &batch,
            &RunOptions::default()
                .cache(Names::list(&[&last_block]))
                .logits(LogitsAt::None),
        )
        .unwrap();
    let x: Vec<f64> = Vec::<f64>::try_from(
        out.cache
            .get(&last_block)
            .unwrap()
            .get(0)
            .get(FOCUS as i64)
            .to_kind(tch::Kind::Double),
    )
    .unwrap();
    let (w, b) = (vector(&dir, "ln_f.weight"), vector(&dir, "ln_f.bias"));
    let m = mean(&x);
    let pop_var = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64;
    let normed: Vec<f64> = x
        .iter()
        .zip(w.iter().zip(&b))
        .map(|(v, (w, b))| (v - m) / (pop_var + 1e-5).sqrt() * w + b)
        .collect();
    close(&act(n - 1), &normed, 1e-5, "H[last] = ln_f(last block)");
    // ... and it is not the last block's raw output
    assert!(
        act(n - 1).iter().zip(&x).any(|(a, b)| (a - b).abs() > 1e-2),
        "the last hidden state must be after ln_f"
    );

    // Every hidden state of the focus token equals transformers'; x = k + jitter.
    let h = hidden();
    for k in 0..n {
        close(&act(k), &h[k][FOCUS], TOL, &format!("H[{k}][{FOCUS}]"));
        let p = points(&s, panel, &label(k));
        assert!(p.iter().all(|q| q.0.round() as usize == k), "layer {k} x");
    }
    // Panels B and C: mean and unbiased variance of those vectors.
    for k in 0..n {
        let v = &h[k][FOCUS];
        let bm = points(&s, "B) Mean of activations", &label(k));
        let cv = points(&s, "C) Variance of activations", &label(k));
        assert_eq!((bm[0].0, cv[0].0), (k as f64, k as f64));
        close(&ys(bm), &[mean(v)], TOL, "mean");
        close(&ys(cv), &[var(v)], TOL, "unbiased variance");
    }

    // Part 2b: std (N - 1) of every token at every layer, rows = layers.
    let hm = heatmaps("ch5_proj24_part2b");
    let stds = &hm["Standard deviation of each token's hidden state"];
    assert_eq!((stds.len(), stds[0].len()), (n, 10));
    for k in 0..n {
        let want: Vec<f64> = h[k].iter().map(|v| var(v).sqrt()).collect();
        close(&stds[k], &want, TOL, &format!("token_stds[{k}]"));
    }
}

/// A 1-d float32 tensor of the tiny model's `model.safetensors`, by name suffix.
fn vector(dir: &std::path::Path, name: &str) -> Vec<f64> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let found: Vec<String> = st
        .names()
        .into_iter()
        .filter(|n| *n == name || n.ends_with(&format!(".{name}")))
        .cloned()
        .collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    let t = st.tensor(&found[0]).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::F32);
    t.data()
        .chunks_exact(4)
        .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect()
}

fn assert_cosine_matrix(m: &[Vec<f64>], what: &str) {
    for (i, row) in m.iter().enumerate() {
        assert!(
            (row[i] - 1.0).abs() <= 1e-5,
            "{what}: diagonal {i} = {}",
            row[i]
        );
        for (j, v) in row.iter().enumerate() {
            assert!(
                (v - m[j][i]).abs() <= 1e-5,
                "{what}: not symmetric at {i},{j}"
            );
            // [-1, 1] up to float64 rounding (a diagonal may be 1 + 2e-16)
            assert!(v.abs() <= 1.0 + 1e-12, "{what}: {v} outside [-1, 1]");
        }
    }
}

/// Offline checks 3 and 5: the four layer x layer matrices (tokens 0, 3, 6, 9) and the
/// four token x token matrices (layers from the integer linspace) are symmetric with
/// ones on the diagonal, inside [-1, 1], and equal the cosines of transformers' hidden
/// states computed here.
#[test]
fn check3_and_5_cosine_matrices() {
    let h = hidden();
    let n = h.len();
    let tokens = int_linspace(9, 4);
    assert_eq!(tokens, [0, 3, 6, 9]);
    let names = ["A", " once", " Penguins", "."];
    assert!(run()
        .summary_line("tokens analysed: ")
        .unwrap()
        .starts_with(&format!("tokens analysed: {tokens:?} = {names:?}")));
    let hm = heatmaps("ch5_proj24_part3a");
    assert_eq!(hm.len(), 4);
    for (&t, name) in tokens.iter().zip(names) {
        let m = &hm[&format!("CS matrix for {name:?}")];
        assert_eq!((m.len(), m[0].len()), (n, n));
        assert_cosine_matrix(m, name);
        let rows: Vec<Vec<f64>> = (0..n).map(|k| h[k][t].clone()).collect();
        for (got, want) in m.iter().zip(cosine_matrix(&rows)) {
            close(got, &want, 1e-5, &format!("layer cosines of token {t}"));
        }
    }

    let layers = int_linspace(n - 1, 4);
    assert_eq!(layers, [0, 1, 2, 3]); // 4 hidden states on the tiny model
    assert_eq!(
        run().summary_line("layers analysed: ").unwrap(),
        format!("layers analysed: {layers:?}")
    );
    let hm = heatmaps("ch5_proj24_part4a");
    assert_eq!(hm.len(), 4);
    for &k in &layers {
        let m = &hm[&format!("CS matrix for layer {k}")];
        assert_eq!((m.len(), m[0].len()), (10, 10));
        assert_cosine_matrix(m, &format!("layer {k}"));
        for (got, want) in m.iter().zip(cosine_matrix(&h[k])) {
            close(got, &want, 1e-5, &format!("token cosines of layer {k}"));
        }
    }
}

/// Offline check 4: D[i, j] = |i - j|; the scatter holds the n(n-1)/2 pairs i < j as
/// (distance, cosine) per column; the laminar profile holds the 9 * 8 / 2 = 36 strict
/// upper-triangle values of tokens 1..9 at every layer.
#[test]
fn check4_distances_pairs_and_laminar_profile() {
    let h = hidden();
    let n = h.len();
    let hm = heatmaps("ch5_proj24_part3b");
    let d = &hm["Inter-layer distance |i − j|"];
    assert_eq!(d.len(), n);
    for (i, row) in d.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            assert_eq!(*v, (i as f64 - j as f64).abs());
        }
    }

    let s = series("ch5_proj24_part3c");
    for (t, name) in [(0, "A"), (3, " once"), (6, " Penguins"), (9, ".")] {
        let panel = format!("Token {name:?}");
        let rows: Vec<Vec<f64>> = (0..n).map(|k| h[k][t].clone()).collect();
        let m = cosine_matrix(&rows);
        let mut total = 0;
        for j in 1..n {
            let p = points(&s, &panel, &format!("column {}", label(j)));
            assert_eq!(p.len(), j, "column {j}: the pairs i < j");
            total += p.len();
            for (i, q) in p.iter().enumerate() {
                assert_eq!(q.0, (j - i) as f64);
                assert!((q.1 - m[i][j]).abs() < 1e-5, "{panel} ({i}, {j})");
            }
        }
        assert_eq!(total, n * (n - 1) / 2);
        assert_eq!(
            s.keys().filter(|(p, _)| *p == panel).count(),
            n - 1,
            "one series per column j >= 1"
        );
    }

    let s = series("ch5_proj24_part4b");
    let panel = "Inter-token cosine similarity by layer (first token excluded)";
    let mut jitter = vec![];
    for k in 0..n {
        let p = points(&s, panel, &label(k));
        assert_eq!(p.len(), 36);
        let m = cosine_matrix(&h[k][1..]);
        let mut want: Vec<f64> = (0..9)
            .flat_map(|i| (i + 1..9).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j])
            .collect();
        let mut got = ys(p);
        want.sort_by(f64::total_cmp);
        got.sort_by(f64::total_cmp);
        close(&got, &want, 1e-5, &format!("laminar values of layer {k}"));
        jitter.extend(p.iter().map(|q| q.0 - k as f64));
    }
    // x = k + N(0, 0.05): the jitter's spread over the 144 points
    let sd = var(&jitter).sqrt();
    assert!((0.04..0.06).contains(&sd), "jitter sd {sd}");
    assert!(jitter.iter().all(|j| j.abs() < 0.3));
}

/// Offline check 6 (the statistics on real vectors; the helper itself is unit-tested in
/// src/hidden.rs): Part 5's mean, L1 mean and unbiased std of every vector at positions
/// 1.. of both sequences equal transformers'/torch's, as do the text's token counts.
#[test]
fn check6_part5_descriptives() {
    let r = reference();
    let run = run();
    assert_eq!(
        run.summary_line("the quick passage: ").unwrap(),
        format!(
            "the quick passage: {} tokens, {} unique token ids",
            r["book_tokens"], r["book_unique"]
        )
    );
    let len = r["part5_seq_len"].as_u64().unwrap() as usize;
    assert_eq!(
        run.summary_line("sequences: ").unwrap(),
        format!(
            "sequences: 2 of {len} tokens starting at {:?}",
            json_f64s(&r["part5_starts"])
                .iter()
                .map(|&x| x as usize)
                .collect::<Vec<_>>()
        )
    );
    let s = series("ch5_proj24_part5");
    let (_, table) = read_csv(&run.file("part5_descriptives.csv")).unwrap();
    let part5 = r["part5"].as_array().unwrap();
    assert_eq!(part5.len(), n_hidden_from_config());
    assert_eq!(table.len(), part5.len());
    for (k, want) in part5.iter().enumerate() {
        let (m, a, sd) = (
            json_f64s(&want["mean"]),
            json_f64s(&want["l1_mean"]),
            json_f64s(&want["std"]),
        );
        assert_eq!(m.len(), 2 * (len - 1), "positions 1.. of 2 sequences");
        let l = label(k);
        close(
            &ys(points(&s, "A) Hidden-state arithmetic means", &l)),
            &m,
            TOL,
            "m",
        );
        close(
            &ys(points(&s, "B) Hidden-state L1 means", &l)),
            &a,
            TOL,
            "mAbs",
        );
        close(&ys(points(&s, "C) Vector stdevs", &l)), &sd, TOL, "s");
        let dp = points(&s, "D) Mean vs. standard deviation", &l);
        close(&dp.iter().map(|q| q.0).collect::<Vec<_>>(), &m, TOL, "D x");
        close(&ys(dp), &sd, TOL, "D y");
        let row = &table[k];
        assert_eq!(
            (row[0].as_str(), row[1].as_str()),
            (k.to_string().as_str(), l.as_str())
        );
        let got: Vec<f64> = row[3..6].iter().map(|v| v.parse().unwrap()).collect();
        close(&got, &[mean(&m), mean(&a), mean(&sd)], TOL, "table");
    }
}
