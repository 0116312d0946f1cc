//! Project 28's offline checks. The --quick runs (tiny random GPT-2 and GPT-NeoX, the
//! project's own texts, offline) are compared with values computed here another way:
//! the tiny models run again through common's API, log-softmax in plain f64 loops,
//! singular values from libtorch's LAPACK SVD (the program uses common::ml's), and the
//! token slices re-derived from the texts. Checks 1, 2 and 5 (the helpers on synthetic
//! data) are unit tests in `src/dims.rs`.

#[path = "../src/quick_text.rs"]
#[allow(dead_code)]
mod quick_text;

use common::testing::{read_csv, run_project, ProjectRun};
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_project28_effective_dimensionality");
const FIGURES: [&str; 13] = [
    "part0",
    "part1",
    "part2",
    "part3a",
    "part3b",
    "part4_part1",
    "part4_part2",
    "part4_part3a",
    "part4_part3b",
    "part5_part1",
    "part5_part2",
    "part5_part3a",
    "part5_part3b",
];

fn run() -> &'static ProjectRun {
    static R: OnceLock<ProjectRun> = OnceLock::new();
    R.get_or_init(|| run_project(BIN, &["--quick", "--device", "cpu"]).unwrap())
}

/// A 16-token run: few enough tokens that ranks are not capped by the 16 dimensions.
fn short_run() -> &'static ProjectRun {
    static R: OnceLock<ProjectRun> = OnceLock::new();
    R.get_or_init(|| {
        run_project(BIN, &["--quick", "--device", "cpu", "--max-seq-len", "16"]).unwrap()
    })
}

fn neox_dir() -> String {
    common::assets_dir()
        .join("models/tiny-gpt-neox")
        .display()
        .to_string()
}

fn load(dir: &str) -> HookedModel {
    HookedModel::from_pretrained(dir, Device::Cpu).unwrap()
}

/// `(real, shuffled)` ids from `<prefix>tokens.csv`.
fn tokens(run: &ProjectRun, prefix: &str) -> (Vec<u32>, Vec<u32>) {
    let (_, rows) = read_csv(&run.file(&format!("{prefix}tokens.csv"))).unwrap();
    assert!(!rows.is_empty());
    rows.iter()
        .map(|r| (r[1].parse::<u32>().unwrap(), r[2].parse::<u32>().unwrap()))
        .unzip()
}

/// `[rank_shuffled, rank_real, eff_shuffled, eff_real]` per hidden state.
fn ranks(run: &ProjectRun, prefix: &str) -> Vec<[usize; 4]> {
    let (_, rows) = read_csv(&run.file(&format!("{prefix}ranks.csv"))).unwrap();
    rows.iter()
        .map(|r| std::array::from_fn(|i| r[2 + i].parse().unwrap()))
        .collect()
}

fn unique(v: &[u32]) -> usize {
    v.iter().collect::<BTreeSet<_>>().len()
}

/// Rank (float32 tolerance) and 0-based 95 % index of a column-centred `[T, d]` matrix,
/// from libtorch's SVD in float64.
fn torch_dims(h: &Tensor) -> (usize, usize) {
    let x = h.to_kind(Kind::Double);
    let c = &x - x.mean_dim(0, true, Kind::Double);
    let s = Vec::<f64>::try_from(c.svd(true, false).1).unwrap();
    let (n, d) = (h.size()[0] as f64, h.size()[1] as f64);
    let tol = s[0] * n.max(d) * f32::EPSILON as f64;
    let rank = s.iter().filter(|&&v| v > tol).count();
    let total: f64 = s.iter().map(|v| v * v).sum();
    let mut acc = 0.0;
    let eff = s
        .iter()
        .position(|v| {
            acc += 100.0 * v * v / total;
            acc > 95.0
        })
        .unwrap();
    (rank, eff)
}

#[test]
fn every_figure_is_written() {
    for name in FIGURES {
        let rows = run().check_figure(name).unwrap();
        assert!(!rows.is_empty(), "{name}");
    }
    for name in ["part1", "part3a", "part3b"] {
        short_run().check_figure(name).unwrap();
    }
}

/// Offline check 3 (and the spec's middle slice): the shuffled sequence is a permutation
/// of the real one, which is tokens[n/2 : n/2 + max_seq_len] of the text.
#[test]
fn shuffle_is_a_permutation_of_the_middle_slice() {
    let gpt2 = load(&common::cli::tiny_gpt2());
    let neox = load(&neox_dir());
    for (prefix, model, text) in [
        ("", &gpt2, quick_text::TEXT),
        ("part4_", &neox, quick_text::TEXT),
        ("part5_", &gpt2, quick_text::HTML),
    ] {
        let (real, shuf) = tokens(run(), prefix);
        let all = model.tokenizer.encode(text).unwrap();
        let start = all.len() / 2;
        assert_eq!(real, all[start..start + 64].to_vec(), "{prefix} slice");
        assert_ne!(real, shuf, "{prefix}: not shuffled");
        let (mut a, mut b) = (real.clone(), shuf.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "{prefix}");
        assert_eq!(unique(&real), unique(&shuf));
        let line = run()
            .summary_line(&format!(
                "[{}] unique tokens:",
                if prefix.is_empty() {
                    "main"
                } else {
                    prefix.trim_end_matches('_')
                }
            ))
            .unwrap();
        assert!(line.ends_with(&format!(": {}", unique(&real))), "{line}");
    }
}

