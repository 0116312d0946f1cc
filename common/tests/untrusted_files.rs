//! A model folder or a hub repository is input the user does not control: its config,
//! its index and its weights were written by someone else. These tests load damaged and
//! hostile files and require a clear error (naming the file and the entry), never an
//! abort, a panic, or a read or write outside the model folder or the cache:
//! - a config whose layer count (or another size) disagrees with the weights;
//! - `weight_map` values in `model.safetensors.index.json` that leave the folder
//!   (`../`, absolute paths, backslashes, empty parts), for a local folder and for a hub
//!   repo served from 127.0.0.1 (the data layer's test server);
//! - safetensors headers whose offsets or shapes overflow.

#[path = "../src/data/testserver.rs"]
mod testserver;

use common::hub::{HubSettings, ModelFiles};
use common::model::LoadOptions;
use common::HookedModel;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use testserver::{hub_model_routes, TestServer};

fn model_dir(name: &str) -> PathBuf {
    common::assets_dir().join("models").join(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Load `config` + `weights` (no tokenizer) and return the error message, or panic when
/// it loads.
fn load_error(config: &Path, weights: &[PathBuf]) -> String {
    let files = ModelFiles {
        id: "test".into(),
        config: config.to_path_buf(),
        weights: weights.to_vec(),
        tokenizer: None,
        vocab_txt: None,
        cache_only: false,
    };
    match HookedModel::load_files(&files, LoadOptions::default()) {
        Ok(_) => panic!("{} loaded", config.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// A folder holding model `name`'s weights and its config with `patch` applied (a
/// `null` removes the key).
fn with_config(name: &str, patch: &Value) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let src = model_dir(name);
    let tmp = tempfile::tempdir().unwrap();
    let weights = tmp.path().join("model.safetensors");
    std::fs::copy(src.join("model.safetensors"), &weights).unwrap();
    let mut cfg = read_json(&src.join("config.json"));
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            cfg.as_object_mut().unwrap().remove(k);
        } else {
            cfg[k] = v.clone();
        }
    }
    let config = tmp.path().join("config.json");
    std::fs::write(&config, cfg.to_string()).unwrap();
    (tmp, config, weights)
}

#[test]
fn a_layer_count_the_weights_do_not_have_is_an_error_not_an_abort() {
    // Before: `memory allocation of 112000000000 bytes failed` and SIGABRT (GPT-2, the
    // per-layer Vec sized by n_layer); a smaller count silently dropped blocks.
    let cases = [
        (
            "tiny-gpt2",
            json!({"n_layer": 1_000_000_000u64}),
            "n_layer is 1000000000",
            "3 blocks",
        ),
        (
            "tiny-gpt2",
            json!({"n_layer": 2}),
            "n_layer is 2",
            "3 blocks",
        ),
        (
            "tiny-bert",
            json!({"num_hidden_layers": 1_000_000_000u64}),
            "num_hidden_layers is 1000000000",
            "2 blocks",
        ),
        (
            "tiny-roberta",
            json!({"num_hidden_layers": 7}),
            "num_hidden_layers is 7",
            "2 blocks",
        ),
        (
            "tiny-gpt-neox",
            json!({"num_hidden_layers": 1_000_000_000u64}),
            "num_hidden_layers is 1000000000",
            "2 blocks",
        ),
        (
            "tiny-gpt-neo",
            json!({"num_layers": 1_000_000_000u64, "attention_layers": null,
                   "attention_types": [[["global", "local"], 500_000_000u64]]}),
            "num_layers is 1000000000",
            "2 blocks",
        ),
    ];
    for (model, patch, says, blocks) in cases {
        let (_tmp, config, weights) = with_config(model, &patch);
        let msg = load_error(&config, &[weights]);
        assert!(
            msg.contains(says) && msg.contains(blocks) && msg.contains("model.safetensors"),
            "{model} {patch}: {msg}"
        );
    }
}

#[test]
fn the_n_layer_message() {
    let (_tmp, config, weights) = with_config("tiny-gpt2", &json!({"n_layer": 1_000_000_000u64}));
    let msg = load_error(&config, std::slice::from_ref(&weights));
    println!("{msg}");
    let want = format!(
        "GPT-2 config.json: n_layer is 1000000000, but the weights in {} hold 3 blocks (h.0 to h.2)",
        weights.display()
    );
    assert!(msg.contains(&want), "{msg}");
}

#[test]
fn sizes_out_of_range_are_errors_naming_the_key() {
    let cases = [
        (
            "tiny-gpt2",
            json!({"n_embd": 1u64 << 40}),
            "\"n_embd\" is 1099511627776",
        ),
        (
            "tiny-gpt2",
            json!({"n_embd": u64::MAX}),
            "\"n_embd\" is 18446744073709551615",
        ),
        ("tiny-gpt2", json!({"n_head": 0}), "\"n_head\" is 0"),
        (
            "tiny-gpt2",
            json!({"n_positions": -5}),
            "\"n_positions\" is -5",
        ),
        ("tiny-gpt2", json!({"vocab_size": 1e300}), "\"vocab_size\""),
        ("tiny-gpt2", json!({"n_inner": 1u64 << 62}), "\"n_inner\""),
        (
            "tiny-bert",
            json!({"type_vocab_size": 0}),
            "\"type_vocab_size\" is 0",
        ),
        (
            "tiny-gpt-neo",
            json!({"window_size": 1u64 << 63}),
            "\"window_size\"",
        ),
        (
            "tiny-gpt-neo",
            json!({"attention_types": [[["global", "local"], u64::MAX]]}),
            "attention_types",
        ),
        (
            "tiny-gpt-neo",
            json!({"attention_types": [[[], 1000]]}),
            "lists no layer type",
        ),
        (
            "tiny-gpt-neox",
            json!({"intermediate_size": "64"}),
            "\"intermediate_size\" is \"64\"",
        ),
    ];
    for (model, patch, says) in cases {
        let (_tmp, config, weights) = with_config(model, &patch);
        let msg = load_error(&config, &[weights]);
        assert!(msg.contains(says), "{model} {patch}: {msg}");
    }
}

/// A sharded copy of tiny-gpt2 in `dir`: its config, the weights as one shard named
/// `model-00001-of-00001.safetensors`, and an index whose `weight_map` sends every
/// tensor there except `h.0.ln_1.weight`, which goes to `hostile`.
fn sharded_folder(dir: &Path, hostile: &Value) {
    let src = model_dir("tiny-gpt2");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    std::fs::copy(
        src.join("model.safetensors"),
        dir.join("model-00001-of-00001.safetensors"),
    )
    .unwrap();
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        index_json(hostile),
    )
    .unwrap();
}

fn index_json(hostile: &Value) -> String {
    json!({
        "metadata": {"total_size": 3263704},
        "weight_map": {
            "transformer.wte.weight": "model-00001-of-00001.safetensors",
            "transformer.h.0.ln_1.weight": hostile,
        }
    })
    .to_string()
}

/// The hostile `weight_map` values, each with what the error must say; `outside` is a
/// real safetensors file outside the model folder (and outside any cache), which the
/// old code read as a shard.
fn hostile_values(outside: &Path) -> Vec<(Value, &'static str)> {
    vec![
        (json!("../outside.safetensors"), "goes up with '..'"),
        (
            json!("../../../../../../../../outside.safetensors"),
            "goes up with '..'",
        ),
        (json!("sub/../../outside.safetensors"), "goes up with '..'"),
        (json!(outside.to_str().unwrap()), "absolute path"),
        (json!("..\\outside.safetensors"), "backslash"),
        (json!("sub\\model-00001-of-00001.safetensors"), "backslash"),
        (json!("sub//model-00001-of-00001.safetensors"), "empty part"),
        (json!("./model-00001-of-00001.safetensors"), "'.' part"),
        (json!(""), "empty"),
        (json!("C:/outside.safetensors"), "drive letter"),
        (json!(7), "is 7, expected the name of the shard file"),
    ]
}

#[test]
fn weight_map_names_outside_a_local_folder_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside.safetensors");
    std::fs::copy(model_dir("tiny-gpt2").join("model.safetensors"), &outside).unwrap();
    for (i, (value, why)) in hostile_values(&outside).into_iter().enumerate() {
        let dir = tmp.path().join(format!("m{i}"));
        sharded_folder(&dir, &value);
        let index = dir.join("model.safetensors.index.json");
        let msg = match common::hub::resolve_model(dir.to_str().unwrap()) {
            Ok(files) => panic!("{value} was accepted: weights {:?}", files.weights),
            Err(e) => format!("{e:#}"),
        };
        println!("{msg}");
        assert!(
            msg.contains(&index.display().to_string())
                && msg.contains("\"transformer.h.0.ln_1.weight\"")
                && msg.contains(why),
            "{value}: {msg}"
        );
        // and the loader, which resolves the same way
        assert!(HookedModel::from_pretrained(dir.to_str().unwrap(), tch::Device::Cpu).is_err());
    }
    // The same folder with a plain name loads.
    let dir = tmp.path().join("good");
    sharded_folder(&dir, &json!("model-00001-of-00001.safetensors"));
    let files = common::hub::resolve_model(dir.to_str().unwrap()).unwrap();
    assert_eq!(
        files.weights,
        vec![dir.join("model-00001-of-00001.safetensors")]
    );
    assert!(HookedModel::load_files(&files, LoadOptions::default()).is_ok());
}

