//! What `--quick` changes: tiny-bert (random weights, 2 layers, 64 MLP neurons, a
//! 140-entry vocabulary without "him" or "her") with its special tokens declared, and
//! two stand-in words of its vocabulary that play "him" and "her" in the same sentences.

use anyhow::{anyhow, Context, Result};
use common::tokenizer::Tokenizer;

/// The tiny vocabulary's stand-ins for "him" and "her" (words no sentence holds).
pub const STAND_IN_HIM: &str = "platypus";
pub const STAND_IN_HER: &str = "plethora";

/// tiny-bert's tokenizer with [PAD], [UNK], [CLS], [SEP] and [MASK] declared as special
/// tokens (assets/models/tiny-bert/tokenizer.json declares none, so the text "[MASK]"
/// would split into pieces instead of becoming id 4, as it does in every real BERT
/// tokenizer). The same as project 23's quick model folder does, here for the tokenizer
/// alone (a candidate for common).
pub fn tiny_bert_tokenizer(dir: &std::path::Path) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut tok: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    let vocab = tok["model"]["vocab"]
        .as_object()
        .ok_or_else(|| anyhow!("{} has no WordPiece vocabulary", path.display()))?;
    let mut added = Vec::new();
    for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] {
        let id = vocab
            .get(t)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| anyhow!("{} has no {t} entry", path.display()))?;
        added.push(serde_json::json!({
            "id": id, "content": t, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    }
    tok["added_tokens"] = serde_json::Value::Array(added);
    let tmp = tempfile::Builder::new()
        .prefix("p46-tiny-bert-")
        .tempdir()?;
    let file = tmp.path().join("tokenizer.json");
    std::fs::write(&file, serde_json::to_string(&tok)?)?;
    Tokenizer::from_file(&file)
}

/// `text` with every whole word `from` (letters and digits delimit words) replaced by `to`.
pub fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if word == from { to } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert_eq!(
            replace_word("She gave him his himself him.", "him", "X"),
            "She gave X his himself X."
        );
        assert_eq!(replace_word("him", "him", "her"), "her");
    }
}
