//! GPT-Neo (125M, 1.3B, 2.7B; the size comes from config.json), as `transformers`'
//! `GPTNeoForCausalLM` computes it: GPT-2-like pre-layer-norm blocks with learned
//! position embeddings and a tied unembedding, but
//! - separate `q_proj`/`k_proj`/`v_proj` `nn.Linear` layers without biases (stored
//!   `[out, in]`), and `out_proj` with a bias;
//! - attention scores are *not* scaled by 1/sqrt(d_head), and are computed in float32
//!   whatever the weights' dtype;
//! - layers alternate between global attention and local attention, where a query sees
//!   only the `window_size` most recent positions (itself included); the layer types come
//!   from `attention_layers` (or `attention_types`) in config.json.
//!
//! Hook names and shapes are GPT-2's (see [`super`]); `attn.hook_attn_scores` holds the
//! unscaled scores `q·k` that the softmax sees, with keys outside the causal (and, in
//! local layers, the window) mask at -inf.

use super::config::Config;
use super::layers::{
    attention, attn_weights_separate, causal_mask, mlp_weights_linear, untied_head, Act, LayerNorm,
    Linear, ScoreRule,
};
use super::weights::Weights;
use super::{Arch, ModelConfig, Pass};
use crate::hooks::HookRun;
use anyhow::{bail, Result};
use tch::Tensor;

pub(super) fn config(raw: serde_json::Value, model_type: String) -> Result<ModelConfig> {
    let c = Config::new(&raw, "GPT-Neo");
    let [d_model, n_layers, n_heads, n_ctx, vocab_size] = c.required([
        "hidden_size",
        "num_layers",
        "num_heads",
        "max_position_embeddings",
        "vocab_size",
    ])?;
    if n_heads == 0 || d_model % n_heads != 0 {
        bail!("GPT-Neo config: hidden_size {d_model} is not divisible by num_heads {n_heads}");
    }
    Act::parse(
        c.str("activation_function")?.unwrap_or("gelu_new"),
        "GPT-Neo config",
    )?;
    // Counted first. attention_types alone is not expanded here (num_layers is
    // compared with the weights before that); beside attention_layers, whose list is
    // as long as the file is, both are expanded and must agree.
    let types = LayerTypes::read(&raw)?;
    types.check_count(n_layers)?;
    if types.listed.is_some() {
        types.expand(n_layers)?;
    }
    if c.usize("window_size")? == Some(0) {
        bail!("GPT-Neo config: window_size 0 leaves local attention layers nothing to attend to");
    }
    c.size("window_size")?;
    c.tied(true)?;
    let eos = c.token_id("eos_token_id")?;
    Ok(ModelConfig {
        arch: Arch::GptNeo,
        model_type,
        n_layers,
        n_heads,
        d_model,
        d_head: d_model / n_heads,
        d_mlp: c.size("intermediate_size")?.unwrap_or(4 * d_model),
        n_ctx,
        vocab_size,
        layer_norm_eps: c.f64("layer_norm_epsilon")?.unwrap_or(1e-5),
        pad_token_id: c.token_id("pad_token_id")?.or(eos).unwrap_or(0),
        eos_token_id: eos,
        raw,
    })
}

/// What config.json says about the layer types, read without expanding anything yet.
struct LayerTypes {
    /// `attention_layers`, when present: one entry per layer (true = local).
    listed: Option<Vec<bool>>,
    /// `attention_types`, when present: (pattern, repeats) entries.
    types: Option<Vec<(Vec<bool>, u64)>>,
}

