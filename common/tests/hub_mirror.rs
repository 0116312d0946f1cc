//! Model downloads honour `HF_ENDPOINT` (a hub mirror) and `HF_TOKEN`, and the cache they
//! fill is the one Python's `huggingface_hub` reads and writes, in both directions.
//!
//! A hub on 127.0.0.1 (the data layer's loopback server, `common/src/data/testserver.rs`,
//! serving assets/models/tiny-gpt2 the way huggingface.co answers `hf-hub` and
//! `huggingface_hub`) requires `Authorization: Bearer <token>` on every request.
//!
//! The environment is process-wide and the tests of one binary run in parallel threads,
//! so nothing here sets a variable in this process: the test that reads the environment
//! runs its model loads in a child process (this test binary, one ignored test, with its
//! own variables); the others pass [`HubSettings`] by hand.

#[path = "../src/data/testserver.rs"]
mod testserver;

use common::hub::{HubSettings, ModelFiles, RepoKind};
use common::model::LoadOptions;
use common::HookedModel;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind};
use testserver::{hub_model_routes, TestServer};

const REPO: &str = "ml4llm-test/tiny-gpt2";
const COMMIT: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
const TOKEN: &str = "hf_loopbackTestToken42";
const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];
/// Where nothing listens: a run that asks the network there fails at once.
const DEAD: &str = "http://127.0.0.1:9";
const TEXT: &str = "The way you do anything is the way you do everything.";

fn tiny_dir() -> PathBuf {
    common::assets_dir().join("models/tiny-gpt2")
}

fn tiny_files() -> Vec<(String, Vec<u8>)> {
    FILES
        .iter()
        .map(|f| (f.to_string(), std::fs::read(tiny_dir().join(f)).unwrap()))
        .collect()
}

fn hub() -> TestServer {
    TestServer::start(hub_model_routes(REPO, COMMIT, &tiny_files(), Some(TOKEN)))
}

/// Max |logits of `m` − logits of the tiny GPT-2 loaded from assets| on [`TEXT`].
fn diff_to_assets(m: &HookedModel) -> f64 {
    let local = HookedModel::from_pretrained(tiny_dir().to_str().unwrap(), Device::Cpu).unwrap();
    let a = m.forward(&m.to_tokens(TEXT).unwrap()).unwrap();
    let b = local.forward(&local.to_tokens(TEXT).unwrap()).unwrap();
    assert_eq!(a.size(), b.size());
    f64::try_from((a - b).abs().max().to_kind(Kind::Double)).unwrap()
}

fn load(files: &ModelFiles) -> HookedModel {
    HookedModel::load_files(files, LoadOptions::default()).unwrap()
}

/// The snapshot folder of [`REPO`] at [`COMMIT`] in the hub cache `cache`.
fn snapshot(cache: &Path) -> PathBuf {
    cache
        .join("models--ml4llm-test--tiny-gpt2/snapshots")
        .join(COMMIT)
}

/// Every file of the repo is in the cache at `cache`, in the hub layout, byte for byte.
fn assert_cached(cache: &Path) {
    let refs = cache.join("models--ml4llm-test--tiny-gpt2/refs/main");
    let r = std::fs::read_to_string(&refs).unwrap_or_default();
    assert_eq!(r.trim(), COMMIT, "{}", refs.display());
    for f in FILES {
        let got = std::fs::read(snapshot(cache).join(f)).unwrap_or_default();
        assert!(
            got == std::fs::read(tiny_dir().join(f)).unwrap(),
            "{f} in {} is not the served file",
            cache.display()
        );
    }
}

/// The variables a child process must not inherit from the test run (which sets
/// HF_HUB_OFFLINE=1) or from the machine.
const CLEARED: [&str; 10] = [
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "ML4LLM_OFFLINE",
    "HF_ENDPOINT",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "XDG_CACHE_HOME",
];

