//! Project 33's offline checks. The --quick run (the tiny random GPT-2 standing in for all
//! four sizes, offline) is compared with references that do not come from the program:
//! transformers/torch/numpy on the same tiny model (`fixtures/reference.json`, written by
//! `scripts/make_fixture.py`), the raw `c_attn` tensors read here straight from
//! `model.safetensors`, and closed forms (4d^2 + 4d, pool sizes, cosine-matrix
//! properties). The splitting, pooling and histogram helpers are also unit-tested on
//! random matrices in `src/qkv.rs` (offline checks 2-5 on synthetic data).

// Matrix checks read best as index loops.
#![allow(clippy::needless_range_loop)]

use common::testing::reference::{cosine, safetensors_matrix, tiny_gpt2_dir, RawMatrix};
use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, points, read_csv, run_project, xs, ys,
    FigureSeries, ProjectRun,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const BIN: &str = env!("CARGO_BIN_EXE_project33_qkv_weights");
const SIZES: [&str; 4] = ["small", "medium", "large", "xl"];
const MATRICES: [&str; 3] = ["W_Q", "W_K", "W_V"];
const QKV: [&str; 3] = ["q", "k", "v"];
const TOL: f64 = 1e-9;

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

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn cfg(key: &str) -> usize {
    reference()["config"][key].as_u64().unwrap() as usize
}

fn layers() -> &'static [Value] {
    reference()["layers"].as_array().unwrap()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_close(got, want, tol, what).unwrap();
}

