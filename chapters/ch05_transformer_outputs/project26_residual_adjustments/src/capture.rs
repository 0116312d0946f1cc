//! Capture hooks that stay attached to a model between forward passes, as PyTorch's
//! `register_forward_hook` does, and the hidden states a library reports.
//!
//! `common`'s hooks ([`common::Hook`]) live for one run. The book's notebook instead
//! attaches a hook once and lets it fire on every later pass until it is removed — and
//! the project's point in Part 5 is what that means: a hook that writes into a named
//! slot keeps only the latest pass (overwrite), one that pushes into a list keeps them
//! all (append). [`CapturingModel`] holds a model plus the captures attached to it; each
//! run turns them into one-run `Hook::inspect` hooks that copy the tensor out.
//!
//! Belongs in common: [`CapturingModel::run`]'s `hidden_states` (transformers'
//! `output_hidden_states` convention) and [`CapturingModel::final_norm`] (a public
//! `HookedModel::final_norm`; `common` keeps the final layer norm private, so here it is
//! reached by replacing the last block's output and reading `ln_final.hook_normalized`).

use anyhow::{anyhow, bail, Result};
use common::device::to_vec_f32;
use common::{Batch, Hook, HookedModel, LogitsAt, Names, RunOptions};
use std::cell::RefCell;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

/// What a capture does with each pass's tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `store['name'] = output`: a later pass replaces the earlier tensor.
    Overwrite,
    /// `store.append(output)`: one more tensor per pass.
    Append,
}

/// The tensors one capture has stored (on the CPU), shared with the model's hook.
#[derive(Clone)]
pub struct Capture {
    /// The hook point it listens to, e.g. `blocks.10.hook_attn_out`.
    pub point: String,
    pub mode: Mode,
    store: Rc<RefCell<Vec<Tensor>>>,
}

impl Capture {
    /// The latest stored tensor.
    pub fn latest(&self) -> Result<Tensor> {
        self.store
            .borrow()
            .last()
            .map(|t| t.shallow_clone())
            .ok_or_else(|| anyhow!("capture at {} has not fired yet", self.point))
    }
    /// Every stored tensor, oldest first (one for an overwrite capture).
    pub fn all(&self) -> Vec<Tensor> {
        self.store
            .borrow()
            .iter()
            .map(|t| t.shallow_clone())
            .collect()
    }
    /// How many tensors it holds.
    pub fn len(&self) -> usize {
        self.store.borrow().len()
    }
    fn record(&self, t: &Tensor) {
        // A copy on the CPU, so that later passes (or a device) cannot change it.
        let t = t.to_device(Device::Cpu).copy();
        let mut s = self.store.borrow_mut();
        if self.mode == Mode::Overwrite {
            s.clear();
        }
        s.push(t);
    }
}

/// Which attached capture to detach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle(usize);

/// What one pass reports.
pub struct Pass {
    /// `H[0..=n_layers]`, `[1, p, d]` each on the CPU, with transformers' convention:
    /// `H[0]` the embeddings, `H[k]` block `k-1`'s output for `k < n_layers`, and
    /// `H[n_layers]` the final layer norm of the last block's output.
    pub hidden_states: Vec<Tensor>,
    /// Logits at the last position `[vocab]`.
    pub last_logits: Vec<f32>,
    /// Hook points cached for the hidden states, of all the model has.
    pub cached: (usize, usize),
}

/// A model with capture hooks that persist across passes until detached.
pub struct CapturingModel {
    pub model: HookedModel,
    attached: Vec<(Handle, Capture)>,
    next: usize,
}

impl CapturingModel {
    pub fn new(model: HookedModel) -> Result<Self> {
        if model.cfg.arch.is_encoder() {
            bail!(
                "{}: this project needs a decoder (GPT-2, GPT-Neo, GPT-NeoX): a post-LN \
                 encoder (BERT/RoBERTa) normalises after each residual add, so its hidden \
                 states are not a running sum of sublayer outputs",
                model.id
            );
        }
        Ok(CapturingModel {
            model,
            attached: Vec::new(),
            next: 0,
        })
    }

    /// Attach a capture to hook point `point` (an exact name of this model).
    pub fn attach(&mut self, point: &str, mode: Mode) -> Result<(Handle, Capture)> {
        if !self.model.hook_names().iter().any(|n| n == point) {
            // The same error a run gives, naming the valid points.
            common::hooks::match_pattern(point, self.model.hook_names(), self.model.cfg.n_layers)?;
        }
        let cap = Capture {
            point: point.to_string(),
            mode,
            store: Rc::new(RefCell::new(Vec::new())),
        };
        let h = Handle(self.next);
        self.next += 1;
        self.attached.push((h, cap.clone()));
        Ok((h, cap))
    }