const REPO: &str = "ml4llm-test/tiny-gpt2-sharded";
const COMMIT: &str = "1b2c3d4e5f60718293a4b5c6d7e8f9012345678a";

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn weight_map_names_outside_the_hub_cache_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let src = model_dir("tiny-gpt2");
    let outside = tmp.path().join("outside.safetensors");
    std::fs::copy(src.join("model.safetensors"), &outside).unwrap();
    let shard = std::fs::read(src.join("model.safetensors")).unwrap();
    for (i, (value, why)) in hostile_values(&outside).into_iter().enumerate() {
        let files = vec![
            (
                "config.json".to_string(),
                std::fs::read(src.join("config.json")).unwrap(),
            ),
            (
                "model.safetensors.index.json".to_string(),
                index_json(&value).into_bytes(),
            ),
            (
                "model-00001-of-00001.safetensors".to_string(),
                shard.clone(),
            ),
        ];
        let srv = TestServer::start(hub_model_routes(REPO, COMMIT, &files, None));
        // The cache sits three folders below tmp, so `../../../outside.safetensors`
        // from a snapshot would reach a real file.
        let cache = tmp.path().join(format!("c{i}/hf/hub"));
        let before = files_under(tmp.path());
        let s = HubSettings::new(&cache, &srv.base);
        let msg = match s.resolve_model(REPO, None) {
            Ok(files) => panic!("{value} was accepted: weights {:?}", files.weights),
            Err(e) => format!("{e:#}"),
        };
        let index = cache
            .join("models--ml4llm-test--tiny-gpt2-sharded/snapshots")
            .join(COMMIT)
            .join("model.safetensors.index.json");
        assert!(
            msg.contains(&index.display().to_string())
                && msg.contains("\"transformer.h.0.ln_1.weight\"")
                && msg.contains(why),
            "{value}: {msg}"
        );
        // Nothing was asked of the hub for the hostile name, and nothing was written
        // outside the cache.
        if let Some(name) = value.as_str() {
            assert_eq!(
                srv.hits(&format!("/{REPO}/resolve/main/{name}")),
                0,
                "{value}"
            );
        }
        let after: Vec<PathBuf> = files_under(tmp.path())
            .into_iter()
            .filter(|p| !p.starts_with(format!("c{i}")))
            .collect();
        let before: Vec<PathBuf> = before
            .into_iter()
            .filter(|p| !p.starts_with(format!("c{i}")))
            .collect();
        assert_eq!(after, before, "{value}: files appeared outside the cache");
        // Offline, from the cache the failed run filled: the same refusal.
        let msg = format!(
            "{:#}",
            HubSettings::new(&cache, "http://127.0.0.1:9")
                .offline(true)
                .resolve_model(REPO, None)
                .unwrap_err()
        );
        assert!(msg.contains(why), "offline, {value}: {msg}");
    }
}

