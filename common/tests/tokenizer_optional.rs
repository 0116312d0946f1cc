//! A model folder without `tokenizer.json` (a checkpoint saved with `save_pretrained` of
//! the model alone) loads and runs on token ids; the tokenizer is asked for only when
//! text is tokenized, and then the error names the file to add and the folder.

use common::{HookedModel, PaddingSide};
use std::path::{Path, PathBuf};
use tch::{Device, Kind};

fn asset(name: &str) -> PathBuf {
    common::assets_dir().join("models").join(name)
}

/// `name`'s config.json and model.safetensors, copied into a fresh folder (no tokenizer).
fn without_tokenizer(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(asset(name).join(f), dir.join(f)).unwrap();
    }
    (tmp, dir)
}

fn load(dir: &Path) -> HookedModel {
    HookedModel::from_pretrained(dir.to_str().unwrap(), Device::Cpu)
        .unwrap_or_else(|e| panic!("{} loads without tokenizer.json: {e:#}", dir.display()))
}

fn max_abs(a: &tch::Tensor, b: &tch::Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    f64::try_from((a - b).abs().max().to_kind(Kind::Double)).unwrap()
}

#[test]
fn models_without_tokenizer_json_load_and_run_on_ids() {
    for name in ["tiny-bert", "tiny-roberta", "tiny-gpt-neox"] {
        let (_tmp, dir) = without_tokenizer(name);
        assert!(!dir.join("tokenizer.json").exists());
        let m = load(&dir);
        let full = load(&asset(name));
        assert!(!m.tokenizer.is_available(), "{name}");
        assert!(full.tokenizer.is_available(), "{name}");
        assert_eq!(m.tokenizer.vocab_size(), m.cfg.vocab_size, "{name}");

        // the forward pass on ids is the same as with the tokenizer present
        let seqs = vec![vec![2u32, 7, 11, 5, 3], vec![2, 9, 3]];
        let b = m.batch_from_ids(&seqs, PaddingSide::Right).unwrap();
        let logits = m.forward(&b).unwrap();
        let want = full
            .forward(&full.batch_from_ids(&seqs, PaddingSide::Right).unwrap())
            .unwrap();
        assert_eq!(logits.size()[2], m.cfg.vocab_size as i64, "{name}");
        let d = max_abs(&logits, &want);
        assert!(d == 0.0, "{name}: logits differ by {d}");
        // weights too
        assert!(m.attn_weights(0).is_ok() && m.embed_matrix().size()[0] > 0);

        // text needs the tokenizer: the error names tokenizer.json and the folder
        let folder = dir.display().to_string();
        let check = |what: &str, e: anyhow::Error| {
            let msg = format!("{e:#}");
            assert!(
                msg.contains("tokenizer.json") && msg.contains(&folder),
                "{name} {what}: {msg}"
            );
        };
        check("to_tokens", m.to_tokens("hello world").unwrap_err());
        check(
            "to_tokens_batch",
            m.to_tokens_batch(&["a", "b c"], PaddingSide::Left)
                .unwrap_err(),
        );
        check("encode", m.tokenizer.encode("hello").unwrap_err());
        check("encode_full", m.tokenizer.encode_full("hello").unwrap_err());
        check("decode_one", m.tokenizer.decode_one(3).unwrap_err());
        check("decode", m.tokenizer.decode(&[3, 4]).unwrap_err());
        check("require", m.tokenizer.require().map(|_| ()).unwrap_err());
        // the same folder with its tokenizer.json back tokenizes as the original
        std::fs::copy(
            asset(name).join("tokenizer.json"),
            dir.join("tokenizer.json"),
        )
        .unwrap();
        let m = load(&dir);
        let ids =
            |m: &HookedModel| Vec::<i64>::try_from(m.to_tokens("hello").unwrap().ids.view(-1));
        assert_eq!(ids(&m).unwrap(), ids(&full).unwrap(), "{name}");
    }
}

#[test]
fn gpt2_family_without_tokenizer_json_keeps_the_bundled_bpe() {
    let (_tmp, dir) = without_tokenizer("tiny-gpt2");
    let m = load(&dir);
    let full = load(&asset("tiny-gpt2"));
    assert!(m.tokenizer.is_available());
    assert_eq!(m.tokenizer.vocab_size(), 50257);
    let text = "The way you do anything is the way you do everything.";
    let a = m.to_tokens(text).unwrap();
    let b = full.to_tokens(text).unwrap();
    assert_eq!(
        Vec::<i64>::try_from(a.ids.view(-1)).unwrap(),
        Vec::<i64>::try_from(b.ids.view(-1)).unwrap()
    );
    assert_eq!(
        max_abs(&m.forward(&a).unwrap(), &full.forward(&b).unwrap()),
        0.0
    );
}

#[test]
fn a_broken_tokenizer_json_is_still_an_error_at_load() {
    let (_tmp, dir) = without_tokenizer("tiny-bert");
    std::fs::write(dir.join("tokenizer.json"), "{ not json").unwrap();
    let err = HookedModel::from_pretrained(dir.to_str().unwrap(), Device::Cpu)
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("tokenizer"), "{err}");
}
