//! Project 49's offline checks. The --quick run (the tiny random GPT-2 and the book's
//! prompt, offline; its last block 2 stands in for layer 9) is compared with references
//! that do not come from the program: transformers/torch/numpy on the same model and
//! prompt (`fixtures/reference.json`, written by `scripts/make_fixture.py` with the book's
//! in-place forward hooks on `mlp.c_fc`, `mlp.act` and `mlp.c_proj`, torch.median,
//! torch.topk, np.linspace, np.histogram and `output_hidden_states=True`), the spec's token
//! ids and k lists, and closed forms. The hand-made replacement against the hook and the
//! lower median are also unit-tested in `src/replace.rs`.

use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project, ys,
    FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project49_median_replacement");
/// Two float32 implementations of the same model agree to about 1e-6.
const TOL: f64 = 1e-5;
const SPEC_IDS: [u64; 7] = [1026, 373, 257, 3223, 290, 6388, 88];
const K5120: [u64; 21] = [
    51, 302, 552, 803, 1054, 1305, 1556, 1807, 2058, 2309, 2560, 2810, 3061, 3312, 3563, 3814,
    4065, 4316, 4567, 4817, 5068,
];
const K1280: [u64; 21] = [
    12, 75, 138, 200, 263, 326, 389, 451, 514, 577, 640, 702, 765, 828, 890, 953, 1016, 1079, 1141,
    1204, 1267,
];
const SITES: [&str; 3] = ["pre_gelu", "post_gelu", "projection"];

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
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_u64().expect("an integer"))
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(json_f64s).collect()
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn column(name: &str, col: &str) -> Vec<f64> {
    run().f64_column(name, col).unwrap()
}

