//! The plumbing under the parts: the masked LM and its mask token, every layer's hidden
//! state, the MLM head as a lens on any of them, and the two small methods (OLS on √k,
//! min–max scaling).
//!
//! The mask token and the masked-LM check come from `common::mlm`. Still here, and
//! belonging in common:
//! - `encode_masked`: transformers' RoBERTa tokenizers always give `<mask>` lstrip=True
//!   (the mask absorbs the space before it). The real roberta-large tokenizer.json
//!   declares it, but assets/models/tiny-roberta/tokenizer.json (and the stand-in of
//!   target/bench/roberta-*-random) does not, so the `tokenizers` crate reads
//!   " <mask>" as "Ġ" + "<mask>", one token more than transformers. The fix belongs in
//!   scripts/make_fixtures.py (declare lstrip) or in `Tokenizer` itself;
//! - `hidden_states` (transformers' `output_hidden_states=True` for an encoder: the
//!   embedding layer norm and every block's `hook_normalized_resid_post`, stacked);

use anyhow::{anyhow, Context, Result};
use common::ml::regression::ols1;
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::Array1;
use tch::{Device, Kind, Tensor};

pub use common::mlm::{mask_token, require_mlm, MaskToken};

/// Token ids of `text` with the special tokens (`<s> … </s>`), the mask token absorbing
/// the whitespace before it, as transformers' RoBERTa tokenizer does (`lstrip=True`):
/// " <mask>" in place of " way" keeps the token count. For a BERT `[MASK]` nothing
/// changes (BERT splits on whitespace anyway).
pub fn encode_masked(tok: &Tokenizer, text: &str, mask: &MaskToken) -> Result<Vec<u32>> {
    let text = if mask.text == "<mask>" {
        let mut s = String::new();
        for (i, piece) in text.split(mask.text.as_str()).enumerate() {
            if i > 0 {
                s.truncate(s.trim_end().len());
                s.push_str(&mask.text);
            }
            s.push_str(piece);
        }
        s
    } else {
        text.to_string()
    };
    tok.encode_with_special_tokens(&text)
}

/// The names of the hidden states transformers returns for an encoder: `H[0]` the
/// embedding layer norm, `H[k]` block k−1's output.
pub fn hidden_state_names() -> Names {
    Names::list(&["embed.ln.hook_normalized"]).and("blocks.*.hook_normalized_resid_post")
}

/// Stack `H[0..=n_layers]` from a cache of [`hidden_state_names`]: `[n_hidden, ...]`.
pub fn stack_hidden(
    cache: &std::collections::BTreeMap<String, Tensor>,
    n_layers: usize,
) -> Result<Tensor> {
    let mut hs = vec![cache
        .get("embed.ln.hook_normalized")
        .context("no embed.ln.hook_normalized in the cache")?
        .shallow_clone()];
    for l in 0..n_layers {
        let name = format!("blocks.{l}.hook_normalized_resid_post");
        hs.push(
            cache
                .get(&name)
                .with_context(|| format!("no {name} in the cache"))?
                .shallow_clone(),
        );
    }
    Ok(Tensor::stack(&hs, 0))
}

/// One forward pass of one sequence: every hidden state `[n_hidden, pos, d]` (the batch
/// dimension dropped) and the model's logits where asked.
pub fn hidden_states(
    model: &HookedModel,
    ids: &[u32],
    logits: LogitsAt,
) -> Result<(Tensor, Option<Tensor>)> {
    let batch = model.batch_from_ids(&[ids.to_vec()], PaddingSide::Right)?;
    let run = model.run(
        &batch,
        &RunOptions::default()
            .cache(hidden_state_names())
            .logits(logits),
    )?;
    let mut cache = std::collections::BTreeMap::new();
    for name in run.cache.names() {
        cache.insert(name.clone(), run.cache.get(&name)?.get(0));
    }
    let hs = stack_hidden(&cache, model.cfg.n_layers)?;
    Ok((hs, run.logits.map(|l| l.get(0))))
}

