//! Hook points, the activation cache and interventions, TransformerLens-style.
//!
//! Every model names the tensors of its forward pass the way TransformerLens does
//! (`blocks.{l}.attn.hook_z`, `blocks.{l}.hook_resid_post`, ...), see
//! [`crate::model::HookedModel::hook_names`]. A run can
//! - cache some of them ([`Names`]: exact names or glob patterns such as
//!   `blocks.*.hook_resid_post`); only what is asked for is kept, and
//! - intervene on them ([`Hook`]): replace, add, scale, zero or mean-ablate a tensor, or
//!   the part of it at some heads and/or positions, or run any function on it. Hooks
//!   compose: several may act in one run, applied in forward order (and, at one hook
//!   point, in the order given).
//!
//! The cache stores tensors after the interventions at that point, so a cache shows what
//! the rest of the network saw.

use anyhow::{anyhow, bail, Result};
use std::collections::{BTreeMap, HashSet};
use tch::{Device, Kind, Tensor};

/// Which hook points to cache: exact names or glob patterns (`*` matches anything).
#[derive(Debug, Clone, Default)]
pub struct Names {
    patterns: Vec<String>,
}

impl Names {
    /// Nothing.
    pub fn none() -> Self {
        Names::default()
    }
    /// Every hook point.
    pub fn all() -> Self {
        Names {
            patterns: vec!["*".into()],
        }
    }
    /// Names matching one glob pattern, e.g. `blocks.*.attn.hook_pattern`.
    pub fn matching(pattern: &str) -> Self {
        Names {
            patterns: vec![pattern.into()],
        }
    }
    /// Names matching any of these exact names or patterns.
    pub fn list<S: AsRef<str>>(items: &[S]) -> Self {
        Names {
            patterns: items.iter().map(|s| s.as_ref().to_string()).collect(),
        }
    }
    /// Add one more name or pattern.
    pub fn and(mut self, pattern: &str) -> Self {
        self.patterns.push(pattern.into());
        self
    }
    /// True when nothing is asked for.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
    /// The exact hook names these patterns select among `valid`; every pattern must
    /// select at least one, else the error says why (unknown name, layer out of range).
    pub fn resolve(&self, valid: &[String], n_layers: usize) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for p in &self.patterns {
            let hits = match_pattern(p, valid, n_layers)?;
            out.extend(hits);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The names in `valid` that `pattern` selects, or an error explaining why none.
pub fn match_pattern(pattern: &str, valid: &[String], n_layers: usize) -> Result<Vec<String>> {
    let pat = glob::Pattern::new(pattern)
        .map_err(|e| anyhow!("bad hook name pattern {pattern:?}: {e}"))?;
    let hits: Vec<String> = valid.iter().filter(|n| pat.matches(n)).cloned().collect();
    if !hits.is_empty() {
        return Ok(hits);
    }
    if let Some(l) = layer_of(pattern) {
        if l >= n_layers {
            bail!(
                "hook {pattern:?}: layer {l} is out of range, this model has {n_layers} blocks (0..={})",
                n_layers.saturating_sub(1)
            );
        }
    }
    let examples: Vec<&str> = valid
        .iter()
        .filter(|n| n.starts_with("blocks.0.") || !n.starts_with("blocks."))
        .map(|s| s.as_str())
        .collect();
    bail!(
        "no hook point of this model matches {pattern:?}. Valid names are {} and blocks.{{0..{}}}.<name> for the block names shown",
        examples.join(", "),
        n_layers.saturating_sub(1)
    )
}

/// The block index in a name like `blocks.7.attn.hook_z`.
pub fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blocks.")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// How a hook point's tensor is laid out: which dimension is the (query) position and
/// which the head, so that per-position and per-head interventions know where to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub pos_dim: i64,
    pub head_dim: Option<i64>,
}

/// The layout of a hook point from its name.
/// `[batch, pos, head, d_head]` for q/k/v/z, `[batch, head, query_pos, key_pos]` for
/// attention scores and patterns, `[batch, pos, features]` for everything else.
pub fn layout_of(name: &str) -> Layout {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    match leaf {
        "hook_q" | "hook_k" | "hook_v" | "hook_z" => Layout {
            pos_dim: 1,
            head_dim: Some(2),
        },
        "hook_attn_scores" | "hook_pattern" => Layout {
            pos_dim: 2,
            head_dim: Some(1),
        },
        _ => Layout {
            pos_dim: 1,
            head_dim: None,
        },
    }
}

type HookFn = Box<dyn Fn(&Tensor, &str) -> Result<Tensor>>;
type InspectFn = Box<dyn Fn(&Tensor, &str) -> Result<()>>;

/// What a hook does to the tensor at its hook point.
pub enum Action {
    /// Replace by this tensor (broadcast to the hook's shape), e.g. a cached activation
    /// from another run (activation patching).
    Replace(Tensor),
    /// Add this tensor (broadcast), e.g. a steering vector or noise.
    Add(Tensor),
    /// Multiply by a number.
    Scale(f64),
    /// Set to zero (zero-ablation).
    Zero,
    /// Replace by its mean over the batch and the (query) positions of real tokens
    /// (mean-ablation within the run). In a model run, padding slots are left out of the
    /// mean (the batch's attention mask says which they are), so the mean of a padded
    /// batch is the mean over the same tokens run without padding. Called directly
    /// ([`Hook::run`]) without a mask, every position counts.
    MeanAblate,
    /// Any function of the tensor and the hook's name; returns the new tensor.
    Apply(HookFn),
    /// Look at the tensor without changing it (record a statistic, print a shape).
    Inspect(InspectFn),
}

/// An intervention at one hook point (or every point a pattern matches), optionally
/// restricted to some heads, positions and/or features (negative positions count from
/// the end). The restrictions combine: `Hook::replace(..).positions(&[3]).features(&[7,
/// 9])` changes neurons 7 and 9 at position 3 and leaves every other value as it was.
pub struct Hook {
    pub pattern: String,
    pub action: Action,
    pub heads: Option<Vec<i64>>,
    pub positions: Option<Vec<i64>>,
    /// Indices into the last dimension (MLP neurons at `mlp.hook_pre`/`mlp.hook_post`,
    /// residual dimensions at `hook_resid_*`, head dimensions at `attn.hook_z`).
    pub features: Option<Vec<i64>>,
}

impl Hook {
    /// A hook with any action.
    pub fn new(pattern: &str, action: Action) -> Self {
        Hook {
            pattern: pattern.into(),
            action,
            heads: None,
            positions: None,
            features: None,
        }
    }
    /// Replace the tensor by `value` (broadcast).
    pub fn replace(pattern: &str, value: Tensor) -> Self {
        Self::new(pattern, Action::Replace(value))
    }
    /// Add `value` (broadcast).
    pub fn add(pattern: &str, value: Tensor) -> Self {
        Self::new(pattern, Action::Add(value))
    }
    /// Multiply by `factor`.
    pub fn scale(pattern: &str, factor: f64) -> Self {
        Self::new(pattern, Action::Scale(factor))
    }
    /// Set to zero.
    pub fn zero(pattern: &str) -> Self {
        Self::new(pattern, Action::Zero)
    }
    /// Replace by the mean over the batch and the real (unpadded) positions; see
    /// [`Action::MeanAblate`].
    pub fn mean_ablate(pattern: &str) -> Self {
        Self::new(pattern, Action::MeanAblate)
    }
    /// Run `f(tensor, hook_name)` and use its result.
    pub fn apply(pattern: &str, f: impl Fn(&Tensor, &str) -> Result<Tensor> + 'static) -> Self {
        Self::new(pattern, Action::Apply(Box::new(f)))
    }
    /// Run `f(tensor, hook_name)` for its side effects only.
    pub fn inspect(pattern: &str, f: impl Fn(&Tensor, &str) -> Result<()> + 'static) -> Self {
        Self::new(pattern, Action::Inspect(Box::new(f)))
    }
    /// Act only on these heads (hook points with a head dimension).
    pub fn heads(mut self, heads: &[i64]) -> Self {
        self.heads = Some(heads.to_vec());
        self
    }
    /// Act only at these (query) positions; -1 is the last position.
    pub fn positions(mut self, positions: &[i64]) -> Self {
        self.positions = Some(positions.to_vec());
        self
    }
    /// Act only on these indices of the last dimension (neurons of an MLP hook point,
    /// dimensions of the residual stream); -1 is the last one. With
    /// [`Hook::replace`], the value broadcasts to the whole tensor and only the selected
    /// entries are taken from it, so a `[d_mlp]` vector of per-neuron values (a median
    /// each) replaces just the chosen neurons.
    pub fn features(mut self, features: &[i64]) -> Self {
        self.features = Some(features.to_vec());
        self
    }

