//! `HookedModel::loss` / `token_losses` against `transformers`' own `labels=` loss on the
//! tiny decoders (assets/models/tiny-gpt2, tiny-gpt-neo, tiny-gpt-neox), as recorded in
//! assets/fixtures/loss/tiny_models.json by
//! chapters/ch04_output_logits/project19_llm_loss_function/scripts/make_loss_fixture.py:
//! a right-padded batch of three sequences (13, 8 and 2 tokens), each sequence alone, and
//! each sequence's per-token cross-entropies. Max abs diff ≤ 1e-5.

use common::{HookedModel, PaddingSide};
use serde_json::Value;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-5;
const MODELS: [&str; 3] = ["tiny-gpt2", "tiny-gpt-neo", "tiny-gpt-neox"];

fn fixture() -> Value {
    let p = common::assets_dir().join("fixtures/loss/tiny_models.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn load(name: &str) -> HookedModel {
    let dir = common::assets_dir().join("models").join(name);
    HookedModel::from_pretrained(&dir.display().to_string(), Device::Cpu)
        .unwrap_or_else(|e| panic!("{name} loads: {e:#}"))
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn seqs(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= TOL,
        "{what}: {got} vs transformers {want} (|diff| {:e} > {TOL:e})",
        (got - want).abs()
    );
}

/// Row `i`'s counted per-token losses, in order.
fn row_terms(losses: &Tensor, counted: &Tensor, i: i64) -> Vec<f64> {
    let l = Vec::<f64>::try_from(losses.get(i).to_kind(Kind::Double)).unwrap();
    let c = Vec::<bool>::try_from(counted.get(i)).unwrap();
    l.into_iter().zip(c).filter(|p| p.1).map(|p| p.0).collect()
}

#[test]
fn loss_equals_transformers_labels_loss() {
    let fx = fixture();
    for name in MODELS {
        let m = &fx["models"][name];
        let model = load(name);
        assert_eq!(
            model.cfg.vocab_size as u64,
            m["vocab_size"].as_u64().unwrap()
        );
        let s = seqs(&m["ids"]);
        let lengths: Vec<usize> = s.iter().map(|x| x.len()).collect();
        assert_eq!(lengths, [13, 8, 2], "{name}: the fixture's sequences");
        let want_tokens: Vec<Vec<f64>> = m["token_losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(f64s)
            .collect();

        // The padded batch, right padding: transformers' loss with -100 at the pads.
        let right = model.batch_from_ids(&s, PaddingSide::Right).unwrap();
        let loss = model.loss(&right).unwrap();
        close(
            loss,
            m["batch_loss"].as_f64().unwrap(),
            &format!("{name} batch"),
        );

        // Per-token terms: [batch, pos - 1], counted exactly at the n - 1 real
        // predictions of each row, each term equal to transformers' cross-entropy.
        for side in [PaddingSide::Right, PaddingSide::Left] {
            let batch = model.batch_from_ids(&s, side).unwrap();
            let (losses, counted) = model.token_losses(&batch).unwrap();
            assert_eq!(losses.size(), [3, 12], "{name} {side:?}");
            assert_eq!(counted.size(), [3, 12]);
            assert_eq!(counted.kind(), Kind::Bool);
            for (i, want) in want_tokens.iter().enumerate() {
                assert_eq!(want.len(), lengths[i] - 1);
                let got = row_terms(&losses, &counted, i as i64);
                assert_eq!(got.len(), want.len(), "{name} {side:?} row {i}: terms");
                for (j, (g, w)) in got.iter().zip(want).enumerate() {
                    close(*g, *w, &format!("{name} {side:?} row {i} term {j}"));
                }
                // Where the counted slots sit: right padding at the start of the row,
                // left padding at its end.
                let c = Vec::<bool>::try_from(counted.get(i as i64)).unwrap();
                let k = lengths[i] - 1;
                let want_c: Vec<bool> = match side {
                    PaddingSide::Right => (0..12).map(|j| j < k).collect(),
                    PaddingSide::Left => (0..12).map(|j| j >= 12 - k).collect(),
                };
                assert_eq!(c, want_c, "{name} {side:?} row {i}: counted slots");
            }
            // Uncounted slots hold 0, so the sum over everything is the sum of the terms.
            let uncounted = losses.masked_select(&counted.logical_not());
            assert_eq!(
                f64::try_from(uncounted.abs().sum(Kind::Double)).unwrap(),
                0.0
            );
            // The batch loss is the token-weighted mean (not the mean of the rows'
            // means), so left padding gives transformers' right-padded number too.
            let all: Vec<f64> = want_tokens.iter().flatten().copied().collect();
            let mean = all.iter().sum::<f64>() / all.len() as f64;
            assert_eq!(all.len(), 12 + 7 + 1);
            close(
                model.loss(&batch).unwrap(),
                mean,
                &format!("{name} {side:?} mean"),
            );
            close(
                model.loss(&batch).unwrap(),
                m["batch_loss"].as_f64().unwrap(),
                &format!("{name} {side:?} batch"),
            );
        }

        // Each sequence alone: labels = ids, nothing padded.
        for (i, (seq, want)) in s.iter().zip(f64s(&m["seq_loss"])).enumerate() {
            let one = model
                .batch_from_ids(std::slice::from_ref(seq), PaddingSide::Right)
                .unwrap();
            close(model.loss(&one).unwrap(), want, &format!("{name} seq {i}"));
        }
    }
}

#[test]
fn loss_refuses_encoders_and_batches_without_predictions() {
    let bert = load("tiny-bert");
    let b = bert
        .batch_from_ids(&[vec![2, 5, 7, 3]], PaddingSide::Right)
        .unwrap();
    let err = format!("{:#}", bert.loss(&b).unwrap_err());
    assert!(err.contains("no next-token (causal) loss"), "{err}");

    let gpt2 = load("tiny-gpt2");
    let ones = gpt2
        .batch_from_ids(&[vec![464], vec![50256]], PaddingSide::Right)
        .unwrap();
    let err = format!("{:#}", gpt2.loss(&ones).unwrap_err());
    assert!(err.contains("one token long"), "{err}");
    let (l, c) = gpt2.token_losses(&ones).unwrap();
    assert_eq!((l.size(), c.size()), (vec![2, 0], vec![2, 0]));
}
