//! A bounded, seeded mutation test of the model loaders: random edits of the tiny
//! models' `config.json` (values, types, missing keys, huge and negative numbers), of
//! their safetensors headers (lengths, offsets, dtypes, shapes) and of a
//! `model.safetensors.index.json` (local folder and loopback hub). Each case must end in
//! `Ok` or in an `Err` with a message: a panic is counted (and fails the test), an abort
//! would kill the test process (the loaders bound every size before allocating, so none
//! is expected), and nothing may be read from or written to outside the case's
//! temporary folder (checked: every weight file of an `Ok` resolution lies inside the
//! model folder or the cache, and the files beside them stay as they were).
//!
//! The seed is fixed (`MUTATION_SEED` overrides it), so a failure is reproducible; the
//! summary printed at the end gives the cases per kind and how many were errors.

#[path = "../src/data/testserver.rs"]
mod testserver;

use common::hub::{HubSettings, ModelFiles};
use common::model::LoadOptions;
use common::{HookedModel, PaddingSide};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use testserver::{hub_model_routes, TestServer};

const MODELS: [&str; 6] = [
    "tiny-gpt2",
    "tiny-bert",
    "tiny-roberta",
    "tiny-gpt-neo",
    "tiny-gpt-neox",
    "tiny-gpt-neox-rope",
];
/// The small models (all but tiny-gpt2, whose 50257-row embedding makes a case slower).
const SMALL: [&str; 5] = [
    "tiny-bert",
    "tiny-roberta",
    "tiny-gpt-neo",
    "tiny-gpt-neox",
    "tiny-gpt-neox-rope",
];

fn seed() -> u64 {
    std::env::var("MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026)
}

fn model_dir(name: &str) -> PathBuf {
    common::assets_dir().join("models").join(name)
}

// ---------------------------------------------------------------------------------------
// Counting outcomes, panics included.

thread_local! {
    /// Set while a case runs on this thread: its panic is recorded, not printed.
    static IN_CASE: RefCell<bool> = const { RefCell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic hook that keeps the message of a case's panic for the report instead of
/// printing it; any other panic (a failed check of the test itself) prints as usual.
fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(|c| *c.borrow()) {
                LAST_PANIC.with(|p| p.borrow_mut().replace(format!("{info}")));
            } else {
                default(info);
            }
        }));
    });
}

#[derive(Default)]
struct Tally {
    kind: &'static str,
    cases: usize,
    ok: usize,
    err: usize,
    panics: Vec<String>,
    empty_messages: usize,
    /// Distinct first lines of error messages (for the report).
    samples: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    fn new(kind: &'static str) -> Self {
        quiet_panics();
        Tally {
            kind,
            ..Default::default()
        }
    }

    /// Run one case; `describe` says what it was (for a panic's report).
    fn run(&mut self, describe: &str, case: impl FnOnce() -> anyhow::Result<()>) {
        self.cases += 1;
        LAST_PANIC.with(|p| p.borrow_mut().take());
        IN_CASE.with(|c| *c.borrow_mut() = true);
        let outcome = catch_unwind(AssertUnwindSafe(case));
        IN_CASE.with(|c| *c.borrow_mut() = false);
        match outcome {
            Ok(Ok(())) => self.ok += 1,
            Ok(Err(e)) => {
                self.err += 1;
                let msg = format!("{e:#}");
                if msg.trim().is_empty() {
                    self.empty_messages += 1;
                }
                // Group by the message with paths and numbers blurred.
                let key: String = msg
                    .split(": ")
                    .last()
                    .unwrap_or("")
                    .chars()
                    .map(|c| if c.is_ascii_digit() { '#' } else { c })
                    .take(90)
                    .collect();
                *self.samples.entry(key).or_default() += 1;
            }
            Err(_) => {
                let what = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "a panic".into());
                self.panics.push(format!("{describe}: {what}"));
            }
        }
    }

    fn report(&self) {
        println!(
            "mutation {}: {} cases, {} ok, {} errors, {} panics",
            self.kind,
            self.cases,
            self.ok,
            self.err,
            self.panics.len()
        );
        let mut top: Vec<_> = self.samples.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1));
        for (m, n) in top.iter().take(8) {
            println!("    {n:5} x {m}");
        }
    }

    /// The test's verdict: no panic, every error has a message, and the edits did both
    /// (some cases still load, most do not).
    fn check(&self, want_cases: usize) {
        self.report();
        assert!(
            self.panics.is_empty(),
            "{} of {} {} cases panicked, e.g.:\n{}",
            self.panics.len(),
            self.cases,
            self.kind,
            self.panics
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(self.empty_messages, 0, "errors without a message");
        assert_eq!(self.cases, want_cases);
        assert!(
            self.ok > 0 && self.err > 0,
            "ok {} err {}",
            self.ok,
            self.err
        );
        assert_eq!(self.ok + self.err, self.cases);
    }
}

