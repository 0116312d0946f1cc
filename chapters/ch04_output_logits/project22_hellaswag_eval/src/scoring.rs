//! Part 4's scoring function: how a language model answers a HellaSwag item.
//!
//! Each of the four endings is appended to the context (`ctx + " " + ending`), the four
//! prompts run as one right-padded batch, and each ending's score is the mean
//! log-probability the model gives to its tokens, each predicted from everything before
//! it. The highest score is the model's answer. Step numbers (1)–(6) are the spec's.

use anyhow::{anyhow, bail, Result};
use common::data::HellaSwagItem;
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use tch::{Device, Kind, Tensor};

/// The four prompts of an item: the context, one space, an ending.
pub fn prompts(item: &HellaSwagItem) -> Vec<String> {
    item.endings
        .iter()
        .map(|e| format!("{} {}", item.ctx, e))
        .collect()
}

/// Token ids as the tokenizer encodes a text by default, as `tokenizer(text)` does in
/// transformers: nothing added for GPT-2, `<s> … </s>` for RoBERTa.
pub fn default_encoding(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    tokenizer.encode_with_special_tokens(text)
}

/// One item's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Mean log-probability of each ending.
    pub scores: [f64; 4],
    /// The right ending (`int(label)`).
    pub target: usize,
    /// Tokens of the context alone (RoBERTa: with `<s>` and `</s>`).
    pub context_len: usize,
}

/// How much work the forward passes did, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Work {
    /// Forward passes run.
    pub forwards: usize,
    /// Token slots in the padded batches (sequences × padded length).
    pub slots: usize,
    /// Slots at which logits were computed: only those a score reads.
    pub slots_with_logits: usize,
}

impl Work {
    pub fn add(&mut self, other: Work) {
        self.forwards += other.forwards;
        self.slots += other.slots;
        self.slots_with_logits += other.slots_with_logits;
    }
}

/// The spec's `one_hella_sample(sample, model, tokenizer) -> (scores[4], target)`.
pub fn one_hella_sample(
    sample: &HellaSwagItem,
    model: &HookedModel,
    tokenizer: &Tokenizer,
) -> Result<([f64; 4], usize)> {
    let (scored, _) = score_items(&[sample], model, tokenizer)?;
    Ok((scored[0].scores, scored[0].target))
}

/// [`one_hella_sample`] for several items in one forward pass (4 prompts per item, all
/// right-padded to the longest). Padding changes nothing: GPT-2's positions are 0..L−1
/// and causal attention never sees the pads to the right; RoBERTa's position ids come
/// from the ids (pads get the padding index) and its attention mask hides pad keys.
pub fn score_items(
    items: &[&HellaSwagItem],
    model: &HookedModel,
    tokenizer: &Tokenizer,
) -> Result<(Vec<Scored>, Work)> {
    if items.is_empty() {
        bail!("no items to score");
    }
    let mut seqs = Vec::with_capacity(4 * items.len());
    let mut context_lens = Vec::with_capacity(4 * items.len());
    for item in items {
        if item.endings.len() != 4 {
            bail!(
                "item {} has {} endings, not 4",
                item.ind,
                item.endings.len()
            );
        }
        // (1) context length: the default encoding of ctx (RoBERTa: n + 2 with <s>, </s>).
        let context_len = default_encoding(tokenizer, &item.ctx)?.len();
        if context_len == 0 {
            bail!("item {}: the context has no tokens", item.ind);
        }
        // (2) the four prompts, (3) tokenized with the same default encoding.
        for p in prompts(item) {
            seqs.push(default_encoding(tokenizer, &p)?);
            context_lens.push(context_len);
        }
    }
    // (3) one right-padded batch with its attention mask (pads: the model's pad id,
    // GPT-2's EOS 50256 or RoBERTa's <pad> 1).
    let batch = model.batch_from_ids(&seqs, PaddingSide::Right)?;
    let width = batch.seq_len() as usize;
    // A score reads logp[i, ·] for i from context_len − 1 to len − 2, so logits are
    // computed only at those slots (the unembedding and, for RoBERTa, the MLM head are
    // skipped at the context positions); the values there are the full run's.
    let first = context_lens.iter().copied().min().unwrap_or(1) - 1;
    if width < 2 || first > width - 2 {
        bail!("no ending token to score: every prompt is as short as its context");
    }
    let positions: Vec<i64> = (first as i64..=width as i64 - 2).collect();
    let n_pos = positions.len();
    // (4) one forward pass of the batch with the attention mask.
    let out = model.run(
        &batch,
        &RunOptions::default().logits(LogitsAt::Positions(positions)),
    )?;
    let logits = out
        .logits
        .ok_or_else(|| anyhow!("{}: the run returned no logits", model.id))?;
    // (5) log-softmax over the vocabulary.
    let logp = logits.log_softmax(-1, Kind::Float);
    // (6) each ending's mean log-probability.
    let ids = Vec::<Vec<i64>>::try_from(batch.ids.to_device(Device::Cpu))?;
    let scores = ending_scores(&logp, first, &ids, model.cfg.pad_token_id, &context_lens)?;
    let scored = items
        .iter()
        .enumerate()
        .map(|(j, item)| Scored {
            scores: [
                scores[4 * j],
                scores[4 * j + 1],
                scores[4 * j + 2],
                scores[4 * j + 3],
            ],
            target: item.label,
            context_len: context_lens[4 * j],
        })
        .collect();
    let work = Work {
        forwards: 1,
        slots: seqs.len() * width,
        slots_with_logits: seqs.len() * n_pos,
    };
    Ok((scored, work))
}

