//! Transformer language models with TransformerLens-style hook points.
//!
//! [`HookedModel`] loads a Hugging Face checkpoint (architecture chosen from
//! `config.json`) with the weights exactly as published — no layer-norm folding or
//! other rewriting — so its outputs equal `transformers`' outputs (tests check this
//! against reference files to 1e-4). One run ([`HookedModel::run`]) can cache chosen
//! hook points, apply interventions, and compute logits at all, some, or no positions;
//! a run that needs no logits stops after the deepest block it reads.
//!
//! The device and dtype are chosen at load ([`LoadOptions`]; `--device`/`--dtype`
//! through [`crate::cli::CommonArgs::load_model`]); [`HookedModel::to_device`] moves a
//! loaded model. Inputs (batches, hook tensors, `start_at` residuals) may live anywhere:
//! a run moves them to the model's device. Cached activations stay on the model's
//! device unless [`RunOptions::cache_on`] says otherwise.
//!
//! Hook points of a GPT-2 model (shapes for a batch of `b` sequences of `p` tokens,
//! `d` = d_model, `h` heads of size `dh`, `m` = d_mlp, `V` = vocabulary):
//! - `hook_embed`, `hook_pos_embed` `[b, p, d]`: token and position embeddings;
//! - per block `blocks.{l}.`:
//!   `hook_resid_pre` `[b, p, d]` (block input), `ln1.hook_normalized` `[b, p, d]`,
//!   `attn.hook_q|hook_k|hook_v` `[b, p, h, dh]`,
//!   `attn.hook_attn_scores` `[b, h, p_query, p_key]` (scaled by 1/sqrt(dh), masked
//!   entries -inf), `attn.hook_pattern` `[b, h, p_query, p_key]` (softmax),
//!   `attn.hook_z` `[b, p, h, dh]` (pattern-weighted values, before the output
//!   projection), `hook_attn_out` `[b, p, d]`, `hook_resid_mid` `[b, p, d]`,
//!   `ln2.hook_normalized`, `mlp.hook_pre` `[b, p, m]` (before GELU), `mlp.hook_post`
//!   `[b, p, m]` (after GELU), `hook_mlp_out` `[b, p, d]`, `hook_resid_post` `[b, p, d]`;
//! - `ln_final.hook_normalized` `[b, p, d]`: the final layer norm's output, which the
//!   unembedding turns into logits `[b, p, V]`.
//!
//! The other architectures use the same names where the same tensor exists, and say
//! where they differ (docs/models.md has the table):
//! - GPT-Neo ([`gpt_neo`]): GPT-2's names; scores are unscaled, local layers windowed.
//! - GPT-NeoX / Pythia ([`gpt_neox`]): no `hook_pos_embed` (rotary embeddings),
//!   `attn.hook_rot_q|hook_rot_k` after the rotation, and no `hook_resid_mid` (parallel
//!   residual: `ln2.hook_normalized` normalises `hook_resid_pre`).
//! - BERT and RoBERTa ([`bert`]): TransformerLens's `HookedEncoder` names for post-LN
//!   blocks — `hook_resid_mid` and `hook_resid_post` are the sums *before* each layer
//!   norm, `hook_normalized_resid_post` is the block output (= transformers'
//!   `hidden_states[l + 1]`); plus `hook_token_type_embed`, `embed.ln.hook_normalized`
//!   and, instead of `ln_final.hook_normalized`, `mlm_head.ln.hook_normalized`.
//!   Attention is bidirectional; logits are the masked-LM logits.

pub mod batching;
pub mod bert;
mod config;
mod gpt2;
pub mod gpt_neo;
pub mod gpt_neox;
pub mod hidden;
mod layers;
mod loss;
pub mod weights;

use crate::hooks::{ActivationCache, Hook, HookRun, Names};
use crate::hub::{resolve_model_at, ModelFiles};
use crate::tokenizer::Tokenizer;
use anyhow::{anyhow, bail, Context, Result};
use tch::{Device, Kind, Tensor};

/// The architectures this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// GPT-2 (`model_type` gpt2).
    Gpt2,
    /// BERT encoder with its masked-LM head (`bert`).
    Bert,
    /// RoBERTa encoder with its masked-LM head (`roberta`).
    Roberta,
    /// GPT-Neo (`gpt_neo`): alternating global/local attention.
    GptNeo,
    /// GPT-NeoX / Pythia (`gpt_neox`): rotary embeddings, parallel residual.
    GptNeoX,
}

impl Arch {
    /// Encoders (BERT, RoBERTa) attend in both directions and predict masked tokens.
    pub fn is_encoder(self) -> bool {
        matches!(self, Arch::Bert | Arch::Roberta)
    }
    /// The name of the hook on the last normalised residual before the unembedding:
    /// `ln_final.hook_normalized`, or `mlm_head.ln.hook_normalized` for encoders.
    pub fn final_hook(self) -> &'static str {
        if self.is_encoder() {
            bert::FINAL_HOOK
        } else {
            "ln_final.hook_normalized"
        }
    }
}

/// The dimensions every architecture shares, read from `config.json`.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: Arch,
    /// `model_type` from config.json (`gpt2`, `bert`, `roberta`, `gpt_neo`, `gpt_neox`).
    pub model_type: String,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_model: usize,
    pub d_head: usize,
    pub d_mlp: usize,
    /// Longest sequence the position embeddings allow.
    pub n_ctx: usize,
    pub vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Token id used to pad batches (never attended to): the config's `pad_token_id`
    /// (decoders: else its `eos_token_id`); for decoders an id inside the vocabulary
    /// replaces one outside it (see [`ModelConfig::from_file`]), so padding never indexes
    /// past the embedding.
    pub pad_token_id: i64,
    /// End-of-text token id, if the model has one.
    pub eos_token_id: Option<i64>,
    /// The whole config.json, for architecture-specific fields.
    pub raw: serde_json::Value,
}

