//! `common`: the shared library of ml4llm-rs.
//!
//! - [`model`]: hooked transformer models (GPT-2 ...) on libtorch, checked against
//!   `transformers`; [`hooks`]: hook names, the activation cache, interventions.
//! - [`hub`]: model and dataset files from a local folder, the Hugging Face cache or a
//!   download; [`tokenizer`]: HF tokenizers and the bundled GPT-2 / GPT-4 BPEs.
//! - [`stats`], [`plot`], [`output`], [`cli`], [`device`], [`progress`]: the plumbing every
//!   project shares, so that a project's `main.rs` holds only its analysis.

pub mod cli;
pub mod data;
pub mod device;
pub mod embeddings;
pub mod hooks;
pub mod hub;
pub mod mlm;
/// The statistical and ML methods of chapters 4–7 (the `methods` crate: no libtorch,
/// so its tests build in seconds), each checked against scipy / scikit-learn /
/// statsmodels / xgboost.
pub use methods as ml;
pub mod model;
pub mod output;
pub mod patching;
pub mod plot;
pub mod progress;
pub mod sampling;
pub mod stats;
pub mod testing;
pub mod text;
pub mod tokenizer;

pub use hooks::{ActivationCache, Hook, Names};
pub use model::batching::SequenceOutput;
pub use model::{Batch, HookedModel, LogitsAt, PaddingSide, RunOptions};

/// The workspace's `assets/` folder (tiny models, fonts, fixtures, word lists).
/// `ML4LLM_ASSETS` overrides it, e.g. for a binary moved away from the source tree.
pub fn assets_dir() -> std::path::PathBuf {
    match std::env::var_os("ML4LLM_ASSETS") {
        Some(p) => p.into(),
        None => {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("assets");
            p.canonicalize().unwrap_or(p)
        }
    }
}