/// The logit lens: the MLM head (dense, GELU, LayerNorm, tied decoder + bias) on hidden
/// states `[..., d]`, then log-softmax over the vocabulary, in float64 on the CPU.
pub fn lens(model: &HookedModel, h: &Tensor) -> Result<Tensor> {
    Ok(model
        .logit_lens(h)?
        .to_kind(Kind::Double)
        .log_softmax(-1, Kind::Double)
        .to_device(Device::Cpu))
}

/// A `[V]` float64 tensor as a Vec.
pub fn row(t: &Tensor) -> Result<Vec<f64>> {
    common::device::to_vec_f64(&t.reshape([-1]))
}

/// log Σ exp(v), max-subtracted: 0 for a row of log-softmax values.
pub fn logsumexp(v: &[f64]) -> f64 {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// OLS with intercept of `y[k]` on √k, k = 0..n: `(β0, β1)`.
pub fn sqrt_fit(y: &[f64]) -> Result<(f64, f64)> {
    let x: Array1<f64> = (0..y.len()).map(|k| (k as f64).sqrt()).collect();
    let y = Array1::from(y.to_vec());
    let fit = ols1(x.view(), y.view()).context("OLS of the log-probabilities on √layer")?;
    Ok((fit.params[0], fit.params[1]))
}

/// Min–max scaling of a whole matrix to [0, 1]: (v − min) / (max − min).
pub fn min_max_scale(m: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let all = m.iter().flatten().copied();
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return Err(anyhow!(
            "min-max scaling needs finite values that are not all equal (min {lo}, max {hi})"
        ));
    }
    Ok(m.iter()
        .map(|r| r.iter().map(|v| (v - lo) / (hi - lo)).collect())
        .collect())
}

/// A token as a label: the decoded text without its surrounding spaces, `␣` for a token
/// that is only whitespace, control characters escaped (`\u{1b}`).
pub fn label(token: &str) -> String {
    let t = token.trim();
    if t.is_empty() {
        return "␣".repeat(token.chars().count().max(1));
    }
    t.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_on_sqrt_k_recovers_an_exact_line() {
        // Offline check 5: y = -10 + 2 √k for k = 0..24.
        let y: Vec<f64> = (0..25).map(|k| -10.0 + 2.0 * (k as f64).sqrt()).collect();
        let (b0, b1) = sqrt_fit(&y).unwrap();
        assert!((b0 + 10.0).abs() < 1e-12, "{b0}");
        assert!((b1 - 2.0).abs() < 1e-12, "{b1}");
    }

    #[test]
    fn min_max_maps_min_to_zero_and_max_to_one() {
        // Offline check 6.
        let m = vec![vec![-3.0, -1.0, -2.5], vec![-0.5, -7.0, -4.0]];
        let s = min_max_scale(&m).unwrap();
        assert_eq!(s[1][1], 0.0);
        assert_eq!(s[1][0], 1.0);
        assert!((s[0][0] - 4.0 / 6.5).abs() < 1e-15);
        assert!(min_max_scale(&[vec![1.0, 1.0]]).is_err());
    }

    #[test]
    fn logsumexp_of_log_softmax_is_zero() {
        let z = [3.0, -1.0, 0.5, 1000.0];
        let lse = logsumexp(&z);
        let ls: Vec<f64> = z.iter().map(|v| v - lse).collect();
        assert!(logsumexp(&ls).abs() < 1e-12);
    }

    #[test]
    fn mask_absorbs_the_space_before_it() {
        let tok = Tokenizer::from_file(
            &std::path::Path::new(&common::cli::tiny_roberta()).join("tokenizer.json"),
        )
        .unwrap();
        let mask = mask_token(&tok).unwrap();
        assert_eq!((mask.text.as_str(), mask.id), ("<mask>", 4));
        let plain = encode_masked(&tok, "is the way you", &mask).unwrap();
        let masked = encode_masked(&tok, "is the <mask> you", &mask).unwrap();
        assert_eq!(plain.len(), masked.len());
        let diff: Vec<usize> = (0..plain.len())
            .filter(|&i| plain[i] != masked[i])
            .collect();
        assert_eq!(diff.len(), 1);
        assert_eq!(masked[diff[0]], 4);
        assert_eq!(label(" way"), "way");
        assert_eq!(label(" "), "␣");
        assert_eq!(label("a\nb\u{1b}"), "a\\nb\\u{1b}");
    }
}