    /// Remove a capture: it keeps what it stored and stops recording.
    pub fn detach(&mut self, h: Handle) {
        self.attached.retain(|(k, _)| *k != h);
    }

    /// Number of captures attached.
    pub fn n_attached(&self) -> usize {
        self.attached.len()
    }

    /// The `hidden_states` names: block 0's input, each block's output but the last,
    /// and the final norm.
    fn hidden_state_names(&self) -> Vec<String> {
        let n = self.model.cfg.n_layers;
        let mut v = vec!["blocks.0.hook_resid_pre".to_string()];
        v.extend((0..n - 1).map(|l| format!("blocks.{l}.hook_resid_post")));
        v.push(self.model.final_hook().to_string());
        v
    }

    /// One forward pass of `text` (no special tokens): every attached capture fires,
    /// and the pass reports its hidden states and last-position logits.
    pub fn run(&self, text: &str) -> Result<Pass> {
        let batch = self.model.to_tokens(text)?;
        self.run_batch(&batch)
    }

    pub fn run_batch(&self, batch: &Batch) -> Result<Pass> {
        let hooks: Vec<Hook> = self
            .attached
            .iter()
            .map(|(_, cap)| {
                let c = cap.clone();
                Hook::inspect(&cap.point, move |t, _| {
                    c.record(t);
                    Ok(())
                })
            })
            .collect();
        let names = self.hidden_state_names();
        let out = self.model.run(
            batch,
            &RunOptions::default()
                .cache(Names::list(&names))
                .hooks(&hooks)
                .logits(LogitsAt::Last)
                .cache_on(Device::Cpu),
        )?;
        let hidden_states = names
            .iter()
            .map(|n| out.cache.get(n).map(|t| t.shallow_clone()))
            .collect::<Result<Vec<_>>>()?;
        let logits = out.logits.ok_or_else(|| anyhow!("no logits"))?;
        Ok(Pass {
            hidden_states,
            last_logits: to_vec_f32(&logits.view([-1]))?,
            cached: (names.len(), self.model.hook_names().len()),
        })
    }

    /// The final layer norm `ln_f` applied to `x` `[1, p, d]`, where `p` is the length
    /// of `text`: the last block's output is replaced by `x` (attached captures do not
    /// fire) and `ln_final.hook_normalized` read. The norm acts on each position alone,
    /// so this is `ln_f(x)` whatever the tokens.
    pub fn final_norm(&self, text: &str, x: &Tensor) -> Result<Tensor> {
        let batch = self.model.to_tokens(text)?;
        let last = self.model.cfg.n_layers - 1;
        let hooks = [Hook::replace(
            &format!("blocks.{last}.hook_resid_post"),
            x.to_kind(Kind::Float),
        )];
        let fh = self.model.final_hook();
        let out = self.model.run(
            &batch,
            &RunOptions::default()
                .cache(Names::list(&[fh]))
                .hooks(&hooks)
                .logits(LogitsAt::None)
                .cache_on(Device::Cpu),
        )?;
        Ok(out.cache.get(fh)?.shallow_clone())
    }
}

/// `(1, 17, 768)`.
pub fn shape(t: &Tensor) -> String {
    let s: Vec<String> = t.size().iter().map(|d| d.to_string()).collect();
    format!("({})", s.join(", "))
}

/// Frobenius norm of `a - b` (float64).
pub fn frobenius_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .square()
        .sum(Kind::Double)
        .sqrt()
        .double_value(&[])
}

/// Largest |a - b| (float64).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

/// Row `t` of a `[1, p, d]` tensor as f64.
pub fn row(x: &Tensor, t: i64) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(x.get(0).get(t).to_kind(Kind::Double))?)
}

/// Column `dim` of a `[1, p, d]` tensor (one value per token) as f64.
pub fn column(x: &Tensor, dim: i64) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(
        x.get(0).select(1, dim).to_kind(Kind::Double),
    )?)
}

/// Tokens `from..` of a `[1, p, d]` tensor, all values flattened (row-major) as f64.
pub fn flat_from(x: &Tensor, from: i64) -> Result<Vec<f64>> {
    let p = x.size()[1];
    Ok(Vec::<f64>::try_from(
        x.get(0)
            .narrow(0, from, p - from)
            .reshape([-1])
            .to_kind(Kind::Double),
    )?)
}
