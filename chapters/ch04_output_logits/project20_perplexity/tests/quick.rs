//! Runs the project in --quick mode (tiny random GPT-2, the project's own texts, offline)
//! and checks the spec's offline checks on what it wrote. Expected values come from the
//! spec, from closed forms computed here, and from transformers' own `labels=` loss on the
//! same texts (`scripts/fixture_reference.py` -> `fixtures/quick_reference.json`, one
//! forward pass per segment).

use common::cli::tiny_gpt2;
use common::testing::{figure_series, run_project, ys, ProjectRun};
use serde_json::Value;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_project20_perplexity");
const FIGURES: [&str; 6] = ["part0", "part1", "part3", "part4", "part5", "part6"];
/// The tiny model's context: the --quick segment length of Parts 1, 2, 4, 5, 6.
const L: usize = 64;

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/quick_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn rel_close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        ((got - want) / want).abs() <= tol,
        "{what}: {got} vs expected {want} (relative tolerance {tol})"
    );
}

/// Column `name` of the CSV table `file` as numbers.
fn column(run: &ProjectRun, file: &str, name: &str) -> Vec<f64> {
    let v = run.f64_column(file, name).unwrap();
    assert!(!v.is_empty(), "{file} has no rows");
    v
}

/// The y values of series `series` of figure `fig`.
fn series(run: &ProjectRun, fig: &str, series: &str) -> Vec<(f64, f64)> {
    let s = figure_series(&run.file(&format!("ch4_proj20_{fig}.csv"))).unwrap();
    let found: Vec<_> = s.iter().filter(|((_, n), _)| n == series).collect();
    assert_eq!(found.len(), 1, "{fig}: series {series:?} in {:?}", s.keys());
    found[0].1.clone()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn quick_run_matches_transformers_builtin_loss() {
    let run = run_project(BIN, &["--quick", "--device", "cpu"]).unwrap();
    for fig in FIGURES {
        run.check_figure(&format!("ch4_proj20_{fig}")).unwrap();
    }
    let fx = fixture();

    // Check 1: Part 0's perplexities, against the spec's values and the closed form
    // ppl = sum_k exp(z_k) / exp(z_target).
    let spec = [1.001, 2.104, 2.736, 4.454, 2983.958];
    let logits: [[f64; 4]; 5] = [
        [1.0, 1.0, 1.0, 9.0],
        [1.0, 1.0, 1.0, 2.0],
        [1.0, 1.0, 2.0, 2.0],
        [3.0, 1.0, 1.0, 2.0],
        [9.0, 1.0, 1.0, 1.0],
    ];
    let ppl0 = column(&run, "part0_situations.csv", "perplexity");
    assert_eq!(ppl0.len(), 5);
    for i in 0..5 {
        rel_close(
            ppl0[i],
            spec[i],
            1e-3,
            &format!("Part 0 situation {i} (spec)"),
        );
        let closed = logits[i].iter().map(|z| z.exp()).sum::<f64>() / logits[i][3].exp();
        rel_close(
            ppl0[i],
            closed,
            1e-12,
            &format!("Part 0 situation {i} (closed form)"),
        );
        // the figure: situation i's four logits at i + 0.7, 0.9, 1.1, 1.3
        let bars = series(
            &run,
            "part0",
            &format!("situation {}", ["A", "B", "C", "D", "E"][i]),
        );
        let want: Vec<(f64, f64)> = [0.7, 0.9, 1.1, 1.3]
            .iter()
            .zip(logits[i])
            .map(|(d, z)| (i as f64 + d, z))
            .collect();
        for (g, w) in bars.iter().zip(&want) {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && g.1 == w.1,
                "{bars:?} vs {want:?}"
            );
        }
    }

    // Checks 4 and 5: segmentation and the built-in loss. Part 1's segments are the
    // floor(N / 64) full segments of the quick book, each loss equal to transformers'
    // labels= loss of that segment run alone (the program runs them in one batch).
    let n_tokens = fx["book_tokens"].as_u64().unwrap() as usize;
    let want_losses: Vec<f64> = fx["part1_segment_losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect();
    assert_eq!(want_losses.len(), n_tokens / L);
    let losses = column(&run, "part1_segments.csv", "loss");
    assert_eq!(losses.len(), n_tokens / L, "Part 1 segments");
    for (s, (g, w)) in losses.iter().zip(&want_losses).enumerate() {
        assert!(
            (g - w).abs() < 1e-5,
            "segment {s}: loss {g} vs transformers {w}"
        );
    }
    let points = series(&run, "part1", "Segment perplexity");
    assert_eq!(points.len(), losses.len());
    for (s, (x, y)) in points.iter().enumerate() {
        assert_eq!(*x, s as f64);
        rel_close(
            *y,
            want_losses[s].exp(),
            1e-5,
            &format!("segment {s} perplexity"),
        );
    }
    assert!(run
        .summary()
        .contains(&format!("1,535 tokens -> {} segments of 64", n_tokens / L)));

    // Check 3 (Jensen) on Part 1's segment losses: the dashed line is exp(mean loss), the
    // dotted one mean(exp(loss)), and the first is below the second (the losses differ).
    let ppl_of_avg = mean(&want_losses).exp();
    let avg_of_ppl = mean(&want_losses.iter().map(|l| l.exp()).collect::<Vec<_>>());
    let dashed = ys(&series(&run, "part1", "Perplexity of average"))[0];
    let dotted = ys(&series(&run, "part1", "Average of perplexities"))[0];
    rel_close(dashed, ppl_of_avg, 1e-5, "perplexity of the average loss");
    rel_close(dotted, avg_of_ppl, 1e-5, "average of the perplexities");
    assert!(
        avg_of_ppl > ppl_of_avg && dotted > dashed,
        "{dashed} vs {dotted}"
    );

    // Part 2: calc_perplex on the book gives Part 1's value (exp of the mean of the
    // per-segment losses, transformers' losses here), to the printed 4 decimals.
    let line = run
        .summary()
        .lines()
        .find(|l| l.starts_with("calc_perplex("))
        .expect("Part 2 line")
        .to_string();
    let value: f64 = line
        .split(") = ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    rel_close(value, ppl_of_avg, 1e-5, "Part 2 calc_perplex");
    assert!(line.ends_with("difference 0e0"), "{line}");

    // Part 3: each length L' cuts floor(N / L') segments, and calc_perplex equals exp of
    // the mean of transformers' per-segment losses.
    let lens = column(&run, "part3_seq_lengths.csv", "seq_len");
    let segs = column(&run, "part3_seq_lengths.csv", "segments");
    assert_eq!(lens, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
    for (l, s) in lens.iter().zip(&segs) {
        assert_eq!(
            *s as usize,
            n_tokens / *l as usize,
            "segments of length {l}"
        );
    }
    let bars = ys(&series(&run, "part3", "perplexity"));
    for (l, p) in lens.iter().zip(&bars) {
        let want = f(&fx["part3"][(*l as usize).to_string()]);
        rel_close(*p, want, 1e-5, &format!("Part 3 L = {l}"));
    }

    // Parts 4-6: the passages' first 200 tokens, the last passage, the WikiText rows.
    let labels = [
        "Lamplighter",
        "HarbourSong",
        "TwoClerks",
        "FoxAndMiller",
        "SaltIslands",
    ];
    let p4 = ys(&series(&run, "part4", "perplexity"));
    assert_eq!(p4.len(), labels.len());
    for (p, l) in p4.iter().zip(labels) {
        rel_close(*p, f(&fx["part4"][l]), 1e-5, &format!("Part 4 {l}"));
    }
    assert_eq!(
        column(&run, "part4_books.csv", "segments"),
        vec![3.0; 5],
        "200 tokens = 3 segments of 64 and a dropped tail"
    );
    for (fig, key) in [("part5", "part5"), ("part6", "part6")] {
        let p = ys(&series(&run, fig, "perplexity"));
        assert_eq!(p.len(), 4, "{fig}: four sizes");
        for v in p {
            rel_close(v, f(&fx[key]), 1e-5, fig);
        }
    }
    assert!(run.summary().contains(&format!(
        "first {} rows joined with \"\\n\": {} tokens",
        fx["wikitext_rows"], fx["wikitext_tokens"]
    )));
}

/// Check 2 (and Jensen's equality): a uniform predictor has perplexity exactly V.
/// The tiny GPT-2 with its token embedding zeroed — tied to the unembedding, so every
/// logit is exactly 0 — predicts uniformly over the 50,257 tokens.
#[test]
fn uniform_predictor_has_perplexity_v() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(&tiny_gpt2()).to_path_buf();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(tiny.join(file), dir.path().join(file)).unwrap();
    }
    let tensors = tch::Tensor::read_safetensors(tiny.join("model.safetensors")).unwrap();
    assert!(tensors.iter().any(|(n, _)| n == "transformer.wte.weight"));
    assert!(
        !tensors.iter().any(|(n, _)| n == "lm_head.weight"),
        "untied head"
    );
    let zeroed: Vec<(String, tch::Tensor)> = tensors
        .into_iter()
        .map(|(n, t)| {
            let t = if n == "transformer.wte.weight" {
                t.zeros_like()
            } else {
                t
            };
            (n, t)
        })
        .collect();
    tch::Tensor::write_safetensors(&zeroed, dir.path().join("model.safetensors")).unwrap();
    let model = dir.path().display().to_string();
    let run = run_project(
        BIN,
        &[
            "--quick", "--device", "cpu", "--model", &model, "--models", "small",
        ],
    )
    .unwrap();
    let v = 50257.0;
    let mut all = Vec::new();
    all.extend(column(&run, "part1_segments.csv", "perplexity"));
    for fig in ["part3", "part4", "part5", "part6"] {
        all.extend(ys(&series(&run, fig, "perplexity")));
    }
    assert!(all.len() > 30, "{} values", all.len());
    for p in &all {
        rel_close(*p, v, 1e-5, "uniform predictor");
    }
    for loss in column(&run, "part1_segments.csv", "loss") {
        assert!((loss - v.ln()).abs() < 1e-5, "loss {loss} vs ln V");
    }
    // All segment losses equal: Jensen's two aggregates coincide.
    let dashed = ys(&series(&run, "part1", "Perplexity of average"))[0];
    let dotted = ys(&series(&run, "part1", "Average of perplexities"))[0];
    rel_close(dotted, dashed, 1e-9, "Jensen equality");
}

/// Check 4: with L = N the result is exp of the single built-in loss; tokens beyond the
/// last full segment are ignored. Check 5: a segment's loss does not depend on the other
/// segments — the book's first segment, scored in a batch with 22 others, equals the same
/// 64 tokens scored alone.
#[test]
fn one_segment_texts_and_the_dropped_tail() {
    let fx = fixture();
    let dir = tempfile::tempdir().unwrap();
    let one_segment = |name: &str, text: &str| -> (f64, f64) {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let run = run_project(
            BIN,
            &[
                "--quick",
                "--device",
                "cpu",
                "--text-file",
                path.to_str().unwrap(),
                "--models",
                "small",
                "--num-books",
                "1",
            ],
        )
        .unwrap();
        let losses = column(&run, "part1_segments.csv", "loss");
        assert_eq!(losses.len(), 1, "{name}: one segment of 64");
        let ppl = ys(&series(&run, "part1", "Perplexity of average"))[0];
        (losses[0], ppl)
    };
    // N = L = 64
    let (loss, ppl) = one_segment("exact.txt", fx["exact_text"].as_str().unwrap());
    rel_close(ppl, f(&fx["exact_ppl"]), 1e-5, "L = N");
    rel_close(ppl, loss.exp(), 1e-12, "L = N: exp of the one loss");
    // N = 84: the 20-token tail is dropped (counting it as a segment gives another value)
    let (_, tail) = one_segment("tail.txt", fx["tail_text"].as_str().unwrap());
    rel_close(tail, f(&fx["tail_ppl"]), 1e-5, "tail dropped");
    assert!(
        ((tail - f(&fx["tail_as_segment_ppl"])) / tail).abs() > 1e-3,
        "the tail check cannot tell the rules apart"
    );
    // The first segment of the book run (batched) is the same 64 tokens scored alone.
    let run = run_project(
        BIN,
        &[
            "--quick",
            "--device",
            "cpu",
            "--models",
            "small",
            "--num-books",
            "1",
        ],
    )
    .unwrap();
    let batched = column(&run, "part1_segments.csv", "loss")[0];
    assert!(
        (batched - loss).abs() < 1e-6,
        "segment 0 in a batch {batched} vs alone {loss}"
    );
}
