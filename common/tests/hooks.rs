//! Hook machinery on the tiny GPT-2: caching, patching, ablation, composition,
//! early stopping, errors, weights by head, generation.

use common::model::GenerateOptions;
use common::{Hook, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use tch::{Device, Kind, Tensor};

fn tiny() -> HookedModel {
    let p = common::assets_dir().join("models/tiny-gpt2");
    HookedModel::from_pretrained(p.to_str().unwrap(), Device::Cpu).unwrap()
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    f64::try_from((a - b).abs().max()).unwrap()
}

const TEXT: &str = "The way you do anything is the way you do everything.";

#[test]
fn patching_a_run_with_its_own_activations_changes_nothing() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let (clean, cache) = m.run_with_cache(&toks, Names::all()).unwrap();
    assert_eq!(cache.len(), m.hook_names().len());
    // Replace every hook point by its cached value, all in one run.
    let hooks: Vec<Hook> = m
        .hook_names()
        .iter()
        .map(|n| Hook::replace(n, cache.get(n).unwrap().shallow_clone()))
        .collect();
    let patched = m.run_with_hooks(&toks, &hooks).unwrap();
    assert!(max_abs(&clean, &patched) < 1e-6);
    // ...and a patch from a different run does change it.
    let other = m
        .to_tokens("A plethora of platypuses. Many, many platypuses!")
        .unwrap();
    let (_, c2) = m
        .run_with_cache(&other, Names::matching("blocks.1.hook_resid_post"))
        .unwrap();
    let r = c2
        .get("blocks.1.hook_resid_post")
        .unwrap()
        .narrow(1, 0, toks.seq_len());
    let changed = m
        .run_with_hooks(&toks, &[Hook::replace("blocks.1.hook_resid_post", r)])
        .unwrap();
    assert!(max_abs(&clean, &changed) > 1e-3);
}

#[test]
fn zeroing_a_head_equals_doing_it_by_hand() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let (l, h) = (1usize, 2i64);
    let names = Names::list(&[
        "blocks.1.attn.hook_z",
        "blocks.1.hook_resid_pre",
        "blocks.1.hook_attn_out",
    ]);
    let (_, clean) = m.run_with_cache(&toks, names.clone()).unwrap();
    let hooks = [Hook::zero("blocks.1.attn.hook_z").heads(&[h])];
    let out = m
        .run(&toks, &RunOptions::default().cache(names).hooks(&hooks))
        .unwrap();

    // By hand: zero head h of the clean z, project with W_O, add b_O.
    let w = m.attn_weights(l).unwrap();
    let z = clean.get("blocks.1.attn.hook_z").unwrap(); // [1, p, H, dh]
    let mut keep = vec![1f32; m.cfg.n_heads];
    keep[h as usize] = 0.0;
    let z0 = z * Tensor::from_slice(&keep).view([1, 1, -1, 1]);
    let attn_out =
        Tensor::einsum("bphd,hdm->bpm", &[z0, w.w_o.shallow_clone()], None::<i64>) + &w.b_o;
    assert!(max_abs(&attn_out, out.cache.get("blocks.1.hook_attn_out").unwrap()) < 1e-5);

    // and the logits follow: patch resid_mid with resid_pre + the hand-made attn_out.
    let mid = clean.get("blocks.1.hook_resid_pre").unwrap() + &attn_out;
    let by_hand = m
        .run_with_hooks(&toks, &[Hook::replace("blocks.1.hook_resid_mid", mid)])
        .unwrap();
    assert!(max_abs(&by_hand, &out.logits.unwrap()) < 1e-5);
}

#[test]
fn final_residual_through_ln_final_and_unembedding_is_the_logits() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let last = format!("blocks.{}.hook_resid_post", m.cfg.n_layers - 1);
    let (logits, cache) = m.run_with_cache(&toks, Names::matching(&last)).unwrap();
    let lens = m.logit_lens(cache.get(&last).unwrap()).unwrap();
    assert!(max_abs(&lens, &logits) < 1e-5);
    assert_eq!(
        logits.size(),
        vec![1, toks.seq_len(), m.cfg.vocab_size as i64]
    );
    // A residual of the wrong width is an error that names d_model, not a libtorch panic.
    let wrong = tch::Tensor::zeros([2, m.cfg.d_model as i64 + 1], tch::kind::FLOAT_CPU);
    let err = m.logit_lens(&wrong).unwrap_err().to_string();
    assert!(err.contains("d_model"), "{err}");
    assert!(m.unembed(&wrong).is_err());
}

