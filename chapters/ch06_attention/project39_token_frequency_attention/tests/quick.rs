//! Project 39's offline checks. The --quick run (the tiny random BERT and the passages in
//! src/quick_rows.txt, offline) is compared with references that do not come from the
//! program: transformers/torch/numpy on the same model and passages
//! (`fixtures/reference.json`, written by `scripts/make_fixture.py`: the slow BertTokenizer
//! from a vocab.txt, token counting, the batch, hooks that recompute Q and K from each
//! self-attention module's input, numpy percentiles and binned statistics), common's model
//! run here directly, and closed forms (cumulative counts, batch rows, byte counts). The
//! bookkeeping helpers are also unit-tested on synthetic inputs in `src/freq.rs` (offline
//! checks 2-5).

use common::testing::{
    assert_close, figure_heatmaps, figure_series, json_f64s, read_csv, run_project, FigureSeries,
    ProjectRun,
};
use common::tokenizer::Tokenizer;
use common::{Batch, HookedModel, Names, PaddingSide};
use serde_json::Value;
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_project39_token_frequency_attention");
/// float32 activations of two implementations (libtorch here, torch there).
const TOL: f64 = 1e-5;
const TARGET: usize = 800;
const N_SEQS: usize = 8;
const SEQ_LEN: usize = 64;

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

