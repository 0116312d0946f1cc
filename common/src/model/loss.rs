//! The causal language-modelling loss a decoder is trained and evaluated with: the
//! cross-entropy of each next-token prediction, averaged over the real tokens of a batch —
//! what `transformers` returns as `model(input_ids, attention_mask=…, labels=…).loss`
//! with `labels = input_ids` and `-100` at the padded slots.
//!
//! For a batch of `b` sequences padded to `p` tokens and a vocabulary of `V`:
//! the logits `[b, p, V]` at positions `0..p-1` predict the tokens at `1..p` (the shift
//! by one: position `j` never sees token `j + 1`), so there are `p - 1` prediction slots
//! per row. Slot `j` of row `i` is counted when both token `j` (the input) and token
//! `j + 1` (the target) are real; its loss is `-log_softmax(logits[i, j])[ids[i, j + 1]]`
//! in nats. A sequence of `n` real tokens therefore contributes `n - 1` terms whichever
//! side it is padded on, and the batch loss is the mean over all counted slots (a
//! token-weighted mean, not the mean of per-sequence means).
//!
//! Right padding counts exactly the slots `transformers` counts. With left padding
//! `transformers` (labels `-100` at the pads only) also counts the slot that predicts a
//! sequence's first real token from the padding before it; here it is not counted, so
//! each sequence's terms equal those of the sequence run on its own.
//!
//! The log-softmax runs in float32 (half-precision logits are widened first, as
//! `transformers` does) and the mean is summed in float64.

use super::{HookedModel, RunOptions};
use crate::hooks::Hook;
use crate::model::Batch;
use anyhow::{anyhow, bail, Result};
use tch::{Kind, Tensor};

impl HookedModel {
    /// The mean next-token cross-entropy (nats) over every real prediction of the batch:
    /// `transformers`' `labels=` loss (see the module docs for the counted slots and
    /// left padding). An error for an encoder (BERT/RoBERTa have no left-to-right
    /// loss) and for a batch with no prediction at all (every sequence one token long).
    pub fn loss(&self, batch: &Batch) -> Result<f64> {
        self.loss_with_hooks(batch, &[])
    }

    /// [`Self::loss`] of a run with `hooks` applied (e.g. an ablation).
    pub fn loss_with_hooks(&self, batch: &Batch, hooks: &[Hook]) -> Result<f64> {
        let (losses, counted) = self.token_losses_with_hooks(batch, hooks)?;
        let n = i64::try_from(counted.sum(Kind::Int64))?;
        if n == 0 {
            bail!(
                "the batch has no next-token prediction to score: every sequence is one \
                 token long (a loss needs at least two tokens)"
            );
        }
        let total = f64::try_from(losses.to_kind(Kind::Double).sum(Kind::Double))?;
        Ok(total / n as f64)
    }

    /// The loss of every prediction slot: `(losses, counted)`, both `[batch, pos - 1]` on
    /// the model's device. `losses` (float32, nats) holds at slot `j` the cross-entropy
    /// of predicting token `j + 1` from the logits at position `j`, and 0 at slots that
    /// are not counted; `counted` (bool) is true where tokens `j` and `j + 1` are both
    /// real. `losses.sum() / counted.sum()` is [`Self::loss`]; row `i`'s counted slots
    /// are sequence `i`'s `lengths[i] - 1` per-token losses, in order.
    pub fn token_losses(&self, batch: &Batch) -> Result<(Tensor, Tensor)> {
        self.token_losses_with_hooks(batch, &[])
    }

    /// [`Self::token_losses`] of a run with `hooks` applied.
    pub fn token_losses_with_hooks(
        &self,
        batch: &Batch,
        hooks: &[Hook],
    ) -> Result<(Tensor, Tensor)> {
        if self.cfg.arch.is_encoder() {
            bail!(
                "{} is a masked-LM encoder ({:?}): it predicts masked tokens from both sides, \
                 so it has no next-token (causal) loss",
                self.id,
                self.cfg.arch
            );
        }
        let out = self.run(batch, &RunOptions::default().hooks(hooks))?;
        let logits = out.logits.ok_or_else(|| anyhow!("no logits"))?; // [b, p, V]
        let _guard = tch::no_grad_guard();
        shifted_cross_entropy(&logits, &batch.ids, &batch.mask)
    }
}

/// Per-slot shifted cross-entropy from logits `[b, p, V]`, token ids `[b, p]` and the
/// real-token mask `[b, p]` (any device; the result lives on the logits' device):
/// `([b, p - 1]` float32 losses with 0 at uncounted slots, `[b, p - 1]` bool counted`)`.
fn shifted_cross_entropy(logits: &Tensor, ids: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor)> {
    let size = logits.size();
    let [b, p, _v] = size[..] else {
        bail!("logits must be [batch, pos, vocab], got {size:?}");
    };
    let dev = logits.device();
    let ids = ids.to_device(dev).to_kind(Kind::Int64);
    let real = mask.to_device(dev).gt(0);
    if p < 2 {
        let none = Tensor::zeros([b, 0], (Kind::Float, dev));
        return Ok((none, Tensor::zeros([b, 0], (Kind::Bool, dev))));
    }
    // Position j predicts token j + 1: drop the last position's logits and the first
    // token.
    let logp = logits
        .narrow(1, 0, p - 1)
        .to_kind(Kind::Float)
        .log_softmax(-1, Kind::Float);
    let targets = ids.narrow(1, 1, p - 1);
    let counted = real
        .narrow(1, 0, p - 1)
        .logical_and(&real.narrow(1, 1, p - 1));
    let nll = -logp
        .gather(2, &targets.unsqueeze(-1), false)
        .squeeze_dim(-1); // [b, p-1]
    let losses = nll.where_self(&counted, &Tensor::zeros([], (Kind::Float, dev)));
    Ok((losses, counted))
}
