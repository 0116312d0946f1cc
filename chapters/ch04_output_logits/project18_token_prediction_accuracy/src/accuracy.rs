//! Greedy next-token accuracy: the pieces of the method, free of any model, so that the
//! tests can feed them synthetic logits and small row lists.
//!
//! The one rule to get right is the shift: the logits at position `t` are the model's
//! prediction for token `t + 1`, so a sequence of N tokens gives N - 1 scored predictions
//! (the last position predicts a token the text does not contain).

use anyhow::{bail, Result};
use common::device::to_vec_i64;
use common::tokenizer::Tokenizer;
use tch::Tensor;

/// Greedy prediction of each row of `logits` `[N, V]`: the index of its largest logit.
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    let size = logits.size();
    if size.len() != 2 {
        bail!("expected logits [positions, vocab], got shape {size:?}");
    }
    Ok(to_vec_i64(&logits.argmax(-1, false))?
        .into_iter()
        .map(|i| i as u32)
        .collect())
}

/// Score greedy predictions against the text: `correct[t] = preds[t] == tokens[t + 1]`
/// for t = 0..N-2. `preds` holds one prediction per position (N of them, the last one
/// unscored) or one per scored position (N - 1).
pub fn score_next_token(preds: &[u32], tokens: &[u32]) -> Result<Vec<bool>> {
    let n = tokens.len();
    if n < 2 {
        bail!("need at least two tokens to score a next-token prediction, got {n}");
    }
    if preds.len() != n && preds.len() != n - 1 {
        bail!(
            "{} predictions for {n} tokens: expected {n} (one per position) or {} (one per \
             scored position)",
            preds.len(),
            n - 1
        );
    }
    Ok((0..n - 1).map(|t| preds[t] == tokens[t + 1]).collect())
}

/// Categorical accuracy: the mean of the 0/1 matches (0 for no predictions).
pub fn accuracy(correct: &[bool]) -> f64 {
    if correct.is_empty() {
        return 0.0;
    }
    correct.iter().filter(|&&c| c).count() as f64 / correct.len() as f64
}

/// The `k` largest logits of one row `[V]`, largest first: (token id, logit).
pub fn top_k_row(row: &Tensor, k: usize) -> Result<Vec<(u32, f32)>> {
    let (values, indices) = row.topk(k as i64, -1, true, true);
    let values = common::device::to_vec_f32(&values)?;
    let indices = to_vec_i64(&indices)?;
    Ok(indices
        .into_iter()
        .zip(values)
        .map(|(i, v)| (i as u32, v))
        .collect())
}

/// WikiText as the book reads it: all rows joined by "\n\n" into one string.
pub fn join_rows<S: AsRef<str>>(rows: &[S]) -> String {
    rows.iter()
        .map(|r| r.as_ref())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Encode the joined rows in one go, then keep the first `n` tokens. Returns the token
/// count of the whole text and those first tokens. (Truncating after encoding matters:
/// the BPE merges across the "\n\n" joins, so encoding rows one by one, or cutting the
/// text before encoding, gives other ids.)
pub fn encode_first<S: AsRef<str>>(
    tokenizer: &Tokenizer,
    rows: &[S],
    n: usize,
) -> Result<(usize, Vec<u32>)> {
    let mut ids = tokenizer.encode(&join_rows(rows))?;
    let total = ids.len();
    ids.truncate(n);
    Ok((total, ids))
}

/// The text up to and including `prefix`, then the predicted token wrapped in quote
/// tokens: decode(prefix + [quote, pred, quote]), as the book prints a prediction.
pub fn quoted_prediction(
    tokenizer: &Tokenizer,
    prefix: &[u32],
    pred: u32,
    quote: u32,
) -> Result<String> {
    let mut ids = prefix.to_vec();
    ids.extend([quote, pred, quote]);
    tokenizer.decode(&ids)
}
