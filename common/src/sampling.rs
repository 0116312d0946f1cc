//! Token selection as a learner inspects it: a categorical sampler on unnormalised
//! weights with `torch.multinomial`'s semantics (with and without replacement, with
//! errors that name the bad weight), and the top-k / top-p kept sets with their
//! renormalisation. [`crate::stats::sample_token`] is the one-call sampler for
//! generation; this module exposes the steps (project 17 prints the kept sets).

use crate::stats::softmax;
use anyhow::{bail, Result};
use rand::Rng;

/// Check that `weights` can be sampled from: not empty, every weight finite and
/// non-negative, and not all zero. Returns their sum.
pub fn check_weights(weights: &[f64]) -> Result<f64> {
    if weights.is_empty() {
        bail!("cannot sample from an empty weight vector");
    }
    for (i, &w) in weights.iter().enumerate() {
        if w.is_nan() {
            bail!("weight {i} is NaN: sampling weights must be finite numbers >= 0");
        }
        if w.is_infinite() {
            bail!("weight {i} is {w}: sampling weights must be finite numbers >= 0");
        }
        if w < 0.0 {
            bail!("weight {i} is negative ({w}): sampling weights must be >= 0");
        }
    }
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        bail!(
            "all {} weights are zero: there is nothing to sample",
            weights.len()
        );
    }
    if !total.is_finite() {
        bail!("the weights sum to {total}: rescale them");
    }
    Ok(total)
}

/// Draw `n` category indices with probability proportional to `weights` (non-negative,
/// not necessarily normalised), like `torch.multinomial(weights, n, replacement)`.
///
/// With replacement every draw is independent. Without replacement the draws are
/// sequential: draw one index with probability ∝ weight, remove it, renormalise what is
/// left, repeat — so `n = weights.len()` gives a probability-weighted random ordering
/// (a permutation). A category of weight 0 is never drawn.
///
/// Errors: empty, negative, NaN, infinite or all-zero weights; `n = 0`; and, without
/// replacement, `n` larger than the number of categories or of non-zero weights.
pub fn multinomial(
    weights: &[f64],
    n: usize,
    replacement: bool,
    rng: &mut impl Rng,
) -> Result<Vec<usize>> {
    check_weights(weights)?;
    if n == 0 {
        bail!("asked for 0 samples: draw at least one");
    }
    if replacement {
        // Cumulative weights once, then one binary search per draw.
        let cdf: Vec<f64> = weights
            .iter()
            .scan(0.0, |acc, &w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let total = *cdf.last().expect("non-empty");
        return Ok((0..n).map(|_| draw_from_cdf(&cdf, total, rng)).collect());
    }
    if n > weights.len() {
        bail!(
            "cannot draw {n} samples without replacement from only {} categories",
            weights.len()
        );
    }
    let nonzero = weights.iter().filter(|&&w| w > 0.0).count();
    if n > nonzero {
        bail!(
            "cannot draw {n} samples without replacement: only {nonzero} of the {} weights are non-zero",
            weights.len()
        );
    }
    let mut w = weights.to_vec();
    let mut drawn = Vec::with_capacity(n);
    for _ in 0..n {
        let i = draw_one(&w, rng);
        drawn.push(i);
        w[i] = 0.0; // removed: the rest is renormalised by the next draw's total
    }
    Ok(drawn)
}

/// One index with probability ∝ `w` (already checked, total > 0).
fn draw_one(w: &[f64], rng: &mut impl Rng) -> usize {
    let cdf: Vec<f64> = w
        .iter()
        .scan(0.0, |acc, &x| {
            *acc += x;
            Some(*acc)
        })
        .collect();
    let total = *cdf.last().expect("non-empty");
    draw_from_cdf(&cdf, total, rng)
}

/// The first index whose cumulative weight exceeds `u ~ U[0, total)`. A zero-weight
/// category has the same cumulative weight as the one before it, so it is never the
/// first to exceed `u`.
fn draw_from_cdf(cdf: &[f64], total: f64, rng: &mut impl Rng) -> usize {
    let u = rng.random::<f64>() * total;
    let i = cdf.partition_point(|&c| c <= u);
    if i < cdf.len() {
        i
    } else {
        // u rounded up to total: take the last category with non-zero weight
        (0..cdf.len())
            .rev()
            .find(|&j| cdf[j] > if j == 0 { 0.0 } else { cdf[j - 1] })
            .expect("total > 0")
    }
}

/// Vocabulary indices sorted by logit, largest first (ties: lower index first).
pub fn sorted_desc(logits: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order
}

/// Top-k truncation: the `k` indices with the largest logits, largest first.
pub fn top_k_ids(logits: &[f64], k: usize) -> Result<Vec<usize>> {
    if k == 0 || k > logits.len() {
        bail!("top-k needs 1 <= k <= {}, got k = {k}", logits.len());
    }
    let mut order = sorted_desc(logits);
    order.truncate(k);
    Ok(order)
}

/// Top-p (nucleus) truncation on probabilities already sorted in descending order: the
/// number of tokens kept, i* + 1, where i* is the first sorted position at which the
/// cumulative probability reaches `p` (the token that crosses the threshold is kept).
/// If rounding keeps the total just under `p`, every token is kept.
pub fn top_p_count(sorted_probs: &[f64], p: f64) -> Result<usize> {
    if !(p > 0.0 && p <= 1.0) {
        bail!("top-p needs 0 < p <= 1, got p = {p}");
    }
    if sorted_probs.is_empty() {
        bail!("top-p of an empty distribution");
    }
    if sorted_probs.windows(2).any(|w| w[0] < w[1]) {
        bail!("top-p needs the probabilities sorted from largest to smallest");
    }
    let mut cum = 0.0;
    for (i, &q) in sorted_probs.iter().enumerate() {
        cum += q;
        if cum >= p {
            return Ok(i + 1);
        }
    }
    Ok(sorted_probs.len())
}

/// One candidate token of a truncated distribution.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Vocabulary id.
    pub id: usize,
    /// Raw logit.
    pub logit: f64,
    /// Probability under the full softmax.
    pub prob: f64,
    /// Probability after renormalising over the kept set (softmax of the kept logits).
    pub renorm: f64,
}

