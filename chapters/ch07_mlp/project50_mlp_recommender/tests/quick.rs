//! Project 50's offline checks. The --quick run (the tiny random GPT-2 and the book's
//! three texts, offline; its last block 2 stands in for layer 6) is compared with
//! references that do not come from the program: transformers/torch/numpy on the same
//! model and texts (`fixtures/reference.json`, written by `scripts/make_fixture.py` with
//! the book's forward hooks on `mlp.c_proj`, numpy norms, cosines, percentiles and
//! `np.unravel_index`), the spec's token counts and ids, and closed forms.

use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project,
    FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project50_mlp_recommender");
const TOL: f64 = 1e-5;
const SPEC_B: [u64; 19] = [
    1, 8241, 389, 345, 11, 9722, 582, 1701, 314, 531, 13, 366, 1870, 703, 318, 340, 345, 2107, 1701,
];
const SPEC_C: [u64; 16] = [
    1870, 465, 3280, 6908, 992, 832, 616, 1182, 11, 588, 1660, 832, 257, 264, 12311, 13,
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

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(json_f64s).collect()
}

fn labels(t: &str) -> Vec<String> {
    strs(&reference()["labels"][t])
}

fn table(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(name)).unwrap()
}

fn column(name: &str, col: &str) -> Vec<String> {
    run().column(name, col).unwrap()
}

fn num_column(name: &str, col: &str) -> Vec<f64> {
    run().f64_column(name, col).unwrap()
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

fn heatmap(fig: &str, panel: &str) -> Vec<Vec<f64>> {
    let mut all = figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap();
    all.remove(panel)
        .unwrap_or_else(|| panic!("{fig}: no heatmap in panel {panel:?}: {:?}", all.keys()))
}

fn assert_matrix(got: &[Vec<f64>], want: &[Vec<f64>], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(g, w, tol, &format!("{what} row {i}")).unwrap();
    }
}

fn rev(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    m.iter().rev().cloned().collect()
}

#[test]
fn every_figure_is_written() {
    for f in ["part1", "part2a", "part2b", "part3", "part4", "part5"] {
        run().check_figure(&format!("ch7_proj50_{f}")).unwrap();
    }
}

/// Offline check 2: token counts 29/19/16 and the listed ids (transformers' tokenizer
/// too), the table of counts, and linspace(0, 14, 4) cast to int.
#[test]
fn check2_tokens() {
    let ids = &reference()["ids"];
    assert_eq!(
        ["A", "B", "C"].map(|t| ids[t].as_array().unwrap().len()),
        [29, 19, 16]
    );
    assert_eq!(u64s(&ids["B"]), SPEC_B);
    assert_eq!(u64s(&ids["C"]), SPEC_C);
    assert_eq!(
        run().summary_line("check 2: token counts").unwrap(),
        "check 2: token counts [29, 19, 16] (spec [29, 19, 16]): true; B ids as listed: true; \
         C ids as listed: true"
    );
    assert_eq!(column("token_counts.csv", "tokens"), ["29", "19", "16"]);
    assert_eq!(column("token_counts.csv", "n_toks"), ["28", "18", "15"]);
    assert_eq!(u64s(&reference()["selected"]), [0, 4, 9, 14]);
    assert_eq!(
        run().summary_line("check 2: linspace").unwrap(),
        "check 2: linspace(0, 14, 4) cast to int = [0, 4, 9, 14]"
    );
    assert_eq!(
        run().summary_line("  ids: [1870").unwrap(),
        format!("  ids: {SPEC_C:?}")
    );
}

/// Offline check 4: resid_pre + attention + MLP output reproduce the block output
/// (transformers' pieces too); the norm matrices are (n_layers, T - 1).
#[test]
fn check4_block_decomposition_and_shapes() {
    assert!(reference()["check4_max_abs"].as_f64().unwrap() < 1e-5);
    let v = run()
        .summary_value(
            "check 4: resid_pre + attention output + MLP output - block output: max |err| = ",
        )
        .unwrap();
    assert!(v < 1e-5, "{v}");
    for (t, n) in [("A", 28), ("B", 18), ("C", 15)] {
        let (h, rows) = table(&format!("part1_norms_{t}.csv"));
        assert_eq!((rows.len(), h.len() - 1), (3, n), "{t}");
        assert!(run()
            .summary_line(&format!("text {t}: norm matrix [3, {n}]"))
            .is_ok());
    }
}

/// Part 1: the norms and their 5th/95th percentiles against numpy, in the tables and the
/// figure (origin lower: layer 0 in the bottom row).
#[test]
fn part1_norms() {
    for t in ["A", "B", "C"] {
        let want = matrix(&reference()["norms"][t]);
        let (_, rows) = table(&format!("part1_norms_{t}.csv"));
        let got: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| r[1..].iter().map(|v| v.parse().unwrap()).collect())
            .collect();
        assert_matrix(&got, &want, TOL, t);
        assert_matrix(
            &heatmap("ch7_proj50_part1", &format!("Norms of sentence {t}")),
            &rev(&want),
            TOL,
            t,
        );
        let p = json_f64s(&reference()["percentiles"][t]);
        let line = run()
            .summary_line(&format!("text {t}: norm matrix"))
            .unwrap();
        let want_txt = format!("5th/95th percentile {:.4} / {:.4}", p[0], p[1]);
        assert!(line.contains(&want_txt), "{line} vs {want_txt}");
    }
}