impl ModelConfig {
    /// Read and check a `config.json`. A decoder's pad id outside the vocabulary (a null
    /// `pad_token_id` falls back to `eos_token_id`, which a small vocabulary may not
    /// hold) is replaced by the eos id if that is inside, else 0; an encoder's is an error.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let raw: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let model_type = raw
            .get("model_type")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let mut cfg = match model_type.as_str() {
            "gpt2" => gpt2::config(raw, model_type),
            "bert" | "roberta" => bert::config(raw, model_type),
            "gpt_neo" => gpt_neo::config(raw, model_type),
            "gpt_neox" => gpt_neox::config(raw, model_type),
            "" => bail!("{} has no model_type", path.display()),
            other => bail!(
                "model_type {other:?} is not supported yet \
                 (supported: gpt2, bert, roberta, gpt_neo, gpt_neox)"
            ),
        }?;
        cfg.pad_token_id = pad_id_inside_vocab(&cfg, path)?;
        Ok(cfg)
    }
}

/// The id that fills padded slots: it must be a row of the embedding, or the embedding
/// fails. Decoders (GPT-2, GPT-Neo, GPT-NeoX) never read it (padded positions are
/// masked and their position ids come from the mask), so when the config's
/// `pad_token_id` (or the `eos_token_id` it falls back to when null) lies outside the
/// vocabulary, the eos id is used if it is inside, else 0: outputs at real tokens are
/// the same for any choice. Encoders embed it as their padding index (RoBERTa also counts
/// positions from it), as transformers does, so there it must be inside: an error.
fn pad_id_inside_vocab(cfg: &ModelConfig, path: &std::path::Path) -> Result<i64> {
    let v = cfg.vocab_size as i64;
    let inside = |id: i64| (0..v).contains(&id);
    if inside(cfg.pad_token_id) {
        return Ok(cfg.pad_token_id);
    }
    if cfg.arch.is_encoder() {
        bail!(
            "{}: pad_token_id {} lies outside the vocabulary (vocab_size {v}); {} uses it as \
             the padding index of its embeddings, so it must be in 0..{v}: fix pad_token_id \
             in config.json",
            path.display(),
            cfg.pad_token_id,
            cfg.model_type
        );
    }
    Ok(cfg.eos_token_id.filter(|&e| inside(e)).unwrap_or(0))
}

/// Which side of a shorter sequence the padding goes on in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    Right,
    Left,
}

/// A batch of token sequences padded to one length.
#[derive(Debug)]
pub struct Batch {
    /// `[batch, pos]` int64 token ids (padding slots hold the pad id).
    pub ids: Tensor,
    /// `[batch, pos]` int64, 1 for real tokens and 0 for padding.
    pub mask: Tensor,
    /// Number of real tokens of each sequence.
    pub lengths: Vec<i64>,
    pub padding: PaddingSide,
    /// `[batch, pos]` int64 segment ids for BERT-style sentence pairs (0 = first
    /// segment, 1 = second); None means all zeros. Ignored by decoder-only models.
    pub token_type_ids: Option<Tensor>,
}

/// Integer kinds that can hold token ids.
fn is_integer(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Uint8 | Kind::Int8 | Kind::Int16 | Kind::Int | Kind::Int64
    )
}

/// The first `[batch, pos]` slot where `bad` (bool, `[batch, pos]`) is true, if any.
fn first_slot(bad: &Tensor) -> Result<Option<(i64, i64)>> {
    if !bool::try_from(bad.any())? {
        return Ok(None);
    }
    let at = Vec::<i64>::try_from(bad.nonzero().get(0))?;
    Ok(Some((at[0], at[1])))
}

impl Batch {
    /// Check the batch against a model's vocabulary (`vocab_size` ids), context (`n_ctx`
    /// positions) and, for encoders, token type vocabulary (`type_vocab_size`): ids and
    /// mask `[batch, pos]` integers of one shape, the mask 0/1 with at least one real
    /// token per sequence and `lengths` its row sums, every id (padding slots included)
    /// in `0..vocab_size`, every token type id in `0..type_vocab_size`. The error names
    /// the first bad id and its slot. [`HookedModel::run`] calls this on every batch, so
    /// a hand-made batch cannot index past an embedding.
    pub fn check(
        &self,
        vocab_size: usize,
        n_ctx: usize,
        type_vocab_size: Option<usize>,
    ) -> Result<()> {
        let shape = self.ids.size();
        if shape.len() != 2 {
            bail!("a batch's token ids must be a [batch, pos] tensor, got shape {shape:?}");
        }
        let (b, p) = (shape[0], shape[1]);
        if b == 0 || p == 0 {
            bail!("the batch holds no tokens (ids of shape {shape:?})");
        }
        if !is_integer(self.ids.kind()) {
            bail!(
                "token ids must be an integer tensor, got {:?}",
                self.ids.kind()
            );
        }
        if p as usize > n_ctx {
            bail!(
                "the batch is {p} tokens long, longer than the model's context of {n_ctx} \
                 tokens; shorten the text"
            );
        }
        if self.mask.size() != shape || !is_integer(self.mask.kind()) {
            bail!(
                "the batch's mask must be an integer tensor of the ids' shape {shape:?}, got \
                 {:?} {:?}",
                self.mask.kind(),
                self.mask.size()
            );
        }
        let cpu = Device::Cpu;
        let mask = self.mask.to_device(cpu).to_kind(Kind::Int64);
        if let Some((i, j)) = first_slot(&mask.lt(0).logical_or(&mask.gt(1)))? {
            bail!(
                "the batch's mask holds {} at sequence {i}, position {j}: it must be 1 for a \
                 real token and 0 for padding",
                mask.int64_value(&[i, j])
            );
        }
        let real = Vec::<i64>::try_from(mask.sum_dim_intlist(1, false, Kind::Int64))?;
        if self.lengths != real {
            bail!(
                "the batch's lengths {:?} do not count its mask's real tokens {real:?}",
                self.lengths
            );
        }
        if let Some(i) = real.iter().position(|&n| n == 0) {
            bail!("sequence {i} of the batch has no real token (its mask is all 0)");
        }
        let ids = self.ids.to_device(cpu).to_kind(Kind::Int64);
        let v = vocab_size as i64;
        if let Some((i, j)) = first_slot(&ids.lt(0).logical_or(&ids.ge(v)))? {
            let id = ids.int64_value(&[i, j]);
            if mask.int64_value(&[i, j]) == 0 {
                bail!(
                    "padding slot {j} of sequence {i} holds id {id}, outside the vocabulary \
                     (0..{v}): pad with an id inside it, e.g. the model's cfg.pad_token_id, or \
                     build the batch with HookedModel::batch_from_ids"
                );
            }
            bail!(
                "sequence {i} holds token id {id} at position {j}, outside the vocabulary of \
                 {v} (ids 0..{v})"
            );
        }
        if let (Some(t), Some(n)) = (&self.token_type_ids, type_vocab_size) {
            if t.size() != shape || !is_integer(t.kind()) {
                bail!(
                    "token type ids must be an integer tensor of the ids' shape {shape:?}, got \
                     {:?} {:?}",
                    t.kind(),
                    t.size()
                );
            }
            let t = t.to_device(cpu).to_kind(Kind::Int64);
            if let Some((i, j)) = first_slot(&t.lt(0).logical_or(&t.ge(n as i64)))? {
                bail!(
                    "sequence {i} has token type id {} at position {j}; this model has {n} \
                     token type(s) (ids 0..{n})",
                    t.int64_value(&[i, j])
                );
            }
        }
        Ok(())
    }

