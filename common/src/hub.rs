//! Finding model and dataset files: a local directory, the Hugging Face cache, or a download.
//!
//! The cache is the one Python's `huggingface_hub` uses (`$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), so a model a learner already
//! downloaded with `transformers` is reused as it is. `HF_HUB_OFFLINE=1` means: look in
//! the cache only. Downloads (crate `hf-hub`) show a progress bar and land in the same
//! cache; `hf-hub` writes to a temporary file and moves it into place when complete, so a
//! broken download is never mistaken for a cached file.

use anyhow::{anyhow, bail, Context, Result};
use hf_hub::{api::sync::ApiBuilder, Cache, Repo, RepoType};
use std::path::{Path, PathBuf};

/// Where the files of one model were found.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    /// The id or path the user gave.
    pub id: String,
    /// `config.json`.
    pub config: PathBuf,
    /// The weight files: one `model.safetensors`, the shards of a sharded checkpoint,
    /// or one `pytorch_model.bin` (or its shards).
    pub weights: Vec<PathBuf>,
    /// `tokenizer.json`, when the repo has one.
    pub tokenizer: Option<PathBuf>,
    /// `vocab.txt` (WordPiece vocabularies), when the repo has one.
    pub vocab_txt: Option<PathBuf>,
    /// True when the hub's file list could not be read (offline, or unreachable) and
    /// files were looked up in the cache only: a `None` above may then mean "not cached"
    /// rather than "the repo has none".
    pub cache_only: bool,
}

/// The Hugging Face hub cache folder, resolved the way `huggingface_hub` does it.
pub fn hub_cache_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return PathBuf::from(p).join("hub");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

/// True when `HF_HUB_OFFLINE` is set to 1/true/yes: nothing is downloaded.
pub fn is_offline() -> bool {
    matches!(
        std::env::var("HF_HUB_OFFLINE")
            .map(|v| v.to_ascii_lowercase())
            .as_deref(),
        Ok("1") | Ok("true") | Ok("yes") | Ok("on")
    )
}

/// What kind of hub repository a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoKind {
    Model,
    Dataset,
}

fn repo(id: &str, kind: RepoKind, revision: Option<&str>) -> Repo {
    let t = match kind {
        RepoKind::Model => RepoType::Model,
        RepoKind::Dataset => RepoType::Dataset,
    };
    match revision {
        Some(r) => Repo::with_revision(id.to_string(), t, r.to_string()),
        None => Repo::new(id.to_string(), t),
    }
}

/// A file of a hub repo from the cache, or `None` when it is not cached. A revision
/// is a branch or tag (looked up through the cache's `refs/`) or a full commit hash
/// (its `snapshots/` folder), as in `huggingface_hub`.
pub fn cached_file(
    id: &str,
    kind: RepoKind,
    revision: Option<&str>,
    filename: &str,
) -> Option<PathBuf> {
    let r = repo(id, kind, revision);
    if let Some(p) = Cache::new(hub_cache_dir()).repo(r.clone()).get(filename) {
        return Some(p);
    }
    match revision {
        Some(rev) if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) => {
            let p = hub_cache_dir()
                .join(r.folder_name())
                .join("snapshots")
                .join(rev)
                .join(filename);
            p.exists().then_some(p)
        }
        _ => None,
    }
}

/// The download URL of a file of a hub model at `revision` (default `main`), e.g.
/// `https://huggingface.co/EleutherAI/pythia-70m/resolve/step3000/config.json`.
pub fn hub_url(id: &str, revision: Option<&str>, filename: &str) -> Result<String> {
    let api = ApiBuilder::new()
        .with_cache_dir(hub_cache_dir())
        .build()
        .context("could not set up the Hugging Face hub client")?;
    Ok(api.repo(repo(id, RepoKind::Model, revision)).url(filename))
}