/// Every file under `dir` with its length, relative to it, sorted.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else {
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), meta.len()));
            }
        }
    }
    out.sort();
    out
}

/// Load the model `files` name (weights as resolved), then, when it loads, run it once
/// on three tokens: a config that loads must also run or fail with an error.
fn load_and_run(files: &ModelFiles) -> anyhow::Result<()> {
    let m = HookedModel::load_files(files, LoadOptions::default())?;
    let batch = m.batch_from_ids(&[vec![1, 2, 3]], PaddingSide::Right)?;
    let _logits = m.forward(&batch)?;
    Ok(())
}

fn files_for(config: &Path, weights: Vec<PathBuf>) -> ModelFiles {
    ModelFiles {
        id: "mutant".into(),
        config: config.to_path_buf(),
        weights,
        tokenizer: None,
        vocab_txt: None,
        cache_only: false,
    }
}

// ---------------------------------------------------------------------------------------
// Random values.

fn wild_value(rng: &mut StdRng) -> Value {
    let pick = rng.random_range(0..24);
    match pick {
        0 => json!(u64::MAX),
        1 => json!(i64::MAX),
        2 => json!(1u64 << 32),
        3 => json!(1u64 << 31),
        4 => json!((1u64 << 31) - 1),
        5 => json!(1_000_000_000u64),
        6 => json!(-1),
        7 => json!(i64::MIN),
        8 => json!(0),
        9 => json!(1),
        10 => json!(rng.random_range(0..100)),
        11 => json!(rng.random_range(2..70)),
        12 => json!(0.5),
        13 => json!(1e300),
        14 => json!(-0.0),
        15 => json!(16.0),
        16 => json!(
            ["16", "", "gelu", "local", "global", "default", "linear", "x"]
                .choose(rng)
                .copied()
        ),
        17 => json!(rng.random_bool(0.5)),
        18 => Value::Null,
        19 => json!([]),
        20 => json!([rng.random_range(0..5)]),
        21 => json!([[["global", "local"], rng.random_range(0..4)]]),
        22 => {
            let t = ["default", "linear", "yarn"].choose(rng).copied();
            let theta = rng.random_range(-5..20000);
            let f = rng.random_range(-1.0..2.0);
            json!({"rope_type": t, "rope_theta": theta, "partial_rotary_factor": f})
        }
        _ => json!({}),
    }
}

/// The keys the loaders read (any architecture), so edits hit them often.
const KEYS: [&str; 36] = [
    "model_type",
    "n_embd",
    "n_layer",
    "n_head",
    "n_positions",
    "n_inner",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
    "num_layers",
    "num_heads",
    "window_size",
    "attention_types",
    "attention_layers",
    "pad_token_id",
    "eos_token_id",
    "bos_token_id",
    "tie_word_embeddings",
    "layer_norm_eps",
    "layer_norm_epsilon",
    "activation_function",
    "hidden_act",
    "rotary_pct",
    "rotary_emb_base",
    "rope_theta",
    "partial_rotary_factor",
    "rope_parameters",
    "rope_scaling",
    "use_parallel_residual",
    "attention_bias",
    "position_embedding_type",
    "scale_attn_by_inverse_layer_idx",
];