    /// Pad `seqs` to the longest with `pad_id` on `side`. Empty sequences are an error.
    /// `pad_id` must be a token id of the model the batch is for (a run checks every id:
    /// [`Batch::check`]); [`HookedModel::batch_from_ids`] pads with the model's own.
    pub fn from_ids(seqs: &[Vec<u32>], pad_id: i64, side: PaddingSide) -> Result<Self> {
        if seqs.is_empty() {
            bail!("a batch needs at least one sequence");
        }
        if let Some(i) = seqs.iter().position(|s| s.is_empty()) {
            bail!("sequence {i} of the batch has no tokens");
        }
        let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = vec![pad_id; seqs.len() * width];
        let mut mask = vec![0i64; seqs.len() * width];
        for (b, s) in seqs.iter().enumerate() {
            let start = match side {
                PaddingSide::Right => 0,
                PaddingSide::Left => width - s.len(),
            };
            for (j, &t) in s.iter().enumerate() {
                ids[b * width + start + j] = t as i64;
                mask[b * width + start + j] = 1;
            }
        }
        let shape = [seqs.len() as i64, width as i64];
        Ok(Batch {
            ids: Tensor::from_slice(&ids).view(shape),
            mask: Tensor::from_slice(&mask).view(shape),
            lengths: seqs.iter().map(|s| s.len() as i64).collect(),
            padding: side,
            token_type_ids: None,
        })
    }

    /// Set the token type (segment) ids, `[batch, pos]` int64 with the batch's shape.
    /// Their range is checked against the model when the batch runs ([`Batch::check`]).
    pub fn with_token_type_ids(mut self, token_type_ids: Tensor) -> Result<Self> {
        if token_type_ids.size() != self.ids.size() {
            bail!(
                "token type ids have shape {:?}, the batch's ids {:?}",
                token_type_ids.size(),
                self.ids.size()
            );
        }
        if !is_integer(token_type_ids.kind()) {
            bail!(
                "token type ids must be integers (0 = first segment, 1 = second), got {:?}",
                token_type_ids.kind()
            );
        }
        self.token_type_ids = Some(token_type_ids.to_kind(Kind::Int64));
        Ok(self)
    }

    /// Number of sequences.
    pub fn size(&self) -> i64 {
        self.ids.size()[0]
    }
    /// Padded length.
    pub fn seq_len(&self) -> i64 {
        self.ids.size()[1]
    }
    /// The slot of each sequence's last real token: `[batch]` int64.
    pub fn last_positions(&self) -> Tensor {
        let w = self.seq_len();
        let v: Vec<i64> = match self.padding {
            PaddingSide::Right => self.lengths.iter().map(|l| l - 1).collect(),
            PaddingSide::Left => self.lengths.iter().map(|_| w - 1).collect(),
        };
        Tensor::from_slice(&v)
    }
    /// Position ids counted over real tokens only, so a left-padded sequence gets the
    /// same positions as on its own: `[batch, pos]` int64.
    pub fn position_ids(&self) -> Tensor {
        (self.mask.cumsum(1, Kind::Int64) - 1).clamp_min(0)
    }
}

/// Where logits are wanted.
#[derive(Debug, Clone, PartialEq)]
pub enum LogitsAt {
    /// `[batch, pos, vocab]`.
    All,
    /// Each sequence's last real token: `[batch, vocab]`.
    Last,
    /// These slots (negative counts from the end): `[batch, n, vocab]`.
    Positions(Vec<i64>),
    /// None: skip the final layer norm and the unembedding.
    None,
}

