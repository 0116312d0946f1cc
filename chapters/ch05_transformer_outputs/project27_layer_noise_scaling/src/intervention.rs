//! The project's two interventions on the output of one transformer block, as hooks.
//!
//! The book registers a forward hook on the blocks that changes the output of the
//! chosen block only and lets the pass continue from the changed tensor. Here that is a
//! [`Hook`] on every `blocks.*.hook_resid_post` (the residual stream after a block's MLP
//! has been added: what `transformers` returns as the block's output and reports as
//! `hidden_states[L + 1]`) that acts only when the block index is the chosen one; the
//! model then runs the next block (or, after the last block, `ln_f`) on what the hook
//! returned. A layer index that matches no block leaves the run untouched (offline
//! check 1); `main` refuses such an index before anything runs.
//!
//! The test (`tests/quick.rs`) includes this file too, to draw the same noise and build
//! the same hooks, and checks the hooked runs against doing the change by hand.

use anyhow::Result;
use common::hooks::{layer_of, Hook};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use tch::{Device, Kind, Tensor};

/// The hook points the interventions act on (and the hidden states are read from).
pub const RESID_POST: &str = "blocks.*.hook_resid_post";

/// What is done to the output X of the chosen block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Perturbation {
    /// X ← X + N(0, 1) · σ · `sd_factor`, σ the unbiased std of all of X's elements.
    Noise { sd_factor: f64 },
    /// X ← X · `factor`.
    Scale { factor: f64 },
}

impl Perturbation {
    /// "noise" or "scaling", for messages.
    pub fn describe(&self) -> String {
        match self {
            Perturbation::Noise { sd_factor } => format!("noise (sd = {sd_factor} * std(X))"),
            Perturbation::Scale { factor } => format!("scaling (X * {factor})"),
        }
    }
}

/// Standard normal draws, reproducible from a seed: one fresh draw per forward pass,
/// taken in the order the passes run.
pub struct NoiseSource {
    rng: StdRng,
}

impl NoiseSource {
    pub fn new(seed: u64) -> Self {
        NoiseSource {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A float32 tensor of `shape` filled with independent N(0, 1) draws, on `device`.
    /// Drawn on the CPU by `rand`, so the values do not depend on the device.
    pub fn draw(&mut self, shape: &[i64], device: Device) -> Tensor {
        let n: i64 = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.rng.sample(StandardNormal)).collect();
        Tensor::from_slice(&v).view(shape).to_device(device)
    }
}

/// The unbiased (n − 1) standard deviation over every element of `x` (for the block
/// output: positions and dimensions together), computed in float64.
pub fn std_all(x: &Tensor) -> f64 {
    x.to_kind(Kind::Double).std(true).double_value(&[])
}

/// `x + z · std(x) · sd_factor`: Gaussian noise scaled by the tensor's own std.
pub fn add_noise(x: &Tensor, z: &Tensor, sd_factor: f64) -> Tensor {
    let sigma = std_all(x);
    x + z.to_kind(x.kind()) * (sigma * sd_factor)
}

/// The perturbation applied to a block output by hand (what the hook does).
/// `z` is the noise draw (unused for scaling).
pub fn perturb(x: &Tensor, p: Perturbation, z: Option<&Tensor>) -> Result<Tensor> {
    Ok(match p {
        Perturbation::Noise { sd_factor } => {
            let z = z.ok_or_else(|| anyhow::anyhow!("a noise perturbation needs a draw"))?;
            add_noise(x, z, sd_factor)
        }
        Perturbation::Scale { factor } => x * factor,
    })
}

/// A hook on every block's output that applies `p` to the output of block `layer`
/// only (`z`: the noise draw, the block output's shape, for noise).
pub fn perturbation_hook(layer: usize, p: Perturbation, z: Option<Tensor>) -> Hook {
    Hook::apply(RESID_POST, move |x, name| {
        if layer_of(name) == Some(layer) {
            perturb(x, p, z.as_ref())
        } else {
            Ok(x.shallow_clone())
        }
    })
}
