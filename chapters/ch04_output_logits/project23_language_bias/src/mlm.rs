//! The masked-LM helpers live in `common::mlm`; this module adds the `--quick` model.
//!
//! assets/models/tiny-bert/tokenizer.json declares no special tokens (an empty
//! `added_tokens` list), so the text "[MASK]" splits into `[UNK] m ##a ##s ##k [UNK]`
//! instead of becoming id 4; `quick_model_dir` gives a copy that declares them.

pub use common::mlm::*;

use anyhow::{anyhow, Context, Result};
use std::path::PathBuf;

/// The model folder `--quick` loads: tiny-bert itself when its tokenizer declares its
/// special tokens, else a temporary copy whose tokenizer.json declares [PAD], [UNK],
/// [CLS], [SEP] and [MASK] (ids from its vocabulary), so that "[MASK]" in text is the
/// mask token as in every real BERT tokenizer. The weights are the same file's.
pub fn quick_model_dir() -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    let src = common::assets_dir().join("models/tiny-bert");
    let tok_path = src.join("tokenizer.json");
    let text = std::fs::read_to_string(&tok_path)
        .with_context(|| format!("reading {}", tok_path.display()))?;
    let mut tok: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", tok_path.display()))?;
    let declared = tok["added_tokens"]
        .as_array()
        .is_some_and(|a| a.iter().any(|t| t["content"] == "[MASK]"));
    if declared {
        return Ok((src, None));
    }
    let vocab = tok["model"]["vocab"]
        .as_object()
        .ok_or_else(|| anyhow!("{} has no WordPiece vocabulary", tok_path.display()))?;
    let mut added = Vec::new();
    for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
        let id = vocab
            .get(t)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| anyhow!("{} has no {t} entry", tok_path.display()))?;
        added.push(serde_json::json!({
            "id": id, "content": t, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    }
    tok["added_tokens"] = serde_json::Value::Array(added);
    let dir = tempfile::Builder::new()
        .prefix("p23-tiny-bert-")
        .tempdir()?;
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f))
            .with_context(|| format!("copying {}", src.join(f).display()))?;
    }
    std::fs::write(
        dir.path().join("tokenizer.json"),
        serde_json::to_string(&tok)?,
    )?;
    Ok((dir.path().to_path_buf(), Some(dir)))
}
