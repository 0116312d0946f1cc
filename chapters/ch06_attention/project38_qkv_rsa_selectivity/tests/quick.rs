//! Project 38's offline checks. The --quick run (the tiny random GPT-2 with GPT-2's real
//! tokenizer, the book's 34 words, offline) is compared with references that do not come
//! from the program: transformers/torch/numpy on the same model and prompts
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`: the c_attn outputs as
//! transformers' forward hook sees them, numpy's correlations, cosine matrices, RSA and the
//! pooled-variance t written out from its formula), the spec's word list and closed forms.
//! The masks, cosine/RSA properties and the t/Fisher closed forms are also unit-tested in
//! `src/rsa.rs` (offline checks 2, 3 and 5).

// Matrix checks read best as index loops.
#![allow(clippy::needless_range_loop)]

use common::testing::{
    assert_close, figure_heatmaps, json_f64s, read_csv, run_project, ProjectRun,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project38_qkv_rsa_selectivity");
const FIG: &str = "ch6_proj38";
const MATRICES: [&str; 3] = ["Q", "K", "V"];
/// Two float32 implementations of the same model agree to about 1e-6; statistics of
/// their activations are compared to this (relative where noted).
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

fn rows3(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(json_f64s).collect()
}

fn layer() -> usize {
    reference()["layer"].as_u64().unwrap() as usize
}

fn n_layer() -> usize {
    reference()["n_layer"].as_u64().unwrap() as usize
}

fn labels() -> Vec<usize> {
    json_f64s(&reference()["labels"])
        .iter()
        .map(|&v| v as usize)
        .collect()
}

/// All rows of a figure's CSV: (panel, series, kind, x, y, extra).
fn csv_rows(fig: &str) -> Vec<Vec<String>> {
    run().check_figure(&format!("{FIG}_{fig}")).unwrap()
}

/// The heatmaps of a figure's CSV: panel -> matrix.
fn heatmaps(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    csv_rows(fig); // the PNG and the CSV's columns, as before
    figure_heatmaps(&run().file(&format!("{FIG}_{fig}.csv"))).unwrap()
}

/// A table the program wrote (`name.csv`) as numbers, skipping `skip` leading columns.
fn table(name: &str, skip: usize) -> Vec<Vec<f64>> {
    let (_, rows) = read_csv(&run().file(&format!("{name}.csv"))).unwrap();
    rows.iter()
        .map(|r| r[skip..].iter().map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    common::testing::reference::pearson(x, y)
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1", "part2a", "part2b", "part3a", "part3b", "part4", "part5", "part6a", "part6b",
        "part7a", "part7b", "part7c",
    ] {
        run().check_figure(&format!("{FIG}_{f}")).unwrap();
    }
}

/// Offline check 1: every prompt is [464, 1306, 1573, 318, <one word token>] as
/// transformers' tokenizer encodes it ("galaxy" -> 16161); the program prints the same.
#[test]
fn check1_prompts_are_five_tokens() {
    let r = reference();
    let words: Vec<&str> = r["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(words.len(), 34);
    let cats = ["space", "furniture", "fruit"];
    for (i, (w, ids)) in words.iter().zip(r["ids"].as_array().unwrap()).enumerate() {
        let ids: Vec<u64> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), 5);
        assert_eq!(ids[..4], [464, 1306, 1573, 318]);
        let line = run()
            .summary_line(&format!("\"The next word is {w}\" "))
            .unwrap();
        assert_eq!(
            line,
            format!("\"The next word is {w}\" ({}): {ids:?}", cats[labels()[i]])
        );
    }
    assert_eq!(words[0], "galaxy");
    assert_eq!(r["ids"][0][4], 16161);
}

/// Offline check 2: the Part 1 images are the masks built here from the labels; within
/// 178 + across 383 = 561 strictly-upper pairs, disjoint; boundaries at 9.5 and 22.5
/// (printed, and drawn in Part 3a).
#[test]
fn check2_masks() {
    let lab = labels();
    assert_eq!(lab.iter().filter(|&&c| c == 0).count(), 10);
    assert_eq!(lab.iter().filter(|&&c| c == 1).count(), 13);
    assert_eq!(lab.iter().filter(|&&c| c == 2).count(), 11);
    let h = heatmaps("part1");
    let get = |p: &str| {
        h.get(p)
            .unwrap_or_else(|| panic!("no panel {p}: {:?}", h.keys()))
    };
    let (same, upper) = (
        get("A) Same-category mask"),
        get("B) Upper-triangular mask"),
    );
    let (within, across) = (
        get("C) Within-category mask"),
        get("D) Across-category mask"),
    );
    let (mut nw, mut na) = (0, 0);
    for i in 0..34 {
        for j in 0..34 {
            let s = lab[i] == lab[j];
            assert_eq!(same[i][j], if s { 1.0 } else { 0.0 });
            assert_eq!(upper[i][j], if j > i { 1.0 } else { 0.0 });
            assert_eq!(within[i][j], if s && j > i { 1.0 } else { 0.0 });
            assert_eq!(across[i][j], if !s && j > i { 1.0 } else { 0.0 });
            assert!(within[i][j] * across[i][j] == 0.0);
            nw += within[i][j] as usize;
            na += across[i][j] as usize;
        }
    }
    assert_eq!((nw, na), (178, 383));
    assert_eq!(nw + na, 34 * 33 / 2);
    assert_eq!(reference()["counts"]["within"], 178);
    assert_eq!(
        run().summary_line("pairs: ").unwrap(),
        "pairs: within 178, across 383, strictly upper 561 (of 34 x 34)"
    );
    assert_eq!(
        run().summary_line("category boundaries at ").unwrap(),
        "category boundaries at 9.5, 22.5"
    );
    for panel in ["A) Q cosine similarities", "C) V cosine similarities"] {
        let rows = csv_rows("part3a");
        let mut h: Vec<f64> = rows
            .iter()
            .filter(|r| r[0] == panel && r[2] == "hline")
            .map(|r| r[4].parse().unwrap())
            .collect();
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|r| r[0] == panel && r[2] == "vline")
            .map(|r| r[3].parse().unwrap())
            .collect();
        h.sort_by(f64::total_cmp);
        v.sort_by(f64::total_cmp);
        assert_eq!(h, [9.5, 22.5]);
        assert_eq!(v, [9.5, 22.5]);
    }
}

/// Offline check 3: the focus layer's cosine matrices equal numpy's from transformers'
/// activations, are symmetric with unit diagonal; the RSA values (3b titles, Part 4 table)
/// equal numpy's, and the RSA of a matrix with itself is 1.
#[test]
fn check3_cosine_matrices_and_rsa() {
    let h = heatmaps("part3a");
    let want = rows3(&reference()["cos_layer"]);
    let mut mats = vec![];
    for (m, name) in MATRICES.iter().enumerate() {
        let title = format!("{}) {name} cosine similarities", ["A", "B", "C"][m]);
        let got = &h[&title];
        assert_eq!(got.len(), 34);
        let flat: Vec<f64> = got.concat();
        assert_close(&flat, &want[m], TOL, &title).unwrap();
        for i in 0..34 {
            assert!((got[i][i] - 1.0).abs() < 1e-6, "{title} diagonal {i}");
            for j in 0..34 {
                assert_eq!(got[i][j], got[j][i], "{title} [{i}][{j}]");
            }
        }
        mats.push(got.clone());
    }
    let up = |m: &Vec<Vec<f64>>| -> Vec<f64> {
        (0..34)
            .flat_map(|i| (i + 1..34).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j])
            .collect()
    };
    assert_eq!(up(&mats[0]).len(), 561);
    assert!((pearson(&up(&mats[1]), &up(&mats[1])) - 1.0).abs() < 1e-12);
    let rsa = rows3(&reference()["rsa"]);
    let got = table("part4_rsa", 1);
    assert_eq!(got.len(), n_layer());
    for l in 0..n_layer() {
        assert_close(&got[l], &rsa[l], 1e-4, &format!("RSA layer {l}")).unwrap();
    }
    // the 3b titles print the focus layer's RSA to 3 decimals, from the scatter's own data
    let rows = csv_rows("part3b");
    for (k, (a, b)) in [(0, 1), (0, 2), (1, 2)].iter().enumerate() {
        let title = format!(
            "{} and {} (r = {:.3})",
            MATRICES[*a],
            MATRICES[*b],
            rsa[layer()][k]
        );
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r[0] == title)
            .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap()))
            .collect();
        assert_eq!(pts.len(), 561, "{title}");
        let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
        assert!((pearson(&x, &y) - rsa[layer()][k]).abs() < 1e-4);
    }
}

/// Offline check 4: position 1 is identical in all 34 prompts (transformers says so and
/// the program prints a spread of 0), so the flattened correlation of every layer equals
/// the single-row correlation numpy computes from prompt 0 alone.
#[test]
fn check4_position_one_is_one_vector() {
    let r = reference();
    assert!(json_f64s(&r["pos1_spread"]).iter().all(|&v| v == 0.0));
    assert_eq!(
        run()
            .summary_value(
                "position 1: largest |prompt row - prompt 0 row| over all layers and Q, K, V:"
            )
            .unwrap(),
        0.0
    );
    let single = rows3(&r["corr_row0"]);
    let flat = rows3(&r["corr"]);
    let got = table("part2_correlations", 1);
    assert_eq!(got.len(), n_layer());
    for l in 0..n_layer() {
        assert_close(&got[l], &single[l], 1e-4, &format!("r layer {l}")).unwrap();
        assert_close(&flat[l], &single[l], 1e-12, "numpy flat vs row").unwrap();
    }
    // 2a: 34 x d points per panel, titles with r to 3 decimals
    let rows = csv_rows("part2a");
    let d = r["d"].as_u64().unwrap() as usize;
    let title = format!("Q by K (r = {:.3})", single[layer()][0]);
    assert_eq!(rows.iter().filter(|row| row[0] == title).count(), 34 * d);
}

fn selectivity_matches(name: &str, key: &str) {
    let want = json_f64s(&reference()[key]); // [layers][3][3] flat
    let got = table(name, 2);
    assert_eq!(got.len(), 3 * n_layer());
    for (i, row) in got.iter().enumerate() {
        for s in 0..3 {
            let w = want[i * 3 + s];
            assert!(
                (row[s] - w).abs() <= 1e-4 * w.abs().max(1.0),
                "{name} row {i} stat {s}: {} vs {w}",
                row[s]
            );
        }
    }
}

/// Parts 5-7 (with offline check 5's t-test): the differences, pooled-variance t values
/// and averages of every layer, raw and after arctanh, equal numpy's; the Part 5 titles
/// carry the focus layer's t; the formula gives t([1..5], [3..8]) = -2.3619.
#[test]
fn check5_selectivity_and_fisher_z() {
    let r = reference();
    assert!((r["ttest_example"].as_f64().unwrap() + 2.3619).abs() < 5e-5);
    assert!((r["arctanh_half"].as_f64().unwrap() - 0.549306).abs() < 5e-7);
    selectivity_matches("part6_selectivity", "select");
    selectivity_matches("part7_selectivity_fisher_z", "select_z");
    let sel = json_f64s(&r["select"]);
    let rows = csv_rows("part5");
    for (k, name) in MATRICES.iter().enumerate() {
        let t = sel[(layer() * 3 + k) * 3 + 1];
        let title = format!("{}) {name} (t = {t:.2})", ["A", "B", "C"][k]);
        // the Within and Across curves are densities: sum(y) * bin width = 1
        for series in ["Within", "Across"] {
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .filter(|row| row[0] == title && row[1] == series)
                .map(|row| (row[3].parse().unwrap(), row[4].parse().unwrap()))
                .collect();
            assert!(pts.len() >= 2, "{title} {series}");
            let w = pts[1].0 - pts[0].0;
            let area: f64 = pts.iter().map(|p| p.1).sum::<f64>() * w;
            assert!((area - 1.0).abs() < 1e-9, "{title} {series}: {area}");
        }
    }
    // 6b and 7b: one point per layer and matrix, at (difference or t, average)
    for (fig, key) in [("part6b", "select"), ("part7b", "select_z")] {
        let s = json_f64s(&r[key]);
        let rows = csv_rows(fig);
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|row| row[0] == "A) Differences" && row[2] == "scatter")
            .map(|row| (row[3].parse().unwrap(), row[4].parse().unwrap()))
            .collect();
        assert_eq!(pts.len(), 3 * n_layer());
        for (i, p) in pts.iter().enumerate() {
            assert!((p.0 - s[i * 3]).abs() < 1e-4 && (p.1 - s[i * 3 + 2]).abs() < 1e-4);
        }
    }
}

/// Part 7a: 10,000 values in (-1, 1), each plotted against its arctanh.
#[test]
fn part7_fisher_z_of_uniform_values() {
    let rows = csv_rows("part7a");
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter(|row| row[0] == "A) Fisher-z transform" && row[2] == "scatter")
        .map(|row| (row[3].parse().unwrap(), row[4].parse().unwrap()))
        .collect();
    assert_eq!(pts.len(), 10_000);
    for (r, z) in &pts {
        assert!(*r > -1.0 && *r < 1.0);
        assert!((z - r.atanh()).abs() < 1e-12 * z.abs().max(1.0));
    }
    let counts: f64 = rows
        .iter()
        .filter(|row| row[0] == "B) Distributions" && row[1] == "Fisher-z")
        .map(|row| row[4].parse::<f64>().unwrap())
        .sum();
    assert_eq!(counts, 10_000.0);
}

/// Bad input is a clear error before anything is written.
#[test]
fn out_of_range_layer_is_an_error() {
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .expect("layer 3 of a 3-block model must fail")
        .to_string();
    assert!(err.contains("--layer 3 is out of range"), "{err}");
}
