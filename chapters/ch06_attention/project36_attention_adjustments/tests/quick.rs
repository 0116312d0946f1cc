//! Project 36's offline checks. The --quick run (the tiny random GPT-2 and the reviews in
//! src/quick_sentences.txt, offline) is compared with references that do not come from the
//! program: transformers/torch/numpy on the same model and texts
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`: forward hooks on
//! `attn.c_proj` of a padded batch with its attention mask and of each sentence alone,
//! numpy's norms, 'fd' histograms, percentiles and `lstsq`), common's model run here
//! directly (padded vs alone), and closed forms (sample counts, simple-regression
//! formulas, triple counts). The helpers are also unit-tested on synthetic inputs in
//! `src/adjust.rs` (offline checks 2-5).

use common::testing::reference::tiny_gpt2_dir;
use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, run_project, xs, ys,
    FigureSeries, ProjectRun,
};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use serde_json::Value;
use std::sync::OnceLock;
use tch::Device;

const BIN: &str = env!("CARGO_BIN_EXE_project36_attention_adjustments");
/// Two float32 implementations of the same model (ours through libtorch, transformers')
/// agree to about 1e-6 in the activations.
const ACT_TOL: f64 = 1e-5;
const TOKENS2USE: usize = 30;

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

fn lengths() -> Vec<usize> {
    json_f64s(&reference()["lengths"])
        .iter()
        .map(|&l| l as usize)
        .collect()
}

fn n_layer() -> usize {
    reference()["n_layer"].as_u64().unwrap() as usize
}

fn width() -> usize {
    *lengths().iter().max().unwrap()
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

/// The heatmap of a figure's CSV as stored (row 0 = top of the image).
fn heatmap(fig: &str) -> Vec<Vec<f64>> {
    let mut all = figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap();
    assert_eq!(
        all.len(),
        1,
        "{fig}: one heatmap panel, got {:?}",
        all.keys()
    );
    all.pop_first().unwrap().1
}

#[test]
fn every_figure_is_written() {
    for f in ["part1", "part2", "part3a", "part3b", "part4", "part5"] {
        run().check_figure(&format!("ch6_proj36_{f}")).unwrap();
    }
}

/// The batch is transformers' (same texts, same token counts, right padding with 50256),
/// and Part 1's token-mask image and every hook's shape say so.
#[test]
fn batch_and_token_mask() {
    let r = reference();
    let lens = lengths();
    let (t, b) = (width(), lens.len());
    assert!(lens.iter().any(|&l| l < t) && lens.iter().any(|&l| l <= 3));
    assert_eq!(
        column("texts.csv", "n_tokens"),
        lens.iter().map(|&l| l as f64).collect::<Vec<_>>()
    );
    let ids = r["input_ids"].as_array().unwrap();
    for (i, row) in ids.iter().enumerate() {
        let row = json_f64s(row);
        assert!(
            row[lens[i]..].iter().all(|&x| x == 50256.0),
            "pads of row {i}"
        );
    }
    // the image is drawn with sequence 0 at the bottom: stored row 0 is the last sequence
    let img = heatmap("ch6_proj36_part1");
    assert_eq!((img.len(), img[0].len()), (b, t));
    for (i, &l) in lens.iter().enumerate() {
        let want: Vec<f64> = (0..t).map(|p| f64::from(u8::from(p < l))).collect();
        assert_eq!(img[b - 1 - i], want, "mask row {i}");
    }
    let s = run();
    for l in 0..n_layer() {
        assert_eq!(
            s.summary_line(&format!("blocks.{l}.hook_attn_out "))
                .unwrap(),
            format!(
                "blocks.{l}.hook_attn_out (attn.c_proj output): [{b}, {t}, {}]",
                r["d_model"]
            )
        );
    }
    let fig1 = series("ch6_proj36_part1");
    let hist = points(&fig1, "B) Sequence lengths", "series0");
    assert_eq!(
        ys(hist).iter().sum::<f64>(),
        b as f64,
        "every sequence in the histogram"
    );
}

/// Offline check 1: common's c_proj outputs (`hook_attn_out`) at the valid positions of
/// each sentence are the same (1e-5) alone and right-padded in the batch with the mask,
/// and equal transformers' for the shortest sentence run alone.
#[test]
fn check1_padding_invariance() {
    let model =
        HookedModel::from_pretrained(tiny_gpt2_dir().to_str().unwrap(), Device::Cpu).unwrap();
    let texts: Vec<String> = reference()["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let names = Names::matching("blocks.*.hook_attn_out");
    let opts = RunOptions::default().cache(names).logits(LogitsAt::None);
    let batch = model.to_tokens_batch(&texts, PaddingSide::Right).unwrap();
    assert_eq!(batch.seq_len() as usize, width());
    let padded = model.run(&batch, &opts).unwrap().cache;
    let lens = lengths();
    let shortest = reference()["shortest"].as_u64().unwrap() as usize;
    let mut compared = 0;
    for (i, text) in texts.iter().enumerate() {
        let alone = model
            .run(&model.to_tokens(text).unwrap(), &opts)
            .unwrap()
            .cache;
        for l in 0..n_layer() {
            let name = format!("blocks.{l}.hook_attn_out");
            let a = alone.get(&name).unwrap().get(0); // [L, d]
            let p = padded
                .get(&name)
                .unwrap()
                .get(i as i64)
                .narrow(0, 0, lens[i] as i64);
            let av = Vec::<f64>::try_from(a.to_kind(tch::Kind::Double).flatten(0, -1)).unwrap();
            let pv = Vec::<f64>::try_from(p.to_kind(tch::Kind::Double).flatten(0, -1)).unwrap();
            close(
                &pv,
                &av,
                ACT_TOL,
                &format!("text {i} layer {l}: padded vs alone"),
            );
            if i == shortest {
                let hf = json_f64s(&reference()["alone_shortest"][l]);
                close(
                    &av,
                    &hf,
                    ACT_TOL,
                    &format!("text {i} layer {l}: vs transformers"),
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, texts.len() * n_layer());
    assert!(reference()["alone_max_diff"].as_f64().unwrap() < 1e-5);
}

/// Offline check 2: Part 2 takes exactly sum(mask[:, 1:]) = sum(L - 1) vectors per layer;
/// their log-norm mean, population std and Freedman–Diaconis density are numpy's on
/// transformers' norms of the same tokens.
#[test]
fn check2_part2_selection_and_distributions() {
    let want_n: usize = lengths().iter().map(|l| l - 1).sum();
    let ns = column("part2_log_norms.csv", "n");
    assert_eq!(ns, vec![want_n as f64; n_layer()]);
    let means = column("part2_log_norms.csv", "mean");
    let sds = column("part2_log_norms.csv", "std");
    let fig = series("ch6_proj36_part2");
    for l in 0..n_layer() {
        let r = &reference()["part2"][l];
        assert_eq!(r["n"].as_u64().unwrap() as usize, want_n);
        close(
            &[means[l], sds[l]],
            &[r["mean"].as_f64().unwrap(), r["std"].as_f64().unwrap()],
            ACT_TOL,
            &format!("layer {l} mean, std"),
        );
        let label = format!("layer {l}");
        let bar = points(&fig, "B) Average adjustment magnitude per layer", &label);
        close(
            &ys(bar),
            &[means[l]],
            1e-12,
            &format!("layer {l} error bar"),
        );
        let line = points(
            &fig,
            "A) Distribution of attention adjustment magnitudes",
            &label,
        );
        let edges = json_f64s(&r["edges"]);
        let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        close(
            &xs(line),
            &centres,
            1e-4,
            &format!("layer {l} FD bin centres"),
        );
        close(
            &ys(line),
            &json_f64s(&r["density"]),
            1e-3,
            &format!("layer {l} FD density"),
        );
        // a density integrates to 1
        let w = xs(line)[1] - xs(line)[0]; // the program's own bin width
        let area: f64 = ys(line).iter().map(|d| d * w).sum();
        assert!((area - 1.0).abs() < 1e-9, "layer {l}: area {area}");
    }
}

/// Offline check 2 (per-position means): Part 3's X equals log(mean over valid sequences)
/// from transformers' padded run; its sample sizes are the closed form #{L > t}.
#[test]
fn check2_part3_masked_position_means() {
    let lens = lengths();
    let t = width();
    let img = heatmap("ch6_proj36_part3a");
    assert_eq!((img.len(), img[0].len()), (n_layer(), t));
    for l in 0..n_layer() {
        // origin lower: stored row 0 is the last layer
        close(
            &img[n_layer() - 1 - l],
            &json_f64s(&reference()["X"][l]),
            ACT_TOL,
            &format!("X layer {l}"),
        );
    }
    let counts = ys(points(
        &series("ch6_proj36_part3b"),
        "Sample sizes",
        "valid sequences",
    ));
    let want: Vec<f64> = (0..t)
        .map(|p| lens.iter().filter(|&&l| l > p).count() as f64)
        .collect();
    assert_eq!(counts, want);
    // pads would change X: the norms at pad slots are not the valid ones (here they differ)
    let norms0 = json_f64s(&reference()["norms"][0]);
    let mut with_pads = 0.0;
    for row in 0..lens.len() {
        with_pads += norms0[row * t + t - 1];
    }
    let x_last = (with_pads / lens.len() as f64).ln();
    assert!(
        (x_last - img[n_layer() - 1][t - 1]).abs() > 1e-3,
        "pad slots must not count"
    );
}

/// Offline check 3: Part 4's (β0, β1) per layer are numpy's lstsq on transformers' X and
/// the simple-regression closed form on the program's own X (design [1, p], p = 0..29).
#[test]
fn check3_position_regression() {
    let b0 = column("part4_position_regression.csv", "beta0");
    let b1 = column("part4_position_regression.csv", "beta1");
    let img = heatmap("ch6_proj36_part3a");
    let fig = series("ch6_proj36_part4");
    for l in 0..n_layer() {
        let want = json_f64s(&reference()["part4"][l]);
        close(
            &[b0[l], b1[l]],
            &want,
            ACT_TOL,
            &format!("layer {l} vs lstsq"),
        );
        let y = &img[n_layer() - 1 - l][1..=TOKENS2USE];
        let n = TOKENS2USE as f64;
        let pm = (n - 1.0) / 2.0;
        let ym = y.iter().sum::<f64>() / n;
        let sxy: f64 = y
            .iter()
            .enumerate()
            .map(|(p, v)| (p as f64 - pm) * (v - ym))
            .sum();
        let sxx: f64 = (0..TOKENS2USE).map(|p| (p as f64 - pm).powi(2)).sum();
        let slope = sxy / sxx;
        close(
            &[b0[l], b1[l]],
            &[ym - slope * pm, slope],
            1e-9,
            &format!("layer {l} closed form"),
        );
        let line = points(&fig, "A) Magnitude by position", &format!("layer {l}"));
        assert_eq!(
            xs(line),
            (1..=TOKENS2USE).map(|p| p as f64).collect::<Vec<_>>()
        );
    }
    close(
        &ys(points(&fig, "B) Intercepts", "series0")),
        &b0,
        1e-12,
        "panel B",
    );
    close(
        &ys(points(&fig, "C) Slopes", "series1")),
        &b1,
        1e-12,
        "panel C",
    );
}

/// Offline checks 3 and 4 on the model: Part 5's lag coefficients are numpy's lstsq on
/// transformers' triples, and each layer's data holds sum(max(L - 3, 0)) rows.
#[test]
fn check3_4_lag_regression_and_triples() {
    let lens = lengths();
    let rows: usize = lens.iter().map(|&l| l.saturating_sub(3)).sum();
    let per_seq: Vec<usize> = json_f64s(&reference()["triples_per_seq"])
        .iter()
        .map(|&v| v as usize)
        .collect();
    assert_eq!(
        per_seq,
        lens.iter()
            .map(|&l| l.saturating_sub(3))
            .collect::<Vec<_>>()
    );
    assert!(per_seq.contains(&0), "a sequence too short for a triple");
    assert_eq!(
        column("part5_lag_regression.csv", "n_rows"),
        vec![rows as f64; n_layer()]
    );
    assert_eq!(
        run().summary_line("data of the last layer: ").unwrap(),
        format!("data of the last layer: [{rows}, 3] (log n_(t-2), log n_(t-1), log n_t)")
    );
    let b0 = column("part5_lag_regression.csv", "b0");
    let b1 = column("part5_lag_regression.csv", "b1_t_minus_2");
    let b2 = column("part5_lag_regression.csv", "b2_t_minus_1");
    for l in 0..n_layer() {
        close(
            &[b0[l], b1[l], b2[l]],
            &json_f64s(&reference()["part5"][l]),
            1e-4,
            &format!("layer {l}"),
        );
    }
    let fig = series("ch6_proj36_part5");
    let title = "Impact of previous attention adjustment";
    close(&ys(points(&fig, title, "t-2")), &b1, 1e-12, "t-2 series");
    close(&ys(points(&fig, title, "t-1")), &b2, 1e-12, "t-1 series");
}

/// Offline check 5: Part 3a's colour limits are the 5th/95th linear-interpolation
/// percentiles of X (numpy's on transformers' X, and by hand on the program's).
#[test]
fn check5_percentile_colour_limits() {
    let line = run().summary_line("X: [").unwrap();
    let tail = line.rsplit("percentiles) ").next().unwrap();
    let got: Vec<f64> = tail.split(", ").map(|v| v.parse().unwrap()).collect();
    close(
        &got,
        &json_f64s(&reference()["clim"]),
        1e-4,
        "colour limits (printed to 4 places)",
    );
    let mut all: Vec<f64> = heatmap("ch6_proj36_part3a").into_iter().flatten().collect();
    all.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        let pos = q / 100.0 * (all.len() - 1) as f64;
        let i = pos.floor() as usize;
        all[i] + (pos - i as f64) * (all[(i + 1).min(all.len() - 1)] - all[i])
    };
    close(
        &[pct(5.0), pct(95.0)],
        &json_f64s(&reference()["clim"]),
        ACT_TOL,
        "by hand",
    );
}