#[test]
fn hub_file_names_and_revisions_must_stay_in_the_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let s = HubSettings::new(tmp.path(), "http://127.0.0.1:9");
    for name in ["../x", "/etc/passwd", "a\\b", "a//b", "", "a/./b"] {
        let msg = format!(
            "{:#}",
            s.hub_file("org/m", common::hub::RepoKind::Model, None, name)
                .unwrap_err()
        );
        assert!(
            msg.contains("not a plain file name inside the repo"),
            "{name:?}: {msg}"
        );
        assert!(s
            .cached_file("org/m", common::hub::RepoKind::Model, None, name)
            .is_none());
    }
    let msg = format!(
        "{:#}",
        s.hub_file(
            "org/m",
            common::hub::RepoKind::Model,
            Some("../../x"),
            "config.json"
        )
        .unwrap_err()
    );
    assert!(msg.contains("revision of org/m"), "{msg}");
}

/// The safetensors file `src` with its header replaced by `edit(header)`.
fn with_header(src: &Path, dst: &Path, edit: impl FnOnce(&mut Value)) {
    let bytes = std::fs::read(src).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let text = header.to_string();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(dst, out).unwrap();
}

#[test]
fn safetensors_headers_that_overflow_are_errors() {
    // Before: the first case panicked inside the safetensors crate ("attempt to add with
    // overflow" adding the last tensor's end offset to the header length).
    let src = model_dir("tiny-bert");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(src.join("config.json"), tmp.path().join("config.json")).unwrap();
    let w = tmp.path().join("model.safetensors");
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    // the tensor whose data comes last, and the first one
    let by_start = |h: &Value| {
        let mut v: Vec<(u64, String)> = h
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "__metadata__")
            .map(|(k, v)| (v["data_offsets"][0].as_u64().unwrap(), k.clone()))
            .collect();
        v.sort();
        v
    };
    let order = by_start(&header);
    let (last_start, last) = order.last().unwrap().clone();
    let first = order[0].1.clone();
    type Edit = Box<dyn Fn(&mut Value)>;
    let end = u64::MAX - 10;
    let cases: Vec<(String, Edit, String)> = vec![
        (
            format!("{last} ends near u64::MAX"),
            Box::new({
                let last = last.clone();
                move |h: &mut Value| {
                    h[&last]["dtype"] = json!("U8");
                    h[&last]["shape"] = json!([end - last_start]);
                    h[&last]["data_offsets"] = json!([last_start, end]);
                }
            }),
            format!("{last:?} has data_offsets [{last_start},{end}] with {end} past the end"),
        ),
        (
            format!("{first} has a zero dimension beside 2^63"),
            Box::new({
                let first = first.clone();
                move |h: &mut Value| {
                    h[&first]["shape"] = json!([0, 1u64 << 63]);
                }
            }),
            format!("{first:?} has a dimension 9223372036854775808"),
        ),
    ];
    for (what, edit, says) in cases {
        with_header(&src.join("model.safetensors"), &w, edit);
        let result = std::panic::catch_unwind(|| {
            load_error(&tmp.path().join("config.json"), std::slice::from_ref(&w))
        });
        let msg = result.unwrap_or_else(|_| panic!("{what}: the loader panicked"));
        assert!(msg.contains(&says), "{what}: {msg}");
    }
}

