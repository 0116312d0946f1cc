//! Mutual information and Minkowski distances (project 45).
//!
//! * **Histogram (plug-in) MI in bits**, as the project 45 notebook computes it from
//!   `numpy.histogram2d(x, y, bins=b)`: equal-width bins spanning each variable's
//!   `[min, max]` (edges from `numpy.linspace`, a constant variable widened to
//!   `[v − 0.5, v + 0.5]`), each bin half-open `[a, b)` except the last, which is closed.
//!   With `p = Z / ΣZ`, `p_x` its row sums and `p_y` its column sums, every entropy is
//!   `−Σ p·log2(p + 1e-13)` and `MI = H(x) + H(y) − H(x, y)` ([`binned_mutual_info`],
//!   [`entropy_bits`], [`histogram`], [`histogram2d`]). The `1e-13` inside the log makes
//!   a value that should be 0 come out as about ±1e-13, exactly as numpy's does.
//! * **Kraskov–Stögbauer–Grassberger MI (estimator 1) in nats**, as scikit-learn's
//!   `mutual_info_regression(x[:, None], y, n_neighbors=k, discrete_features=False)`:
//!   [`mutual_info_regression`] scales, adds sklearn's tiny noise from its own seeded RNG, and
//!   calls [`compute_mi_cc`], the estimator itself (sklearn's private `_compute_mi_cc`).
//! * **Minkowski distances** of any order `p > 0` (`p = ∞` is Chebyshev), as
//!   `scipy.spatial.distance.minkowski` and `cdist(metric="minkowski", p=p)`
//!   ([`minkowski`], [`minkowski_cdist`]).
//!
//! The k-nearest-neighbour searches and radius counts use `kiddo`'s immutable k-d tree with
//! its Chebyshev metric (the immutable tree, because discrete-looking data put many points
//! at the same coordinates, which kiddo's mutable tree cannot hold beyond its bucket size).
//! The histograms, entropies and distances are a few lines written here: numpy's bin rule is
//! what has to be reproduced, and no crate in the workspace gives Minkowski distances
//! between run-time-length vectors (kiddo's metrics work on fixed-size `[f64; K]` points
//! and have no general `p`).

use std::num::NonZeroUsize;

use anyhow::{bail, ensure, Result};
use kiddo::{Chebyshev, ImmutableKdTree};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use statrs::function::gamma::digamma;

use crate::check;

/// The constant added to every probability inside the log of the binned entropies.
pub const ENTROPY_EPS: f64 = 1e-13;

/// The number of neighbours project 45 (and sklearn's default) uses in the KSG estimator.
pub const DEFAULT_NEIGHBORS: usize = 3;

/// Relative size of the noise sklearn adds to each scaled continuous variable.
const NOISE_SCALE: f64 = 1e-10;

// ---------------------------------------------------------------- histograms, entropy, MI

/// `numpy.linspace(lo, hi, bins + 1)`, bit for bit: `i·step + lo` with
/// `step = (hi − lo)/bins`, and the last edge set to `hi`.
fn linspace_edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let div = bins as f64;
    let delta = hi - lo;
    let step = delta / div;
    (0..=bins)
        .map(|i| {
            if i == bins {
                hi
            } else if step == 0.0 {
                // numpy's branch for a step that underflows to zero
                i as f64 / div * delta + lo
            } else {
                i as f64 * step + lo
            }
        })
        .collect()
}

/// The `bins + 1` edges numpy's `histogram(v, bins)` and `histogram2d` use for one variable:
/// equal width from `min(v)` to `max(v)`, or `[v − 0.5, v + 0.5]` when all values are equal.
pub fn histogram_edges(v: ArrayView1<f64>, bins: usize) -> Result<Vec<f64>> {
    check::at_least(v.len(), 1, "histogram_edges")?;
    check::finite_1d(v, "histogram_edges input")?;
    ensure!(bins >= 1, "histogram_edges needs at least 1 bin, got 0");
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    Ok(linspace_edges(lo, hi, bins))
}

