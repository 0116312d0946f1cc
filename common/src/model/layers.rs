//! Pieces the BERT/RoBERTa, GPT-Neo and GPT-NeoX implementations share: layer norm,
//! activations, `nn.Linear` weights, the hooked attention core (scores, pattern, z), the
//! tied or untied unembedding, and the per-head attention and MLP weight views.

use super::weights::Weights;
use super::{AttnWeights, MlpWeights};
use crate::hooks::HookRun;
use anyhow::{bail, Result};
use tch::{Kind, Tensor};

/// A layer norm with gain and bias `[d]`.
pub(crate) struct LayerNorm {
    pub w: Tensor,
    pub b: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    /// `{prefix}.weight` / `{prefix}.bias`, or the `gamma` / `beta` names that some old
    /// BERT checkpoints still carry (transformers renames them when loading).
    pub fn new(w: &Weights, prefix: &str, d: i64, eps: f64) -> Result<Self> {
        let (wn, bn) = if w.find(&format!("{prefix}.weight")).is_none()
            && w.find(&format!("{prefix}.gamma")).is_some()
        {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        Ok(LayerNorm {
            w: w.get(&format!("{prefix}.{wn}"), &[d])?,
            b: w.get(&format!("{prefix}.{bn}"), &[d])?,
            eps,
        })
    }

    /// Normalise over the last dimension: `[..., d]` -> `[..., d]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let d = self.w.size()[0];
        x.layer_norm(
            [d].as_slice(),
            Some(&self.w),
            Some(&self.b),
            self.eps,
            false,
        )
    }

    /// Number of parameters.
    pub fn numel(&self) -> i64 {
        (self.w.numel() + self.b.numel()) as i64
    }
}

/// A `torch.nn.Linear`: weight `[out, in]` as stored, optional bias `[out]`.
pub(crate) struct Linear {
    pub w: Tensor,
    pub b: Option<Tensor>,
}

impl Linear {
    /// `{prefix}.weight` of shape `[out, in]` and `{prefix}.bias` `[out]` (required when
    /// `bias` is true).
    pub fn new(w: &Weights, prefix: &str, d_in: i64, d_out: i64, bias: bool) -> Result<Self> {
        let weight = w.get(&format!("{prefix}.weight"), &[d_out, d_in])?;
        let b = if bias {
            Some(w.get(&format!("{prefix}.bias"), &[d_out])?)
        } else {
            None
        };
        Ok(Linear { w: weight, b })
    }

    /// `x @ w.T + b`: `[..., in]` -> `[..., out]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.w, self.b.as_ref())
    }

    /// The weight as `[in, out]` (TransformerLens orientation: `x @ W`).
    pub fn w_in_out(&self) -> Tensor {
        self.w.tr()
    }

    /// The bias, or zeros `[out]` when the layer has none.
    pub fn bias_or_zeros(&self) -> Tensor {
        match &self.b {
            Some(b) => b.shallow_clone(),
            None => Tensor::zeros([self.w.size()[0]], (self.w.kind(), self.w.device())),
        }
    }

    /// Number of parameters.
    pub fn numel(&self) -> i64 {
        (self.w.numel() + self.b.as_ref().map(|b| b.numel()).unwrap_or(0)) as i64
    }
}

/// The MLP nonlinearities the supported checkpoints use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    /// Exact GELU (`gelu` in transformers: BERT, RoBERTa, GPT-NeoX).
    Gelu,
    /// Tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: GPT-2, GPT-Neo).
    GeluTanh,
    Relu,
}

impl Act {
    /// Parse a config's `hidden_act` / `activation_function`.
    pub fn parse(name: &str, what: &str) -> Result<Self> {
        Ok(match name {
            "gelu" => Act::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Act::GeluTanh,
            "relu" => Act::Relu,
            other => bail!("{what}: activation {other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu are)"),
        })
    }

    /// Apply elementwise.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Act::Gelu => x.gelu("none"),
            Act::GeluTanh => x.gelu("tanh"),
            Act::Relu => x.relu(),
        }
    }
}

/// The most negative finite value of a float kind.
pub(crate) fn lowest(kind: Kind) -> f64 {
    match kind {
        Kind::Half => -65504.0,
        Kind::Double => f64::MIN,
        // float32 and bfloat16 share the exponent range.
        _ => f32::MIN as f64,
    }
}

/// `[1, 1, p, p]` bool: a query may attend to itself and earlier keys; with
/// `window = Some(w)` only to the `w` most recent ones (GPT-Neo's local layers).
pub(crate) fn causal_mask(p: i64, window: Option<i64>, device: tch::Device) -> Tensor {
    let ones = Tensor::ones([p, p], (Kind::Bool, device));
    let m = ones.tril(0);
    let m = match window {
        Some(w) => m.logical_and(&ones.triu(1 - w)),
        None => m,
    };
    m.view([1, 1, p, p])
}

/// How attention scores are formed from queries and keys.
pub(crate) struct ScoreRule {
    /// Scores are `q·k / divisor` (1 for GPT-Neo, which does not scale).
    pub divisor: f64,
    /// Compute scores and softmax in float32 whatever the weights' dtype, then cast the
    /// pattern back (GPT-Neo does this).
    pub upcast: bool,
}

