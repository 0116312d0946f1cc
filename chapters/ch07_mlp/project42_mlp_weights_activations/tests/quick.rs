//! Project 42's offline checks. The --quick run (the tiny random GPT-2, offline, the
//! book's sentence) is compared with references that do not come from the program:
//! transformers/torch/numpy on the same tiny model (`fixtures/reference.json`, written by
//! `scripts/make_fixture.py` with forward hooks on the HF MLP modules), the spec's token
//! ids and closed forms. The helpers (GELUs, histogram, counts, rings) are also unit-tested
//! in `src/mlp.rs`.

use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project, xs, ys,
    FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project42_mlp_weights_activations");
const BOOK_IDS: [u32; 17] = [
    17353, 345, 4702, 257, 41236, 12, 2704, 48275, 26636, 393, 257, 26636, 12, 2704, 48275, 41236,
    30,
];
const PANELS: [&str; 4] = ["A) Input", "B) Expansion", "C) GELU", "D) Projection"];
const STAGES: [&str; 4] = ["Input", "Expansion", "GELU", "Projection"];

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

fn usize_of(v: &Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}")) as usize
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// Heatmaps of a figure, rows bottom-first (the figures use origin='lower', the CSV
/// stores the rows as drawn, top first).
fn heatmaps_bottom_first(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    figure_heatmaps(&run().file(&format!("{fig}.csv")))
        .unwrap()
        .into_iter()
        .map(|(k, mut v)| {
            v.reverse();
            (k, v)
        })
        .collect()
}

/// Histograms compared bin by bin; float32 rounding differences between libtorch and
/// torch could move a value sitting on a bin edge, so a density may differ by at most
/// `one_count` (one count's density, or the smallest nonzero density, which is at least
/// one count) in at most `moves` bins; everything else within 1e-9.
fn close_hist(got: &[f64], want: &[f64], one_count: f64, moves: usize, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: bin count");
    let bad: Vec<usize> = (0..got.len())
        .filter(|&i| (got[i] - want[i]).abs() > 1e-9)
        .collect();
    assert!(
        bad.len() <= moves,
        "{what}: {} bins differ: {bad:?}",
        bad.len()
    );
    for i in bad {
        assert!(
            (got[i] - want[i]).abs() <= one_count + 1e-9,
            "{what}: bin {i} {} vs {}",
            got[i],
            want[i]
        );
    }
}

fn d_model() -> usize {
    usize_of(&reference()["config"]["n_embd"])
}
fn d_mlp() -> usize {
    usize_of(&reference()["config"]["d_mlp"])
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part0a",
        "part0b",
        "part1_w1w2",
        "part1a",
        "part1b",
        "part2",
        "part3",
        "part4",
        "part5",
    ] {
        run().check_figure(&format!("ch7_proj42_{f}")).unwrap();
    }
}

/// Offline check 1: c_proj(gelu_new(c_fc(X1))) recomputed from the captured MLP input
/// equals the MLP module output. Reference: transformers' `h[l].mlp` forward-hook input
/// and output (fixture), compared with Part 5C's scatter, whose x values are the
/// program's captured input and y values its recomputed projection (tokens 1..).
#[test]
fn check1_recomputed_stages_equal_the_module_output() {
    let s = series("ch7_proj42_part5");
    let r = reference();
    let title = s
        .keys()
        .find(|k| k.0.starts_with("C) r = "))
        .expect("panel C")
        .clone();
    let pts = points(&s, &title.0, &title.1);
    let (want_in, want_out) = (
        json_f64s(&r["tsne_input"]),
        json_f64s(&r["tsne_projection"]),
    );
    assert_eq!(pts.len(), 16 * d_model());
    assert_close(&xs(pts), &want_in, 1e-5, "MLP input (ln_2 output)").unwrap();
    assert_close(
        &ys(pts),
        &want_out,
        1e-5,
        "recomputed c_proj vs mlp module output",
    )
    .unwrap();
    // and the program's own comparison with its hook points, over all blocks
    let line = run()
        .summary_line("recomputed c_fc / gelu_new / c_proj from the captured MLP input")
        .unwrap();
    let diff: f64 = line.rsplit("= ").next().unwrap().parse().unwrap();
    assert!(diff < 1e-5, "{line}");
}