/// The bin of `value` among `edges` (numpy: `searchsorted(edges, value, side="right") − 1`,
/// with a value equal to the last edge put into the last bin).
fn bin_index(edges: &[f64], value: f64) -> usize {
    let bins = edges.len() - 1;
    if value == edges[bins] {
        return bins - 1;
    }
    edges
        .partition_point(|&e| e <= value)
        .saturating_sub(1)
        .min(bins - 1)
}

/// A 1-D histogram: `counts[i]` values fall in `[edges[i], edges[i+1])` (the last bin closed).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub counts: Vec<f64>,
    pub edges: Vec<f64>,
}

/// `numpy.histogram(v, bins=bins)`: equal-width bins over `[min, max]`.
pub fn histogram(v: ArrayView1<f64>, bins: usize) -> Result<Histogram> {
    let edges = histogram_edges(v, bins)?;
    let mut counts = vec![0.0; bins];
    for &x in v {
        counts[bin_index(&edges, x)] += 1.0;
    }
    Ok(Histogram { counts, edges })
}

/// A 2-D histogram: `counts[[i, j]]` pairs have `x` in x-bin `i` and `y` in y-bin `j`.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram2d {
    pub counts: Array2<f64>,
    pub x_edges: Vec<f64>,
    pub y_edges: Vec<f64>,
}

/// `numpy.histogram2d(x, y, bins=bins)`: `bins` equal-width bins per axis, each axis spanning
/// its variable's `[min, max]`.
pub fn histogram2d(x: ArrayView1<f64>, y: ArrayView1<f64>, bins: usize) -> Result<Histogram2d> {
    check::rows_match(x.len(), y.len(), 1, "histogram2d (x against y)")?;
    let x_edges = histogram_edges(x, bins).map_err(|e| e.context("histogram2d: x"))?;
    let y_edges = histogram_edges(y, bins).map_err(|e| e.context("histogram2d: y"))?;
    let mut counts = Array2::zeros((bins, bins));
    for (&a, &b) in x.iter().zip(y) {
        counts[[bin_index(&x_edges, a), bin_index(&y_edges, b)]] += 1.0;
    }
    Ok(Histogram2d {
        counts,
        x_edges,
        y_edges,
    })
}

/// `−Σ p·log2(p + 1e-13)` over probabilities that are already normalised.
fn entropy_of_probabilities<'a>(p: impl IntoIterator<Item = &'a f64>) -> f64 {
    -p.into_iter()
        .map(|&q| q * (q + ENTROPY_EPS).log2())
        .sum::<f64>()
}

/// The total of a histogram's counts, after checking they are finite, non-negative and not
/// all zero.
fn histogram_total<'a>(counts: impl IntoIterator<Item = &'a f64>, what: &str) -> Result<f64> {
    let mut total = 0.0;
    for (i, &c) in counts.into_iter().enumerate() {
        if !c.is_finite() || c < 0.0 {
            bail!("{what}: count {i} is {c}; counts must be finite and non-negative");
        }
        total += c;
    }
    ensure!(
        total > 0.0,
        "{what}: the counts sum to 0, there is no distribution to take the entropy of"
    );
    Ok(total)
}

/// Entropy in bits of the distribution a histogram's counts give, `−Σ p·log2(p + 1e-13)`
/// with `p = counts / Σ counts` (the notebook's formula; empty bins add nothing).
pub fn entropy_bits(counts: &[f64]) -> Result<f64> {
    let total = histogram_total(counts, "entropy_bits")?;
    let p: Vec<f64> = counts.iter().map(|c| c / total).collect();
    Ok(entropy_of_probabilities(&p))
}

/// The histogram MI of [`binned_mutual_info`], with its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct BinnedMi {
    /// `H(x) + H(y) − H(x, y)`, bits.
    pub mi: f64,
    pub h_x: f64,
    pub h_y: f64,
    pub h_xy: f64,
    pub histogram: Histogram2d,
}

