//! No panic on token ids: every way into the embeddings checks the ids (0 <= id < vocab,
//! padding slots included), the token type ids (< type_vocab_size), the mask, the lengths
//! and the context, and returns an error that names the bad id and its slot. Each
//! offending call runs here as a user would make it: a panic inside libtorch fails the test.

use common::model::GenerateOptions;
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

fn asset(name: &str) -> PathBuf {
    common::assets_dir().join("models").join(name)
}

fn load(dir: &Path) -> HookedModel {
    HookedModel::from_pretrained(dir.to_str().unwrap(), Device::Cpu)
        .unwrap_or_else(|e| panic!("{} loads: {e:#}", dir.display()))
}

/// A copy of a tiny model whose config.json is changed by `edit`.
fn with_config(
    name: &str,
    edit: impl Fn(&mut serde_json::Map<String, serde_json::Value>),
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::fs::copy(asset(name).join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(asset(name).join("config.json")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(cfg.as_object_mut().unwrap());
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    (tmp, dir)
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    f64::try_from((a - b).abs().max().to_kind(Kind::Double)).unwrap()
}

fn err_of<T>(r: anyhow::Result<T>, what: &str) -> String {
    match r {
        Ok(_) => panic!("{what}: expected an error"),
        Err(e) => format!("{e:#}"),
    }
}

fn assert_names(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{p:?} missing from: {msg}");
    }
}

/// Logits of each sequence of a padded batch at its real positions equal those of the
/// sequence run alone.
fn assert_padding_changes_nothing(m: &HookedModel, seqs: &[Vec<u32>], batch: &Batch) {
    let logits = m.forward(batch).unwrap();
    let width = batch.seq_len();
    for (i, s) in seqs.iter().enumerate() {
        let n = s.len() as i64;
        let start = match batch.padding {
            PaddingSide::Right => 0,
            PaddingSide::Left => width - n,
        };
        let alone = m
            .forward(
                &m.batch_from_ids(std::slice::from_ref(s), PaddingSide::Right)
                    .unwrap(),
            )
            .unwrap();
        let d = max_abs(&logits.get(i as i64).narrow(0, start, n), &alone.get(0));
        assert!(
            d < 1e-5,
            "{}: sequence {i} differs by {d} when padded",
            m.id
        );
    }
}

#[test]
fn a_pad_id_outside_the_vocabulary_is_replaced_and_changes_nothing() {
    // pad_token_id null: GPT-Neo and GPT-NeoX fall back to eos_token_id, here outside the
    // 320-id vocabulary (as a 50k-vocabulary eos id would be); GPT-2 pads with eos.
    for (name, eos) in [
        ("tiny-gpt-neo", 50256),
        ("tiny-gpt-neox", 1000),
        ("tiny-gpt2", 60000),
    ] {
        let (_tmp, dir) = with_config(name, |c| {
            c.insert("pad_token_id".into(), serde_json::Value::Null);
            c.insert("eos_token_id".into(), eos.into());
        });
        let m = load(&dir);
        let v = m.cfg.vocab_size as i64;
        assert!(
            (0..v).contains(&m.cfg.pad_token_id),
            "{name}: pad id {} outside 0..{v}",
            m.cfg.pad_token_id
        );
        let seqs = vec![vec![5u32, 6, 7, 8, 9, 10], vec![11, 12], vec![13, 14, 15]];
        for side in [PaddingSide::Right, PaddingSide::Left] {
            let b = m.batch_from_ids(&seqs, side).unwrap();
            assert_padding_changes_nothing(&m, &seqs, &b);
            // any other pad id inside the vocabulary gives the same logits at real tokens
            let other = Batch::from_ids(&seqs, v - 1, side).unwrap();
            let (a, o) = (m.forward(&b).unwrap(), m.forward(&other).unwrap());
            let real = b.mask.unsqueeze(-1).to_kind(Kind::Float);
            let d = max_abs(&(&a * &real), &(&o * &real));
            assert!(d < 1e-6, "{name} {side:?}: pad id changed outputs by {d}");
        }
        // the text path too (the tiny GPT-2 has GPT-2's tokenizer)
        let texts = ["a much longer text than the other", "short"];
        let b = m.to_tokens_batch(&texts, PaddingSide::Left).unwrap();
        m.run(&b, &RunOptions::default().logits(LogitsAt::Last))
            .unwrap();
        // run_sequences pads too
        m.run_sequences(&seqs, &Names::none(), true, 8).unwrap();
    }
}

#[test]
fn an_encoder_pad_id_outside_the_vocabulary_is_an_error_at_load() {
    let (_tmp, dir) = with_config("tiny-bert", |c| {
        c.insert("pad_token_id".into(), 500.into());
    });
    let msg = err_of(
        HookedModel::from_pretrained(dir.to_str().unwrap(), Device::Cpu),
        "bert with pad_token_id 500",
    );
    assert_names(&msg, &["pad_token_id 500", "vocab_size 140", "config.json"]);
}

#[test]
fn hand_made_batches_with_bad_ids_are_errors() {
    for name in [
        "tiny-gpt2",
        "tiny-bert",
        "tiny-roberta",
        "tiny-gpt-neo",
        "tiny-gpt-neox",
    ] {
        let m = load(&asset(name));
        let v = m.cfg.vocab_size as u32;
        let run = |b: &Batch| m.run(b, &RunOptions::default().logits(LogitsAt::Last));

        // an id past the vocabulary (Batch::from_ids does not know the vocabulary)
        let b =
            Batch::from_ids(&[vec![3, 4, 5], vec![6, 7, v + 5]], 0, PaddingSide::Right).unwrap();
        let msg = err_of(run(&b), name);
        assert_names(
            &msg,
            &[
                &format!("id {}", v + 5),
                "sequence 1",
                "position 2",
                "vocabulary",
            ],
        );
        assert_names(&err_of(m.forward(&b), name), &[&format!("id {}", v + 5)]);

        // a pad id past the vocabulary, or negative
        for pad in [v as i64 + 100, -1] {
            let b = Batch::from_ids(&[vec![3, 4, 5], vec![6]], pad, PaddingSide::Left).unwrap();
            let msg = err_of(run(&b), name);
            assert_names(
                &msg,
                &["padding slot 0", "sequence 1", &format!("id {pad}")],
            );
        }

        // a negative id in a tensor built by hand
        let mut b = Batch::from_ids(&[vec![3, 4]], 0, PaddingSide::Right).unwrap();
        b.ids = Tensor::from_slice(&[3i64, -5]).view([1, 2]);
        assert_names(&err_of(run(&b), name), &["id -5", "position 1"]);

        // float ids
        b.ids = Tensor::from_slice(&[3.0f32, 4.0]).view([1, 2]);
        assert_names(&err_of(run(&b), name), &["integer"]);

        // lengths that do not match the mask (LogitsAt::Last indexes with them)
        let mut b = Batch::from_ids(&[vec![3, 4, 5]], 0, PaddingSide::Right).unwrap();
        b.lengths = vec![7];
        assert_names(&err_of(run(&b), name), &["lengths [7]"]);

        // a mask that is not 0/1, or of another shape
        let mut b = Batch::from_ids(&[vec![3, 4, 5]], 0, PaddingSide::Right).unwrap();
        b.mask = Tensor::from_slice(&[1i64, 2, 1]).view([1, 3]);
        assert_names(&err_of(run(&b), name), &["mask holds 2", "position 1"]);
        b.mask = Tensor::from_slice(&[1i64, 1]).view([1, 2]);
        assert_names(&err_of(run(&b), name), &["mask"]);

        // no tokens at all
        let mut b = Batch::from_ids(&[vec![3]], 0, PaddingSide::Right).unwrap();
        b.ids = Tensor::zeros([1, 0], (Kind::Int64, Device::Cpu));
        b.mask = Tensor::zeros([1, 0], (Kind::Int64, Device::Cpu));
        assert_names(&err_of(run(&b), name), &["no tokens"]);

        // longer than the context
        let long = vec![vec![3u32; m.cfg.n_ctx + 1]];
        let b = Batch::from_ids(&long, 0, PaddingSide::Right).unwrap();
        assert_names(&err_of(run(&b), name), &["context"]);
        assert_names(
            &err_of(m.batch_from_ids(&long, PaddingSide::Right), name),
            &["context"],
        );

        // the model's own entry points name the id and its position too
        let bad = vec![vec![3, v, 4]];
        assert_names(
            &err_of(m.batch_from_ids(&bad, PaddingSide::Right), name),
            &[&format!("id {v}"), "position 1"],
        );
        assert_names(
            &err_of(m.run_sequences(&bad, &Names::none(), true, 64), name),
            &[&format!("id {v}")],
        );
        if !m.cfg.arch.is_encoder() {
            assert_names(
                &err_of(m.generate(&[3, v + 1], &GenerateOptions::default()), name),
                &[&format!("id {}", v + 1)],
            );
        }
    }
}

#[test]
fn token_type_ids_are_checked_against_the_model() {
    // BERT has 2 token types, RoBERTa 1
    for (name, n_types) in [("tiny-bert", 2i64), ("tiny-roberta", 1)] {
        let m = load(&asset(name));
        assert_eq!(m.type_vocab_size(), Some(n_types as usize));
        let b = m
            .batch_from_ids(&[vec![2, 7, 8, 3]], PaddingSide::Right)
            .unwrap();
        let run = |b: &Batch| m.run(b, &RunOptions::default());
        // in range: runs
        let ok = b
            .with_token_type_ids(
                Tensor::from_slice(&[0i64, 0, n_types - 1, n_types - 1]).view([1, 4]),
            )
            .unwrap();
        run(&ok).unwrap();
        // one past the range, at position 2
        let b = m
            .batch_from_ids(&[vec![2, 7, 8, 3]], PaddingSide::Right)
            .unwrap();
        let bad = b
            .with_token_type_ids(Tensor::from_slice(&[0i64, 0, n_types, 0]).view([1, 4]))
            .unwrap();
        assert_names(
            &err_of(run(&bad), name),
            &[
                &format!("token type id {n_types}"),
                "position 2",
                "sequence 0",
            ],
        );
        // negative
        let b = m
            .batch_from_ids(&[vec![2, 7, 8, 3]], PaddingSide::Right)
            .unwrap();
        let bad = b
            .with_token_type_ids(Tensor::from_slice(&[0i64, -1, 0, 0]).view([1, 4]))
            .unwrap();
        assert_names(
            &err_of(run(&bad), name),
            &["token type id -1", "position 1"],
        );
        // a shape set by hand past with_token_type_ids' check
        let mut b = m
            .batch_from_ids(&[vec![2, 7, 8, 3]], PaddingSide::Right)
            .unwrap();
        b.token_type_ids = Some(Tensor::zeros([1, 2], (Kind::Int64, Device::Cpu)));
        assert_names(&err_of(run(&b), name), &["token type ids", "shape"]);
        // float token types
        let b = m
            .batch_from_ids(&[vec![2, 7, 8, 3]], PaddingSide::Right)
            .unwrap();
        assert_names(
            &err_of(
                b.with_token_type_ids(Tensor::zeros([1, 4], (Kind::Float, Device::Cpu))),
                name,
            ),
            &["integers"],
        );
    }
    // decoders ignore token type ids
    let m = load(&asset("tiny-gpt2"));
    assert_eq!(m.type_vocab_size(), None);
}
