//! Runs the project in --quick mode (tiny random GPT-2, offline) and checks the spec's
//! offline checks on what it wrote.

use common::cli::tiny_gpt2;
use common::testing::{assert_close, assert_png, figure_series, read_csv, reference, run_project};
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};

// The prompts' GPT-2 ids, from the spec (Hugging Face `tokenizers` gives the same).
const PROMPT_IDS: [u32; 7] = [1026, 373, 257, 3223, 290, 6388, 88];
const PROMPT5_IDS: [u32; 7] = [32, 35146, 286, 40315, 4464, 2664, 13];

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project16_softmax_distributions"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let figs = [
        "part1", "part2", "part3", "part4", "part5a", "part5b", "part5c", "part5d", "part5e",
    ];
    for f in figs {
        assert_png(&run.file(&format!("ch4_proj16_{f}.png"))).unwrap();
        assert!(run.file(&format!("ch4_proj16_{f}.csv")).is_file());
    }

    // Part 1: the manual softmax values and their sum.
    let s1 = figure_series(&run.file("ch4_proj16_part1.csv")).unwrap();
    let manual = s1
        .iter()
        .find(|((_, s), _)| s == "Manual")
        .expect("Manual series")
        .1;
    let want = [
        0.00264, 0.00291, 0.00717, 0.01948, 0.14397, 0.39134, 0.43250,
    ];
    let z = [1.0, 1.1, 2.0, 3.0, 5.0, 6.0, 6.1];
    let got: Vec<f64> = manual.iter().map(|p| p.1).collect();
    assert_eq!(manual.iter().map(|p| p.0).collect::<Vec<_>>(), z);
    assert_close(&got, &want, 1e-5, "Part 1 (spec's values)").unwrap();
    assert_close(&got, &softmax(&z, 1.0), 1e-12, "Part 1 (exp / sum)").unwrap();
    assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-6);

    // Parts 3-5, recomputed here: the tiny model run through common's API on the
    // prompts' token ids (the spec's, from GPT-2's tokenizer), softmax in plain f64.
    let model = HookedModel::from_pretrained(&tiny_gpt2(), tch::Device::Cpu).unwrap();
    let logits = last_logits(&model, &PROMPT_IDS);
    let logits5 = last_logits(&model, &PROMPT5_IDS);
    assert_eq!((logits.len(), logits5.len()), (50257, 50257));

    // Part 3: the V logits (panel A) and their softmax (panel B).
    let s3 = figure_series(&run.file("ch4_proj16_part3.csv")).unwrap();
    let panel = |p: &str| -> Vec<f64> {
        let pts = &s3
            .iter()
            .find(|((name, _), _)| name.starts_with(p))
            .unwrap()
            .1;
        pts.iter().map(|p| p.1).collect()
    };
    assert_close(&panel("A)"), &logits, 1e-5, "Part 3 logits").unwrap();
    assert_close(&panel("B)"), &softmax(&logits, 1.0), 1e-9, "Part 3 softmax").unwrap();

    // Part 4: the ten most probable tokens, in order, with their probabilities.
    let (header, rows) = read_csv(&run.file("part4_top10.csv")).unwrap();
    assert_eq!(header, vec!["rank", "token_id", "probability", "token"]);
    let probs = softmax(&logits, 1.0);
    let best = reference::extreme_indices(&probs, 10, true);
    assert_eq!(rows.len(), 10);
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(r[0], k.to_string());
        assert_eq!(r[1], best[k].to_string(), "rank {k}");
        let p: f64 = r[2].parse().unwrap();
        assert!((p - probs[best[k]]).abs() < 1e-8, "rank {k}: {p}");
    }
    // Part 4's figure: the top 10 under T = 0.5, 1, 1.5.
    let s4 = figure_series(&run.file("ch4_proj16_part4.csv")).unwrap();
    for t in [0.5, 1.0, 1.5] {
        let got: Vec<f64> = s4
            .iter()
            .find(|((_, name), _)| *name == format!("T = {t}"))
            .unwrap_or_else(|| panic!("series T = {t}"))
            .1
            .iter()
            .map(|p| p.1)
            .collect();
        let p = softmax(&logits, t);
        let want: Vec<f64> = reference::extreme_indices(&p, 10, true)
            .iter()
            .map(|&i| p[i])
            .collect();
        assert_close(&got, &want, 1e-9, &format!("top 10 at T = {t}")).unwrap();
    }

    // Part 5: the raw logits of the second prompt (small = large = the tiny model here),
    // and the naive float32 softmax's zeros / NaN / inf counted here.
    let s5 = figure_series(&run.file("ch4_proj16_part5a.csv")).unwrap();
    for p in ["A) GPT-2 SMALL", "B) GPT-2 LARGE"] {
        let got: Vec<f64> = s5
            .iter()
            .find(|((name, _), _)| name == p)
            .unwrap_or_else(|| panic!("panel {p}"))
            .1
            .iter()
            .map(|p| p.1)
            .collect();
        assert_close(&got, &logits5, 1e-5, p).unwrap();
    }
    let z: Vec<f32> = logits5.iter().map(|&v| v as f32).collect();
    let exps: Vec<f32> = z.iter().map(|v| v.exp()).collect();
    let total: f32 = exps.iter().sum();
    let naive: Vec<f32> = exps.iter().map(|e| e / total).collect();
    let (zeros, nans, infs) = (
        naive.iter().filter(|&&x| x == 0.0).count(),
        naive.iter().filter(|x| x.is_nan()).count(),
        naive.iter().filter(|x| x.is_infinite()).count(),
    );
    let s = run.summary();
    let counts =
        format!("naive softmax of raw logits: {zeros} exact zeros, {nans} NaN, {infs} inf");
    assert_eq!(s.matches(&counts).count(), 2, "{counts}\n{s}");
    // Max-subtracted naive softmax equals the library softmax: one line per model.
    let diffs: Vec<f64> = s
        .lines()
        .filter(|l| l.contains("max |naive(max-subtracted) - library| = "))
        .map(|l| l.rsplit("= ").next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(diffs.len(), 2, "{s}");
    assert!(diffs.iter().all(|&d| d < 1e-6), "{diffs:?}");

    // The parameter count, in closed form from config.json: token and position
    // embeddings, per block two layer norms, the attention (c_attn 3d² + 3d, c_proj
    // d² + d) and the MLP (c_fc 4d² + 4d, c_proj 4d² + d), and the final layer norm.
    let cfg = std::fs::read_to_string(reference::tiny_gpt2_dir().join("config.json")).unwrap();
    let num = |key: &str| -> i64 {
        let at = cfg
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key}"));
        let rest = &cfg[at + key.len() + 3..];
        let end = rest.find([',', '\n', '}']).unwrap();
        rest[..end].trim().parse().unwrap()
    };
    let (v, n_pos, d, l) = (
        num("vocab_size"),
        num("n_positions"),
        num("n_embd"),
        num("n_layer"),
    );
    let per_block =
        2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d);
    let n = v * d + n_pos * d + l * per_block + 2 * d;
    let line = format!(": {} parameters", thousands(n));
    assert_eq!(
        s.lines().filter(|l| l.ends_with(&line)).count(),
        2,
        "{line}\n{s}"
    );
}

/// Last-position logits of one sequence of ids.
fn last_logits(model: &HookedModel, ids: &[u32]) -> Vec<f64> {
    let batch = model
        .batch_from_ids(&[ids.to_vec()], PaddingSide::Right)
        .unwrap();
    let out = model
        .run(&batch, &RunOptions::default().logits(LogitsAt::Last))
        .unwrap();
    let t = out.logits.unwrap().to_kind(tch::Kind::Double).view([-1]);
    Vec::<f64>::try_from(t).unwrap()
}

/// softmax(z / t), max-subtracted, in f64.
fn softmax(z: &[f64], t: f64) -> Vec<f64> {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| ((v - m) / t).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}

/// 1234567 -> "1,234,567".
fn thousands(n: i64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
