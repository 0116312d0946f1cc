//! Activation patching sweeps that do only the work that changes.
//!
//! The book's notebooks patch one head at a time: 144 full forward passes for GPT-2
//! small, each re-running the blocks before the patched one although nothing there
//! changed, and each computing logits at every position. [`head_patch_sweep`] gives the
//! same numbers with less work: one clean and one corrupted run cache the residual
//! stream and every head's output; then, for each layer, all of that layer's head
//! patches run together as one batch (variant `h` has head `h` patched) that starts at
//! the layer's cached residual stream and computes logits at the last position only.

use crate::hooks::{Hook, Names};
use crate::model::{Batch, HookedModel, LogitsAt, RunOptions};
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// For every (layer, head): patch that head's `hook_z` from the `corrupt` run into the
/// `clean` run and score the last-position logits with `metric`.
///
/// `clean` and `corrupt` are single sequences of the same length. `metric` maps
/// last-position logits `[n, vocab]` to one score per row `[n]` (e.g. a logit
/// difference). Returns `[n_layers, n_heads]` (float32, CPU).
pub fn head_patch_sweep(
    model: &HookedModel,
    clean: &Batch,
    corrupt: &Batch,
    metric: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    if clean.size() != 1 || corrupt.size() != 1 {
        bail!("head_patch_sweep takes one clean and one corrupted sequence");
    }
    if clean.seq_len() != corrupt.seq_len() {
        bail!(
            "clean ({} tokens) and corrupted ({} tokens) prompts must have the same length",
            clean.seq_len(),
            corrupt.seq_len()
        );
    }
    let (n_layers, n_heads) = (model.cfg.n_layers, model.cfg.n_heads as i64);
    let names = Names::matching("blocks.*.attn.hook_z").and("blocks.*.hook_resid_pre");
    let opts = RunOptions::default().cache(names).logits(LogitsAt::None);
    let clean_cache = model.run(clean, &opts)?.cache;
    let opts = RunOptions::default()
        .cache(Names::matching("blocks.*.attn.hook_z"))
        .logits(LogitsAt::None);
    let corrupt_cache = model.run(corrupt, &opts)?.cache;

    // n_heads copies of the clean tokens: variant h patches head h.
    let ids: Vec<u32> = crate::device::to_vec_i64(&clean.ids)?
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let variants = Batch::from_ids(&vec![ids; n_heads as usize], 0, clean.padding)?;
    // [n_heads, 1, n_heads, 1]: true where variant h meets head h.
    let diagonal =
        Tensor::eye(n_heads, (Kind::Bool, model.device())).view([n_heads, 1, n_heads, 1]);
    let mut rows = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        let name = format!("blocks.{l}.attn.hook_z");
        let z_clean = clean_cache.get(&name)?; // [1, pos, n_heads, d_head]
        let z_corrupt = corrupt_cache.get(&name)?;
        let shape = [n_heads, z_clean.size()[1], n_heads, z_clean.size()[3]];
        let z = z_corrupt
            .expand(shape, false)
            .where_self(&diagonal, &z_clean.expand(shape, false));
        let resid = clean_cache
            .get(&format!("blocks.{l}.hook_resid_pre"))?
            .expand([n_heads, clean.seq_len(), model.cfg.d_model as i64], false);
        let hooks = [Hook::replace(&name, z)];
        let out = model.run(
            &variants,
            &RunOptions::default()
                .start_at(l, resid.contiguous())
                .hooks(&hooks)
                .logits(LogitsAt::Last),
        )?;
        let logits = out.logits.ok_or_else(|| anyhow::anyhow!("no logits"))?; // [n_heads, vocab]
        let scores = metric(&logits)?;
        if scores.size() != [n_heads] {
            bail!(
                "the metric returned shape {:?}, expected [{n_heads}]",
                scores.size()
            );
        }
        rows.push(scores.to_kind(Kind::Float).to_device(tch::Device::Cpu));
    }
    Ok(Tensor::stack(&rows, 0))
}

/// A metric for [`head_patch_sweep`]: `logit[a] - logit[b]` per row.
pub fn logit_difference(a: i64, b: i64) -> impl Fn(&Tensor) -> Result<Tensor> {
    move |logits: &Tensor| Ok(logits.select(1, a) - logits.select(1, b))
}
