//! BERT and RoBERTa (any size; the size comes from config.json), as `transformers`'
//! `BertForMaskedLM` / `RobertaForMaskedLM` compute them: an encoder of post-layer-norm
//! blocks with bidirectional attention (padding keys masked), `nn.Linear` weights stored
//! `[out, in]`, exact GELU, and the masked-LM head (dense -> activation -> layer norm ->
//! decoder tied to the token embeddings, plus a bias).
//!
//! RoBERTa differs from BERT only in its embeddings: position ids start after the
//! padding id — `padding_idx + 1 + (number of non-pad tokens so far) - 1`, and
//! `padding_idx` itself at pad slots, as in `create_position_ids_from_input_ids` — and a
//! single token type; its head always uses exact GELU.
//!
//! Hook points follow TransformerLens's `HookedEncoder` (`BertBlock`), which puts the
//! layer norms *after* the residual additions, so the names mean (for block `l`):
//! - `hook_resid_pre` `[b, p, d]`: the block input = the previous block's
//!   `hook_normalized_resid_post` (block 0: `embed.ln.hook_normalized`) = transformers'
//!   `hidden_states[l]`;
//! - `attn.hook_q|k|v|attn_scores|pattern|z`, `hook_attn_out` as for GPT-2 (queries, keys
//!   and values are computed from `hook_resid_pre` directly: no layer norm before them;
//!   scores scaled by 1/sqrt(d_head), padding keys -inf);
//! - `hook_resid_mid` `[b, p, d]`: `hook_resid_pre + hook_attn_out`, *before* the
//!   attention output layer norm;
//! - `ln1.hook_normalized` `[b, p, d]`: that layer norm's output (transformers'
//!   `attention.output.LayerNorm`), which is both the MLP input and the residual the MLP
//!   output is added to;
//! - `mlp.hook_pre` / `mlp.hook_post` `[b, p, m]`, `hook_mlp_out` `[b, p, d]`;
//! - `hook_resid_post` `[b, p, d]`: `ln1.hook_normalized + hook_mlp_out`, *before* the
//!   output layer norm — not a hidden state transformers returns;
//! - `ln2.hook_normalized` and then `hook_normalized_resid_post` `[b, p, d]`: the same
//!   tensor, the output layer norm's result (`output.LayerNorm`) = the block output =
//!   transformers' `hidden_states[l + 1]`.
//!
//! Outside the blocks: `hook_embed`, `hook_pos_embed`, `hook_token_type_embed` `[b, p, d]`
//! (the three embeddings), `embed.ln.hook_normalized` `[b, p, d]` (their sum after the
//! embedding layer norm = `hidden_states[0]`), and `mlm_head.ln.hook_normalized`
//! `[b, p, d]`: the masked-LM head's transform (dense, activation, layer norm), which the
//! decoder turns into MLM logits `[b, p, V]`.

use super::config::Config;
use super::layers::{
    attention, attn_weights_separate, mlp_weights_linear, untied_head, Act, LayerNorm, Linear,
    ScoreRule,
};
use super::weights::Weights;
use super::{Arch, ModelConfig, Pass};
use crate::hooks::HookRun;
use anyhow::{anyhow, bail, Result};
use tch::{Kind, Tensor};