fn mutate_config(rng: &mut StdRng, cfg: &mut Value) -> String {
    let mut said = Vec::new();
    for _ in 0..rng.random_range(1..=3) {
        let obj = cfg.as_object_mut().unwrap();
        let existing: Vec<String> = obj.keys().cloned().collect();
        let key = if rng.random_bool(0.7) {
            KEYS.choose(rng).unwrap().to_string()
        } else {
            existing
                .choose(rng)
                .cloned()
                .unwrap_or_else(|| "n_layer".into())
        };
        match rng.random_range(0..10) {
            0 => {
                obj.remove(&key);
                said.push(format!("-{key}"));
            }
            1 => {
                // scale a number
                if let Some(n) = obj.get(&key).and_then(|v| v.as_i64()) {
                    let f = *[0i64, -1, 2, 3, 1000, 1 << 20].choose(rng).unwrap();
                    obj.insert(key.clone(), json!(n.saturating_mul(f)));
                    said.push(format!("{key}*={f}"));
                }
            }
            2 => {
                // another architecture's name
                let t = [
                    "gpt2", "bert", "roberta", "gpt_neo", "gpt_neox", "llama", "",
                ]
                .choose(rng)
                .unwrap();
                obj.insert("model_type".into(), json!(t));
                said.push(format!("model_type={t}"));
            }
            3 => {
                // an element inside an object or list value
                match obj.get_mut(&key) {
                    Some(Value::Object(m)) if !m.is_empty() => {
                        let k = m.keys().cloned().collect::<Vec<_>>();
                        let k = k.choose(rng).unwrap().clone();
                        let v = wild_value(rng);
                        said.push(format!("{key}.{k}={v}"));
                        m.insert(k, v);
                    }
                    Some(Value::Array(a)) if !a.is_empty() => {
                        let i = rng.random_range(0..a.len());
                        let v = wild_value(rng);
                        said.push(format!("{key}[{i}]={v}"));
                        a[i] = v;
                    }
                    _ => {}
                }
            }
            _ => {
                let v = wild_value(rng);
                said.push(format!("{key}={v}"));
                obj.insert(key, v);
            }
        }
    }
    said.join(" ")
}

/// The config file's text, sometimes damaged as a whole.
fn config_text(rng: &mut StdRng, cfg: &Value) -> (String, Vec<u8>) {
    let text = serde_json::to_string_pretty(cfg).unwrap().into_bytes();
    match rng.random_range(0..20) {
        0 => {
            let cut = rng.random_range(0..text.len());
            (format!("cut at {cut}"), text[..cut].to_vec())
        }
        1 => {
            let mut t = text.clone();
            let i = rng.random_range(0..t.len());
            t[i] = rng.random();
            (format!("byte {i} changed"), t)
        }
        2 => ("a list".into(), b"[1, 2, 3]".to_vec()),
        3 => ("not UTF-8".into(), vec![0xff, 0xfe, b'{', b'}']),
        _ => (String::new(), text),
    }
}

#[test]
fn config_mutations() {
    let mut rng = StdRng::seed_from_u64(seed());
    let tmp = tempfile::tempdir().unwrap();
    let mut tally = Tally::new("config.json");
    // tiny-gpt2 (a 50257-row embedding, 3 MB) gets fewer cases: it is the slow one.
    let per_model = |name: &str| if name == "tiny-gpt2" { 100 } else { 250 };
    let mut want = 0;
    for name in MODELS {
        want += per_model(name);
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let weights = dir.join("model.safetensors");
        std::fs::copy(model_dir(name).join("model.safetensors"), &weights).unwrap();
        let before = listing(tmp.path());
        for i in 0..per_model(name) {
            let base = if rng.random_bool(0.5) {
                "config.json"
            } else {
                "config.tf5.json"
            };
            let mut cfg: Value =
                serde_json::from_slice(&std::fs::read(model_dir(name).join(base)).unwrap())
                    .unwrap();
            let edits = mutate_config(&mut rng, &mut cfg);
            let (how, bytes) = config_text(&mut rng, &cfg);
            let config = dir.join("config.json");
            std::fs::write(&config, &bytes).unwrap();
            let files = files_for(&config, vec![weights.clone()]);
            tally.run(&format!("{name} #{i} {base} {edits} {how}"), || {
                load_and_run(&files)
            });
            std::fs::remove_file(&config).unwrap();
        }
        assert_eq!(listing(tmp.path()), before, "{name}: files changed");
    }
    tally.check(want);
}

