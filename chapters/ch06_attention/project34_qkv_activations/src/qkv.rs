//! The batch of target contexts, and the statistics the parts compute on the fused QKV
//! activations.
//!
//! GPT-2's attention starts with one linear layer, `attn.c_attn`, that maps the layer-normed
//! residual stream `[batch, pos, d]` to `[batch, pos, 3d]`: queries in columns `0..d`,
//! keys in `d..2d`, values in `2d..3d`, and inside each block head `h` owns the `d_head`
//! columns `h * d_head ..`. common's hook points `attn.hook_q`, `hook_k`, `hook_v`
//! (`[batch, pos, heads, d_head]`) are exactly these three blocks, viewed per head (the
//! queries before the 1/sqrt(d_head) scaling of the scores).

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

/// The three matrices, in the order `c_attn` outputs them.
pub const MATRICES: [&str; 3] = ["Q", "K", "V"];
/// The three descriptive features of Parts 2 and 3.
pub const FEATURES: [&str; 3] = ["Arithmetic mean", "L1 mean", "Variance"];
/// The two categories: the target token (position -1) and the token before it (-2).
pub const CATEGORIES: [&str; 2] = ["Target", "Non-target"];

/// Every position of `stream` that holds `target` (exact id match).
pub fn find_targets(stream: &[u32], target: u32) -> Vec<usize> {
    stream
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == target)
        .map(|(i, _)| i)
        .collect()
}

/// The rows of the batch: for each target position `p >= context`, the tokens
/// `stream[p - context ..= p]` (`context + 1` tokens, the target last). Positions with
/// fewer than `context` tokens before them are dropped. Returns the kept positions and
/// their rows.
pub fn build_batch(
    stream: &[u32],
    positions: &[usize],
    context: usize,
) -> (Vec<usize>, Vec<Vec<u32>>) {
    let kept: Vec<usize> = positions
        .iter()
        .copied()
        .filter(|&p| p >= context && p < stream.len())
        .collect();
    let rows = kept
        .iter()
        .map(|&p| stream[p - context..=p].to_vec())
        .collect();
    (kept, rows)
}

/// Q, K, V: the three blocks of width `d` of the last axis of a fused activation
/// `[.., 3d]` (views, no copy).
pub fn split_qkv(fused: &Tensor) -> Result<[Tensor; 3]> {
    let last = *fused.size().last().unwrap_or(&0);
    ensure!(
        last > 0 && last % 3 == 0,
        "a fused QKV activation has 3d columns, got shape {:?}",
        fused.size()
    );
    let d = last / 3;
    Ok([0, 1, 2].map(|i| fused.narrow(-1, i * d, d)))
}

/// `[n, pos, d]` -> `[n, pos, heads, d_head]`: head `h` = columns `h * d_head ..`.
pub fn split_heads(x: &Tensor, n_heads: i64) -> Result<Tensor> {
    let s = x.size();
    ensure!(
        s.len() == 3 && n_heads > 0 && s[2] % n_heads == 0,
        "{s:?} does not split into {n_heads} heads (expected [n, pos, d], d divisible)"
    );
    Ok(x.reshape([s[0], s[1], n_heads, s[2] / n_heads]))
}

/// Mean, mean absolute value ("L1 mean") and unbiased variance of each row of `x`
/// `[n, d]` (over its `d` values), each averaged over the `n` rows (float64).
pub fn row_features(x: &Tensor) -> [f64; 3] {
    let x = x.to_kind(Kind::Double);
    let avg = |t: Tensor| t.mean(Kind::Double).double_value(&[]);
    let dims = [1i64].as_slice();
    [
        avg(x.mean_dim(dims, false, Kind::Double)),
        avg(x.abs().mean_dim(dims, false, Kind::Double)),
        avg(x.var_dim(dims, true, false)),
    ]
}