/// What one forward pass should cache, change and return.
pub struct RunOptions<'a> {
    pub cache: Names,
    pub hooks: &'a [Hook],
    pub logits: LogitsAt,
    /// Move cached tensors here (e.g. the CPU) as they are stored; default: stay put.
    pub cache_device: Option<Device>,
    /// Start at block `l` from this residual stream (`blocks.{l}.hook_resid_pre`,
    /// `[batch, pos, d_model]`) instead of embedding the tokens and running blocks
    /// `0..l`: the prefix a patch does not change is not recomputed.
    pub start: Option<(usize, Tensor)>,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            cache: Names::none(),
            hooks: &[],
            logits: LogitsAt::All,
            cache_device: None,
            start: None,
        }
    }
}

impl<'a> RunOptions<'a> {
    /// Cache these names.
    pub fn cache(mut self, names: Names) -> Self {
        self.cache = names;
        self
    }
    /// Apply these hooks.
    pub fn hooks(mut self, hooks: &'a [Hook]) -> Self {
        self.hooks = hooks;
        self
    }
    /// Compute logits here.
    pub fn logits(mut self, at: LogitsAt) -> Self {
        self.logits = at;
        self
    }
    /// Store cached tensors on this device.
    pub fn cache_on(mut self, device: Device) -> Self {
        self.cache_device = Some(device);
        self
    }
    /// Start at block `layer` from `resid_pre` `[batch, pos, d_model]` (the cached
    /// `blocks.{layer}.hook_resid_pre` of an earlier run of the same tokens).
    pub fn start_at(mut self, layer: usize, resid_pre: Tensor) -> Self {
        self.start = Some((layer, resid_pre));
        self
    }
}

/// What a run returns.
pub struct RunOutput {
    /// Logits as asked for in [`RunOptions::logits`] (None when not asked).
    pub logits: Option<Tensor>,
    pub cache: ActivationCache,
    /// The blocks this run computed, in order: all of them when logits (or the final
    /// norm) are wanted, else up to the deepest block a cache name or hook touches, and
    /// from the `start_at` block on.
    pub blocks_run: Vec<usize>,
}

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub device: Device,
    /// Weight dtype: `Kind::Float` (default), `Kind::Half` or `Kind::BFloat16` on CUDA.
    pub dtype: Kind,
    /// Hub revision: a branch, tag or commit hash (e.g. `step3000` for one of Pythia's
    /// intermediate checkpoints); None is the main branch. An error for a local directory.
    pub revision: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            device: Device::Cpu,
            dtype: Kind::Float,
            revision: None,
        }
    }
}

fn build_net(cfg: &ModelConfig, w: &weights::Weights) -> Result<Net> {
    Ok(match cfg.arch {
        Arch::Gpt2 => Net::Gpt2(gpt2::Gpt2::new(cfg, w)?),
        Arch::Bert | Arch::Roberta => Net::Bert(bert::Bert::new(cfg, w)?),
        Arch::GptNeo => Net::GptNeo(gpt_neo::GptNeo::new(cfg, w)?),
        Arch::GptNeoX => Net::GptNeoX(gpt_neox::GptNeoX::new(cfg, w)?),
    })
}

fn refuse_half_on_cpu(device: Device, dtype: Kind) -> Result<()> {
    if device == Device::Cpu && matches!(dtype, Kind::Half | Kind::BFloat16) {
        bail!(
            "{dtype:?} weights are only supported on CUDA here (half-precision matmuls on the \
             CPU are slow or missing): load in float32 on the CPU (--dtype f32) or pick a \
             GPU (--device cuda)"
        );
    }
    Ok(())
}

pub(crate) enum Net {
    Gpt2(gpt2::Gpt2),
    /// BERT and RoBERTa.
    Bert(bert::Bert),
    GptNeo(gpt_neo::GptNeo),
    GptNeoX(gpt_neox::GptNeoX),
}

/// Everything the network code needs for one forward pass.
pub(crate) struct Pass<'h, 'r> {
    pub ids: &'r Tensor,
    pub position_ids: &'r Tensor,
    /// `[batch, 1, 1, pos]` true where a key is a real token.
    pub key_mask: &'r Tensor,
    /// `[batch, pos]` segment ids (encoders; None = zeros).
    pub token_type_ids: Option<&'r Tensor>,
    pub hooks: &'r mut HookRun<'h>,
    /// Number of blocks to run.
    pub n_blocks: usize,
    /// Start at this block from this residual stream (skipping the embeddings).
    pub start: Option<(usize, Tensor)>,
}

impl Pass<'_, '_> {
    /// The residual stream the first block to run receives and that block's index:
    /// the given start, or `embed(hooks)` and block 0.
    pub fn first_block(
        &mut self,
        embed: impl FnOnce(&mut HookRun) -> Result<Tensor>,
    ) -> Result<(Tensor, usize)> {
        match self.start.take() {
            Some((l, x)) => Ok((x, l)),
            None => Ok((embed(self.hooks)?, 0)),
        }
    }
}

/// A language model with hook points. See the module docs for the hook names.
pub struct HookedModel {
    pub cfg: ModelConfig,
    /// The model's tokenizer. A model folder without `tokenizer.json` (saved with
    /// `save_pretrained` of the model alone) still loads and runs on token ids; then its
    /// tokenizer has no vocabulary ([`Tokenizer::is_available`] false) and each encode or
    /// decode returns the error that names the file to add and the folder.
    pub tokenizer: Tokenizer,
    /// The model id or directory it was loaded from.
    pub id: String,
    device: Device,
    dtype: Kind,
    net: Net,
    /// The tensors `net` holds (shallow copies, no extra memory), to rebuild it on
    /// another device.
    weights: weights::Weights,
    hook_names: Vec<String>,
}

impl HookedModel {
    /// Load `id_or_path` (hub id or local directory) onto `device` in float32. The
    /// architecture comes from `config.json`'s `model_type`.
    pub fn from_pretrained(id_or_path: &str, device: Device) -> Result<Self> {
        Self::load(
            id_or_path,
            LoadOptions {
                device,
                ..Default::default()
            },
        )
    }