/// Plug-in mutual information in bits of `x` and `y` binned into `bins × bins` equal-width
/// cells ([`histogram2d`]): `p = Z/ΣZ`, `p_x` = row sums of `p`, `p_y` = column sums,
/// entropies `−Σ p·log2(p + 1e-13)`, `MI = H(x) + H(y) − H(x, y)`.
///
/// The estimate grows with `bins` (sparse cells bias it upward). `MI(x, x) = H(x)` when both
/// axes get the same bins; a result that should be 0 may be ±1e-13 because of the `1e-13`.
pub fn binned_mutual_info(x: ArrayView1<f64>, y: ArrayView1<f64>, bins: usize) -> Result<BinnedMi> {
    let histogram = histogram2d(x, y, bins)?;
    let z = &histogram.counts;
    let total = histogram_total(z.iter(), "binned_mutual_info")?;
    let p = z.mapv(|c| c / total);
    let p_x: Vec<f64> = p.rows().into_iter().map(|r| r.sum()).collect();
    let p_y: Vec<f64> = p.columns().into_iter().map(|c| c.sum()).collect();
    let h_x = entropy_of_probabilities(&p_x);
    let h_y = entropy_of_probabilities(&p_y);
    let h_xy = entropy_of_probabilities(p.iter());
    Ok(BinnedMi {
        mi: h_x + h_y - h_xy,
        h_x,
        h_y,
        h_xy,
        histogram,
    })
}

// ---------------------------------------------------------------- KSG estimator

/// The largest float below `d` (`numpy.nextafter(d, 0)` for `d ≥ 0`; 0 stays 0).
fn next_toward_zero(d: f64) -> f64 {
    if d > 0.0 {
        f64::from_bits(d.to_bits() - 1)
    } else {
        d
    }
}

/// Population standard deviation (`numpy.std`, ddof 0).
fn population_std(v: ArrayView1<f64>) -> f64 {
    let n = v.len() as f64;
    let mean = v.sum() / n;
    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
}

/// `v` divided by its population standard deviation, not centred: scikit-learn's
/// `preprocessing.scale(v, with_mean=False)`, the first step of `mutual_info_regression`.
///
/// A constant `v` is an error: sklearn would quietly divide by 1 instead and then estimate the
/// MI of its own noise, a meaningless number.
pub fn unit_variance(v: ArrayView1<f64>, what: &str) -> Result<Array1<f64>> {
    check::at_least(v.len(), 1, what)?;
    check::finite_1d(v, what)?;
    let first = v[0];
    if v.iter().all(|&x| x == first) {
        bail!(
            "{what} is constant (every value is {first}): it has zero variance, so it carries no \
             information and cannot be scaled to unit variance; drop it"
        );
    }
    let sd = population_std(v);
    ensure!(
        sd > 0.0 && sd.is_finite(),
        "{what}: its standard deviation is {sd}; rescale the values (they are too large or too \
         close together to be scaled to unit variance)"
    );
    Ok(v.mapv(|x| x / sd))
}

/// Lengths match, at least `n_neighbors + 1` samples, finite values.
fn check_ksg_input(
    x: ArrayView1<f64>,
    y: ArrayView1<f64>,
    n_neighbors: usize,
    what: &str,
) -> Result<()> {
    ensure!(
        n_neighbors >= 1,
        "{what}: n_neighbors must be at least 1, got 0"
    );
    if x.len() != y.len() {
        bail!(
            "{what}: x has {} samples but y has {}; they must be paired",
            x.len(),
            y.len()
        );
    }
    if x.len() < n_neighbors + 1 {
        bail!(
            "{what} needs at least n_neighbors + 1 = {} samples (each sample needs {n_neighbors} \
             other samples as neighbours), got {}",
            n_neighbors + 1,
            x.len()
        );
    }
    check::finite_1d(x, &format!("{what}: x"))?;
    check::finite_1d(y, &format!("{what}: y"))?;
    Ok(())
}

