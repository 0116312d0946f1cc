//! Transformer language models with TransformerLens-style hook points.
//!
//! [`HookedModel`] loads a Hugging Face checkpoint (architecture chosen from
//! `config.json`) with the weights exactly as published — no layer-norm folding or
//! other rewriting — so its outputs equal `transformers`' outputs (tests check this
//! against reference files to 1e-4). One run ([`HookedModel::run`]) can cache chosen
//! hook points, apply interventions, and compute logits at all, some, or no positions;
//! a run that needs no logits stops after the deepest block it reads.
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

mod gpt2;
pub mod weights;

use crate::hooks::{ActivationCache, Hook, HookRun, Names};
use crate::hub::{resolve_model, ModelFiles};
use crate::tokenizer::Tokenizer;
use anyhow::{anyhow, bail, Context, Result};
use tch::{Device, Kind, Tensor};

/// The architectures this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Gpt2,
}

/// The dimensions every architecture shares, read from `config.json`.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: Arch,
    /// `model_type` from config.json (`gpt2`, ...).
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
    /// Token id used to pad batches (never attended to).
    pub pad_token_id: i64,
    /// End-of-text token id, if the model has one.
    pub eos_token_id: Option<i64>,
    /// The whole config.json, for architecture-specific fields.
    pub raw: serde_json::Value,
}

impl ModelConfig {
    /// Read and check a `config.json`.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let raw: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
        let model_type = raw.get("model_type").and_then(|v| v.as_str()).unwrap_or("").to_string();
        match model_type.as_str() {
            "gpt2" => gpt2::config(raw, model_type),
            "" => bail!("{} has no model_type", path.display()),
            other => bail!("model_type {other:?} is not supported yet (supported: gpt2)"),
        }
    }
}

/// Which side of a shorter sequence the padding goes on in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddingSide {
    Right,
    Left,
}

/// A batch of token sequences padded to one length.
pub struct Batch {
    /// `[batch, pos]` int64 token ids (padding slots hold the pad id).
    pub ids: Tensor,
    /// `[batch, pos]` int64, 1 for real tokens and 0 for padding.
    pub mask: Tensor,
    /// Number of real tokens of each sequence.
    pub lengths: Vec<i64>,
    pub padding: PaddingSide,
}

impl Batch {
    /// Pad `seqs` to the longest with `pad_id` on `side`. Empty sequences are an error.
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
        })
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
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions { cache: Names::none(), hooks: &[], logits: LogitsAt::All, cache_device: None }
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
}

/// What a run returns.
pub struct RunOutput {
    /// Logits as asked for in [`RunOptions::logits`] (None when not asked).
    pub logits: Option<Tensor>,
    pub cache: ActivationCache,
}

/// How to load a model.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    pub device: Device,
    /// Weight dtype: `Kind::Float` (default), `Kind::Half` or `Kind::BFloat16` on CUDA.
    pub dtype: Kind,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { device: Device::Cpu, dtype: Kind::Float }
    }
}

pub(crate) enum Net {
    Gpt2(gpt2::Gpt2),
}

/// Everything the network code needs for one forward pass.
pub(crate) struct Pass<'h, 'r> {
    pub ids: &'r Tensor,
    pub position_ids: &'r Tensor,
    /// `[batch, 1, 1, pos]` true where a key is a real token.
    pub key_mask: &'r Tensor,
    pub hooks: &'r mut HookRun<'h>,
    /// Number of blocks to run.
    pub n_blocks: usize,
}

/// A language model with hook points. See the module docs for the hook names.
pub struct HookedModel {
    pub cfg: ModelConfig,
    pub tokenizer: Tokenizer,
    /// The model id or directory it was loaded from.
    pub id: String,
    device: Device,
    dtype: Kind,
    net: Net,
    hook_names: Vec<String>,
}