    /// Load with explicit options.
    pub fn load(id_or_path: &str, opts: LoadOptions) -> Result<Self> {
        let files = resolve_model_at(id_or_path, opts.revision.as_deref())?;
        Self::load_files(&files, opts).with_context(|| format!("loading model {id_or_path:?}"))
    }

    /// Load from already-resolved files. Weights kept in their stored dtype on the CPU
    /// are views of the files' memory maps, read by the kernel on first use
    /// ([`weights::map_all`]): do not overwrite a loaded model's weight file in place
    /// (write a new file and rename it over the old one).
    pub fn load_files(files: &ModelFiles, opts: LoadOptions) -> Result<Self> {
        refuse_half_on_cpu(opts.device, opts.dtype)?;
        let cfg = ModelConfig::from_file(&files.config)?;
        // No tokenizer file is no error here: the model works on token ids, and the
        // tokenizer's calls say which file to add (Tokenizer::for_model_deferred).
        let tokenizer = Tokenizer::for_model_deferred(files, cfg.vocab_size)?;
        let mut w = weights::Weights::load(&files.weights, opts.device, opts.dtype)?;
        let net = build_net(&cfg, &w)?;
        w.retain_used();
        let hook_names = match cfg.arch {
            Arch::Gpt2 => gpt2::hook_names(cfg.n_layers),
            Arch::Bert | Arch::Roberta => bert::hook_names(cfg.n_layers),
            Arch::GptNeo => gpt_neo::hook_names(cfg.n_layers),
            Arch::GptNeoX => gpt_neox::hook_names(cfg.n_layers),
        };
        Ok(HookedModel {
            cfg,
            tokenizer,
            id: files.id.clone(),
            device: opts.device,
            dtype: opts.dtype,
            net,
            weights: w,
            hook_names,
        })
    }

    /// Move the weights to `device` and rebuild the network there (on the device the
    /// weights already live on, nothing is copied). The dtype stays; half-precision
    /// weights cannot move to the CPU (the loader's rule). While moving, the weights
    /// exist on both devices; on an error the model stays where it was.
    pub fn to_device(&mut self, device: Device) -> Result<()> {
        if let Device::Cuda(i) = device {
            let n = tch::Cuda::device_count().max(0) as usize;
            if !tch::Cuda::is_available() || i >= n {
                bail!(
                    "cannot move {} to cuda:{i}: libtorch sees {n} CUDA device(s) here",
                    self.id
                );
            }
        }
        refuse_half_on_cpu(device, self.dtype)?;
        let w = self.weights.to_device(device)?;
        let net = build_net(&self.cfg, &w)?;
        self.net = net;
        self.weights = w;
        self.device = device;
        Ok(())
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.device
    }
    /// The weights' dtype.
    pub fn dtype(&self) -> Kind {
        self.dtype
    }

    /// Every hook point name, in forward order (which names exist depends on the
    /// architecture: see the module docs).
    pub fn hook_names(&self) -> &[String] {
        &self.hook_names
    }