/// (6) for one padded prompt: the positions `i` whose `logp[i, id[i+1]]` enters its score.
/// valid = the positions whose id is not the pad id; lsm = one value per valid position
/// except the last (the last token predicts nothing that is scored); the score is the
/// mean of `lsm[context_len − 1 ..]`.
///
/// GPT-2 (`context_len` = n context tokens): the slice starts at i = n − 1, whose target
/// is the first ending token, so exactly the m ending tokens are scored.
/// RoBERTa (`<s>` c₁…cₙ e₁…eₘ `</s>`, `context_len` = n + 2): the slice starts at
/// i = n + 1, whose target is e₂, so e₂…eₘ and `</s>` are scored (the spec's note: the
/// same recipe, reproduced as is, although an MLM's output at i reconstructs token i).
pub fn scored_positions(ids: &[i64], pad_id: i64, context_len: usize) -> Vec<usize> {
    let valid: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] != pad_id).collect();
    let lsm_positions = &valid[..valid.len().saturating_sub(1)];
    lsm_positions
        .iter()
        .skip(context_len.saturating_sub(1))
        .copied()
        .collect()
}

/// (6) for a batch: `logp` is `[batch, P, vocab]` log-probabilities at slots
/// `first .. first + P` of the padded `ids` (`first` = 0 for the full sequence); each
/// row's score is the mean of `logp[row, i, ids[row][i + 1]]` over its
/// [`scored_positions`] (NaN when there are none).
pub fn ending_scores(
    logp: &Tensor,
    first: usize,
    ids: &[Vec<i64>],
    pad_id: i64,
    context_lens: &[usize],
) -> Result<Vec<f64>> {
    let (b, p, _v) = logp.size3()?;
    let (b, p) = (b as usize, p as usize);
    if ids.len() != b || context_lens.len() != b {
        bail!(
            "{b} rows of log-probabilities, {} of ids, {} context lengths",
            ids.len(),
            context_lens.len()
        );
    }
    // The target of slot first + j is the next token, ids[first + j + 1] (a pad id
    // past a row's end: gathered, never read).
    let mut targets = Vec::with_capacity(b * p);
    for row in ids {
        for j in 0..p {
            targets.push(row.get(first + j + 1).copied().unwrap_or(pad_id));
        }
    }
    let targets = Tensor::from_slice(&targets)
        .view([b as i64, p as i64, 1])
        .to_device(logp.device());
    let picked = logp
        .gather(2, &targets, false)
        .to_kind(Kind::Double)
        .to_device(Device::Cpu)
        .view([-1]);
    let picked = Vec::<f64>::try_from(picked)?;
    let mut scores = Vec::with_capacity(b);
    for (r, row) in ids.iter().enumerate() {
        let mut sum = 0.0;
        let pos = scored_positions(row, pad_id, context_lens[r]);
        for &i in &pos {
            if i < first || i - first >= p {
                bail!("row {r}: position {i} is scored but its logits were not computed");
            }
            sum += picked[r * p + i - first];
        }
        scores.push(if pos.is_empty() {
            f64::NAN
        } else {
            sum / pos.len() as f64
        });
    }
    Ok(scores)
}

/// The model's answer: the index of the highest score, the first one on ties (as
/// numpy's argmax). A NaN score (an ending with nothing to score) is never chosen
/// unless all are NaN.
pub fn predict(scores: &[f64]) -> usize {
    let mut best = 0;
    for k in 1..scores.len() {
        if scores[k] > scores[best] || (scores[best].is_nan() && !scores[k].is_nan()) {
            best = k;
        }
    }
    best
}

/// Share of items whose prediction is the label, in 0..1.
pub fn accuracy(all_scores: &[[f64; 4]], labels: &[usize]) -> f64 {
    let right = all_scores
        .iter()
        .zip(labels)
        .filter(|(s, &l)| predict(&s[..]) == l)
        .count();
    right as f64 / labels.len().max(1) as f64
}
