//! The intervention of project 40 and the statistics it is read with: silencing one
//! attention head (zeroing its slice of `attn.hook_z`, the merged head outputs that enter
//! `attn.c_proj`), token-to-token cosine similarities of a hidden state, the last
//! position's log-softmax summary, and a sweep that silences every head of a model with
//! one batched forward call per layer that starts at the layer's cached residual stream.

use anyhow::{bail, ensure, Context, Result};
use common::hooks::layer_of;
use common::{Batch, Hook, HookedModel, LogitsAt, PaddingSide, RunOptions};
use tch::{Device, Kind, Tensor};

/// "No manipulation": a block index no model has (the book's `layer2silence = 1000`).
pub const NO_LAYER: usize = 1000;

/// The book's pre-hook on every block's `attn.c_proj` input, as a hook on every block's
/// `attn.hook_z` (`[batch, pos, n_heads, d_head]`, the same numbers before they are
/// merged to `[batch, pos, n_heads * d_head]`): at block `layer` head `head` is set to 0 at
/// every position; every other block passes its tensor on untouched. `layer = NO_LAYER`
/// (or any index past the last block) changes nothing.
pub fn silencer(layer: usize, head: i64) -> Hook {
    Hook::apply("blocks.*.attn.hook_z", move |z, name| {
        if layer_of(name) != Some(layer) {
            return Ok(z.shallow_clone());
        }
        let n_heads = z.size()[2];
        ensure!(
            (0..n_heads).contains(&head),
            "head {head} is out of range: {name} has {n_heads} heads (0..={})",
            n_heads - 1
        );
        let out = z.copy();
        // [batch, pos, 1, d_head] view of the head's columns, zeroed in place
        let _ = out.narrow(2, head, 1).fill_(0.0);
        Ok(out)
    })
}

/// The strictly upper triangle (row-major, `i < j`) of the cosine-similarity matrix of
/// the rows of `h` (`[n_tokens, d_model]`): `n (n - 1) / 2` values, in float64.
pub fn cosine_pool(h: &Tensor) -> Result<Vec<f64>> {
    let (n, _) = h
        .size2()
        .context("cosine_pool takes a [tokens, d_model] matrix")?;
    let h = h.to_device(Device::Cpu).to_kind(Kind::Double);
    let norms = h.linalg_norm(2.0, [-1i64].as_slice(), true, Kind::Double);
    let u = &h / norms; // [n, d], unit rows
    let c = u.matmul(&u.tr()); // [n, n]
    let rows = common::device::to_rows_f64(&c)?;
    let mut out = Vec::with_capacity((n * (n - 1) / 2) as usize);
    for (i, row) in rows.iter().enumerate() {
        out.extend_from_slice(&row[i + 1..]);
    }
    Ok(out)
}

/// What the parts read of one last-position log-softmax row.
#[derive(Clone, Debug, PartialEq)]
pub struct LastToken {
    /// log-softmax of the target token (the clean run's argmax).
    pub target_lsm: f64,
    /// The largest log-softmax value (of whatever token is now on top).
    pub max_lsm: f64,
    /// That token.
    pub top: u32,
}

/// Log-softmax (float64) of last-position logits `[n, vocab]`, summarised per row.
pub fn last_tokens(logits: &Tensor, target: u32) -> Result<Vec<LastToken>> {
    let lsm = logits.to_kind(Kind::Double).log_softmax(-1, Kind::Double); // [n, vocab]
    let (mx, arg) = lsm.max_dim(-1, false);
    let tgt = lsm.select(1, target as i64);
    let mx = common::device::to_vec_f64(&mx)?;
    let arg = common::device::to_vec_i64(&arg)?;
    let tgt = common::device::to_vec_f64(&tgt)?;
    Ok((0..mx.len())
        .map(|i| LastToken {
            target_lsm: tgt[i],
            max_lsm: mx[i],
            top: arg[i] as u32,
        })
        .collect())
}

/// Every head silenced in turn: `out[layer][head]`. Block `layer`'s `n_heads` variants
/// run as one batch (variant `h` has head `h` zeroed) that starts at the clean run's
/// `blocks.{layer}.hook_resid_pre` (`resid_pre[layer]`, `[1, pos, d_model]`): blocks
/// before the silenced one cannot change, so they are not recomputed, and logits are
/// computed at the last position only. `tick` is called once per layer.
///
/// The scheme of `common::patching::head_patch_sweep` (which patches `hook_z` with a
/// second prompt's activations and so cannot zero a head): `n_layers` forward calls
/// instead of `n_layers * n_heads`, and `n_heads * sum(n_layers - l)` block passes per
/// sequence instead of `n_heads * n_layers^2`.
pub fn sweep(
    model: &HookedModel,
    ids: &[u32],
    resid_pre: &[Tensor],
    target: u32,
    mut tick: impl FnMut(),
) -> Result<Vec<Vec<LastToken>>> {
    let (n_layers, n_heads) = (model.cfg.n_layers, model.cfg.n_heads as i64);
    if resid_pre.len() != n_layers {
        bail!(
            "the sweep needs the residual stream before each of the {n_layers} blocks, got {}",
            resid_pre.len()
        );
    }
    let variants =
        model.batch_from_ids(&vec![ids.to_vec(); n_heads as usize], PaddingSide::Right)?;
    // [n_heads, 1, n_heads, 1]: 0 where variant h meets head h, else 1.
    let keep = (Tensor::ones([n_heads, n_heads], (Kind::Float, model.device()))
        - Tensor::eye(n_heads, (Kind::Float, model.device())))
    .view([n_heads, 1, n_heads, 1])
    .to_kind(model.dtype());
    let mut out = Vec::with_capacity(n_layers);
    for (l, resid) in resid_pre.iter().enumerate() {
        let keep = keep.shallow_clone();
        let hooks = [Hook::apply(
            &format!("blocks.{l}.attn.hook_z"),
            move |z, _| Ok(z * &keep),
        )];
        let start = resid
            .expand(
                [n_heads, variants.seq_len(), model.cfg.d_model as i64],
                false,
            )
            .contiguous();
        let run = model.run(
            &variants,
            &RunOptions::default()
                .start_at(l, start)
                .hooks(&hooks)
                .logits(LogitsAt::Last),
        )?;
        let logits = run.logits.context("the sweep asked for logits")?; // [n_heads, vocab]
        out.push(last_tokens(&logits, target)?);
        tick();
    }
    Ok(out)
}

