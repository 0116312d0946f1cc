//! Sampling as generation does it (`common::stats::sample_token`, which
//! `HookedModel::generate` calls with a `StdRng` seeded from `GenerateOptions::seed`):
//! temperature, top-k and top-p give the distributions they promise, and seeds matter.

use common::model::GenerateOptions;
use common::stats::sample_token;
use common::{HookedModel, LogitsAt, RunOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tch::Device;

const DRAWS: usize = 5000;
/// Allowed gap between an observed frequency and its probability: with 5000 draws the
/// standard error is at most 0.7 percentage points, so 3 points is over 4 of them.
const TOL: f64 = 0.03;

/// Frequencies of each token id over `DRAWS` samples.
fn frequencies(
    logits: &[f64],
    temperature: f64,
    top_k: Option<usize>,
    top_p: Option<f64>,
    seed: u64,
) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..DRAWS {
        counts[sample_token(logits, temperature, top_k, top_p, &mut rng).unwrap()] += 1;
    }
    counts.iter().map(|&c| c as f64 / DRAWS as f64).collect()
}

/// softmax(z / t) over the ids in `keep` (others 0).
fn renormalised(z: &[f64], t: f64, keep: &[usize]) -> Vec<f64> {
    let w: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if keep.contains(&i) {
                (x / t).exp()
            } else {
                0.0
            }
        })
        .collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|x| x / s).collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if *w == 0.0 {
            assert_eq!(
                *g, 0.0,
                "{what}: token {i} is outside the allowed set but was drawn"
            );
        } else {
            assert!(
                (g - w).abs() < TOL,
                "{what}: token {i} drawn {g:.4}, expected {w:.4}"
            );
        }
    }
}

#[test]
fn top_k_with_temperature_draws_the_top_two_in_proportion() {
    // top-2 are ids 3 and 0; the others must never appear
    let z = [2.0, 0.5, -1.0, 2.6, 1.4, 0.0];
    for t in [0.7, 1.0, 2.5] {
        let got = frequencies(&z, t, Some(2), None, 11);
        let want = renormalised(&z, t, &[3, 0]);
        assert_close(&got, &want, &format!("T={t}, top_k=2"));
    }
    // without a cut every token keeps softmax(z / T)
    let got = frequencies(&z, 1.5, None, None, 12);
    assert_close(&got, &renormalised(&z, 1.5, &[0, 1, 2, 3, 4, 5]), "T=1.5");
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    // probabilities 0.5, 0.3, 0.15, 0.05 at T = 1 (ids shuffled): cumulative 0.5, 0.8,
    // 0.95, so top_p = 0.9 keeps the three largest (ids 2, 0, 3) and never draws id 1.
    let p = [0.3f64, 0.05, 0.5, 0.15];
    let z: Vec<f64> = p.iter().map(|x| x.ln()).collect();
    let got = frequencies(&z, 1.0, None, Some(0.9), 21);
    assert_close(&got, &renormalised(&z, 1.0, &[2, 0, 3]), "top_p=0.9");
    // top_p = 0.8 reaches 0.8 with two tokens (up to rounding: the cut is >= p, so use
    // 0.79 to stay clear of 0.5 + 0.3 landing a hair under 0.8)
    let got = frequencies(&z, 1.0, None, Some(0.79), 22);
    assert_close(&got, &renormalised(&z, 1.0, &[2, 0]), "top_p=0.79");
    // top_k and top_p together: the tighter one wins
    let got = frequencies(&z, 1.0, Some(1), Some(0.9), 23);
    assert_close(&got, &[0.0, 0.0, 1.0, 0.0], "top_k=1, top_p=0.9");
}

fn tiny() -> HookedModel {
    let p = common::assets_dir().join("models/tiny-gpt2");
    HookedModel::from_pretrained(p.to_str().unwrap(), Device::Cpu).unwrap()
}

#[test]
fn generation_samples_through_sample_token_and_seeds_matter() {
    let m = tiny();
    let prompt = m.tokenizer.encode("It was a dark and stormy").unwrap();
    let opts = |seed: u64| GenerateOptions {
        max_new_tokens: 12,
        temperature: 1.0,
        top_k: Some(40),
        top_p: Some(0.95),
        seed,
        stop_at_eos: false,
    };
    let a = m.generate(&prompt, &opts(1)).unwrap();
    let b = m.generate(&prompt, &opts(2)).unwrap();
    assert_eq!(
        a,
        m.generate(&prompt, &opts(1)).unwrap(),
        "same seed, same text"
    );
    assert_ne!(a, b, "different seeds give different sequences");
    // the first token is what sample_token draws from the prompt's last logits with a
    // StdRng seeded from the seed
    let batch = m.to_tokens("It was a dark and stormy").unwrap();
    let logits = m
        .run(&batch, &RunOptions::default().logits(LogitsAt::Last))
        .unwrap()
        .logits
        .unwrap();
    let logits = common::device::to_vec_f32(&logits).unwrap();
    for (seed, got) in [(1u64, &a), (2, &b)] {
        let mut rng = StdRng::seed_from_u64(seed);
        let first = sample_token(&logits, 1.0, Some(40), Some(0.95), &mut rng).unwrap();
        assert_eq!(got[0] as usize, first, "seed {seed}");
    }
    // top_k = 1 is greedy whatever the temperature and seed
    let greedy = m
        .generate(
            &prompt,
            &GenerateOptions {
                temperature: 0.0,
                ..opts(0)
            },
        )
        .unwrap();
    let k1 = GenerateOptions {
        top_k: Some(1),
        top_p: None,
        temperature: 3.0,
        ..opts(5)
    };
    assert_eq!(m.generate(&prompt, &k1).unwrap(), greedy);
}