#[test]
fn hooks_compose_in_order_and_respect_positions() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let clean = m.forward(&toks).unwrap();
    let n = "blocks.0.hook_resid_post";
    // x2 then x0.5 is the identity
    let same = m
        .run_with_hooks(&toks, &[Hook::scale(n, 2.0), Hook::scale(n, 0.5)])
        .unwrap();
    assert!(max_abs(&clean, &same) < 1e-5);
    // add-then-scale differs from scale-then-add
    // not a constant vector: layer norm would remove a constant offset
    let one = Tensor::arange(16, (Kind::Float, Device::Cpu)) / 4.0;
    let a = m
        .run_with_hooks(
            &toks,
            &[Hook::add(n, one.shallow_clone()), Hook::scale(n, 3.0)],
        )
        .unwrap();
    let b = m
        .run_with_hooks(&toks, &[Hook::scale(n, 3.0), Hook::add(n, one)])
        .unwrap();
    assert!(max_abs(&a, &b) > 1e-3);
    // a change at the last position leaves earlier positions' logits alone (causality)
    let p = toks.seq_len();
    let last_only = m
        .run_with_hooks(&toks, &[Hook::zero(n).positions(&[-1])])
        .unwrap();
    assert!(max_abs(&clean.narrow(1, 0, p - 1), &last_only.narrow(1, 0, p - 1)) < 1e-6);
    assert!(max_abs(&clean.narrow(1, p - 1, 1), &last_only.narrow(1, p - 1, 1)) > 1e-4);
    // an inspect hook sees the tensor and changes nothing
    let seen = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let s2 = seen.clone();
    let looked = m
        .run_with_hooks(
            &toks,
            &[Hook::inspect("blocks.*.attn.hook_pattern", move |t, _| {
                assert_eq!(t.size()[1], 4);
                s2.set(s2.get() + 1);
                Ok(())
            })],
        )
        .unwrap();
    assert_eq!(seen.get(), m.cfg.n_layers);
    assert!(max_abs(&clean, &looked) == 0.0);
}

#[test]
fn writing_chosen_neurons_at_chosen_positions_equals_doing_it_by_hand() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let post = "blocks.1.mlp.hook_post";
    let (_, clean) = m.run_with_cache(&toks, Names::matching(post)).unwrap();
    let x = clean.get(post).unwrap(); // [1, pos, d_mlp]
    let d_mlp = x.size()[2];
    let (pos, neurons) = (2i64, [3i64, 10, -1]);
    // per-neuron values, one for each of the d_mlp neurons (only the chosen ones are used)
    let values = Tensor::arange(d_mlp, (Kind::Float, Device::Cpu)) * 0.25 - 3.0;

    // By hand: copy the clean activations and overwrite the chosen entries one by one.
    let by_hand = x.copy();
    for &n in &neurons {
        let j = if n < 0 { n + d_mlp } else { n };
        let _ = by_hand
            .get(0)
            .get(pos)
            .get(j)
            .fill_(f64::try_from(values.get(j)).unwrap());
    }
    let expect = m
        .run_with_hooks(&toks, &[Hook::replace(post, by_hand.shallow_clone())])
        .unwrap();

    let hooks = [Hook::replace(post, values.shallow_clone())
        .positions(&[pos])
        .features(&neurons)];
    let out = m
        .run(
            &toks,
            &RunOptions::default()
                .cache(Names::matching(post))
                .hooks(&hooks),
        )
        .unwrap();
    // the hook point holds exactly the hand-made tensor, and the logits follow
    assert_eq!(max_abs(out.cache.get(post).unwrap(), &by_hand), 0.0);
    assert!(max_abs(&expect, out.logits.as_ref().unwrap()) < 1e-6);
    // and it did change something downstream
    assert!(max_abs(&m.forward(&toks).unwrap(), out.logits.as_ref().unwrap()) > 1e-4);

    // Zeroing chosen pre-activation neurons at every position: gelu_new(0) = 0 there, the
    // other neurons' post-activations are untouched.
    let pre = "blocks.0.mlp.hook_pre";
    let cached = Names::list(&[pre, "blocks.0.mlp.hook_post"]);
    let (_, c0) = m.run_with_cache(&toks, cached.clone()).unwrap();
    let z = m
        .run(
            &toks,
            &RunOptions::default()
                .cache(cached)
                .hooks(&[Hook::zero(pre).features(&[0, 5])]),
        )
        .unwrap();
    let zpost = z.cache.get("blocks.0.mlp.hook_post").unwrap();
    let cpost = c0.get("blocks.0.mlp.hook_post").unwrap();
    for j in 0..d_mlp {
        let col = zpost.select(2, j);
        if j == 0 || j == 5 {
            assert_eq!(f64::try_from(col.abs().max()).unwrap(), 0.0, "neuron {j}");
        } else {
            assert_eq!(max_abs(&col, &cpost.select(2, j)), 0.0, "neuron {j}");
        }
    }
    // a neuron index out of range is a clear error
    let err = m
        .run_with_hooks(&toks, &[Hook::zero(pre).features(&[d_mlp])])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("feature") && err.contains("out of range"),
        "{err}"
    );
}

