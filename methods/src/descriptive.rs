//! Descriptive statistics as numpy and scipy compute them: `percentile`/`quantile`
//! (linear interpolation, numpy's default method), `median`, `linspace`, scipy's
//! `binned_statistic` (mean, median, count, sum, population std) and scipy's
//! `gaussian_kde` (1-D, Scott / Silverman / fixed factor), plus the grid and density of
//! a matplotlib violin (`violinplot`'s 100 points from min to max).
//!
//! Written by hand: `ndarray-stats` is not a dependency, and neither it nor statrs
//! reproduces numpy's exact interpolation arithmetic (its `_lerp`, which switches to
//! `b − (b−a)(1−t)` for `t ≥ 0.5`), scipy's bin-edge rules (the last bin also takes
//! values that equal the right edge after rounding to `⌊−log10(min width)⌋ + 6`
//! decimals) or scipy's KDE normalisation. statrs has no KDE or binned statistics.
//! Each function follows the reference's operation order so results agree to the last
//! few ulps.

use anyhow::{bail, Result};

use crate::check;

fn sorted(x: &[f64], what: &str) -> Result<Vec<f64>> {
    if x.is_empty() {
        bail!("{what} of an empty sample is undefined");
    }
    check::finite(x, what)?;
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// numpy's `_lerp(a, b, t)`.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Linear-interpolation quantile of already sorted values, `q` in [0, 1]
/// (numpy: virtual index `(n − 1)·q`, neighbours `floor` and `floor + 1`).
fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let n = v.len();
    let virt = (n - 1) as f64 * q;
    if virt >= (n - 1) as f64 {
        return v[n - 1];
    }
    if virt <= 0.0 {
        return v[0];
    }
    let prev = virt.floor();
    let i = prev as usize;
    lerp(v[i], v[i + 1], virt - prev)
}

/// numpy `quantile(x, qs)` (method `linear`), `qs` in [0, 1].
pub fn quantiles(x: &[f64], qs: &[f64]) -> Result<Vec<f64>> {
    if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        bail!("quantiles must lie in [0, 1], got {q}");
    }
    let v = sorted(x, "a quantile")?;
    Ok(qs.iter().map(|&q| quantile_sorted(&v, q)).collect())
}

/// numpy `quantile(x, q)` (method `linear`), `q` in [0, 1].
pub fn quantile(x: &[f64], q: f64) -> Result<f64> {
    Ok(quantiles(x, &[q])?[0])
}

/// numpy `percentile(x, qs)` (method `linear`), `qs` in [0, 100]: `q / 100`, then as
/// `quantile`. E.g. the 5th and 95th percentiles of 1..=100 are 5.95 and 95.05.
pub fn percentiles(x: &[f64], qs: &[f64]) -> Result<Vec<f64>> {
    if let Some(q) = qs.iter().find(|q| !(0.0..=100.0).contains(*q)) {
        bail!("percentiles must lie in [0, 100], got {q}");
    }
    let v = sorted(x, "a percentile")?;
    Ok(qs.iter().map(|&q| quantile_sorted(&v, q / 100.0)).collect())
}

/// numpy `percentile(x, q)` (method `linear`), `q` in [0, 100].
pub fn percentile(x: &[f64], q: f64) -> Result<f64> {
    Ok(percentiles(x, &[q])?[0])
}

/// numpy `median`: the middle value, or `(a + b) / 2` of the two middle values.
pub fn median(x: &[f64]) -> Result<f64> {
    let v = sorted(x, "the median")?;
    Ok(median_sorted(&v))
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// numpy `linspace(start, stop, num)` (endpoint included): `i · step + start`, the last
/// value set to `stop` exactly; `num = 1` gives `[start]`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut y: Vec<f64> = (0..num)
        .map(|i| {
            let i = i as f64;
            if step == 0.0 {
                i / div * delta + start
            } else {
                i * step + start
            }
        })
        .collect();
    y[num - 1] = stop;
    y
}

// ------------------------------------------------------------ binned statistic

