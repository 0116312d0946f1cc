//! GPT-NeoX / Pythia (any size; the size comes from config.json), as `transformers`'
//! `GPTNeoXForCausalLM` computes it:
//! - no position embeddings: rotary embeddings (`rotate_half` style, base `rope_theta`)
//!   rotate the first `partial_rotary_factor * d_head` dimensions of each head's queries
//!   and keys; the other dimensions pass through. Both config layouts are read:
//!   transformers 5's `rope_parameters` and 4.x's `rotary_emb_base` / `rotary_pct`
//!   (see [`super::config`]); scaled RoPE variants are refused;
//! - a fused `query_key_value` `nn.Linear` whose output is laid out per head as
//!   `[head, (q | k | v), d_head]`;
//! - the parallel residual (`use_parallel_residual`, true for every Pythia):
//!   `x + attn(ln1(x)) + mlp(ln2(x))`, both layer norms reading the block input;
//! - exact GELU, an untied unembedding `embed_out` (unless `tie_word_embeddings`).
//!
//! Hook points (block `l`): `hook_resid_pre`, `ln1.hook_normalized`,
//! `attn.hook_q|hook_k|hook_v` `[b, p, h, dh]` (before the rotation),
//! `attn.hook_rot_q|hook_rot_k` `[b, p, h, dh]` (after it: what the scores use, as in
//! TransformerLens), `attn.hook_attn_scores` (scaled by 1/sqrt(d_head)),
//! `attn.hook_pattern`, `attn.hook_z`, `hook_attn_out`, `ln2.hook_normalized`
//! (the MLP's layer norm applied to `hook_resid_pre`), `mlp.hook_pre`, `mlp.hook_post`,
//! `hook_mlp_out`, `hook_resid_post` (= `hook_resid_pre + hook_attn_out + hook_mlp_out`).
//! There is no `hook_resid_mid`: with the parallel residual no tensor is "after attention,
//! before the MLP". Outside the blocks: `hook_embed` (the token embedding is the whole
//! residual input; there is no `hook_pos_embed`) and `ln_final.hook_normalized`.

use super::config::{neox_rope, Config, Rope};
use super::layers::{
    attention, causal_mask, mlp_weights_linear, out_by_head, untied_head, Act, LayerNorm, Linear,
    ScoreRule,
};
use super::weights::Weights;
use super::{Arch, ModelConfig, Pass};
use crate::hooks::HookRun;
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// The config reader for GPT-NeoX.
fn reader(raw: &serde_json::Value) -> Config<'_> {
    Config::new(raw, "GPT-NeoX")
}

/// Number of rotated dimensions of a head: `int(d_head * partial_rotary_factor)`, as
/// transformers computes it.
fn rotary_dims(rope: &Rope, d_head: usize) -> usize {
    (d_head as f64 * rope.partial_rotary_factor) as usize
}

pub(super) fn config(raw: serde_json::Value, model_type: String) -> Result<ModelConfig> {
    let c = reader(&raw);
    let [d_model, n_layers, n_heads, n_ctx, vocab_size] = c.required([
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "max_position_embeddings",
        "vocab_size",
    ])?;
    if n_heads == 0 || d_model % n_heads != 0 {
        bail!("GPT-NeoX config: hidden_size {d_model} is not divisible by num_attention_heads {n_heads}");
    }
    c.refuse_flag(
        "use_parallel_residual",
        true,
        "the sequential residual; every Pythia model uses the parallel residual",
    )?;
    let rope = neox_rope(&c)?;
    let rot = rotary_dims(&rope, d_model / n_heads);
    if !rot.is_multiple_of(2) {
        bail!("GPT-NeoX config: the rotary part of a head ({rot} dimensions) must be even");
    }
    Act::parse(c.str("hidden_act")?.unwrap_or("gelu"), "GPT-NeoX config")?;
    c.bool("attention_bias")?;
    c.tied(false)?;
    let eos = c.token_id("eos_token_id")?;
    Ok(ModelConfig {
        arch: Arch::GptNeoX,
        model_type,
        n_layers,
        n_heads,
        d_model,
        d_head: d_model / n_heads,
        d_mlp: c.size("intermediate_size")?.unwrap_or(4 * d_model),
        n_ctx,
        vocab_size,
        layer_norm_eps: c.f64("layer_norm_eps")?.unwrap_or(1e-5),
        pad_token_id: c.token_id("pad_token_id")?.or(eos).unwrap_or(0),
        eos_token_id: eos,
        raw,
    })
}

