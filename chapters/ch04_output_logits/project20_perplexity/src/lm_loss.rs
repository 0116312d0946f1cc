//! The causal-LM loss of each sequence in a batch, with the logits made a few rows at a
//! time.
//!
//! This is `transformers`' built-in `labels = input_ids` loss per sequence, the same
//! quantity as `HookedModel::token_losses` in `common` (position `j` predicts token
//! `j + 1`, `-log_softmax(logits[j])[token j + 1]` in float32, averaged over the `n - 1`
//! predictions of the sequence). `token_losses` builds the whole `[batch, pos, vocab]`
//! logits tensor; this project scores batches of eight 1,024-token segments, whose logits
//! and log-softmax would take 3.3 GB, so it stops the pass at the final layer norm and
//! unembeds [`LOGIT_CHUNK`] positions at a time instead. The equality with
//! `transformers`' loss is checked in `tests/quick.rs`.

use anyhow::{bail, Result};
use common::device::to_vec_f64;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use tch::{Kind, Tensor};

/// At most this many positions are unembedded at once: their logits and log-softmax take
/// 2 × 2,048 × 50,257 × 4 bytes ≈ 0.8 GB, however large the batch.
pub const LOGIT_CHUNK: usize = 2048;

/// The mean next-token cross-entropy (nats) of each sequence of `seqs`, run together in one
/// forward pass. All sequences must have the same length `n >= 2`: there is no padding,
/// so every one of the `n - 1` predictions of a row is a real one, and each row's loss is
/// what the model gives that sequence on its own (rows never see each other).
///
/// Work saved: the forward pass stops at the final layer norm (its output is the one
/// cached tensor); the unembedding and log-softmax then run a few rows at a time, at the
/// `n - 1` positions that predict a token only (the last position has no target). A batch
/// of 8 segments of 1,024 tokens never holds its 1.6 GB of logits at once.
pub fn sequence_losses(model: &HookedModel, seqs: &[Vec<u32>]) -> Result<Vec<f64>> {
    let Some(first) = seqs.first() else {
        return Ok(Vec::new());
    };
    let n = first.len();
    if n < 2 {
        bail!("a sequence needs at least 2 tokens to have a next-token loss, got {n}");
    }
    if let Some(i) = seqs.iter().position(|s| s.len() != n) {
        bail!(
            "sequence {i} has {} tokens, the first has {n}: the segments of one batch must be \
             equally long (no padding)",
            seqs[i].len()
        );
    }
    let batch = model.batch_from_ids(seqs, PaddingSide::Right)?;
    let final_hook = model.final_hook();
    let out = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::list(&[final_hook]))
            .logits(LogitsAt::None),
    )?;
    let _guard = tch::no_grad_guard();
    let n = n as i64;
    let normed = out.cache.get(final_hook)?.narrow(1, 0, n - 1); // [b, n-1, d]
    let targets = batch
        .ids
        .narrow(1, 1, n - 1)
        .to_device(normed.device())
        .to_kind(Kind::Int64); // [b, n-1]
    let rows_per_chunk = (LOGIT_CHUNK as i64 / (n - 1)).max(1);
    let b = seqs.len() as i64;
    let mut means = Vec::with_capacity(seqs.len());
    for start in (0..b).step_by(rows_per_chunk as usize) {
        let rows = rows_per_chunk.min(b - start);
        // [rows, n-1, V], widened to float32 (half-precision runs) as transformers does.
        let logp = model
            .unembed(&normed.narrow(0, start, rows))?
            .to_kind(Kind::Float)
            .log_softmax(-1, Kind::Float);
        let target = targets.narrow(0, start, rows).unsqueeze(-1);
        let nll: Tensor = -logp.gather(2, &target, false).squeeze_dim(-1); // [rows, n-1]
        let mean = nll.to_kind(Kind::Double).mean_dim(1, false, Kind::Double);
        means.extend(to_vec_f64(&mean)?);
    }
    Ok(means)
}