/// Offline check 2: the parameter table follows the config (d = 16, d_mlp = 64 here):
/// the numels are transformers' c_fc / c_proj numels and the percentages add to 100.
/// (d = 768 gives 2,359,296 / 3,072 / 2,359,296 / 768: unit test in src/mlp.rs.)
#[test]
fn check2_parameter_counts() {
    let (d, m) = (d_model(), d_mlp());
    assert_eq!((d, m), (16, 64));
    let want = [d * m, m, m * d, d];
    let numels: Vec<usize> = reference()["numels"]
        .as_array()
        .unwrap()
        .iter()
        .map(usize_of)
        .collect();
    assert_eq!(numels, want);
    let total: usize = want.iter().sum();
    let (header, rows) = read_csv(&run().file("part1_parameters.csv")).unwrap();
    assert_eq!(header, ["tensor", "type", "shape", "numel", "percent"]);
    assert_eq!(rows.len(), 4);
    let mut pct_sum = 0.0;
    for (row, (n, shape)) in rows.iter().zip(want.iter().zip([
        format!("[{d}, {m}]"),
        format!("[{m}]"),
        format!("[{m}, {d}]"),
        format!("[{d}]"),
    ])) {
        assert_eq!(row[3].parse::<usize>().unwrap(), *n);
        assert_eq!(row[2], shape);
        let p: f64 = row[4].parse().unwrap();
        assert!((p - 100.0 * *n as f64 / total as f64).abs() < 1e-9);
        pct_sum += p;
    }
    assert!((pct_sum - 100.0).abs() < 1e-9);
    assert_eq!(
        run()
            .summary_line("total MLP parameters per block: ")
            .unwrap(),
        format!(
            "total MLP parameters per block: {} (percentages sum to 100.000)",
            fmt(total)
        )
    );
    assert_eq!(
        json_f64s(&reference()["blocks"][0]["w1_shape"]),
        [d as f64, m as f64],
        "c_fc.weight is stored [in, out]"
    );
}

fn fmt(n: usize) -> String {
    common::output::thousands(n as i64)
}

/// Offline check 3: the density histograms are numpy's density=True over the spec's
/// edges and integrate to 1. W1/W2 of the focus block (Part 1a) and of every block
/// (Part 1b) against numpy on transformers' c_fc / c_proj weights.
#[test]
fn check3_density_histograms() {
    let r = reference();
    let layer = usize_of(&r["layer"]);
    let (d, m) = (d_model(), d_mlp());
    let n = (d * m) as f64;
    let width = 1.6 / 200.0;
    let edges: Vec<f64> = (0..=200).map(|i| -0.8 + 1.6 * i as f64 / 200.0).collect();
    let s = series("ch7_proj42_part1a");
    let panel = format!("MLP weights, layer {layer}");
    for (name, key) in [
        ("W1 (expansion)", "w1_density"),
        ("W2 (contraction)", "w2_density"),
    ] {
        let p = points(&s, &panel, name);
        assert_eq!(p.len(), 200);
        assert_close(&xs(p), &edges[..200], 1e-12, "left edges").unwrap();
        let dens = ys(p);
        let want = json_f64s(&r["blocks"][layer][key]);
        close_hist(&dens, &want, 1.0 / (n * width), 2, name);
        let integral: f64 = dens.iter().map(|v| v * width).sum();
        assert!((integral - 1.0).abs() < 1e-9, "{name}: {integral}");
    }
    let h = heatmaps_bottom_first("ch7_proj42_part1b");
    let n_layer = usize_of(&r["config"]["n_layer"]);
    for (panel, key) in [
        ("W1 (expansion)", "w1_density"),
        ("W2 (contraction)", "w2_density"),
    ] {
        let rows = &h[panel];
        assert_eq!(rows.len(), n_layer);
        for (l, row) in rows.iter().enumerate() {
            let want = json_f64s(&r["blocks"][l][key]);
            close_hist(
                row,
                &want,
                1.0 / (n * width),
                2,
                &format!("{panel} layer {l}"),
            );
        }
    }
    // (W1 W2)^2 side figure against numpy
    let h = figure_heatmaps(&run().file("ch7_proj42_part1_w1w2.csv")).unwrap();
    let got: Vec<f64> = h[&format!("(W1·W2)², layer {layer}")]
        .iter()
        .flatten()
        .copied()
        .collect();
    assert_close(&got, &json_f64s(&r["w1w2_squared"]), 1e-5, "(W1 W2)^2").unwrap();
}

