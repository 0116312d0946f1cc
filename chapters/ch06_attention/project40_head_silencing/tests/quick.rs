//! Project 40's offline checks. The --quick run (the tiny random GPT-2 and the book's
//! prompt, offline; its last block 2 stands in for block 4) is compared with references
//! that do not come from the program: transformers/torch/numpy on the same model and
//! prompt (`fixtures/reference.json`, written by `scripts/make_fixture.py` with the book's
//! pre-hook on `attn.c_proj` and ONE FULL HOOKED FORWARD PASS PER HEAD, numpy's cosine
//! matrices and histograms), the spec's token ids, and closed forms (pool size, work
//! counts, means and population standard deviations over heads). Offline check 3 (a head
//! whose values are already zero) and the batched sweep against one hooked run per head
//! through common are also unit-tested in `src/silence.rs`.

use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project, ys,
    FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project40_head_silencing");
/// Two float32 implementations of the same model agree to about 1e-6.
const TOL: f64 = 1e-5;
/// The ids the spec lists for the prompt.
const SPEC_IDS: [u64; 26] = [
    8567, 329, 262, 2647, 319, 477, 1243, 11, 290, 1204, 481, 307, 257, 5659, 23021, 286, 8716, 13,
    2011, 2647, 318, 1266, 7247, 416, 1751, 290,
];

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

fn usize_of(key: &str) -> usize {
    reference()[key].as_u64().unwrap() as usize
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(name)).unwrap()
}

fn column(name: &str, col: &str) -> Vec<f64> {
    run().f64_column(name, col).unwrap()
}

/// The heatmap of panel `panel` of a figure's CSV as stored (row 0 = top of the image).
fn heatmap(fig: &str, panel: &str) -> Vec<Vec<f64>> {
    let mut all = figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap();
    all.remove(panel)
        .unwrap_or_else(|| panic!("{fig}: no heatmap in panel {panel:?}"))
}

fn value(prefix: &str) -> f64 {
    run().summary_value(prefix).unwrap()
}

#[test]
fn every_figure_is_written() {
    for f in ["part2", "part3", "part4", "part5a", "part5b"] {
        run().check_figure(&format!("ch6_proj40_{f}")).unwrap();
    }
}

/// Offline check 5 (ids): transformers' tokenizer gives the spec's 26 ids, the program
/// says it does, and prints each id with its text.
#[test]
fn check5_prompt_ids() {
    let ids: Vec<u64> = reference()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(ids, SPEC_IDS);
    assert_eq!(
        run().summary_line("check 5: the prompt encodes").unwrap(),
        "check 5: the prompt encodes to the spec's 26 ids: true"
    );
    for (i, id) in ids.iter().enumerate() {
        let line = run().summary_line(&format!("  token {i:2}: ")).unwrap();
        assert!(line.contains(&format!(" {id} ")), "{line}");
    }
    assert!(run()
        .summary_line("  token  0: ")
        .unwrap()
        .ends_with("\"Look\""));
}

/// Offline check 1: with layer2silence = 1000 the hooked run equals the unhooked one
/// exactly (transformers too), and Part 1's shapes.
#[test]
fn check1_no_manipulation_is_exact() {
    assert_eq!(reference()["check1"]["logits"].as_f64(), Some(0.0));
    let line = run().summary_line("check 1: ").unwrap();
    assert_eq!(
        line,
        "check 1: layer2silence = 1000 vs no hook: max |Δ logits| = 0, max |Δ hidden states| = 0"
    );
    let t = usize_of("T");
    assert_eq!(
        run().summary_line("hidden state shape: ").unwrap(),
        format!("hidden state shape: [1, {t}, 16]")
    );
    assert_eq!(
        run().summary_line("logits shape: ").unwrap(),
        format!("logits shape: [1, {t}, 50257]")
    );
}

