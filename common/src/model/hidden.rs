//! The hidden states as `transformers` reports them (`output_hidden_states=True`), read
//! from the hook points: `n_layers + 1` tensors `[batch, pos, d_model]`.
//!
//! - Decoders (GPT-2, GPT-Neo, GPT-NeoX): `H[0]` = `blocks.0.hook_resid_pre` (the
//!   embeddings), `H[k]` = `blocks.{k-1}.hook_resid_post` for `k < n_layers`, and
//!   `H[n_layers]` = `ln_final.hook_normalized`: transformers replaces the last block's
//!   output by the final layer norm's output.
//! - Encoders (BERT, RoBERTa, post-LN): `H[0]` = `embed.ln.hook_normalized`, `H[k]` =
//!   `blocks.{k-1}.hook_normalized_resid_post`.

use super::{Batch, HookedModel, LogitsAt, RunOptions};
use crate::hooks::{ActivationCache, Names};
use anyhow::Result;
use tch::Tensor;

/// The hook points holding the `n_layers + 1` hidden states, in order.
pub fn hidden_state_names(encoder: bool, n_layers: usize) -> Vec<String> {
    if encoder {
        let mut names = vec!["embed.ln.hook_normalized".to_string()];
        names.extend((0..n_layers).map(|l| format!("blocks.{l}.hook_normalized_resid_post")));
        return names;
    }
    let mut names = vec!["blocks.0.hook_resid_pre".to_string()];
    names.extend((0..n_layers.saturating_sub(1)).map(|l| format!("blocks.{l}.hook_resid_post")));
    names.push("ln_final.hook_normalized".to_string());
    names
}

/// The tick label of hidden state `k`: `Emb` for the embeddings, `L{k-1}` after block `k-1`.
pub fn layer_label(k: usize) -> String {
    if k == 0 {
        "Emb".to_string()
    } else {
        format!("L{}", k - 1)
    }
}

impl HookedModel {
    /// The hook points of this model's hidden states ([`hidden_state_names`]).
    pub fn hidden_state_names(&self) -> Vec<String> {
        hidden_state_names(self.cfg.arch.is_encoder(), self.cfg.n_layers)
    }

    /// Takes this model's `n_layers + 1` hidden states out of `cache` (a run that cached
    /// [`HookedModel::hidden_state_names`]), in order, each `[batch, pos, d_model]`.
    pub fn take_hidden_states(&self, cache: &mut ActivationCache) -> Result<Vec<Tensor>> {
        self.hidden_state_names()
            .iter()
            .map(|name| match cache.remove(name) {
                Some(t) => Ok(t),
                None => cache.get(name).map(|t| t.shallow_clone()), // the error names what is there
            })
            .collect()
    }

    /// One forward pass caching only the hidden states (no logits): the `n_layers + 1`
    /// tensors `[batch, pos, d_model]` that `transformers` returns with
    /// `output_hidden_states=True`.
    pub fn hidden_states(&self, batch: &Batch) -> Result<Vec<Tensor>> {
        let opts = RunOptions::default()
            .cache(Names::list(&self.hidden_state_names()))
            .logits(LogitsAt::None);
        let mut out = self.run(batch, &opts)?;
        self.take_hidden_states(&mut out.cache)
    }
}