impl HookedModel {
    /// Load `id_or_path` (hub id or local directory) onto `device` in float32.
    pub fn from_pretrained(id_or_path: &str, device: Device) -> Result<Self> {
        Self::load(id_or_path, LoadOptions { device, dtype: Kind::Float })
    }

    /// Load with explicit options.
    pub fn load(id_or_path: &str, opts: LoadOptions) -> Result<Self> {
        let files = resolve_model(id_or_path)?;
        Self::load_files(&files, opts).with_context(|| format!("loading model {id_or_path:?}"))
    }

    /// Load from already-resolved files.
    pub fn load_files(files: &ModelFiles, opts: LoadOptions) -> Result<Self> {
        let cfg = ModelConfig::from_file(&files.config)?;
        let tokenizer = Tokenizer::for_model(files)?;
        let w = weights::Weights::load(&files.weights, opts.device, opts.dtype)?;
        let net = match cfg.arch {
            Arch::Gpt2 => Net::Gpt2(gpt2::Gpt2::new(&cfg, &w)?),
        };
        let hook_names = match cfg.arch {
            Arch::Gpt2 => gpt2::hook_names(cfg.n_layers),
        };
        Ok(HookedModel { cfg, tokenizer, id: files.id.clone(), device: opts.device, dtype: opts.dtype, net, hook_names })
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.device
    }
    /// The weights' dtype.
    pub fn dtype(&self) -> Kind {
        self.dtype
    }

    /// Every hook point name, in forward order.
    pub fn hook_names(&self) -> &[String] {
        &self.hook_names
    }

    /// Number of parameters, tied matrices counted once (GPT-2 small: 124,439,808).
    pub fn n_params(&self) -> i64 {
        match &self.net {
            Net::Gpt2(m) => m.n_params(),
        }
    }