#[test]
fn runs_without_logits_stop_early_and_cache_only_what_was_asked() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let (_, full) = m
        .run_with_cache(&toks, Names::matching("blocks.0.hook_resid_post"))
        .unwrap();
    let out = m
        .run(
            &toks,
            &RunOptions::default()
                .cache(Names::matching("blocks.0.hook_resid_post"))
                .logits(LogitsAt::None),
        )
        .unwrap();
    assert!(out.logits.is_none());
    assert_eq!(
        out.cache.names(),
        vec!["blocks.0.hook_resid_post".to_string()]
    );
    let a = out.cache.get("blocks.0.hook_resid_post").unwrap();
    assert!(max_abs(a, full.get("blocks.0.hook_resid_post").unwrap()) == 0.0);
    // only block 0 was computed; with logits, all three were
    assert_eq!(out.blocks_run, vec![0]);
    assert_eq!(
        m.run(&toks, &RunOptions::default()).unwrap().blocks_run,
        vec![0, 1, 2]
    );
    // a hook (not a cache name) decides the depth too: one on block 1 runs blocks 0-1
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let s2 = seen.clone();
    let look = [Hook::inspect("blocks.*.hook_resid_pre", move |_, n| {
        s2.borrow_mut().push(n.to_string());
        Ok(())
    })];
    let out = m
        .run(
            &toks,
            &RunOptions::default()
                .hooks(&look)
                .cache(Names::matching("blocks.1.hook_resid_pre"))
                .logits(LogitsAt::None),
        )
        .unwrap();
    assert!(out.logits.is_none());
    // the pattern matches blocks 0-2, so all three are run for it...
    assert_eq!(out.blocks_run, vec![0, 1, 2]);
    // ...but a hook on block 0 alone with no logits stops after block 0
    seen.borrow_mut().clear();
    let s3 = seen.clone();
    let first = [Hook::inspect("blocks.0.hook_resid_post", move |_, n| {
        s3.borrow_mut().push(n.to_string());
        Ok(())
    })];
    let out = m
        .run(
            &toks,
            &RunOptions::default().hooks(&first).logits(LogitsAt::None),
        )
        .unwrap();
    assert!(out.cache.is_empty());
    assert_eq!(out.blocks_run, vec![0]);
    assert_eq!(*seen.borrow(), vec!["blocks.0.hook_resid_post".to_string()]);
    // starting at block 2 from a cached residual runs block 2 only
    let (_, c) = m
        .run_with_cache(&toks, Names::matching("blocks.2.hook_resid_pre"))
        .unwrap();
    let r = c.get("blocks.2.hook_resid_pre").unwrap().shallow_clone();
    let out = m.run(&toks, &RunOptions::default().start_at(2, r)).unwrap();
    assert_eq!(out.blocks_run, vec![2]);
    assert!(max_abs(&out.logits.unwrap(), &m.forward(&toks).unwrap()) < 1e-6);
    // logits at chosen positions
    let all = m.forward(&toks).unwrap();
    let some = m
        .run(
            &toks,
            &RunOptions::default().logits(LogitsAt::Positions(vec![0, -1])),
        )
        .unwrap()
        .logits
        .unwrap();
    assert!(max_abs(&some.get(0).get(1), &all.get(0).get(toks.seq_len() - 1)) < 1e-6);
    assert!(m
        .run(
            &toks,
            &RunOptions::default().logits(LogitsAt::Positions(vec![99]))
        )
        .is_err());
}

