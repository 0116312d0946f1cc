//! The hooked GPT-2 against `transformers`' outputs for the same tiny model
//! (assets/fixtures/tiny-gpt2.safetensors, written by scripts/make_fixtures.py):
//! logits, the embeddings (token + position), every block's residual output, every
//! attention pattern and the final layer norm must agree to 1e-4, for right-padded and
//! left-padded batches.

use common::model::weights::load_all;
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn tiny() -> HookedModel {
    HookedModel::from_pretrained(
        &common::assets_dir()
            .join("models/tiny-gpt2")
            .display()
            .to_string(),
        Device::Cpu,
    )
    .expect("tiny-gpt2 loads")
}

fn fixture() -> HashMap<String, Tensor> {
    let p = common::assets_dir().join("fixtures/tiny-gpt2.safetensors");
    load_all(&[p], Device::Cpu, Kind::Float).expect("fixture loads")
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    f64::try_from((a - b).abs().max()).unwrap()
}

/// The fixture's sequences as token-id lists (right-padded in the fixture).
fn sequences(fx: &HashMap<String, Tensor>) -> Vec<Vec<u32>> {
    let ids = &fx["input_ids"];
    let mask = &fx["attention_mask"];
    (0..ids.size()[0])
        .map(|b| {
            let n = i64::try_from(mask.get(b).sum(Kind::Int64)).unwrap();
            Vec::<i64>::try_from(ids.get(b).narrow(0, 0, n))
                .unwrap()
                .into_iter()
                .map(|x| x as u32)
                .collect()
        })
        .collect()
}

/// Compare a `[b, p, ...]` tensor from our run with the fixture's (right-padded),
/// at real positions only. `ours_left` says our batch was left-padded.
fn diff_real_positions(
    ours: &Tensor,
    theirs: &Tensor,
    lengths: &[i64],
    ours_left: bool,
    pos_dim: i64,
) -> f64 {
    let width = ours.size()[pos_dim as usize];
    let mut worst: f64 = 0.0;
    for (b, &n) in lengths.iter().enumerate() {
        let start = if ours_left { width - n } else { 0 };
        let o = ours.get(b as i64).narrow(pos_dim - 1, start, n);
        let t = theirs.get(b as i64).narrow(pos_dim - 1, 0, n);
        worst = worst.max(max_abs(&o, &t));
    }
    worst
}

fn check_side(side: PaddingSide) {
    let model = tiny();
    let fx = fixture();
    let seqs = sequences(&fx);
    let batch = model.batch_from_ids(&seqs, side).unwrap();
    let left = side == PaddingSide::Left;
    let names = Names::matching("blocks.*.hook_resid_post")
        .and("blocks.*.attn.hook_pattern")
        .and("blocks.0.hook_resid_pre")
        .and("ln_final.hook_normalized");
    let out = model
        .run(&batch, &RunOptions::default().cache(names))
        .unwrap();
    let logits = out.logits.unwrap();
    let mut report = vec![];

    // transformers' hidden_states[0]: token plus position embeddings, the input of block 0
    let n = "blocks.0.hook_resid_pre";
    let d = diff_real_positions(
        out.cache.get(n).unwrap(),
        &fx["hook_embed_plus_pos"],
        &batch.lengths,
        left,
        1,
    );
    report.push(("hook_embed_plus_pos".to_string(), d));

    for l in 0..model.cfg.n_layers {
        let n = format!("blocks.{l}.hook_resid_post");
        let d = diff_real_positions(out.cache.get(&n).unwrap(), &fx[&n], &batch.lengths, left, 1);
        report.push((n, d));
        // patterns: real query rows, and (for left padding) the real keys, shifted.
        let n = format!("blocks.{l}.attn.hook_pattern");
        let ours = out.cache.get(&n).unwrap();
        let theirs = &fx[&n];
        let mut worst: f64 = 0.0;
        for (b, &len) in batch.lengths.iter().enumerate() {
            let start = if left { batch.seq_len() - len } else { 0 };
            let o = ours
                .get(b as i64)
                .narrow(1, start, len)
                .narrow(2, start, len);
            let t = theirs.get(b as i64).narrow(1, 0, len).narrow(2, 0, len);
            worst = worst.max(max_abs(&o, &t));
            // no attention leaks to padding
            let o_rows = ours.get(b as i64).narrow(1, start, len);
            let s = o_rows.sum_dim_intlist([-1i64].as_slice(), false, Kind::Double);
            assert!(f64::try_from((s - 1.0).abs().max()).unwrap() < 1e-5);
        }
        report.push((n, worst));
    }
    let n = "ln_final.hook_normalized".to_string();
    let d = diff_real_positions(out.cache.get(&n).unwrap(), &fx[&n], &batch.lengths, left, 1);
    report.push((n, d));

    // logits at each sequence's first and last real token
    let mut first = vec![];
    let mut last = vec![];
    for (b, &len) in batch.lengths.iter().enumerate() {
        let start = if left { batch.seq_len() - len } else { 0 };
        first.push(logits.get(b as i64).get(start));
        last.push(logits.get(b as i64).get(start + len - 1));
    }
    report.push((
        "logits_first".into(),
        max_abs(&Tensor::stack(&first, 0), &fx["logits_first"]),
    ));
    report.push((
        "logits_last".into(),
        max_abs(&Tensor::stack(&last, 0), &fx["logits_last"]),
    ));

    for (n, d) in &report {
        println!("{side:?} padding: max |ours - transformers| {n} = {d:.3e}");
        assert!(*d <= TOL, "{n}: {d} > {TOL}");
    }
}

#[test]
fn right_padded_batch_matches_transformers() {
    check_side(PaddingSide::Right);
}

#[test]
fn left_padded_batch_matches_transformers() {
    check_side(PaddingSide::Left);
}

#[test]
fn batched_equals_unbatched() {
    let model = tiny();
    let seqs = sequences(&fixture());
    for side in [PaddingSide::Right, PaddingSide::Left] {
        let batch = model.batch_from_ids(&seqs, side).unwrap();
        let last = model
            .run(&batch, &RunOptions::default().logits(LogitsAt::Last))
            .unwrap()
            .logits
            .unwrap();
        for (b, s) in seqs.iter().enumerate() {
            let one = model.batch_from_ids(std::slice::from_ref(s), side).unwrap();
            let alone = model
                .run(&one, &RunOptions::default().logits(LogitsAt::Last))
                .unwrap()
                .logits
                .unwrap();
            let d = max_abs(&last.get(b as i64), &alone.get(0));
            assert!(d < 1e-5, "{side:?} seq {b}: {d}");
        }
    }
}

#[test]
fn tokenizer_gives_the_fixture_ids() {
    let model = tiny();
    let fx = fixture();
    let sentences: Vec<String> = serde_json::from_str(
        &safetensors_metadata(&common::assets_dir().join("fixtures/tiny-gpt2.safetensors"))
            ["sentences"],
    )
    .unwrap();
    let seqs = sequences(&fx);
    for (s, ids) in sentences.iter().zip(&seqs) {
        assert_eq!(&model.tokenizer.encode(s).unwrap(), ids, "{s}");
    }
    let b: Batch = model
        .to_tokens_batch(&sentences, PaddingSide::Right)
        .unwrap();
    assert_eq!(
        b.lengths,
        seqs.iter().map(|s| s.len() as i64).collect::<Vec<_>>()
    );
}

fn safetensors_metadata(path: &std::path::Path) -> HashMap<String, String> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    serde_json::from_value(header["__metadata__"].clone()).unwrap()
}