/// The Kraskov–Stögbauer–Grassberger estimator 1 of the mutual information (nats) of two
/// continuous variables, exactly as scikit-learn's private `_compute_mi_cc(x, y, k)`, which
/// `mutual_info_regression` calls after scaling and adding noise ([`mutual_info_regression`]
/// does both; call this one on data already prepared).
///
/// For each sample, `ε_i` is the Chebyshev (max-norm) distance in the joint `(x, y)` space to
/// its `k`-th nearest other sample, moved to the next float toward 0; `n_x,i` is the number of
/// other samples with `|x_j − x_i| ≤ ε_i` (so strictly closer than the `k`-th neighbour's
/// distance), `n_y,i` likewise, and
/// `MI = ψ(n) + ψ(k) − mean(ψ(n_x + 1)) − mean(ψ(n_y + 1))`, clipped at 0.
///
/// Ties are treated as sklearn treats them: a sample whose `k`-th neighbour is at distance 0
/// gets `ε = 0` and counts only exact duplicates. The neighbour search and the radius counts
/// use kiddo's k-d tree with its Chebyshev metric (1-D trees for the marginals: in one
/// dimension the Chebyshev distance is `|x_j − x_i|`, as in sklearn's 1-D KDTree).
pub fn compute_mi_cc(x: ArrayView1<f64>, y: ArrayView1<f64>, n_neighbors: usize) -> Result<f64> {
    check_ksg_input(x, y, n_neighbors, "compute_mi_cc")?;
    let n = x.len();
    let joint: Vec<[f64; 2]> = x.iter().zip(y).map(|(&a, &b)| [a, b]).collect();
    let xs: Vec<[f64; 1]> = x.iter().map(|&a| [a]).collect();
    let ys: Vec<[f64; 1]> = y.iter().map(|&b| [b]).collect();
    let joint_tree: ImmutableKdTree<f64, 2> = ImmutableKdTree::new_from_slice(&joint);
    let x_tree: ImmutableKdTree<f64, 1> = ImmutableKdTree::new_from_slice(&xs);
    let y_tree: ImmutableKdTree<f64, 1> = ImmutableKdTree::new_from_slice(&ys);
    // The sample itself comes back at distance 0, so k + 1 neighbours hold its k nearest others.
    let with_self = NonZeroUsize::new(n_neighbors + 1).unwrap_or(NonZeroUsize::MIN);
    let (mut sum_x, mut sum_y) = (0.0, 0.0);
    for i in 0..n {
        let kth = joint_tree
            .nearest_n::<Chebyshev>(&joint[i], with_self)
            .iter()
            .map(|nb| nb.distance)
            .fold(0.0, f64::max);
        let radius = next_toward_zero(kth);
        // within_unsorted counts distance <= radius; minus the sample itself
        let nx = x_tree.within_unsorted::<Chebyshev>(&xs[i], radius).len() - 1;
        let ny = y_tree.within_unsorted::<Chebyshev>(&ys[i], radius).len() - 1;
        sum_x += digamma(nx as f64 + 1.0);
        sum_y += digamma(ny as f64 + 1.0);
    }
    let nf = n as f64;
    let mi = digamma(nf) + digamma(n_neighbors as f64) - sum_x / nf - sum_y / nf;
    ensure!(
        mi.is_finite(),
        "compute_mi_cc: the estimate is not finite ({mi}); check the inputs"
    );
    Ok(mi.max(0.0))
}

/// Adds sklearn's jitter to a scaled variable: `1e-10 · max(1, mean|v|) · N(0, 1)` per value.
fn add_noise(v: &mut Array1<f64>, rng: &mut StdRng) {
    let mean_abs = v.iter().map(|x| x.abs()).sum::<f64>() / v.len() as f64;
    let scale = NOISE_SCALE * mean_abs.max(1.0);
    for x in v.iter_mut() {
        let z: f64 = rng.sample(StandardNormal);
        *x += scale * z;
    }
}