#[test]
fn a_tensor_in_two_shards_is_an_error() {
    let src = model_dir("tiny-bert");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (
        tmp.path().join("a.safetensors"),
        tmp.path().join("b.safetensors"),
    );
    std::fs::copy(src.join("model.safetensors"), &a).unwrap();
    std::fs::copy(src.join("model.safetensors"), &b).unwrap();
    let e = common::model::weights::load_all(&[a, b], tch::Device::Cpu, tch::Kind::Float)
        .err()
        .unwrap();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("a.safetensors") && msg.contains("b.safetensors"),
        "{msg}"
    );
}

#[test]
fn dataset_file_names_must_stay_in_the_repo() {
    use common::data::hf_datasets::HfFile;
    let tmp = tempfile::tempdir().unwrap();
    let c = common::data::DataCache::isolated(tmp.path());
    // A file beside the snapshot folder that `../../x` from the snapshot reaches.
    let repo = tmp.path().join("hub/datasets--org--d");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots/c0ffee")).unwrap();
    std::fs::write(repo.join("refs/main"), "c0ffee").unwrap();
    std::fs::write(repo.join("x"), "outside the snapshot").unwrap();
    let f = HfFile::new("org/d", "../../x");
    assert_eq!(c.cached_hub_file(&f), None);
    let msg = format!("{:#}", c.hub_dataset_file(&f).unwrap_err());
    assert!(
        msg.contains("\"../../x\"") && msg.contains("not a plain file name inside the repo"),
        "{msg}"
    );
}

/// The routes of a one-file model repo whose answers carry `commit` as X-Repo-Commit
/// and `etag` as ETag, as a hostile mirror could send them.
fn hostile_header_routes(commit: &str, etag: &str) -> Vec<testserver::Route> {
    let config = std::fs::read(model_dir("tiny-gpt2").join("config.json")).unwrap();
    vec![
        testserver::Route::ok(&format!("/{REPO}/resolve/main/config.json"), config)
            .header("X-Repo-Commit", commit)
            .header("ETag", etag)
            .ranges(),
    ]
}