// ---------------------------------------------------------------------------------------
// Safetensors headers.

/// A safetensors file's header and data section.
struct Parts {
    header: Map<String, Value>,
    data: Vec<u8>,
}

fn split_safetensors(bytes: &[u8]) -> Parts {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    Parts {
        header: header.as_object().unwrap().clone(),
        data: bytes[8 + n..].to_vec(),
    }
}

fn join_safetensors(header_text: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = (header_text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header_text);
    out.extend_from_slice(data);
    out
}

const DTYPES: [&str; 14] = [
    "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "U64", "XX",
    "",
];

fn mutate_header(rng: &mut StdRng, parts: &mut Parts) -> (String, Option<Vec<u8>>) {
    let names: Vec<String> = parts
        .header
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    let t = names.choose(rng).unwrap().clone();
    let op = rng.random_range(0..16);
    let entry = parts.header.get_mut(&t).unwrap();
    let said = match op {
        0 => {
            let d = rng.random_range(-16i64..=16);
            let o = entry["data_offsets"].as_array().unwrap().clone();
            let i = rng.random_range(0..2);
            let v = o[i].as_i64().unwrap().saturating_add(d);
            entry["data_offsets"][i] = json!(v);
            format!("{t}.data_offsets[{i}] += {d}")
        }
        1 => {
            let v = wild_value(rng);
            let i = rng.random_range(0..2);
            entry["data_offsets"][i] = v.clone();
            format!("{t}.data_offsets[{i}] = {v}")
        }
        2 => {
            let v = *[u64::MAX, u64::MAX - 8, i64::MAX as u64, 1 << 40]
                .choose(rng)
                .unwrap();
            entry["data_offsets"] = json!([0, v]);
            entry["shape"] = json!([v]);
            entry["dtype"] = json!("U8");
            format!("{t} = U8 [{v}] at [0, {v}]")
        }
        3 => {
            let d = DTYPES.choose(rng).unwrap();
            entry["dtype"] = json!(d);
            format!("{t}.dtype = {d}")
        }
        4 | 5 => {
            let shape = entry["shape"].as_array_mut().unwrap();
            let what = rng.random_range(0..6);
            match what {
                0 => shape.push(json!(rng.random_range(0..4))),
                1 => {
                    shape.pop();
                }
                2 if !shape.is_empty() => {
                    let i = rng.random_range(0..shape.len());
                    shape[i] = wild_value(rng);
                }
                3 => shape.reverse(),
                4 => shape.clear(),
                _ => {
                    shape.push(json!(0));
                    shape.push(json!(1u64 << 63));
                }
            }
            format!("{t}.shape edit {what} -> {}", entry["shape"])
        }
        6 => {
            parts.header.remove(&t);
            format!("-{t}")
        }
        7 => {
            let v = parts.header.remove(&t).unwrap();
            let other = [
                "h.0.attn",
                "transformer.h.7.ln_1.weight",
                "",
                "lm_head.weight",
            ]
            .choose(rng)
            .unwrap();
            parts.header.insert(other.to_string(), v);
            format!("{t} renamed {other}")
        }
        8 => {
            *entry = wild_value(rng);
            format!("{t} = {}", entry)
        }
        9 => {
            parts.header.insert("__metadata__".into(), wild_value(rng));
            "__metadata__ edited".into()
        }
        10 => {
            // swap two tensors' offsets
            let u = names.choose(rng).unwrap().clone();
            let a = parts.header[&t]["data_offsets"].clone();
            let b = parts.header[&u]["data_offsets"].clone();
            parts.header.get_mut(&t).unwrap()["data_offsets"] = b;
            parts.header.get_mut(&u).unwrap()["data_offsets"] = a;
            format!("offsets of {t} and {u} swapped")
        }
        _ => String::new(),
    };
    let text = Value::Object(parts.header.clone()).to_string().into_bytes();
    // Raw edits of the file itself.
    let raw = match op {
        11 => {
            let d = *[-8i64, -1, 1, 8, 1 << 20].choose(rng).unwrap();
            let mut f = join_safetensors(&text, &parts.data);
            let n = (text.len() as i64 + d).max(0) as u64;
            f[..8].copy_from_slice(&n.to_le_bytes());
            Some((format!("header length {d:+}"), f))
        }
        12 => {
            let mut f = join_safetensors(&text, &parts.data);
            let v = *[u64::MAX, 0, 1 << 40, (100 << 20) + 1].choose(rng).unwrap();
            f[..8].copy_from_slice(&v.to_le_bytes());
            Some((format!("header length {v}"), f))
        }
        13 => {
            let f = join_safetensors(&text, &parts.data);
            let cut = rng.random_range(0..f.len());
            Some((format!("cut at {cut}"), f[..cut].to_vec()))
        }
        14 => {
            let mut f = join_safetensors(&text, &parts.data);
            let i = rng.random_range(0..8 + text.len());
            f[i] = rng.random();
            Some((format!("header byte {i} changed"), f))
        }
        15 => {
            let mut f = join_safetensors(&text, &parts.data);
            let extra = rng.random_range(1..64);
            f.extend(std::iter::repeat_n(0u8, extra));
            Some((format!("{extra} bytes appended"), f))
        }
        _ => None,
    };
    match raw {
        Some((how, f)) => (how, Some(f)),
        None => (said, Some(join_safetensors(&text, &parts.data))),
    }
}