/// Offline check 4: the GELU facts, from closed forms, and Part 0a's curve against
/// torch.nn.functional.gelu (exact).
#[test]
fn check4_gelu() {
    let r = run();
    assert_eq!(r.summary_value("gelu(0) = ").unwrap(), 0.0);
    assert!((r.summary_value("gelu(4) = ").unwrap() - 4.0).abs() < 1e-3);
    let min = r.summary_value("minimum over the grid: ").unwrap();
    assert!((min + 0.17).abs() < 0.005, "{min}");
    let gap = r
        .summary_value("largest |exact - tanh| GELU on [-4, 4] (8001 points): ")
        .unwrap();
    assert!(gap > 0.0 && gap < 1e-3, "{gap}");
    let s = series("ch7_proj42_part0a");
    let p = points(&s, "panel0", "(x - GELU(x))² (colour clipped at 10)");
    let rf = reference();
    assert_close(&xs(p), &json_f64s(&rf["gelu_x"]), 1e-12, "grid").unwrap();
    let want = json_f64s(&rf["gelu_exact"]);
    assert_close(&ys(p), &want, 1e-10, "exact GELU").unwrap();
    // the grid's minimum against torch's values, and the tanh version within 1e-3
    let tmin = want.iter().copied().fold(f64::INFINITY, f64::min);
    assert!((min - tmin).abs() < 1e-6);
    for (a, b) in want.iter().zip(json_f64s(&rf["gelu_tanh"])) {
        assert!((a - b).abs() < 1e-3);
    }
    // the colours: (x - g)^2 clipped at 10, from torch's g
    let (_, rows) = read_csv(&r.file("ch7_proj42_part0a.csv")).unwrap();
    let colours: Vec<f64> = rows
        .iter()
        .filter(|row| row[2] == "scatter")
        .map(|row| row[5].parse().unwrap())
        .collect();
    let want_c: Vec<f64> = json_f64s(&rf["gelu_x"])
        .iter()
        .zip(&want)
        .map(|(x, g)| ((x - g) * (x - g)).min(10.0))
        .collect();
    assert_close(&colours, &want_c, 1e-9, "colour values").unwrap();
}

