//! Project 37's offline checks. The --quick run (the tiny random GPT-2 and the text in
//! src/quick_text.txt, offline) is compared with references that do not come from the
//! program: transformers/torch/numpy on the same model and text
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`: a forward hook on
//! `attn.c_proj`, the logits' argmax, numpy's histograms and torch's `kl_div`), and closed
//! forms. The KL helpers are also unit-tested on synthetic inputs in `src/kl.rs` (offline
//! checks 1, 2, 3 and 5) and the window indexing in `src/main.rs` (check 4).

use common::testing::{
    assert_close, figure_series, json_f64s, points, run_project, xs, ys, FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project37_prediction_kl");
/// The log-norms come from two float32 implementations of the same model.
const NORM_TOL: f64 = 1e-5;

fn reference() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/reference.json")).expect("reference.json")
    })
}

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| {
        run_project(BIN, &["--quick", "--device", "cpu", "--n-perm", "300"]).unwrap()
    })
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_close(got, want, tol, what).unwrap();
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn column(name: &str, col: &str) -> Vec<f64> {
    run().f64_column(name, col).unwrap()
}

fn value(prefix: &str) -> f64 {
    run().summary_value(prefix).unwrap()
}

fn correct() -> Vec<bool> {
    reference()["correct"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect()
}

#[test]
fn every_figure_is_written() {
    for f in ["part2a", "part2b", "part3", "part4", "part5", "part6"] {
        run().check_figure(&format!("ch6_proj37_{f}")).unwrap();
    }
}

/// Part 1: one hook per block with the window's shape, and the logits' shape.
#[test]
fn part1_shapes() {
    let r = reference();
    let (w, d) = (
        r["window"].as_u64().unwrap(),
        r["d_model"].as_u64().unwrap(),
    );
    let n_layer = r["n_layer"].as_u64().unwrap();
    for l in 0..n_layer {
        assert_eq!(
            run()
                .summary_line(&format!("blocks.{l}.hook_attn_out "))
                .unwrap(),
            format!("blocks.{l}.hook_attn_out (attn.c_proj output): [1, {w}, {d}]")
        );
    }
    assert!(run()
        .summary_line(&format!("blocks.{n_layer}.hook_attn_out"))
        .is_err());
    assert_eq!(
        run().summary_line("logits: ").unwrap(),
        format!("logits: [1, {w}, {}]", r["vocab"])
    );
}

/// Offline check 4 on the real run: the window starts at floor(n / 2), every prediction
/// and target equals transformers', and the last position is compared with the stream's
/// token after the window (the quick text makes that one a correct prediction, so a
/// program that wrapped around or compared within the window would differ).
#[test]
fn check4_accuracy_indexing() {
    let r = reference();
    let n = r["n_stream"].as_u64().unwrap() as usize;
    let start = r["start"].as_u64().unwrap() as usize;
    assert_eq!(start, n / 2);
    let w = r["window"].as_u64().unwrap() as usize;
    let ids = json_f64s(&r["window_ids"]);
    let targets = json_f64s(&r["targets"]);
    assert_eq!(column("part2_predictions.csv", "token"), ids);
    assert_eq!(column("part2_predictions.csv", "target"), targets);
    assert_eq!(
        column("part2_predictions.csv", "predicted"),
        json_f64s(&r["predicted"])
    );
    // targets are the window shifted by one, and the last is outside the window
    assert_eq!(targets[..w - 1], ids[1..]);
    let c = correct();
    assert!(c[w - 1], "the quick text makes the last position correct");
    let got: Vec<bool> = column("part2_predictions.csv", "correct")
        .iter()
        .map(|&v| v == 1.0)
        .collect();
    assert_eq!(got, c);
    let k = c.iter().filter(|&&b| b).count();
    assert!(k > 2 && k < w - 2, "both groups exist: {k} of {w}");
    assert_eq!(
        run().summary_line("Model correctly predicted").unwrap(),
        format!(
            "Model correctly predicted {:.2}% ({k}/{w})",
            100.0 * k as f64 / w as f64
        )
    );
    assert_eq!(
        column("part2_predictions.csv", "toklen"),
        json_f64s(&r["toklen"])
    );
}

/// Part 2's figures: 2a holds one point per position within 0.5 of its 0/1 label; 2b is
/// numpy's 'fd' density histogram of each group's target lengths, with the group mean in
/// the legend.
#[test]
fn part2_figures() {
    let s = series("ch6_proj37_part2a");
    let pts = s.values().next().unwrap();
    let c = correct();
    assert_eq!(pts.len(), c.len());
    for (t, (p, &ok)) in pts.iter().zip(&c).enumerate() {
        assert_eq!(p.0, t as f64);
        let label = f64::from(u8::from(ok));
        assert!(
            (p.1 - label).abs() < 0.3,
            "position {t}: {} vs {label}",
            p.1
        );
    }
    let jitter: Vec<f64> = pts
        .iter()
        .zip(&c)
        .map(|(p, &ok)| p.1 - f64::from(u8::from(ok)))
        .collect();
    let sd = (jitter.iter().map(|v| v * v).sum::<f64>() / jitter.len() as f64).sqrt();
    assert!(sd > 0.02 && sd < 0.1, "jitter sd {sd} (0.05 wanted)");

    let s = series("ch6_proj37_part2b");
    for (key, name) in [("incorrect", "Incorrect"), ("correct", "Correct")] {
        let fd = &reference()["fd_toklen"][key];
        let label = format!("{name} (ave. {:.2} chars)", num(&fd["mean"]));
        let p = points(&s, "Target token lengths", &label);
        close(
            &xs(p),
            &json_f64s(&fd["left"]),
            1e-9,
            &format!("{key} bin edges"),
        );
        close(
            &ys(p),
            &json_f64s(&fd["density"]),
            1e-9,
            &format!("{key} densities"),
        );
    }
}

/// Part 3 (and offline check 5): 31 shared edges over the pooled range of the stand-in
/// layer's log-norms, numpy's counts, probabilities and the normalisation sums.
#[test]
fn part3_histograms() {
    let p3 = &reference()["part3"];
    let layer = reference()["layer"].as_u64().unwrap();
    let edges = json_f64s(&p3["edges"]);
    assert_eq!(edges.len(), 31);
    close(
        &column("part3_bins.csv", "left"),
        &edges[..30],
        NORM_TOL,
        "left edges",
    );
    close(
        &column("part3_bins.csv", "right"),
        &edges[1..],
        NORM_TOL,
        "right edges",
    );
    let cc = column("part3_bins.csv", "count_correct");
    let ci = column("part3_bins.csv", "count_incorrect");
    assert_eq!(cc, json_f64s(&p3["count_correct"]));
    assert_eq!(ci, json_f64s(&p3["count_incorrect"]));
    let c = correct();
    let k = c.iter().filter(|&&b| b).count() as f64;
    assert_eq!(cc.iter().sum::<f64>(), k, "every correct position counted");
    assert_eq!(ci.iter().sum::<f64>(), c.len() as f64 - k);
    let yc = column("part3_bins.csv", "p_correct");
    close(&yc, &json_f64s(&p3["p_correct"]), 1e-12, "yC");
    close(
        &[yc.iter().sum::<f64>()],
        &[1.0],
        1e-12,
        "probabilities sum",
    );
    assert_eq!(value("C: sum of counts = "), k);
    close(
        &[value("C: sum of density values = ")],
        &[num(&p3["density_sum"])],
        1e-3,
        "density sum",
    );
    assert_eq!(value("C: sum of density x bin width = "), 1.0);
    assert_eq!(value("C: sum of probabilities = "), 1.0);
    let s = series("ch6_proj37_part3");
    let title = format!("Log-norms of attention adjustments, layer {layer}");
    let corr = points(&s, &title, "Correct");
    close(&xs(corr), &edges[..30], NORM_TOL, "x = left edges");
    close(&ys(corr), &json_f64s(&p3["p_correct"]), 1e-12, "yC line");
    close(
        &ys(points(&s, &title, "Incorrect")),
        &json_f64s(&p3["p_incorrect"]),
        1e-12,
        "yI line",
    );
}

/// Part 4: torch's kl_div values (printed to 4 decimals), the NaN/inf without epsilon,
/// symmetry of symmetric_KL and the bin sweep.
#[test]
fn part4_divergences() {
    let p4 = &reference()["part4"];
    let raw = run()
        .summary_line("kl_div(log yC, yI), no epsilon: ")
        .unwrap();
    let want_raw = match &p4["raw"] {
        Value::String(s) => s.to_lowercase(),
        v => v.to_string(),
    };
    let got_raw = raw
        .trim_start_matches("kl_div(log yC, yI), no epsilon: ")
        .split(' ')
        .next()
        .unwrap()
        .to_lowercase();
    assert_eq!(got_raw, want_raw);
    let four = |v: f64| (v * 1e4).round() / 1e4;
    let c2i = value("Target is \"incorrect\": ");
    let i2c = value("Target is \"correct\": ");
    assert_eq!(c2i, four(num(&p4["c2i"])));
    assert_eq!(i2c, four(num(&p4["i2c"])));
    assert_ne!(c2i, i2c, "KL is asymmetric");
    let line = run().summary_line("average of the two: ").unwrap();
    let sym: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(sym, four(num(&p4["sym"])));
    let ci = value("symmetric_KL(C, I) = ");
    assert_eq!(ci, four(num(&p4["symmetric_KL_CI"])));
    assert_eq!(ci, value("symmetric_KL(I, C) = "));
    assert_eq!(
        ci, sym,
        "symmetric_KL with 31 edges is Part 4's symmetric KL"
    );
    let s = series("ch6_proj37_part4");
    let p = points(
        &s,
        "Impact of discretization on symmetric KL divergence",
        "series0",
    );
    assert_eq!(xs(p), (10..=50).map(f64::from).collect::<Vec<_>>());
    close(&ys(p), &json_f64s(&p4["sweep"]), 1e-6, "sweep");
    let sweep = ys(p);
    assert!(sweep.windows(2).any(|w| w[1] < w[0]), "not monotone here");
}

/// Parts 5 and 6: the observed divergences, group means and differences equal the
/// reference's; each p is the share of the stored null that is strictly greater; Part 5's
/// null is Part 6's at the same layer (same seed); the null histogram counts every
/// permutation.
#[test]
fn parts5_6_permutation_tests() {
    let layers = reference()["layers"].as_array().unwrap();
    let n_layer = layers.len();
    let want = |k: &str| layers.iter().map(|l| num(&l[k])).collect::<Vec<_>>();
    close(
        &column("part6_layers.csv", "kl"),
        &want("kl"),
        1e-6,
        "observed KL",
    );
    close(
        &column("part6_layers.csv", "mean_correct"),
        &want("mean_correct"),
        NORM_TOL,
        "mean C",
    );
    close(
        &column("part6_layers.csv", "mean_incorrect"),
        &want("mean_incorrect"),
        NORM_TOL,
        "mean I",
    );
    close(
        &column("part6_layers.csv", "diff"),
        &want("diff"),
        NORM_TOL,
        "diff",
    );
    let layer = reference()["layer"].as_u64().unwrap() as usize;
    let null = column("part5_null.csv", "symmetric_kl");
    assert_eq!(null.len(), 300);
    let obs = column("part6_layers.csv", "kl")[layer];
    let p = null.iter().filter(|&&v| v > obs).count() as f64 / 300.0;
    assert_eq!(column("part6_layers.csv", "p")[layer], p);
    assert!(
        run()
            .summary_line("observed symmetric_KL = ")
            .unwrap()
            .ends_with(&format!("p = {p:.3}")),
        "Part 5's p"
    );
    let min = null.iter().copied().fold(f64::INFINITY, f64::min);
    let max = null.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(column("part6_layers.csv", "null_min")[layer], min);
    assert_eq!(column("part6_layers.csv", "null_max")[layer], max);
    // the null is the same kind of number as numpy's (same statistic, other shuffles)
    for (l, (m, np)) in column("part6_layers.csv", "null_mean")
        .iter()
        .zip(want("numpy_null_mean"))
        .enumerate()
    {
        assert!(
            (m / np - 1.0).abs() < 0.15,
            "layer {l}: null mean {m} vs numpy's {np}"
        );
    }
    let s = series("ch6_proj37_part5");
    let title = format!("Statistical evaluation of KL (p = {p:.3})");
    let hist = points(&s, &title, "Null (shuffled labels)");
    assert_eq!(ys(hist).iter().sum::<f64>(), 300.0);
    let s = series("ch6_proj37_part6");
    let corr = points(&s, "A) Mean log-norm per layer", "Correct");
    assert_eq!(xs(corr), (0..n_layer).map(|l| l as f64).collect::<Vec<_>>());
    close(&ys(corr), &want("mean_correct"), NORM_TOL, "panel A");
    // panel C: every layer once, in the group its sign and p say
    let ps = column("part6_layers.csv", "p");
    let diffs = want("diff");
    let mut seen = 0;
    for (name, pos, sig) in [
        ("C > I, p > 0.05", true, false),
        ("C > I, p ≤ 0.05", true, true),
        ("C ≤ I, p > 0.05", false, false),
        ("C ≤ I, p ≤ 0.05", false, true),
    ] {
        let key = (
            "C) Mean difference (correct − incorrect)".to_string(),
            name.to_string(),
        );
        let Some(pts) = s.get(&key) else { continue };
        for &(x, y) in pts {
            let l = x as usize;
            assert_eq!((diffs[l] > 0.0, ps[l] <= 0.05), (pos, sig), "layer {l}");
            assert!((y - diffs[l]).abs() < NORM_TOL);
            seen += 1;
        }
    }
    assert_eq!(seen, n_layer);
}

/// Bad input: a layer out of range is a clear error before any output is written.
#[test]
fn layer_out_of_range() {
    let err = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .expect("--layer 3 must fail on a 3-block model")
        .to_string();
    assert!(err.contains("--layer 3 is out of range"), "{err}");
}