/// One forward pass of `batch` with head `head` of block `layer` silenced, from the
/// embeddings on: the last position's summary.
pub fn silenced_last(
    model: &HookedModel,
    batch: &Batch,
    layer: usize,
    head: i64,
    target: u32,
) -> Result<LastToken> {
    let hooks = [silencer(layer, head)];
    let run = model.run(
        batch,
        &RunOptions::default().hooks(&hooks).logits(LogitsAt::Last),
    )?;
    let logits = run.logits.context("asked for logits")?; // [1, vocab]
    last_tokens(&logits, target)?
        .pop()
        .context("one sequence in, one row out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::testing::reference::tiny_gpt2_dir;
    use common::Names;

    fn tiny() -> HookedModel {
        HookedModel::from_pretrained(tiny_gpt2_dir().to_str().unwrap(), Device::Cpu).unwrap()
    }

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn cosine_pool_counts_and_values() {
        // rows e0, e0 + e1, -e1: cos(0,1) = 1/sqrt2, cos(0,2) = 0, cos(1,2) = -1/sqrt2
        let h = Tensor::from_slice(&[1f32, 0., 1., 1., 0., -1.]).view([3, 2]);
        let c = cosine_pool(&h).unwrap();
        let s = std::f64::consts::FRAC_1_SQRT_2;
        assert_eq!(c.len(), 3);
        for (g, w) in c.iter().zip([s, 0.0, -s]) {
            assert!((g - w).abs() < 1e-12, "{c:?}");
        }
        let h = Tensor::randn([25, 7], (Kind::Float, Device::Cpu));
        assert_eq!(cosine_pool(&h).unwrap().len(), 300);
    }

    #[test]
    fn silencer_zeroes_one_head_of_one_block() {
        let z = Tensor::ones([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let h = silencer(1, 2);
        let same = h.run(&z, "blocks.0.attn.hook_z").unwrap();
        assert_eq!(max_abs(&same, &z), 0.0);
        let y = h.run(&z, "blocks.1.attn.hook_z").unwrap();
        let per_head = y.sum_dim_intlist([0i64, 1, 3].as_slice(), false, Kind::Float);
        assert_eq!(
            Vec::<f32>::try_from(per_head).unwrap(),
            vec![30.0, 30.0, 0.0, 30.0]
        );
        assert!(silencer(1, 4).run(&z, "blocks.1.attn.hook_z").is_err());
    }

    /// Offline check 3: when a head's output is already zero (its values are zeroed,
    /// as if its V weights and bias were 0), silencing it changes nothing, bit for bit.
    #[test]
    fn silencing_a_dead_head_changes_nothing() {
        let m = tiny();
        let b = m.to_tokens("Look for the music on all things").unwrap();
        for (l, h) in [(0usize, 1i64), (2, 3)] {
            let kill_v = Hook::zero(&format!("blocks.{l}.attn.hook_v")).heads(&[h]);
            let dead = m.run_with_hooks(&b, &[kill_v]).unwrap();
            let kill_v = Hook::zero(&format!("blocks.{l}.attn.hook_v")).heads(&[h]);
            let both = m.run_with_hooks(&b, &[kill_v, silencer(l, h)]).unwrap();
            assert_eq!(max_abs(&dead, &both), 0.0, "L{l} H{h}");
            // not vacuous: the head mattered before its values were zeroed
            let plain = m.forward(&b).unwrap();
            assert!(max_abs(&dead, &plain) > 0.0, "L{l} H{h} was live");
        }
    }

    /// The batched sweep equals one full hooked run per head.
    #[test]
    fn sweep_equals_one_run_per_head() {
        let m = tiny();
        let b = m
            .to_tokens("My music is best understood by children and")
            .unwrap();
        let ids: Vec<u32> = common::device::to_vec_i64(&b.ids)
            .unwrap()
            .iter()
            .map(|&i| i as u32)
            .collect();
        let opts = RunOptions::default()
            .cache(Names::matching("blocks.*.hook_resid_pre"))
            .logits(LogitsAt::None);
        let cache = m.run(&b, &opts).unwrap().cache;
        let resid: Vec<Tensor> = (0..m.cfg.n_layers)
            .map(|l| {
                cache
                    .get(&format!("blocks.{l}.hook_resid_pre"))
                    .unwrap()
                    .shallow_clone()
            })
            .collect();
        let s = sweep(&m, &ids, &resid, 262, || {}).unwrap();
        for (l, row) in s.iter().enumerate() {
            assert_eq!(row.len(), m.cfg.n_heads);
            for (h, got) in row.iter().enumerate() {
                let want = silenced_last(&m, &b, l, h as i64, 262).unwrap();
                assert!((got.target_lsm - want.target_lsm).abs() < 1e-5);
                assert!((got.max_lsm - want.max_lsm).abs() < 1e-5);
                assert_eq!(got.top, want.top);
            }
        }
    }
}