/// Run [`child_loads_the_model_the_environment_names`] in a child process with `vars`;
/// returns what it wrote to its marker file (`ok …` or `error: …`).
fn run_child(tmp: &Path, tag: &str, vars: &[(&str, &str)]) -> String {
    let marker = tmp.join(format!("child-{tag}.txt"));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "child_loads_the_model_the_environment_names",
        "--nocapture",
        "--test-threads=1",
    ]);
    for k in CLEARED {
        cmd.env_remove(k);
    }
    cmd.env("ML4LLM_HUB_CHILD_MARKER", &marker)
        .env("ML4LLM_HUB_CHILD_MODEL", REPO);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let said = std::fs::read_to_string(&marker).unwrap_or_else(|_| {
        panic!(
            "the child ({tag}) wrote no marker (exit {:?}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() == said.starts_with("ok"),
        "child ({tag}) exit {:?} but marker {said:?}",
        out.status
    );
    said
}

/// Not a test on its own: [`models_download_through_hf_endpoint_with_hf_token`] runs it
/// in a child process with the environment under test. It loads the model that
/// `ML4LLM_HUB_CHILD_MODEL` names the way every project does (`HookedModel::from_pretrained`,
/// settings from the environment) and writes the result to `ML4LLM_HUB_CHILD_MARKER`.
#[test]
#[ignore = "run in a child process by models_download_through_hf_endpoint_with_hf_token"]
fn child_loads_the_model_the_environment_names() {
    let (Ok(marker), Ok(id)) = (
        std::env::var("ML4LLM_HUB_CHILD_MARKER"),
        std::env::var("ML4LLM_HUB_CHILD_MODEL"),
    ) else {
        eprintln!("a helper of models_download_through_hf_endpoint_with_hf_token: nothing to do");
        return;
    };
    let result = HookedModel::from_pretrained(&id, Device::Cpu).and_then(|m| {
        let files = common::hub::resolve_model(&id)?;
        Ok(format!(
            "ok diff={} config={}",
            diff_to_assets(&m),
            files.config.display()
        ))
    });
    let text = match &result {
        Ok(s) => s.clone(),
        Err(e) => format!("error: {e:#}"),
    };
    std::fs::write(&marker, &text).unwrap();
    assert!(result.is_ok(), "{text}");
}

#[test]
fn models_download_through_hf_endpoint_with_hf_token() {
    let srv = hub();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hf/hub");
    let home = tmp.path().join("hf");
    let (cache_s, home_s) = (cache.to_str().unwrap(), home.to_str().unwrap());

    // online: through the mirror, with the token, into an empty cache
    let said = run_child(
        tmp.path(),
        "online",
        &[
            ("HF_ENDPOINT", &srv.base),
            ("HF_TOKEN", TOKEN),
            ("HF_HOME", home_s),
            ("HF_HUB_CACHE", cache_s),
        ],
    );
    assert!(said.starts_with("ok diff=0 "), "{said}");
    assert!(
        said.contains(&snapshot(&cache).join("config.json").display().to_string()),
        "{said}"
    );
    assert_cached(&cache);
    for f in FILES {
        assert!(
            srv.hits(&format!("/{REPO}/resolve/main/{f}")) >= 1,
            "{f} was not fetched from the mirror"
        );
    }
    assert_eq!(srv.rejected_total(), 0, "a request came without the token");

    // without the token the mirror refuses, and the error says what to set
    let fresh = tmp.path().join("fresh/hub");
    let said = run_child(
        tmp.path(),
        "no-token",
        &[
            ("HF_ENDPOINT", &srv.base),
            ("HF_HOME", home_s),
            ("HF_HUB_CACHE", fresh.to_str().unwrap()),
        ],
    );
    assert!(
        said.starts_with("error:") && said.contains("401") && said.contains("HF_TOKEN"),
        "{said}"
    );
    assert!(srv.rejected_total() >= 1);
    drop(srv);

    // offline, with the mirror gone: from the cache alone
    let said = run_child(
        tmp.path(),
        "offline",
        &[
            ("HF_HUB_OFFLINE", "1"),
            ("HF_ENDPOINT", DEAD),
            ("HF_HOME", home_s),
        ],
    );
    assert!(said.starts_with("ok diff=0 "), "{said}");
}

#[test]
fn hub_settings_given_by_hand_reach_the_mirror() {
    let srv = hub();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("hub");
    let s = HubSettings::new(&cache, &srv.base);

    // no token, then a wrong one: refused, and the message names the mirror and HF_TOKEN
    for token in [None, Some("hf_wrong")] {
        let msg = format!(
            "{:#}",
            s.clone()
                .with_token(token)
                .resolve_model(REPO, None)
                .unwrap_err()
        );
        assert!(
            msg.contains("401") && msg.contains("HF_TOKEN") && msg.contains(&srv.base),
            "{msg}"
        );
    }
    let refused = srv.rejected_total();
    assert!(refused >= 2, "{refused}");

    let s = s.with_token(Some(TOKEN));
    let files = s.resolve_model(REPO, None).unwrap();
    assert!(!files.cache_only);
    assert_eq!(
        files.tokenizer,
        Some(snapshot(&cache).join("tokenizer.json"))
    );
    assert_eq!(diff_to_assets(&load(&files)), 0.0);
    assert_cached(&cache);
    assert_eq!(srv.rejected_total(), refused);
    // a file the repo does not have
    let msg = format!(
        "{:#}",
        s.hub_file(REPO, RepoKind::Model, None, "nope.bin")
            .unwrap_err()
    );
    assert!(msg.contains("404") && msg.contains("nope.bin"), "{msg}");
    drop(srv);

    // offline: the cache alone, the endpoint never asked
    let off = HubSettings::new(&cache, DEAD).offline(true);
    let files = off.resolve_model(REPO, None).unwrap();
    assert!(files.cache_only);
    assert_eq!(diff_to_assets(&load(&files)), 0.0);
}

/// `.venv/bin/python` with `huggingface_hub`, or a panic that says how to get it.
fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let py = root.join(".venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run ./scripts/setup.sh (it creates .venv with huggingface_hub) before \
         this test, which checks that Python's huggingface_hub shares our cache",
        py.display()
    );
    py
}