#[test]
fn bad_requests_are_clear_errors() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let err = |names: Names| {
        m.run_with_cache(&toks, names)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(err(Names::matching("blocks.0.hook_nonsense")).contains("no hook point"));
    assert!(err(Names::matching("blocks.3.hook_resid_post")).contains("layer 3 is out of range"));
    let e = m
        .run_with_hooks(&toks, &[Hook::zero("blocks.0.attn.hook_z").heads(&[4])])
        .unwrap_err()
        .to_string();
    assert!(e.contains("head 4 is out of range"), "{e}");
    assert!(m.attn_weights(3).is_err());
    // text longer than the 64-token context
    let long = "word ".repeat(100);
    assert!(m
        .to_tokens(&long)
        .unwrap_err()
        .to_string()
        .contains("context of 64"));
    assert!(m
        .batch_from_ids(&[vec![60000]], PaddingSide::Right)
        .unwrap_err()
        .to_string()
        .contains("vocabulary"));
    // unknown model id with the hub unreachable
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let e = HookedModel::from_pretrained("no-such-org/no-such-model", Device::Cpu)
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("HF_HUB_OFFLINE"), "{e:#}");
}

#[test]
fn per_head_weights_reproduce_the_hooked_queries() {
    let m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let (_, c) = m
        .run_with_cache(
            &toks,
            Names::list(&[
                "blocks.2.ln1.hook_normalized",
                "blocks.2.attn.hook_q",
                "blocks.2.attn.hook_v",
            ]),
        )
        .unwrap();
    let w = m.attn_weights(2).unwrap();
    let x = c.get("blocks.2.ln1.hook_normalized").unwrap();
    let q = Tensor::einsum(
        "bpm,hmd->bphd",
        &[x.shallow_clone(), w.w_q.shallow_clone()],
        None::<i64>,
    ) + &w.b_q;
    assert!(max_abs(&q, c.get("blocks.2.attn.hook_q").unwrap()) < 1e-5);
    let v = Tensor::einsum(
        "bpm,hmd->bphd",
        &[x.shallow_clone(), w.w_v.shallow_clone()],
        None::<i64>,
    ) + &w.b_v;
    assert!(max_abs(&v, c.get("blocks.2.attn.hook_v").unwrap()) < 1e-5);
    assert_eq!(m.embed_matrix().size(), vec![50257, 16]);
    assert_eq!(m.unembed_matrix().size(), vec![16, 50257]);
    assert_eq!(m.mlp_weights(0).unwrap().w_in.size(), vec![16, 64]);
    assert_eq!(m.n_params(), 815008);
}

#[test]
fn greedy_generation_is_the_argmax_and_sampling_is_reproducible() {
    let m = tiny();
    let prompt = m.tokenizer.encode("It was a dark and stormy").unwrap();
    let opts = GenerateOptions {
        max_new_tokens: 5,
        stop_at_eos: false,
        ..Default::default()
    };
    let greedy = m.generate(&prompt, &opts).unwrap();
    // step by step by hand
    let mut seq = prompt.clone();
    for &g in &greedy {
        let b = m
            .batch_from_ids(std::slice::from_ref(&seq), PaddingSide::Right)
            .unwrap();
        let l = m
            .run(&b, &RunOptions::default().logits(LogitsAt::Last))
            .unwrap()
            .logits
            .unwrap();
        let next = i64::try_from(l.get(0).argmax(0, false)).unwrap() as u32;
        assert_eq!(next, g);
        seq.push(next);
    }
    let s = GenerateOptions {
        temperature: 1.0,
        top_k: Some(50),
        top_p: Some(0.9),
        seed: 7,
        ..opts.clone()
    };
    assert_eq!(
        m.generate(&prompt, &s).unwrap(),
        m.generate(&prompt, &s).unwrap()
    );
    let too_long = GenerateOptions {
        max_new_tokens: 60,
        ..opts
    };
    assert!(m.generate(&prompt, &too_long).is_err());
}