/// Part 2 and offline check 1: the means, cs_AB, the cosines with C and the
/// recommendation against numpy.
#[test]
fn part2_average_recommender() {
    let p2 = &reference()["part2"];
    let cs = p2["cs_AB"].as_f64().unwrap();
    let got = run()
        .summary_value("cs_AB = cos(mean_A, mean_B) = ")
        .unwrap();
    assert!((got - cs).abs() < 1e-5);
    assert_close(
        &num_column("part2_cosines.csv", "cosine"),
        &json_f64s(&p2["cos_C"]),
        TOL,
        "cos C",
    )
    .unwrap();
    assert_eq!(column("part2_cosines.csv", "token"), labels("C"));
    let best = p2["argmax"].as_u64().unwrap() as usize;
    let tok = p2["argmax_token"].as_str().unwrap();
    assert!(run()
        .summary_line("recommended token (layer 2): ")
        .unwrap()
        .starts_with(&format!(
            "recommended token (layer 2): {tok:?} (C token {best}, cosine "
        )));
    let s = series("ch7_proj50_part2a");
    let panel = "Mean MLP outputs (layer 2)";
    let ys = |p: &[(f64, f64)]| p.iter().map(|q| q.1).collect::<Vec<_>>();
    assert_close(
        &ys(points(&s, panel, "Text A")),
        &json_f64s(&p2["mean_A"]),
        TOL,
        "A",
    )
    .unwrap();
    assert_close(
        &ys(points(&s, panel, "Text B")),
        &json_f64s(&p2["mean_B"]),
        TOL,
        "B",
    )
    .unwrap();
    let title = format!("Sc = {cs:.2}");
    let sc = s
        .iter()
        .find(|((p, _), _)| p == &title)
        .unwrap_or_else(|| panic!("no panel {title:?}"));
    assert_close(
        &sc.1.iter().map(|q| q.0).collect::<Vec<_>>(),
        &json_f64s(&p2["mean_A"]),
        TOL,
        "scatter x",
    )
    .unwrap();
    let s = series("ch7_proj50_part2b");
    let title = format!("Recommendation from 2B − A (layer 2): \"{tok}\"");
    assert_close(
        &ys(points(&s, &title, "cosine")),
        &json_f64s(&p2["cos_C"]),
        TOL,
        "fig 2b",
    )
    .unwrap();
    // check 1
    let same = p2["same_argmax"].as_u64().unwrap() as usize;
    let line = run().summary_line("check 1: A = B: ").unwrap();
    assert!(
        line.starts_with("check 1: A = B: max |2B - A - B| = 0; "),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(
            "closest to mean_B {:?} (C token {}): true",
            labels("C")[same],
            same
        )),
        "{line}"
    );
    let line = run().summary_line("check 1: cos(mean_B, mean_B)").unwrap();
    let v: f64 = line
        .split("= ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let w: f64 = line.rsplit("= ").next().unwrap().parse().unwrap();
    assert!(v.abs() < 1e-12 && w < 1e-12, "{line}");
}

/// Part 3: the recommendation per layer against numpy; the figure's bold labels sit at
/// max cos + 0.05.
#[test]
fn part3_layers() {
    let p3 = &reference()["part3"];
    let want = json_f64s(&p3["max_cos"]);
    assert_close(
        &num_column("part3_recommendations.csv", "max_cosine"),
        &want,
        TOL,
        "max cos",
    )
    .unwrap();
    let lab = labels("C");
    let want_tok: Vec<String> = u64s(&p3["argmax"])
        .iter()
        .map(|&k| lab[k as usize].clone())
        .collect();
    assert_eq!(column("part3_recommendations.csv", "token"), want_tok);
    let (_, rows) = read_csv(&run().file("ch7_proj50_part3.csv")).unwrap();
    let texts: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == "text").collect();
    assert_eq!(texts.len(), want.len());
    for (l, r) in texts.iter().enumerate() {
        assert_eq!(r[3].parse::<f64>().unwrap(), l as f64);
        assert!((r[4].parse::<f64>().unwrap() - (want[l] + 0.05)).abs() < TOL);
        assert_eq!(r[5], want_tok[l]);
    }
}

