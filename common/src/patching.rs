//! Activation patching sweeps that do only the work that changes.
//!
//! The book's notebooks patch one head at a time: 144 full forward passes for GPT-2
//! small, each re-running the blocks before the patched one although nothing there
//! changed, and each computing logits at every position. [`head_patch_sweep`] gives the
//! same numbers with less work: one clean and one corrupted run cache the residual
//! stream and every head's output; then, for each layer, all of that layer's head
//! patches run together as one batch (variant `h` has head `h` patched) that starts at
//! the layer's cached residual stream and computes logits at the last position only.
//! [`resid_patch_sweep`] does the same for project 32's sweep over blocks (patch one
//! position of one block's output, for every block): the runs go in groups, each
//! group one batch that starts at its first block's cached input.

use crate::hooks::{Hook, Names};
use crate::model::{Batch, HookedModel, LogitsAt, RunOptions};
use crate::tokenizer::Tokenizer;
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
    check_pair("head_patch_sweep", clean, corrupt)?;
    let (n_layers, n_heads) = (model.cfg.n_layers, model.cfg.n_heads as i64);
    let names = Names::matching("blocks.*.attn.hook_z").and("blocks.*.hook_resid_pre");
    let opts = RunOptions::default().cache(names).logits(LogitsAt::None);
    let clean_cache = model.run(clean, &opts)?.cache;
    let opts = RunOptions::default()
        .cache(Names::matching("blocks.*.attn.hook_z"))
        .logits(LogitsAt::None);
    let corrupt_cache = model.run(corrupt, &opts)?.cache;

    // n_heads copies of the clean tokens: variant h patches head h.
    let variants = copies(clean, n_heads as usize)?;
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

/// For every block L: the `clean` run with the last position of block L's output
/// (`blocks.{L}.hook_resid_post`) replaced by the `corrupt` run's, scored by `metric` on
/// the last-position logits (project 32's sweep). Returns `[n_layers]` (float32, CPU).
///
/// The notebook's way is one full forward pass per block: n² block passes. Here one
/// clean and one corrupted run cache the residual stream; then the runs go in groups
/// of `group` consecutive blocks `a..a+group`, each group one batch (row i patches
/// block a + i, by a hook at its output) that starts at block a from the clean run's
/// cached input (the blocks before a see nothing patched) and computes logits at the
/// last position only. Every block's weights are then read once per group rather than
/// once per run, and a block does `group` rows at once; the price is the rows of a
/// group not yet patched, which repeat the clean run (a group of g costs g (n − a)
/// block rows, against n − L − 1 for one run started after its own block).
/// `group = 1` is one run per block. For gpt2-xl's 48 blocks, groups of 12 take
/// 1,440 block rows in 4 batches; scripts/bench measures it (W7).
pub fn resid_patch_sweep(
    model: &HookedModel,
    clean: &Batch,
    corrupt: &Batch,
    group: usize,
    metric: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    check_pair("resid_patch_sweep", clean, corrupt)?;
    if group == 0 {
        bail!("resid_patch_sweep: the group size must be at least 1");
    }
    let n = model.cfg.n_layers;
    let opts = RunOptions::default()
        .cache(Names::matching("blocks.*.hook_resid_pre"))
        .logits(LogitsAt::None);
    let clean_cache = model.run(clean, &opts)?.cache;
    let opts = RunOptions::default()
        .cache(Names::matching("blocks.*.hook_resid_post"))
        .logits(LogitsAt::None);
    let corrupt_cache = model.run(corrupt, &opts)?.cache;
    let t = clean.seq_len();
    let mut scores = Vec::with_capacity(n);
    for a in (0..n).step_by(group) {
        let layers: Vec<usize> = (a..n.min(a + group)).collect();
        let m = layers.len();
        let resid = clean_cache.get(&format!("blocks.{a}.hook_resid_pre"))?; // [1, pos, d_model]
        let resid = resid
            .expand([m as i64, t, resid.size()[2]], false)
            .contiguous();
        let hooks: Vec<Hook> = layers
            .iter()
            .enumerate()
            .map(|(row, &l)| -> Result<Hook> {
                let name = format!("blocks.{l}.hook_resid_post");
                let src = corrupt_cache.get(&name)?.narrow(1, t - 1, 1).get(0); // [1, d_model]
                Ok(Hook::apply(&name, move |x: &Tensor, _| {
                    // x: [m, pos, d_model]; only row `row`'s last position changes.
                    let y = x.copy();
                    y.get(row as i64).narrow(0, t - 1, 1).copy_(&src);
                    Ok(y)
                }))
            })
            .collect::<Result<_>>()?;
        let out = model.run(
            &copies(clean, m)?,
            &RunOptions::default()
                .start_at(a, resid)
                .hooks(&hooks)
                .logits(LogitsAt::Last),
        )?;
        let logits = out.logits.ok_or_else(|| anyhow::anyhow!("no logits"))?; // [m, vocab]
        let s = metric(&logits)?;
        if s.size() != [m as i64] {
            bail!("the metric returned shape {:?}, expected [{m}]", s.size());
        }
        scores.push(s.to_kind(Kind::Float).to_device(tch::Device::Cpu));
    }
    Ok(Tensor::cat(&scores, 0))
}

