//! GPT-2 (all four sizes; the size comes from config.json), as `transformers`'
//! `GPT2LMHeadModel` computes it: pre-layer-norm blocks, fused QKV (`Conv1D` weights
//! stored `[in, out]`), GELU with the tanh approximation, tied unembedding.

use super::config::Config;
use super::layers::untied_head;
use super::weights::Weights;
use super::{Arch, ModelConfig, Pass};
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

pub(super) fn config(raw: serde_json::Value, model_type: String) -> Result<ModelConfig> {
    let c = Config::new(&raw, "GPT-2");
    let [d_model, n_layers, n_heads, n_ctx, vocab_size] =
        c.required(["n_embd", "n_layer", "n_head", "n_positions", "vocab_size"])?;
    if n_heads == 0 || d_model % n_heads != 0 {
        bail!("GPT-2 config: n_embd {d_model} is not divisible by n_head {n_heads}");
    }
    let act = c.str("activation_function")?.unwrap_or("gelu_new");
    if !matches!(act, "gelu_new" | "gelu_pytorch_tanh") {
        bail!("GPT-2 config: activation_function {act:?} is not supported (gelu_new is)");
    }
    c.refuse_flag(
        "scale_attn_weights",
        true,
        "false leaves attention scores unscaled by 1/sqrt(d_head)",
    )?;
    c.refuse_flag(
        "reorder_and_upcast_attn",
        false,
        "true computes the attention scores in float32 in another order",
    )?;
    c.refuse_flag(
        "add_cross_attention",
        false,
        "true adds cross-attention layers for an encoder-decoder model",
    )?;
    c.bool("scale_attn_by_inverse_layer_idx")?;
    c.tied(true)?;
    let eos = c.token_id("eos_token_id")?;
    Ok(ModelConfig {
        arch: Arch::Gpt2,
        model_type,
        n_layers,
        n_heads,
        d_model,
        d_head: d_model / n_heads,
        d_mlp: c.size("n_inner")?.unwrap_or(4 * d_model),
        n_ctx,
        vocab_size,
        layer_norm_eps: c.f64("layer_norm_epsilon")?.unwrap_or(1e-5),
        pad_token_id: eos.unwrap_or(0),
        eos_token_id: eos,
        raw,
    })
}

/// Hook names in forward order.
pub(super) fn hook_names(n_layers: usize) -> Vec<String> {
    const BLOCK: [&str; 15] = [
        "hook_resid_pre",
        "ln1.hook_normalized",
        "attn.hook_q",
        "attn.hook_k",
        "attn.hook_v",
        "attn.hook_attn_scores",
        "attn.hook_pattern",
        "attn.hook_z",
        "hook_attn_out",
        "hook_resid_mid",
        "ln2.hook_normalized",
        "mlp.hook_pre",
        "mlp.hook_post",
        "hook_mlp_out",
        "hook_resid_post",
    ];
    let mut v = vec!["hook_embed".to_string(), "hook_pos_embed".to_string()];
    for l in 0..n_layers {
        v.extend(BLOCK.iter().map(|s| format!("blocks.{l}.{s}")));
    }
    v.push("ln_final.hook_normalized".into());
    v
}

struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl LayerNorm {
    fn new(w: &Weights, prefix: &str, d: i64, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            w: w.get(&format!("{prefix}.weight"), &[d])?,
            b: w.get(&format!("{prefix}.bias"), &[d])?,
            eps,
        })
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        let d = self.w.size()[0];
        x.layer_norm(
            [d].as_slice(),
            Some(&self.w),
            Some(&self.b),
            self.eps,
            false,
        )
    }
}

struct Block {
    ln1: LayerNorm,
    /// `[d_model, 3 * d_model]`: Q, K, V side by side.
    c_attn_w: Tensor,
    c_attn_b: Tensor,
    /// `[d_model, d_model]`: heads' outputs (concatenated) to the residual stream.
    c_proj_w: Tensor,
    c_proj_b: Tensor,
    ln2: LayerNorm,
    /// `[d_model, d_mlp]`.
    fc_w: Tensor,
    fc_b: Tensor,
    /// `[d_mlp, d_model]`.
    proj_w: Tensor,
    proj_b: Tensor,
}