/// The arrays [`mutual_info_regression`] hands to [`compute_mi_cc`]: each variable divided
/// by its population standard deviation ([`unit_variance`]), then `x` and then `y` given
/// `1e-10 · max(1, mean|v|) · N(0, 1)` noise from a `StdRng` seeded with `seed`.
pub fn prepare_ksg_inputs(
    x: ArrayView1<f64>,
    y: ArrayView1<f64>,
    seed: u64,
) -> Result<(Array1<f64>, Array1<f64>)> {
    let mut xs = unit_variance(x, "mutual_info_regression: x")?;
    let mut ys = unit_variance(y, "mutual_info_regression: y")?;
    let mut rng = StdRng::seed_from_u64(seed);
    add_noise(&mut xs, &mut rng);
    add_noise(&mut ys, &mut rng);
    Ok((xs, ys))
}

/// k-NN (KSG estimator 1) mutual information in nats between a continuous feature `x` and a
/// continuous target `y`, as scikit-learn's
/// `mutual_info_regression(x.reshape(-1, 1), y, n_neighbors=n_neighbors,
/// discrete_features=False, random_state=...)[0]`: scale each variable to unit variance
/// without centring, add noise `1e-10 · max(1, mean|v|) · N(0, 1)` (to `x`, then to `y`), and
/// run [`compute_mi_cc`].
///
/// The noise comes from a `StdRng` seeded with `seed`, not from numpy's generator, so the result
/// is sklearn's only up to the effect of that noise: none for continuous data without ties
/// (the noise is far below the gaps between values), but with ties the noise decides which of
/// the tied samples is nearer, and the estimate varies with the seed as sklearn's varies with
/// `random_state`. Invariant to rescaling either variable by a positive constant.
///
/// Errors: unequal lengths, fewer than `n_neighbors + 1` samples, non-finite values, a
/// constant variable.
pub fn mutual_info_regression(
    x: ArrayView1<f64>,
    y: ArrayView1<f64>,
    n_neighbors: usize,
    seed: u64,
) -> Result<f64> {
    check_ksg_input(x, y, n_neighbors, "mutual_info_regression")?;
    let (xs, ys) = prepare_ksg_inputs(x, y, seed)?;
    compute_mi_cc(xs.view(), ys.view(), n_neighbors)
}

// ---------------------------------------------------------------- Minkowski distances

fn check_p(p: f64, what: &str) -> Result<()> {
    if p.is_nan() || p <= 0.0 {
        bail!("{what}: the order p must be greater than 0 (f64::INFINITY for Chebyshev), got {p}");
    }
    Ok(())
}

/// `(Σ|u_i − v_i|^p)^(1/p)` over two equally long slices, computed as scipy does for each `p`.
fn minkowski_unchecked<'a>(diffs: impl Iterator<Item = (&'a f64, &'a f64)>, p: f64) -> f64 {
    let d = diffs.map(|(a, b)| (a - b).abs());
    if p == 1.0 {
        d.sum()
    } else if p == 2.0 {
        d.map(|t| t * t).sum::<f64>().sqrt()
    } else if p == f64::INFINITY {
        d.fold(0.0, f64::max)
    } else {
        d.map(|t| t.powf(p)).sum::<f64>().powf(1.0 / p)
    }
}

/// Minkowski distance of order `p` between two vectors, `(Σ|u_i − v_i|^p)^(1/p)`:
/// `scipy.spatial.distance.minkowski(u, v, p)`. `p = 1` is the Manhattan (L1) distance,
/// `p = 2` the Euclidean (L2) distance, `p = f64::INFINITY` the Chebyshev distance
/// `max|u_i − v_i|`; `0 < p < 1` is allowed, as in scipy, though it is not a metric then.
pub fn minkowski(u: ArrayView1<f64>, v: ArrayView1<f64>, p: f64) -> Result<f64> {
    check_p(p, "minkowski")?;
    if u.len() != v.len() {
        bail!(
            "minkowski: u has {} coordinates but v has {}; the vectors must be equally long",
            u.len(),
            v.len()
        );
    }
    check::at_least(u.len(), 1, "minkowski")?;
    check::finite_1d(u, "minkowski: u")?;
    check::finite_1d(v, "minkowski: v")?;
    Ok(minkowski_unchecked(u.iter().zip(v), p))
}