/// A file of a hub repo: from the cache, else downloaded into it (unless offline).
pub fn hub_file(
    id: &str,
    kind: RepoKind,
    revision: Option<&str>,
    filename: &str,
) -> Result<PathBuf> {
    if let Some(p) = cached_file(id, kind, revision, filename) {
        return Ok(p);
    }
    let at = revision
        .map(|r| format!(" at revision {r}"))
        .unwrap_or_default();
    if is_offline() {
        bail!(
            "{filename} of {id}{at} is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set: \
             run once with network access (unset HF_HUB_OFFLINE), or pass a local directory",
            hub_cache_dir().display()
        );
    }
    let api = ApiBuilder::new()
        .with_cache_dir(hub_cache_dir())
        .with_progress(true)
        .build()
        .context("could not set up the Hugging Face hub client")?;
    api.repo(repo(id, kind, revision))
        .get(filename)
        .map_err(|e| {
            anyhow!(
                "could not download {filename} of {id}{at} from the Hugging Face hub: {e}. \
             Check the id and your network, or pass a local directory \
             (files already in {} are used without network)",
                hub_cache_dir().display()
            )
        })
}

/// The list of files in a hub repo at `revision` (one request), or `None` when offline
/// or unreachable.
fn hub_listing(id: &str, revision: Option<&str>) -> Option<Vec<String>> {
    if is_offline() {
        return None;
    }
    let api = ApiBuilder::new()
        .with_cache_dir(hub_cache_dir())
        .build()
        .ok()?;
    let info = api.repo(repo(id, RepoKind::Model, revision)).info().ok()?;
    Some(info.siblings.into_iter().map(|s| s.rfilename).collect())
}

/// Resolve a model id (`gpt2`, `EleutherAI/pythia-2.8b`) or a local directory to its files.
///
/// A local directory must hold `config.json` and the weights. A hub id is looked up in
/// the cache first; missing files are downloaded unless offline.
pub fn resolve_model(id_or_path: &str) -> Result<ModelFiles> {
    resolve_model_at(id_or_path, None)
}

/// [`resolve_model`] at a hub revision (branch, tag or commit hash, e.g. Pythia's
/// `step3000`); `None` is the repo's main branch. A local directory has no revisions:
/// asking for one there is an error.
pub fn resolve_model_at(id_or_path: &str, revision: Option<&str>) -> Result<ModelFiles> {
    let as_path = Path::new(id_or_path);
    if as_path.is_dir() {
        if let Some(r) = revision {
            bail!(
                "revision {r:?} was asked for, but {id_or_path:?} is a local directory, which has \
                 no revisions: pass the hub id instead, or drop the revision"
            );
        }
        return resolve_local(id_or_path, as_path);
    }
    if id_or_path.starts_with('.') || id_or_path.starts_with('/') || as_path.exists() {
        bail!("model path {id_or_path:?} is not a directory (a model directory holds config.json and model.safetensors)");
    }
    resolve_hub(id_or_path, revision)
}

fn resolve_local(id: &str, dir: &Path) -> Result<ModelFiles> {
    let config = dir.join("config.json");
    if !config.is_file() {
        bail!("model directory {} has no config.json", dir.display());
    }
    let weights = if dir.join("model.safetensors").is_file() {
        vec![dir.join("model.safetensors")]
    } else if dir.join("model.safetensors.index.json").is_file() {
        shard_names(&dir.join("model.safetensors.index.json"))?
            .into_iter()
            .map(|s| dir.join(s))
            .collect()
    } else if dir.join("pytorch_model.bin").is_file() {
        vec![dir.join("pytorch_model.bin")]
    } else if dir.join("pytorch_model.bin.index.json").is_file() {
        shard_names(&dir.join("pytorch_model.bin.index.json"))?
            .into_iter()
            .map(|s| dir.join(s))
            .collect()
    } else {
        bail!(
            "model directory {} has no model.safetensors, model.safetensors.index.json or pytorch_model.bin",
            dir.display()
        );
    };
    let opt = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
    Ok(ModelFiles {
        id: id.to_string(),
        config,
        weights,
        tokenizer: opt("tokenizer.json"),
        vocab_txt: opt("vocab.txt"),
        cache_only: false,
    })
}