impl LayerTypes {
    fn read(raw: &serde_json::Value) -> Result<Self> {
        let kind = |v: &serde_json::Value| -> Result<bool> {
            match v.as_str() {
                Some("local") => Ok(true),
                Some("global") => Ok(false),
                _ => bail!(
                    "GPT-Neo config: attention layer type {v} is neither \"global\" nor \"local\""
                ),
            }
        };
        let listed = match raw.get("attention_layers").filter(|v| !v.is_null()) {
            None => None,
            Some(serde_json::Value::Array(list)) => {
                Some(list.iter().map(kind).collect::<Result<Vec<_>>>()?)
            }
            Some(v) => bail!("GPT-Neo config: attention_layers is {v}, expected a list such as [\"global\", \"local\"]"),
        };
        let types = match raw.get("attention_types").filter(|v| !v.is_null()) {
            None => None,
            Some(serde_json::Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let (Some(pattern), Some(n)) = (
                        item.get(0).and_then(|v| v.as_array()),
                        item.get(1).and_then(|v| v.as_u64()),
                    ) else {
                        bail!("GPT-Neo config: attention_types entries look like [[\"global\", \"local\"], 6]; found {item}");
                    };
                    if pattern.is_empty() {
                        bail!("GPT-Neo config: the attention_types entry {item} lists no layer type");
                    }
                    out.push((pattern.iter().map(kind).collect::<Result<Vec<_>>>()?, n));
                }
                Some(out)
            }
            Some(v) => bail!("GPT-Neo config: attention_types is {v}, expected a list such as [[[\"global\", \"local\"], 6]]"),
        };
        if listed.is_none() && types.is_none() {
            bail!("GPT-Neo config.json needs attention_layers or attention_types");
        }
        Ok(LayerTypes { listed, types })
    }

    /// The number of layers `attention_types` describes (None when absent, or when the
    /// count does not fit in a usize), computed without expanding it.
    fn types_count(&self) -> Option<Option<usize>> {
        self.types.as_ref().map(|types| {
            types.iter().try_fold(0usize, |acc, (pattern, n)| {
                usize::try_from(*n)
                    .ok()?
                    .checked_mul(pattern.len())?
                    .checked_add(acc)
            })
        })
    }

    /// An error unless both descriptions (where present) describe `n_layers` layers.
    /// Nothing is expanded, so a huge count costs nothing.
    fn check_count(&self, n_layers: usize) -> Result<()> {
        if let Some(listed) = &self.listed {
            if listed.len() != n_layers {
                bail!(
                    "GPT-Neo config: attention_layers lists {} layers, num_layers is {n_layers}",
                    listed.len()
                );
            }
        }
        match self.types_count() {
            Some(Some(n)) if n == n_layers => Ok(()),
            Some(Some(n)) => bail!(
                "GPT-Neo config: attention_types describes {n} layers, num_layers is {n_layers}"
            ),
            Some(None) => bail!(
                "GPT-Neo config: attention_types describes more layers than can be counted; \
                 num_layers is {n_layers}"
            ),
            None => Ok(()),
        }
    }

    /// Whether each of the `n_layers` layers is local (`true`) or global, once
    /// [`LayerTypes::check_count`] passed (so the expansion is `n_layers` long); where
    /// both descriptions are present they must agree.
    fn expand(&self, n_layers: usize) -> Result<Vec<bool>> {
        self.check_count(n_layers)?;
        let expanded = self.types.as_ref().map(|types| {
            let mut out = Vec::with_capacity(n_layers);
            for (pattern, n) in types {
                for _ in 0..*n {
                    out.extend_from_slice(pattern);
                }
            }
            out
        });
        match (&self.listed, expanded) {
            (Some(a), Some(b)) if *a != b => bail!(
                "GPT-Neo config: attention_layers and attention_types describe different layers \
                 (another order of global and local): make them agree"
            ),
            (Some(a), _) => Ok(a.clone()),
            (None, Some(b)) => Ok(b),
            (None, None) => bail!("GPT-Neo config.json needs attention_layers or attention_types"),
        }
    }
}

/// Whether each layer is local (`true`) or global. transformers 4.57 and 5 both write
/// `attention_types` (`[[["global", "local"], 6]]`, expanded to 12 alternating layers)
/// and its expansion `attention_layers`; either one is enough, and when both are present
/// they must agree. Both must describe `n_layers` layers, which is checked before
/// anything is expanded.
pub(crate) fn attention_layers(raw: &serde_json::Value, n_layers: usize) -> Result<Vec<bool>> {
    LayerTypes::read(raw)?.expand(n_layers)
}