pub(crate) struct Gpt2 {
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
    /// `scale_attn_by_inverse_layer_idx` (false for the released GPT-2s).
    inverse_layer_scale: bool,
}

impl Gpt2 {
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        let (d, m, v, c) = (
            cfg.d_model as i64,
            cfg.d_mlp as i64,
            cfg.vocab_size as i64,
            cfg.n_ctx as i64,
        );
        let eps = cfg.layer_norm_eps;
        // The layer count against the weights before anything is built per layer.
        w.check_block_count("GPT-2", "n_layer", cfg.n_layers, "h.")?;
        let mut blocks = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = |s: &str| format!("h.{l}.{s}");
            blocks.push(Block {
                ln1: LayerNorm::new(w, &p("ln_1"), d, eps)?,
                c_attn_w: w.get(&p("attn.c_attn.weight"), &[d, 3 * d])?,
                c_attn_b: w.get(&p("attn.c_attn.bias"), &[3 * d])?,
                c_proj_w: w.get(&p("attn.c_proj.weight"), &[d, d])?,
                c_proj_b: w.get(&p("attn.c_proj.bias"), &[d])?,
                ln2: LayerNorm::new(w, &p("ln_2"), d, eps)?,
                fc_w: w.get(&p("mlp.c_fc.weight"), &[d, m])?,
                fc_b: w.get(&p("mlp.c_fc.bias"), &[m])?,
                proj_w: w.get(&p("mlp.c_proj.weight"), &[m, d])?,
                proj_b: w.get(&p("mlp.c_proj.bias"), &[d])?,
            });
        }
        let wte = w.get("wte.weight", &[v, d])?;
        let conf = Config::new(&cfg.raw, "GPT-2");
        let lm_head = untied_head(conf.tied(true)?, w, "lm_head.weight", "wte", v, d)?;
        Ok(Gpt2 {
            wpe: w.get("wpe.weight", &[c, d])?,
            wte,
            blocks,
            ln_f: LayerNorm::new(w, "ln_f", d, eps)?,
            lm_head,
            n_heads: cfg.n_heads as i64,
            d_head: cfg.d_head as i64,
            inverse_layer_scale: conf
                .bool("scale_attn_by_inverse_layer_idx")?
                .unwrap_or(false),
        })
    }

    pub fn n_params(&self) -> i64 {
        let mut n = self.wte.numel() + self.wpe.numel() + self.ln_f.w.numel() + self.ln_f.b.numel();
        if let Some(h) = &self.lm_head {
            n += h.numel();
        }
        for b in &self.blocks {
            for t in [
                &b.ln1.w,
                &b.ln1.b,
                &b.c_attn_w,
                &b.c_attn_b,
                &b.c_proj_w,
                &b.c_proj_b,
                &b.ln2.w,
                &b.ln2.b,
                &b.fc_w,
                &b.fc_b,
                &b.proj_w,
                &b.proj_b,
            ] {
                n += t.numel();
            }
        }
        n as i64
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
        // [1, 1, query, key]: a query may attend to itself and earlier keys, and only to
        // real (unpadded) keys.
        let causal = Tensor::ones([p, p], (Kind::Bool, x.device()))
            .tril(0)
            .view([1, 1, p, p]);
        let allowed = causal.logical_and(pass.key_mask);
        for (l, blk) in self
            .blocks
            .iter()
            .enumerate()
            .take(pass.n_blocks)
            .skip(first)
        {
            hooks.ran_block(l);
            x = self.block_forward(l, blk, x, &allowed, hooks)?;
        }
        Ok(x)
    }

    fn block_forward(
        &self,
        l: usize,
        blk: &Block,
        x: Tensor,
        allowed: &Tensor,
        hooks: &mut crate::hooks::HookRun,
    ) -> Result<Tensor> {
        let name = |s: &str| format!("blocks.{l}.{s}");
        let (b, p, d) = x.size3()?;
        let (h, dh) = (self.n_heads, self.d_head);

        let resid_pre = hooks.point(|| name("hook_resid_pre"), x)?;
        let ln1 = hooks.point(|| name("ln1.hook_normalized"), blk.ln1.forward(&resid_pre))?;
        let qkv = ln1.matmul(&blk.c_attn_w) + &blk.c_attn_b; // [b, p, 3d]
        let parts = qkv.split(d, -1);
        let q = hooks.point(|| name("attn.hook_q"), parts[0].view([b, p, h, dh]))?;
        let k = hooks.point(|| name("attn.hook_k"), parts[1].view([b, p, h, dh]))?;
        let v = hooks.point(|| name("attn.hook_v"), parts[2].view([b, p, h, dh]))?;

        let mut scale = (dh as f64).sqrt();
        if self.inverse_layer_scale {
            scale *= (l + 1) as f64;
        }
        // [b, h, query, key]
        let scores = q.permute([0, 2, 1, 3]).matmul(&k.permute([0, 2, 3, 1])) / scale;
        let scores = scores.masked_fill(&allowed.logical_not(), f64::NEG_INFINITY);
        let scores = hooks.point(|| name("attn.hook_attn_scores"), scores)?;
        // A query whose keys are all masked (a padding slot under left padding) would
        // give 0/0: clamping -inf to the lowest finite value gives it a harmless
        // uniform row instead. Softmax runs in float32 as in transformers.
        let finite = scores.clamp_min(lowest(scores.kind()));
        let pattern = finite.softmax(-1, Kind::Float).to_kind(scores.kind());
        let pattern = hooks.point(|| name("attn.hook_pattern"), pattern)?;
        let z = pattern
            .matmul(&v.permute([0, 2, 1, 3]))
            .permute([0, 2, 1, 3]); // [b, p, h, dh]
        let z = hooks.point(|| name("attn.hook_z"), z)?;
        let attn_out = z.reshape([b, p, d]).matmul(&blk.c_proj_w) + &blk.c_proj_b;
        let attn_out = hooks.point(|| name("hook_attn_out"), attn_out)?;
        let resid_mid = hooks.point(|| name("hook_resid_mid"), resid_pre + attn_out)?;

        let ln2 = hooks.point(|| name("ln2.hook_normalized"), blk.ln2.forward(&resid_mid))?;
        let pre = hooks.point(|| name("mlp.hook_pre"), ln2.matmul(&blk.fc_w) + &blk.fc_b)?;
        let post = hooks.point(|| name("mlp.hook_post"), pre.gelu("tanh"))?;
        let mlp_out = hooks.point(
            || name("hook_mlp_out"),
            post.matmul(&blk.proj_w) + &blk.proj_b,
        )?;
        hooks.point(|| name("hook_resid_post"), resid_mid + mlp_out)
    }

    /// Per-head attention weights of block `l` (see [`super::AttnWeights`]).
    pub fn attn_weights(&self, l: usize) -> super::AttnWeights {
        let blk = &self.blocks[l];
        let (h, dh) = (self.n_heads, self.d_head);
        let d = h * dh;
        let w = blk.c_attn_w.split(d, 1);
        let bias = blk.c_attn_b.split(d, 0);
        let per_head = |t: &Tensor| t.view([d, h, dh]).permute([1, 0, 2]).contiguous();
        super::AttnWeights {
            w_q: per_head(&w[0]),
            w_k: per_head(&w[1]),
            w_v: per_head(&w[2]),
            b_q: bias[0].view([h, dh]),
            b_k: bias[1].view([h, dh]),
            b_v: bias[2].view([h, dh]),
            w_o: blk.c_proj_w.view([h, dh, d]),
            b_o: blk.c_proj_b.shallow_clone(),
        }
    }

    /// MLP weights of block `l`.
    pub fn mlp_weights(&self, l: usize) -> super::MlpWeights {
        let blk = &self.blocks[l];
        super::MlpWeights {
            w_in: blk.fc_w.shallow_clone(),
            b_in: blk.fc_b.shallow_clone(),
            w_out: blk.proj_w.shallow_clone(),
            b_out: blk.proj_b.shallow_clone(),
        }
    }
}

/// The most negative finite value of a float kind.
fn lowest(kind: Kind) -> f64 {
    match kind {
        Kind::Half => -65504.0,
        Kind::Double => f64::MIN,
        // float32 and bfloat16 share the exponent range.
        _ => f32::MIN as f64,
    }
}
