//! Scrambling one head at a time, batched the way `common::patching::head_patch_sweep`
//! batches head patching.
//!
//! The input of `attn.c_proj` viewed as `[batch, pos, n_heads, d_head]` is the hook point
//! `blocks.{l}.attn.hook_z`. A scrambled run of block `l` sees the clean residual stream
//! up to block `l` (nothing before it changed), so one clean run caches every block's
//! input and every head's `hook_z`; then, for each layer, the `n_heads` scrambled runs go
//! as one batch (variant `h` has head `h` scrambled) that starts at block `l` from the
//! cached residual stream and computes logits at the last position only.

use anyhow::{anyhow, bail, Result};
use common::{Batch, Hook, HookedModel, LogitsAt, Names, RunOptions};
use tch::{Kind, Tensor};

/// What the scramble sweep gives back.
pub struct Scrambled {
    /// Metric per (layer, head): `[n_layers][n_heads]`.
    pub scores: Vec<Vec<f64>>,
    /// Frobenius norm of each head's `[pos, d_head]` values in the clean run
    /// (unchanged by a permutation): `[n_layers][n_heads]`.
    pub norms: Vec<Vec<f64>>,
    /// Block passes the batched runs computed (the clean caching run not counted).
    pub blocks_run: usize,
}

/// `z` (`[1, pos, n_heads, d_head]`) repeated `n_heads` times, variant `h` with head `h`'s
/// `pos * d_head` values (flattened position-major) reordered by `perms[h]`:
/// `out[h, :, h, :].flatten()[i] = z[0, :, h, :].flatten()[perms[h][i]]`.
/// Returns `[n_heads, pos, n_heads, d_head]`.
pub fn scrambled_variants(z: &Tensor, perms: &[Vec<i64>]) -> Result<Tensor> {
    let s = z.size();
    if s.len() != 4 || s[0] != 1 {
        bail!("expected hook_z of one sequence [1, pos, heads, d_head], got {s:?}");
    }
    let (t, nh, dh) = (s[1], s[2], s[3]);
    if perms.len() as i64 != nh {
        bail!("{} permutations for {nh} heads", perms.len());
    }
    let out = z.expand([nh, t, nh, dh], false).contiguous();
    for (h, perm) in perms.iter().enumerate() {
        if perm.len() as i64 != t * dh {
            bail!(
                "permutation of head {h} has {} entries, the head has {} values",
                perm.len(),
                t * dh
            );
        }
        let h = h as i64;
        let idx = Tensor::from_slice(perm).to_device(z.device());
        let vals = z.get(0).select(1, h).reshape([t * dh]); // [pos * d_head]
        let scrambled = vals.index_select(0, &idx).view([t, dh]);
        out.get(h).select(1, h).copy_(&scrambled);
    }
    Ok(out)
}

/// For every (layer, head): scramble that head's `hook_z` in a run of `clean` with
/// `perms[layer][head]` and score the last-position logits with `metric` (last-position
/// logits `[n, vocab]` -> `[n]`).
pub fn scramble_sweep(
    model: &HookedModel,
    clean: &Batch,
    perms: &[Vec<Vec<i64>>],
    metric: impl Fn(&Tensor) -> Result<Tensor>,
    mut progress: impl FnMut(),
) -> Result<Scrambled> {
    if clean.size() != 1 {
        bail!("scramble_sweep takes one sequence");
    }
    let (n_layers, n_heads) = (model.cfg.n_layers, model.cfg.n_heads);
    if perms.len() != n_layers {
        bail!(
            "{} layers of permutations for {n_layers} blocks",
            perms.len()
        );
    }
    let names = Names::matching("blocks.*.attn.hook_z").and("blocks.*.hook_resid_pre");
    let cache = model
        .run(
            clean,
            &RunOptions::default().cache(names).logits(LogitsAt::None),
        )?
        .cache;
    let ids: Vec<u32> = common::device::to_vec_i64(&clean.ids)?
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let variants = Batch::from_ids(&vec![ids; n_heads], 0, clean.padding)?;
    let (mut scores, mut norms, mut blocks_run) = (vec![], vec![], 0);
    for (l, layer_perms) in perms.iter().enumerate() {
        let name = format!("blocks.{l}.attn.hook_z");
        let z = cache.get(&name)?; // [1, pos, n_heads, d_head]
        let per_head = z.get(0).to_kind(Kind::Double).transpose(0, 1); // [n_heads, pos, d_head]
        let norm = per_head
            .square()
            .sum_dim_intlist([1i64, 2].as_slice(), false, Kind::Double)
            .sqrt();
        norms.push(common::device::to_vec_f64(&norm)?);
        let zv = scrambled_variants(z, layer_perms)?;
        let resid = cache.get(&format!("blocks.{l}.hook_resid_pre"))?.expand(
            [n_heads as i64, clean.seq_len(), model.cfg.d_model as i64],
            false,
        );
        let hooks = [Hook::replace(&name, zv)];
        let out = model.run(
            &variants,
            &RunOptions::default()
                .start_at(l, resid.contiguous())
                .hooks(&hooks)
                .logits(LogitsAt::Last),
        )?;
        blocks_run += out.blocks_run.len();
        let logits = out.logits.ok_or_else(|| anyhow!("no logits"))?; // [n_heads, vocab]
        let s = metric(&logits)?;
        if s.size() != [n_heads as i64] {
            bail!(
                "the metric returned shape {:?}, expected [{n_heads}]",
                s.size()
            );
        }
        scores.push(common::device::to_vec_f64(&s)?);
        progress();
    }
    Ok(Scrambled {
        scores,
        norms,
        blocks_run,
    })
}

/// Ratio of the mean of the two largest to the mean of the two smallest values
/// (`None` with fewer than 2 values).
pub fn selectivity_ratio(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some((s[n - 1] + s[n - 2]) / (s[0] + s[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn variants_scramble_only_their_own_head() {
        // [1, pos 3, heads 2, d_head 2], values 0..12
        let z = Tensor::arange(12, (Kind::Float, Device::Cpu)).view([1, 3, 2, 2]);
        let perms = vec![vec![5i64, 4, 3, 2, 1, 0], vec![0i64, 1, 2, 3, 4, 5]];
        let v = scrambled_variants(&z, &perms).unwrap();
        assert_eq!(v.size(), [2, 3, 2, 2]);
        let head0: Vec<f32> = Vec::try_from(v.get(0).select(1, 0).reshape([-1])).unwrap();
        // head 0's values position-major: 0,1,4,5,8,9 -> reversed
        assert_eq!(head0, vec![9., 8., 5., 4., 1., 0.]);
        // variant 0 leaves head 1 alone; variant 1 (identity) equals z
        let other: Vec<f32> = Vec::try_from(v.get(0).select(1, 1).reshape([-1])).unwrap();
        assert_eq!(other, vec![2., 3., 6., 7., 10., 11.]);
        assert_eq!((v.get(1) - z.get(0)).abs().max().double_value(&[]), 0.0);
        assert!(scrambled_variants(&z, &perms[..1]).is_err());
    }

    #[test]
    fn selectivity_ratio_closed_form() {
        assert_eq!(selectivity_ratio(&[4.0, 1.0, 3.0, 2.0]), Some(7.0 / 3.0));
        assert_eq!(selectivity_ratio(&[1.0]), None);
    }
}
