//! Project 17's offline checks. The sampler is tested directly (the binary's
//! `src/sampling.rs` is compiled into this test too) against closed forms; then the
//! binary runs in `--quick` mode (tiny random GPT-2, offline) three times, and what it
//! wrote is checked against numbers this test recomputes on its own through common's
//! model API.

use common::sampling::multinomial;
#[allow(dead_code)]
use common::testing::{figure_series, read_csv, run_project, ProjectRun};
use common::{HookedModel, LogitsAt, RunOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::HashMap;

const BIN: &str = env!("CARGO_BIN_EXE_project17_token_sampling");
const PROMPT: &str = "I don't want to grow";

// ---------------------------------------------------------------- sampler checks

/// Offline check 1: frequencies of 10,000 seeded draws from [1, 2, 5] are within 0.02
/// of weight / sum; a zero-weight category is never drawn.
#[test]
fn check1_sampler_statistics() {
    for seed in [0u64, 17] {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = multinomial(&[1.0, 2.0, 5.0], 10_000, true, &mut rng).unwrap();
        assert_eq!(d.len(), 10_000);
        let mut c = [0usize; 3];
        for i in d {
            c[i] += 1;
        }
        for (k, want) in [0.125, 0.25, 0.625].into_iter().enumerate() {
            let f = c[k] as f64 / 10_000.0;
            assert!(
                (f - want).abs() < 0.02,
                "seed {seed}, index {k}: {f} vs {want}"
            );
        }
    }
    let mut rng = StdRng::seed_from_u64(17);
    for w in [
        vec![1.0, 0.0, 2.0, 5.0],
        vec![0.0, 1.0, 2.0],
        vec![1.0, 2.0, 0.0],
    ] {
        let d = multinomial(&w, 10_000, true, &mut rng).unwrap();
        assert!(
            d.iter().all(|&i| w[i] > 0.0),
            "{w:?}: a zero weight was drawn"
        );
        let z = w.iter().filter(|&&x| x > 0.0).count();
        let d = multinomial(&w, z, false, &mut rng).unwrap();
        assert!(
            d.iter().all(|&i| w[i] > 0.0),
            "{w:?}: a zero weight was drawn"
        );
    }
}

/// Without-replacement draws are sequential draws: P(order a, b, c) =
/// w_a / W · w_b / (W − w_a). Checked on 30,000 orderings of [1, 2, 5].
#[test]
fn without_replacement_matches_sequential_draws() {
    let w = [1.0, 2.0, 5.0];
    let total: f64 = w.iter().sum();
    let mut rng = StdRng::seed_from_u64(5);
    let n = 30_000;
    let mut counts: HashMap<Vec<usize>, usize> = HashMap::new();
    for _ in 0..n {
        *counts
            .entry(multinomial(&w, 3, false, &mut rng).unwrap())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 6, "{counts:?}");
    for (order, c) in counts {
        let (a, b) = (order[0], order[1]);
        let want = w[a] / total * w[b] / (total - w[a]);
        let got = c as f64 / n as f64;
        assert!((got - want).abs() < 0.01, "{order:?}: {got} vs {want}");
    }
}

/// Offline check 2: the sampler's errors, and n = len(weights) without replacement is
/// a permutation.
#[test]
fn check2_sampler_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    let err =
        |w: &[f64], n, r, rng: &mut StdRng| multinomial(w, n, r, rng).unwrap_err().to_string();
    let e = err(&[1.0, 2.0, 5.0], 4, false, &mut rng);
    assert!(
        e.contains("4 samples without replacement") && e.contains("3 categories"),
        "{e}"
    );
    let e = err(&[1.0, 0.0, 5.0], 3, false, &mut rng);
    assert!(e.contains("only 2 of the 3 weights are non-zero"), "{e}");
    let e = err(&[1.0, -2.0, 5.0], 1, true, &mut rng);
    assert!(e.contains("negative"), "{e}");
    let e = err(&[1.0, -2.0, 5.0], 2, false, &mut rng);
    assert!(e.contains("negative"), "{e}");
    let e = err(&[1.0, f64::NAN, 5.0], 1, true, &mut rng);
    assert!(e.contains("NaN"), "{e}");
    let e = err(&[f64::INFINITY, 1.0], 1, true, &mut rng);
    assert!(e.contains("inf"), "{e}");
    let e = err(&[0.0, 0.0, 0.0], 1, true, &mut rng);
    assert!(e.contains("zero"), "{e}");
    assert!(multinomial(&[], 1, true, &mut rng).is_err());
    assert!(multinomial(&[1.0], 0, true, &mut rng).is_err());
    // With replacement, more draws than categories is fine.
    assert_eq!(
        multinomial(&[1.0, 2.0, 5.0], 4, true, &mut rng)
            .unwrap()
            .len(),
        4
    );
    // n = len(weights) without replacement: every index exactly once.
    let w: Vec<f64> = (1..=10).map(|i| i as f64).collect();
    for _ in 0..200 {
        let mut d = multinomial(&w, 10, false, &mut rng).unwrap();
        d.sort();
        assert_eq!(d, (0..10).collect::<Vec<_>>());
    }
}

