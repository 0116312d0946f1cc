//! One-position activation patching of a block's output, reusing the clean prefix.
//!
//! The notebook patches with a forward hook on `transformer.h[L]` and reruns the whole
//! model. Blocks `0..=L` of the patched run see exactly the clean run's inputs, so their
//! outputs are the clean hidden states already in hand: the patched run here starts at
//! block `L+1` from the clean `H[L+1]` with its last position replaced
//! (`RunOptions::start_at`), computing only blocks `L+1..n`. For the last block there is
//! no block after it, so that run starts at block `n-1` from the clean `H[n-1]` and
//! replaces the last position of `blocks.{n-1}.hook_resid_post` with a hook, before the
//! final layer norm — which is where the spec's layer-47 subtlety lives: the source
//! vector is the *reported* `H[n]`, already normalised, and `ln_f` is applied again.

use anyhow::{anyhow, Result};
use common::{Hook, HookedModel, LogitsAt, Names, RunOptions};
use tch::Tensor;

/// What one patched run gives back.
pub struct Patched {
    /// Logits at the last position, `[vocab]` (f64, CPU).
    pub logits: Vec<f64>,
    /// The patched run's hidden state `H[L+1]`, `[1, pos, d_model]`.
    pub h_next: Tensor,
    /// Blocks the run computed.
    pub blocks_run: usize,
}

/// Replace the last position of block `layer`'s output in a run of `batch` (whose clean
/// hidden states are `hs`, `n_layers + 1` tensors `[1, pos, d]`) by `src` (`[d]`) and
/// finish the forward pass.
pub fn patch_last_position(
    model: &HookedModel,
    batch: &common::Batch,
    hs: &[Tensor],
    src: &Tensor,
    layer: usize,
) -> Result<Patched> {
    let n = model.cfg.n_layers;
    let t = batch.seq_len();
    let d = model.cfg.d_model as i64;
    let src = src.view([1, 1, d]).to_kind(hs[0].kind());
    if layer + 1 < n {
        // H[L+1] is block L's output = block L+1's input.
        let resid = hs[layer + 1].copy();
        resid.narrow(1, t - 1, 1).copy_(&src);
        let out = model.run(
            batch,
            &RunOptions::default()
                .start_at(layer + 1, resid.shallow_clone())
                .logits(LogitsAt::Last),
        )?;
        let logits = out.logits.ok_or_else(|| anyhow!("no logits"))?;
        Ok(Patched {
            logits: common::device::to_vec_f64(&logits.squeeze_dim(0))?,
            h_next: resid,
            blocks_run: out.blocks_run.len(),
        })
    } else {
        let final_name = model.final_hook();
        let hooks =
            [Hook::replace(&format!("blocks.{layer}.hook_resid_post"), src).positions(&[-1])];
        let mut out = model.run(
            batch,
            &RunOptions::default()
                .start_at(layer, hs[layer].shallow_clone())
                .hooks(&hooks)
                .cache(Names::list(&[final_name]))
                .logits(LogitsAt::Last),
        )?;
        let logits = out.logits.take().ok_or_else(|| anyhow!("no logits"))?;
        let h_next = out
            .cache
            .remove(final_name)
            .ok_or_else(|| anyhow!("{final_name} was not cached"))?;
        Ok(Patched {
            logits: common::device::to_vec_f64(&logits.squeeze_dim(0))?,
            h_next,
            blocks_run: out.blocks_run.len(),
        })
    }
}

/// The IOI score: `logit[a] - logit[b]` (raw logits).
pub fn ioi_score(logits: &[f64], a: u32, b: u32) -> f64 {
    logits[a as usize] - logits[b as usize]
}

/// Euclidean norm of the difference of two `[d]` slices of `[1, pos, d]` tensors.
pub fn position_distance(a: &Tensor, b: &Tensor, pos: i64) -> Result<f64> {
    let diff =
        a.get(0).get(pos).to_kind(tch::Kind::Double) - b.get(0).get(pos).to_kind(tch::Kind::Double);
    Ok(diff.norm().double_value(&[]))
}