fn u32s(v: &Value) -> Vec<u32> {
    json_f64s(v).iter().map(|&x| x as u32).collect()
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

/// A figure's heatmap as stored (row 0 = top of the image).
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

fn n_layers() -> usize {
    reference()["n_layers"].as_u64().unwrap() as usize
}

fn tiny_bert() -> String {
    common::cli::tiny_model("tiny-bert")
}

#[test]
fn every_figure_is_written() {
    for f in [
        "part1",
        "part2",
        "part4a",
        "part4b",
        "part5a",
        "part5b",
        "part5c",
        "part5d",
        "part6",
        "interlude_edges",
    ] {
        run().check_figure(&format!("ch6_proj39_{f}")).unwrap();
    }
}

/// Offline check 1: on the tiny random BERT, per-head scores QK^T/sqrt(dh) (recomputed in
/// Python from each self-attention module's input with its own query/key layers) equal
/// common's `hook_attn_scores`; their softmax equals transformers' attention probabilities
/// and common's `hook_pattern` (no mask); the head average equals the mean of the per-head
/// scores; and Q, K rebuilt here from `hook_resid_pre` with `attn_weights` give the scores.
#[test]
fn check1_hooked_scores_are_the_models_attention() {
    let c = &reference()["check1"];
    let ids = u32s(&c["ids"]);
    let model = HookedModel::from_pretrained(&tiny_bert(), Device::Cpu).unwrap();
    let batch = Batch::from_ids(std::slice::from_ref(&ids), 0, PaddingSide::Right).unwrap();
    let (_, cache) = model
        .run_with_cache(
            &batch,
            Names::matching("blocks.*.attn.hook_attn_scores")
                .and("blocks.*.attn.hook_pattern")
                .and("blocks.*.hook_resid_pre"),
        )
        .unwrap();
    let n_heads = reference()["n_heads"].as_u64().unwrap() as i64;
    let p = ids.len() as i64;
    assert_eq!(model.cfg.n_layers, n_layers());
    for l in 0..n_layers() {
        let s = cache
            .get(&format!("blocks.{l}.attn.hook_attn_scores"))
            .unwrap()
            .get(0); // [h, p, p]
        assert_eq!(s.size(), vec![n_heads, p, p]);
        let v = |t: &Tensor| common::device::to_vec_f64(t).unwrap();
        close(
            &v(&s),
            &json_f64s(&c["scores"][l]),
            TOL,
            &format!("layer {l} per-head scores"),
        );
        let soft = s.softmax(-1, Kind::Float);
        close(
            &v(&soft),
            &json_f64s(&c["attentions"][l]),
            TOL,
            &format!("layer {l} softmax vs transformers"),
        );
        let pat = cache
            .get(&format!("blocks.{l}.attn.hook_pattern"))
            .unwrap()
            .get(0);
        close(
            &v(&soft),
            &v(&pat),
            TOL,
            &format!("layer {l} softmax vs hook_pattern"),
        );
        close(
            &v(&s.mean_dim(0, false, Kind::Float)),
            &json_f64s(&c["head_mean"][l]),
            TOL,
            &format!("layer {l} head mean"),
        );
        // Q = X W_q + b_q per head: [p, d] x [h, d, dh] -> [h, p, dh]
        let w = model.attn_weights(l).unwrap();
        let x = cache
            .get(&format!("blocks.{l}.hook_resid_pre"))
            .unwrap()
            .get(0);
        let q = x.unsqueeze(0).matmul(&w.w_q) + w.b_q.unsqueeze(1);
        let k = x.unsqueeze(0).matmul(&w.w_k) + w.b_k.unsqueeze(1);
        let dh = q.size()[2] as f64;
        let rebuilt = q.matmul(&k.transpose(-1, -2)) / dh.sqrt();
        close(
            &v(&rebuilt),
            &v(&s),
            TOL,
            &format!("layer {l} rebuilt QK^T"),
        );
    }
}

/// Offline check 2: counts sum to the tokens processed and stop at the first row where the
/// cumulative count reaches the target; proportions (Part 1's points) and the top 20.
#[test]
fn check2_counting() {
    let r = reference();
    let lens: Vec<usize> = r["row_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_array().unwrap().len())
        .collect();
    let n_rows = r["n_rows"].as_u64().unwrap() as usize;
    // closed form: the first prefix of rows whose token count reaches the target
    let cum = |k: usize| lens[..k].iter().sum::<usize>();
    let want_rows = (1..=lens.len()).find(|&k| cum(k) >= TARGET).unwrap();
    assert_eq!(n_rows, want_rows);
    assert!(cum(want_rows - 1) < TARGET);
    let total = cum(want_rows);
    let line = run().summary_line(&format!("{total} tokens after {want_rows} rows"));
    assert!(line.is_ok(), "{line:?}");
    let counts = json_f64s(&r["counts"]);
    assert_eq!(counts.iter().sum::<f64>() as usize, total);
    // Part 1: log(count / total + 1e-15) for every token id
    let s = series("ch6_proj39_part1");
    assert_eq!(s.len(), 1);
    let pts = s.values().next().unwrap();
    assert_eq!(pts.len(), counts.len());
    let want: Vec<f64> = counts
        .iter()
        .map(|c| (c / total as f64 + 1e-15).ln())
        .collect();
    close(
        &pts.iter().map(|p| p.1).collect::<Vec<_>>(),
        &want,
        1e-12,
        "part1 log proportions",
    );
    let props: f64 = pts.iter().map(|p| p.1.exp() - 1e-15).sum();
    assert!((props - 1.0).abs() < 1e-9, "proportions sum to {props}");
    let top: Vec<(f64, f64)> = r["top20"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v[0].as_f64().unwrap(), v[1].as_f64().unwrap()))
        .collect();
    let ids = column("part1_top20.csv", "id");
    let cnts = column("part1_top20.csv", "count");
    assert_eq!(ids.len(), 20);
    assert_eq!(ids, top.iter().map(|t| t.0).collect::<Vec<_>>());
    assert_eq!(cnts, top.iter().map(|t| t.1).collect::<Vec<_>>());
}

/// Offline check 3: Pmat of sequence 0 is symmetric and Pmat[i, j] = log p_i + log p_j
/// (the reference's log proportions of sequence 0's tokens).
#[test]
fn check3_pair_matrix() {
    let lp = json_f64s(&reference()["log_props_seq0"]);
    let img = heatmap("ch6_proj39_part5a");
    let p = lp.len();
    assert_eq!((img.len(), img[0].len()), (p, p));
    for i in 0..p {
        for j in 0..p {
            // origin lower: image row 0 is matrix row p - 1
            let v = img[p - 1 - i][j];
            assert!((v - (lp[i] + lp[j])).abs() < 1e-9, "Pmat[{i}, {j}]");
            assert_eq!(v, img[p - 1 - j][i], "symmetry at {i}, {j}");
        }
    }
    run()
        .summary_line(
            "sequence 0: Pmat [64, 64], Pmat - Pmat^T is all zeros (max |difference| = 0)",
        )
        .unwrap();
}

/// Offline check 4 on the model's numbers: per-sequence percentile binning of layer 1 (the
/// last, standing in for layer 7) and Part 6's averaged curves and correlations equal
/// numpy's percentiles and a by-hand binned_statistic on transformers' scores.
#[test]
fn check4_binned_statistics() {
    let r = reference();
    let nl = n_layers();
    let nb = 10;
    let layer = column("part6_binned.csv", "layer");
    assert_eq!(layer.len(), nl * nb);
    let got: Vec<f64> = ["centre", "mean", "std"]
        .iter()
        .map(|c| column("part6_binned.csv", c))
        .fold(vec![vec![]; nl * nb], |mut acc, col| {
            for (a, v) in acc.iter_mut().zip(col) {
                a.push(v);
            }
            acc
        })
        .into_iter()
        .flatten()
        .collect();
    let want: Vec<f64> = r["avg6"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l.as_array().unwrap().iter().flat_map(json_f64s))
        .collect();
    close(&got, &want, TOL, "part 6 averaged binned curves");
    let r6: Vec<f64> = r["r6"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(json_f64s)
        .collect();
    let got6: Vec<f64> = column("part6_correlations.csv", "r_mean")
        .into_iter()
        .zip(column("part6_correlations.csv", "r_std"))
        .flat_map(|(a, b)| [a, b])
        .collect();
    close(&got6, &r6, 1e-4, "part 6 correlations");
    let c5: Vec<f64> = r["corr5c"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(json_f64s)
        .collect();
    let got5: Vec<f64> = column("part5c_correlations.csv", "r_mean")
        .into_iter()
        .zip(column("part5c_correlations.csv", "r_std"))
        .flat_map(|(a, b)| [a, b])
        .collect();
    assert_eq!(got5.len(), 2 * N_SEQS);
    close(&got5, &c5, 1e-4, "part 5c per-sequence correlations");
    // Part 5c's figure: sequence 0's binned means are the reference's ... via Part 5d
    let s = series("ch6_proj39_part5d");
    let mean_pts = s.iter().find(|(k, _)| k.1 == "mean").unwrap().1;
    close(
        &mean_pts.iter().map(|p| p.1).collect::<Vec<_>>(),
        &column("part5c_correlations.csv", "r_mean"),
        1e-12,
        "part 5d means",
    );
    // Part 5b: every 500th pair of each sequence, (Pmat, QK^T) of the last layer
    let s = series("ch6_proj39_part5b");
    for i in 0..N_SEQS {
        let pts = s.iter().find(|(k, _)| k.1 == format!("seq {i}")).unwrap().1;
        assert_eq!(pts.len(), (SEQ_LEN * SEQ_LEN).div_ceil(500));
        close(
            &pts.iter().map(|p| p.0).collect::<Vec<_>>(),
            &json_f64s(&r["part5b_x"][i]),
            1e-9,
            "part 5b x",
        );
        close(
            &pts.iter().map(|p| p.1).collect::<Vec<_>>(),
            &json_f64s(&r["part5b_y"][i]),
            TOL,
            "part 5b y",
        );
    }
}

/// Part 4: Pearson r per layer over positions 1..63 and the plotted adjustment log norms.
#[test]
fn part4_adjustment_correlations() {
    let r = reference();
    close(
        &column("part4_correlations.csv", "r"),
        &json_f64s(&r["r4"]),
        1e-4,
        "part 4 r",
    );
    let s = series("ch6_proj39_part4a");
    let key = s
        .keys()
        .find(|k| k.0.starts_with("Layer 0:") && k.1 == "positions 1..")
        .unwrap()
        .clone();
    let pts = &s[&key];
    assert_eq!(pts.len(), N_SEQS * (SEQ_LEN - 1));
    let adj0 = json_f64s(&r["adj_seq0"][0]);
    close(
        &pts[..SEQ_LEN - 1].iter().map(|p| p.1).collect::<Vec<_>>(),
        &adj0[1..],
        TOL,
        "layer 0 log norms, seq 0",
    );
    let lp = json_f64s(&r["log_props_seq0"]);
    close(
        &pts[..SEQ_LEN - 1].iter().map(|p| p.0).collect::<Vec<_>>(),
        &lp[1..],
        1e-12,
        "log token props, seq 0",
    );
    let key0 = s
        .keys()
        .find(|k| k.0 == key.0 && k.1 == "position 0")
        .unwrap();
    assert_eq!(s[key0].len(), N_SEQS);
    assert!((s[key0][0].1 - adj0[0]).abs() < TOL);
    assert_eq!(
        key.0,
        format!("Layer 0: (r = {:.2})", json_f64s(&r["r4"])[0])
    );
}

/// Offline check 5 on the real builder: the batch is the first 8 rows with >= 64 tokens,
/// truncated, in order (closed form from the reference's per-row ids), and Part 2 shows them.
#[test]
fn check5_batch() {
    let r = reference();
    let rows: Vec<Vec<u32>> = r["row_ids"].as_array().unwrap().iter().map(u32s).collect();
    let kept: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].len() >= SEQ_LEN)
        .take(N_SEQS)
        .collect();
    assert_eq!(kept.len(), N_SEQS);
    assert!(kept.iter().any(|&i| i != kept[0]) && kept.len() < rows.len());
    assert_eq!(
        json_f64s(&r["batch_rows"])
            .iter()
            .map(|&v| v as usize)
            .collect::<Vec<_>>(),
        kept
    );
    run()
        .summary_line(&format!(
            "batch: [{N_SEQS}, {SEQ_LEN}] token ids from dataset rows {kept:?}"
        ))
        .unwrap();
    let img = heatmap("ch6_proj39_part2");
    assert_eq!(img.len(), N_SEQS);
    for (s, &row) in kept.iter().enumerate() {
        // pcolor: sequence 0 at the bottom
        let got: Vec<u32> = img[N_SEQS - 1 - s].iter().map(|&v| v as u32).collect();
        assert_eq!(got, rows[row][..SEQ_LEN].to_vec(), "sequence {s}");
    }
}

/// Offline check 6: common's WordPiece (tiny-bert's tokenizer.json, no special tokens)
/// matches the slow BertTokenizer built from a vocab.txt, and round-trips lowercase ASCII
/// text made of the vocabulary's letters up to whitespace.
#[test]
fn check6_wordpiece() {
    let tok =
        Tokenizer::from_file(&std::path::Path::new(&tiny_bert()).join("tokenizer.json")).unwrap();
    let r = reference();
    for f in r["fixed_strings"].as_array().unwrap() {
        let text = f["text"].as_str().unwrap();
        assert_eq!(tok.encode(text).unwrap(), u32s(&f["ids"]), "{text:?}");
    }
    let rows: Vec<Vec<u32>> = r["row_ids"].as_array().unwrap().iter().map(u32s).collect();
    assert_eq!(rows.len(), 15);
    let text = "the cat stood by the river. every platypus, 42 times; nothing at all";
    let ids = tok.encode(text).unwrap();
    assert!(!ids.contains(&1), "no [UNK]");
    let back = tok.decode(&ids).unwrap();
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(squash(&back), squash(text), "{back:?}");
}

/// The summary's memory lines: kept bytes vs every head's full scores (closed forms).
#[test]
fn memory_report() {
    let (l, n, p, h) = (
        n_layers(),
        N_SEQS,
        SEQ_LEN,
        reference()["n_heads"].as_u64().unwrap() as usize,
    );
    let scores = l * n * p * p * 4;
    let kept = scores + l * n * p * 8;
    let th = |v: usize| common::output::thousands(v as i64);
    run()
        .summary_line(&format!("kept tensors: {} bytes", th(kept)))
        .unwrap();
    run()
        .summary_line(&format!(
            "every head's full scores would take: {} bytes",
            th(scores * h)
        ))
        .unwrap();
    run()
        .summary_line("peak resident memory of the process:")
        .unwrap();
}

/// Bad flags fail before the output folder is touched, with errors that say what to do.
#[test]
fn bad_flags_fail_fast() {
    let tmp = tempfile_dir();
    for (args, needle) in [
        (vec!["--seq-len", "65"], "context"),
        (vec!["--n-seqs", "20"], "fewer than the 20"),
        (vec!["--chunk", "0"], "--chunk"),
    ] {
        let out = tmp.join("never");
        let mut a = vec!["--quick", "--device", "cpu", "--out", out.to_str().unwrap()];
        a.extend(args.iter());
        let o = std::process::Command::new(BIN).args(&a).output().unwrap();
        assert!(!o.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?} created the output folder");
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("p39_bad_flags_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Chunking is only a memory device: three-sequence chunks give the same kept tensors
/// (hence the same binned curves and correlations) as one pass of all eight.
#[test]
fn chunked_forward_passes_agree() {
    let chunked = run_project(BIN, &["--quick", "--device", "cpu", "--chunk", "3"]).unwrap();
    chunked
        .summary_line("3 forward passes of at most 3 sequences")
        .unwrap();
    for (file, col) in [
        ("part6_binned.csv", "mean"),
        ("part6_binned.csv", "std"),
        ("part4_correlations.csv", "r"),
    ] {
        let (h, rows) = read_csv(&chunked.file(file)).unwrap();
        let j = h.iter().position(|c| c == col).unwrap();
        let got: Vec<f64> = rows.iter().map(|r| r[j].parse().unwrap()).collect();
        close(
            &got,
            &column(file, col),
            1e-6,
            &format!("{file} {col}, chunk 3 vs 8"),
        );
    }
}

/// The --wiki-parquet path (what a full run reads): the same passages as a
/// wikimedia/wikipedia-shaped parquet file (written by the fixture script with pyarrow),
/// read outside --quick with the tiny BERT and --quick's sizes, give --quick's results; and
/// outside --quick a layer the model lacks is an error, not a stand-in.
#[test]
fn wiki_parquet_path_matches_quick() {
    let parquet = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/quick_rows.parquet");
    let bert = tiny_bert();
    let base = [
        "--device",
        "cpu",
        "--model",
        &bert,
        "--wiki-parquet",
        parquet,
        "--n-seqs",
        "8",
        "--seq-len",
        "64",
        "--target-tokens",
        "800",
        "--n-edges",
        "11",
    ];
    let mut args = base.to_vec();
    args.extend(["--layers-4a", "0,1,1", "--layer-5b", "1", "--layer-5c", "1"]);
    let file_run = run_project(BIN, &args).unwrap();
    let total = reference()["total"].as_u64().unwrap();
    file_run
        .summary_line(&format!(
            "{total} tokens after {} rows",
            reference()["n_rows"]
        ))
        .unwrap();
    for (file, col) in [
        ("part6_binned.csv", "mean"),
        ("part5c_correlations.csv", "r_std"),
    ] {
        let (h, rows) = read_csv(&file_run.file(file)).unwrap();
        let j = h.iter().position(|c| c == col).unwrap();
        let got: Vec<f64> = rows.iter().map(|r| r[j].parse().unwrap()).collect();
        close(
            &got,
            &column(file, col),
            1e-12,
            &format!("{file} {col}, parquet vs quick"),
        );
    }
    let o = std::process::Command::new(BIN).args(base).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Part 4a layer 12 does not exist"), "{err}");
}