    /// Apply this hook to `x`, the tensor at hook point `name` (every position counts
    /// as real: see [`Hook::run_with_mask`]).
    pub fn run(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        self.run_with_mask(x, name, None)
    }

    /// Apply this hook to `x`, the tensor at hook point `name`, where `real` is the
    /// batch's `[batch, pos]` mask (nonzero at real tokens, 0 at padding): mean-ablation
    /// averages over real positions only.
    pub fn run_with_mask(&self, x: &Tensor, name: &str, real: Option<&Tensor>) -> Result<Tensor> {
        let new = match &self.action {
            Action::Replace(v) => broadcast_like(v, x, name)?,
            Action::Add(v) => x + broadcast_like(v, x, name)?,
            Action::Scale(f) => x * *f,
            Action::Zero => x.zeros_like(),
            Action::MeanAblate => mean_over_real(x, name, real),
            Action::Apply(f) => {
                let y = f(x, name)?;
                if y.size() != x.size() {
                    bail!(
                        "hook at {name}: the function returned shape {:?}, expected {:?}",
                        y.size(),
                        x.size()
                    );
                }
                y
            }
            Action::Inspect(f) => {
                f(x, name)?;
                return Ok(x.shallow_clone());
            }
        };
        if self.heads.is_none() && self.positions.is_none() && self.features.is_none() {
            return Ok(new);
        }
        let mask = self.mask(x, name)?;
        Ok(new.where_self(&mask, x))
    }