/// A `hs_diff_norms_*.csv` table as `[fraction][hidden state]`.
fn hs_table(site: &str) -> Vec<Vec<f64>> {
    let (h, rows) = read_csv(&run().file(&format!("hs_diff_norms_{site}.csv"))).unwrap();
    assert_eq!(h[..2], ["fraction", "k"]);
    rows.iter()
        .map(|r| r[2..].iter().map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn heatmap(fig: &str, panel: &str) -> Vec<Vec<f64>> {
    let mut all = figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap();
    all.remove(panel)
        .unwrap_or_else(|| panic!("{fig}: no heatmap in panel {panel:?}"))
}

fn assert_matrix(got: &[Vec<f64>], want: &[Vec<f64>], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(g, w, tol, &format!("{what} row {i}")).unwrap();
    }
}

fn col_means(m: &[Vec<f64>]) -> Vec<f64> {
    (0..m[0].len())
        .map(|j| m.iter().map(|r| r[j]).sum::<f64>() / m.len() as f64)
        .collect()
}

#[test]
fn every_figure_is_written() {
    for p in 1..=5 {
        run().check_figure(&format!("ch7_proj49_part{p}")).unwrap();
    }
}

/// Offline check 6: transformers' tokenizer gives the spec's 7 ids and " night" -> 1755;
/// the program says so.
#[test]
fn check6_tokenizer() {
    assert_eq!(u64s(&reference()["ids"]), SPEC_IDS);
    assert_eq!(reference()["target"].as_u64(), Some(1755));
    assert_eq!(
        run().summary_line("check 6: ").unwrap(),
        "check 6: the prompt gives the spec's 7 ids: true; \" night\" -> [1755] (spec \
         [1755]): true"
    );
    assert_eq!(
        run().summary_line("prompt: ").unwrap(),
        format!("prompt: \"It was a dark and stormy\", 7 tokens: {SPEC_IDS:?}")
    );
}

/// Offline check 5 (k lists): the program's k for N = 5120 and 1280 are the spec's lists
/// (numpy's int(linspace * N) agrees), and the tiny model's k (N = 64 and 16) are numpy's.
#[test]
fn check5_k_lists() {
    assert_eq!(u64s(&reference()["k_5120"]), K5120);
    assert_eq!(u64s(&reference()["k_1280"]), K1280);
    assert_eq!(
        run().summary_line("check 5: k for N = 5120").unwrap(),
        format!("check 5: k for N = 5120: {K5120:?}; for N = 1280: {K1280:?}")
    );
    let want_p = json_f64s(&reference()["pcts"]);
    assert_close(
        &column("target_log_softmax.csv", "fraction"),
        &want_p,
        0.0,
        "fractions",
    )
    .unwrap();
    let kx: Vec<u64> = column("target_log_softmax.csv", "k_expansion")
        .iter()
        .map(|&v| v as u64)
        .collect();
    let kp: Vec<u64> = column("target_log_softmax.csv", "k_projection")
        .iter()
        .map(|&v| v as u64)
        .collect();
    assert_eq!(kx, u64s(&reference()["pre_gelu"]["k"]));
    assert_eq!(kx, u64s(&reference()["post_gelu"]["k"]));
    assert_eq!(kp, u64s(&reference()["projection"]["k"]));
}

/// Offline check 5 (normalisation): exp(log_softmax) sums to 1, clean and lesioned.
#[test]
fn check5_log_softmax_sums_to_one() {
    let clean = run()
        .summary_value("check 5: sum of exp(log_softmax) - 1 = ")
        .unwrap();
    let lesioned = run()
        .summary_value("check 5: lesioned run: sum of exp(log_softmax) - 1 = ")
        .unwrap();
    assert!(
        clean.abs() < 1e-5 && lesioned.abs() < 1e-5,
        "{clean} {lesioned}"
    );
    assert!(reference()["clean_exp_sum_minus_1"].as_f64().unwrap().abs() < 1e-5);
}

/// Part 1: the clean last-position log-softmax of " night", the top 10 and the figure
/// against transformers.
#[test]
fn part1_clean_log_softmax() {
    let r = reference();
    let want = r["clean_lsm_target"].as_f64().unwrap();
    let line = run().summary_line("Predicted next token is ").unwrap();
    let got: f64 = line.rsplit(": ").next().unwrap().parse().unwrap();
    assert!((got - want).abs() < TOL, "{got} vs {want}");
    let top = r["clean_argmax_token"].as_str().unwrap();
    assert!(
        line.starts_with(&format!(
            "Predicted next token is {top:?} (id {})",
            r["clean_argmax"]
        )),
        "{line}"
    );
    let ids: Vec<u64> = column("part1_top10.csv", "id")
        .iter()
        .map(|&v| v as u64)
        .collect();
    assert_eq!(ids, u64s(&r["clean_top10_ids"]));
    assert_close(
        &column("part1_top10.csv", "log_softmax"),
        &json_f64s(&r["clean_top10_lsm"]),
        TOL,
        "top-10 log-softmax",
    )
    .unwrap();

    let s = series("ch7_proj49_part1");
    let title = format!("Predicted next token is \"{top}\"");
    let night = points(&s, &title, " night");
    assert_eq!(night.len(), 1);
    assert_eq!(night[0].0, 1755.0);
    assert!((night[0].1 - want).abs() < TOL);
    let dots: Vec<&(f64, f64)> = s
        .iter()
        .filter(|((p, n), _)| p == &title && n != " night")
        .flat_map(|(_, v)| v.iter())
        .collect();
    assert_eq!(dots.len(), 50257);
    let by_id: std::collections::HashMap<u64, f64> =
        dots.iter().map(|(x, y)| (*x as u64, *y)).collect();
    for (id, lsm) in u64s(&r["clean_top10_ids"])
        .iter()
        .zip(json_f64s(&r["clean_top10_lsm"]))
    {
        assert!((by_id[id] - lsm).abs() < TOL, "dot at {id}");
    }
}

/// Part 2 and offline check 3: the median, mean, histograms and the replacement's
/// properties against torch/numpy.
#[test]
fn part2_and_check3() {
    let p = &reference()["part2"];
    let n = p["n"].as_u64().unwrap();
    let k = p["k"].as_u64().unwrap();
    assert_eq!((n, k), (64, 6)); // int(0.1 * 64)
    let line = run().summary_line("N = 64: median (lower) = ").unwrap();
    let med: f64 = line["N = 64: median (lower) = ".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((med - p["median"].as_f64().unwrap()).abs() < 1e-5, "{line}");
    let mean = run().summary_value(&line[..line.find("mean = ").unwrap() + 7]);
    assert!((mean.unwrap() - p["mean"].as_f64().unwrap()).abs() < 1e-5);
    assert!(line.contains(&format!("{} of 64 values are negative", p["n_negative"])));
    assert!(line.ends_with("k = int(0.1 * 64) = 6 largest replaced"));

    assert_eq!(
        (p["median_1234"].as_f64(), p["median_513"].as_f64()),
        (Some(2.0), Some(3.0))
    );
    assert_eq!(
        run().summary_line("check 3: median(").unwrap(),
        "check 3: median([1,2,3,4]) = 2, median([5,1,3]) = 3"
    );
    let line = run().summary_line("check 3: entries equal").unwrap();
    assert!(
        line.starts_with(&format!(
            "check 3: entries equal to the median: {} before, {} after (k = 6); {} entries \
             changed;",
            p["equal_median_before"], p["equal_median_after"], p["changed"]
        )),
        "{line}"
    );
    assert!(line.ends_with(": true"), "{line}");
    let mx: f64 = line.split("max after = ").nth(1).unwrap()[..8]
        .parse()
        .unwrap();
    assert!((mx - p["max_after"].as_f64().unwrap()).abs() < 1e-5);
    assert!(p["max_after"].as_f64() <= p["kplus1_largest"].as_f64());

    let orig = json_f64s(&p["counts_original"]);
    let repl = json_f64s(&p["counts_replaced"]);
    assert_close(
        &column("part2_histogram.csv", "original"),
        &orig,
        0.0,
        "orig",
    )
    .unwrap();
    assert_close(
        &column("part2_histogram.csv", "replaced"),
        &repl,
        0.0,
        "repl",
    )
    .unwrap();
    let edges: Vec<f64> = (0..=40).map(|i| -5.0 + 7.0 * i as f64 / 40.0).collect();
    assert_close(
        &column("part2_histogram.csv", "left"),
        &edges[..40],
        1e-12,
        "edges",
    )
    .unwrap();
    let s = series("ch7_proj49_part2");
    let panel = "Pre-GELU values of block 2 (last token), top 6 replaced";
    let o = points(&s, panel, "Original");
    let r = points(&s, panel, "Replaced");
    assert_close(&ys(o), &orig, 0.0, "figure original").unwrap();
    assert_close(&ys(r), &repl, 0.0, "figure replaced").unwrap();
    // x shifted by -0.02 / +0.02 from the bin centres
    assert!((o[0].0 - (-5.0 + 0.0875 - 0.02)).abs() < 1e-12);
    assert!((r[0].0 - (-5.0 + 0.0875 + 0.02)).abs() < 1e-12);
    assert!((points(&s, panel, "Median")[0].0 - p["median"].as_f64().unwrap()).abs() < 1e-5);
    assert!((points(&s, panel, "Mean")[0].0 - p["mean"].as_f64().unwrap()).abs() < 1e-5);
}

/// Parts 3-5: the target's log-softmax and the hidden-state difference norms of all 63
/// lesioned runs against transformers with the book's in-place hooks.
#[test]
fn parts3_5_against_transformers() {
    for site in SITES {
        let r = &reference()[site];
        assert_close(
            &column("target_log_softmax.csv", site),
            &json_f64s(&r["lsm_target"]),
            1e-4,
            &format!("{site} log-softmax"),
        )
        .unwrap();
        let want = matrix(&r["hs_diff_norms"]);
        assert_eq!(want[0].len(), 4);
        assert_matrix(&hs_table(site), &want, 1e-4, site);
    }
}

/// The figures of Parts 3-5 hold the same matrices (origin lower: the first fraction in
/// the bottom row) and the means over fractions.
#[test]
fn parts3_5_figures() {
    let m = |s: &str| matrix(&reference()[s]["hs_diff_norms"]);
    let (ex, ge, pr) = (m("pre_gelu"), m("post_gelu"), m("projection"));
    let rev = |v: &[Vec<f64>]| v.iter().rev().cloned().collect::<Vec<_>>();
    assert_matrix(
        &heatmap("ch7_proj49_part3", "A) ‖Δ hidden state‖ (pre-GELU)"),
        &rev(&ex),
        1e-4,
        "fig3 A",
    );
    assert_matrix(
        &heatmap("ch7_proj49_part4", "A) Pre-GELU replacement"),
        &rev(&ex),
        1e-4,
        "4A",
    );
    assert_matrix(
        &heatmap("ch7_proj49_part4", "B) Post-GELU replacement"),
        &rev(&ge),
        1e-4,
        "4B",
    );
    let avg: Vec<Vec<f64>> = ex
        .iter()
        .zip(&ge)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect())
        .collect();
    assert_matrix(
        &heatmap(
            "ch7_proj49_part5",
            "A) Expansion (mean of pre- and post-GELU)",
        ),
        &rev(&avg),
        1e-4,
        "5A",
    );
    assert_matrix(
        &heatmap("ch7_proj49_part5", "B) Projection replacement"),
        &rev(&pr),
        1e-4,
        "5B",
    );

    let s3 = series("ch7_proj49_part3");
    assert_close(
        &ys(points(&s3, "B) Average over fractions", "pre-GELU")),
        &col_means(&ex),
        1e-4,
        "3B",
    )
    .unwrap();
    let c3 = points(&s3, "C) Log-softmax of \" night\"", "pre-GELU");
    let pct: Vec<f64> = json_f64s(&reference()["pcts"])
        .iter()
        .map(|p| 100.0 * p)
        .collect();
    assert_close(
        &c3.iter().map(|q| q.0).collect::<Vec<_>>(),
        &pct,
        1e-9,
        "3C x",
    )
    .unwrap();
    assert_close(
        &ys(c3),
        &json_f64s(&reference()["pre_gelu"]["lsm_target"]),
        1e-4,
        "3C",
    )
    .unwrap();
    let clean = points(&s3, "C) Log-softmax of \" night\"", "Clean model");
    assert!((clean[0].1 - reference()["clean_lsm_target"].as_f64().unwrap()).abs() < TOL);

    let s5 = series("ch7_proj49_part5");
    let c = "C) Mean ‖Δ hidden state‖ over fractions";
    let d = "D) Log-softmax of \" night\"";
    for (name, key, mx) in [
        ("pre-GELU", "pre_gelu", &ex),
        ("post-GELU", "post_gelu", &ge),
        ("projection", "projection", &pr),
    ] {
        assert_close(&ys(points(&s5, c, name)), &col_means(mx), 1e-4, name).unwrap();
        assert_close(
            &ys(points(&s5, d, name)),
            &json_f64s(&reference()[key]["lsm_target"]),
            1e-4,
            name,
        )
        .unwrap();
    }
}

/// Offline check 1: k = 0 and identity hooks reproduce the clean run exactly; the
/// fixture's k = 0 rows (int(0.01 * 64) = 0) are the clean values too.
#[test]
fn check1_no_replacement_is_exact() {
    for what in ["k = 0", "identity hooks"] {
        assert_eq!(
            run().summary_line(&format!("check 1: {what} ")).unwrap(),
            format!(
                "check 1: {what} at all 3 sites of every block: max |Δ logits| = 0, max ‖Δ \
                 hidden state‖ = 0"
            )
        );
    }
    assert_eq!(reference()["pre_gelu"]["k"][0].as_u64(), Some(0));
    let first = &hs_table("pre_gelu")[0];
    assert_eq!(first, &vec![0.0; 4]);
    let clean = reference()["clean_lsm_target"].as_f64().unwrap();
    assert!((column("target_log_softmax.csv", "pre_gelu")[0] - clean).abs() < TOL);
}

/// Offline check 2: index 0 never changes; a hook on block 1 only leaves indices 0..=1
/// bit-identical and changes 2 and 3 (transformers' norms).
#[test]
fn check2_single_block_hook() {
    for site in SITES {
        for row in hs_table(site) {
            assert_eq!(row[0], 0.0, "{site}");
        }
    }
    assert_eq!(
        run().summary_line("check 2: max ‖Δh‖ at index 0").unwrap(),
        "check 2: max ‖Δh‖ at index 0 over all 63 runs = 0"
    );
    let s = &reference()["single"];
    assert_eq!((s["layer"].as_u64(), s["k"].as_u64()), (Some(1), Some(32)));
    let want = json_f64s(&s["hs_diff_norms"]);
    assert_eq!(want[..2], [0.0, 0.0]);
    let line = run()
        .summary_line("check 2: pre-GELU hook on block 1 only (k = 32)")
        .unwrap();
    let list = &line[line.find('[').unwrap() + 1..line.rfind(']').unwrap()];
    let got: Vec<f64> = list.split(", ").map(|v| v.parse().unwrap()).collect();
    assert_eq!(got[..2], [0.0, 0.0]);
    assert_close(&got, &want, 1e-5, "single-block norms").unwrap();
    assert_eq!(
        run().summary_line("check 2: zero for").unwrap(),
        "check 2: zero for indices 0..=1: true; non-zero for 2..=3: true"
    );
}

/// Offline check 4: the logits before the last position do not change (causality),
/// while the last one does (by transformers' amount).
#[test]
fn check4_causality() {
    let s = &reference()["single"];
    assert_eq!(s["early_logits_max_abs_diff"].as_f64(), Some(0.0));
    let line = run().summary_line("check 4: ").unwrap();
    assert!(
        line.starts_with("check 4: same run, logits at positions 0..5: max |Δ| vs clean = 0;"),
        "{line}"
    );
    let last: f64 = line.rsplit(": ").next().unwrap().parse().unwrap();
    let want = s["last_logits_max_abs_diff"].as_f64().unwrap();
    assert!(
        want > 0.0 && (last - want).abs() < 1e-3 * want.max(1.0),
        "{last} vs {want}"
    );
}

/// The hook points the program reads and changes are transformers' module outputs:
/// `mlp.hook_pre` = c_fc, `mlp.hook_post` = act, `hook_mlp_out` = c_proj, every block.
#[test]
fn hook_points_are_transformers_modules() {
    use common::{HookedModel, Names, RunOptions};
    let dir = common::cli::tiny_gpt2();
    let m = HookedModel::from_pretrained(&dir, tch::Device::Cpu).unwrap();
    let b = m
        .batch_from_ids(
            &[SPEC_IDS.iter().map(|&i| i as u32).collect()],
            common::PaddingSide::Right,
        )
        .unwrap();
    let run = m
        .run(
            &b,
            &RunOptions::default().cache(
                Names::matching("blocks.*.mlp.hook_pre")
                    .and("blocks.*.mlp.hook_post")
                    .and("blocks.*.hook_mlp_out"),
            ),
        )
        .unwrap();
    let mods = &reference()["modules"];
    for l in 0..3 {
        for (hook, module, width) in [
            ("mlp.hook_pre", "c_fc", 64),
            ("mlp.hook_post", "act", 64),
            ("hook_mlp_out", "c_proj", 16),
        ] {
            let t = run.cache.get(&format!("blocks.{l}.{hook}")).unwrap();
            assert_eq!(t.size(), vec![1, 7, width]);
            let got: Vec<f64> =
                Vec::<f64>::try_from(t.to_kind(tch::Kind::Double).flatten(0, -1)).unwrap();
            assert_close(
                &got,
                &json_f64s(&mods[format!("{module}_{l}")]),
                TOL,
                &format!("{hook} {l}"),
            )
            .unwrap();
        }
    }
}

/// Bad input gets a clear error, not a panic.
#[test]
fn bad_input_is_refused() {
    let e = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("--layer 3 is out of range") && e.contains("3 blocks"),
        "{e}"
    );
    assert!(!e.contains("panicked"), "{e}");
    let bert = common::cli::tiny_model("tiny-bert");
    let e = run_project(BIN, &["--quick", "--device", "cpu", "--model", &bert])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("encoder"), "{e}");
    let e = run_project(BIN, &["--quick", "--device", "cpu", "--n-fractions", "1"])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--n-fractions 1 is too small"), "{e}");
}