fn series(fig: &str) -> FigureSeries {
    figure_series(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// The heatmaps of a figure's CSV: panel -> matrix (rows as stored).
fn heatmaps(fig: &str) -> BTreeMap<String, Vec<Vec<f64>>> {
    figure_heatmaps(&run().file(&format!("{fig}.csv"))).unwrap()
}

/// A 1-d float32 tensor of the tiny model's `model.safetensors`, by name suffix.
fn vector(name: &str) -> Vec<f64> {
    let bytes = std::fs::read(tiny_gpt2_dir().join("model.safetensors")).unwrap();
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

/// Layer `l`'s `c_attn.weight` `[d, 3d]` as stored (Conv1D: input x output).
fn c_attn(l: usize) -> RawMatrix {
    safetensors_matrix(&tiny_gpt2_dir(), &format!("h.{l}.attn.c_attn.weight")).unwrap()
}

/// Column `c` of a raw matrix.
fn column(m: &RawMatrix, c: usize) -> Vec<f64> {
    (0..m.rows)
        .map(|r| f64::from(m.data[r * m.cols + c]))
        .collect()
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part2a", "part2b", "part2c", "part2d", "part3", "part4a", "part4b", "part5a", "part5b",
        "part5c", "part6",
    ] {
        run().check_figure(&format!("ch6_proj33_{f}")).unwrap();
    }
}

/// Offline check 1: the config table, and the attention parameters of a block (the
/// numels of transformers' c_attn/c_proj tensors) equal 4d^2 + 4d, times n_layer. (The
/// four real GPT-2 configs' 28.3M / 100.8M / 236.1M / 491.8M are unit-tested in
/// src/qkv.rs.)
#[test]
fn check1_config_table_and_parameter_counts() {
    let (d, n_layer, n_head, hd) = (
        cfg("n_embd"),
        cfg("n_layer"),
        cfg("n_head"),
        cfg("head_dim"),
    );
    assert_eq!((d, n_layer, n_head, hd), (16, 3, 4, 4));
    let r = run();
    for size in SIZES {
        assert_eq!(
            r.summary_line(&format!("{size:<8} | ")).unwrap(),
            format!("{size:<8} | {d:>9} | {n_layer:>6} | {n_head:>7} | {hd:>8}")
        );
        let per_block = 4 * d * d + 4 * d;
        assert_eq!(
            per_block,
            reference()["block_params"].as_u64().unwrap() as usize
        );
        let total = per_block * n_layer;
        assert_eq!(
            total,
            reference()["total_params"].as_u64().unwrap() as usize
        );
        let n = &reference()["numels"];
        let line = r
            .summary_line(&format!("0.0M attention weights in GPT2-{size} "))
            .unwrap();
        assert_eq!(
            line,
            format!(
                "0.0M attention weights in GPT2-{size} ({} = {n_layer} blocks x {}: \
                 c_attn.weight {} + c_attn.bias {} + c_proj.weight {} + c_proj.bias {}, \
                 counted in block {})",
                fmt_thousands(total),
                fmt_thousands(per_block),
                n["c_attn.weight"],
                n["c_attn.bias"],
                n["c_proj.weight"],
                n["c_proj.bias"],
                reference()["count_block"]
            )
        );
    }
    let shape = json_f64s(&reference()["c_attn_shape"]);
    assert_eq!(shape, [d as f64, 3.0 * d as f64]);
    assert_eq!(
        r.summary_line("block 2 c_attn weight shape in GPT2-small: ")
            .unwrap(),
        "block 2 c_attn weight shape in GPT2-small: [16, 48] (input dim x output dim: Q | K | V)"
    );
    let (_, table) = read_csv(&r.file("part1_models.csv")).unwrap();
    assert_eq!(table.len(), 4);
}

/// 3264 -> "3,264" (the summary's thousands separators).
fn fmt_thousands(n: usize) -> String {
    common::output::thousands(n as i64)
}

/// Offline check 2: the fused matrix the program shows (Part 2a) is c_attn.weight in the
/// Conv1D layout, exactly; x @ W[:, block] + b reproduces transformers' own c_attn output
/// for q, k and v on a random input; each W_Q head image (Part 4a) is the transpose of
/// columns h*hd..(h+1)*hd-1.
#[test]
fn check2_fused_layout_split_and_heads() {
    let (d, hd) = (cfg("n_embd"), cfg("head_dim"));
    let layer = reference()["layer"].as_u64().unwrap() as usize;
    assert_eq!(
        layer, 2,
        "the tiny model's last block stands in for layer 6"
    );
    assert!(run()
        .summary_line("GPT-2 small here has 3 blocks: layer 2 stands in")
        .is_ok());
    let hm = heatmaps("ch6_proj33_part2a");
    let shown = &hm[&format!("Fused QKV weights (c_attn.weight) of layer {layer} in GPT2-small")];
    let raw = c_attn(layer);
    assert_eq!((raw.rows, raw.cols), (d, 3 * d));
    assert_eq!((shown.len(), shown[0].len()), (d, 3 * d));
    for r in 0..d {
        // exact: the CSV holds the float32 weights (printed with their shortest decimals)
        let as_f32: Vec<f32> = shown[r].iter().map(|&v| v as f32).collect();
        assert_eq!(as_f32, raw.data[r * 3 * d..(r + 1) * 3 * d], "row {r}");
    }
    // the dashed separators at d and 2d
    let (_, rows) = read_csv(&run().file("ch6_proj33_part2a.csv")).unwrap();
    let mut vlines: Vec<f64> = rows
        .iter()
        .filter(|r| r[2] == "vline")
        .map(|r| r[3].parse().unwrap())
        .collect();
    vlines.sort_by(f64::total_cmp);
    assert_eq!(vlines, [d as f64, 2.0 * d as f64]);

    // x @ W[:, i*d..(i+1)*d] + b[i*d..] = transformers' c_attn(x) split into q | k | v
    let bias = vector(&format!("h.{layer}.attn.c_attn.bias"));
    let x = json_f64s(&reference()["c_attn_input"]);
    let n = x.len() / d;
    for (i, key) in ["c_attn_q", "c_attn_k", "c_attn_v"].iter().enumerate() {
        let want = json_f64s(&reference()[*key]);
        let mut got = vec![];
        for t in 0..n {
            for c in 0..d {
                let col = i * d + c;
                let dot: f64 = (0..d).map(|e| x[t * d + e] * shown[e][col]).sum();
                got.push(dot + bias[col]);
            }
        }
        close(&got, &want, 1e-5, key);
    }

    let heads = heatmaps("ch6_proj33_part4a");
    assert_eq!(heads.len(), cfg("n_head"));
    for h in 0..cfg("n_head") {
        let img = &heads[&format!("H{h}")];
        assert_eq!(
            (img.len(), img[0].len()),
            (hd, d),
            "H{h} is [head dim x emb dims]"
        );
        for j in 0..hd {
            let as_f32: Vec<f32> = img[j].iter().map(|&v| v as f32).collect();
            let want: Vec<f32> = column(&raw, h * hd + j).iter().map(|&v| v as f32).collect();
            assert_eq!(as_f32, want, "H{h} row {j}");
        }
    }
}

/// Parts 2 and 3: every layer's mean and unbiased std of W_Q, W_K, W_V (as transformers
/// splits c_attn) equal torch's, in Part 2d and in every model's row of Part 3; the 2c
/// densities equal numpy's over linspace(-0.8, 0.8, 81) and integrate to 1 (offline check
/// 5); the 2b Freedman–Diaconis counts and left edges equal numpy's `bins="fd"`.
#[test]
fn parts2_and_3_weight_distributions() {
    let n = cfg("n_layer");
    let layer = reference()["layer"].as_u64().unwrap() as usize;
    let d2 = series("ch6_proj33_part2d");
    let p3 = series("ch6_proj33_part3");
    for (m, key) in MATRICES.iter().zip(QKV) {
        let mean: Vec<f64> = layers().iter().map(|l| num(&l[key]["mean"])).collect();
        let std: Vec<f64> = layers().iter().map(|l| num(&l[key]["std"])).collect();
        let a = points(&d2, "A) Mean of the weights", m);
        let b = points(&d2, "B) Standard deviation of the weights", m);
        assert_eq!(xs(a), (0..n).map(|l| l as f64).collect::<Vec<_>>());
        close(&ys(a), &mean, TOL, &format!("2d mean {m}"));
        close(&ys(b), &std, TOL, &format!("2d std {m}"));
        for size in SIZES {
            let t = format!("GPT2-{size}");
            close(
                &ys(points(&p3, &format!("{t}: mean"), m)),
                &mean,
                TOL,
                "part 3 mean",
            );
            close(
                &ys(points(&p3, &format!("{t}: standard deviation"), m)),
                &std,
                TOL,
                "part 3 std",
            );
        }
    }

    let hm = heatmaps("ch6_proj33_part2c");
    for (m, key) in MATRICES.iter().zip(QKV) {
        let img = &hm[*m];
        assert_eq!((img.len(), img[0].len()), (n, 80));
        for l in 0..n {
            // origin lower: the last layer is the top row
            let row = &img[n - 1 - l];
            close(
                row,
                &json_f64s(&layers()[l][key]["density"]),
                1e-9,
                &format!("2c {m} layer {l}"),
            );
            let area: f64 = row.iter().map(|v| v * 0.02).sum();
            assert!((area - 1.0).abs() < 1e-9, "{m} layer {l}: area {area}");
        }
    }

    let b = series("ch6_proj33_part2b");
    let panel = format!("Distribution of QKV weights in layer {layer} in GPT2-small");
    for (m, key) in MATRICES.iter().zip(QKV) {
        let p = points(&b, &panel, m);
        let edges = json_f64s(&layers()[layer][key]["fd_edges"]);
        let counts = json_f64s(&layers()[layer][key]["fd_counts"]);
        close(&xs(p), &edges[..edges.len() - 1], 1e-12, "FD left edges");
        close(&ys(p), &counts, 0.0, "FD counts");
        assert_eq!(counts.iter().sum::<f64>(), 256.0, "d^2 values");
    }
}

/// Offline check 3 on the tiny model: head 0's column cosine matrix (Part 4b) is
/// symmetric with ones on the diagonal and values in [-1, 1], equals cosines of the raw
/// columns computed here, and its histogram counts the hd(hd-1)/2 unique pairs as numpy.
#[test]
fn check3_head0_cosine_matrix() {
    let hd = cfg("head_dim");
    let layer = reference()["layer"].as_u64().unwrap() as usize;
    let hm = heatmaps("ch6_proj33_part4b");
    let c = &hm["A) Cosine similarities of the columns of W_Q head 0"];
    assert_eq!((c.len(), c[0].len()), (hd, hd));
    let raw = c_attn(layer);
    for i in 0..hd {
        assert!((c[i][i] - 1.0).abs() < 1e-12, "diagonal {i}");
        for j in 0..hd {
            assert!((c[i][j] - c[j][i]).abs() < 1e-12, "symmetric {i},{j}");
            assert!(c[i][j].abs() <= 1.0 + 1e-12);
            let want = cosine(&column(&raw, i), &column(&raw, j));
            assert!(
                (c[i][j] - want).abs() < 1e-12,
                "{i},{j}: {} vs {want}",
                c[i][j]
            );
        }
    }
    close(
        &c.concat(),
        &json_f64s(&reference()["head0_cos"]),
        1e-12,
        "vs torch",
    );
    let s = series("ch6_proj33_part4b");
    let pairs = hd * (hd - 1) / 2;
    let p = points(
        &s,
        &format!("B) Distribution of the {pairs} unique pairs"),
        "series0",
    );
    let counts = json_f64s(&reference()["head0_hist_counts"]);
    let edges = json_f64s(&reference()["head0_hist_edges"]);
    assert_eq!(p.len(), 40);
    close(&ys(p), &counts, 0.0, "40-bin counts");
    assert_eq!(counts.iter().sum::<f64>(), pairs as f64);
    let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    close(&xs(p), &centres, 1e-12, "bin centres");
}

/// Part 5 and offline check 3's pool sizes: within n_heads * hd(hd-1)/2, across
/// C(n_heads, 2) * hd^2; each pool's mean and population std per layer (5c, table) equal
/// the book's loop over head pairs; the 5b densities over linspace(-0.4, 0.4, 101) and
/// the 5a Freedman–Diaconis densities equal numpy's.
#[test]
fn part5_within_and_across_head_pools() {
    let (h, hd, n) = (cfg("n_head"), cfg("head_dim"), cfg("n_layer"));
    let layer = reference()["layer"].as_u64().unwrap() as usize;
    let (within, across) = (h * hd * (hd - 1) / 2, h * (h - 1) / 2 * hd * hd);
    assert_eq!((within, across), (24, 96));
    assert_eq!(
        run().summary_line("pool sizes per matrix and layer: ").unwrap(),
        format!(
            "pool sizes per matrix and layer: within {h} x {} = {within}; across {} x {} = {across}",
            hd * (hd - 1) / 2,
            h * (h - 1) / 2,
            hd * hd
        )
    );
    // 12 heads of 64, the book's sizes
    assert_eq!((12 * 64 * 63 / 2, 66 * 64 * 64), (24_192, 270_336));

    let pools = [
        ("W_Q within heads", "q", "within"),
        ("W_Q across heads", "q", "across"),
        ("W_K within heads", "k", "within"),
        ("W_K across heads", "k", "across"),
    ];
    let (_, table) = read_csv(&run().file("part5_pool_stats.csv")).unwrap();
    assert_eq!(table.len(), n * 4);
    let c = series("ch6_proj33_part5c");
    let hm = heatmaps("ch6_proj33_part5b");
    for (j, (name, key, pool)) in pools.iter().enumerate() {
        let refs: Vec<&Value> = layers().iter().map(|l| &l[*key][*pool]).collect();
        let mean: Vec<f64> = refs.iter().map(|r| num(&r["mean"])).collect();
        let std: Vec<f64> = refs.iter().map(|r| num(&r["std"])).collect();
        close(
            &ys(points(&c, "A) Mean cosine similarity", name)),
            &mean,
            TOL,
            name,
        );
        close(
            &ys(points(
                &c,
                "B) Standard deviation of cosine similarity",
                name,
            )),
            &std,
            TOL,
            name,
        );
        for l in 0..n {
            let row = &table[l * 4 + j];
            assert_eq!(
                (row[0].as_str(), row[1].as_str()),
                (l.to_string().as_str(), *name)
            );
            let count = if *pool == "within" { within } else { across };
            assert_eq!(row[2], count.to_string());
            assert_eq!(refs[l]["count"].as_u64().unwrap() as usize, count);
        }
        let img = &hm[&format!("{}) {name}", ["A", "B", "C", "D"][j])];
        assert_eq!((img.len(), img[0].len()), (n, 100));
        for l in 0..n {
            close(
                &img[n - 1 - l],
                &json_f64s(&refs[l]["density"]),
                1e-9,
                &format!("5b {name} {l}"),
            );
        }
    }

    let a = series("ch6_proj33_part5a");
    for (panel, key) in [("A) W_Q", "q"), ("B) W_K", "k")] {
        for pool in ["within", "across"] {
            let r = &layers()[layer][key][pool];
            let edges = json_f64s(&r["fd_edges"]);
            let p = points(
                &a,
                &format!("{panel}, layer {layer}"),
                &format!("{pool} heads"),
            );
            close(&xs(p), &edges[..edges.len() - 1], 1e-9, "5a left edges");
            close(&ys(p), &json_f64s(&r["fd_density"]), 1e-6, "5a densities");
        }
    }
}

/// Part 6: mean and unbiased std of the d(d-1)/2 whole-matrix column cosines of every
/// layer and matrix, for every model row, equal torch's.
#[test]
fn part6_whole_matrix_cosines() {
    let d = cfg("n_embd");
    let s = series("ch6_proj33_part6");
    for (m, key) in MATRICES.iter().zip(QKV) {
        let mean: Vec<f64> = layers().iter().map(|l| num(&l[key]["cos_mean"])).collect();
        let std: Vec<f64> = layers().iter().map(|l| num(&l[key]["cos_std"])).collect();
        assert!(layers()
            .iter()
            .all(|l| l[key]["cos_count"].as_u64().unwrap() as usize == d * (d - 1) / 2));
        for size in SIZES {
            let t = format!("GPT2-{size}");
            close(
                &ys(points(&s, &format!("{t}: mean cosine similarity"), m)),
                &mean,
                TOL,
                "6 mean",
            );
            close(
                &ys(points(&s, &format!("{t}: std of cosine similarity"), m)),
                &std,
                TOL,
                "6 std",
            );
        }
    }
    let ref_line = points(&s, "GPT2-small: std of cosine similarity", "1/√d");
    assert!((ref_line[0].1 - 0.25).abs() < 1e-12, "1/sqrt(16)");
    let (_, table) = read_csv(&run().file("part6_cosine_stats.csv")).unwrap();
    assert_eq!(table.len(), 4 * cfg("n_layer") * 3);
    assert!(table.iter().all(|r| r[3] == (d * (d - 1) / 2).to_string()));
}

/// Bad input fails before the output folder is touched: an unknown per-model flag's
/// model, a layer out of range, --sizes without small.
#[test]
fn bad_flags_fail_fast_without_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cases: [(&[&str], &str); 4] = [
        (&["--xl-model", "./no/such/model"], "./no/such/model"),
        (&["--medium-model", "./missing-medium"], "./missing-medium"),
        (&["--layer", "3"], "--layer 3 is out of range"),
        (&["--sizes", "medium,xl"], "--sizes must include small"),
    ];
    for (flags, want) in cases {
        let o = std::process::Command::new(BIN)
            .args(["--quick", "--device", "cpu"])
            .args(flags)
            .arg("--out")
            .arg(&out)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flags:?} must fail");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
        assert!(!out.exists(), "{flags:?} touched the output folder");
        let siblings: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(siblings.is_empty(), "{flags:?} left {siblings:?}");
    }
}