    /// A boolean mask, broadcastable to `x`, that is true at the selected
    /// heads/positions/features.
    fn mask(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let layout = layout_of(name);
        let shape = x.size();
        let rank = shape.len() as i64;
        let mut mask = Tensor::ones([1i64], (Kind::Bool, x.device()));
        if let Some(heads) = &self.heads {
            let hd = layout
                .head_dim
                .ok_or_else(|| anyhow!("hook at {name}: this hook point has no head dimension, so heads(..) does not apply"))?;
            mask = mask.logical_and(&select_mask(
                heads,
                shape[hd as usize],
                hd,
                rank,
                x.device(),
                name,
                "head",
            )?);
        }
        if let Some(pos) = &self.positions {
            mask = mask.logical_and(&select_mask(
                pos,
                shape[layout.pos_dim as usize],
                layout.pos_dim,
                rank,
                x.device(),
                name,
                "position",
            )?);
        }
        if let Some(features) = &self.features {
            if rank == 0 {
                bail!("hook at {name}: a scalar has no feature dimension");
            }
            mask = mask.logical_and(&select_mask(
                features,
                shape[rank as usize - 1],
                rank - 1,
                rank,
                x.device(),
                name,
                "feature",
            )?);
        }
        Ok(mask)
    }
}

/// The mean of `x` over the batch and the position dimension of hook point `name`,
/// counting only positions where `real` (`[batch, pos]`) is nonzero, broadcast back to
/// `x`'s shape.
fn mean_over_real(x: &Tensor, name: &str, real: Option<&Tensor>) -> Tensor {
    let l = layout_of(name);
    let mut dims = vec![0i64, l.pos_dim];
    dims.dedup();
    let shape = x.size();
    let fits = |m: &&Tensor| {
        let ms = m.size();
        ms.len() == 2
            && shape.len() > l.pos_dim as usize
            && ms == [shape[0], shape[l.pos_dim as usize]]
    };
    match real.filter(fits) {
        Some(m) => {
            let mut view = vec![1i64; shape.len()];
            view[0] = shape[0];
            view[l.pos_dim as usize] = shape[l.pos_dim as usize];
            let keep = m.to_device(x.device()).ne(0).view(view.as_slice());
            // where, not a product: masked attention scores are -inf, and -inf * 0 is NaN
            let sum = x.where_self(&keep, &x.zeros_like()).sum_dim_intlist(
                dims.as_slice(),
                true,
                x.kind(),
            );
            let count = keep
                .to_kind(x.kind())
                .sum_dim_intlist(dims.as_slice(), true, x.kind())
                .clamp_min(1.0);
            (sum / count).expand_as(x)
        }
        None => x.mean_dim(dims.as_slice(), true, x.kind()).expand_as(x),
    }
}

fn select_mask(
    idx: &[i64],
    size: i64,
    dim: i64,
    rank: i64,
    device: Device,
    name: &str,
    what: &str,
) -> Result<Tensor> {
    let mut m = vec![false; size as usize];
    for &i in idx {
        let j = if i < 0 { i + size } else { i };
        if j < 0 || j >= size {
            bail!("hook at {name}: {what} {i} is out of range (this run has {size} {what}s)");
        }
        m[j as usize] = true;
    }
    let mut view = vec![1i64; rank as usize];
    view[dim as usize] = size;
    Ok(Tensor::from_slice(&m)
        .to_device(device)
        .view(view.as_slice()))
}

fn broadcast_like(v: &Tensor, x: &Tensor, name: &str) -> Result<Tensor> {
    let v = v.to_device(x.device()).to_kind(x.kind());
    v.f_broadcast_to(x.size()).map_err(|_| {
        anyhow!(
            "hook at {name}: a tensor of shape {:?} cannot stand in for one of shape {:?}",
            v.size(),
            x.size()
        )
    })
}

/// Activations saved by a run, by hook name.
#[derive(Default)]
pub struct ActivationCache {
    map: BTreeMap<String, Tensor>,
}

impl ActivationCache {
    /// The tensor at `name`, or an error listing what the cache holds.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.map.get(name).ok_or_else(|| {
            let have: Vec<&str> = self.map.keys().map(|s| s.as_str()).take(12).collect();
            anyhow!(
                "{name} is not in the activation cache; it holds {} name(s): {}{} (ask for it in the run's cache names)",
                self.map.len(),
                have.join(", "),
                if self.map.len() > 12 { ", ..." } else { "" }
            )
        })
    }
    /// Whether `name` was cached.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }
    /// The cached names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }
    /// Number of cached tensors.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// True when nothing was cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Take a tensor out of the cache.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        self.map.remove(name)
    }
    /// `blocks.{l}.<suffix>` for l in 0..n_layers stacked on a new leading dimension:
    /// `[n_layers, ...shape]`.
    pub fn stack_layers(&self, suffix: &str, n_layers: usize) -> Result<Tensor> {
        let ts = (0..n_layers)
            .map(|l| self.get(&format!("blocks.{l}.{suffix}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::stack(&ts, 0))
    }
    pub(crate) fn insert(&mut self, name: String, t: Tensor) {
        self.map.insert(name, t);
    }
}

/// The hook bookkeeping of one forward pass: which names to cache, which hooks act
/// where, and the cache being filled.
pub(crate) struct HookRun<'a> {
    cache_names: HashSet<String>,
    hooks: Vec<(&'a Hook, HashSet<String>)>,
    pub cache: ActivationCache,
    /// Move cached tensors to this device (e.g. CPU) as they are stored.
    cache_device: Option<Device>,
    idle: bool,
    /// `[batch, pos]`, nonzero at real tokens: what mean-ablation averages over.
    real: Option<Tensor>,
    /// The blocks the forward pass ran, in order.
    pub blocks_run: Vec<usize>,
}

impl<'a> HookRun<'a> {
    pub fn new(
        valid: &[String],
        n_layers: usize,
        names: &Names,
        hooks: &'a [Hook],
        cache_device: Option<Device>,
    ) -> Result<Self> {
        let cache_names: HashSet<String> = names.resolve(valid, n_layers)?.into_iter().collect();
        let hooks = hooks
            .iter()
            .map(|h| {
                Ok((
                    h,
                    match_pattern(&h.pattern, valid, n_layers)?
                        .into_iter()
                        .collect(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let idle = cache_names.is_empty() && hooks.is_empty();
        Ok(HookRun {
            cache_names,
            hooks,
            cache: ActivationCache::default(),
            cache_device,
            idle,
            real: None,
            blocks_run: Vec::new(),
        })
    }

    /// The batch's `[batch, pos]` real-token mask (for mean-ablation).
    pub fn set_real_mask(&mut self, mask: Tensor) {
        self.real = Some(mask);
    }

    /// Note that block `l` is being run.
    pub fn ran_block(&mut self, l: usize) {
        self.blocks_run.push(l);
    }

    /// The deepest block any cache name or hook touches (None: only non-block names).
    pub fn deepest_block(&self) -> Option<usize> {
        self.cache_names
            .iter()
            .chain(self.hooks.iter().flat_map(|(_, s)| s.iter()))
            .filter_map(|n| layer_of(n))
            .max()
    }

    /// Whether any cache name or hook is not inside a block (e.g. `ln_final.hook_normalized`).
    pub fn touches(&self, name: &str) -> bool {
        self.cache_names.contains(name) || self.hooks.iter().any(|(_, s)| s.contains(name))
    }

    /// Pass the tensor at hook point `name` through the hooks that act there, then
    /// cache it if asked.
    pub fn point(&mut self, name: impl FnOnce() -> String, x: Tensor) -> Result<Tensor> {
        if self.idle {
            return Ok(x);
        }
        let name = name();
        let mut x = x;
        for (h, names) in &self.hooks {
            if names.contains(&name) {
                x = h.run_with_mask(&x, &name, self.real.as_ref())?;
            }
        }
        if self.cache_names.contains(&name) {
            let stored = match self.cache_device {
                Some(d) if d != x.device() => x.to_device(d),
                _ => x.shallow_clone(),
            };
            self.cache.insert(name, stored);
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Vec<String> {
        let mut v = vec!["hook_embed".to_string(), "hook_pos_embed".to_string()];
        for l in 0..2 {
            for s in [
                "hook_resid_pre",
                "attn.hook_z",
                "attn.hook_pattern",
                "hook_resid_post",
            ] {
                v.push(format!("blocks.{l}.{s}"));
            }
        }
        v
    }

    #[test]
    fn patterns_resolve_and_errors_explain() {
        let v = valid();
        let got = Names::matching("blocks.*.hook_resid_post")
            .resolve(&v, 2)
            .unwrap();
        assert_eq!(
            got,
            vec!["blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
        );
        let err = Names::matching("blocks.5.hook_resid_post")
            .resolve(&v, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("out of range"), "{err}");
        let err = Names::matching("blocks.0.hook_nothing")
            .resolve(&v, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no hook point"), "{err}");
    }

    #[test]
    fn head_and_position_masks_restrict_the_action() {
        // [batch=1, pos=3, head=2, d_head=2]
        let x = Tensor::ones([1, 3, 2, 2], (Kind::Float, Device::Cpu));
        let y = Hook::zero("blocks.0.attn.hook_z")
            .heads(&[1])
            .positions(&[-1])
            .run(&x, "blocks.0.attn.hook_z")
            .unwrap();
        let s: Vec<f32> = Vec::try_from(
            y.sum_dim_intlist([3i64].as_slice(), false, Kind::Float)
                .view(-1),
        )
        .unwrap();
        // only (pos 2, head 1) is zeroed
        assert_eq!(s, vec![2., 2., 2., 2., 2., 0.]);
        let err = Hook::zero("x")
            .heads(&[2])
            .run(&x, "blocks.0.attn.hook_z")
            .unwrap_err()
            .to_string();
        assert!(err.contains("head 2 is out of range"), "{err}");
        let r = Tensor::ones([1, 3, 4], (Kind::Float, Device::Cpu));
        assert!(Hook::zero("x")
            .heads(&[0])
            .run(&r, "blocks.0.hook_resid_post")
            .is_err());
    }

    #[test]
    fn replace_checks_shapes_and_mean_ablation_averages() {
        let x = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([1, 3, 2]);
        let bad = Tensor::zeros([4], (Kind::Float, Device::Cpu));
        assert!(Hook::replace("h", bad)
            .run(&x, "blocks.0.hook_resid_post")
            .is_err());
        let m = Hook::mean_ablate("h")
            .run(&x, "blocks.0.hook_resid_post")
            .unwrap();
        let v: Vec<f32> = Vec::try_from(m.contiguous().view(-1)).unwrap();
        assert_eq!(v, vec![2., 3., 2., 3., 2., 3.]);
        // with a mask, the padded last position is left out of the mean
        let real = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        let m = Hook::mean_ablate("h")
            .run_with_mask(&x, "blocks.0.hook_resid_post", Some(&real))
            .unwrap();
        let v: Vec<f32> = Vec::try_from(m.contiguous().view(-1)).unwrap();
        assert_eq!(v, vec![1., 2., 1., 2., 1., 2.]);
        // patterns average over query positions (dim 2); -inf scores stay -inf, no NaN
        let s =
            Tensor::from_slice(&[0f32, f32::NEG_INFINITY, 2.0, 4.0, 9.0, 9.0]).view([1, 1, 3, 2]);
        let m = Hook::mean_ablate("h")
            .run_with_mask(&s, "blocks.0.attn.hook_attn_scores", Some(&real))
            .unwrap();
        let v: Vec<f32> = Vec::try_from(m.contiguous().view(-1)).unwrap();
        assert_eq!(v[0], 1.0);
        assert_eq!(v[1], f32::NEG_INFINITY);
    }
}