/// All Minkowski distances of order `p` between the rows of `a` (`[m, d]`) and the rows of
/// `b` (`[n, d]`): the `[m, n]` matrix of
/// `scipy.spatial.distance.cdist(a, b, metric="minkowski", p=p)`. Pass the same matrix twice
/// for the square pairwise matrix.
pub fn minkowski_cdist(a: ArrayView2<f64>, b: ArrayView2<f64>, p: f64) -> Result<Array2<f64>> {
    check_p(p, "minkowski_cdist")?;
    if a.ncols() != b.ncols() {
        bail!(
            "minkowski_cdist: the rows of a have {} coordinates but those of b have {}",
            a.ncols(),
            b.ncols()
        );
    }
    check::at_least(a.ncols(), 1, "minkowski_cdist (coordinates per row)")?;
    check::finite_2d(a, "minkowski_cdist: a")?;
    check::finite_2d(b, "minkowski_cdist: b")?;
    Ok(Array2::from_shape_fn((a.nrows(), b.nrows()), |(i, j)| {
        minkowski_unchecked(a.row(i).iter().zip(b.row(j)), p)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Brute-force KSG with the same rules, to check kiddo's searches and counts.
    fn brute_mi(x: &[f64], y: &[f64], k: usize) -> f64 {
        let n = x.len();
        let (mut sx, mut sy) = (0.0, 0.0);
        for i in 0..n {
            let mut d: Vec<f64> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (x[j] - x[i]).abs().max((y[j] - y[i]).abs()))
                .collect();
            d.sort_by(f64::total_cmp);
            let r = next_toward_zero(d[k - 1]);
            let nx = (0..n)
                .filter(|&j| j != i && (x[j] - x[i]).abs() <= r)
                .count();
            let ny = (0..n)
                .filter(|&j| j != i && (y[j] - y[i]).abs() <= r)
                .count();
            sx += digamma(nx as f64 + 1.0);
            sy += digamma(ny as f64 + 1.0);
        }
        let nf = n as f64;
        (digamma(nf) + digamma(k as f64) - sx / nf - sy / nf).max(0.0)
    }

    #[test]
    fn kiddo_counts_match_brute_force_with_and_without_ties() {
        let mut rng = StdRng::seed_from_u64(3);
        for (n, levels) in [(300usize, 0u32), (200, 4), (120, 2), (90, 1)] {
            let draw = |rng: &mut StdRng| -> f64 {
                let z: f64 = rng.sample(StandardNormal);
                if levels == 0 {
                    z
                } else {
                    (z * levels as f64).round()
                }
            };
            let x: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
            let y: Vec<f64> = x.iter().map(|&a| a + draw(&mut rng)).collect();
            for k in [1, 3, 5] {
                let ours = compute_mi_cc(ArrayView1::from(&x), ArrayView1::from(&y), k).unwrap();
                let brute = brute_mi(&x, &y, k);
                assert!(
                    (ours - brute).abs() < 1e-12,
                    "n {n} levels {levels} k {k}: {ours} vs {brute}"
                );
            }
        }
    }

    #[test]
    fn next_toward_zero_steps_one_float() {
        assert_eq!(next_toward_zero(0.0), 0.0);
        assert!(next_toward_zero(1.0) < 1.0);
        assert_eq!(next_toward_zero(1.0), 1.0 - f64::EPSILON / 2.0);
    }

    #[test]
    fn last_bin_is_closed_and_others_half_open() {
        let v = array![0.0, 1.0, 2.0, 3.0, 4.0];
        let h = histogram(v.view(), 4).unwrap();
        assert_eq!(h.edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(h.counts, vec![1.0, 1.0, 1.0, 2.0]);
    }
}