pub(super) fn config(raw: serde_json::Value, model_type: String) -> Result<ModelConfig> {
    let roberta = model_type == "roberta";
    let name = if roberta { "RoBERTa" } else { "BERT" };
    let c = Config::new(&raw, name);
    let [d_model, n_layers, n_heads, d_mlp, max_pos, vocab_size] = c.required([
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
        "vocab_size",
    ])?;
    if n_heads == 0 || d_model % n_heads != 0 {
        bail!("{name} config: hidden_size {d_model} is not divisible by num_attention_heads {n_heads}");
    }
    // transformers 4.x writes it; 5 no longer does (absolute positions only there).
    let pet = c.str("position_embedding_type")?.unwrap_or("absolute");
    if pet != "absolute" {
        bail!("{name} config: position_embedding_type {pet:?} is not supported (absolute is)");
    }
    // Both written (false) by transformers 5 for every BERT and RoBERTa.
    c.refuse_flag(
        "is_decoder",
        false,
        "true makes the encoder attend causally, as a decoder",
    )?;
    c.refuse_flag(
        "add_cross_attention",
        false,
        "true adds cross-attention layers for an encoder-decoder model",
    )?;
    Act::parse(c.str("hidden_act")?.unwrap_or("gelu"), name)?;
    c.size("type_vocab_size")?;
    c.tied(true)?;
    let pad = match c.token_id("pad_token_id")? {
        Some(p) => p,
        None if raw.get("pad_token_id").is_some() && roberta => bail!(
            "RoBERTa config: pad_token_id is null, but RoBERTa's position ids are counted \
             from the padding id: set pad_token_id (1 for the released RoBERTa models)"
        ),
        None => {
            if roberta {
                1
            } else {
                0
            }
        }
    };
    // RoBERTa's first padding_idx + 1 position rows are never used by real tokens.
    let n_ctx = if roberta {
        usize::try_from(pad)
            .ok()
            .and_then(|p| max_pos.checked_sub(p + 1))
            .ok_or_else(|| anyhow!("RoBERTa config: max_position_embeddings {max_pos} leaves no positions after pad_token_id {pad}"))?
    } else {
        max_pos
    };
    Ok(ModelConfig {
        arch: if roberta { Arch::Roberta } else { Arch::Bert },
        model_type,
        n_layers,
        n_heads,
        d_model,
        d_head: d_model / n_heads,
        d_mlp,
        n_ctx,
        vocab_size,
        layer_norm_eps: c.f64("layer_norm_eps")?.unwrap_or(1e-12),
        pad_token_id: pad,
        eos_token_id: c.token_id("eos_token_id")?,
        raw,
    })
}

