//! The work-saving paths give the same numbers as the plain ones.

use common::patching::{head_patch_sweep, logit_difference, resid_patch_sweep};
use common::{Hook, HookedModel, LogitsAt, Names, RunOptions};
use tch::{Device, Tensor};

fn load(name: &str) -> HookedModel {
    let p = common::assets_dir().join("models").join(name);
    HookedModel::from_pretrained(p.to_str().unwrap(), Device::Cpu).unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    f64::try_from((a - b).abs().max()).unwrap()
}

#[test]
fn starting_from_a_cached_residual_equals_the_full_run() {
    for name in ["tiny-gpt2", "tiny-gpt-neo", "tiny-gpt-neox", "tiny-bert"] {
        let m = load(name);
        let toks = m.to_tokens("When Mary and John went to the store").unwrap();
        let (full, cache) = m
            .run_with_cache(&toks, Names::matching("blocks.*.hook_resid_pre"))
            .unwrap();
        for l in 0..m.cfg.n_layers {
            let r = cache
                .get(&format!("blocks.{l}.hook_resid_pre"))
                .unwrap()
                .shallow_clone();
            let out = m
                .run(&toks, &RunOptions::default().start_at(l, r))
                .unwrap()
                .logits
                .unwrap();
            assert!(max_abs(&out, &full) < 1e-5, "{name} layer {l}");
        }
        let bad = Tensor::zeros([1, 2, 3], (tch::Kind::Float, Device::Cpu));
        assert!(m
            .run(&toks, &RunOptions::default().start_at(0, bad))
            .is_err());
    }
}

#[test]
fn batched_head_sweep_equals_one_patch_per_forward() {
    let m = load("tiny-gpt2");
    let clean = m
        .to_tokens("When Mary and John went to the store, John gave a drink to")
        .unwrap();
    let corrupt = m
        .to_tokens("When Mary and John went to the store, Mary gave a drink to")
        .unwrap();
    let (io, s) = (
        m.tokenizer.encode(" Mary").unwrap()[0] as i64,
        m.tokenizer.encode(" John").unwrap()[0] as i64,
    );
    let fast = head_patch_sweep(&m, &clean, &corrupt, logit_difference(io, s)).unwrap();
    assert_eq!(fast.size(), vec![3, 4]);

    // the notebook's way: one hooked forward per head
    let (_, zc) = m
        .run_with_cache(&corrupt, Names::matching("blocks.*.attn.hook_z"))
        .unwrap();
    for l in 0..3 {
        for h in 0..4 {
            let name = format!("blocks.{l}.attn.hook_z");
            let hooks = [Hook::replace(&name, zc.get(&name).unwrap().shallow_clone()).heads(&[h])];
            let out = m
                .run(
                    &clean,
                    &RunOptions::default().hooks(&hooks).logits(LogitsAt::Last),
                )
                .unwrap();
            let logits = out.logits.unwrap();
            let want = f64::try_from(logits.get(0).get(io) - logits.get(0).get(s)).unwrap();
            let got = f64::try_from(fast.get(l).get(h)).unwrap();
            assert!(
                (want - got).abs() < 1e-5,
                "layer {l} head {h}: {want} vs {got}"
            );
        }
    }
    // patching changes something somewhere, or the test proves nothing
    let base = m
        .run(&clean, &RunOptions::default().logits(LogitsAt::Last))
        .unwrap()
        .logits
        .unwrap();
    let base = f64::try_from(base.get(0).get(io) - base.get(0).get(s)).unwrap();
    assert!(f64::try_from((fast - base).abs().max()).unwrap() > 1e-4);
}

#[test]
fn grouped_block_sweep_equals_one_patched_forward_per_block() {
    for name in ["tiny-gpt2", "tiny-gpt-neo", "tiny-gpt-neox"] {
        let m = load(name);
        let clean = m
            .to_tokens("When Mary and John went to the store, John gave")
            .unwrap();
        let corrupt = m
            .to_tokens("When Mary and John went to the store, Mary gave")
            .unwrap();
        assert_eq!(clean.seq_len(), corrupt.seq_len(), "{name}");
        let (io, s) = (3, 5);
        // The notebook's way: one full forward per block with a hook on its output.
        let (_, rc) = m
            .run_with_cache(&corrupt, Names::matching("blocks.*.hook_resid_post"))
            .unwrap();
        let n = m.cfg.n_layers;
        let want: Vec<f64> = (0..n)
            .map(|l| {
                let name = format!("blocks.{l}.hook_resid_post");
                let src = rc.get(&name).unwrap().shallow_clone();
                let hooks = [Hook::replace(&name, src).positions(&[-1])];
                let opts = RunOptions::default().hooks(&hooks).logits(LogitsAt::Last);
                let logits = m.run(&clean, &opts).unwrap().logits.unwrap();
                f64::try_from(logits.get(0).get(io) - logits.get(0).get(s)).unwrap()
            })
            .collect();
        // Patching changes the score somewhere, or the comparison would show nothing.
        let base = m
            .run(&clean, &RunOptions::default().logits(LogitsAt::Last))
            .unwrap();
        let base = base.logits.unwrap();
        let base = f64::try_from(base.get(0).get(io) - base.get(0).get(s)).unwrap();
        assert!(
            want.iter().any(|w| (w - base).abs() > 1e-3),
            "{name}: {want:?} vs {base}"
        );
        for group in [1, 2, n, n + 5] {
            let got =
                resid_patch_sweep(&m, &clean, &corrupt, group, logit_difference(io, s)).unwrap();
            let got = Vec::<f64>::try_from(got.to_kind(tch::Kind::Double)).unwrap();
            assert_eq!(got.len(), n);
            for (l, (w, g)) in want.iter().zip(&got).enumerate() {
                assert!(
                    (w - g).abs() < 1e-5,
                    "{name} group {group} block {l}: {w} vs {g}"
                );
            }
        }
        assert!(resid_patch_sweep(&m, &clean, &corrupt, 0, logit_difference(io, s)).is_err());
        let short = m.to_tokens("When Mary").unwrap();
        let e = resid_patch_sweep(&m, &clean, &short, 2, logit_difference(io, s)).unwrap_err();
        assert!(e.to_string().contains("same length"), "{e}");
    }
}
