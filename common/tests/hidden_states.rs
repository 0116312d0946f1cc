//! `HookedModel::hidden_states` returns what `transformers` returns with
//! `output_hidden_states=True`, for every architecture (the `hidden_states.{i}` tensors
//! of the tiny models' reference fixtures), at the real tokens of a padded batch.

use common::model::hidden::{hidden_state_names, layer_label};
use common::model::weights::load_all;
use common::{HookedModel, PaddingSide};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

fn fixture(name: &str) -> HashMap<String, Tensor> {
    let p = common::assets_dir().join(format!("fixtures/{name}.safetensors"));
    load_all(&[p], Device::Cpu, Kind::Float).expect("fixture loads")
}

#[test]
fn hidden_states_equal_transformers_for_every_architecture() {
    for name in [
        "tiny-gpt2",
        "tiny-bert",
        "tiny-roberta",
        "tiny-gpt-neo",
        "tiny-gpt-neox",
    ] {
        let dir = common::assets_dir().join("models").join(name);
        let model = HookedModel::from_pretrained(dir.to_str().unwrap(), Device::Cpu).unwrap();
        let fx = fixture(name);
        let mask = &fx["attention_mask"];
        let n = mask.size()[0];
        let lengths: Vec<i64> = (0..n)
            .map(|b| i64::try_from(mask.get(b).sum(Kind::Int64)).unwrap())
            .collect();
        let seqs: Vec<Vec<u32>> = (0..n)
            .map(|b| {
                let v =
                    Vec::<i64>::try_from(fx["input_ids"].get(b).narrow(0, 0, lengths[b as usize]))
                        .unwrap();
                v.into_iter().map(|x| x as u32).collect()
            })
            .collect();
        let mut batch = model.batch_from_ids(&seqs, PaddingSide::Right).unwrap();
        if let Some(types) = fx.get("token_type_ids") {
            batch = batch.with_token_type_ids(types.shallow_clone()).unwrap();
        }
        let hs = model.hidden_states(&batch).unwrap();
        // The tiny-gpt2 fixture stores transformers' hidden states under hook names:
        // hidden_states[0] (embeddings), the block outputs, and ln_f of the last one.
        let want: Vec<&Tensor> = if name == "tiny-gpt2" {
            let mut keys = vec!["hook_embed_plus_pos".to_string()];
            keys.extend((0..model.cfg.n_layers - 1).map(|l| format!("blocks.{l}.hook_resid_post")));
            keys.push("ln_final.hook_normalized".into());
            keys.iter().map(|k| &fx[k]).collect()
        } else {
            (0..)
                .map_while(|i| fx.get(&format!("hidden_states.{i}")))
                .collect()
        };
        assert_eq!(
            hs.len(),
            model.cfg.n_layers + 1,
            "{name}: n_layers + 1 states"
        );
        assert_eq!(
            hs.len(),
            want.len(),
            "{name}: as many as transformers gives"
        );
        for (i, (ours, theirs)) in hs.iter().zip(&want).enumerate() {
            for (b, &len) in lengths.iter().enumerate() {
                let o = ours.get(b as i64).narrow(0, 0, len).to_kind(Kind::Double);
                let t = theirs.get(b as i64).narrow(0, 0, len).to_kind(Kind::Double);
                let d = f64::try_from((o - t).abs().max()).unwrap();
                assert!(
                    d <= 1e-4,
                    "{name} hidden state {i}, sequence {b}: max diff {d}"
                );
            }
        }
    }
}

#[test]
fn names_and_labels_follow_transformers() {
    let d = hidden_state_names(false, 12);
    assert_eq!(d.len(), 13);
    assert_eq!(d[0], "blocks.0.hook_resid_pre");
    assert_eq!(d[11], "blocks.10.hook_resid_post");
    assert_eq!(d[12], "ln_final.hook_normalized");
    let e = hidden_state_names(true, 24);
    assert_eq!(e.len(), 25);
    assert_eq!(e[0], "embed.ln.hook_normalized");
    assert_eq!(e[24], "blocks.23.hook_normalized_resid_post");
    assert_eq!(
        (layer_label(0), layer_label(12)),
        ("Emb".into(), "L11".into())
    );
}