/// Which statistic `binned_statistic` computes per bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// Mean of the values in the bin (empty bin: `None`).
    Mean,
    /// Median, `(a + b) / 2` of the middle pair for even counts (empty: `None`).
    Median,
    /// Number of values (empty: 0).
    Count,
    /// Sum of the values (empty: 0).
    Sum,
    /// Population standard deviation, `ddof = 0` (empty: `None`).
    Std,
}

/// How `binned_statistic` bins `x`.
#[derive(Debug, Clone, PartialEq)]
pub enum Bins {
    /// This many equal-width bins from `min(x)` to `max(x)` (`linspace`; a constant `x`
    /// widens the range to `[x − 0.5, x + 0.5]`, as scipy does).
    Count(usize),
    /// These edges, strictly increasing.
    Edges(Vec<f64>),
}

/// Result of `binned_statistic`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinnedStatistic {
    /// One entry per bin; `None` where scipy gives NaN (an empty bin for mean, median, std).
    pub statistic: Vec<Option<f64>>,
    /// The `n_bins + 1` edges used.
    pub bin_edges: Vec<f64>,
    /// scipy's `binnumber` per sample: `i` in `1..=n_bins` for bin `i − 1`, 0 below the
    /// first edge, `n_bins + 1` beyond the last (such samples are ignored).
    pub binnumber: Vec<usize>,
}

/// numpy `around(x, decimals)`: multiply by `10^decimals`, round half to even, divide
/// (the other way round for negative `decimals`).
fn np_around(x: f64, decimals: i64) -> f64 {
    let mut f = 1.0f64;
    for _ in 0..decimals.unsigned_abs() {
        f *= 10.0;
    }
    if decimals >= 0 {
        (x * f).round_ties_even() / f
    } else {
        (x / f).round_ties_even() * f
    }
}

