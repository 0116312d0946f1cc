//! The hidden states as `transformers` reports them (`output_hidden_states=True`), read
//! from the hook points. (belongs in common: project 24 has the same two functions.)

use anyhow::Result;
use common::hooks::ActivationCache;
use tch::{Device, Kind, Tensor};

/// The hook points that hold the `n_layers + 1` hidden states of a decoder, in order:
/// `H[0]` = `blocks.0.hook_resid_pre` (token + position embeddings), `H[k]` =
/// `blocks.{k-1}.hook_resid_post` for `k = 1 .. n_layers-1`, and `H[n_layers]` =
/// `ln_final.hook_normalized` (ln_f of the last block's output, as `transformers` reports
/// it). Only these are cached.
pub fn hidden_state_names(n_layers: usize) -> Vec<String> {
    let mut names = vec!["blocks.0.hook_resid_pre".to_string()];
    names.extend((0..n_layers.saturating_sub(1)).map(|l| format!("blocks.{l}.hook_resid_post")));
    names.push("ln_final.hook_normalized".to_string());
    names
}

/// Take the hidden states out of a cache, in order, on the CPU in float32.
pub fn take_hidden_states(cache: &mut ActivationCache, n_layers: usize) -> Result<Vec<Tensor>> {
    hidden_state_names(n_layers)
        .iter()
        .map(|name| {
            let t = match cache.remove(name) {
                Some(t) => t,
                None => cache.get(name)?.shallow_clone(), // the error names what is there
            };
            Ok(t.to_device(Device::Cpu).to_kind(Kind::Float))
        })
        .collect()
}

/// The tick label of hidden state `k`: `Emb` for the embeddings, `L{k-1}` after block `k-1`.
pub fn layer_label(k: usize) -> String {
    if k == 0 {
        "Emb".to_string()
    } else {
        format!("L{}", k - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_transformers() {
        let n = hidden_state_names(12);
        assert_eq!(n.len(), 13);
        assert_eq!(n[0], "blocks.0.hook_resid_pre");
        assert_eq!(n[11], "blocks.10.hook_resid_post");
        assert_eq!(n[12], "ln_final.hook_normalized");
        assert_eq!(
            (layer_label(0), layer_label(12)),
            ("Emb".into(), "L11".into())
        );
    }
}
