//! Parameter counts from a model's `config.json` alone (shapes, no weights), as
//! `sum(p.numel() for p in model.parameters())` counts them in transformers for
//! `GPT2LMHeadModel` and `RobertaForMaskedLM` / `BertForMaskedLM`: tied matrices once
//! (GPT-2's unembedding is its token embedding; the MLM decoder is the word embedding),
//! and no pooler, which the masked-LM models do not have (the hub's RoBERTa checkpoints
//! still store one; loading them as RobertaForMaskedLM leaves it unused).

use anyhow::{anyhow, Result};
use serde_json::Value;

/// The `config.json` of the book's four models, as the Hugging Face hub serves them
/// (`gpt2`, `gpt2-large`, `FacebookAI/roberta-base`, `FacebookAI/roberta-large`).
pub const BOOK_CONFIGS: [(&str, &str); 4] = [
    ("gpt2", include_str!("../data/book_configs/gpt2.json")),
    (
        "gpt2-large",
        include_str!("../data/book_configs/gpt2-large.json"),
    ),
    (
        "roberta-base",
        include_str!("../data/book_configs/roberta-base.json"),
    ),
    (
        "roberta-large",
        include_str!("../data/book_configs/roberta-large.json"),
    ),
];

fn field(cfg: &Value, key: &str) -> Result<i64> {
    cfg.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| anyhow!("config.json has no integer {key:?}"))
}

/// One transformer block with hidden width `d` and MLP width `f`: Q, K, V and output
/// projections with biases (4d² + 4d), two layer norms (4d), and the MLP's two linear
/// maps with biases (2df + f + d). GPT-2's pre-LN block and BERT's post-LN block have
/// the same tensors.
fn block(d: i64, f: i64) -> i64 {
    4 * d * d + 4 * d + 4 * d + 2 * d * f + f + d
}

/// The number of parameters of the model a config describes, or `None` for an
/// architecture this function does not know (the caller then counts the loaded tensors).
pub fn config_param_count(cfg: &Value) -> Result<Option<i64>> {
    let model_type = cfg.get("model_type").and_then(Value::as_str).unwrap_or("");
    Ok(Some(match model_type {
        "gpt2" => {
            let (v, p, d, l) = (
                field(cfg, "vocab_size")?,
                field(cfg, "n_positions")?,
                field(cfg, "n_embd")?,
                field(cfg, "n_layer")?,
            );
            let f = cfg.get("n_inner").and_then(Value::as_i64).unwrap_or(4 * d);
            // token + position embeddings, the blocks, the final layer norm; the LM head
            // is the token embedding (tied).
            v * d + p * d + l * block(d, f) + 2 * d
        }
        "roberta" | "bert" => {
            let (v, p, t, d, l, f) = (
                field(cfg, "vocab_size")?,
                field(cfg, "max_position_embeddings")?,
                field(cfg, "type_vocab_size")?,
                field(cfg, "hidden_size")?,
                field(cfg, "num_hidden_layers")?,
                field(cfg, "intermediate_size")?,
            );
            let embeddings = v * d + p * d + t * d + 2 * d;
            // MLM head: dense d -> d, layer norm, decoder tied to the word embeddings,
            // one output bias per vocabulary entry.
            let head = d * d + d + 2 * d + v;
            embeddings + l * block(d, f) + head
        }
        _ => return Ok(None),
    }))
}