/// Hook names in forward order (no `hook_pos_embed`, no `hook_resid_mid`).
pub(super) fn hook_names(n_layers: usize) -> Vec<String> {
    const BLOCK: [&str; 16] = [
        "hook_resid_pre",
        "ln1.hook_normalized",
        "attn.hook_q",
        "attn.hook_k",
        "attn.hook_v",
        "attn.hook_rot_q",
        "attn.hook_rot_k",
        "attn.hook_attn_scores",
        "attn.hook_pattern",
        "attn.hook_z",
        "hook_attn_out",
        "ln2.hook_normalized",
        "mlp.hook_pre",
        "mlp.hook_post",
        "hook_mlp_out",
        "hook_resid_post",
    ];
    let mut v = vec!["hook_embed".to_string()];
    for l in 0..n_layers {
        v.extend(BLOCK.iter().map(|s| format!("blocks.{l}.{s}")));
    }
    v.push("ln_final.hook_normalized".into());
    v
}

struct Block {
    ln1: LayerNorm,
    /// `[3 * d_model, d_model]`, output laid out `[head, (q|k|v), d_head]`.
    qkv: Linear,
    /// `attention.dense`: heads' outputs (concatenated) to the residual stream.
    o: Linear,
    ln2: LayerNorm,
    /// `dense_h_to_4h`: `[d_mlp, d_model]`.
    fc: Linear,
    /// `dense_4h_to_h`: `[d_model, d_mlp]`.
    proj: Linear,
}

/// A GPT-NeoX / Pythia language model.
pub(crate) struct GptNeoX {
    /// `embed_in`: `[vocab, d_model]`.
    pub wte: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// `embed_out`: `[vocab, d_model]` (None when tied to `embed_in`).
    unembed: Option<Tensor>,
    /// `[rotary_dims / 2]` float32 inverse frequencies.
    inv_freq: Tensor,
    n_heads: i64,
    d_head: i64,
    act: Act,
}

