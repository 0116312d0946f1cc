//! One neuron's classifier: a stratified random 80/20 split, statsmodels'
//! `Logit(y, [1, x]).fit_regularized(method='l1', alpha=0.1)` on the training part
//! (`common::ml::logistic::l1_logit`, the constant penalised too, zero-trimming, Wald p-values), and the train and test accuracy of `p̂ > 0.5`. Also the synthetic checks of
//! the method (offline checks 3–5) and a plain Newton MLE to compare the α = 0 fit with.

use anyhow::{bail, Result};
use common::ml::logistic::l1_logit;
use common::ml::logistic::L1Logit;
use common::ml::split::stratified_train_test_split;
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// The book's L1 weight (statsmodels' alpha).
pub const ALPHA: f64 = 0.1;
/// The book's test_prop.
pub const TEST_PROP: f64 = 0.2;

/// What Part 3 records for one neuron.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronFit {
    /// p-value of the slope (NaN when the slope was trimmed to 0).
    pub p: f64,
    /// The slope β.
    pub beta: f64,
    /// Accuracy in % on the training and on the test part.
    pub train_acc: f64,
    pub test_acc: f64,
}

/// The design `[1, x]` of the samples `idx`.
pub fn design(x: &[f64], idx: &[usize]) -> Array2<f64> {
    Array2::from_shape_fn(
        (idx.len(), 2),
        |(i, j)| if j == 0 { 1.0 } else { x[idx[i]] },
    )
}

fn accuracy(prob: impl Iterator<Item = f64>, y: &[usize]) -> f64 {
    let hits = prob
        .zip(y)
        .filter(|(p, &t)| usize::from(*p > 0.5) == t)
        .count();
    100.0 * hits as f64 / y.len() as f64
}

/// The full procedure for one feature `x` with labels `y` (0/1): split, fit, score.
pub fn fit_feature<R: Rng + ?Sized>(
    x: &[f64],
    y: &[usize],
    alpha: f64,
    rng: &mut R,
) -> Result<(NeuronFit, L1Logit)> {
    let split = stratified_train_test_split(y, TEST_PROP, rng)?;
    let y_train: Vec<usize> = split.train.iter().map(|&i| y[i]).collect();
    let y_test: Vec<usize> = split.test.iter().map(|&i| y[i]).collect();
    let fit = l1_logit(design(x, &split.train).view(), &y_train, alpha)?;
    let test_prob = fit.predict(design(x, &split.test).view())?;
    let nf = NeuronFit {
        p: fit.pvalues[1],
        beta: fit.params[1],
        train_acc: accuracy(fit.fitted.iter().copied(), &y_train),
        test_acc: accuracy(test_prob.iter().copied(), &y_test),
    };
    Ok((nf, fit))
}

/// Every neuron of one layer: `acts[n]` holds neuron n's last-position activations,
/// the `m` can windows first, then the `m` can't windows. The neurons are shared out
/// over `threads` threads, each with its own generator seeded from `seed` and its
/// chunk (so a run is reproducible for a given thread count). A failed fit (e.g. a
/// neuron that is constant) gives `Err` with the reason.
pub fn fit_layer(
    acts: &[Vec<f64>],
    m: usize,
    seed: u64,
    threads: usize,
    tick: &(dyn Fn() + Sync),
) -> Vec<Result<NeuronFit, String>> {
    let y: Vec<usize> = (0..2 * m).map(|i| usize::from(i >= m)).collect();
    let threads = threads.max(1).min(acts.len().max(1));
    let chunk = acts.len().div_ceil(threads).max(1);
    let mut out: Vec<Result<NeuronFit, String>> = Vec::with_capacity(acts.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = acts
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                let y = &y;
                s.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(c as u64 * 7919));
                    part.iter()
                        .map(|x| {
                            let r = fit_feature(x, y, ALPHA, &mut rng)
                                .map(|(f, _)| f)
                                .map_err(|e| format!("{e:#}"));
                            tick();
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(v) => out.extend(v),
                Err(_) => out.extend((0..chunk).map(|_| Err("a fitting thread panicked".into()))),
            }
        }
    });
    out.truncate(acts.len());
    out
}

/// Unpenalised maximum likelihood by plain Newton–Raphson on a design with two columns
/// (the reference for the α = 0 fit).
pub fn newton_mle(x: &Array2<f64>, y: &[usize]) -> Result<[f64; 2]> {
    let mut b = [0.0f64; 2];
    for _ in 0..100 {
        let (mut g, mut h) = ([0.0f64; 2], [[0.0f64; 2]; 2]);
        for (i, &t) in y.iter().enumerate() {
            let r = [x[[i, 0]], x[[i, 1]]];
            let p = 1.0 / (1.0 + (-(b[0] * r[0] + b[1] * r[1])).exp());
            for j in 0..2 {
                g[j] += (p - t as f64) * r[j];
                for k in 0..2 {
                    h[j][k] += p * (1.0 - p) * r[j] * r[k];
                }
            }
        }
        let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        if det.abs() < 1e-300 {
            bail!("Newton MLE: singular Hessian");
        }
        let step = [
            (h[1][1] * g[0] - h[0][1] * g[1]) / det,
            (h[0][0] * g[1] - h[1][0] * g[0]) / det,
        ];
        b[0] -= step[0];
        b[1] -= step[1];
        if step[0].abs().max(step[1].abs()) < 1e-14 {
            return Ok(b);
        }
    }
    Ok(b)
}