/// The kept set `ids` (vocabulary ids) with their full and renormalised probabilities.
/// The renormalisation is the softmax of the kept raw logits, which equals their full
/// softmax probabilities divided by the sum of those.
pub fn renormalise(ids: &[usize], logits: &[f64], probs: &[f64]) -> Vec<Candidate> {
    let kept: Vec<f64> = ids.iter().map(|&i| logits[i]).collect();
    let renorm = softmax(&kept);
    ids.iter()
        .zip(renorm)
        .map(|(&id, r)| Candidate {
            id,
            logit: logits[id],
            prob: probs[id],
            renorm: r,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn with_replacement_frequencies() {
        let mut rng = StdRng::seed_from_u64(3);
        let d = multinomial(&[1.0, 0.0, 2.0, 5.0], 20_000, true, &mut rng).unwrap();
        let mut c = [0usize; 4];
        for i in d {
            c[i] += 1;
        }
        assert_eq!(c[1], 0);
        for (k, want) in [(0, 0.125), (2, 0.25), (3, 0.625)] {
            let f = c[k] as f64 / 20_000.0;
            assert!((f - want).abs() < 0.015, "{k}: {f}");
        }
    }

    #[test]
    fn zero_weight_at_either_end_is_never_drawn() {
        let mut rng = StdRng::seed_from_u64(1);
        for w in [[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]] {
            let d = multinomial(&w, 5000, true, &mut rng).unwrap();
            assert!(d.iter().all(|&i| w[i] > 0.0));
            let d = multinomial(&w, 2, false, &mut rng).unwrap();
            assert!(d.iter().all(|&i| w[i] > 0.0));
        }
    }

    #[test]
    fn top_p_counts() {
        let p = [0.5, 0.3, 0.15, 0.05];
        assert_eq!(top_p_count(&p, 0.9).unwrap(), 3);
        assert_eq!(top_p_count(&p, 0.5).unwrap(), 1);
        assert_eq!(top_p_count(&p, 0.8).unwrap(), 2);
        assert_eq!(top_p_count(&p, 1.0).unwrap(), 4);
        assert!(top_p_count(&p, 0.0).is_err());
        assert!(top_p_count(&[0.1, 0.9], 0.5).is_err());
    }
}
