//! Masked-LM plumbing: a tokenizer's mask and unknown tokens (with transformers'
//! `convert_tokens_to_ids` fallback to [UNK]), the check that a model is a masked LM
//! with its head, and the MLM logits at one chosen slot per sequence (the head runs
//! only at the distinct slots asked for).

use crate::tokenizer::Tokenizer;
use crate::{Batch, HookedModel, LogitsAt, RunOptions};
use anyhow::{anyhow, bail, Context, Result};
use tch::{Kind, Tensor};

/// A tokenizer's mask token: its string and id.
#[derive(Debug, Clone)]
pub struct MaskToken {
    pub text: String,
    pub id: u32,
}

/// The mask token of a BERT (`[MASK]`) or RoBERTa (`<mask>`) tokenizer, checked to be
/// recognised in running text (encoding the string alone gives exactly its id).
pub fn mask_token(tok: &Tokenizer) -> Result<MaskToken> {
    for text in ["[MASK]", "<mask>"] {
        if let Some(id) = tok.token_to_id(text) {
            let ids = tok.encode(&format!("a {text} b"))?;
            if !ids.contains(&id) {
                bail!(
                    "tokenizer {}: {text:?} is in the vocabulary (id {id}) but not declared as a \
                     special token, so the text {text:?} does not encode to it",
                    tok.name()
                );
            }
            return Ok(MaskToken {
                text: text.into(),
                id,
            });
        }
    }
    bail!(
        "tokenizer {} has no mask token ([MASK] or <mask>): this project needs a masked \
         language model's tokenizer",
        tok.name()
    )
}

/// The id of the unknown token (`[UNK]` or `<unk>`).
pub fn unk_id(tok: &Tokenizer) -> Result<u32> {
    ["[UNK]", "<unk>"]
        .iter()
        .find_map(|t| tok.token_to_id(t))
        .ok_or_else(|| anyhow!("tokenizer {} has no unknown token", tok.name()))
}

/// Vocabulary lookup of one token string, as transformers' `convert_tokens_to_ids`:
/// a string that is not a vocabulary entry gives the [UNK] id.
pub fn vocab_lookup(tok: &Tokenizer, token: &str) -> Result<u32> {
    match tok.token_to_id(token) {
        Some(id) => Ok(id),
        None => unk_id(tok),
    }
}

/// The vocabulary entry of a whole word as it appears after a space: the word itself
/// for WordPiece (BERT), `Ġword` for byte-level BPE (RoBERTa, whose mask is `<mask>`).
/// None when the word is not one token of the vocabulary.
pub fn word_token(tok: &Tokenizer, mask: &MaskToken, word: &str) -> Option<u32> {
    let entry = if mask.text == "<mask>" {
        format!("Ġ{word}")
    } else {
        word.to_string()
    };
    tok.token_to_id(&entry)
}

/// An error unless `model` is an encoder with its masked-LM head.
pub fn require_mlm(model: &HookedModel) -> Result<()> {
    if !model.cfg.arch.is_encoder() {
        bail!(
            "{} is a {:?} decoder: this project needs a masked language model (BERT or \
             RoBERTa with its masked-LM head), e.g. --model bert-base-uncased",
            model.id,
            model.cfg.arch
        );
    }
    if !model.has_lm_head() {
        bail!(
            "{} is a bare encoder without its masked-LM head (a sentence-transformers \
             checkpoint?): this project reads masked-LM logits, e.g. --model bert-large-uncased",
            model.id
        );
    }
    Ok(())
}

/// The slot of the one mask token among the first `len` tokens of `ids`.
pub fn find_mask(ids: &[i64], len: usize, mask_id: u32) -> Result<usize> {
    let hits: Vec<usize> = ids[..len]
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == mask_id as i64)
        .map(|(i, _)| i)
        .collect();
    match hits.as_slice() {
        [i] => Ok(*i),
        [] => bail!("the sequence holds no mask token (id {mask_id})"),
        _ => bail!(
            "the sequence holds {} mask tokens, expected one",
            hits.len()
        ),
    }
}

/// The rows of a `[batch, pos]` id tensor.
pub fn id_rows(batch: &Batch) -> Result<Vec<Vec<i64>>> {
    let n = batch.size() as usize;
    let w = batch.seq_len() as usize;
    let flat = crate::device::to_vec_i64(&batch.ids)?;
    Ok((0..n).map(|b| flat[b * w..(b + 1) * w].to_vec()).collect())
}

/// Masked-LM logits `[batch, vocab]` (float64, on the CPU) at one slot per sequence:
/// one forward pass, with the MLM head and its 30522-way decoder run only at the
/// distinct slots asked for (`LogitsAt::Positions`), not at every position. Returns the
/// logits and the number of distinct slots the head ran at.
pub fn logits_at_slots(
    model: &HookedModel,
    batch: &Batch,
    slots: &[usize],
) -> Result<(Tensor, usize)> {
    if slots.len() as i64 != batch.size() {
        bail!(
            "{} slots for a batch of {} sequences",
            slots.len(),
            batch.size()
        );
    }
    let mut distinct: Vec<usize> = slots.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let at = LogitsAt::Positions(distinct.iter().map(|&s| s as i64).collect());
    let run = model.run(batch, &RunOptions::default().logits(at))?;
    let logits = run.logits.context("the run returned no logits")?; // [batch, k, vocab]
    let pick: Vec<i64> = slots
        .iter()
        .map(|s| distinct.binary_search(s).unwrap_or(0) as i64)
        .collect();
    let rows = Tensor::arange(batch.size(), (Kind::Int64, logits.device()));
    let pick = Tensor::from_slice(&pick).to_device(logits.device());
    let picked = logits.index(&[Some(rows), Some(pick)]); // [batch, vocab]
    Ok((
        picked.to_kind(Kind::Double).to_device(tch::Device::Cpu),
        distinct.len(),
    ))
}