/// Offline check 2: blocks before the silenced one are bit-identical, the silenced block's
/// output changes by what transformers finds, and the attention output changes by exactly
/// minus the head's term (1e-5).
#[test]
fn check2_only_downstream_changes() {
    let l = usize_of("layer");
    assert_eq!(l, 2, "the tiny model's last block stands in");
    assert_eq!(
        value(&format!("check 2: blocks before {l}: max |Δ hidden| = ")),
        0.0
    );
    let at = value(&format!("check 2: block {l} output: max |Δ hidden| = "));
    let want = reference()["check2"]["at"].as_f64().unwrap();
    assert!(want > 0.0);
    assert!((at - want).abs() < TOL, "{at} vs {want}");
    let err = value("check 2: attention output change + z_h @ W_proj[h]: max |err| = ");
    assert!(err < TOL, "{err}");
    assert!(run()
        .summary_line("this model has 3 blocks: block 2 (the last) stands in")
        .is_ok());
}

/// Offline check 4 and Part 2: the pool has (T-1)(T-2)/2 values, clean minus clean is 0,
/// and the means and fixed-bin counts per block are numpy's.
#[test]
fn check4_and_part2_cosines() {
    let t = usize_of("T");
    assert_eq!(usize_of("pool_size"), (t - 1) * (t - 2) / 2);
    assert_eq!(
        run().summary_line("check 4: ").unwrap(),
        format!(
            "check 4: pool size {0} = (T-1)(T-2)/2 = {0}; clean minus clean: max |Δ| = 0",
            (t - 1) * (t - 2) / 2
        )
    );
    let r = reference();
    let fig = series("ch6_proj40_part2");
    let means = ys(points(
        &fig,
        "Cosine similarity averages and distributions",
        "mean",
    ));
    assert_close(&means, &json_f64s(&r["cs_clean_mean"]), TOL, "block means").unwrap();
    assert_close(
        &column("part2_cosines.csv", "mean"),
        &json_f64s(&r["cs_clean_mean"]),
        TOL,
        "table means",
    )
    .unwrap();
    // stored row 0 is the top (highest) bin: Y[bin][layer] upside down
    let img = heatmap(
        "ch6_proj40_part2",
        "Cosine similarity averages and distributions",
    );
    let want: Vec<Vec<f64>> = r["hist_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(json_f64s)
        .collect(); // [layer][bin]
    let (nb, nl) = (want[0].len(), want.len());
    assert_eq!((img.len(), img[0].len()), (nb, nl));
    assert_eq!(nb, 31);
    for l in 0..nl {
        let got: Vec<f64> = (0..nb).map(|b| img[nb - 1 - b][l]).collect();
        assert_eq!(got, want[l], "counts of block {l}");
    }
}

/// Part 3: the mean change of the cosine similarities per block (0 before the silenced
/// block) and the Freedman–Diaconis counts of the blocks from it on are numpy's.
#[test]
fn part3_cosine_changes() {
    let r = reference();
    let l0 = usize_of("layer");
    let mean = column("part3_cosine_changes.csv", "mean_diff");
    let mx = column("part3_cosine_changes.csv", "max_abs_diff");
    assert_close(&mean, &json_f64s(&r["cs_diff_mean"]), TOL, "mean Δ").unwrap();
    assert_close(&mx, &json_f64s(&r["cs_diff_maxabs"]), TOL, "max |Δ|").unwrap();
    for (l, (m, a)) in mean.iter().zip(&mx).enumerate() {
        if l < l0 {
            assert_eq!((*m, *a), (0.0, 0.0), "block {l} is upstream");
        } else {
            assert!(*a > 0.0, "block {l} is downstream");
        }
    }
    let fig = series("ch6_proj40_part3");
    let panel = format!("A) Distributions of Δ cosine similarity (blocks ≥ {l0})");
    for (l, counts) in r["fd_counts"].as_object().unwrap() {
        let got = ys(points(&fig, &panel, &format!("layer {l}")));
        assert_eq!(got, json_f64s(counts), "FD counts of block {l}");
    }
    let b = ys(points(
        &fig,
        "B) Average Δ cosine similarity",
        &format!("layer {l0}"),
    ));
    assert_close(&b, &[json_f64s(&r["cs_diff_mean"])[l0]], TOL, "panel B").unwrap();
}

fn top10_ids(line: &str) -> Vec<u64> {
    // items look like "tok" (ID, LSM)
    let list = line.split_once(": ").expect("a list after the colon").1;
    list.split(" (")
        .skip(1)
        .map(|s| s.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// Part 4 and offline check 5 (log-softmax): the clean and silenced predictions, the
/// top-10 lists and head 1 silenced in each block are transformers' hooked runs.
#[test]
fn part4_predictions() {
    let r = reference();
    let line = run().summary_line("check 5: sum of exp").unwrap();
    let sum: f64 = line
        .split("= ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(sum.abs() < 1e-9, "{line}");
    assert!(line.ends_with("argmax(log_softmax) = argmax(logits): true"));
    let pct = |lsm: &Value| format!("{:.3}%", 100.0 * lsm.as_f64().unwrap().exp());
    let clean = run().summary_line("CLEAN: ").unwrap();
    assert!(clean.ends_with(&pct(&r["clean"]["max_lsm"])), "{clean}");
    let sil = run().summary_line("SILENCED (L2, H1): ").unwrap();
    assert!(sil.ends_with(&pct(&r["silenced"]["max_lsm"])), "{sil}");
    let ids = |k: &str| -> Vec<u64> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        top10_ids(&run().summary_line("top-10 clean: ").unwrap()),
        ids("top10_clean")
    );
    assert_eq!(
        top10_ids(&run().summary_line("top-10 silenced (L2, H1): ").unwrap()),
        ids("top10_silenced")
    );
    let head1 = r["head1"].as_array().unwrap();
    let want_max: Vec<f64> = head1
        .iter()
        .map(|h| h["max_lsm"].as_f64().unwrap())
        .collect();
    let want_top: Vec<f64> = head1.iter().map(|h| h["top"].as_f64().unwrap()).collect();
    assert_close(
        &column("part4_head_by_layer.csv", "max_lsm"),
        &want_max,
        TOL,
        "head 1 by block",
    )
    .unwrap();
    assert_eq!(column("part4_head_by_layer.csv", "top_id"), want_top);
    let fig = series("ch6_proj40_part4");
    let panel = "Impact of silencing head #1 on max logit";
    for (l, w) in want_max.iter().enumerate() {
        let p = points(&fig, panel, &format!("layer {l}"));
        assert_eq!(p[0].0, l as f64);
        assert!((p[0].1 - w).abs() < TOL);
    }
    let clean_line = ys(points(&fig, panel, "clean"));
    assert_close(
        &clean_line,
        &[r["clean"]["max_lsm"].as_f64().unwrap()],
        TOL,
        "clean line",
    )
    .unwrap();
}

/// Part 5: the batched sweep equals transformers' one full hooked run per head (values
/// and top tokens), the heat maps are those minus the clean max, the averages and
/// population standard deviations over heads follow, and the work saved is counted right.
#[test]
#[allow(clippy::needless_range_loop)]
fn part5_sweep_matches_one_run_per_head() {
    let r = reference();
    let (nl, nh) = (usize_of("n_layer"), usize_of("n_head"));
    let every = r["every"].as_array().unwrap(); // [head][layer]
    let get = |h: usize, l: usize, k: &str| every[h][l][k].as_f64().unwrap();
    let (hdr, rows) = table("part5_lsm.csv");
    assert_eq!(rows.len(), nl * nh);
    let col = |n: &str| hdr.iter().position(|c| c == n).unwrap();
    for row in &rows {
        let (l, h): (usize, usize) = (
            row[col("layer")].parse().unwrap(),
            row[col("head")].parse().unwrap(),
        );
        let t: f64 = row[col("target_lsm")].parse().unwrap();
        let m: f64 = row[col("max_lsm")].parse().unwrap();
        let top: f64 = row[col("top_id")].parse().unwrap();
        assert!(
            (t - get(h, l, "target_lsm")).abs() < TOL,
            "L{l} H{h} target"
        );
        assert!((m - get(h, l, "max_lsm")).abs() < TOL, "L{l} H{h} max");
        assert_eq!(top, get(h, l, "top"), "L{l} H{h} top");
    }
    let clean = r["clean"]["max_lsm"].as_f64().unwrap();
    for (k, (panel, key)) in [
        ("A) Target log-softmax", "target_lsm"),
        ("B) Max token log-softmax", "max_lsm"),
    ]
    .iter()
    .enumerate()
    {
        let img = heatmap("ch6_proj40_part5a", panel);
        assert_eq!((img.len(), img[0].len()), (nh, nl), "[head, layer]");
        let mut abs = vec![];
        for h in 0..nh {
            for l in 0..nl {
                let w = get(h, l, key) - clean;
                assert!((img[h][l] - w).abs() < TOL, "{panel} H{h} L{l}");
                abs.push(w.abs());
            }
        }
        let lim = 2.0 * abs.iter().sum::<f64>() / abs.len() as f64;
        let said = value(&format!("{panel}: colour range ±"));
        assert!((said - lim).abs() < 1e-4, "{panel}: {said} vs {lim}");
        // Part 5b: mean and population sd over heads per block
        let fig = series("ch6_proj40_part5b");
        let name = ["Target", "Max token"][k];
        let pts = points(&fig, "Average effect of silencing one head", name);
        let (_, csv) = read_csv(&run().file("ch6_proj40_part5b.csv")).unwrap();
        let errs: Vec<f64> = csv
            .iter()
            .filter(|c| c[1] == name)
            .map(|c| c[5].parse().unwrap())
            .collect();
        assert_eq!(pts.len(), nl);
        for l in 0..nl {
            let v: Vec<f64> = (0..nh).map(|h| get(h, l, key) - clean).collect();
            let m = v.iter().sum::<f64>() / nh as f64;
            let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / nh as f64).sqrt();
            let off = if k == 0 { -0.05 } else { 0.05 };
            assert!((pts[l].0 - (l as f64 + off)).abs() < 1e-12);
            assert!((pts[l].1 - m).abs() < TOL, "{name} mean L{l}");
            assert!((errs[l] - sd).abs() < TOL, "{name} sd L{l}");
        }
    }
    // the program's own check against one hooked run per head
    let line = run()
        .summary_line("sweep vs one hooked run per head")
        .unwrap();
    assert!(
        line.ends_with(&format!("same top token in {0} of {0}", nl * nh)),
        "{line}"
    );
    let dt = value(&format!(
        "sweep vs one hooked run per head ({} runs): max |Δ target log-softmax| = ",
        nl * nh
    ));
    assert!(dt < TOL, "{line}");
    // work: nl batched calls instead of nl*nh; nh * sum(nl - l) block passes of nl*nh*nl
    let batched: usize = (0..nl).map(|l| nh * (nl - l)).sum();
    let single = nl * nh * nl;
    let work = run().summary_line("head sweep").unwrap();
    assert!(
        work.contains(&format!(
            "{nl} forward calls instead of {}; {batched} sequence-block passes instead of \
             {single} ({:.1}% saved)",
            nl * nh,
            100.0 * (1.0 - batched as f64 / single as f64)
        )),
        "{work}"
    );
    // heads whose silencing changes the top token: as many as transformers finds
    let target = r["clean"]["top"].as_f64().unwrap();
    let flips = (0..nh)
        .flat_map(|h| (0..nl).map(move |l| (h, l)))
        .filter(|&(h, l)| get(h, l, "top") != target)
        .count();
    assert_eq!(
        value("heads whose silencing changes the top token: "),
        flips as f64
    );
}