#[test]
fn safetensors_header_mutations() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 1);
    let tmp = tempfile::tempdir().unwrap();
    let mut tally = Tally::new("safetensors header");
    let per_model = 180;
    for name in SMALL {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.json");
        std::fs::copy(model_dir(name).join("config.json"), &config).unwrap();
        let original = std::fs::read(model_dir(name).join("model.safetensors")).unwrap();
        let tensor_names: Vec<String> = split_safetensors(&original)
            .header
            .keys()
            .cloned()
            .collect();
        let before = listing(tmp.path());
        for i in 0..per_model {
            let mut parts = split_safetensors(&original);
            let (how, bytes) = mutate_header(&mut rng, &mut parts);
            let weights = dir.join("model.safetensors");
            std::fs::write(&weights, bytes.unwrap()).unwrap();
            let files = files_for(&config, vec![weights.clone()]);
            let one = tensor_names.choose(&mut rng).unwrap().clone();
            tally.run(&format!("{name} #{i} {how}"), || {
                // a single-tensor read of the same file, then the whole model
                let _ = common::model::weights::read_tensor(std::slice::from_ref(&weights), &one);
                load_and_run(&files)
            });
            std::fs::remove_file(&weights).unwrap();
        }
        assert_eq!(listing(tmp.path()), before, "{name}: files changed");
    }
    tally.check(per_model * SMALL.len());
}

// ---------------------------------------------------------------------------------------
// Index files.

/// Files by name, with their bytes.
type NamedFiles = Vec<(String, Vec<u8>)>;