/// Run `scripts/check_hf_cache_python.py` with `args` and `vars`; its stdout.
fn python(args: &[&str], vars: &[(&str, &str)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_hf_cache_python.py");
    let mut cmd = Command::new(venv_python());
    cmd.arg(&script).args(args);
    for k in CLEARED {
        cmd.env_remove(k);
    }
    cmd.env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_XET", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("NO_PROXY", "127.0.0.1,localhost");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{} {args:?} failed ({:?}){}:\n{stdout}\n{stderr}",
        script.display(),
        out.status,
        if out.status.code() == Some(3) {
            " — huggingface_hub is missing from .venv: run ./scripts/setup.sh"
        } else {
            ""
        }
    );
    stdout
}

#[test]
fn python_huggingface_hub_shares_the_cache_both_ways() {
    let srv = hub();
    let tmp = tempfile::tempdir().unwrap();
    let pyhome = tmp.path().join("pyhome");
    let pyhome_s = pyhome.to_str().unwrap();

    // ours writes, Python reads offline
    let ours = tmp.path().join("ours/hub");
    HubSettings::new(&ours, &srv.base)
        .with_token(Some(TOKEN))
        .resolve_model(REPO, None)
        .unwrap();
    let mut args = vec![
        "read",
        "--cache-dir",
        ours.to_str().unwrap(),
        "--repo",
        REPO,
        "--expect-dir",
    ];
    let expect = tiny_dir().display().to_string();
    args.push(&expect);
    args.extend(FILES);
    let said = python(
        &args,
        &[
            ("HF_HUB_OFFLINE", "1"),
            ("HF_ENDPOINT", DEAD),
            ("HF_HOME", pyhome_s),
        ],
    );
    assert!(said.contains(&format!("commit={COMMIT}")), "{said}");
    for f in FILES {
        assert!(said.contains(&format!("ok {f} ")), "{said}");
    }

    // Python writes (from the same mirror, with the token), ours reads offline
    let theirs = tmp.path().join("theirs/hub");
    let hits_before = srv.hits(&format!("/{REPO}/resolve/{COMMIT}/model.safetensors"));
    let said = python(
        &[
            "write",
            "--cache-dir",
            theirs.to_str().unwrap(),
            "--repo",
            REPO,
        ],
        &[
            ("HF_ENDPOINT", &srv.base),
            ("HF_TOKEN", TOKEN),
            ("HF_HOME", pyhome_s),
        ],
    );
    assert!(
        said.contains(&snapshot(&theirs).display().to_string()),
        "{said}"
    );
    assert!(
        srv.hits(&format!("/{REPO}/resolve/{COMMIT}/model.safetensors")) > hits_before,
        "Python did not download from the mirror"
    );
    assert_eq!(srv.rejected_total(), 0);
    drop(srv);
    assert_cached(&theirs);
    let files = HubSettings::new(&theirs, DEAD)
        .offline(true)
        .resolve_model(REPO, None)
        .unwrap();
    assert_eq!(files.config, snapshot(&theirs).join("config.json"));
    assert_eq!(diff_to_assets(&load(&files)), 0.0);
}
