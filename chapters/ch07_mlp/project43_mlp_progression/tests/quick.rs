//! Project 43's offline checks. The --quick run (the tiny random GPT-2 with GPT-2's real
//! tokenizer and the project's coffee text, offline) is compared with references that do
//! not come from the program: transformers/torch/numpy on the same model and text
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`: the tokens and
//! batches, the MLP stages as forward hooks on ln_2 / c_fc / act / mlp see them, sklearn-
//! style cosine matrices, RSA, PR/ED from numpy's SVD, numpy's 'fd' histograms), the
//! spec and closed forms. Offline checks 1-4 and 6 are also unit-tested on synthetic data
//! in `src/progression.rs` (rank-1 and k-orthogonal PR/ED, RSA scale invariance, the
//! hard-coded numpy FD edges, batch construction).

// Matrix checks read best as index loops.
#![allow(clippy::needless_range_loop)]

use common::testing::{
    assert_close, figure_heatmaps, json_f64s, read_csv, run_project, ProjectRun,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project43_mlp_progression");
const FIG: &str = "ch7_proj43";
const STAGES: [&str; 4] = ["Inpu", "Expa", "GELU", "Proj"];
const PAIRS: [&str; 6] = ["I.v.E", "I.v.G", "I.v.P", "E.v.G", "E.v.P", "G.v.P"];
/// Two float32 implementations of the same model agree to about 1e-6; statistics of
/// their activations are compared to this.
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

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn layer() -> usize {
    reference()["layer"].as_u64().unwrap() as usize
}

fn n_layer() -> usize {
    reference()["n_layer"].as_u64().unwrap() as usize
}

fn ntargets() -> usize {
    reference()["coffee_idx"].as_array().unwrap().len()
}

fn csv_rows(fig: &str) -> Vec<Vec<String>> {
    run().check_figure(&format!("{FIG}_{fig}")).unwrap()
}

fn heatmaps(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    csv_rows(fig);
    figure_heatmaps(&run().file(&format!("{FIG}_{fig}.csv"))).unwrap()
}

/// The (x, y) points of one series of a figure.
fn points(fig: &str, panel: &str, series: &str) -> Vec<(f64, f64)> {
    csv_rows(fig)
        .iter()
        .filter(|r| r[0] == panel && r[1] == series)
        .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap()))
        .collect()
}

/// A table the program wrote (`name.csv`): header and rows.
fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(&format!("{name}.csv"))).unwrap()
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    common::testing::reference::pearson(x, y)
}

fn upper(m: &[Vec<f64>]) -> Vec<f64> {
    (0..m.len())
        .flat_map(|i| (i + 1..m.len()).map(move |j| (i, j)))
        .map(|(i, j)| m[i][j])
        .collect()
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part2", "part3a", "part3b", "part3c", "part4", "part5", "part6a", "part6b",
    ] {
        run().check_figure(&format!("{FIG}_{f}")).unwrap();
    }
}

/// Offline check 1: the eight Part 3a matrices are symmetric with ones on the diagonal,
/// all values in [-1, 1], and equal the cosine matrices numpy computes from
/// transformers' activations.
#[test]
fn check1_cosine_matrices() {
    let h = heatmaps("part3a");
    let l = layer();
    let n = ntargets();
    let want = &reference()["cos_layer"];
    for (b, prefix) in ["One seq", "Many seqs"].iter().enumerate() {
        for (s, name) in STAGES.iter().enumerate() {
            let title = format!("{prefix}: L{l} {name}");
            let got = h
                .get(&title)
                .unwrap_or_else(|| panic!("no panel {title}: {:?}", h.keys()));
            assert_eq!(got.len(), n, "{title}");
            for i in 0..n {
                assert_eq!(got[i].len(), n);
                assert!((got[i][i] - 1.0).abs() < 1e-12, "{title} diagonal {i}");
                for j in 0..n {
                    assert_eq!(got[i][j], got[j][i], "{title} [{i}][{j}]");
                    assert!((-1.0..=1.0).contains(&got[i][j]), "{title} [{i}][{j}]");
                }
            }
            assert_close(&got.concat(), &json_f64s(&want[b][s]), TOL, &title).unwrap();
        }
    }
    // 3b: the density curves are of the n(n-1)/2 strict upper-triangle values
    let h1 = &h[&format!("Many seqs: L{l} Inpu")];
    let pts = points("part3b", "B) Many-sequence batch", &format!("L{l} Inpu"));
    assert!(pts.len() >= 2);
    let width = pts[1].0 - pts[0].0;
    let area: f64 = pts.iter().map(|p| p.1).sum::<f64>() * width;
    assert!((area - 1.0).abs() < 1e-9, "{area}");
    let up = upper(h1);
    assert_eq!(up.len(), n * (n - 1) / 2);
    let lo = up.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(pts[0].0 > lo && pts[0].0 - lo < width, "first bin centre");
}

/// Offline check 2: RSA equals numpy's corrcoef of the upper triangles in every layer
/// (the Part 6 table, and the Part 4 bars of the focus layer); RSA of a stage with itself
/// is exactly 1; RSA does not change when a stage is scaled by a positive constant.
#[test]
fn check2_rsa() {
    let want = &reference()["rsa"]; // [layer][batch][pair]
    let (header, rows) = table("part6_rsa");
    assert_eq!(header, ["layer", "pair", "rsa_one", "rsa_many"]);
    assert_eq!(rows.len(), 6 * n_layer());
    for (i, r) in rows.iter().enumerate() {
        let (l, k) = (i / 6, i % 6);
        assert_eq!(r[0], l.to_string());
        assert_eq!(r[1], PAIRS[k]);
        for b in 0..2 {
            let w = want[l][b][k].as_f64().unwrap();
            assert!(
                (num(&r[2 + b]) - w).abs() < 1e-4,
                "layer {l} {} batch {b}",
                PAIRS[k]
            );
        }
    }
    for (b, panel) in ["A) One-sequence", "B) Many-sequence"].iter().enumerate() {
        let bars = points("part4", panel, "RSA");
        assert_eq!(bars.len(), 6);
        let y: Vec<f64> = bars.iter().map(|p| p.1).collect();
        assert_close(&y, &json_f64s(&want[layer()][b]), 1e-4, panel).unwrap();
    }
    // from the figure's own cosine matrices: self-RSA = 1, scale invariance
    let h = heatmaps("part3a");
    let m = &h[&format!("One seq: L{} Expa", layer())];
    let g = &h[&format!("One seq: L{} GELU", layer())];
    assert!((pearson(&upper(m), &upper(m)) - 1.0).abs() < 1e-12);
    let scaled: Vec<f64> = upper(m).iter().map(|v| 2.5 * v).collect();
    let r0 = pearson(&upper(m), &upper(g));
    assert!((pearson(&scaled, &upper(g)) - r0).abs() < 1e-12);
    assert!((r0 - want[layer()][0][3].as_f64().unwrap()).abs() < 1e-4);
}

/// Offline check 3: PR and ED of every layer, stage and set equal numpy's (SVD of the
/// column-centred matrix, ED = first index with cumulative % > 95), within the bound
/// ntargets - 1; the Part 5 bars and the Part 6a G/H titles (Pearson r over the 4 x
/// n_layer points) agree.
#[test]
fn check3_pr_and_ed() {
    let want = &reference()["dim"]; // [layer][stage][PR1, ED1, PR2, ED2]
    let (header, rows) = table("part6_dimensionality");
    assert_eq!(
        header,
        ["layer", "stage", "pr_one", "ed_one", "pr_many", "ed_many"]
    );
    assert_eq!(rows.len(), 4 * n_layer());
    let bound = (ntargets() - 1) as f64;
    for (i, r) in rows.iter().enumerate() {
        let (l, s) = (i / 4, i % 4);
        assert_eq!(r[1], STAGES[s]);
        for k in 0..4 {
            let w = want[l][s][k].as_f64().unwrap();
            let g = num(&r[2 + k]);
            if k % 2 == 1 {
                assert_eq!(g, w, "ED layer {l} {} column {k}", STAGES[s]);
            } else {
                assert!(
                    (g - w).abs() < 1e-4 * w,
                    "PR layer {l} {}: {g} vs {w}",
                    STAGES[s]
                );
            }
            assert!((0.0..=bound).contains(&g));
        }
    }
    let l = layer();
    for (b, (pr_panel, ed_panel)) in [
        (
            "A) One seq: participation ratio",
            "B) One seq: effective dimensionality",
        ),
        (
            "D) Many seqs: participation ratio",
            "E) Many seqs: effective dimensionality",
        ),
    ]
    .iter()
    .enumerate()
    {
        let pr: Vec<f64> = points("part5", pr_panel, "PR")
            .iter()
            .map(|p| p.1)
            .collect();
        let ed: Vec<f64> = points("part5", ed_panel, "ED")
            .iter()
            .map(|p| p.1)
            .collect();
        let wpr: Vec<f64> = (0..4)
            .map(|s| want[l][s][2 * b].as_f64().unwrap())
            .collect();
        let wed: Vec<f64> = (0..4)
            .map(|s| want[l][s][2 * b + 1].as_f64().unwrap())
            .collect();
        assert_close(&pr, &wpr, 1e-4, pr_panel).unwrap();
        assert_eq!(ed, wed, "{ed_panel}");
    }
    let r = json_f64s(&reference()["r_pr_ed"]);
    for (b, panel) in [
        format!("G) One-seq: PR vs. ED (r = {:.2})", r[0]),
        format!("H) Many-seq: PR vs. ED (r = {:.2})", r[1]),
    ]
    .iter()
    .enumerate()
    {
        let pts = points("part6a", panel, "Transformer layer");
        assert_eq!(pts.len(), 4 * n_layer(), "{panel}");
        let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
        assert!((pearson(&x, &y) - r[b]).abs() < 1e-4, "{panel}");
    }
    assert_eq!(
        run().summary_line("both are bounded by").unwrap(),
        format!(
            "both are bounded by ntargets - 1 = {} (the columns are mean-centred)",
            ntargets() - 1
        )
    );
}

/// Offline check 4: the target count and positions are transformers' tokenizer's; the
/// one-seq batch is the page prefix of length ntargets + 1 and every many-seq row is the
/// 10-token slice ending at a target (ending in 6891).
#[test]
fn check4_batches() {
    let r = reference();
    let idx = u64s(&r["coffee_idx"]);
    assert_eq!(run().summary_value("ntargets =").unwrap(), idx.len() as f64);
    assert_eq!(
        run().summary_value("first target position:").unwrap(),
        idx[0] as f64
    );
    assert_eq!(
        run().summary_line("target \" coffee\"").unwrap(),
        "target \" coffee\" = token id 6891"
    );
    assert_eq!(
        run().summary_line("one-seq batch:").unwrap(),
        format!("one-seq batch: [1, {}]", idx.len() + 1)
    );
    assert_eq!(
        run().summary_line("many-seq batch:").unwrap(),
        format!("many-seq batch: [{}, 10]", idx.len())
    );
    let (_, one) = table("part1_one_seq_batch");
    let one: Vec<u64> = one[0][0].split(' ').map(|v| v.parse().unwrap()).collect();
    assert_eq!(one, u64s(&r["one_seq"]));
    assert_eq!(one.len(), idx.len() + 1);
    let (_, rows) = table("part1_many_seq_batch");
    let want = r["many_seq"].as_array().unwrap();
    assert_eq!(rows.len(), idx.len());
    for (b, row) in rows.iter().enumerate() {
        assert_eq!(row[1], idx[b].to_string());
        let ids: Vec<u64> = row[2].split(' ').map(|v| v.parse().unwrap()).collect();
        assert_eq!(ids, u64s(&want[b]));
        assert_eq!(ids.len(), 10);
        assert_eq!(*ids.last().unwrap(), 6891);
    }
}

/// Offline check 5: the hooked stages are transformers' module outputs (ln_2, c_fc, act,
/// mlp: the fixture's statistics of every layer, stage and set), and inside the program
/// stage 2 = input·W1 + b1, stage 3 = gelu_new(stage 2), stage 4 = stage 3·W2 + b2 (the
/// fixture asserts the first two in transformers' tensors as well). The printed shapes are
/// transformers' tensor shapes.
#[test]
fn check5_stages_match_transformers() {
    let r = reference();
    assert!(r["stage_check"]["gelu"].as_f64().unwrap() < 1e-5);
    assert!(r["stage_check"]["affine"].as_f64().unwrap() < 1e-5);
    let (header, rows) = table("part2_stage_stats");
    assert_eq!(
        header,
        ["batch", "layer", "stage", "rows", "cols", "mean", "std", "min", "max"]
    );
    let want = r["stats"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 4 * n_layer());
    assert_eq!(rows.len(), want.len());
    for (i, (row, w)) in rows.iter().zip(want).enumerate() {
        let got: Vec<f64> = row[5..].iter().map(|v| num(v)).collect();
        assert_close(&got, &json_f64s(w), TOL, &format!("stats row {i} {row:?}")).unwrap();
        assert_eq!(num(&row[3]), ntargets() as f64);
    }
    let shapes = &r["shapes"];
    for (b, name) in ["one-seq", "many-seq"].iter().enumerate() {
        for l in 0..n_layer() {
            let line = run().summary_line(&format!("{name} layer {l}: ")).unwrap();
            let want = (0..4)
                .map(|s| {
                    let sz: Vec<String> = u64s(&shapes[b][l][s])
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    format!("L{l}_{} [{}]", s + 1, sz.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            assert_eq!(line, format!("{name} layer {l}: {want}"));
        }
    }
    let s = run().summary();
    let grab = |key: &str| -> f64 {
        let i = s
            .find(key)
            .unwrap_or_else(|| panic!("no {key:?} in the summary"));
        let rest = &s[i + key.len()..];
        let end = rest.find([',', '\n']).unwrap_or(rest.len());
        num(rest[..end].trim())
    };
    assert!(grab("max |L_2 - (L_1 W1 + b1)| =") < 1e-5);
    assert!(grab("max |L_4 - (L_3 W2 + b2)| =") < 1e-5);
    assert!(grab("max |L_3 - gelu_new(L_2)| =") < 1e-5);
    // 3c: the cross-stage cosines equal numpy's from transformers' activations
    let h = heatmaps("part3c");
    let l = layer();
    let io = &h[&format!("A) L{l} Inpu vs. Proj")];
    let eg = &h[&format!("B) L{l} Expa vs. GELU")];
    assert_close(
        &io.concat(),
        &json_f64s(&r["cross_io"]),
        TOL,
        "Inpu vs Proj",
    )
    .unwrap();
    assert_close(
        &eg.concat(),
        &json_f64s(&r["cross_eg"]),
        TOL,
        "Expa vs GELU",
    )
    .unwrap();
    // C: count histograms of all n x n entries, diagonal included
    let n = ntargets() as f64;
    for series in ["Stages 1,4", "Stages 2,3"] {
        let c: f64 = points("part3c", "C) Cross-stage cosine similarities", series)
            .iter()
            .map(|p| p.1)
            .sum();
        assert_eq!(c, n * n, "{series}");
    }
}

/// Offline check 6 (on the run's data): the Part 2 density curves are numpy's
/// `np.histogram(values, bins='fd', density=True)` of the focus layer's stage matrices:
/// the same bins (centres of numpy's edges) and densities.
#[test]
fn check6_fd_histograms_match_numpy() {
    let hist = &reference()["hist"];
    let l = layer();
    for (b, panel) in ["A) One-sequence batch", "B) Many-sequence batch"]
        .iter()
        .enumerate()
    {
        for (s, name) in STAGES.iter().enumerate() {
            let pts = points("part2", panel, &format!("L{l} {name}"));
            let edges = json_f64s(&hist[b][s]["edges"]);
            let dens = json_f64s(&hist[b][s]["density"]);
            let centres: Vec<f64> = edges.windows(2).map(|e| 0.5 * (e[0] + e[1])).collect();
            let what = format!("{panel} {name}");
            let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
            let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
            assert_close(&x, &centres, 1e-5, &what).unwrap();
            assert_close(&y, &dens, 1e-3, &what).unwrap();
        }
    }
}

/// Bad input is a clear error before anything is written.
#[test]
fn bad_input_is_an_error() {
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .expect("layer 3 of a 3-block model must fail")
        .to_string();
    assert!(err.contains("--layer 3 is out of range"), "{err}");
    let dir = tempfile_dir();
    let path = dir.join("no_target.txt");
    std::fs::write(&path, "A text about tea, with no target word in it at all.").unwrap();
    let err = run_project(
        BIN,
        &[
            "--quick",
            "--device",
            "cpu",
            "--text",
            path.to_str().unwrap(),
        ],
    )
    .err()
    .expect("a text without the target must fail")
    .to_string();
    assert!(err.contains("occurs 0 times"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("p43_test_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