/// Offline check 4 on the spec's synthetic distribution.
#[test]
fn check4_top_p_synthetic() {
    let p = [0.5, 0.3, 0.15, 0.05];
    assert_eq!(common::sampling::top_p_count(&p, 0.9).unwrap(), 3);
}

// ------------------------------------------------------------ the binary's outputs

fn table(run: &ProjectRun, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run.file(&format!("{name}.csv"))).unwrap()
}

/// Column `name` of a table.
fn col<'a>(t: &'a (Vec<String>, Vec<Vec<String>>), name: &str) -> Vec<&'a str> {
    let j =
        t.0.iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
    t.1.iter().map(|r| r[j].as_str()).collect()
}

fn nums<T: std::str::FromStr>(v: Vec<&str>) -> Vec<T>
where
    T::Err: std::fmt::Debug,
{
    v.into_iter().map(|s| s.parse().unwrap()).collect()
}

/// Softmax in f64 written out here (not the project's).
fn softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = z.iter().map(|x| (x - m).exp()).sum();
    z.iter().map(|x| (x - m).exp() / s).collect()
}

/// Last-position logits of `text` from the tiny model, through all positions' logits
/// (a different path from the project's `LogitsAt::Last`).
fn last_logits(model: &HookedModel, text: &str) -> Vec<f64> {
    let toks = model.to_tokens(text).unwrap();
    let out = model
        .run(&toks, &RunOptions::default().logits(LogitsAt::All))
        .unwrap();
    let all = out.logits.unwrap(); // [1, pos, vocab]
    let last = all.get(0).get(-1);
    common::device::to_vec_f64(&last).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn quick_run_checks() {
    // Three runs: seed 0 twice (reproducibility), seed 1 once.
    let args = |seed: &'static str| vec!["--quick", "--device", "cpu", "--seed", seed];
    let h2 = std::thread::spawn(move || run_project(BIN, &args("0")).unwrap());
    let h3 = std::thread::spawn(move || run_project(BIN, &args("1")).unwrap());
    let run = run_project(BIN, &args("0")).unwrap();
    let run2 = h2.join().unwrap();
    let run3 = h3.join().unwrap();

    let model = HookedModel::from_pretrained(&common::cli::tiny_gpt2(), tch::Device::Cpu).unwrap();
    assert_eq!(
        model.tokenizer.encode(PROMPT).unwrap(),
        [40, 836, 470, 765, 284, 1663]
    );
    let logits = last_logits(&model, PROMPT);
    let probs = softmax(&logits);
    let v = logits.len();
    assert_eq!(v, 50257);

    // Figure: both panels, every token, argmax marked.
    run.check_figure("ch4_proj17_part3").unwrap();
    let fig = figure_series(&run.file("ch4_proj17_part3.csv")).unwrap();
    let series = |panel: &str, series: &str| {
        fig.iter()
            .find(|((p, s), _)| p.starts_with(panel) && s.starts_with(series))
            .unwrap_or_else(|| panic!("no series {series} in panel {panel}"))
            .1
            .clone()
    };
    let best = (0..v)
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap();
    for (panel, want) in [("A)", &logits), ("B)", &probs)] {
        let all = series(panel, "all tokens");
        assert_eq!(all.len(), v);
        for (i, (x, y)) in all.iter().enumerate() {
            assert_eq!(*x, i as f64);
            assert!(
                close(*y, want[i], 1e-5),
                "{panel} token {i}: {y} vs {}",
                want[i]
            );
        }
        let top = series(panel, "argmax");
        assert_eq!(top.len(), 1);
        assert_eq!(
            top[0].0, best as f64,
            "{panel}: the red hexagon is not the argmax"
        );
    }

    // Part 1 (check 1 as the program ran it): 10,000 draws, frequencies within 0.02.
    let t1 = table(&run, "part1_frequencies");
    let counts: Vec<usize> = nums(col(&t1, "count"));
    assert_eq!(counts.iter().sum::<usize>(), 10_000);
    for (c, w) in counts.iter().zip([1.0, 2.0, 5.0]) {
        let f = *c as f64 / 10_000.0;
        assert!((f - w / 8.0).abs() < 0.02, "{f} vs {}", w / 8.0);
    }
    let expected: Vec<f64> = nums(col(&t1, "expected"));
    assert_eq!(expected, [0.125, 0.25, 0.625]);

    // Part 2: every bad input was refused, the valid case is a permutation.
    let t2 = table(&run, "part2_sampler_errors");
    let outcome = col(&t2, "outcome");
    assert_eq!(outcome.len(), 7);
    assert!(outcome[..6].iter().all(|&o| o == "error"), "{outcome:?}");
    assert_eq!(outcome[6], "ok");
    let mut perm: Vec<usize> = col(&t2, "detail")[6]
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|s| s.parse().unwrap())
        .collect();
    perm.sort();
    assert_eq!(perm, [0, 1, 2]);

    // Part 4: 10 draws with replacement, each printed with its full-softmax probability.
    let t4 = table(&run, "part4_samples");
    let ids4: Vec<usize> = nums(col(&t4, "token_id"));
    assert_eq!(ids4.len(), 10);
    for (id, p) in ids4.iter().zip(nums::<f64>(col(&t4, "probability"))) {
        assert!(close(p, probs[*id], 1e-6), "{id}: {p} vs {}", probs[*id]);
    }

    // Check 3 (top-k): the top-10 by the test's own sort; renormalised = softmax of
    // the selected logits = selected probabilities / their sum (1e-6); sums to 1.
    let mut order: Vec<usize> = (0..v).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let t5 = table(&run, "part5_topk");
    let ids5: Vec<usize> = nums(col(&t5, "token_id"));
    assert_eq!(ids5, order[..10]);
    let renorm5: Vec<f64> = nums(col(&t5, "renormalised"));
    let sel_logits: Vec<f64> = ids5.iter().map(|&i| logits[i]).collect();
    let by_softmax = softmax(&sel_logits);
    let mass: f64 = ids5.iter().map(|&i| probs[i]).sum();
    for (k, &id) in ids5.iter().enumerate() {
        assert!((renorm5[k] - by_softmax[k]).abs() < 1e-6);
        assert!((renorm5[k] - probs[id] / mass).abs() < 1e-6);
    }
    assert!((renorm5.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    // ... and 10 draws without replacement are an ordering of all 10 candidates.
    let t5s = table(&run, "part5_samples");
    let pos: Vec<usize> = nums(col(&t5s, "position"));
    let mut sorted = pos.clone();
    sorted.sort();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    for (p, id) in pos.iter().zip(nums::<usize>(col(&t5s, "token_id"))) {
        assert_eq!(id, ids5[*p]);
    }

    // Check 4 (top-p): the kept set's mass is >= p, and < p without its last element;
    // its size equals the test's own cumulative-sum count.
    let p = 0.9;
    let mut cum = 0.0;
    let mut want_count = v;
    for (i, &id) in order.iter().enumerate() {
        cum += probs[id];
        if cum >= p {
            want_count = i + 1;
            break;
        }
    }
    let t6 = table(&run, "part6_nucleus");
    let ids6: Vec<usize> = nums(col(&t6, "token_id"));
    assert_eq!(ids6.len(), want_count);
    let kept: Vec<f64> = ids6.iter().map(|&i| probs[i]).collect();
    let kept_mass: f64 = kept.iter().sum();
    assert!(kept_mass >= p, "{kept_mass}");
    assert!(kept_mass - kept[kept.len() - 1] < p, "{kept_mass}");
    let renorm6: Vec<f64> = nums(col(&t6, "renormalised"));
    for (k, &q) in kept.iter().enumerate() {
        assert!((renorm6[k] - q / kept_mass).abs() < 1e-9);
    }
    let t6s = table(&run, "part6_samples");
    let ids6s: Vec<usize> = nums(col(&t6s, "token_id"));
    assert_eq!(ids6s.len(), 10.min(want_count));
    let mut d = ids6s.clone();
    d.sort();
    d.dedup();
    assert_eq!(
        d.len(),
        ids6s.len(),
        "draws without replacement repeat a token"
    );
    assert!(ids6s.iter().all(|id| ids6.contains(id)));

    // Check 5: each step appends exactly one token to the text and re-encodes the text;
    // the token's probability is the test's own next-token softmax of the text so far;
    // greedy steps take that distribution's argmax.
    for name in ["part7_generation", "part7_greedy"] {
        let t7 = table(&run, name);
        let ids: Vec<usize> = nums(col(&t7, "token_id"));
        assert_eq!(ids.len(), 15);
        let tokens_in: Vec<usize> = nums(col(&t7, "tokens_in"));
        let p7: Vec<f64> = nums(col(&t7, "probability"));
        let texts = col(&t7, "text");
        let mut before = PROMPT.to_string();
        for (s, &id) in ids.iter().enumerate() {
            let tok = model.tokenizer.decode_one(id as u32).unwrap();
            assert_eq!(texts[s], format!("{before}{tok}"), "{name} step {s}");
            assert_eq!(tokens_in[s], model.tokenizer.encode(&before).unwrap().len());
            let q = softmax(&last_logits(&model, &before));
            assert!(
                close(p7[s], q[id], 1e-6),
                "{name} step {s}: {} vs {}",
                p7[s],
                q[id]
            );
            if name == "part7_greedy" {
                let arg = (0..v).max_by(|&a, &b| q[a].total_cmp(&q[b])).unwrap();
                assert_eq!(id, arg, "greedy step {s}");
            }
            before = texts[s].to_string();
        }
    }

    // Reproducibility: the same seed gives the same draws everywhere; another seed
    // changes the sampled text but not the greedy one.
    let same = |a: &ProjectRun, b: &ProjectRun, name: &str| {
        std::fs::read_to_string(a.file(&format!("{name}.csv"))).unwrap()
            == std::fs::read_to_string(b.file(&format!("{name}.csv"))).unwrap()
    };
    for name in [
        "part1_frequencies",
        "part4_samples",
        "part5_samples",
        "part6_samples",
        "part7_generation",
        "part7_greedy",
    ] {
        assert!(
            same(&run, &run2, name),
            "{name} differs between two runs with seed 0"
        );
    }
    assert!(
        same(&run, &run3, "part7_greedy"),
        "greedy text depends on the seed"
    );
    assert!(
        !same(&run, &run3, "part7_generation"),
        "seeds 0 and 1 sampled the same text"
    );
    assert!(!same(&run, &run3, "part4_samples"));
}