/// Hook names in forward order (see the module docs for what each one is).
pub(super) fn hook_names(n_layers: usize) -> Vec<String> {
    const BLOCK: [&str; 16] = [
        "hook_resid_pre",
        "attn.hook_q",
        "attn.hook_k",
        "attn.hook_v",
        "attn.hook_attn_scores",
        "attn.hook_pattern",
        "attn.hook_z",
        "hook_attn_out",
        "hook_resid_mid",
        "ln1.hook_normalized",
        "mlp.hook_pre",
        "mlp.hook_post",
        "hook_mlp_out",
        "hook_resid_post",
        "ln2.hook_normalized",
        "hook_normalized_resid_post",
    ];
    let mut v: Vec<String> = [
        "hook_embed",
        "hook_pos_embed",
        "hook_token_type_embed",
        "embed.ln.hook_normalized",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for l in 0..n_layers {
        v.extend(BLOCK.iter().map(|s| format!("blocks.{l}.{s}")));
    }
    v.push(FINAL_HOOK.into());
    v
}

/// The hook on the masked-LM head's output, before the decoder.
pub(super) const FINAL_HOOK: &str = "mlm_head.ln.hook_normalized";

struct Block {
    q: Linear,
    k: Linear,
    v: Linear,
    /// `attention.output.dense`: heads' outputs (concatenated) to the residual stream.
    o: Linear,
    ln1: LayerNorm,
    /// `intermediate.dense`: `[d_mlp, d_model]`.
    fc_in: Linear,
    /// `output.dense`: `[d_model, d_mlp]`.
    fc_out: Linear,
    ln2: LayerNorm,
}

/// The masked-LM head: `decoder(ln(act(dense(x)))) + bias`.
struct MlmHead {
    dense: Linear,
    act: Act,
    ln: LayerNorm,
    /// `[vocab, d_model]` when config.json unties the decoder from the token embeddings
    /// (`tie_word_embeddings` false; None: tied, as in every released BERT and RoBERTa).
    decoder: Option<Tensor>,
    /// `[vocab]`.
    bias: Tensor,
}

/// A BERT or RoBERTa encoder with its masked-LM head when the checkpoint has one.
pub(crate) struct Bert {
    /// `[vocab, d_model]`.
    pub wte: Tensor,
    /// `[max_position_embeddings, d_model]` as stored (RoBERTa: rows 0..=padding_idx unused).
    pub wpe: Tensor,
    /// `[type_vocab_size, d_model]`.
    pub tte: Tensor,
    emb_ln: LayerNorm,
    blocks: Vec<Block>,
    head: Option<MlmHead>,
    /// Parameters not used in the forward pass but part of the checkpoint (the pooler).
    extra_params: i64,
    roberta: bool,
    pad: i64,
    n_heads: i64,
    d_head: i64,
    act: Act,
}

impl Bert {
    pub fn new(cfg: &ModelConfig, w: &Weights) -> Result<Self> {
        let roberta = cfg.arch == Arch::Roberta;
        let (d, m, v) = (cfg.d_model as i64, cfg.d_mlp as i64, cfg.vocab_size as i64);
        let eps = cfg.layer_norm_eps;
        let c = Config::new(&cfg.raw, if roberta { "RoBERTa" } else { "BERT" });
        let act = Act::parse(c.str("hidden_act")?.unwrap_or("gelu"), c.what())?;
        let max_pos = c
            .size("max_position_embeddings")?
            .map(|n| n as i64)
            .unwrap_or(cfg.n_ctx as i64);
        let n_types = c.size("type_vocab_size")?.unwrap_or(2) as i64;
        // The layer count against the weights before anything is built per layer.
        w.check_block_count(
            c.what(),
            "num_hidden_layers",
            cfg.n_layers,
            "encoder.layer.",
        )?;
        let mut blocks = Vec::with_capacity(cfg.n_layers);
        for l in 0..cfg.n_layers {
            let p = |s: &str| format!("encoder.layer.{l}.{s}");
            blocks.push(Block {
                q: Linear::new(w, &p("attention.self.query"), d, d, true)?,
                k: Linear::new(w, &p("attention.self.key"), d, d, true)?,
                v: Linear::new(w, &p("attention.self.value"), d, d, true)?,
                o: Linear::new(w, &p("attention.output.dense"), d, d, true)?,
                ln1: LayerNorm::new(w, &p("attention.output.LayerNorm"), d, eps)?,
                fc_in: Linear::new(w, &p("intermediate.dense"), d, m, true)?,
                fc_out: Linear::new(w, &p("output.dense"), m, d, true)?,
                ln2: LayerNorm::new(w, &p("output.LayerNorm"), d, eps)?,
            });
        }
        let wte = w.get("embeddings.word_embeddings.weight", &[v, d])?;
        let (hp, ln_name, head_act) = if roberta {
            ("lm_head", "lm_head.layer_norm", Act::Gelu)
        } else {
            (
                "cls.predictions.transform",
                "cls.predictions.transform.LayerNorm",
                act,
            )
        };
        let decoder_name = if roberta {
            "lm_head.decoder"
        } else {
            "cls.predictions.decoder"
        };
        let bias_name = if roberta {
            "lm_head.bias"
        } else {
            "cls.predictions.bias"
        };
        let head = if w.find(&format!("{hp}.dense.weight")).is_some() {
            let bias = match w.find(bias_name) {
                Some(_) => w.get(bias_name, &[v])?,
                None => w.get(&format!("{decoder_name}.bias"), &[v])?,
            };
            // Tied (the default, every released BERT and RoBERTa): the decoder is the word
            // embedding matrix, and a stored copy is ignored, as in transformers.
            let decoder = untied_head(
                c.tied(true)?,
                w,
                &format!("{decoder_name}.weight"),
                "embeddings.word_embeddings",
                v,
                d,
            )?;
            Some(MlmHead {
                dense: Linear::new(w, &format!("{hp}.dense"), d, d, true)?,
                act: head_act,
                ln: LayerNorm::new(w, ln_name, d, eps)?,
                decoder,
                bias,
            })
        } else {
            None
        };
        let extra_params = ["pooler.dense.weight", "pooler.dense.bias"]
            .iter()
            .filter_map(|n| w.mark(n))
            .map(|t| t.numel() as i64)
            .sum();
        Ok(Bert {
            wpe: w.get("embeddings.position_embeddings.weight", &[max_pos, d])?,
            tte: w.get("embeddings.token_type_embeddings.weight", &[n_types, d])?,
            emb_ln: LayerNorm::new(w, "embeddings.LayerNorm", d, eps)?,
            wte,
            blocks,
            head,
            extra_params,
            roberta,
            pad: cfg.pad_token_id,
            n_heads: cfg.n_heads as i64,
            d_head: cfg.d_head as i64,
            act,
        })
    }

    pub fn n_params(&self) -> i64 {
        let mut n = (self.wte.numel() + self.wpe.numel() + self.tte.numel()) as i64
            + self.emb_ln.numel()
            + self.extra_params;
        for b in &self.blocks {
            n += b.q.numel()
                + b.k.numel()
                + b.v.numel()
                + b.o.numel()
                + b.ln1.numel()
                + b.fc_in.numel()
                + b.fc_out.numel()
                + b.ln2.numel();
        }
        if let Some(h) = &self.head {
            n += h.dense.numel()
                + h.ln.numel()
                + h.bias.numel() as i64
                + h.decoder.as_ref().map(|t| t.numel() as i64).unwrap_or(0);
        }
        n
    }

    /// Whether the checkpoint has the masked-LM head (a bare `BertModel`, such as
    /// sentence-transformers' MiniLM, does not).
    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    /// `[vocab, d_model]`: the decoder, i.e. the rows the head's output is dotted with.
    pub fn decoder_weight(&self) -> &Tensor {
        self.head
            .as_ref()
            .and_then(|h| h.decoder.as_ref())
            .unwrap_or(&self.wte)
    }

    /// `[n_ctx, d_model]` with row `i` the embedding of position `i` (RoBERTa: the
    /// stored matrix without its first `padding_idx + 1` rows).
    pub fn pos_embed_matrix(&self) -> Tensor {
        if self.roberta {
            let skip = self.pad + 1;
            self.wpe.narrow(0, skip, self.wpe.size()[0] - skip)
        } else {
            self.wpe.shallow_clone()
        }
    }

    /// The masked-LM head's transform (dense, activation, layer norm): `[..., d]` -> `[..., d]`.
    pub fn head_transform(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.head.as_ref().ok_or_else(no_head)?;
        Ok(h.ln.forward(&h.act.forward(&h.dense.forward(x))))
    }

    /// MLM logits from the head transform's output: `[..., d]` -> `[..., vocab]`.
    pub fn unembed(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.head.as_ref().ok_or_else(no_head)?;
        Ok(x.matmul(&self.decoder_weight().tr()) + &h.bias)
    }

    /// Embeddings and the first `pass.n_blocks` blocks; returns the last block's output
    /// (`hook_normalized_resid_post`) `[batch, pos, d_model]`.
    /// Word + token-type + position embeddings and their layer norm: `[batch, pos, d_model]`.
    fn embed(
        &self,
        ids: &Tensor,
        position_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        hooks: &mut HookRun,
    ) -> Result<Tensor> {
        let types = match token_type_ids {
            Some(t) => t.shallow_clone(),
            None => ids.zeros_like(),
        };
        let n_types = self.tte.size()[0];
        if types.numel() > 0 {
            let (lo, hi) = (i64::try_from(types.min())?, i64::try_from(types.max())?);
            if lo < 0 || hi >= n_types {
                bail!("token type ids must lie in 0..{n_types} for this model (found {lo}..={hi})");
            }
        }
        // [batch, pos] int64
        let positions = if self.roberta {
            // transformers' create_position_ids_from_input_ids: count non-pad tokens.
            let not_pad = ids.ne(self.pad).to_kind(Kind::Int64);
            not_pad.cumsum(1, Kind::Int64) * &not_pad + self.pad
        } else {
            position_ids.shallow_clone()
        };
        let embed = hooks.point(
            || "hook_embed".into(),
            Tensor::embedding(&self.wte, ids, -1, false, false),
        )?;
        let pos = hooks.point(
            || "hook_pos_embed".into(),
            Tensor::embedding(&self.wpe, &positions, -1, false, false),
        )?;
        let tte = hooks.point(
            || "hook_token_type_embed".into(),
            Tensor::embedding(&self.tte, &types, -1, false, false),
        )?;
        // Summed in transformers' order: (word + token type) + position.
        hooks.point(
            || "embed.ln.hook_normalized".into(),
            self.emb_ln.forward(&(embed + tte + pos)),
        )
    }

    pub fn blocks_forward(&self, pass: &mut Pass) -> Result<Tensor> {
        let (ids, positions, types) = (pass.ids, pass.position_ids, pass.token_type_ids);
        let (mut x, first) = pass.first_block(|hooks| self.embed(ids, positions, types, hooks))?;
        let hooks = &mut *pass.hooks;
        // [batch, 1, 1, key]: every query sees every real key (bidirectional).
        let allowed = pass.key_mask.shallow_clone();
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
        hooks: &mut HookRun,
    ) -> Result<Tensor> {
        let name = |s: &str| format!("blocks.{l}.{s}");
        let (b, p, d) = x.size3()?;
        let (h, dh) = (self.n_heads, self.d_head);
        let resid_pre = hooks.point(|| name("hook_resid_pre"), x)?;
        let q = hooks.point(
            || name("attn.hook_q"),
            blk.q.forward(&resid_pre).view([b, p, h, dh]),
        )?;
        let k = hooks.point(
            || name("attn.hook_k"),
            blk.k.forward(&resid_pre).view([b, p, h, dh]),
        )?;
        let v = hooks.point(
            || name("attn.hook_v"),
            blk.v.forward(&resid_pre).view([b, p, h, dh]),
        )?;
        let rule = ScoreRule {
            divisor: (dh as f64).sqrt(),
            upcast: false,
        };
        let z = attention(&q, &k, &v, allowed, &rule, hooks, &name)?;
        let attn_out = hooks.point(
            || name("hook_attn_out"),
            blk.o.forward(&z.reshape([b, p, d])),
        )?;
        let resid_mid = hooks.point(|| name("hook_resid_mid"), resid_pre + attn_out)?;
        let ln1 = hooks.point(|| name("ln1.hook_normalized"), blk.ln1.forward(&resid_mid))?;
        let pre = hooks.point(|| name("mlp.hook_pre"), blk.fc_in.forward(&ln1))?;
        let post = hooks.point(|| name("mlp.hook_post"), self.act.forward(&pre))?;
        let mlp_out = hooks.point(|| name("hook_mlp_out"), blk.fc_out.forward(&post))?;
        let resid_post = hooks.point(|| name("hook_resid_post"), mlp_out + ln1)?;
        let ln2 = hooks.point(|| name("ln2.hook_normalized"), blk.ln2.forward(&resid_post))?;
        hooks.point(|| name("hook_normalized_resid_post"), ln2)
    }

    /// Per-head attention weights of block `l` (see [`super::AttnWeights`]); they act on
    /// `hook_resid_pre` (no layer norm in between).
    pub fn attn_weights(&self, l: usize) -> super::AttnWeights {
        let b = &self.blocks[l];
        attn_weights_separate(&b.q, &b.k, &b.v, &b.o, self.n_heads, self.d_head)
    }

    /// MLP weights of block `l`; they act on `ln1.hook_normalized`.
    pub fn mlp_weights(&self, l: usize) -> super::MlpWeights {
        mlp_weights_linear(&self.blocks[l].fc_in, &self.blocks[l].fc_out)
    }
}

fn no_head() -> anyhow::Error {
    anyhow!(
        "this checkpoint has no masked-LM head (it is a bare encoder such as a sentence-transformers model), \
         so there are no logits: run with LogitsAt::None and read hidden states from the cache"
    )
}