/// scipy `stats.binned_statistic(x, values, statistic, bins)`: bins are right-open
/// `[e_k, e_{k+1})` except the last, which is closed — and, as in scipy, also takes
/// values just above the last edge that round to it at `⌊−log10(min width)⌋ + 6`
/// decimals. Values outside the edges are ignored. Sums run in sample order as
/// `numpy.bincount` does; std is `sqrt(Σ (v − mean)² / count)`.
///
/// Errors on non-finite input, unequal lengths, no samples, zero bins, fewer than two
/// edges, and edges that are not strictly increasing (duplicate edges, e.g. from
/// percentiles of tied data, make scipy fail too).
pub fn binned_statistic(
    x: &[f64],
    values: &[f64],
    statistic: Statistic,
    bins: Bins,
) -> Result<BinnedStatistic> {
    if x.len() != values.len() {
        bail!(
            "binned_statistic: x has {} samples but values has {}",
            x.len(),
            values.len()
        );
    }
    if x.is_empty() {
        bail!("binned_statistic needs at least one sample");
    }
    check::finite(x, "binned_statistic x")?;
    check::finite(values, "binned_statistic values")?;
    let edges = match bins {
        Bins::Count(0) => bail!("binned_statistic needs at least one bin, got 0"),
        Bins::Count(nb) => {
            let mut lo = x.iter().copied().fold(f64::INFINITY, f64::min);
            let mut hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo == hi {
                lo -= 0.5;
                hi += 0.5;
            }
            linspace(lo, hi, nb + 1)
        }
        Bins::Edges(e) => {
            if e.len() < 2 {
                bail!(
                    "binned_statistic needs at least two bin edges, got {}",
                    e.len()
                );
            }
            check::finite(&e, "bin edges")?;
            if let Some(i) = (1..e.len()).find(|&i| e[i] <= e[i - 1]) {
                let kind = if e[i] == e[i - 1] {
                    "duplicate"
                } else {
                    "decreasing"
                };
                bail!(
                    "bin edges must be strictly increasing, but edges {} and {i} are {kind} \
                     ({} then {}); with percentile edges this means tied data — merge the \
                     equal edges or use fewer bins",
                    i - 1,
                    e[i - 1],
                    e[i]
                );
            }
            e
        }
    };
    let nb = edges.len() - 1;
    let last = edges[nb];
    let min_width = edges
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    if min_width <= 0.0 {
        bail!("the smallest bin width is numerically 0");
    }
    // Python's int() truncates toward zero.
    let decimal = (-min_width.log10()).trunc() as i64 + 6;
    let last_rounded = np_around(last, decimal);
    let binnumber: Vec<usize> = x
        .iter()
        .map(|&v| {
            // np.digitize(v, edges) = searchsorted(edges, v, side='right')
            let mut b = edges.partition_point(|&e| e <= v);
            if v >= last && np_around(v, decimal) == last_rounded {
                b -= 1;
            }
            b
        })
        .collect();
    // bins 0 and nb + 1 are the outliers scipy drops
    let mut count = vec![0usize; nb + 2];
    let mut sum = vec![0.0f64; nb + 2];
    for (&b, &v) in binnumber.iter().zip(values) {
        count[b] += 1;
        sum[b] += v;
    }
    let inner = 1..=nb;
    let stat: Vec<Option<f64>> = match statistic {
        Statistic::Count => inner.map(|b| Some(count[b] as f64)).collect(),
        Statistic::Sum => inner.map(|b| Some(sum[b])).collect(),
        Statistic::Mean => inner
            .map(|b| (count[b] > 0).then(|| sum[b] / count[b] as f64))
            .collect(),
        Statistic::Std => {
            let mut ss = vec![0.0f64; nb + 2];
            for (&b, &v) in binnumber.iter().zip(values) {
                let delta = v - sum[b] / count[b] as f64;
                ss[b] += delta * delta;
            }
            inner
                .map(|b| (count[b] > 0).then(|| (ss[b] / count[b] as f64).sqrt()))
                .collect()
        }
        Statistic::Median => {
            let mut members: Vec<Vec<f64>> = vec![Vec::new(); nb + 2];
            for (&b, &v) in binnumber.iter().zip(values) {
                members[b].push(v);
            }
            inner
                .map(|b| {
                    let m = &mut members[b];
                    if m.is_empty() {
                        return None;
                    }
                    m.sort_by(f64::total_cmp);
                    Some(median_sorted(m))
                })
                .collect()
        }
    };
    Ok(BinnedStatistic {
        statistic: stat,
        bin_edges: edges,
        binnumber,
    })
}

// ------------------------------------------------------------ Gaussian KDE

/// Bandwidth rule of `GaussianKde` (scipy's `bw_method`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bandwidth {
    /// `n^(−1/(d+4))` = `n^(−1/5)` in 1-D (scipy's and matplotlib's default).
    Scott,
    /// `(n (d+2) / 4)^(−1/(d+4))` = `(3n/4)^(−1/5)` in 1-D.
    Silverman,
    /// A fixed factor multiplying the data's standard deviation.
    Factor(f64),
}

/// A 1-D Gaussian kernel density estimate, scipy `stats.gaussian_kde(data, bw_method)`:
/// kernel standard deviation = `factor · sd(data)` with the `n − 1` sample variance.
#[derive(Debug, Clone)]
pub struct GaussianKde {
    data: Vec<f64>,
    weight: f64,
    /// The bandwidth factor (scipy's `factor`).
    pub factor: f64,
    /// Kernel variance `factor² · var(data)` (scipy's `covariance[0, 0]`).
    pub covariance: f64,
    /// Kernel standard deviation `factor · sd(data)` (scipy's `cho_cov[0, 0]`).
    pub bandwidth: f64,
}

