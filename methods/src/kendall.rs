//! Kendall's τ-b with its two-sided p-value, as `scipy.stats.kendalltau(x, y)` computes it
//! with its defaults (`variant="b"`, `method="auto"`).
//!
//! The pair counts are the plain O(n²) loop, written here because no crate of the
//! registries gives scipy's τ-b with its exact/asymptotic p-value rule; project 45 ranks at
//! most a few hundred values.
//!
//! * τ-b = (concordant − discordant) / √((n₀ − n_x)(n₀ − n_y)), with n₀ = n(n−1)/2 pairs and
//!   n_x, n_y the pairs tied in x, in y.
//! * p-value, scipy's `auto` rule: exact (Kendall's recursion for the number of
//!   permutations with c discordant pairs) when neither variable has ties and n ≤ 33 (or
//!   at most one pair is discordant / concordant); otherwise the normal approximation of
//!   con − dis with the tie-corrected variance.
//! * All values tied in x or in y: τ and p are NaN, as in scipy.

use anyhow::{bail, Result};
use statrs::distribution::{ContinuousCDF, Normal};

/// τ-b and its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kendall {
    pub tau: f64,
    pub pvalue: f64,
}

/// Σ over groups of equal values of `f(group size)`.
fn tie_sum(v: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mut total = 0.0;
    let mut i = 0;
    while i < s.len() {
        let mut j = i + 1;
        while j < s.len() && s[j] == s[i] {
            j += 1;
        }
        let t = (j - i) as f64;
        if t > 1.0 {
            total += f(t);
        }
        i = j;
    }
    total
}

/// `n!` as a float (exact up to 22!, correctly rounded beyond; n ≤ 33 here).
fn factorial(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

/// scipy's `_kendall_p_exact(n, c)`, two-sided, for `n` values without ties and `c`
/// concordant (or discordant) pairs.
fn exact_p(n: usize, c: usize) -> f64 {
    let tot = n * (n - 1) / 2;
    let c = c.min(tot - c);
    let prob = if n <= 2 {
        1.0
    } else if c == 0 {
        2.0 / factorial(n)
    } else if c == 1 {
        2.0 / factorial(n - 1)
    } else if 4 * c == n * (n - 1) {
        1.0
    } else {
        // new[k] = number of permutations of j items with k inversions (k ≤ c)
        let mut new = vec![0.0f64; c + 1];
        new[0] = 1.0;
        new[1] = 1.0;
        for j in 3..=n {
            let mut acc = 0.0;
            for v in new.iter_mut() {
                acc += *v;
                *v = acc;
            }
            if j <= c {
                // new[j:] -= new[:c+1-j] (numpy evaluates the right side first)
                let old: Vec<f64> = new[..c + 1 - j].to_vec();
                for (k, o) in old.iter().enumerate() {
                    new[j + k] -= o;
                }
            }
        }
        2.0 * new.iter().sum::<f64>() / factorial(n)
    };
    prob.clamp(0.0, 1.0)
}

/// Kendall's τ-b of `x` and `y` and its two-sided p-value (`scipy.stats.kendalltau`).
pub fn kendall_tau(x: &[f64], y: &[f64]) -> Result<Kendall> {
    if x.len() != y.len() {
        bail!(
            "kendall_tau: x has {} values but y has {}; they must be paired",
            x.len(),
            y.len()
        );
    }
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        bail!("kendall_tau: the values must be finite");
    }
    let n = x.len();
    if n < 2 {
        return Ok(Kendall {
            tau: f64::NAN,
            pvalue: f64::NAN,
        });
    }
    let (mut con, mut dis) = (0usize, 0usize);
    for i in 0..n {
        for j in i + 1..n {
            let s = (x[i] - x[j]).signum() * (y[i] - y[j]).signum();
            if x[i] == x[j] || y[i] == y[j] {
                continue;
            }
            if s > 0.0 {
                con += 1;
            } else {
                dis += 1;
            }
        }
    }
    let tot = (n * (n - 1) / 2) as f64;
    let xtie = tie_sum(x, |t| t * (t - 1.0) / 2.0);
    let ytie = tie_sum(y, |t| t * (t - 1.0) / 2.0);
    if xtie == tot || ytie == tot {
        return Ok(Kendall {
            tau: f64::NAN,
            pvalue: f64::NAN,
        });
    }
    let s = con as f64 - dis as f64;
    let tau = (s / (tot - xtie).sqrt() / (tot - ytie).sqrt()).clamp(-1.0, 1.0);
    let no_ties = xtie == 0.0 && ytie == 0.0;
    let pvalue = if no_ties && (n <= 33 || dis.min(n * (n - 1) / 2 - dis) <= 1) {
        exact_p(n, n * (n - 1) / 2 - dis)
    } else {
        let nf = n as f64;
        let m = nf * (nf - 1.0);
        let x0 = tie_sum(x, |t| t * (t - 1.0) * (t - 2.0));
        let y0 = tie_sum(y, |t| t * (t - 1.0) * (t - 2.0));
        let x1 = tie_sum(x, |t| t * (t - 1.0) * (2.0 * t + 5.0));
        let y1 = tie_sum(y, |t| t * (t - 1.0) * (2.0 * t + 5.0));
        let var = (m * (2.0 * nf + 5.0) - x1 - y1) / 18.0
            + (2.0 * xtie * ytie) / m
            + x0 * y0 / (9.0 * m * (nf - 2.0));
        let z = s / var.sqrt();
        let normal = Normal::standard();
        (2.0 * normal.sf(z.abs())).min(1.0)
    };
    Ok(Kendall { tau, pvalue })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_and_reversed_rankings() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let r: Vec<f64> = x.iter().rev().copied().collect();
        // 10 / √10 / √10, as scipy computes it: 1 up to rounding
        assert!((kendall_tau(&x, &x).unwrap().tau - 1.0).abs() < 1e-15);
        assert!((kendall_tau(&x, &r).unwrap().tau + 1.0).abs() < 1e-15);
        // exact p of a perfect ranking of 5: 2/5! = 1/60
        assert!((kendall_tau(&x, &x).unwrap().pvalue - 2.0 / 120.0).abs() < 1e-15);
    }

    #[test]
    fn exact_distribution_sums_to_one() {
        // the two-sided p at the centre of the distribution is 1
        assert_eq!(exact_p(5, 5), 1.0);
        // n = 4: inversions 0..6 have counts 1,3,5,6,5,3,1 (24 permutations); P(c ≤ 2) = 9/24
        assert!((exact_p(4, 2) - 2.0 * 9.0 / 24.0).abs() < 1e-15);
    }

    #[test]
    fn constant_input_is_nan() {
        let k = kendall_tau(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!(k.tau.is_nan() && k.pvalue.is_nan());
    }
}