/// Offline check 5: the two rings (seed 0): z is the radius, mean z ≈ 1 and ≈ 2, and
/// the plane z = 1.5 separates every point; the points lie on their rings' angles.
#[test]
fn check5_rings() {
    let (_, rows) = read_csv(&run().file("part0b_points.csv")).unwrap();
    assert_eq!(rows.len(), 200);
    let n = 100.0;
    for (ring, radius) in [("inner", 1.0), ("outer", 2.0)] {
        let pts: Vec<(f64, f64, f64)> = rows
            .iter()
            .filter(|r| r[0] == ring)
            .map(|r| {
                (
                    r[1].parse().unwrap(),
                    r[2].parse().unwrap(),
                    r[3].parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(pts.len(), 100);
        let mut zsum = 0.0;
        for (i, (x, y, z)) in pts.iter().enumerate() {
            assert!((z - x.hypot(*y)).abs() < 1e-12);
            let t = i as f64 * (2.0 * std::f64::consts::PI - 1.0 / n) / (n - 1.0);
            // noise std 0.1 per coordinate: 6 sigma
            assert!((x - radius * t.cos()).abs() < 0.6 && (y - radius * t.sin()).abs() < 0.6);
            if ring == "inner" {
                assert!(*z < 1.5, "inner point {i} at z {z}");
            } else {
                assert!(*z > 1.5, "outer point {i} at z {z}");
            }
            zsum += z;
        }
        assert!(
            (zsum / n - radius).abs() < 0.05,
            "{ring}: mean z {}",
            zsum / n
        );
    }
    let s = series("ch7_proj42_part0b");
    assert_eq!(
        points(&s, "A) Non-linearly separable in 2D", "inner ring").len(),
        100
    );
    assert_eq!(
        points(&s, "B) Linearly separable in 3D", "outer ring").len(),
        100
    );
}

/// Offline check 6: the tokenizer gives the spec's 17 ids (and transformers' ids and
/// token strings); the t-SNE maps are 17 finite points; Pearson r of a vector with itself
/// is 1, and input vs projection matches numpy's corrcoef.
#[test]
fn check6_tokens_tsne_pearson() {
    let r = run();
    let rf = reference();
    let ids: Vec<u32> = rf["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| usize_of(v) as u32)
        .collect();
    assert_eq!(ids, BOOK_IDS);
    assert_eq!(
        r.summary_line("token ids (17): ").unwrap(),
        format!("token ids (17): {BOOK_IDS:?} (the book's 17)")
    );
    let s = series("ch7_proj42_part5");
    let layer = usize_of(&rf["tsne_layer"]);
    let tokens: Vec<String> = rf["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let (_, rows) = read_csv(&r.file("ch7_proj42_part5.csv")).unwrap();
    for title in [
        format!("A) input layer {layer}"),
        format!("B) projection layer {layer}"),
    ] {
        let p = points(&s, &title, "Token index");
        assert_eq!(p.len(), 17);
        assert!(p.iter().all(|q| q.0.is_finite() && q.1.is_finite()));
        // the labels: the decoded tokens, 3% of the y range above their points
        let labels: Vec<(f64, f64, String)> = rows
            .iter()
            .filter(|row| row[0] == title && row[2] == "text")
            .map(|row| {
                (
                    row[3].parse().unwrap(),
                    row[4].parse().unwrap(),
                    row[5].clone(),
                )
            })
            .collect();
        assert_eq!(
            labels.iter().map(|l| l.2.clone()).collect::<Vec<_>>(),
            tokens
        );
        let (lo, hi) = p
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| {
                (a.min(q.1), b.max(q.1))
            });
        for (l, q) in labels.iter().zip(p) {
            assert!((l.0 - q.0).abs() < 1e-12 && (l.1 - q.1 - 0.03 * (hi - lo)).abs() < 1e-9);
        }
    }
    let self_r = r
        .summary_value("Pearson r of the input with itself: ")
        .unwrap();
    assert!((self_r - 1.0).abs() < 1e-9);
    let want = rf["pearson_r"].as_f64().unwrap();
    let got = r
        .summary_value(&format!(
            "Pearson r, input vs projection (tokens 1..16, {} values): ",
            fmt(16 * d_model())
        ))
        .unwrap();
    assert!((got - want).abs() < 1e-5, "{got} vs numpy {want}");
    assert!(s.keys().any(|k| k.0 == format!("C) r = {want:.3}")));
}

/// Parts 2-4: the stage shapes, and the densities of the focus block (all tokens, and
/// per token) and of every block over tokens 1.. against numpy histograms of the HF
/// module hooks' tensors.
#[test]
fn stage_densities_match_transformers() {
    let r = run();
    let rf = reference();
    let layer = usize_of(&rf["layer"]);
    let (d, m) = (d_model(), d_mlp());
    let widths = [d, m, m, d];
    for (k, shape) in rf["stage_shapes"].as_array().unwrap().iter().enumerate() {
        let s = json_f64s(shape);
        assert_eq!(s, [1.0, 17.0, widths[k] as f64]);
    }
    assert_eq!(
        r.summary_line("X2 (c_fc output, pre-GELU): ").unwrap(),
        format!("X2 (c_fc output, pre-GELU): shape [1, 17, {m}]")
    );
    let aw = 6.0 / 200.0;
    let s = series("ch7_proj42_part2");
    for k in 0..4 {
        let n = 17 * widths[k];
        let label = format!("{} (N = {})", STAGES[k], fmt(n));
        let p = points(&s, &format!("MLP stages, layer {layer}"), &label);
        let want = json_f64s(&rf["stage_density"][k]);
        // the density is over in-range values only: one count is 1 / (in-range x width)
        let in_range = want.iter().sum::<f64>() * aw; // 1 when any value is in range
        assert!((in_range - 1.0).abs() < 1e-9);
        let got = ys(p);
        let count = {
            let smallest = want
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::INFINITY, f64::min);
            smallest
        };
        close_hist(&got, &want, count, 2, &label);
    }
    // GELU's minimum ≈ -0.17 in the model too (gelu_new), from the HF act output
    let gelu_min = rf["stage_min"][2].as_f64().unwrap();
    let line = r.summary_line("GELU values: min ").unwrap();
    let got: f64 = line["GELU values: min ".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((got - gelu_min).abs() < 1e-4, "{got} vs {gelu_min}");

    let h = heatmaps_bottom_first("ch7_proj42_part3");
    for (k, panel) in PANELS.iter().enumerate() {
        let rows = &h[*panel];
        assert_eq!(rows.len(), 17);
        for (i, row) in rows.iter().enumerate() {
            let want = json_f64s(&rf["token_density"][k][i]);
            let one = 1.0 / (widths[k] as f64 * aw);
            // per token the in-range count may be below the width; one count is then larger
            let smallest = want
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(one, f64::min);
            close_hist(row, &want, smallest, 2, &format!("{panel} token {i}"));
        }
    }
    let h = heatmaps_bottom_first("ch7_proj42_part4");
    let n_layer = usize_of(&rf["config"]["n_layer"]);
    for (k, panel) in PANELS.iter().enumerate() {
        let rows = &h[*panel];
        assert_eq!(rows.len(), n_layer);
        for (l, row) in rows.iter().enumerate() {
            let want = json_f64s(&rf["blocks"][l]["laminar"][k]);
            let smallest = want
                .iter()
                .copied()
                .filter(|v| *v > 0.0)
                .fold(f64::INFINITY, f64::min);
            close_hist(row, &want, smallest, 2, &format!("{panel} layer {l}"));
        }
    }
    assert_eq!(
        r.summary_line("12 stage tensors stored").unwrap(),
        "12 stage tensors stored (4 per block)"
    );
}

/// Bad input fails with a clear message, before any output.
#[test]
fn bad_layer_and_model_are_refused() {
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "7"])
        .err()
        .expect("--layer 7 must fail on a 3-block model")
        .to_string();
    assert!(err.contains("--layer 7 is out of range"), "{err}");
    let bert = common::cli::tiny_model("tiny-bert");
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--model", &bert])
        .err()
        .expect("a BERT model must be refused")
        .to_string();
    assert!(err.contains("pass a GPT-2 checkpoint"), "{err}");
}
