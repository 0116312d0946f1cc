//! config.json as transformers 4.57 and 5.x write it (assets/models/tiny-*/config.json
//! and config.tf5.json, both written by scripts/make_fixtures.py from the same settings):
//! every tiny model loads the same from either file and matches transformers' outputs;
//! the GPT-NeoX whose rotary settings are not the defaults (tiny-gpt-neox-rope: half of
//! each head rotated, base 500) matches under both layouts; scaled RoPE variants and
//! other values the crate does not implement are refused by name, never read as a
//! default.

use common::model::weights::load_all;
use common::model::{Arch, ModelConfig};
use common::{Batch, HookedModel, Names, PaddingSide, RunOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;
const MODELS: [&str; 6] = [
    "tiny-gpt2",
    "tiny-bert",
    "tiny-roberta",
    "tiny-gpt-neo",
    "tiny-gpt-neox",
    "tiny-gpt-neox-rope",
];

fn model_dir(name: &str) -> PathBuf {
    common::assets_dir().join("models").join(name)
}

/// A copy of model `name` whose config.json is `config` (a file name in the model's
/// folder, or a path) — or, with `patch`, that config with keys replaced (a `null`
/// value removes the key).
fn folder_with_config(
    name: &str,
    config: &str,
    patch: Option<&serde_json::Value>,
) -> tempfile::TempDir {
    let src = model_dir(name);
    let tmp = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let path = if Path::new(config).is_absolute() {
        PathBuf::from(config)
    } else {
        src.join(config)
    };
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(serde_json::Value::Object(p)) = patch {
        let obj = json.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    std::fs::write(
        tmp.path().join("config.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    tmp
}

fn load_with(name: &str, config: &str) -> HookedModel {
    let dir = folder_with_config(name, config, None);
    HookedModel::from_pretrained(dir.path().to_str().unwrap(), Device::Cpu)
        .unwrap_or_else(|e| panic!("{name} loads with {config}: {e:#}"))
}

fn fixture(name: &str) -> HashMap<String, Tensor> {
    let p = common::assets_dir().join(format!("fixtures/{name}.safetensors"));
    load_all(&[p], Device::Cpu, Kind::Float).expect("fixture loads")
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    f64::try_from(
        (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
            .abs()
            .max(),
    )
    .unwrap()
}

/// The fixture's right-padded batch, rebuilt through the model (same ids and padding;
/// BERT's token type ids copied over).
fn fixture_batch(model: &HookedModel, fx: &HashMap<String, Tensor>) -> Batch {
    let mask = &fx["attention_mask"];
    let seqs: Vec<Vec<u32>> = (0..mask.size()[0])
        .map(|b| {
            let n = i64::try_from(mask.get(b).sum(Kind::Int64)).unwrap();
            Vec::<i64>::try_from(fx["input_ids"].get(b).narrow(0, 0, n))
                .unwrap()
                .into_iter()
                .map(|x| x as u32)
                .collect()
        })
        .collect();
    let b = model.batch_from_ids(&seqs, PaddingSide::Right).unwrap();
    match fx.get("token_type_ids") {
        Some(t) => b.with_token_type_ids(t.shallow_clone()).unwrap(),
        None => b,
    }
}

/// Max |ours - transformers| of the logits over each sequence's real positions
/// (tiny-gpt2's fixture keeps only the first and last real position).
fn logits_vs_transformers(name: &str, logits: &Tensor, batch: &Batch) -> f64 {
    let fx = fixture(name);
    let mut worst: f64 = 0.0;
    for (b, &n) in batch.lengths.iter().enumerate() {
        let ours = logits.get(b as i64);
        if name == "tiny-gpt2" {
            worst = worst.max(max_abs(&ours.get(0), &fx["logits_first"].get(b as i64)));
            worst = worst.max(max_abs(&ours.get(n - 1), &fx["logits_last"].get(b as i64)));
        } else {
            let theirs = fx["logits"].get(b as i64).narrow(0, 0, n);
            worst = worst.max(max_abs(&ours.narrow(0, 0, n), &theirs));
        }
    }
    worst
}

/// Every hidden state, attention pattern and block output of tiny-gpt-neox-rope against
/// transformers, and the logits; returns the worst difference.
fn neox_rope_vs_transformers(m: &HookedModel) -> f64 {
    let name = "tiny-gpt-neox-rope";
    let fx = fixture(name);
    let b = fixture_batch(m, &fx);
    let n = m.cfg.n_layers;
    let names = Names::matching("blocks.*.attn.hook_pattern")
        .and("blocks.*.hook_resid_pre")
        .and("blocks.*.hook_resid_post")
        .and("ln_final.hook_normalized");
    let out = m.run(&b, &RunOptions::default().cache(names)).unwrap();
    let real = |ours: &Tensor, theirs: &Tensor| -> f64 {
        let mut w: f64 = 0.0;
        for (i, &len) in b.lengths.iter().enumerate() {
            let o = ours.get(i as i64).narrow(0, 0, len);
            let t = theirs.get(i as i64).narrow(0, 0, len);
            w = w.max(max_abs(&o, &t));
        }
        w
    };
    let pattern = |ours: &Tensor, theirs: &Tensor| -> f64 {
        let mut w: f64 = 0.0;
        for (i, &len) in b.lengths.iter().enumerate() {
            let o = ours.get(i as i64).narrow(1, 0, len).narrow(2, 0, len);
            let t = theirs.get(i as i64).narrow(1, 0, len).narrow(2, 0, len);
            w = w.max(max_abs(&o, &t));
        }
        w
    };
    let mut worst: f64 = 0.0;
    for l in 0..n {
        let c = |h: &str| out.cache.get(&format!("blocks.{l}.{h}")).unwrap();
        worst = worst.max(real(
            c("hook_resid_pre"),
            &fx[&format!("hidden_states.{l}")],
        ));
        worst = worst.max(real(c("hook_resid_post"), &fx[&format!("resid_post.{l}")]));
        worst = worst.max(pattern(
            c("attn.hook_pattern"),
            &fx[&format!("attentions.{l}")],
        ));
    }
    worst = worst.max(real(
        out.cache.get("ln_final.hook_normalized").unwrap(),
        &fx[&format!("hidden_states.{n}")],
    ));
    worst.max(logits_vs_transformers(
        name,
        out.logits.as_ref().unwrap(),
        &b,
    ))
}

#[test]
fn neox_with_half_of_each_head_rotated_matches_transformers_under_both_layouts() {
    for config in ["config.json", "config.tf5.json"] {
        let m = load_with("tiny-gpt-neox-rope", config);
        assert_eq!((m.cfg.d_head, m.cfg.n_heads), (16, 2));
        let d = neox_rope_vs_transformers(&m);
        println!("tiny-gpt-neox-rope from {config}: max |ours - transformers| = {d:.3e}");
        assert!(
            d <= TOL,
            "tiny-gpt-neox-rope read from {config} differs from transformers by {d} \
             (rotary fraction 0.5 and base 500 not read?)"
        );
    }
}

#[test]
fn every_tiny_model_loads_identically_from_its_tf5_config() {
    for name in MODELS {
        let tf4 = load_with(name, "config.json");
        let tf5 = load_with(name, "config.tf5.json");
        let (a, b) = (&tf4.cfg, &tf5.cfg);
        assert_eq!(
            (
                a.arch,
                &a.model_type,
                a.n_layers,
                a.n_heads,
                a.d_model,
                a.d_head
            ),
            (
                b.arch,
                &b.model_type,
                b.n_layers,
                b.n_heads,
                b.d_model,
                b.d_head
            ),
            "{name}"
        );
        assert_eq!(
            (
                a.d_mlp,
                a.n_ctx,
                a.vocab_size,
                a.pad_token_id,
                a.eos_token_id
            ),
            (
                b.d_mlp,
                b.n_ctx,
                b.vocab_size,
                b.pad_token_id,
                b.eos_token_id
            ),
            "{name}"
        );
        assert_eq!(a.layer_norm_eps, b.layer_norm_eps, "{name}");
        assert_eq!(tf4.n_params(), tf5.n_params(), "{name}");
        let fx = fixture(name);
        let batch = fixture_batch(&tf4, &fx);
        let l4 = tf4.forward(&batch).unwrap();
        let l5 = tf5.forward(&batch).unwrap();
        assert_eq!(
            max_abs(&l4, &l5),
            0.0,
            "{name}: logits differ between the two configs"
        );
        let d = logits_vs_transformers(name, &l5, &batch);
        println!("{name} from config.tf5.json: max |logits - transformers| = {d:.3e}");
        assert!(d <= TOL, "{name}: logits differ from transformers by {d}");
    }
}

#[test]
fn scaled_rope_variants_are_refused_by_name_in_both_layouts() {
    for rope_type in ["linear", "dynamic", "yarn"] {
        for layout in ["config.json", "config.tf5.json"] {
            let path = common::assets_dir()
                .join(format!("fixtures/tiny-gpt-neox-rope.{rope_type}.{layout}"));
            let e = match ModelConfig::from_file(&path) {
                Ok(c) => panic!(
                    "{}: a {rope_type} RoPE config was accepted (d_head {})",
                    path.display(),
                    c.d_head
                ),
                Err(e) => format!("{e:#}"),
            };
            assert!(
                e.contains(&format!("{rope_type:?}")) && e.contains("rope_type"),
                "{}: the error should name rope_type {rope_type:?}: {e}",
                path.display()
            );
            // the whole load fails the same way, before any weight is read
            let dir = folder_with_config("tiny-gpt-neox-rope", path.to_str().unwrap(), None);
            let e = match HookedModel::from_pretrained(dir.path().to_str().unwrap(), Device::Cpu) {
                Ok(_) => panic!("a {rope_type} RoPE model loaded"),
                Err(e) => format!("{e:#}"),
            };
            assert!(e.contains(&format!("{rope_type:?}")), "{e}");
        }
    }
}

/// One config edit and a word the error must contain.
struct Case {
    model: &'static str,
    config: &'static str,
    patch: serde_json::Value,
    says: &'static str,
}

#[test]
fn values_the_crate_does_not_implement_are_refused_never_defaulted() {
    use serde_json::json;
    let cases = [
        // GPT-NeoX rotary settings
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rope_parameters": {"rope_type": "llama3", "factor": 8.0, "rope_theta": 500}}),
            says: "\"llama3\"",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.json",
            patch: json!({"rope_scaling": {"type": "linear", "factor": 2.0}}),
            says: "\"linear\"",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rope_parameters": {"rope_type": "default", "rope_theta": 500, "partial_rotary_factor": 0.5, "factor": 2.0}}),
            says: "factor",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 500}}}),
            says: "full_attention",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rope_parameters": {"rope_type": "default", "rope_theta": 500, "partial_rotary_factor": "half"}}),
            says: "partial_rotary_factor",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rope_parameters": "default"}),
            says: "rope_parameters",
        },
        Case {
            // the two layouts disagree
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rotary_pct": 0.25}),
            says: "rotary_pct",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.tf5.json",
            patch: json!({"rotary_emb_base": 10000}),
            says: "rotary_emb_base",
        },
        Case {
            // a top-level copy that transformers would ignore
            model: "tiny-gpt-neox-rope",
            config: "config.json",
            patch: json!({"partial_rotary_factor": 0.75}),
            says: "partial_rotary_factor",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.json",
            patch: json!({"rope_theta": 10000}),
            says: "rope_theta",
        },
        Case {
            model: "tiny-gpt-neox-rope",
            config: "config.json",
            patch: json!({"rotary_pct": "0.5"}),
            says: "rotary_pct",
        },
        Case {
            model: "tiny-gpt-neox",
            config: "config.json",
            patch: json!({"use_parallel_residual": false}),
            says: "use_parallel_residual",
        },
        Case {
            model: "tiny-gpt-neox",
            config: "config.tf5.json",
            patch: json!({"attention_bias": "yes"}),
            says: "attention_bias",
        },
        // GPT-2
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"scale_attn_weights": false}),
            says: "scale_attn_weights",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"reorder_and_upcast_attn": true}),
            says: "reorder_and_upcast_attn",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"add_cross_attention": true}),
            says: "add_cross_attention",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"n_embd": "16"}),
            says: "n_embd",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"n_inner": 64.5}),
            says: "n_inner",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"layer_norm_epsilon": "1e-5"}),
            says: "layer_norm_epsilon",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"eos_token_id": [50256, 0]}),
            says: "eos_token_id",
        },
        Case {
            model: "tiny-gpt2",
            config: "config.tf5.json",
            patch: json!({"tie_word_embeddings": "true"}),
            says: "tie_word_embeddings",
        },
        // BERT / RoBERTa
        Case {
            model: "tiny-bert",
            config: "config.tf5.json",
            patch: json!({"is_decoder": true}),
            says: "is_decoder",
        },
        Case {
            model: "tiny-bert",
            config: "config.tf5.json",
            patch: json!({"add_cross_attention": true}),
            says: "add_cross_attention",
        },
        Case {
            model: "tiny-bert",
            config: "config.json",
            patch: json!({"position_embedding_type": "relative_key"}),
            says: "relative_key",
        },
        Case {
            model: "tiny-bert",
            config: "config.json",
            patch: json!({"hidden_act": 1}),
            says: "hidden_act",
        },
        Case {
            model: "tiny-roberta",
            config: "config.tf5.json",
            patch: json!({"type_vocab_size": -1}),
            says: "type_vocab_size",
        },
        // GPT-Neo
        Case {
            model: "tiny-gpt-neo",
            config: "config.tf5.json",
            patch: json!({"attention_layers": ["global", "global"]}),
            says: "attention_layers",
        },
        Case {
            model: "tiny-gpt-neo",
            config: "config.tf5.json",
            patch: json!({"window_size": "4"}),
            says: "window_size",
        },
        Case {
            model: "tiny-gpt-neo",
            config: "config.tf5.json",
            patch: json!({"activation_function": ["gelu_new"]}),
            says: "activation_function",
        },
    ];
    let mut wrong = Vec::new();
    for c in &cases {
        let dir = folder_with_config(c.model, c.config, Some(&c.patch));
        match ModelConfig::from_file(&dir.path().join("config.json")) {
            Ok(_) => wrong.push(format!(
                "{} {} with {}: accepted",
                c.model, c.config, c.patch
            )),
            Err(e) if !format!("{e:#}").contains(c.says) => wrong.push(format!(
                "{} with {}: the error does not name {}: {e:#}",
                c.model, c.patch, c.says
            )),
            Err(_) => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    // RoBERTa counts position ids from the padding id: a null one cannot be defaulted.
    let dir = folder_with_config(
        "tiny-roberta",
        "config.tf5.json",
        Some(&json!({"pad_token_id": null})),
    );
    let mut raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    raw["pad_token_id"] = serde_json::Value::Null;
    std::fs::write(dir.path().join("config.json"), raw.to_string()).unwrap();
    let e = format!(
        "{:#}",
        ModelConfig::from_file(&dir.path().join("config.json")).unwrap_err()
    );
    assert!(e.contains("pad_token_id"), "{e}");
}

/// tiny-gpt-neo with an extra `lm_head.weight` that differs from `wte`, and `patch`
/// applied to its config.
fn neo_with_own_head(patch: serde_json::Value) -> (tempfile::TempDir, Tensor) {
    let dir = folder_with_config("tiny-gpt-neo", "config.json", Some(&patch));
    let path = dir.path().join("model.safetensors");
    let all = load_all(std::slice::from_ref(&path), Device::Cpu, Kind::Float).unwrap();
    let wte = all
        .iter()
        .find(|(k, _)| k.ends_with("wte.weight"))
        .unwrap()
        .1;
    tch::manual_seed(7);
    let head = Tensor::randn(wte.size(), (Kind::Float, Device::Cpu)) * 0.2;
    let mut pairs: Vec<(&str, &Tensor)> = all.iter().map(|(k, t)| (k.as_str(), t)).collect();
    pairs.push(("lm_head.weight", &head));
    Tensor::write_safetensors(&pairs, &path).unwrap();
    (dir, head)
}

#[test]
fn tie_word_embeddings_decides_the_unembedding_as_in_transformers() {
    let plain = load_with("tiny-gpt-neo", "config.json");
    let b = plain.to_tokens("A plethora of platypuses.").unwrap();
    let want_tied = plain.forward(&b).unwrap();

    // Tied (GPT-Neo's default, and what transformers 5 writes): a stored lm_head is
    // ignored, as transformers ties it to wte on load.
    for patch in [
        serde_json::json!({}),
        serde_json::json!({"tie_word_embeddings": true}),
    ] {
        let (dir, _) = neo_with_own_head(patch.clone());
        let m = HookedModel::from_pretrained(dir.path().to_str().unwrap(), Device::Cpu).unwrap();
        assert_eq!(
            max_abs(&m.forward(&b).unwrap(), &want_tied),
            0.0,
            "tied ({patch}): the stored lm_head must be ignored"
        );
        assert_eq!(m.n_params(), plain.n_params());
    }

    // Untied: the stored lm_head is the unembedding.
    let (dir, head) = neo_with_own_head(serde_json::json!({"tie_word_embeddings": false}));
    let m = HookedModel::from_pretrained(dir.path().to_str().unwrap(), Device::Cpu).unwrap();
    let (logits, cache) = m
        .run_with_cache(&b, Names::matching("ln_final.hook_normalized"))
        .unwrap();
    let by_hand = cache
        .get("ln_final.hook_normalized")
        .unwrap()
        .matmul(&head.tr());
    assert!(max_abs(&logits, &by_hand) < 1e-5);
    assert!(max_abs(&logits, &want_tied) > 1e-2);
    assert_eq!(m.n_params(), plain.n_params() + head.numel() as i64);

    // Untied without a stored head: transformers would initialise one at random.
    let dir = folder_with_config(
        "tiny-gpt-neo",
        "config.json",
        Some(&serde_json::json!({"tie_word_embeddings": false})),
    );
    let e = match HookedModel::from_pretrained(dir.path().to_str().unwrap(), Device::Cpu) {
        Ok(_) => panic!("an untied GPT-Neo without lm_head.weight loaded"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        e.contains("lm_head.weight") && e.contains("tie_word_embeddings"),
        "{e}"
    );

    // GPT-NeoX is untied by default; tied, it unembeds with embed_in and ignores embed_out.
    let neox = load_with("tiny-gpt-neox", "config.json");
    assert_eq!(neox.cfg.arch, Arch::GptNeoX);
    let dir = folder_with_config(
        "tiny-gpt-neox",
        "config.json",
        Some(&serde_json::json!({"tie_word_embeddings": true})),
    );
    let tied = HookedModel::from_pretrained(dir.path().to_str().unwrap(), Device::Cpu).unwrap();
    assert_eq!(
        max_abs(&tied.unembed_matrix(), &neox.embed_matrix().tr()),
        0.0
    );
    assert!(max_abs(&neox.unembed_matrix(), &neox.embed_matrix().tr()) > 1e-2);
}

#[test]
fn rotary_turns_half_of_each_head_with_base_500_under_both_layouts() {
    for config in ["config.json", "config.tf5.json"] {
        let m = load_with("tiny-gpt-neox-rope", config);
        let toks = m.to_tokens("It was a dark and stormy").unwrap();
        let (_, c) = m
            .run_with_cache(
                &toks,
                Names::list(&["blocks.1.attn.hook_q", "blocks.1.attn.hook_rot_q"]),
            )
            .unwrap();
        let q = c.get("blocks.1.attn.hook_q").unwrap().to_kind(Kind::Double);
        let rq = c.get("blocks.1.attn.hook_rot_q").unwrap();
        let (p, dh) = (q.size()[1], m.cfg.d_head as i64);
        // By hand: rotate_half on the first 8 of 16 dimensions, frequencies 500^(-2i/8).
        let (rot, half) = (8, 4);
        let inv_freq: Vec<f64> = (0..half)
            .map(|i| 500f64.powf(-(2 * i) as f64 / rot as f64))
            .collect();
        let angles = Tensor::arange(p, (Kind::Double, Device::Cpu))
            .unsqueeze(1)
            .matmul(&Tensor::from_slice(&inv_freq).unsqueeze(0)); // [p, 4]
        let emb = Tensor::cat(&[&angles, &angles], 1).view([1, p, 1, rot]);
        let x = q.narrow(3, 0, rot);
        let rotated_half = Tensor::cat(&[x.narrow(3, half, half).neg(), x.narrow(3, 0, half)], 3);
        let want = Tensor::cat(
            &[
                &x * emb.cos() + rotated_half * emb.sin(),
                q.narrow(3, rot, dh - rot),
            ],
            3,
        );
        let d = max_abs(rq, &want);
        assert!(
            d < 1e-5,
            "{config}: hook_rot_q differs from the rotation by hand by {d}"
        );
        // and the rotation is not the default one (0.25 of the head, base 10000)
        assert!(
            max_abs(
                &q.narrow(3, 2, 6),
                &rq.narrow(3, 2, 6).to_kind(Kind::Double)
            ) > 1e-3
        );
    }
}
