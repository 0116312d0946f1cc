//! The divergences of Parts 3-6: shared histogram edges, counts to probabilities,
//! PyTorch's `kl_div` semantics and the symmetric variant, and the permutation statistic.

use anyhow::{ensure, Result};
use common::plot::{histogram_counts, Bins};
use common::stats::linspace;

/// The epsilon added inside the log of the "input" distribution (the book's 1e-15).
pub const EPS: f64 = 1e-15;

/// How [`kl_div`] reduces its elementwise terms (PyTorch's `reduction=`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reduction {
    /// PyTorch's default: the mean over all elements.
    Mean,
    /// The sum divided by `input.size(0)`: for the 1-D vectors here, the number of bins
    /// (not a batch of distributions).
    BatchMean,
}

/// PyTorch's `kl_div(input, target)` on 1-D vectors: elementwise
/// `xlogy(target, target) - target * input` (0 for the first part where target = 0), then
/// reduced. `input` is a log-probability vector; an entry of -inf gives +inf where the
/// target is positive and NaN (0 · -inf) where it is 0, exactly as PyTorch does.
pub fn kl_div(input: &[f64], target: &[f64], reduction: Reduction) -> f64 {
    let sum: f64 = input
        .iter()
        .zip(target)
        .map(|(&i, &p)| {
            let xlogy = if p == 0.0 { 0.0 } else { p * p.ln() };
            xlogy - p * i
        })
        .sum();
    match reduction {
        Reduction::Mean | Reduction::BatchMean => sum / input.len() as f64,
    }
}

/// `log(q + EPS)` elementwise.
pub fn log_eps(q: &[f64]) -> Vec<f64> {
    q.iter().map(|v| (v + EPS).ln()).collect()
}

/// The book's KL of target `p` from input `q`: batchmean `kl_div(log(q + 1e-15), p)` =
/// `(1/n) Σ p (log p − log(q + 1e-15))`.
pub fn kl_eps(q: &[f64], p: &[f64]) -> f64 {
    kl_div(&log_eps(q), p, Reduction::BatchMean)
}

/// The symmetric version: with the mixture `M = (p + q) / 2` as the target,
/// `[kl_eps(p, M) + kl_eps(q, M)] / 2`. Symmetric in its arguments.
pub fn sym_kl(p: &[f64], q: &[f64]) -> f64 {
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| 0.5 * (a + b)).collect();
    0.5 * (kl_eps(p, &m) + kl_eps(q, &m))
}

/// `n_edges` equal-width edges from the pooled minimum to the pooled maximum of `a` and `b`
/// (numpy's `linspace`): `n_edges - 1` bins, the last closed.
pub fn shared_edges(a: &[f64], b: &[f64], n_edges: usize) -> Result<Vec<f64>> {
    ensure!(
        n_edges >= 2,
        "a histogram needs at least 2 edges (got {n_edges})"
    );
    let all = a.iter().chain(b);
    let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
    let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
    ensure!(
        lo.is_finite() && hi.is_finite(),
        "no finite values to bin ({} and {} values)",
        a.len(),
        b.len()
    );
    ensure!(
        hi > lo,
        "every value is {lo}: equal-width bins over min..max need a spread"
    );
    Ok(linspace(lo, hi, n_edges))
}

/// Counts of `v` in the bins of `edges` (numpy's `np.histogram`: half-open bins, the last
/// closed).
pub fn counts(v: &[f64], edges: &[f64]) -> Vec<f64> {
    histogram_counts(v, &Bins::Edges(edges.to_vec())).1
}

/// Counts divided by their total (probabilities that sum to 1).
pub fn probabilities(counts: &[f64]) -> Result<Vec<f64>> {
    let n: f64 = counts.iter().sum();
    ensure!(n > 0.0, "an empty histogram has no probabilities");
    Ok(counts.iter().map(|c| c / n).collect())
}

/// The book's `symmetric_KL(d1, d2, nbins)`: `nbins` edges over the pooled range, both
/// samples' counts as probabilities, then [`sym_kl`] (which divides by the `nbins - 1`
/// bins).
pub fn symmetric_kl(d1: &[f64], d2: &[f64], nbins: usize) -> Result<f64> {
    ensure!(
        !d1.is_empty() && !d2.is_empty(),
        "symmetric_KL needs two non-empty samples (got {} and {} values)",
        d1.len(),
        d2.len()
    );
    let edges = shared_edges(d1, d2, nbins)?;
    let p = probabilities(&counts(d1, &edges))?;
    let q = probabilities(&counts(d2, &edges))?;
    Ok(sym_kl(&p, &q))
}

/// The values of `x` where `labels` is true and where it is false.
pub fn split(x: &[f64], labels: &[bool]) -> (Vec<f64>, Vec<f64>) {
    let mut yes = Vec::new();
    let mut no = Vec::new();
    for (&v, &l) in x.iter().zip(labels) {
        if l {
            yes.push(v);
        } else {
            no.push(v);
        }
    }
    (yes, no)
}

