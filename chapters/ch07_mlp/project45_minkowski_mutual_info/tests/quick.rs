//! Project 45's offline checks. The --quick run (the tiny random GPT-2 and the project's
//! coffee text, offline; block 2 stands in for layer 3) is compared with references that do
//! not come from the program: transformers/torch/scipy/sklearn on the same model and text
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py` with the book's forward
//! hooks on `attn.c_proj` and `mlp.c_proj`), closed forms from the spec, and, for the
//! synthetic data of Parts 1 and 2 (drawn by the program from its seed), independent
//! re-computations here from the data the program wrote (numpy's histogram rule, a
//! brute-force KSG estimator, Pearson's r by hand).

use common::testing::{
    figure_heatmaps, figure_series, json_f64s, read_csv, run_project, FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project45_minkowski_mutual_info");
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

fn usizes(v: &Value) -> Vec<usize> {
    json_f64s(v).into_iter().map(|x| x as usize).collect()
}

fn value(prefix: &str) -> f64 {
    run().summary_value(prefix).unwrap()
}

fn line(prefix: &str) -> String {
    run().summary_line(prefix).unwrap()
}

fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(&format!("{name}.csv"))).unwrap()
}

fn column(name: &str, col: &str) -> Vec<f64> {
    run().f64_column(&format!("{name}.csv"), col).unwrap()
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn points<'a>(s: &'a FigureSeries, panel_prefix: &str, series: &str) -> &'a [(f64, f64)] {
    let hits: Vec<_> = s
        .iter()
        .filter(|((p, n), _)| p.starts_with(panel_prefix) && n == series)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "series {series:?} in a panel starting {panel_prefix:?}: {:?}",
        s.keys()
    );
    hits[0].1
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    assert!(!got.is_empty(), "{what}: empty");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// The numbers printed after `key = ` on a line, in order.
fn numbers_after(line: &str, key: &str) -> Vec<f64> {
    line.split(key)
        .skip(1)
        .map(|s| {
            let w = s.split_whitespace().next().unwrap();
            w.trim_end_matches([',', ';', ')']).parse().unwrap()
        })
        .collect()
}

// ------------------------------------------------ independent references for Parts 1, 2

/// numpy.histogram2d's equal-width bins and the notebook's entropies, written afresh.
fn np_edges(v: &[f64], bins: usize) -> Vec<f64> {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let step = (hi - lo) / bins as f64;
    let mut e: Vec<f64> = (0..bins).map(|i| i as f64 * step + lo).collect();
    e.push(hi);
    e
}

fn np_bin(e: &[f64], x: f64) -> usize {
    let b = e.len() - 1;
    if x >= e[b] {
        return b - 1;
    }
    (e.iter().filter(|&&t| t <= x).count() - 1).min(b - 1)
}

fn ent(p: &[f64]) -> f64 {
    -p.iter().map(|q| q * (q + 1e-13).log2()).sum::<f64>()
}

/// (MI, H(x)) in bits.
fn hist_mi(x: &[f64], y: &[f64], bins: usize) -> (f64, f64) {
    let (ex, ey) = (np_edges(x, bins), np_edges(y, bins));
    let mut z = vec![vec![0.0; bins]; bins];
    for (a, b) in x.iter().zip(y) {
        z[np_bin(&ex, *a)][np_bin(&ey, *b)] += 1.0;
    }
    let n = x.len() as f64;
    let p: Vec<Vec<f64>> = z
        .iter()
        .map(|r| r.iter().map(|c| c / n).collect())
        .collect();
    let px: Vec<f64> = p.iter().map(|r| r.iter().sum()).collect();
    let py: Vec<f64> = (0..bins).map(|j| p.iter().map(|r| r[j]).sum()).collect();
    let pxy: Vec<f64> = p.iter().flatten().copied().collect();
    (ent(&px) + ent(&py) - ent(&pxy), ent(&px))
}

fn digamma(mut x: f64) -> f64 {
    let mut r = 0.0;
    while x < 6.0 {
        r -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    r + x.ln()
        - 0.5 / x
        - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
}

/// KSG estimator 1 by brute force (sklearn's rules: unit variance without centring, ε the
/// 3rd neighbour's Chebyshev distance moved one float toward 0, strict counts), no noise.
fn brute_ksg(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    let sd = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / n as f64;
        (v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / n as f64).sqrt()
    };
    let (sx, sy) = (sd(x), sd(y));
    let x: Vec<f64> = x.iter().map(|a| a / sx).collect();
    let y: Vec<f64> = y.iter().map(|a| a / sy).collect();
    let (mut ax, mut ay) = (0.0, 0.0);
    for i in 0..n {
        let mut d: Vec<f64> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (x[j] - x[i]).abs().max((y[j] - y[i]).abs()))
            .collect();
        d.sort_by(f64::total_cmp);
        let r = f64::from_bits(d[2].to_bits() - 1);
        let nx = (0..n)
            .filter(|&j| j != i && (x[j] - x[i]).abs() <= r)
            .count();
        let ny = (0..n)
            .filter(|&j| j != i && (y[j] - y[i]).abs() <= r)
            .count();
        ax += digamma(nx as f64 + 1.0);
        ay += digamma(ny as f64 + 1.0);
    }
    let nf = n as f64;
    (digamma(nf) + digamma(3.0) - ax / nf - ay / nf).max(0.0)
}

fn part2_data() -> (Vec<f64>, Vec<f64>) {
    let s = series("ch7_proj45_part2a");
    let p = points(&s, "A)", "data");
    (
        p.iter().map(|q| q.0).collect(),
        p.iter().map(|q| q.1).collect(),
    )
}

// ------------------------------------------------------------------------------ tests

#[test]
fn every_figure_is_written() {
    for f in ["part2a", "part2b", "part4", "part5", "part6", "part7"] {
        run().check_figure(&format!("ch7_proj45_{f}")).unwrap();
    }
}

/// Offline check 1 and Part 1: the closed form on (0,0)-(3,4), and both printed values of
/// Part 1 equal the sums computed here from the data the program drew.
#[test]
fn check1_minkowski() {
    assert_eq!(
        line("check 1: "),
        "check 1: x = (0, 0), y = (3, 4): L1 = 7, L2 = 5"
    );
    let (x, y) = (column("part1_xy", "x"), column("part1_xy", "y"));
    assert_eq!(x.len(), 100);
    let l1: f64 = x.iter().zip(&y).map(|(a, b)| (a - b).abs()).sum();
    let l2: f64 = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    for (p, want) in [("p = 1: ", l1), ("p = 2: ", l2)] {
        let l = line(p);
        let manual = numbers_after(&l, "manual ")[0];
        let library = numbers_after(&l, "library ")[0];
        assert!((manual - want).abs() < 6e-4, "{l} vs {want}");
        assert_eq!(manual, library, "{l}");
    }
}

/// Offline check 2 and Part 2's binned MI: the 8-bin value and the 4..24 sweep equal the
/// numpy-rule computation here; MI(x, x) = H(x); symmetric; ≥ 0; ≈ 0 for independent
/// uniforms (closed-form bias (b−1)²/(2N ln 2) ≈ 6.5e-5 bits at 4 bins, N = 1e5).
#[test]
fn check2_binned_mi() {
    let (x, y) = part2_data();
    assert_eq!(x.len(), 347);
    assert!(x.iter().all(|&v| (0.001..2.7).contains(&v)));
    let (mi8, _) = hist_mi(&x, &y, 8);
    let raw = line("(raw values: binned ");
    assert!(
        (numbers_after(&raw, "binned ")[0] - mi8).abs() < 1e-12,
        "{raw}"
    );
    assert_eq!(
        line("manual (binned, 8 bins) MI = "),
        format!("manual (binned, 8 bins) MI = {mi8:.2} bits")
    );
    let bins = column("part2_bins", "bins");
    let sweep = column("part2_bins", "mi_bits");
    let want: Vec<f64> = (4..=24).map(|b| hist_mi(&x, &y, b).0).collect();
    assert_eq!(bins, (4..=24).map(|b| b as f64).collect::<Vec<_>>());
    close(&sweep, &want, 1e-12, "bin sweep");
    assert!(want.iter().all(|&m| m >= 0.0));
    // the figure plots the sweep
    let s = series("ch7_proj45_part2b");
    let pts = points(&s, "Binned MI", "binned MI (bits)");
    close(
        &pts.iter().map(|p| p.1).collect::<Vec<_>>(),
        &want,
        1e-12,
        "fig 2b",
    );
    // the spec's simulated ranges (0.6-0.7 bits at 4 bins, 1.1-1.2 at 8, 1.8-1.9 at 24),
    // widened for one draw
    assert!((0.5..0.85).contains(&want[0]), "4 bins {}", want[0]);
    assert!((1.0..1.35).contains(&want[4]), "8 bins {}", want[4]);
    assert!((1.7..2.05).contains(&want[20]), "24 bins {}", want[20]);

    let (xx, hx) = hist_mi(&x, &x, 8);
    let l = line("check 2: MI(x, x) = ");
    let (got_mi, got_h) = (
        numbers_after(&l, "MI(x, x) = ")[0],
        numbers_after(&l, "H(x) = ")[0],
    );
    assert!(
        (got_mi - hx).abs() < 1e-9 && (got_h - hx).abs() < 1e-12 && (xx - hx).abs() < 1e-9,
        "{l}"
    );
    let l = line("check 2: MI(x, y) = ");
    let yx = numbers_after(&l, "MI(y, x) = ")[0];
    assert!((yx - mi8).abs() < 1e-12, "{l}");
    let ind = value("check 2: independent uniforms, N = 100000, 4 bins: MI =");
    assert!((0.0..5e-4).contains(&ind.abs()), "independent: {ind}");
}

/// Part 2: the k-NN MI (sklearn semantics, brute force here) and Pearson's r.
#[test]
fn part2_knn_and_pearson() {
    let (x, y) = part2_data();
    let want = brute_ksg(&x, &y);
    let raw = line("(raw values: binned ");
    let got = numbers_after(&raw, "k-NN ")[0];
    assert!((got - want).abs() < 1e-9, "k-NN {got} vs {want}");
    assert_eq!(line("k-NN MI = "), format!("k-NN MI = {want:.2} nats"));
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    let r = sxy / (sxx * syy).sqrt();
    assert!((value("pearson r = ") - r).abs() < 1e-12);
    assert!(r.abs() < 0.2, "the spec expects |r| near 0, got {r}");
    assert_eq!(line("  [[1.000, "), format!("  [[1.000, {r:.3}],"));
}

/// Offline check 3: the k-NN MI of a ρ = 0.8 Gaussian is within 0.05 of −½ln(1−ρ²), of
/// independent variables < 0.05, and invariant to rescaling x.
#[test]
fn check3_knn_mi() {
    let l = line("check 3: bivariate Gaussian");
    let est = numbers_after(&l, "k-NN MI = ")[0];
    let closed = -0.5 * (1.0f64 - 0.64).ln();
    assert!((closed - 0.5108).abs() < 1e-4);
    assert!((est - closed).abs() < 0.05, "{l}");
    let ind = numbers_after(&line("check 3: independent"), "k-NN MI = ")[0];
    assert!((0.0..0.05).contains(&ind), "independent {ind}");
    let l = line("check 3: rescaling x by 7.5: MI ");
    let v = numbers_after(&l, "|difference| ")[0];
    assert!(v < 1e-9, "{l}");
}

/// Offline check 4: τ = 1 and −1 for identical and reversed rankings; scipy's τ-b and
/// p-value on the fixed example with ties (asymptotic p) and one without (exact p).
#[test]
fn check4_kendall() {
    // scipy's own arithmetic gives ±0.9999999999999998 here: 66 / √66 / √66
    let l = line("check 4: identical rankings tau = ");
    let t = numbers_after(&l, "tau = ");
    assert!(
        (t[0] - 1.0).abs() < 1e-12 && (t[1] + 1.0).abs() < 1e-12,
        "{l}"
    );
    for (prefix, key) in [
        ("check 4: example with ties", "kendall_ties"),
        ("check 4: example without ties", "kendall_exact"),
    ] {
        let l = line(prefix);
        let r = &reference()[key];
        close(
            &[numbers_after(&l, "tau = ")[0], numbers_after(&l, "p = ")[0]],
            &[r["tau"].as_f64().unwrap(), r["p"].as_f64().unwrap()],
            1e-12,
            prefix,
        );
    }
}

/// Part 3's data: transformers' tokenizer gives the same token count, unique tokens and
/// target positions; the target id is the spec's 6891.
#[test]
fn part3_tokens_and_targets() {
    let r = reference();
    assert_eq!(
        line("text: "),
        format!(
            "text: the --quick text (assets/quick_text.txt); {} tokens, {} unique",
            r["n_tokens"], r["n_unique"]
        )
    );
    assert!(
        line("target \" coffee\" = token id 6891 (the spec's 6891: true)")
            .ends_with(&format!("{} occurrences", usizes(&r["positions"]).len()))
    );
    assert_eq!(
        line("target positions (first 10): "),
        format!("target positions (first 10): {:?}", usizes(&r["targets"]))
    );
    let n = r["prefix_len"].as_u64().unwrap();
    assert!(
        line("hook outputs att_0..att_2").ends_with(&format!("6 tensors, each [1, {n}, 16]: true"))
    );
    assert_eq!(r["hook_shape"].to_string(), format!("[1,{n},16]"));
}

/// Offline check 5: the block's residual change is attn.c_proj + mlp.c_proj output, and the
/// captured outputs at the targets equal transformers' c_proj forward-hook outputs.
#[test]
fn check5_outputs_add_up_and_match_transformers() {
    let err =
        value("check 5: max |(resid_post - resid_pre) - (attn_out + mlp_out)| over 3 blocks =");
    assert!(err < 1e-5, "{err}");
    assert!(reference()["check5_resid_err"].as_f64().unwrap() < 1e-5);
    let (_, rows) = table("part3_target_outputs");
    assert_eq!(rows.len(), 2 * 10 * 16);
    for block in ["att", "mlp"] {
        let got: Vec<f64> = rows
            .iter()
            .filter(|r| r[0] == block)
            .map(|r| r[4].parse().unwrap())
            .collect();
        let want: Vec<f64> = reference()["layers"][format!("{block}_2")]["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(json_f64s)
            .collect();
        close(&got, &want, TOL, block);
    }
}

/// Part 4: the 45 pairs' MI (sklearn), L1, L2 (scipy) and token distances of layer 2's MLP
/// outputs, in the table and in the figure (raw and max-normalised).
#[test]
fn part4_pair_measures() {
    let r = &reference()["layers"]["mlp_2"];
    let tokdist = json_f64s(&reference()["tokdist"]);
    assert_eq!(column("part4_pairs", "tokdist"), tokdist);
    let want = [
        json_f64s(&r["mi"]),
        json_f64s(&r["l1"]),
        json_f64s(&r["l2"]),
    ];
    for (k, c) in ["mi", "l1", "l2"].iter().enumerate() {
        close(&column("part4_pairs", c), &want[k], TOL, c);
    }
    let s = series("ch7_proj45_part4");
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for (name, i, j) in [("MI-L1", 0, 1), ("MI-L2", 0, 2), ("L1-L2", 1, 2)] {
        let p = points(&s, "A)", name);
        close(
            &p.iter().map(|q| q.0).collect::<Vec<_>>(),
            &want[i],
            TOL,
            name,
        );
        close(
            &p.iter().map(|q| q.1).collect::<Vec<_>>(),
            &want[j],
            TOL,
            name,
        );
        let p = points(&s, "B)", name);
        let ni: Vec<f64> = want[i].iter().map(|v| v / max(&want[i])).collect();
        let nj: Vec<f64> = want[j].iter().map(|v| v / max(&want[j])).collect();
        close(&p.iter().map(|q| q.0).collect::<Vec<_>>(), &ni, TOL, name);
        close(&p.iter().map(|q| q.1).collect::<Vec<_>>(), &nj, TOL, name);
    }
}

/// Part 5: the heatmaps are the upper-triangle matrices (origin lower), the scatters are
/// token distance against each measure, and τ, p are scipy's kendalltau.
#[test]
fn part5_matrices_and_tau() {
    let r = &reference()["layers"]["mlp_2"];
    let pairs: Vec<Vec<usize>> = reference()["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(usizes)
        .collect();
    let hm = figure_heatmaps(&run().file("ch7_proj45_part5.csv")).unwrap();
    let tokdist = json_f64s(&reference()["tokdist"]);
    for (panel, vals) in [
        ("A) MI", json_f64s(&r["mi"])),
        ("B) L1", json_f64s(&r["l1"])),
        ("C) L2", json_f64s(&r["l2"])),
        ("D) Token distance", tokdist.clone()),
    ] {
        let mut want = vec![vec![0.0; 10]; 10];
        for (p, v) in pairs.iter().zip(&vals) {
            want[p[0]][p[1]] = *v;
        }
        want.reverse(); // row 0 of the stored image is the top row: i = 9
        let got = &hm[panel];
        close(
            &got.iter().flatten().copied().collect::<Vec<_>>(),
            &want.iter().flatten().copied().collect::<Vec<_>>(),
            TOL,
            panel,
        );
    }
    let s = series("ch7_proj45_part5");
    for (letter, m) in [("E", "mi"), ("F", "l1"), ("G", "l2")] {
        let (tau, p) = (
            r[format!("{m}_tau")].as_f64().unwrap(),
            r[format!("{m}_p")].as_f64().unwrap(),
        );
        let name = m.to_uppercase();
        let title = format!("{letter}) {name}: τ={tau:.2} (p={p:.3})");
        let pts = points(&s, &title, &name);
        assert_eq!(pts.iter().map(|q| q.0).collect::<Vec<_>>(), tokdist);
        close(
            &pts.iter().map(|q| q.1).collect::<Vec<_>>(),
            &json_f64s(&r[m]),
            TOL,
            &title,
        );
        let l = line(&format!("{name}: Kendall tau with token distance = "));
        close(
            &[numbers_after(&l, "= ")[0], numbers_after(&l, "(p = ")[0]],
            &[tau, p],
            5e-4,
            &l,
        );
    }
}

/// Part 6: per block type, layer and measure, the mean over pairs and Kendall τ / p with
/// token distance equal scipy/sklearn's.
#[test]
fn part6_laminar_table() {
    let (h, rows) = table("part6_laminar");
    assert_eq!(h, ["block", "layer", "measure", "mean", "tau", "p"]);
    assert_eq!(rows.len(), 2 * 3 * 3);
    for row in &rows {
        let r = &reference()["layers"][format!("{}_{}", row[0], row[1])];
        let m = row[2].to_lowercase();
        let got: Vec<f64> = row[3..6].iter().map(|v| v.parse().unwrap()).collect();
        let want = [
            r[format!("{m}_mean")].as_f64().unwrap(),
            r[format!("{m}_tau")].as_f64().unwrap(),
            r[format!("{m}_p")].as_f64().unwrap(),
        ];
        close(&got, &want, TOL, &format!("{row:?}"));
    }
    // every layer's 45 pairs
    let (_, pairs) = table("part6_pairs");
    assert_eq!(pairs.len(), 2 * 3 * 45);
    for blk in ["att", "mlp"] {
        for l in 0..3 {
            let r = &reference()["layers"][format!("{blk}_{l}")];
            let mine: Vec<&Vec<String>> = pairs
                .iter()
                .filter(|x| x[0] == blk && x[1] == l.to_string())
                .collect();
            for (c, key) in [(4, "mi"), (5, "l1"), (6, "l2")] {
                let got: Vec<f64> = mine.iter().map(|x| x[c].parse().unwrap()).collect();
                close(&got, &json_f64s(&r[key]), TOL, &format!("{blk}_{l} {key}"));
            }
        }
    }
    // the figure: mean / max over layers
    let s = series("ch7_proj45_part6");
    let means: Vec<f64> = (0..3)
        .map(|l| {
            reference()["layers"][format!("mlp_{l}")]["l2_mean"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let mx = means.iter().copied().fold(0.0, f64::max);
    let p = points(&s, "C)", "L2");
    close(
        &p.iter().map(|q| q.1).collect::<Vec<_>>(),
        &means.iter().map(|v| v / mx).collect::<Vec<_>>(),
        TOL,
        "fig 6C",
    );
}

/// Offline check 6 and Part 7: the batch rows are the token slices ending in " coffee"
/// (as built by the script from transformers' tokens); the last-position norms and the
/// MI of every pair of layers equal torch's and sklearn's.
#[test]
fn check6_batch_and_part7() {
    let r = reference();
    let n = usizes(&r["batch_t"]).len();
    assert_eq!(
        line("check 6: "),
        format!(
            "check 6: batch [{n}, 10]: every row ends in 6891: true; every row equals \
             tokens[t-9 ..= t]: true"
        )
    );
    let (_, rows) = table("part7_batch");
    let batch: Vec<Vec<usize>> = r["batch"].as_array().unwrap().iter().map(usizes).collect();
    assert_eq!(rows.len(), batch.len());
    for ((row, want), t) in rows.iter().zip(&batch).zip(usizes(&r["batch_t"])) {
        assert_eq!(row[1], t.to_string());
        let got: Vec<usize> = row[2..].iter().map(|v| v.parse().unwrap()).collect();
        assert_eq!(&got, want);
        assert_eq!(*want.last().unwrap(), 6891);
    }
    let (_, rows) = table("part7_norms");
    for blk in ["att", "mlp"] {
        for l in 0..3 {
            let got: Vec<f64> = rows
                .iter()
                .filter(|x| x[0] == blk && x[1] == l.to_string())
                .map(|x| x[3].parse().unwrap())
                .collect();
            close(
                &got,
                &json_f64s(&r["norms"][format!("{blk}_{l}")]),
                TOL,
                blk,
            );
        }
    }
    let mi7 = r["part7_mi"].as_array().unwrap();
    close(
        &column("part7_mi", "mi_att"),
        &mi7.iter()
            .map(|m| m["att"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        TOL,
        "MI att",
    );
    close(
        &column("part7_mi", "mi_mlp"),
        &mi7.iter()
            .map(|m| m["mlp"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        TOL,
        "MI mlp",
    );
    assert_eq!(column("part7_mi", "dist"), vec![1.0, 2.0, 1.0]);
    let hm = figure_heatmaps(&run().file("ch7_proj45_part7.csv")).unwrap();
    assert_eq!(
        hm["C) Layer distance"],
        vec![
            vec![0.0, 1.0, 2.0],
            vec![0.0, 0.0, 1.0],
            vec![0.0, 0.0, 0.0]
        ]
    );
}

/// Bad input is refused with a clear message, before any output is written.
#[test]
fn bad_input_is_refused() {
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .expect("layer 3 of 3 must fail")
        .to_string();
    assert!(err.contains("--layer 3 is out of range"), "{err}");
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--n-targets", "20"])
        .err()
        .expect("20 targets exceed the tiny context")
        .to_string();
    assert!(err.contains("more than"), "{err}");
}