/// The hooked attention core shared by the architectures: from queries, keys and
/// values `[batch, pos, head, d_head]` and `allowed` (bool, broadcastable to
/// `[batch, head, query, key]`) to `z` `[batch, pos, head, d_head]`, passing
/// `attn.hook_attn_scores` `[batch, head, query, key]` (masked entries -inf),
/// `attn.hook_pattern` (softmax, same shape) and `attn.hook_z` through `hooks`.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    allowed: &Tensor,
    rule: &ScoreRule,
    hooks: &mut HookRun,
    name: &dyn Fn(&str) -> String,
) -> Result<Tensor> {
    let (q, k) = if rule.upcast {
        (q.to_kind(Kind::Float), k.to_kind(Kind::Float))
    } else {
        (q.shallow_clone(), k.shallow_clone())
    };
    // [b, h, query, key]
    let scores = q.permute([0, 2, 1, 3]).matmul(&k.permute([0, 2, 3, 1]));
    let scores = if rule.divisor != 1.0 {
        scores / rule.divisor
    } else {
        scores
    };
    let scores = scores.masked_fill(&allowed.logical_not(), f64::NEG_INFINITY);
    let scores = hooks.point(|| name("attn.hook_attn_scores"), scores)?;
    // A query whose keys are all masked (a padding slot under left padding) would give
    // 0/0: clamping -inf to the lowest finite value gives it a harmless uniform row.
    // Softmax runs in float32 as in transformers.
    let finite = scores.clamp_min(lowest(scores.kind()));
    let pattern = finite.softmax(-1, Kind::Float).to_kind(v.kind());
    let pattern = hooks.point(|| name("attn.hook_pattern"), pattern)?;
    let z = pattern
        .matmul(&v.permute([0, 2, 1, 3]))
        .permute([0, 2, 1, 3]); // [b, p, h, dh]
    hooks.point(|| name("attn.hook_z"), z)
}

/// Per-head view of a `[d_model, n_heads * d_head]` projection (x @ W orientation):
/// `[n_heads, d_model, d_head]`.
pub(crate) fn split_heads_in_out(w_in_out: &Tensor, h: i64, dh: i64) -> Tensor {
    let d = w_in_out.size()[0];
    w_in_out.reshape([d, h, dh]).permute([1, 0, 2]).contiguous()
}

/// The unembedding matrix `[vocab, d_model]` of a model whose config may tie it to the
/// token embedding `embedding` (`tie_word_embeddings`, read by the caller with the
/// architecture's default): None when tied — transformers then uses the embedding and
/// ignores a stored `head` — else the stored `head`, which must exist (transformers would
/// initialise a missing one at random).
pub(crate) fn untied_head(
    tied: bool,
    w: &Weights,
    head: &str,
    embedding: &str,
    vocab: i64,
    d_model: i64,
) -> Result<Option<Tensor>> {
    if tied {
        return Ok(None);
    }
    if w.find(head).is_none() {
        bail!(
            "weight {head:?} is missing and config.json does not tie it to {embedding} \
             (tie_word_embeddings is false): add {head} to the checkpoint, or set \
             \"tie_word_embeddings\": true if the model shares the matrix"
        );
    }
    Ok(Some(w.get(head, &[vocab, d_model])?))
}

/// The output projection `o` (`nn.Linear`, `[d_model, n_heads * d_head]` as stored) by
/// head: `w_o` `[n_heads, d_head, d_model]` and `b_o` `[d_model]` (zeros without a bias).
pub(crate) fn out_by_head(o: &Linear, h: i64, dh: i64) -> (Tensor, Tensor) {
    let d = o.w.size()[0];
    (
        o.w_in_out().contiguous().view([h, dh, d]),
        o.bias_or_zeros(),
    )
}

/// Per-head weights of an attention layer with separate query, key, value and output
/// `nn.Linear` projections (BERT/RoBERTa, GPT-Neo); missing biases are zeros.
pub(crate) fn attn_weights_separate(
    q: &Linear,
    k: &Linear,
    v: &Linear,
    o: &Linear,
    h: i64,
    dh: i64,
) -> AttnWeights {
    let (w_o, b_o) = out_by_head(o, h, dh);
    AttnWeights {
        w_q: split_heads_in_out(&q.w_in_out(), h, dh),
        w_k: split_heads_in_out(&k.w_in_out(), h, dh),
        w_v: split_heads_in_out(&v.w_in_out(), h, dh),
        b_q: q.bias_or_zeros().view([h, dh]),
        b_k: k.bias_or_zeros().view([h, dh]),
        b_v: v.bias_or_zeros().view([h, dh]),
        w_o,
        b_o,
    }
}

/// The weights of an MLP of two `nn.Linear` layers, `fc_in` `[d_mlp, d_model]` and
/// `fc_out` `[d_model, d_mlp]` as stored, in `x @ W` orientation (BERT/RoBERTa, GPT-Neo,
/// GPT-NeoX); missing biases are zeros.
pub(crate) fn mlp_weights_linear(fc_in: &Linear, fc_out: &Linear) -> MlpWeights {
    MlpWeights {
        w_in: fc_in.w_in_out(),
        b_in: fc_in.bias_or_zeros(),
        w_out: fc_out.w_in_out(),
        b_out: fc_out.bias_or_zeros(),
    }
}