/// Part 4 and offline check 3: the pairwise cMat slices, the unravelled argmax pairs
/// and the titles against numpy.
#[test]
fn part4_pairs() {
    let p4 = &reference()["part4"];
    assert_eq!(u64s(&p4["shape"]), [28, 18, 15]);
    assert_eq!(p4["size"].as_u64(), Some(7560));
    assert_eq!(
        run().summary_line("cMat: ").unwrap(),
        "cMat: [28, 18, 15] = 7,560 values"
    );
    let (la, lb, lc) = (labels("A"), labels("B"), labels("C"));
    let best = p4["best"].as_array().unwrap();
    let ai = num_column("part4_best_pairs.csv", "a_index");
    let bi = num_column("part4_best_pairs.csv", "b_index");
    assert_close(
        &num_column("part4_best_pairs.csv", "cosine"),
        &json_f64s(&p4["max"]),
        TOL,
        "best cos",
    )
    .unwrap();
    for (n, k) in [0usize, 4, 9, 14].iter().enumerate() {
        let (i, j) = (
            best[n][0].as_u64().unwrap() as usize,
            best[n][1].as_u64().unwrap() as usize,
        );
        assert_eq!((ai[n] as usize, bi[n] as usize), (i, j), "k = {k}");
        let title = format!("Similarity with \"{}\"\n({} {})", lc[*k], la[i], lb[j]);
        let want = matrix(&p4["slices"][k.to_string()]);
        assert_matrix(&heatmap("ch7_proj50_part4", &title), &want, TOL, &title);
        let line = run()
            .summary_line(&format!("C token {k} {:?}: ", lc[*k]))
            .unwrap();
        assert!(
            line.ends_with("check 3: cMat at the unravelled argmax - max of the slice = 0"),
            "{line}"
        );
    }
    assert_eq!(
        run()
            .summary_line("check 3: argmax at flat index 300")
            .unwrap(),
        "check 3: argmax at flat index 300 of a (28, 18) slice unravels to (16, 12) (300 / 18 = \
         16, 300 % 18 = 12)"
    );
}

/// Part 5: the best pair per layer and C token, max_sim and its heat map against numpy.
#[test]
fn part5_layer_pairs() {
    let p5 = &reference()["part5"];
    let want = matrix(&p5["max_sim"]);
    let flat: Vec<f64> = want.iter().flatten().copied().collect();
    assert_close(
        &num_column("part5_best_pairs.csv", "max_sim"),
        &flat,
        TOL,
        "max_sim",
    )
    .unwrap();
    assert_matrix(
        &heatmap(
            "ch7_proj50_part5",
            "Best pair similarity per layer and C token",
        ),
        &rev(&want),
        TOL,
        "fig 5",
    );
    let (la, lb, lc) = (labels("A"), labels("B"), labels("C"));
    let ai = num_column("part5_best_pairs.csv", "a_index");
    let bi = num_column("part5_best_pairs.csv", "b_index");
    let pairs = p5["pairs"].as_array().unwrap();
    let summary = run().summary();
    let mut n = 0;
    for (l, layer) in pairs.iter().enumerate() {
        for (k, p) in layer.as_array().unwrap().iter().enumerate() {
            let (i, j) = (
                p[0].as_u64().unwrap() as usize,
                p[1].as_u64().unwrap() as usize,
            );
            assert_eq!((ai[n] as usize, bi[n] as usize), (i, j), "layer {l} k {k}");
            let line = format!("  \"{}\" is paired with ({},{})", lc[k], la[i], lb[j]);
            assert!(summary.contains(&line), "{line}");
            n += 1;
        }
    }
    assert_eq!(n, 3 * 15);
    let p = json_f64s(&p5["percentiles"]);
    let line = run().summary_line("max_sim: [3, 15]").unwrap();
    assert!(
        line.ends_with(&format!("5th/95th percentile {:.4} / {:.4}", p[0], p[1])),
        "{line}"
    );
}

/// Offline checks 5 and 1 on fixed numbers.
#[test]
fn check5_percentiles_and_check1_cosine() {
    assert_close(
        &json_f64s(&reference()["percentiles_1_100"]),
        &[5.95, 95.05],
        1e-12,
        "numpy",
    )
    .unwrap();
    let line = run().summary_line("check 5: ").unwrap();
    let nums: Vec<f64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    assert_close(&nums[nums.len() - 2..], &[5.95, 95.05], 1e-12, "program").unwrap();
    let line = run().summary_line("check 1: cos(u, u) = ").unwrap();
    // u = (3, -1, 2), w = (0.5, 4, -2): cos = (1.5 - 4 - 4) / (sqrt(14) sqrt(20.25))
    let want = -6.5 / (14f64.sqrt() * 4.5);
    assert!(line.starts_with("check 1: cos(u, u) = 1"), "{line}");
    assert!(
        line.ends_with(&format!("cos(u, w) = {want:.12}, cos(u, 7w) = {want:.12}")),
        "{line}"
    );
}

#[test]
fn bad_input_is_refused() {
    let e = run_project(BIN, &["--quick", "--device", "cpu", "--layer", "3"])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--layer 3 is out of range"), "{e}");
    let bert = common::cli::tiny_model("tiny-bert");
    let e = run_project(BIN, &["--quick", "--device", "cpu", "--model", &bert])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("encoder"), "{e}");
}