    /// The hook on the last normalised residual before the unembedding:
    /// `ln_final.hook_normalized` (decoders) or `mlm_head.ln.hook_normalized` (encoders).
    pub fn final_hook(&self) -> &'static str {
        self.cfg.arch.final_hook()
    }

    /// Whether the model can produce logits: false only for a bare encoder checkpoint
    /// without its masked-LM head (e.g. sentence-transformers' all-MiniLM-L6-v2).
    pub fn has_lm_head(&self) -> bool {
        match &self.net {
            Net::Bert(m) => m.has_head(),
            _ => true,
        }
    }

    /// Number of parameters, tied matrices counted once (GPT-2 small: 124,439,808).
    /// Includes checkpoint parameters the forward pass does not use (BERT's pooler).
    pub fn n_params(&self) -> i64 {
        match &self.net {
            Net::Gpt2(m) => m.n_params(),
            Net::Bert(m) => m.n_params(),
            Net::GptNeo(m) => m.n_params(),
            Net::GptNeoX(m) => m.n_params(),
        }
    }

    /// Token embedding matrix `W_E`: `[vocab, d_model]` (BERT/RoBERTa
    /// `word_embeddings`, GPT-NeoX `embed_in`).
    pub fn embed_matrix(&self) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => m.wte.shallow_clone(),
            Net::Bert(m) => m.wte.shallow_clone(),
            Net::GptNeo(m) => m.wte.shallow_clone(),
            Net::GptNeoX(m) => m.wte.shallow_clone(),
        }
    }

    /// Position embedding matrix `W_pos`: `[n_ctx, d_model]`, row `i` = position `i`
    /// (RoBERTa: the stored matrix without its first `padding_idx + 1` rows, which no
    /// real token uses). GPT-NeoX has no position embeddings (rotary embeddings rotate
    /// queries and keys instead): an error says so.
    pub fn pos_embed_matrix(&self) -> Result<Tensor> {
        match &self.net {
            Net::Gpt2(m) => Ok(m.wpe.shallow_clone()),
            Net::Bert(m) => Ok(m.pos_embed_matrix()),
            Net::GptNeo(m) => Ok(m.wpe.shallow_clone()),
            Net::GptNeoX(_) => bail!(
                "{} (GPT-NeoX) has no position embedding matrix: positions enter through \
                 rotary embeddings of the queries and keys (see attn.hook_rot_q / hook_rot_k)",
                self.id
            ),
        }
    }

    /// Token type (segment) embeddings `[type_vocab_size, d_model]` (BERT: 2 rows,
    /// RoBERTa: 1); an error for decoder-only models, which have none.
    pub fn token_type_embed_matrix(&self) -> Result<Tensor> {
        match &self.net {
            Net::Bert(m) => Ok(m.tte.shallow_clone()),
            _ => bail!(
                "{} is not a BERT-style encoder: it has no token type embeddings",
                self.id
            ),
        }
    }

    /// Unembedding `W_U`: `[d_model, vocab]`: GPT-2 / GPT-Neo the transposed token
    /// embedding (tied), GPT-NeoX `embed_out` transposed, BERT/RoBERTa the masked-LM
    /// decoder transposed (tied to the token embedding; it acts on the head transform's
    /// output `mlm_head.ln.hook_normalized`, not on the residual stream directly, and is
    /// followed by a bias).
    pub fn unembed_matrix(&self) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => m.unembed_weight().tr(),
            Net::Bert(m) => m.decoder_weight().tr(),
            Net::GptNeo(m) => m.unembed_weight().tr(),
            Net::GptNeoX(m) => m.unembed_weight().tr(),
        }
    }

    /// Tokenize one text into a batch of one. Decoders (GPT-2, GPT-Neo, GPT-NeoX): no
    /// special tokens added. Encoders (BERT, RoBERTa): the special tokens the model was
    /// trained with are added (`[CLS] … [SEP]`, `<s> … </s>`), as `tokenizer(text)` does
    /// in transformers.
    pub fn to_tokens(&self, text: &str) -> Result<Batch> {
        self.to_tokens_batch(&[text], PaddingSide::Right)
    }

    /// Tokenize several texts into one padded batch (special tokens as in
    /// [`Self::to_tokens`]).
    pub fn to_tokens_batch<S: AsRef<str>>(&self, texts: &[S], side: PaddingSide) -> Result<Batch> {
        let encoder = self.cfg.arch.is_encoder();
        let seqs = texts
            .iter()
            .map(|t| {
                let ids = if encoder {
                    self.tokenizer.encode_with_special_tokens(t.as_ref())?
                } else {
                    self.tokenizer.encode(t.as_ref())?
                };
                if ids.is_empty() {
                    bail!("the text {:?} has no tokens", t.as_ref());
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_from_ids(&seqs, side)
    }

    /// A padded batch from token ids, checked against the vocabulary and the context,
    /// padded with the model's pad id (inside the vocabulary: see
    /// [`ModelConfig::pad_token_id`]).
    pub fn batch_from_ids(&self, seqs: &[Vec<u32>], side: PaddingSide) -> Result<Batch> {
        for (i, s) in seqs.iter().enumerate() {
            if s.len() > self.cfg.n_ctx {
                bail!(
                    "sequence {i} is {} tokens long, longer than the model's context of {} tokens; shorten the text",
                    s.len(),
                    self.cfg.n_ctx
                );
            }
            if let Some(j) = s.iter().position(|&t| t as usize >= self.cfg.vocab_size) {
                bail!(
                    "sequence {i} holds token id {} at position {j}, outside the vocabulary of {} (ids 0..{})",
                    s[j],
                    self.cfg.vocab_size,
                    self.cfg.vocab_size
                );
            }
        }
        Batch::from_ids(seqs, self.cfg.pad_token_id, side)
    }

    /// Number of token types (segments) the model embeds: BERT 2, RoBERTa 1; `None` for
    /// decoders, which ignore token type ids.
    pub fn type_vocab_size(&self) -> Option<usize> {
        match &self.net {
            Net::Bert(m) => Some(m.tte.size()[0] as usize),
            _ => None,
        }
    }

    /// Logits `[batch, pos, vocab]` for a batch.
    pub fn forward(&self, batch: &Batch) -> Result<Tensor> {
        let out = self.run(batch, &RunOptions::default())?;
        out.logits.ok_or_else(|| anyhow!("no logits"))
    }

    /// Logits `[batch, pos, vocab]` and the cache of `names`.
    pub fn run_with_cache(&self, batch: &Batch, names: Names) -> Result<(Tensor, ActivationCache)> {
        let out = self.run(batch, &RunOptions::default().cache(names))?;
        Ok((out.logits.ok_or_else(|| anyhow!("no logits"))?, out.cache))
    }

    /// Logits `[batch, pos, vocab]` with `hooks` applied.
    pub fn run_with_hooks(&self, batch: &Batch, hooks: &[Hook]) -> Result<Tensor> {
        let out = self.run(batch, &RunOptions::default().hooks(hooks))?;
        out.logits.ok_or_else(|| anyhow!("no logits"))
    }

    /// One forward pass with caching, interventions and the logits asked for (MLM
    /// logits for encoders).
    pub fn run(&self, batch: &Batch, opts: &RunOptions) -> Result<RunOutput> {
        let _guard = tch::no_grad_guard();
        batch.check(self.cfg.vocab_size, self.cfg.n_ctx, self.type_vocab_size())?;
        let mut hr = HookRun::new(
            &self.hook_names,
            self.cfg.n_layers,
            &opts.cache,
            opts.hooks,
            opts.cache_device,
        )?;
        let final_hook = self.final_hook();
        let needs_final = opts.logits != LogitsAt::None || hr.touches(final_hook);
        if needs_final && !self.has_lm_head() {
            bail!(
                "{}: this checkpoint has no masked-LM head (a bare encoder, e.g. a \
                 sentence-transformers model), so it has no logits and no {final_hook}: run \
                 with .logits(LogitsAt::None) and read hidden states \
                 (blocks.*.hook_normalized_resid_post) from the cache",
                self.id
            );
        }
        let n_blocks = if needs_final {
            self.cfg.n_layers
        } else {
            hr.deepest_block().map(|l| l + 1).unwrap_or(0)
        };
        let ids = batch.ids.to_device(self.device).to_kind(Kind::Int64);
        let position_ids = batch.position_ids().to_device(self.device);
        let real = batch.mask.to_device(self.device).to_kind(Kind::Int64);
        let key_mask = real.gt(0).unsqueeze(1).unsqueeze(1);
        hr.set_real_mask(real);
        let token_type_ids = batch
            .token_type_ids
            .as_ref()
            .map(|t| t.to_device(self.device).to_kind(Kind::Int64));
        let mut pass = Pass {
            ids: &ids,
            position_ids: &position_ids,
            key_mask: &key_mask,
            token_type_ids: token_type_ids.as_ref(),
            hooks: &mut hr,
            n_blocks,
            start: None,
        };
        if let Some((l, resid)) = &opts.start {
            let want = [batch.size(), batch.seq_len(), self.cfg.d_model as i64];
            if *l >= self.cfg.n_layers {
                bail!(
                    "start_at: layer {l} is out of range, this model has {} blocks",
                    self.cfg.n_layers
                );
            }
            if resid.size() != want {
                bail!(
                    "start_at: the residual stream has shape {:?}, the batch needs {want:?}",
                    resid.size()
                );
            }
            if *l >= pass.n_blocks {
                pass.n_blocks = *l + 1;
            }
            pass.start = Some((*l, resid.to_device(self.device).to_kind(self.dtype)));
        }
        let resid = match &self.net {
            Net::Gpt2(m) => m.blocks_forward(&mut pass)?,
            Net::Bert(m) => m.blocks_forward(&mut pass)?,
            Net::GptNeo(m) => m.blocks_forward(&mut pass)?,
            Net::GptNeoX(m) => m.blocks_forward(&mut pass)?,
        };
        let logits = if needs_final {
            // The final layer norm (encoders: the MLM head transform) acts on each
            // position alone, so positions nobody reads are dropped before it unless its
            // output is hooked or cached.
            let full_norm = hr.touches(final_hook);
            let select =
                |x: &Tensor| -> Result<Tensor> { select_positions(x, batch, &opts.logits) };
            let normed = if full_norm {
                let n = self.try_final_norm(&resid)?;
                let n = hr.point(|| final_hook.into(), n)?;
                select(&n)?
            } else {
                self.try_final_norm(&select(&resid)?)?
            };
            match opts.logits {
                LogitsAt::None => None,
                _ => Some(self.unembed(&normed)?),
            }
        } else {
            None
        };
        Ok(RunOutput {
            logits,
            blocks_run: std::mem::take(&mut hr.blocks_run),
            cache: hr.cache,
        })
    }

    /// The final layer norm (encoders: the masked-LM head's dense, activation and layer
    /// norm): `[..., d_model]` -> `[..., d_model]`; an error for a headless encoder.
    fn try_final_norm(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.net {
            Net::Gpt2(m) => m.final_norm(x),
            Net::Bert(m) => m.head_transform(x)?,
            Net::GptNeo(m) => m.final_norm(x),
            Net::GptNeoX(m) => m.final_norm(x),
        })
    }

    /// Logits from final-layer-normed residuals `[..., d_model]` -> `[..., vocab]`
    /// (encoders: from `mlm_head.ln.hook_normalized`, adding the decoder bias). An error
    /// for a bare encoder without its masked-LM head ([`Self::has_lm_head`] false) or for
    /// a tensor whose last dimension is not d_model.
    pub fn unembed(&self, normed: &Tensor) -> Result<Tensor> {
        self.check_width(normed, "unembed")?;
        let w = match &self.net {
            Net::Gpt2(m) => m.unembed_weight(),
            Net::Bert(m) => return m.unembed(normed),
            Net::GptNeo(m) => m.unembed_weight(),
            Net::GptNeoX(m) => m.unembed_weight(),
        }; // [vocab, d_model]
        if normed.requires_grad() {
            // out= products do not record gradients.
            return Ok(normed.matmul(&w.tr()));
        }
        // One [rows, d_model] x [d_model, vocab] product written straight into its output.
        let mut shape = normed.size();
        let d = shape.pop().unwrap_or(0);
        let rows: i64 = shape.iter().product();
        shape.push(w.size()[0]);
        let out =
            crate::device::empty_for_output(&[rows, w.size()[0]], normed.kind(), normed.device());
        let out = normed.reshape([rows, d]).f_mm_out(&out, &w.tr())?; // [rows, vocab]
        Ok(out.view(shape.as_slice())) // [..., vocab]
    }

    /// The logit lens: final layer norm then unembedding applied to any residual-stream
    /// tensor `[..., d_model]` -> `[..., vocab]` (encoders: the masked-LM head applied to
    /// a block output `hook_normalized_resid_post`). Errors as [`Self::unembed`].
    pub fn logit_lens(&self, resid: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        self.check_width(resid, "logit_lens")?;
        let x = resid.to_device(self.device).to_kind(self.dtype);
        self.unembed(&self.try_final_norm(&x)?)
    }

    /// An error unless `x`'s last dimension is this model's d_model.
    fn check_width(&self, x: &Tensor, what: &str) -> Result<()> {
        let size = x.size();
        match size.last() {
            Some(&d) if d == self.cfg.d_model as i64 => Ok(()),
            _ => bail!(
                "{what} needs a tensor whose last dimension is d_model = {} of {}, got shape {size:?}",
                self.cfg.d_model,
                self.id
            ),
        }
    }

    /// Generate up to `opts.max_new_tokens` tokens after `prompt`; returns the new ids.
    /// Greedy when `temperature` is 0, else sampled (with optional top-k / top-p),
    /// reproducibly from `seed`. Each step re-runs the whole sequence (no key/value
    /// cache): simple and exact, and fast enough for the short continuations the book
    /// samples.
    pub fn generate(&self, prompt: &[u32], opts: &GenerateOptions) -> Result<Vec<u32>> {
        use rand::SeedableRng;
        if prompt.is_empty() {
            bail!("generation needs a non-empty prompt");
        }
        if self.cfg.arch.is_encoder() {
            bail!(
                "{} is a masked-LM encoder ({:?}): it fills in masked tokens, it does not \
                 generate text left to right",
                self.id,
                self.cfg.arch
            );
        }
        if prompt.len() + opts.max_new_tokens > self.cfg.n_ctx {
            bail!(
                "prompt ({} tokens) plus {} new tokens exceeds the model's context of {}",
                prompt.len(),
                opts.max_new_tokens,
                self.cfg.n_ctx
            );
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
        let mut seq = prompt.to_vec();
        for _ in 0..opts.max_new_tokens {
            let batch = self.batch_from_ids(std::slice::from_ref(&seq), PaddingSide::Right)?;
            let out = self.run(&batch, &RunOptions::default().logits(LogitsAt::Last))?;
            let logits =
                crate::device::to_vec_f32(&out.logits.ok_or_else(|| anyhow!("no logits"))?)?;
            let next = if opts.temperature <= 0.0 {
                crate::stats::argmax(&logits)
            } else {
                crate::stats::sample_token(
                    &logits,
                    opts.temperature,
                    opts.top_k,
                    opts.top_p,
                    &mut rng,
                )?
            } as u32;
            seq.push(next);
            if opts.stop_at_eos && Some(next as i64) == self.cfg.eos_token_id {
                break;
            }
        }
        Ok(seq[prompt.len()..].to_vec())
    }
}

/// Options for [`HookedModel::generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// 0 = greedy (argmax); otherwise logits are divided by it before sampling.
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    pub seed: u64,
    pub stop_at_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 20,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop_at_eos: true,
        }
    }
}