/// Offline check 4: GPT-NeoX's H[0] (token embeddings, rotary positions) has identical
/// rows for repeated ids, so its layer-0 rank is unique − 1 and the same for real and
/// shuffled text; GPT-2's learned position embeddings make the rows distinct.
#[test]
fn layer0_rank_and_positions() {
    let ids = vec![5u32, 7, 5, 9, 7, 5];
    let hidden0 = |m: &HookedModel| {
        let b = m
            .batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)
            .unwrap();
        m.hidden_states(&b).unwrap()[0]
            .squeeze_dim(0)
            .to_kind(Kind::Double)
    };
    let neox = hidden0(&load(&neox_dir()));
    let gpt2 = hidden0(&load(&common::cli::tiny_gpt2()));
    let diff = |h: &Tensor, i: i64, j: i64| (h.get(i) - h.get(j)).abs().max().double_value(&[]);
    assert_eq!(diff(&neox, 0, 2), 0.0);
    assert_eq!(diff(&neox, 0, 5), 0.0);
    assert_eq!(diff(&neox, 1, 4), 0.0);
    assert!(diff(&gpt2, 0, 2) > 1e-3 && diff(&gpt2, 1, 4) > 1e-3);

    // the program's layer-0 ranks on 16 tokens with repeats (16 < d = 16 + 1)
    let (real, _) = tokens(short_run(), "part4_");
    let u = unique(&real);
    assert!(
        u < real.len(),
        "the slice needs repeated tokens for this check"
    );
    let r = ranks(short_run(), "part4_");
    assert_eq!(r[0][1], u - 1, "Pythia-style layer-0 rank (real)");
    assert_eq!(r[0][0], u - 1, "Pythia-style layer-0 rank (shuffled)");
    let (real, _) = tokens(short_run(), "");
    assert!(unique(&real) < real.len());
    assert_eq!(
        ranks(short_run(), "")[0][1],
        real.len() - 1,
        "GPT-2 layer 0 = N - 1"
    );
}

/// Part 3: every layer's rank and effective dimensionality, recomputed from hidden
/// states the test obtains itself and singular values from libtorch.
#[test]
fn laminar_profile_matches_an_independent_svd() {
    let gpt2 = load(&common::cli::tiny_gpt2());
    let neox = load(&neox_dir());
    for run in [run(), short_run()] {
        for (prefix, model) in [("", &gpt2), ("part4_", &neox), ("part5_", &gpt2)] {
            let (real, shuf) = tokens(run, prefix);
            let got = ranks(run, prefix);
            let hs = |ids: &[u32]| {
                let b = model
                    .batch_from_ids(&[ids.to_vec()], PaddingSide::Right)
                    .unwrap();
                model.hidden_states(&b).unwrap()
            };
            let (hr, hsh) = (hs(&real), hs(&shuf));
            assert_eq!(got.len(), hr.len(), "{prefix}: one row per hidden state");
            for k in 0..hr.len() {
                let (rr, er) = torch_dims(&hr[k].squeeze_dim(0));
                let (rs, es) = torch_dims(&hsh[k].squeeze_dim(0));
                assert_eq!(got[k], [rs, rr, es, er], "{prefix} hidden state {k}");
            }
        }
    }
    // Part 2 (hidden state 3 of the tiny GPT-2: it has no layer 10)
    let (real, _) = tokens(run(), "");
    let b = gpt2.batch_from_ids(&[real], PaddingSide::Right).unwrap();
    let h = gpt2.hidden_states(&b).unwrap();
    let (_, eff) = torch_dims(&h[3].squeeze_dim(0));
    let text = run().summary();
    assert!(
        text.contains(&format!("[main] {eff} (out of 16) components explains")),
        "Part 2 count should be {eff}"
    );
}

/// Offline check 6: max log-softmax per position, recomputed from the tiny models'
/// logits in f64 loops; every value lies in [-ln V, 0].
#[test]
fn max_log_softmax_per_position() {
    let gpt2 = load(&common::cli::tiny_gpt2());
    let neox = load(&neox_dir());
    for (prefix, model) in [("", &gpt2), ("part4_", &neox), ("part5_", &gpt2)] {
        let (real, shuf) = tokens(run(), prefix);
        let (_, rows) = read_csv(&run().file(&format!("{prefix}max_log_softmax.csv"))).unwrap();
        assert_eq!(rows.len(), real.len());
        for (col, ids) in [(1, &real), (2, &shuf)] {
            let b = model
                .batch_from_ids(std::slice::from_ref(ids), PaddingSide::Right)
                .unwrap();
            let out = model
                .run(&b, &RunOptions::default().logits(LogitsAt::All))
                .unwrap();
            let logits = out.logits.unwrap().squeeze_dim(0).to_kind(Kind::Double);
            let v = logits.size()[1] as usize;
            for (t, row) in rows.iter().enumerate() {
                let z = Vec::<f64>::try_from(logits.get(t as i64)).unwrap();
                let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
                let want = m - lse;
                let got: f64 = row[col].parse().unwrap();
                assert!(
                    (got - want).abs() < 1e-5,
                    "{prefix} pos {t}: {got} vs {want}"
                );
                assert!(got <= 0.0 && got >= -(v as f64).ln(), "{got}");
            }
        }
    }
}