#[test]
fn hub_headers_that_name_paths_outside_the_cache_are_refused() {
    // The X-Repo-Commit header names the snapshot folder and the ETag the blob file.
    // Before: hf-hub joined both to the cache folder as they came, so a mirror could
    // write a file anywhere (here: beside the cache).
    let good_commit = COMMIT;
    let cases = [
        (good_commit, "\"../../../../escaped-blob\"", "ETag"),
        (good_commit, "\"/tmp/escaped-blob\"", "ETag"),
        (good_commit, "\"a/b\"", "ETag"),
        (good_commit, "\"\"", "ETag"),
        (
            "../../../../escaped-snapshot",
            "\"0123abcd\"",
            "X-Repo-Commit",
        ),
        ("/tmp/x", "\"0123abcd\"", "X-Repo-Commit"),
        ("main", "\"0123abcd\"", "X-Repo-Commit"),
    ];
    for (commit, etag, names) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let srv = TestServer::start(hostile_header_routes(commit, etag));
        let cache = tmp.path().join("a/b/c/hub");
        let s = HubSettings::new(&cache, &srv.base);
        let msg = match s.hub_file(REPO, common::hub::RepoKind::Model, None, "config.json") {
            Ok(p) => format!("accepted: {}", p.display()),
            Err(e) => format!("{e:#}"),
        };
        let outside: Vec<PathBuf> = files_under(tmp.path())
            .into_iter()
            .filter(|p| !p.starts_with("a/b/c/hub"))
            .collect();
        assert!(
            outside.is_empty(),
            "{commit} {etag}: written outside the cache: {outside:?}"
        );
        assert!(
            msg.contains(names) && msg.contains("config.json") && !msg.starts_with("accepted"),
            "{commit} {etag}: {msg}"
        );
    }
    // A weak ETag (W/"…") of a plain name is fine.
    let tmp = tempfile::tempdir().unwrap();
    let srv = TestServer::start(hostile_header_routes(COMMIT, "W/\"0123abcd\""));
    let cache = tmp.path().join("hub");
    let p = HubSettings::new(&cache, &srv.base)
        .hub_file(REPO, common::hub::RepoKind::Model, None, "config.json")
        .unwrap();
    assert_eq!(
        std::fs::read(&p).unwrap(),
        std::fs::read(model_dir("tiny-gpt2").join("config.json")).unwrap()
    );
    let blob = cache.join("models--ml4llm-test--tiny-gpt2-sharded/blobs/0123abcd");
    assert!(blob.is_file(), "{}", blob.display());
}

#[test]
fn a_redirect_to_a_cdn_takes_the_commit_and_etag_from_the_hub() {
    // huggingface.co answers a large file with 302 to its CDN; the commit and ETag are
    // on the hub's answer, the bytes (and their size) at the CDN.
    let config = std::fs::read(model_dir("tiny-gpt2").join("config.json")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // The CDN's URL must be absolute, so the port is only known once the server runs:
    // a first server serves the CDN route, a second the hub route redirecting to it.
    let cdn = TestServer::start(vec![testserver::Route::ok("/cdn/blob", config.clone())
        .header("ETag", "\"cdn-etag-not-used\"")
        .ranges()]);
    let hub = TestServer::start(vec![testserver::Route::ok(
        &format!("/{REPO}/resolve/main/config.json"),
        Vec::new(),
    )
    .status(302)
    .header("Location", &format!("{}/cdn/blob", cdn.base))
    .header("X-Repo-Commit", COMMIT)
    .header("X-Linked-Etag", "\"abc123\"")]);
    let cache = tmp.path().join("hub");
    let p = HubSettings::new(&cache, &hub.base)
        .hub_file(REPO, common::hub::RepoKind::Model, None, "config.json")
        .unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), config);
    let repo = cache.join("models--ml4llm-test--tiny-gpt2-sharded");
    assert_eq!(p, repo.join("snapshots").join(COMMIT).join("config.json"));
    assert!(repo.join("blobs/abc123").is_file());
    assert_eq!(
        std::fs::read_to_string(repo.join("refs/main")).unwrap(),
        COMMIT
    );
    assert!(cdn.hits("/cdn/blob") >= 1);
}