fn select_positions(x: &Tensor, batch: &Batch, at: &LogitsAt) -> Result<Tensor> {
    let p = x.size()[1];
    Ok(match at {
        LogitsAt::All | LogitsAt::None => x.shallow_clone(),
        LogitsAt::Last => {
            let idx = batch.last_positions().to_device(x.device());
            let rows = Tensor::arange(batch.size(), (Kind::Int64, x.device()));
            x.index(&[Some(rows), Some(idx)])
        }
        LogitsAt::Positions(ps) => {
            let mut v = Vec::with_capacity(ps.len());
            for &q in ps {
                let j = if q < 0 { q + p } else { q };
                if j < 0 || j >= p {
                    bail!("logits position {q} is out of range for sequences of {p} tokens");
                }
                v.push(j);
            }
            x.index_select(1, &Tensor::from_slice(&v).to_device(x.device()))
        }
    })
}

/// One block's attention weights split by head, TransformerLens-style, so that
/// `q[h] = x @ w_q[h] + b_q[h]` and the block's attention output is
/// `sum_h z[h] @ w_o[h] + b_o`. `x` is `ln1.hook_normalized` for GPT-2, GPT-Neo and
/// GPT-NeoX and `hook_resid_pre` for BERT/RoBERTa (post-LN: no norm before attention).
/// GPT-Neo has no query/key/value biases (zeros here); for GPT-NeoX `q` and `k` are
/// before the rotary embedding (`attn.hook_q`, not `attn.hook_rot_q`).
pub struct AttnWeights {
    /// `[n_heads, d_model, d_head]`.
    pub w_q: Tensor,
    pub w_k: Tensor,
    pub w_v: Tensor,
    /// `[n_heads, d_head]`.
    pub b_q: Tensor,
    pub b_k: Tensor,
    pub b_v: Tensor,
    /// `[n_heads, d_head, d_model]`.
    pub w_o: Tensor,
    /// `[d_model]`.
    pub b_o: Tensor,
}