    /// Token embedding matrix `W_E`: `[vocab, d_model]`.
    pub fn embed_matrix(&self) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => m.wte.shallow_clone(),
        }
    }

    /// Position embedding matrix `W_pos`: `[n_ctx, d_model]`.
    pub fn pos_embed_matrix(&self) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => m.wpe.shallow_clone(),
        }
    }

    /// Unembedding `W_U`: `[d_model, vocab]` (GPT-2: the transposed token embedding).
    pub fn unembed_matrix(&self) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => m.unembed_weight().tr(),
        }
    }

    /// Tokenize one text (no special tokens added) into a batch of one.
    pub fn to_tokens(&self, text: &str) -> Result<Batch> {
        self.to_tokens_batch(&[text], PaddingSide::Right)
    }

    /// Tokenize several texts into one padded batch.
    pub fn to_tokens_batch<S: AsRef<str>>(&self, texts: &[S], side: PaddingSide) -> Result<Batch> {
        let seqs = texts
            .iter()
            .map(|t| {
                let ids = self.tokenizer.encode(t.as_ref())?;
                if ids.is_empty() {
                    bail!("the text {:?} has no tokens", t.as_ref());
                }
                Ok(ids)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_from_ids(&seqs, side)
    }

    /// A padded batch from token ids, checked against the vocabulary and the context.
    pub fn batch_from_ids(&self, seqs: &[Vec<u32>], side: PaddingSide) -> Result<Batch> {
        for (i, s) in seqs.iter().enumerate() {
            if s.len() > self.cfg.n_ctx {
                bail!(
                    "sequence {i} is {} tokens long, longer than the model's context of {} tokens; shorten the text",
                    s.len(),
                    self.cfg.n_ctx
                );
            }
            if let Some(&bad) = s.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
                bail!("sequence {i} holds token id {bad}, outside the vocabulary of {}", self.cfg.vocab_size);
            }
        }
        Batch::from_ids(seqs, self.cfg.pad_token_id, side)
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

    /// One forward pass with caching, interventions and the logits asked for.
    pub fn run(&self, batch: &Batch, opts: &RunOptions) -> Result<RunOutput> {
        let _guard = tch::no_grad_guard();
        if batch.seq_len() as usize > self.cfg.n_ctx {
            bail!("the batch is {} tokens long, longer than the model's context of {}", batch.seq_len(), self.cfg.n_ctx);
        }
        let mut hr = HookRun::new(&self.hook_names, self.cfg.n_layers, &opts.cache, opts.hooks, opts.cache_device)?;
        let needs_final = opts.logits != LogitsAt::None || hr.touches("ln_final.hook_normalized");
        let n_blocks = if needs_final {
            self.cfg.n_layers
        } else {
            hr.deepest_block().map(|l| l + 1).unwrap_or(0)
        };
        let ids = batch.ids.to_device(self.device);
        let position_ids = batch.position_ids().to_device(self.device);
        let key_mask = batch.mask.to_device(self.device).gt(0).unsqueeze(1).unsqueeze(1);
        let mut pass = Pass { ids: &ids, position_ids: &position_ids, key_mask: &key_mask, hooks: &mut hr, n_blocks };
        let resid = match &self.net {
            Net::Gpt2(m) => m.blocks_forward(&mut pass)?,
        };
        let logits = if needs_final {
            // The final layer norm acts on each position alone, so positions nobody
            // reads are dropped before it unless its output is hooked or cached.
            let full_norm = hr.touches("ln_final.hook_normalized");
            let select = |x: &Tensor| -> Result<Tensor> { select_positions(x, batch, &opts.logits) };
            let normed = if full_norm {
                let n = self.final_norm(&resid);
                let n = hr.point(|| "ln_final.hook_normalized".into(), n)?;
                select(&n)?
            } else {
                self.final_norm(&select(&resid)?)
            };
            match opts.logits {
                LogitsAt::None => None,
                _ => Some(self.unembed(&normed)),
            }
        } else {
            None
        };
        Ok(RunOutput { logits, cache: hr.cache })
    }

    fn final_norm(&self, x: &Tensor) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => m.final_norm(x),
        }
    }

    /// Logits from final-layer-normed residuals `[..., d_model]` -> `[..., vocab]`.
    pub fn unembed(&self, normed: &Tensor) -> Tensor {
        match &self.net {
            Net::Gpt2(m) => normed.matmul(&m.unembed_weight().tr()),
        }
    }

    /// The logit lens: final layer norm then unembedding applied to any residual-stream
    /// tensor `[..., d_model]` -> `[..., vocab]`.
    pub fn logit_lens(&self, resid: &Tensor) -> Tensor {
        let _guard = tch::no_grad_guard();
        self.unembed(&self.final_norm(&resid.to_device(self.device).to_kind(self.dtype)))
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
            let logits = crate::device::to_vec_f32(&out.logits.ok_or_else(|| anyhow!("no logits"))?)?;
            let next = if opts.temperature <= 0.0 {
                crate::stats::argmax(&logits)
            } else {
                crate::stats::sample_token(&logits, opts.temperature, opts.top_k, opts.top_p, &mut rng)?
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
        GenerateOptions { max_new_tokens: 20, temperature: 0.0, top_k: None, top_p: None, seed: 0, stop_at_eos: true }
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
/// `sum_h z[h] @ w_o[h] + b_o`.
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

/// One block's MLP weights: `post = gelu(x @ w_in + b_in)`, `out = post @ w_out + b_out`.
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
            bail!("layer {l} is out of range: this model has {} blocks (0..={})", self.cfg.n_layers, self.cfg.n_layers - 1);
        }
        Ok(())
    }

    /// Block `l`'s attention weights by head.
    pub fn attn_weights(&self, l: usize) -> Result<AttnWeights> {
        self.check_layer(l)?;
        Ok(match &self.net {
            Net::Gpt2(m) => m.attn_weights(l),
        })
    }

    /// Block `l`'s MLP weights.
    pub fn mlp_weights(&self, l: usize) -> Result<MlpWeights> {
        self.check_layer(l)?;
        Ok(match &self.net {
            Net::Gpt2(m) => m.mlp_weights(l),
        })
    }
}
