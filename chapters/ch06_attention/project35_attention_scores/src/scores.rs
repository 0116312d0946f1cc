//! The score arithmetic of the parts: per-head views of Q and K, scaled dot products,
//! the causal softmax, the pools the strip plots show, and numpy-style densities.
//!
//! Q and K are the first two `d`-wide blocks of GPT-2's `attn.c_attn` output, which are
//! exactly common's `attn.hook_q` / `attn.hook_k` (`[batch, pos, heads, d_head]`); head
//! `h` owns columns `h * d_head .. (h + 1) * d_head`.

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

/// `x` `[T, d]` -> `[H, T, d_head]` (head h = columns h*d_head..).
pub fn heads(x: &Tensor, n_heads: i64) -> Result<Tensor> {
    let (t, d) = x.size2()?;
    ensure!(
        n_heads > 0 && d % n_heads == 0,
        "[{t}, {d}] does not split into {n_heads} heads"
    );
    Ok(x.view([t, n_heads, d / n_heads]).permute([1, 0, 2]))
}

/// Scaled scores of every head, no mask: `Q_h K_h^T / sqrt(d_head)` -> `[H, T, T]`.
pub fn head_scores(q: &Tensor, k: &Tensor, n_heads: i64) -> Result<Tensor> {
    let (qh, kh) = (heads(q, n_heads)?, heads(k, n_heads)?);
    let dh = qh.size()[2] as f64;
    Ok(qh.matmul(&kh.transpose(1, 2)) / dh.sqrt())
}

/// `s` `[.., T, T]` with -inf strictly above the diagonal (a query sees itself and
/// earlier keys).
pub fn causal_mask(s: &Tensor) -> Tensor {
    let t = *s.size().last().unwrap_or(&0);
    let above = Tensor::ones([t, t], (Kind::Bool, s.device())).triu(1);
    s.masked_fill(&above, f64::NEG_INFINITY)
}

/// Row-wise (key-axis) softmax of the causally masked scores, `[.., T, T]`.
pub fn causal_softmax(s: &Tensor) -> Tensor {
    causal_mask(s).softmax(-1, s.kind())
}

/// Parts 4 and 5: the final query of head qi against keys 1..T-2 of head ki, scaled.
/// Returns (within: qi == ki, `H * (T-2)` values; across: qi != ki, `H * (H-1) * (T-2)`),
/// both ordered by query head, then key head, then key position.
pub fn final_query_pools(q: &Tensor, k: &Tensor, n_heads: i64) -> Result<(Vec<f64>, Vec<f64>)> {
    let (qh, kh) = (heads(q, n_heads)?, heads(k, n_heads)?); // [H, T, dh]
    let (_, t, dh) = qh.size3()?;
    ensure!(t >= 3, "the pools need at least 3 tokens, got {t}");
    let q_last = qh.select(1, t - 1); // [H, dh]
    let k_mid = kh.narrow(1, 1, t - 2); // [H, T-2, dh]
                                        // dp[qi, ki, pos] = Q_qi[T-1] . K_ki[pos] / sqrt(dh)
    let dp = Tensor::einsum("qc,kpc->qkp", &[q_last, k_mid], None::<i64>) / (dh as f64).sqrt();
    let dp = Vec::<f64>::try_from(dp.to_kind(Kind::Double).flatten(0, -1))?;
    let n = (t - 2) as usize;
    let h = n_heads as usize;
    let (mut within, mut across) = (vec![], vec![]);
    for qi in 0..h {
        for ki in 0..h {
            let row = &dp[(qi * h + ki) * n..(qi * h + ki + 1) * n];
            if qi == ki { &mut within } else { &mut across }.extend_from_slice(row);
        }
    }
    Ok((within, across))
}

/// Part 7's three pools from the causal attention `a` `[H, T, T]`: final token to every
/// earlier token (`A_h[T-1, 0..T-1]`), self-attention of tokens 1.. (diagonal of
/// `A_h[1:, 1:]`), and the first token's self-attention `A_h[0, 0]`; head-major.
pub fn attention_pools(a: &Tensor) -> Result<[Vec<f64>; 3]> {
    let (_, t, _) = a.size3()?;
    ensure!(t >= 2, "the pools need at least 2 tokens, got {t}");
    let a = a.to_kind(Kind::Double);
    let final_prev = a.select(1, t - 1).narrow(1, 0, t - 1).flatten(0, -1);
    let self_other = a
        .narrow(1, 1, t - 1)
        .narrow(2, 1, t - 1)
        .diagonal(0, 1, 2)
        .flatten(0, -1);
    let first = a.select(1, 0).select(1, 0);
    Ok([
        Vec::<f64>::try_from(final_prev)?,
        Vec::<f64>::try_from(self_other)?,
        Vec::<f64>::try_from(first)?,
    ])
}

/// Population standard deviation (ddof = 0).
pub fn pop_std(v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_demo_rows_are_uniform_over_allowed_keys() {
        let a = causal_softmax(&Tensor::zeros([5, 5], (Kind::Double, tch::Device::Cpu)));
        for i in 0..5i64 {
            for j in 0..5i64 {
                let want = if j <= i { 1.0 / (i + 1) as f64 } else { 0.0 };
                assert!((a.double_value(&[i, j]) - want).abs() < 1e-15, "{i},{j}");
            }
        }
    }

    #[test]
    fn pools_have_the_closed_form_sizes() {
        let (t, h, dh) = (9, 3, 4);
        let opts = (Kind::Double, tch::Device::Cpu);
        let q = Tensor::randn([t, h * dh], opts);
        let k = Tensor::randn([t, h * dh], opts);
        let (w, a) = final_query_pools(&q, &k, h).unwrap();
        assert_eq!(w.len() as i64, h * (t - 2));
        assert_eq!(a.len() as i64, h * (h - 1) * (t - 2));
        // within head 1, key position 1 (the first kept key) by hand
        let qh = q.select(0, t - 1).narrow(0, dh, dh);
        let kh = k.select(0, 1).narrow(0, dh, dh);
        let want = qh.dot(&kh).double_value(&[]) / (dh as f64).sqrt();
        assert!((w[(t - 2) as usize] - want).abs() < 1e-12);
        let pools = attention_pools(&causal_softmax(&head_scores(&q, &k, h).unwrap())).unwrap();
        assert_eq!(
            pools.clone().map(|p| p.len() as i64),
            [h * (t - 1), h * (t - 1), h]
        );
        assert!(pools[2].iter().all(|&v| v == 1.0));
    }

    /// Offline check 3: for random Q, K [T, H*hd], the mean over heads of
    /// Q_h K_h^T / sqrt(hd) equals Q K^T / (sqrt(hd) * H) to 1e-5 (relative).
    #[test]
    fn head_average_equals_full_product() {
        tch::manual_seed(11);
        let (t, h, dh) = (20, 6, 8);
        let opts = (Kind::Float, tch::Device::Cpu);
        let q = Tensor::randn([t, h * dh], opts);
        let k = Tensor::randn([t, h * dh], opts);
        let each = head_scores(&q, &k, h)
            .unwrap()
            .mean_dim(0, false, Kind::Float);
        let all = q.matmul(&k.tr()) / ((dh as f64).sqrt() * h as f64);
        let scale = all.abs().max().double_value(&[]);
        let err = (each - &all).abs().max().double_value(&[]);
        assert!(err <= 1e-5 * scale, "{err} vs scale {scale}");
        // unequal head widths would break it: the mean of group means is not the grand mean
        assert_ne!((1.5 + 4.0) / 2.0, 3.0);
    }
}