/// Synthetic data: `n/2` samples of class 0 with x ~ N(0, 1), `n/2` of class 1 with
/// x ~ N(shift, 1).
pub fn synthetic<R: Rng + ?Sized>(n: usize, shift: f64, rng: &mut R) -> (Vec<f64>, Vec<usize>) {
    let y: Vec<usize> = (0..n).map(|i| usize::from(i >= n / 2)).collect();
    let x = y
        .iter()
        .map(|&c| rng.sample::<f64, _>(StandardNormal) + shift * c as f64)
        .collect();
    (x, y)
}

/// The results of offline checks 3 and 4 on synthetic data.
pub struct MethodChecks {
    /// max |β(α = 0) − β(Newton MLE)|.
    pub alpha0_vs_newton: f64,
    /// α = 1e6: the parameters and the number of NaN p-values.
    pub huge_params: [f64; 2],
    pub huge_nan_pvalues: usize,
    /// The strong effect (shift 1.5, n = 1000).
    pub strong: NeuronFit,
    /// Pure noise, `reps` repetitions: how many had p > 0.001 (or a trimmed slope), and
    /// the mean train and test accuracies.
    pub reps: usize,
    pub noise_not_sig: usize,
    pub noise_trimmed: usize,
    pub noise_train_acc: f64,
    pub noise_test_acc: f64,
}

pub fn method_checks(seed: u64) -> Result<MethodChecks> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (x, y) = synthetic(1000, 1.5, &mut rng);
    let all: Vec<usize> = (0..x.len()).collect();
    let d = design(&x, &all);
    let zero = l1_logit(d.view(), &y, 0.0)?;
    let mle = newton_mle(&d, &y)?;
    let alpha0_vs_newton = (zero.params[0] - mle[0])
        .abs()
        .max((zero.params[1] - mle[1]).abs());
    let huge = l1_logit(d.view(), &y, 1e6)?;
    let (strong, _) = fit_feature(&x, &y, ALPHA, &mut rng)?;
    let reps = 100;
    let (mut not_sig, mut trimmed, mut tr, mut te) = (0, 0, 0.0, 0.0);
    for _ in 0..reps {
        let (x, y) = synthetic(1000, 0.0, &mut rng);
        let (f, _) = fit_feature(&x, &y, ALPHA, &mut rng)?;
        not_sig += usize::from(f.p.is_nan() || f.p > 0.001);
        trimmed += usize::from(f.p.is_nan());
        tr += f.train_acc / reps as f64;
        te += f.test_acc / reps as f64;
    }
    Ok(MethodChecks {
        alpha0_vs_newton,
        huge_params: [huge.params[0], huge.params[1]],
        huge_nan_pvalues: huge.pvalues.iter().filter(|p| p.is_nan()).count(),
        strong,
        reps,
        noise_not_sig: not_sig,
        noise_trimmed: trimmed,
        noise_train_acc: tr,
        noise_test_acc: te,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_3_and_4() {
        let c = method_checks(48).unwrap();
        assert!(c.alpha0_vs_newton < 1e-6, "{}", c.alpha0_vs_newton);
        assert_eq!(c.huge_params, [0.0, 0.0]);
        assert_eq!(c.huge_nan_pvalues, 2);
        assert!(c.strong.beta > 0.0 && c.strong.p < 1e-10 && c.strong.test_acc > 70.0);
        assert!(c.noise_not_sig >= 90, "{}", c.noise_not_sig);
        assert!((c.noise_train_acc - 50.0).abs() < 3.0);
        assert!((c.noise_test_acc - 50.0).abs() < 3.0);
    }

    #[test]
    fn newton_mle_closed_form_for_a_binary_feature() {
        // x in {0, 1}: the MLE is the log-odds of each group: intercept = logit(p0),
        // slope = logit(p1) - logit(p0). Group 0: 3 of 10 positive; group 1: 7 of 10.
        let x: Vec<f64> = (0..20).map(|i| f64::from(u8::from(i >= 10))).collect();
        let y: Vec<usize> = (0..20)
            .map(|i| usize::from(if i < 10 { i < 3 } else { i < 17 }))
            .collect();
        let all: Vec<usize> = (0..20).collect();
        let b = newton_mle(&design(&x, &all), &y).unwrap();
        let logit = |p: f64| (p / (1.0 - p)).ln();
        assert!((b[0] - logit(0.3)).abs() < 1e-10);
        assert!((b[1] - (logit(0.7) - logit(0.3))).abs() < 1e-10);
    }

    #[test]
    fn fit_layer_flags_a_constant_neuron() {
        let m = 50;
        let mut rng = StdRng::seed_from_u64(3);
        let (x, _) = synthetic(2 * m, 1.0, &mut rng);
        let acts = vec![x, vec![0.0; 2 * m]];
        let r = fit_layer(&acts, m, 0, 2, &|| {});
        assert_eq!(r.len(), 2);
        assert!(r[0].is_ok());
        assert!(r[1].is_err());
    }
}