/// The 2 x 3 table of one matrix of one layer: `[target, non-target]` x `[mean, L1 mean,
/// variance]`, from `x` `[n, pos, d]` at positions -1 (target) and -2 (non-target).
pub fn descriptives(x: &Tensor) -> Result<[[f64; 3]; 2]> {
    let s = x.size();
    ensure!(
        s.len() == 3 && s[1] >= 2,
        "descriptives need [n, pos >= 2, d], got {s:?}"
    );
    let at = |p: i64| row_features(&x.select(1, s[1] + p));
    Ok([at(-1), at(-2)])
}

/// Per-head variability across tokens: `x` `[n, pos, d]` split into heads
/// `[n, pos, heads, d_head]`, the unbiased standard deviation over the `pos` axis
/// (`[n, heads, d_head]`), summed (float64). Returns the sum and the number of values, so
/// that chunks of sequences add up to the mean over all of them.
pub fn token_std_sum(x: &Tensor, n_heads: i64) -> Result<(f64, i64)> {
    let heads = split_heads(&x.to_kind(Kind::Double), n_heads)?;
    let sd = heads.std_dim([1i64].as_slice(), true, false); // [n, heads, d_head]
    Ok((sd.sum(Kind::Double).double_value(&[]), sd.numel() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::plot::{density_histogram, Bins};

    fn t(rows: &[&[f64]]) -> Tensor {
        let cols = rows[0].len() as i64;
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).view([rows.len() as i64, cols])
    }

    /// Offline check 1 on a synthetic stream: rows of 51 tokens ending in the target,
    /// equal to stream[p-50..=p]; targets before position 50 are dropped.
    #[test]
    fn batch_from_a_synthetic_stream() {
        let target = 588u32;
        // ids 1000.. with the target at 3, 49, 50, 51, 120 and 199 (the last token)
        let mut stream: Vec<u32> = (0..200).map(|i| 1000 + i).collect();
        let at = [3usize, 49, 50, 51, 120, 199];
        for &p in &at {
            stream[p] = target;
        }
        let found = find_targets(&stream, target);
        assert_eq!(found, at);
        let (kept, rows) = build_batch(&stream, &found, 50);
        assert_eq!(kept, [50, 51, 120, 199]);
        assert_eq!(rows.len(), 4);
        for (p, row) in kept.iter().zip(&rows) {
            assert_eq!(row.len(), 51);
            assert_eq!(*row.last().unwrap(), target);
            assert_eq!(row[..], stream[p - 50..p + 1]);
            assert_eq!(row[0], stream[p - 50]);
        }
        // the row of target 51 holds the target 50 at column 49 (the non-target slot)
        assert_eq!(rows[1][49], target);
        // only exact ids count: 587 and 589 are other tokens
        assert!(find_targets(&[587, 589, 5880], target).is_empty());
        let (kept, rows) = build_batch(&stream, &[10, 20], 50);
        assert!(kept.is_empty() && rows.is_empty());
    }

    /// Offline check 4: constant rows give mean = L1 mean = the constant and variance 0;
    /// the row [-1, 1] gives mean 0, L1 mean 1, unbiased variance 2.
    #[test]
    fn descriptive_features_of_known_rows() {
        let c = row_features(&t(&[&[2.5; 7], &[2.5; 7]]));
        assert_eq!(c, [2.5, 2.5, 0.0]);
        let c = row_features(&t(&[&[-3.0; 4]]));
        assert_eq!(c, [-3.0, 3.0, 0.0]);
        let r = row_features(&t(&[&[-1.0, 1.0]]));
        assert_eq!(r, [0.0, 1.0, 2.0]);
        // averaged over rows: ([-1, 1] and [1, 3]) -> means 0, 2; L1 1, 2; variances 2, 2
        let r = row_features(&t(&[&[-1.0, 1.0], &[1.0, 3.0]]));
        assert_eq!(r, [1.0, 1.5, 2.0]);
        // the 2 x 3 table takes position -1 as the target, -2 as the non-target
        let x = Tensor::from_slice(&[9.0, 9.0, -1.0, 1.0, 4.0, 4.0]).view([1, 3, 2]);
        let d = descriptives(&x).unwrap();
        assert_eq!(d, [[4.0, 4.0, 0.0], [0.0, 1.0, 2.0]]);
        assert!(descriptives(&Tensor::zeros([2, 1, 4], (Kind::Double, tch::Device::Cpu))).is_err());
    }

    /// Offline check 5: a density over edges covering every value integrates to 1 and
    /// matches counts / (n x width); values outside the edges are ignored; a constant-
    /// over-tokens input has per-head token stdev 0.
    #[test]
    fn densities_and_token_stdev() {
        // the histogram is common::plot's, over fixed edges
        let density = |v: &[f64], e: &[f64]| density_histogram(v, &Bins::Edges(e.to_vec())).1;
        let v: Vec<f64> = (0..997)
            .map(|i| ((i * 7919) % 997) as f64 / 997.0 * 6.0 - 3.0)
            .collect();
        let edges = common::stats::linspace(-7.0, 7.0, 234);
        let dens = density(&v, &edges);
        assert_eq!(dens.len(), 233);
        let area: f64 = dens
            .iter()
            .zip(edges.windows(2))
            .map(|(d, w)| d * (w[1] - w[0]))
            .sum();
        assert!((area - 1.0).abs() < 1e-12, "{area}");
        // [0, 1) holds 0.2 and 0.5, [1, 2] holds 1.5 and 2 (the last bin is closed); 9 and
        // -5 are outside and ignored
        let dens = density(&[0.2, 0.5, 1.5, 2.0, 9.0, -5.0], &[0.0, 1.0, 2.0]);
        assert_eq!(dens, [0.5, 0.5]);
        assert_eq!(density(&[5.0], &[0.0, 1.0]), [0.0]);

        // [2 seqs, 5 tokens, 8 dims], the same vector at every token
        let row = Tensor::from_slice(&[1.0, -2.0, 3.0, 0.5, 7.0, -1.0, 0.0, 2.0]);
        let x = row.view([1, 1, 8]).expand([2, 5, 8], false).contiguous();
        let (sum, n) = token_std_sum(&x, 2).unwrap();
        assert_eq!((sum, n), (0.0, 2 * 2 * 4));
        // tokens 0..4 in one dim: unbiased std of 0, 1, 2, 3, 4 = sqrt(2.5)
        let ramp = Tensor::arange(5, (Kind::Double, tch::Device::Cpu)).view([1, 5, 1]);
        let (sum, n) = token_std_sum(&ramp, 1).unwrap();
        assert_eq!(n, 1);
        assert!((sum - 2.5f64.sqrt()).abs() < 1e-15);
        assert!(token_std_sum(&x, 3).is_err());
    }

    /// Q | K | V split at d and 2d, heads as contiguous column blocks.
    #[test]
    fn splits_index_the_documented_columns() {
        let (d, h) = (8i64, 2i64);
        let fused =
            Tensor::arange(2 * 3 * 3 * d, (Kind::Double, tch::Device::Cpu)).view([2, 3, 3 * d]); // [n, pos, 3d]: value = its flat index
        let [q, k, v] = split_qkv(&fused).unwrap();
        for (i, m) in [&q, &k, &v].iter().enumerate() {
            assert_eq!(m.size(), [2, 3, d]);
            for c in 0..d {
                let want = fused.select(2, i as i64 * d + c);
                assert!(m.select(2, c).equal(&want), "{} column {c}", MATRICES[i]);
            }
        }
        let heads = split_heads(&k, h).unwrap(); // [2, 3, h, d/h]
        for head in 0..h {
            for j in 0..d / h {
                let col = d + head * (d / h) + j; // K starts at d
                assert!(heads
                    .select(2, head)
                    .select(2, j)
                    .equal(&fused.select(2, col)));
            }
        }
        assert!(split_qkv(&Tensor::zeros([2, 5], (Kind::Float, tch::Device::Cpu))).is_err());
        assert!(split_heads(&q, 3).is_err());
    }
}