/// Hook names in forward order: the same as GPT-2's.
pub(super) fn hook_names(n_layers: usize) -> Vec<String> {
    super::gpt2::hook_names(n_layers)
}

struct Block {
    ln1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: LayerNorm,
    /// `c_fc`: `[d_mlp, d_model]`.
    fc: Linear,
    /// `c_proj`: `[d_model, d_mlp]`.
    proj: Linear,
    local: bool,
}

/// A GPT-Neo language model.
pub(crate) struct GptNeo {
    /// `[vocab, d_model]`.
    pub wte: Tensor,
    /// `[n_ctx, d_model]`.
    pub wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// `[vocab, d_model]` when config.json unties `lm_head` from `wte`
    /// (`tie_word_embeddings` false; tied is the default).
    lm_head: Option<Tensor>,
    n_heads: i64,
    d_head: i64,
    window: i64,
    act: Act,
}

impl GptNeo {
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        let (d, m, v, c) = (
            cfg.d_model as i64,
            cfg.d_mlp as i64,
            cfg.vocab_size as i64,
            cfg.n_ctx as i64,
        );
        let eps = cfg.layer_norm_eps;
        // The layer count against the weights before anything is built per layer.
        w.check_block_count("GPT-Neo", "num_layers", cfg.n_layers, "h.")?;
        let local = attention_layers(&cfg.raw, cfg.n_layers)?;
        let mut blocks = Vec::with_capacity(cfg.n_layers);
        for (l, &is_local) in local.iter().enumerate() {
            let p = |s: &str| format!("h.{l}.{s}");
            blocks.push(Block {
                ln1: LayerNorm::new(w, &p("ln_1"), d, eps)?,
                q: Linear::new(w, &p("attn.attention.q_proj"), d, d, false)?,
                k: Linear::new(w, &p("attn.attention.k_proj"), d, d, false)?,
                v: Linear::new(w, &p("attn.attention.v_proj"), d, d, false)?,
                o: Linear::new(w, &p("attn.attention.out_proj"), d, d, true)?,
                ln2: LayerNorm::new(w, &p("ln_2"), d, eps)?,
                fc: Linear::new(w, &p("mlp.c_fc"), d, m, true)?,
                proj: Linear::new(w, &p("mlp.c_proj"), m, d, true)?,
                local: is_local,
            });
        }
        let wte = w.get("wte.weight", &[v, d])?;
        let conf = Config::new(&cfg.raw, "GPT-Neo");
        let lm_head = untied_head(conf.tied(true)?, w, "lm_head.weight", "wte", v, d)?;
        Ok(GptNeo {
            wpe: w.get("wpe.weight", &[c, d])?,
            wte,
            blocks,
            ln_f: LayerNorm::new(w, "ln_f", d, eps)?,
            lm_head,
            n_heads: cfg.n_heads as i64,
            d_head: cfg.d_head as i64,
            window: conf.size("window_size")?.unwrap_or(256) as i64,
            act: Act::parse(
                conf.str("activation_function")?.unwrap_or("gelu_new"),
                "GPT-Neo config",
            )?,
        })
    }

    pub fn n_params(&self) -> i64 {
        let mut n = (self.wte.numel() + self.wpe.numel()) as i64 + self.ln_f.numel();
        if let Some(h) = &self.lm_head {
            n += h.numel() as i64;
        }
        for b in &self.blocks {
            n += b.ln1.numel()
                + b.q.numel()
                + b.k.numel()
                + b.v.numel()
                + b.o.numel()
                + b.ln2.numel()
                + b.fc.numel()
                + b.proj.numel();
        }
        n
    }

    /// `[vocab, d_model]`: the matrix whose rows the final residual is dotted with.
    pub fn unembed_weight(&self) -> &Tensor {
        self.lm_head.as_ref().unwrap_or(&self.wte)
    }

    pub fn final_norm(&self, x: &Tensor) -> Tensor {
        self.ln_f.forward(x)
    }

    /// Embeddings and the first `pass.n_blocks` blocks; returns the residual stream
    /// `[batch, pos, d_model]` after the last block run.
    pub fn blocks_forward(&self, pass: &mut Pass) -> Result<Tensor> {
        let (ids, position_ids) = (pass.ids, pass.position_ids);
        let (mut x, first) = pass.first_block(|hooks| {
            let embed = hooks.point(
                || "hook_embed".into(),
                Tensor::embedding(&self.wte, ids, -1, false, false),
            )?;
            let pos = hooks.point(
                || "hook_pos_embed".into(),
                Tensor::embedding(&self.wpe, position_ids, -1, false, false),
            )?;
            Ok(embed + pos)
        })?;
        let hooks = &mut *pass.hooks;
        let p = pass.ids.size()[1];
        // [batch, 1, query, key]: causal (and windowed for local layers), real keys only.
        let global = causal_mask(p, None, x.device()).logical_and(pass.key_mask);
        let local = causal_mask(p, Some(self.window), x.device()).logical_and(pass.key_mask);
        for (l, blk) in self
            .blocks
            .iter()
            .enumerate()
            .take(pass.n_blocks)
            .skip(first)
        {
            hooks.ran_block(l);
            let allowed = if blk.local { &local } else { &global };
            x = self.block_forward(l, blk, x, allowed, hooks)?;
        }
        Ok(x)
    }

    fn block_forward(
        &self,
        l: usize,
        blk: &Block,
        x: Tensor,
        allowed: &Tensor,
        hooks: &mut HookRun,
    ) -> Result<Tensor> {
        let name = |s: &str| format!("blocks.{l}.{s}");
        let (b, p, d) = x.size3()?;
        let (h, dh) = (self.n_heads, self.d_head);
        let resid_pre = hooks.point(|| name("hook_resid_pre"), x)?;
        let ln1 = hooks.point(|| name("ln1.hook_normalized"), blk.ln1.forward(&resid_pre))?;
        let q = hooks.point(
            || name("attn.hook_q"),
            blk.q.forward(&ln1).view([b, p, h, dh]),
        )?;
        let k = hooks.point(
            || name("attn.hook_k"),
            blk.k.forward(&ln1).view([b, p, h, dh]),
        )?;
        let v = hooks.point(
            || name("attn.hook_v"),
            blk.v.forward(&ln1).view([b, p, h, dh]),
        )?;
        let rule = ScoreRule {
            divisor: 1.0,
            upcast: true,
        };
        let z = attention(&q, &k, &v, allowed, &rule, hooks, &name)?;
        let attn_out = hooks.point(
            || name("hook_attn_out"),
            blk.o.forward(&z.reshape([b, p, d])),
        )?;
        let resid_mid = hooks.point(|| name("hook_resid_mid"), attn_out + resid_pre)?;
        let ln2 = hooks.point(|| name("ln2.hook_normalized"), blk.ln2.forward(&resid_mid))?;
        let pre = hooks.point(|| name("mlp.hook_pre"), blk.fc.forward(&ln2))?;
        let post = hooks.point(|| name("mlp.hook_post"), self.act.forward(&pre))?;
        let mlp_out = hooks.point(|| name("hook_mlp_out"), blk.proj.forward(&post))?;
        hooks.point(|| name("hook_resid_post"), resid_mid + mlp_out)
    }

    /// Per-head attention weights of block `l` (see [`super::AttnWeights`]); the query,
    /// key and value biases are zeros (GPT-Neo has none).
    pub fn attn_weights(&self, l: usize) -> super::AttnWeights {
        let b = &self.blocks[l];
        attn_weights_separate(&b.q, &b.k, &b.v, &b.o, self.n_heads, self.d_head)
    }

    /// MLP weights of block `l`.
    pub fn mlp_weights(&self, l: usize) -> super::MlpWeights {
        mlp_weights_linear(&self.blocks[l].fc, &self.blocks[l].proj)
    }
}