/// `n` copies of the single sequence `b`.
fn copies(b: &Batch, n: usize) -> Result<Batch> {
    let ids: Vec<u32> = crate::device::to_vec_i64(&b.ids)?
        .into_iter()
        .map(|t| t as u32)
        .collect();
    Batch::from_ids(&vec![ids; n], 0, b.padding)
}

/// A clean and a corrupted prompt: one sequence each, of one length.
fn check_pair(what: &str, clean: &Batch, corrupt: &Batch) -> Result<()> {
    if clean.size() != 1 || corrupt.size() != 1 {
        bail!("{what} takes one clean and one corrupted sequence");
    }
    if clean.seq_len() != corrupt.seq_len() {
        bail!(
            "clean ({} tokens) and corrupted ({} tokens) prompts must have the same length",
            clean.seq_len(),
            corrupt.seq_len()
        );
    }
    Ok(())
}

/// A clean and a corrupted prompt tokenised for patching position by position (project
/// 32's and 41's "When Mike and Emma …" pair): both id lists, or an error when their
/// lengths differ (position `i` of one run must stand for position `i` of the other).
pub fn prompt_pair(tok: &Tokenizer, clean: &str, corrupt: &str) -> Result<(Vec<u32>, Vec<u32>)> {
    let (a, b) = (tok.encode(clean)?, tok.encode(corrupt)?);
    if a.len() != b.len() {
        bail!(
            "the two prompts tokenise to {} and {} tokens; patching position by position \
             needs equal lengths ({clean:?} / {corrupt:?})",
            a.len(),
            b.len()
        );
    }
    Ok((a, b))
}

/// The rows of a prompt pair's token table: position, both ids, both tokens as text.
pub fn prompt_pair_rows(tok: &Tokenizer, a: &[u32], b: &[u32]) -> Vec<Vec<String>> {
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (&x, &y))| {
            vec![
                i.to_string(),
                x.to_string(),
                y.to_string(),
                tok.decode(&[x]).unwrap_or_default(),
                tok.decode(&[y]).unwrap_or_default(),
            ]
        })
        .collect()
}

/// A metric for [`head_patch_sweep`]: `logit[a] - logit[b]` per row.
pub fn logit_difference(a: i64, b: i64) -> impl Fn(&Tensor) -> Result<Tensor> {
    move |logits: &Tensor| Ok(logits.select(1, a) - logits.select(1, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_pair_is_two_equal_length_id_lists_and_its_token_table() {
        let tok = Tokenizer::gpt2();
        // ids from Python's tokenizers on GPT-2's tokenizer.json
        let (a, b) =
            prompt_pair(&tok, "When Mike and Emma went", "When Emma and Mike went").unwrap();
        assert_eq!(a, [2215, 4995, 290, 18966, 1816]);
        assert_eq!(b, [2215, 18966, 290, 4995, 1816]);
        let rows = prompt_pair_rows(&tok, &a, &b);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[1], ["1", "4995", "18966", " Mike", " Emma"]);
        let e = prompt_pair(&tok, "When Mike and Emma went", "When Mike went to")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokenise to 5 and 4 tokens"), "{e}");
    }
}