/// The distinct shard file names listed in a `model.safetensors.index.json` (or a
/// `pytorch_model.bin.index.json`: same layout).
pub fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(index).with_context(|| format!("reading {}", index.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", index.display()))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| anyhow!("{} has no weight_map", index.display()))?;
    let mut names: Vec<String> = map
        .values()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn resolve_hub(id: &str, rev: Option<&str>) -> Result<ModelFiles> {
    let config = hub_file(id, RepoKind::Model, rev, "config.json")
        .with_context(|| format!("model {id:?} could not be resolved"))?;
    let listing = hub_listing(id, rev);
    let has = |f: &str| match &listing {
        Some(l) => l.iter().any(|x| x == f),
        None => cached_file(id, RepoKind::Model, rev, f).is_some(),
    };
    let weights = if has("model.safetensors") {
        vec![hub_file(id, RepoKind::Model, rev, "model.safetensors")?]
    } else if has("model.safetensors.index.json") {
        let index = hub_file(id, RepoKind::Model, rev, "model.safetensors.index.json")?;
        shard_names(&index)?
            .iter()
            .map(|s| hub_file(id, RepoKind::Model, rev, s))
            .collect::<Result<Vec<_>>>()?
    } else if has("pytorch_model.bin") {
        vec![hub_file(id, RepoKind::Model, rev, "pytorch_model.bin")?]
    } else if has("pytorch_model.bin.index.json") {
        let index = hub_file(id, RepoKind::Model, rev, "pytorch_model.bin.index.json")?;
        shard_names(&index)?
            .iter()
            .map(|s| hub_file(id, RepoKind::Model, rev, s))
            .collect::<Result<Vec<_>>>()?
    } else if listing.is_none() {
        bail!(
            "model {id:?}: config.json is cached but no weights are (looked for model.safetensors, \
             model.safetensors.index.json, pytorch_model.bin in {}); run once online to fetch them",
            hub_cache_dir().display()
        );
    } else {
        bail!("model {id:?}: the repo has no model.safetensors, sharded safetensors or pytorch_model.bin");
    };
    let optional = |f: &str| {
        if has(f) {
            hub_file(id, RepoKind::Model, rev, f).ok()
        } else {
            None
        }
    };
    Ok(ModelFiles {
        id: id.to_string(),
        config,
        tokenizer: optional("tokenizer.json"),
        vocab_txt: optional("vocab.txt"),
        weights,
        cache_only: listing.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env<T>(vars: &[(&str, Option<&str>)], f: impl FnOnce() -> T) -> T {
        // Tests touching the environment run serially through this lock.
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let old: Vec<_> = vars
            .iter()
            .map(|(k, _)| (*k, std::env::var_os(k)))
            .collect();
        for (k, v) in vars {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        let out = f();
        for (k, v) in old {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
        out
    }

    #[test]
    fn cache_dir_follows_hf_variables() {
        with_env(
            &[("HF_HUB_CACHE", Some("/x/hub")), ("HF_HOME", Some("/y"))],
            || assert_eq!(hub_cache_dir(), PathBuf::from("/x/hub")),
        );
        with_env(&[("HF_HUB_CACHE", None), ("HF_HOME", Some("/y"))], || {
            assert_eq!(hub_cache_dir(), PathBuf::from("/y/hub"))
        });
    }

    #[test]
    fn reads_a_python_style_cache_offline() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = tmp.path().join("models--org--m/snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(tmp.path().join("models--org--m/refs")).unwrap();
        std::fs::write(tmp.path().join("models--org--m/refs/main"), "abc123").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::write(snap.join("model.safetensors"), "x").unwrap();
        std::fs::write(snap.join("tokenizer.json"), "{}").unwrap();
        let cache = tmp.path().to_str().unwrap();
        let files = with_env(
            &[("HF_HUB_CACHE", Some(cache)), ("HF_HUB_OFFLINE", Some("1"))],
            || resolve_model("org/m"),
        )
        .unwrap();
        assert_eq!(files.weights, vec![snap.join("model.safetensors")]);
        assert_eq!(files.tokenizer, Some(snap.join("tokenizer.json")));
        assert!(
            files.cache_only,
            "offline resolution only looked in the cache"
        );

        let err = with_env(
            &[("HF_HUB_CACHE", Some(cache)), ("HF_HUB_OFFLINE", Some("1"))],
            || resolve_model("org/not-there"),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("HF_HUB_OFFLINE") && msg.contains("org/not-there"),
            "{msg}"
        );
    }

    #[test]
    fn local_dir_needs_config_and_weights() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve_model(tmp.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("config.json"), "{err}");
        std::fs::write(tmp.path().join("config.json"), "{}").unwrap();
        let err = resolve_model(tmp.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        std::fs::write(
            tmp.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors", "c": "m-1.safetensors"}}"#,
        )
        .unwrap();
        let f = resolve_model(tmp.path().to_str().unwrap()).unwrap();
        assert_eq!(f.weights.len(), 2);
        assert!(!f.cache_only);
        assert!(resolve_model("./no/such/dir").is_err());
    }

    #[test]
    fn revisions_resolve_through_refs_and_commit_hashes() {
        let tmp = tempfile::tempdir().unwrap();
        let repo_dir = tmp.path().join("models--EleutherAI--pythia-70m");
        let (main, step) = ("a".repeat(40), "b".repeat(40));
        for (r, commit) in [("main", &main), ("step3000", &step)] {
            let snap = repo_dir.join("snapshots").join(commit);
            std::fs::create_dir_all(&snap).unwrap();
            std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
            std::fs::write(repo_dir.join("refs").join(r), commit).unwrap();
            std::fs::write(snap.join("config.json"), format!("{{\"rev\": \"{r}\"}}")).unwrap();
            std::fs::write(snap.join("pytorch_model.bin"), "x").unwrap();
        }
        let cache = tmp.path().to_str().unwrap();
        let env = [("HF_HUB_CACHE", Some(cache)), ("HF_HUB_OFFLINE", Some("1"))];
        let id = "EleutherAI/pythia-70m";
        let snap = |c: &str| repo_dir.join("snapshots").join(c);
        let (f_main, f_step, f_hash, missing) = with_env(&env, || {
            (
                resolve_model_at(id, None).unwrap(),
                resolve_model_at(id, Some("step3000")).unwrap(),
                resolve_model_at(id, Some(&step)).unwrap(),
                resolve_model_at(id, Some("step1")).unwrap_err(),
            )
        });
        assert_eq!(f_main.config, snap(&main).join("config.json"));
        assert_eq!(f_step.config, snap(&step).join("config.json"));
        assert_eq!(f_step.weights, vec![snap(&step).join("pytorch_model.bin")]);
        assert_eq!(f_hash.config, snap(&step).join("config.json"));
        let msg = format!("{missing:#}");
        assert!(msg.contains("at revision step1"), "{msg}");
        assert_eq!(
            hub_url(id, Some("step3000"), "config.json").unwrap(),
            "https://huggingface.co/EleutherAI/pythia-70m/resolve/step3000/config.json"
        );
        assert_eq!(
            hub_url(id, None, "config.json").unwrap(),
            "https://huggingface.co/EleutherAI/pythia-70m/resolve/main/config.json"
        );
        // a local directory has no revisions
        let local = snap(&main);
        let err = resolve_model_at(local.to_str().unwrap(), Some("step3000"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("local directory"), "{err}");
    }
}