/// One block's MLP weights: `post = gelu(x @ w_in + b_in)`, `out = post @ w_out + b_out`,
/// with `x` = `ln2.hook_normalized` (GPT-2, GPT-Neo; GPT-NeoX: the MLP norm of
/// `hook_resid_pre`) or `ln1.hook_normalized` (BERT/RoBERTa). The GELU is the tanh
/// approximation for GPT-2 and GPT-Neo and exact for BERT, RoBERTa and GPT-NeoX.
pub struct MlpWeights {
    /// `[d_model, d_mlp]`.
    pub w_in: Tensor,
    /// `[d_mlp]`.
    pub b_in: Tensor,
    /// `[d_mlp, d_model]`.
    pub w_out: Tensor,
    /// `[d_model]`.
    pub b_out: Tensor,
}

impl HookedModel {
    fn check_layer(&self, l: usize) -> Result<()> {
        if l >= self.cfg.n_layers {
            bail!(
                "layer {l} is out of range: this model has {} blocks (0..={})",
                self.cfg.n_layers,
                self.cfg.n_layers - 1
            );
        }
        Ok(())
    }

    /// Block `l`'s attention weights by head.
    pub fn attn_weights(&self, l: usize) -> Result<AttnWeights> {
        self.check_layer(l)?;
        Ok(match &self.net {
            Net::Gpt2(m) => m.attn_weights(l),
            Net::Bert(m) => m.attn_weights(l),
            Net::GptNeo(m) => m.attn_weights(l),
            Net::GptNeoX(m) => m.attn_weights(l),
        })
    }

    /// Block `l`'s MLP weights.
    pub fn mlp_weights(&self, l: usize) -> Result<MlpWeights> {
        self.check_layer(l)?;
        Ok(match &self.net {
            Net::Gpt2(m) => m.mlp_weights(l),
            Net::Bert(m) => m.mlp_weights(l),
            Net::GptNeo(m) => m.mlp_weights(l),
            Net::GptNeoX(m) => m.mlp_weights(l),
        })
    }
}