/// Model `name` as two shards and an index, in `dir`: the shards and the weight map.
fn write_sharded(name: &str, dir: &Path) -> (NamedFiles, Map<String, Value>) {
    let original = std::fs::read(model_dir(name).join("model.safetensors")).unwrap();
    let parts = split_safetensors(&original);
    let mut tensors: Vec<(String, Value)> = parts
        .header
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tensors.sort_by_key(|(_, v)| v["data_offsets"][0].as_u64().unwrap());
    let half = tensors.len() / 2;
    let mut weight_map = Map::new();
    let mut out = Vec::new();
    for (s, chunk) in [&tensors[..half], &tensors[half..]].iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", s + 1);
        let mut header = Map::new();
        let mut data = Vec::new();
        for (k, v) in chunk.iter() {
            let (a, b) = (
                v["data_offsets"][0].as_u64().unwrap() as usize,
                v["data_offsets"][1].as_u64().unwrap() as usize,
            );
            let start = data.len();
            data.extend_from_slice(&parts.data[a..b]);
            let mut e = v.clone();
            e["data_offsets"] = json!([start, data.len()]);
            header.insert(k.clone(), e);
            weight_map.insert(k.clone(), json!(file));
        }
        let bytes = join_safetensors(Value::Object(header).to_string().as_bytes(), &data);
        std::fs::write(dir.join(&file), &bytes).unwrap();
        out.push((file, bytes));
    }
    std::fs::copy(model_dir(name).join("config.json"), dir.join("config.json")).unwrap();
    (out, weight_map)
}

/// Names that must never be read (`bait` is a real model file outside the folder).
fn hostile_name(rng: &mut StdRng, bait: &Path) -> Value {
    let b = bait.to_str().unwrap();
    let names = [
        "../bait.safetensors".to_string(),
        "../../bait.safetensors".to_string(),
        "../../../../../../../../../../bait.safetensors".to_string(),
        b.to_string(),
        format!("/{}", b.trim_start_matches('/')),
        "..\\bait.safetensors".to_string(),
        "sub\\model-00001-of-00002.safetensors".to_string(),
        "sub//model-00001-of-00002.safetensors".to_string(),
        "model-00001-of-00002.safetensors/".to_string(),
        "./model-00001-of-00002.safetensors".to_string(),
        "sub/../model-00001-of-00002.safetensors".to_string(),
        String::new(),
        "C:/bait.safetensors".to_string(),
        "model-00003-of-00002.safetensors".to_string(),
        "model-00002-of-00002.safetensors".to_string(),
        "config.json".to_string(),
        "pytorch_model.bin".to_string(),
        "nul\0.safetensors".to_string(),
    ];
    json!(names.choose(rng).unwrap())
}

fn mutate_index(rng: &mut StdRng, map: &Map<String, Value>, bait: &Path) -> (String, Vec<u8>) {
    let mut map = map.clone();
    let keys: Vec<String> = map.keys().cloned().collect();
    let mut said = Vec::new();
    for _ in 0..rng.random_range(1..=2) {
        let k = keys.choose(rng).unwrap().clone();
        match rng.random_range(0..8) {
            0..=2 => {
                let v = hostile_name(rng, bait);
                said.push(format!("{k} -> {v}"));
                map.insert(k, v);
            }
            3 => {
                let v = wild_value(rng);
                said.push(format!("{k} -> {v}"));
                map.insert(k, v);
            }
            4 => {
                map.remove(&k);
                said.push(format!("-{k}"));
            }
            5 => {
                map.insert("extra.tensor".into(), hostile_name(rng, bait));
                said.push("+extra".into());
            }
            6 => {
                map.clear();
                said.push("empty weight_map".into());
            }
            _ => said.push("unchanged".into()),
        }
    }
    let mut index = json!({"metadata": {"total_size": 1}, "weight_map": map});
    match rng.random_range(0..12) {
        0 => {
            index["weight_map"] = wild_value(rng);
            said.push(format!("weight_map = {}", index["weight_map"]));
        }
        1 => {
            index.as_object_mut().unwrap().remove("weight_map");
            said.push("no weight_map".into());
        }
        2 => {
            let t = index.to_string().into_bytes();
            let cut = rng.random_range(0..t.len());
            return (format!("index cut at {cut}"), t[..cut].to_vec());
        }
        3 => return ("index is a list".into(), b"[]".to_vec()),
        _ => {}
    }
    (said.join(", "), index.to_string().into_bytes())
}

