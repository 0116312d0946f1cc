//! The numerical helpers of project 28: per-layer rank and effective dimensionality of a
//! column-centred token × dimension matrix (via `common::ml::decomposition::Spectrum`),
//! the Freedman–Diaconis density histogram, the seeded permutation and the maximum
//! log-softmax per position.

use anyhow::{Context, Result};
use common::ml::decomposition::{Centring, Spectrum, EPS_F32};
use common::plot::{histogram_counts, Bins};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Kind, Tensor};

/// The variance threshold (percent) of the effective dimensionality.
pub const THRESHOLD: f64 = 95.0;

/// What Part 3 measures in one hidden state.
pub struct LayerDims {
    /// Numerical rank of the column-centred matrix (tolerance σ_max · max(n, d) · ε_f32).
    pub rank: usize,
    /// 0-based index of the first component whose cumulative % exceeds 95 (the
    /// reference's "effective dimensionality": components needed minus one).
    pub eff: usize,
    /// Percent and cumulative percent variance per component.
    pub spectrum: Spectrum,
}

/// A `[n, d]` tensor as an f64 matrix.
pub fn to_array(x: &Tensor) -> Result<Array2<f64>> {
    let s = x.size();
    anyhow::ensure!(s.len() == 2, "expected a matrix, got shape {s:?}");
    let v = Vec::<f64>::try_from(x.to_kind(Kind::Double).contiguous().flatten(0, -1))?;
    Ok(Array2::from_shape_vec((s[0] as usize, s[1] as usize), v)?)
}

/// Column-centre `x` (`[tokens, d]`), take its singular values, and measure rank and the
/// 95 % effective dimensionality.
pub fn layer_dims(x: &Array2<f64>) -> Result<LayerDims> {
    let spectrum = Spectrum::of(x.view(), Centring::Columns)?;
    let rank = spectrum.rank(EPS_F32);
    let eff = spectrum
        .first_index_above(THRESHOLD)
        .context("effective dimensionality")?;
    Ok(LayerDims {
        rank,
        eff,
        spectrum,
    })
}

/// A density-normalised histogram with numpy's 'fd' bins: `(left edges, density, edges)`.
pub fn fd_density(v: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (edges, counts) = histogram_counts(v, &Bins::FreedmanDiaconis);
    let n: f64 = counts.iter().sum();
    let dens = counts
        .iter()
        .zip(edges.windows(2))
        .map(|(c, e)| c / (n * (e[1] - e[0])))
        .collect();
    (edges[..edges.len() - 1].to_vec(), dens, edges)
}

/// A random permutation of `ids` (the reference's unseeded `torch.randperm`, seeded here).
pub fn shuffled(ids: &[u32], seed: u64) -> Vec<u32> {
    let mut v = ids.to_vec();
    v.shuffle(&mut StdRng::seed_from_u64(seed));
    v
}

/// Positions per chunk of [`max_log_softmax`]: Pythia's 2,048 × 50,304 logits in float64
/// would take 824 MB at once; 256 positions take 103 MB.
const LOGIT_CHUNK: i64 = 256;

/// The maximum log-softmax value at every position of `logits` `[1, T, V]`, in float64,
/// a chunk of positions at a time.
pub fn max_log_softmax(logits: &Tensor) -> Result<Vec<f64>> {
    let l = logits.squeeze_dim(0);
    let t = l.size()[0];
    let mut out = Vec::with_capacity(t as usize);
    let mut a = 0;
    while a < t {
        let len = LOGIT_CHUNK.min(t - a);
        let ls = l
            .narrow(0, a, len)
            .to_kind(Kind::Double)
            .log_softmax(-1, Kind::Double);
        let (m, _) = ls.max_dim(-1, false);
        out.extend(Vec::<f64>::try_from(m.to_device(tch::Device::Cpu))?);
        a += len;
    }
    Ok(out)
}

/// The number of distinct values.
pub fn unique_count(ids: &[u32]) -> usize {
    ids.iter().collect::<std::collections::BTreeSet<_>>().len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, StandardNormal};

    /// Offline check 1: variance spread equally over k = 10 orthogonal directions.
    #[test]
    fn equal_variance_directions() {
        // 20 rows: rows 2i and 2i+1 are +e_i and -e_i (i < 10) in 30 dimensions, so the
        // columns are already centred and each of 10 directions holds 10 % of the variance.
        let mut x = Array2::<f64>::zeros((20, 30));
        for i in 0..10 {
            x[[2 * i, i]] = 3.0;
            x[[2 * i + 1, i]] = -3.0;
        }
        let d = layer_dims(&x).unwrap();
        let cum: Vec<f64> = d.spectrum.cumulative_percent.iter().copied().collect();
        for (i, c) in cum.iter().take(10).enumerate() {
            assert!((c - 10.0 * (i + 1) as f64).abs() < 1e-9, "cum[{i}] = {c}");
        }
        assert_eq!(d.eff, 9);
        assert!((d.spectrum.percent.sum() - 100.0).abs() < 1e-9);
        assert_eq!(d.rank, 10);
    }

    /// Offline check 2: Gaussian N x D (N < D) has rank N - 1 after centring;
    /// duplicated rows give unique rows - 1.
    #[test]
    fn rank_after_centring() {
        let mut rng = StdRng::seed_from_u64(3);
        let (n, dim) = (12, 40);
        let g: Vec<f64> = (0..n * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let x = Array2::from_shape_vec((n, dim), g).unwrap();
        assert_eq!(layer_dims(&x).unwrap().rank, n - 1);
        // 12 rows drawn from 5 distinct rows
        let pick = [0, 1, 2, 3, 4, 0, 0, 2, 4, 4, 1, 3];
        let mut y = Array2::<f64>::zeros((12, dim));
        for (r, &p) in pick.iter().enumerate() {
            y.row_mut(r).assign(&x.row(p));
        }
        assert_eq!(layer_dims(&y).unwrap().rank, 5 - 1);
    }

    /// Offline check 5: numpy's 'fd' edges for 1..100.
    #[test]
    fn freedman_diaconis_edges() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let w = common::plot::freedman_diaconis_width(&v).unwrap();
        assert!((w - 2.0 * 49.5 * 100f64.powf(-1.0 / 3.0)).abs() < 1e-12);
        assert!((w - 21.33).abs() < 0.01, "{w}");
        let (left, dens, edges) = fd_density(&v);
        // numpy: np.histogram_bin_edges(np.arange(1, 101), 'fd') = linspace(1, 100, 6)
        let want = [1.0, 20.8, 40.6, 60.4, 80.2, 100.0];
        assert_eq!(edges.len(), 6);
        for (e, w) in edges.iter().zip(want) {
            assert!((e - w).abs() < 1e-9, "{edges:?}");
        }
        assert_eq!(left.len(), 5);
        let area: f64 = dens.iter().map(|d| d * 19.8).sum();
        assert!((area - 1.0).abs() < 1e-12);
        // 1..20 (20 values) in the first bin: 20 / (100 * 19.8)
        assert!((dens[0] - 20.0 / 1980.0).abs() < 1e-12);
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let ids: Vec<u32> = (0..50).map(|i| i % 7).collect();
        let s = shuffled(&ids, 1);
        assert_ne!(s, ids);
        let (mut a, mut b) = (ids.clone(), s);
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }
}