impl GptNeoX {
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        let (d, m, v) = (cfg.d_model as i64, cfg.d_mlp as i64, cfg.vocab_size as i64);
        let eps = cfg.layer_norm_eps;
        let c = reader(&cfg.raw);
        let bias = c.bool("attention_bias")?.unwrap_or(true);
        // The layer count against the weights before anything is built per layer.
        w.check_block_count("GPT-NeoX", "num_hidden_layers", cfg.n_layers, "layers.")?;
        let mut blocks = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = |s: &str| format!("layers.{l}.{s}");
            blocks.push(Block {
                ln1: LayerNorm::new(w, &p("input_layernorm"), d, eps)?,
                qkv: Linear::new(w, &p("attention.query_key_value"), d, 3 * d, bias)?,
                o: Linear::new(w, &p("attention.dense"), d, d, bias)?,
                ln2: LayerNorm::new(w, &p("post_attention_layernorm"), d, eps)?,
                fc: Linear::new(w, &p("mlp.dense_h_to_4h"), d, m, true)?,
                proj: Linear::new(w, &p("mlp.dense_4h_to_h"), m, d, true)?,
            });
        }
        let wte = w.get("embed_in.weight", &[v, d])?;
        // Untied by default (every Pythia): embed_out is the unembedding.
        let unembed = untied_head(c.tied(false)?, w, "embed_out.weight", "embed_in", v, d)?;
        let rope = neox_rope(&c)?;
        let rot = rotary_dims(&rope, cfg.d_head) as i64;
        let base = rope.theta;
        // transformers: 1 / base^(arange(0, rot, 2) / rot), in float32.
        let inv_freq = if rot > 0 {
            let exps = Tensor::arange_start_step(0, rot, 2, (Kind::Int64, wte.device()))
                .to_kind(Kind::Float)
                / rot as f64;
            Tensor::from(base)
                .to_kind(Kind::Float)
                .to_device(wte.device())
                .pow(&exps)
                .reciprocal()
        } else {
            Tensor::zeros([0], (Kind::Float, wte.device()))
        };
        Ok(GptNeoX {
            wte,
            blocks,
            ln_f: LayerNorm::new(w, "final_layer_norm", d, eps)?,
            unembed,
            inv_freq,
            n_heads: cfg.n_heads as i64,
            d_head: cfg.d_head as i64,
            act: Act::parse(c.str("hidden_act")?.unwrap_or("gelu"), "GPT-NeoX config")?,
        })
    }

    pub fn n_params(&self) -> i64 {
        let mut n = self.wte.numel() as i64 + self.ln_f.numel();
        if let Some(u) = &self.unembed {
            n += u.numel() as i64;
        }
        for b in &self.blocks {
            n += b.ln1.numel()
                + b.qkv.numel()
                + b.o.numel()
                + b.ln2.numel()
                + b.fc.numel()
                + b.proj.numel();
        }
        n
    }

    /// `[vocab, d_model]`: `embed_out`, the rows the final residual is dotted with.
    pub fn unembed_weight(&self) -> &Tensor {
        self.unembed.as_ref().unwrap_or(&self.wte)
    }

    pub fn final_norm(&self, x: &Tensor) -> Tensor {
        self.ln_f.forward(x)
    }

    /// Number of rotated dimensions at the start of each head.
    pub fn rotary_dims(&self) -> i64 {
        2 * self.inv_freq.size()[0]
    }

    /// cos and sin `[batch, pos, 1, rotary_dims]` for `position_ids` `[batch, pos]`,
    /// computed in float32 then cast to `kind`, as transformers does.
    fn rotary_tables(&self, position_ids: &Tensor, kind: Kind) -> (Tensor, Tensor) {
        let freqs =
            position_ids.to_kind(Kind::Float).unsqueeze(-1) * self.inv_freq.view([1, 1, -1]); // [b, p, rot/2]
        let emb = Tensor::cat(&[&freqs, &freqs], -1).unsqueeze(2); // [b, p, 1, rot]
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }

    /// Rotate the first `rotary_dims` of each head of `x` `[b, p, h, dh]`.
    fn rotate(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Tensor {
        let rot = self.rotary_dims();
        if rot == 0 {
            return x.shallow_clone();
        }
        let x_rot = x.narrow(-1, 0, rot);
        let x_pass = x.narrow(-1, rot, self.d_head - rot);
        let half = rot / 2;
        let rotated_half = Tensor::cat(
            &[
                x_rot.narrow(-1, half, half).neg(),
                x_rot.narrow(-1, 0, half),
            ],
            -1,
        );
        let embedded = &x_rot * cos + rotated_half * sin;
        Tensor::cat(&[embedded, x_pass], -1)
    }

    /// Embedding and the first `pass.n_blocks` blocks; returns the residual stream
    /// `[batch, pos, d_model]` after the last block run.
    pub fn blocks_forward(&self, pass: &mut Pass) -> Result<Tensor> {
        let ids = pass.ids;
        let (mut x, first) = pass.first_block(|hooks| {
            hooks.point(
                || "hook_embed".into(),
                Tensor::embedding(&self.wte, ids, -1, false, false),
            )
        })?;
        let hooks = &mut *pass.hooks;
        let p = pass.ids.size()[1];
        let allowed = causal_mask(p, None, x.device()).logical_and(pass.key_mask);
        let (cos, sin) = self.rotary_tables(pass.position_ids, x.kind());
        for (l, blk) in self
            .blocks
            .iter()
            .enumerate()
            .take(pass.n_blocks)
            .skip(first)
        {
            hooks.ran_block(l);
            x = self.block_forward(l, blk, x, &allowed, &cos, &sin, hooks)?;
        }
        Ok(x)
    }

    #[allow(clippy::too_many_arguments)]
    fn block_forward(
        &self,
        l: usize,
        blk: &Block,
        x: Tensor,
        allowed: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        hooks: &mut HookRun,
    ) -> Result<Tensor> {
        let name = |s: &str| format!("blocks.{l}.{s}");
        let (b, p, d) = x.size3()?;
        let (h, dh) = (self.n_heads, self.d_head);
        let resid_pre = hooks.point(|| name("hook_resid_pre"), x)?;
        let ln1 = hooks.point(|| name("ln1.hook_normalized"), blk.ln1.forward(&resid_pre))?;
        let qkv = blk.qkv.forward(&ln1).view([b, p, h, 3 * dh]);
        let q = hooks.point(|| name("attn.hook_q"), qkv.narrow(-1, 0, dh))?;
        let k = hooks.point(|| name("attn.hook_k"), qkv.narrow(-1, dh, dh))?;
        let v = hooks.point(|| name("attn.hook_v"), qkv.narrow(-1, 2 * dh, dh))?;
        let rq = hooks.point(|| name("attn.hook_rot_q"), self.rotate(&q, cos, sin))?;
        let rk = hooks.point(|| name("attn.hook_rot_k"), self.rotate(&k, cos, sin))?;
        let rule = ScoreRule {
            divisor: (dh as f64).sqrt(),
            upcast: false,
        };
        let z = attention(&rq, &rk, &v, allowed, &rule, hooks, &name)?;
        let attn_out = hooks.point(
            || name("hook_attn_out"),
            blk.o.forward(&z.reshape([b, p, d])),
        )?;
        let ln2 = hooks.point(|| name("ln2.hook_normalized"), blk.ln2.forward(&resid_pre))?;
        let pre = hooks.point(|| name("mlp.hook_pre"), blk.fc.forward(&ln2))?;
        let post = hooks.point(|| name("mlp.hook_post"), self.act.forward(&pre))?;
        let mlp_out = hooks.point(|| name("hook_mlp_out"), blk.proj.forward(&post))?;
        // transformers' order: mlp_output + attn_output + hidden_states.
        hooks.point(|| name("hook_resid_post"), mlp_out + attn_out + resid_pre)
    }

    /// Per-head attention weights of block `l` (see [`super::AttnWeights`]). They give
    /// `hook_q` / `hook_k` (before the rotary embedding) from `ln1.hook_normalized`.
    pub fn attn_weights(&self, l: usize) -> super::AttnWeights {
        let blk = &self.blocks[l];
        let (h, dh) = (self.n_heads, self.d_head);
        let d = h * dh;
        // [3d, d] -> [h, 3, dh, d]: row (head, part, i) of the fused projection.
        let w = blk.qkv.w.view([h, 3, dh, d]);
        let bias = blk.qkv.bias_or_zeros().view([h, 3, dh]);
        let part = |i: i64| w.select(1, i).permute([0, 2, 1]).contiguous(); // [h, d, dh]
        let (w_o, b_o) = out_by_head(&blk.o, h, dh);
        super::AttnWeights {
            w_q: part(0),
            w_k: part(1),
            w_v: part(2),
            b_q: bias.select(1, 0),
            b_k: bias.select(1, 1),
            b_v: bias.select(1, 2),
            w_o,
            b_o,
        }
    }

    /// MLP weights of block `l`; they act on `ln2.hook_normalized`.
    pub fn mlp_weights(&self, l: usize) -> super::MlpWeights {
        mlp_weights_linear(&self.blocks[l].fc, &self.blocks[l].proj)
    }
}