/// The permutation statistic: symmetric_KL of the values labelled true vs false, on the
/// book's 31 edges.
pub fn label_kl(x: &[f64], labels: &[bool]) -> Result<f64> {
    let (c, i) = split(x, labels);
    symmetric_kl(&c, &i, 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::ml::hypothesis::{permutation_test, PermutationP};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rand_distr::{Distribution, Normal};

    fn normal(n: usize, mu: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = Normal::new(mu, 1.0).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    /// Offline check 1.
    #[test]
    fn kl_helper_closed_forms() {
        let p = [0.5, 0.5];
        assert!(kl_eps(&p, &p).abs() < 1e-14);
        let want = (0.5 * (0.5f64 / 0.9).ln() + 0.5 * (0.5f64 / 0.1).ln()) / 2.0;
        let got = kl_eps(&[0.9, 0.1], &p);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert!((got - 0.2554).abs() < 5e-5);
        // target 0 contributes nothing, whatever the input there
        let a = kl_eps(&[0.25, 0.25, 0.5], &[0.0, 0.5, 0.5]);
        let b = 0.5 * (0.5f64 / 0.25).ln() / 3.0;
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        // q = 0 where p > 0: finite thanks to the epsilon, and large
        let big = kl_eps(&[1.0, 0.0], &[0.5, 0.5]);
        let want = (0.5 * (0.5f64).ln() + 0.5 * (0.5 / EPS).ln()) / 2.0;
        assert!(big.is_finite() && (big - want).abs() < 1e-9, "{big}");
        // without the epsilon: +inf where the target is positive, NaN where it is 0
        let inf = kl_div(&[0.0f64.ln(), 0.5f64.ln()], &[0.5, 0.5], Reduction::Mean);
        assert_eq!(inf, f64::INFINITY);
        let nan = kl_div(&[0.0f64.ln(), 0.0], &[0.0, 1.0], Reduction::Mean);
        assert!(nan.is_nan());
        // mean and batchmean divide the sum by the length of a 1-D vector
        let s = 0.5 * (0.5 * (0.5f64.ln() - (0.9 + EPS).ln()))
            + 0.5 * (0.5 * (0.5f64.ln() - (0.1 + EPS).ln()));
        assert!((kl_div(&log_eps(&[0.9, 0.1]), &p, Reduction::Mean) - s).abs() < 1e-15);
    }

    /// Offline checks 2 and 5.
    #[test]
    fn symmetric_kl_and_normalisations() {
        let a = normal(300, 0.0, 1);
        let b = normal(200, 0.7, 2);
        let ab = symmetric_kl(&a, &b, 31).unwrap();
        let ba = symmetric_kl(&b, &a, 31).unwrap();
        assert!(ab > 0.0);
        assert!((ab - ba).abs() < 1e-15, "{ab} vs {ba}");
        // 0 up to the epsilon: p (log p - log(p + 1e-15)) is about -1e-15 per bin
        assert!(symmetric_kl(&a, &a, 31).unwrap().abs() < 1e-14);
        for nb in [10usize, 31, 50] {
            let e = shared_edges(&a, &b, nb).unwrap();
            assert_eq!(e.len(), nb);
            let lo = a.iter().chain(&b).copied().fold(f64::INFINITY, f64::min);
            let hi = a
                .iter()
                .chain(&b)
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!((e[0], e[nb - 1]), (lo, hi));
            let (ca, cb) = (counts(&a, &e), counts(&b, &e));
            assert_eq!(ca.len(), nb - 1);
            assert_eq!(
                ca.iter().sum::<f64>(),
                300.0,
                "the maximum is in the last bin"
            );
            assert_eq!(cb.iter().sum::<f64>(), 200.0);
            let pa = probabilities(&ca).unwrap();
            assert!((pa.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            let d = common::plot::counts_to_density(&e, &ca);
            let dw: f64 = d
                .iter()
                .zip(e.windows(2))
                .map(|(d, w)| d * (w[1] - w[0]))
                .sum();
            assert!((dw - 1.0).abs() < 1e-12);
            // the value is the batchmean over nb - 1 bins
            let m: Vec<f64> = pa
                .iter()
                .zip(probabilities(&cb).unwrap())
                .map(|(x, y)| 0.5 * (x + y))
                .collect();
            let by_hand: f64 = [&pa, &probabilities(&cb).unwrap()]
                .iter()
                .map(|q| {
                    m.iter()
                        .zip(q.iter())
                        .map(|(mm, qq)| {
                            if *mm == 0.0 {
                                0.0
                            } else {
                                mm * (mm.ln() - (qq + EPS).ln())
                            }
                        })
                        .sum::<f64>()
                })
                .sum::<f64>()
                / 2.0
                / (nb - 1) as f64;
            let got = symmetric_kl(&a, &b, nb).unwrap();
            assert!((got - by_hand).abs() < 1e-14, "{got} vs {by_hand}");
        }
        assert!(symmetric_kl(&[1.0, 1.0], &[1.0], 31).is_err());
        assert!(symmetric_kl(&[], &a, 31).is_err());
    }

    /// Offline check 3.
    #[test]
    fn permutation_test_separated_and_null() {
        let mut x = normal(100, 0.0, 3);
        x.extend(normal(100, 10.0, 4));
        let labels: Vec<bool> = (0..200).map(|i| i >= 100).collect();
        let t = permutation_test(&labels, 200, 5, PermutationP::StrictlyGreater, |l| {
            label_kl(&x, l)
        })
        .unwrap();
        assert_eq!(t.pvalue, 0.0, "observed {} vs null max", t.observed);
        let mut above = 0;
        for seed in 0..20u64 {
            let x = normal(200, 0.0, 100 + seed);
            let mut rng = StdRng::seed_from_u64(200 + seed);
            let labels: Vec<bool> = (0..200).map(|_| rng.random_bool(0.4)).collect();
            let t = permutation_test(&labels, 200, seed, PermutationP::StrictlyGreater, |l| {
                label_kl(&x, l)
            })
            .unwrap();
            above += usize::from(t.pvalue > 0.05);
        }
        assert!(above >= 15, "p > 0.05 in only {above} of 20 seeds");
    }
}