#[test]
fn mean_ablation_of_a_padded_batch_averages_real_tokens_only() {
    let m = tiny();
    let texts = [TEXT, "A plethora of platypuses."];
    let n = "blocks.1.hook_resid_mid";
    // the mean over every real token of both texts, each run on its own (no padding)
    let acts: Vec<Tensor> = texts
        .iter()
        .map(|t| {
            let (_, c) = m
                .run_with_cache(&m.to_tokens(t).unwrap(), Names::matching(n))
                .unwrap();
            c.get(n).unwrap().get(0)
        })
        .collect();
    let mean = Tensor::cat(&acts, 0).mean_dim(0, false, Kind::Float);
    for side in [PaddingSide::Right, PaddingSide::Left] {
        let batch = m.to_tokens_batch(&texts, side).unwrap();
        assert_ne!(batch.lengths[0], batch.lengths[1], "the batch is padded");
        let hooks = [Hook::mean_ablate(n)];
        let out = m
            .run(
                &batch,
                &RunOptions::default()
                    .hooks(&hooks)
                    .cache(Names::matching(n))
                    .logits(LogitsAt::Last),
            )
            .unwrap();
        // the cache holds the value after the intervention: the mean, at every slot
        let ablated = out.cache.get(n).unwrap();
        let want = mean.view([1, 1, -1]).expand_as(ablated);
        assert!(max_abs(ablated, &want) < 1e-5, "{side:?}");
        // so each sequence's logits equal its unbatched run with that mean patched in
        let logits = out.logits.unwrap();
        for (b, t) in texts.iter().enumerate() {
            let patch = [Hook::replace(n, mean.shallow_clone())];
            let alone = m
                .run(
                    &m.to_tokens(t).unwrap(),
                    &RunOptions::default().hooks(&patch).logits(LogitsAt::Last),
                )
                .unwrap()
                .logits
                .unwrap();
            let d = max_abs(&logits.get(b as i64), &alone.get(0));
            assert!(d < 1e-5, "{side:?} sequence {b}: {d}");
        }
    }
}

#[test]
fn to_device_rebuilds_the_model_and_keeps_its_outputs() {
    let mut m = tiny();
    let toks = m.to_tokens(TEXT).unwrap();
    let before = m.forward(&toks).unwrap();
    let params = m.n_params();
    // on the device it is on: rebuilt from the kept weights, nothing copied
    m.to_device(Device::Cpu).unwrap();
    assert_eq!(m.device(), Device::Cpu);
    assert_eq!(m.n_params(), params);
    assert_eq!(max_abs(&before, &m.forward(&toks).unwrap()), 0.0);
    if tch::Cuda::is_available() {
        m.to_device(Device::Cuda(0)).unwrap();
        assert_eq!(m.device(), Device::Cuda(0));
        assert_eq!(m.embed_matrix().device(), Device::Cuda(0));
        let on_gpu = m.forward(&toks).unwrap();
        assert_eq!(on_gpu.device(), Device::Cuda(0));
        assert!(max_abs(&before, &on_gpu.to_device(Device::Cpu)) < 1e-4);
        m.to_device(Device::Cpu).unwrap();
        assert_eq!(m.device(), Device::Cpu);
        assert_eq!(max_abs(&before, &m.forward(&toks).unwrap()), 0.0);
    } else {
        let e = m.to_device(Device::Cuda(0)).unwrap_err().to_string();
        assert!(e.contains("CUDA"), "{e}");
        // the failed move left the model where it was, working
        assert_eq!(m.device(), Device::Cpu);
        assert_eq!(max_abs(&before, &m.forward(&toks).unwrap()), 0.0);
    }
}