/// True when `p` lies inside `dir`: canonicalised (symbolic links followed) when it
/// exists, else as written, with no `..` part.
fn inside(p: &Path, dir: &Path) -> bool {
    let d = dir.canonicalize().unwrap();
    match p.canonicalize() {
        Ok(p) => p.starts_with(d),
        Err(_) => {
            p.starts_with(dir) && !p.components().any(|c| c == std::path::Component::ParentDir)
        }
    }
}

#[test]
fn index_mutations_local_folder() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 2);
    let tmp = tempfile::tempdir().unwrap();
    let bait = tmp.path().join("bait.safetensors");
    let mut tally = Tally::new("index (local folder)");
    let per_model = 130;
    for name in SMALL {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(model_dir(name).join("model.safetensors"), &bait).unwrap();
        let (_, map) = write_sharded(name, &dir);
        let before = listing(tmp.path());
        for i in 0..per_model {
            let (how, bytes) = mutate_index(&mut rng, &map, &bait);
            let index = dir.join("model.safetensors.index.json");
            std::fs::write(&index, &bytes).unwrap();
            tally.run(&format!("{name} #{i} {how}"), || {
                let files = common::hub::resolve_model(dir.to_str().unwrap())?;
                for w in &files.weights {
                    assert!(
                        inside(w, &dir),
                        "{how}: {} is outside {}",
                        w.display(),
                        dir.display()
                    );
                }
                load_and_run(&files)
            });
            std::fs::remove_file(&index).unwrap();
        }
        assert_eq!(listing(tmp.path()), before, "{name}: files changed");
    }
    tally.check(per_model * SMALL.len());
}

#[test]
fn index_mutations_loopback_hub() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 3);
    let tmp = tempfile::tempdir().unwrap();
    let bait = tmp.path().join("bait.safetensors");
    std::fs::copy(model_dir("tiny-bert").join("model.safetensors"), &bait).unwrap();
    let mut tally = Tally::new("index (loopback hub)");
    let cases = 100;
    let name = "tiny-bert";
    let shard_dir = tmp.path().join("shards");
    std::fs::create_dir_all(&shard_dir).unwrap();
    let (shards, map) = write_sharded(name, &shard_dir);
    let config = std::fs::read(model_dir(name).join("config.json")).unwrap();
    const REPO: &str = "ml4llm-test/mutant";
    const COMMIT: &str = "2c3d4e5f60718293a4b5c6d7e8f9012345678ab1";
    for i in 0..cases {
        let (how, bytes) = mutate_index(&mut rng, &map, &bait);
        let mut files = vec![
            ("config.json".to_string(), config.clone()),
            ("model.safetensors.index.json".to_string(), bytes),
        ];
        files.extend(shards.iter().cloned());
        let srv = TestServer::start(hub_model_routes(REPO, COMMIT, &files, None));
        let root = tmp.path().join(format!("case{i}"));
        let cache = root.join("a/b/hub");
        let before: Vec<_> = listing(tmp.path())
            .into_iter()
            .filter(|(p, _)| !p.starts_with(format!("case{i}")))
            .collect();
        tally.run(&format!("hub #{i} {how}"), || {
            let s = HubSettings::new(&cache, &srv.base);
            let files = s.resolve_model(REPO, None)?;
            for w in &files.weights {
                assert!(
                    inside(w, &cache),
                    "{how}: {} is outside the cache",
                    w.display()
                );
            }
            load_and_run(&files)
        });
        let after: Vec<_> = listing(tmp.path())
            .into_iter()
            .filter(|(p, _)| !p.starts_with(format!("case{i}")))
            .collect();
        assert_eq!(
            after, before,
            "hub #{i} {how}: files written outside the cache"
        );
        for (p, _) in listing(&root) {
            assert!(
                p.starts_with("a/b/hub"),
                "hub #{i} {how}: {} written",
                p.display()
            );
        }
    }
    tally.check(cases);
}