impl GaussianKde {
    /// Build the estimate. Errors on fewer than 2 values, non-finite values, a
    /// non-positive or non-finite fixed factor, and constant data, whose covariance is
    /// singular (scipy: "the data appears to lie in a lower-dimensional subspace").
    pub fn new(data: &[f64], bw: Bandwidth) -> Result<GaussianKde> {
        let n = data.len();
        if n < 2 {
            bail!("a Gaussian KDE needs at least 2 values, got {n}");
        }
        check::finite(data, "KDE data")?;
        if data.iter().all(|&v| v == data[0]) {
            bail!(
                "KDE data are constant (all {n} values equal {}): the data covariance is \
                 singular (zero variance), so no Gaussian kernel width can be derived",
                data[0]
            );
        }
        // scipy: weights = 1/n each, neff = 1 / Σ w².
        let w = 1.0 / n as f64;
        let w_sum: f64 = data.iter().map(|_| w).sum();
        let w2: f64 = data.iter().map(|_| w * w).sum();
        let neff = 1.0 / w2;
        let factor = match bw {
            Bandwidth::Scott => neff.powf(-1.0 / 5.0),
            Bandwidth::Silverman => (neff * 3.0 / 4.0).powf(-1.0 / 5.0),
            Bandwidth::Factor(f) => {
                if !(f.is_finite() && f > 0.0) {
                    bail!("the KDE bandwidth factor must be positive and finite, got {f}");
                }
                f
            }
        };
        // numpy cov(data, aweights=w, bias=False).
        let avg = data.iter().map(|&v| v * w).sum::<f64>() / w_sum;
        let fact = w_sum - w2 / w_sum;
        let var = data
            .iter()
            .map(|&v| (v - avg) * ((v - avg) * w))
            .sum::<f64>()
            * (1.0 / fact);
        if var.is_nan() || var <= 0.0 {
            bail!("KDE data have zero variance: the data covariance is singular");
        }
        let sd = var.sqrt() * factor;
        Ok(GaussianKde {
            data: data.to_vec(),
            weight: w,
            factor,
            covariance: var * factor * factor,
            bandwidth: sd,
        })
    }

    /// Density at each point (scipy's `evaluate`: whitened residuals, kernels summed in
    /// data order, each scaled by `(2π)^(−1/2) / bandwidth` and weight `1/n`).
    pub fn evaluate(&self, points: &[f64]) -> Result<Vec<f64>> {
        check::finite(points, "KDE evaluation points")?;
        let h = self.bandwidth;
        let norm = (2.0 * std::f64::consts::PI).powf(-0.5) / h;
        let white: Vec<f64> = self.data.iter().map(|&v| v / h).collect();
        Ok(points
            .iter()
            .map(|&p| {
                let pw = p / h;
                white
                    .iter()
                    .map(|&xw| {
                        let r = xw - pw;
                        self.weight * ((-(r * r) / 2.0).exp() * norm)
                    })
                    .sum()
            })
            .collect())
    }
}

/// What matplotlib's `violinplot` draws for one dataset (`cbook.violin_stats` with its
/// KDE method): the density `vals` at `coords = linspace(min, max, points)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolinStats {
    pub coords: Vec<f64>,
    pub vals: Vec<f64>,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// matplotlib `violinplot(data, points=points, bw_method=bw)` statistics (its default is
/// 100 points, Scott). matplotlib's own KDE has scipy's formula. As matplotlib does,
/// constant data (where a KDE is undefined) give `vals = 1` at the single value instead
/// of an error.
pub fn violin_stats(data: &[f64], points: usize, bw: Bandwidth) -> Result<ViolinStats> {
    if points < 2 {
        bail!("a violin needs at least 2 grid points, got {points}");
    }
    let v = sorted(data, "a violin")?;
    let (min, max) = (v[0], v[v.len() - 1]);
    let coords = linspace(min, max, points);
    let vals = if min == max {
        coords
            .iter()
            .map(|&c| if c == min { 1.0 } else { 0.0 })
            .collect()
    } else {
        GaussianKde::new(data, bw)?.evaluate(&coords)?
    };
    Ok(ViolinStats {
        coords,
        vals,
        mean: data.iter().sum::<f64>() / data.len() as f64,
        median: median_sorted(&v),
        min,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn around_matches_numpy_half_even() {
        assert_eq!(np_around(2.5, 0), 2.0);
        assert_eq!(np_around(10.0000000001, 6), 10.0);
        assert_eq!(np_around(1234.0, -2), 1200.0);
    }

    #[test]
    fn lerp_switches_side_at_half() {
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 0.75), 2.5);
    }
}
