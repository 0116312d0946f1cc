//! The project's numerical pieces: luma conversion, explained-variance thresholding,
//! double-centring, the SVD reduction and the hook that applies it inside the pass.
//!
//! `tests/quick.rs` includes this file too (`#[path]`) and checks each piece against
//! closed forms and against doing it by hand.
#![allow(dead_code)]

use anyhow::{ensure, Result};
use common::hooks::{layer_of, Hook};
use std::cell::RefCell;
use std::rc::Rc;
use tch::{Kind, Tensor};

/// PIL's "L" conversion (ITU-R 601 luma) with PIL's integer rounding:
/// `(R·19595 + G·38470 + B·7471 + 2^15) >> 16`.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}

/// 100 · s² / Σ s², cumulated.
pub fn cum_pct(s: &[f64]) -> Vec<f64> {
    let total: f64 = s.iter().map(|v| v * v).sum();
    let mut acc = 0.0;
    s.iter()
        .map(|v| {
            acc += v * v;
            100.0 * acc / total
        })
        .collect()
}

/// The first 0-based index where `cum > threshold`: the number of components kept.
/// `cum.len()` (keep everything) when no index passes.
pub fn first_above(cum: &[f64], threshold: f64) -> usize {
    cum.iter().position(|&c| c > threshold).unwrap_or(cum.len())
}

/// numpy's `matrix_rank`: singular values above σ_max · max(M, N) · ε.
pub fn rank_of(s: &[f64], shape: (usize, usize), eps: f64) -> usize {
    let smax = s.iter().cloned().fold(0.0, f64::max);
    let tol = smax * shape.0.max(shape.1) as f64 * eps;
    s.iter().filter(|&&v| v > tol).count()
}

/// The numerical rank of a 2-D tensor (ε of its own float kind, like numpy / torch).
pub fn matrix_rank(x: &Tensor) -> Result<usize> {
    let eps = if x.kind() == Kind::Double {
        f64::EPSILON
    } else {
        f32::EPSILON as f64
    };
    let s = Vec::<f64>::try_from(x.svd(true, false).1.to_kind(Kind::Double))?;
    let sz = x.size();
    Ok(rank_of(&s, (sz[0] as usize, sz[1] as usize), eps))
}

/// A full SVD `x = U Σ Vᵀ` (U: M×M, Vᵀ: N×N), in `x`'s own float kind.
pub struct FullSvd {
    pub u: Tensor,
    pub s: Tensor,
    pub vt: Tensor,
}

pub fn full_svd(x: &Tensor) -> FullSvd {
    // torch.svd(some=False): full U (M×M) and V (N×N); Vᵀ = V transposed.
    let (u, s, v) = x.svd(false, true);
    FullSvd {
        u,
        s,
        vt: v.transpose(0, 1).contiguous(),
    }
}

impl FullSvd {
    pub fn s_vec(&self) -> Result<Vec<f64>> {
        Ok(Vec::<f64>::try_from(self.s.to_kind(Kind::Double))?)
    }

    /// `U Σ_k Vᵀ` with only the first `k` singular values kept (Σ_k: M×N zeros with
    /// diag(s_0..s_{k-1}) in its top-left corner).
    pub fn reconstruct(&self, k: usize) -> Tensor {
        let m = self.u.size()[0];
        let n = self.vt.size()[0];
        let k = (k as i64).min(self.s.size()[0]);
        let sigma = Tensor::zeros([m, n], (self.s.kind(), self.s.device()));
        if k > 0 {
            let d = self.s.narrow(0, 0, k).diag(0);
            sigma.narrow(0, 0, k).narrow(1, 0, k).copy_(&d);
        }
        self.u.matmul(&sigma).matmul(&self.vt)
    }
}

/// Double-centring of a T×d matrix: D = X − m0 − m1 + g with m0 the mean over rows
/// (1×d), m1 the mean over columns (T×1) and g the grand mean.
pub struct DoubleCentred {
    pub d: Tensor,
    pub m0: Tensor,
    pub m1: Tensor,
    pub g: Tensor,
}

pub fn double_centre(x: &Tensor) -> DoubleCentred {
    let m0 = x.mean_dim(0, true, x.kind());
    let m1 = x.mean_dim(1, true, x.kind());
    let g = x.mean(x.kind());
    let d = x - &m0 - &m1 + &g;
    DoubleCentred { d, m0, m1, g }
}

impl DoubleCentred {
    /// The inverse: M + m0 + m1 − g.
    pub fn restore(&self, m: &Tensor) -> Tensor {
        m + &self.m0 + &self.m1 - &self.g
    }
}

/// One reduction of a T×d hidden state.
pub struct Reduction {
    /// The reconstruction (T×d, same kind as the input).
    pub recon: Tensor,
    /// Components kept.
    pub r: usize,
    /// cum[r] (the spec's printed "% variance"; cum[len-1] when r = len).
    pub cum_at_r: f64,
    /// Number of singular values (min(T, d)).
    pub n: usize,
}

/// Double-centre → full SVD → keep r = first index with cum > `threshold` → add the
/// means back.
pub fn reduce(x: &Tensor, threshold: f64) -> Result<Reduction> {
    ensure!(
        x.dim() == 2,
        "reduce expects a 2-D matrix, got {:?}",
        x.size()
    );
    let dc = double_centre(x);
    let svd = full_svd(&dc.d);
    let s = svd.s_vec()?;
    let cum = cum_pct(&s);
    let r = first_above(&cum, threshold);
    let recon = dc.restore(&svd.reconstruct(r));
    Ok(Reduction {
        recon,
        r,
        cum_at_r: cum[r.min(cum.len() - 1)],
        n: s.len(),
    })
}

/// What each active hook call recorded: (layer, r, cum[r], n).
pub type Counts = Rc<RefCell<Vec<(usize, usize, f64, usize)>>>;

/// The hook points the intervention is installed on: every block's output.
pub const RESID_POST: &str = "blocks.*.hook_resid_post";

/// A hook on every block's output, active only at block `layer` (a `layer` that matches
/// no block, like the book's sentinel 4000, leaves the run untouched): replaces X[0] by
/// its reduction at `threshold` % variance and records r in `counts`.
pub fn reduction_hook(layer: usize, threshold: f64, counts: Counts) -> Hook {
    Hook::apply(RESID_POST, move |x, name| {
        if layer_of(name) != Some(layer) {
            return Ok(x.shallow_clone());
        }
        let red = reduce(&x.get(0), threshold)?;
        counts
            .borrow_mut()
            .push((layer, red.r, red.cum_at_r, red.n));
        let y = x.copy();
        y.get(0).copy_(&red.recon.to_kind(x.kind()));
        Ok(y)
    })
}

/// Mean next-token cross-entropy of one sequence: logits `[T, V]`, ids `[T]`; positions
/// 0..T-2 predict tokens 1..T-1 (what `labels = input_ids` computes), float64.
pub fn lm_loss(logits: &Tensor, ids: &Tensor) -> Result<f64> {
    let t = logits.size()[0];
    ensure!(t >= 2, "a loss needs at least two tokens");
    let lsm = logits
        .narrow(0, 0, t - 1)
        .to_kind(Kind::Double)
        .log_softmax(-1, Kind::Double);
    let targets = ids.narrow(0, 1, t - 1).to_kind(Kind::Int64).unsqueeze(1);
    let nll = -lsm.gather(1, &targets, false).mean(Kind::Double);
    Ok(nll.double_value(&[]))
}
