//! Finding model and dataset files: a local directory, the Hugging Face cache, or a download.
//!
//! The cache is the one Python's `huggingface_hub` uses (`$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), in the same layout (`refs/`,
//! `snapshots/`, `blobs/`), so a model a learner already downloaded with `transformers`
//! is reused as it is, and Python reads what this crate downloaded. `HF_HUB_OFFLINE=1`
//! means: look in the cache only. Downloads go to `$HF_ENDPOINT` (a hub mirror; default
//! `https://huggingface.co`) with `$HF_TOKEN` (else the token file of
//! `huggingface-cli login`) as a bearer token, as in Python: [`HubSettings`] holds these,
//! read once from the environment, or given by hand. Downloads (crate `hf-hub`) show a
//! progress bar and land in the cache; `hf-hub` writes to a temporary file and moves it
//! into place when complete, so a broken download is never mistaken for a cached file.

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

/// Where the hub is and how to talk to it: the settings every download and cache lookup
/// of this module uses. [`HubSettings::from_env`] reads them the way Python's
/// `huggingface_hub` does; the free functions of this module use that. Tests and
/// programs that want another cache, mirror or token build one by hand (or with
/// [`HubSettings::from_vars`]) and call its methods, without touching the process
/// environment.
#[derive(Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The hub cache folder: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else
    /// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub`.
    pub cache_dir: PathBuf,
    /// The hub's base URL, `$HF_ENDPOINT` (a mirror), default `https://huggingface.co`;
    /// no trailing slash.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer …` with every request: `$HF_TOKEN` (or the older
    /// `$HUGGING_FACE_HUB_TOKEN`), else the token file `huggingface-cli login` writes
    /// (`$HF_TOKEN_PATH`, else `$HF_HOME/token`).
    pub token: Option<String>,
    /// Cache only, nothing downloaded: `HF_HUB_OFFLINE`, `TRANSFORMERS_OFFLINE` or
    /// `ML4LLM_OFFLINE` set to 1/true/yes/on.
    pub offline: bool,
    /// Show a progress bar while downloading.
    pub progress: bool,
}

/// The default hub endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

impl std::fmt::Debug for HubSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token itself.
        f.debug_struct("HubSettings")
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("offline", &self.offline)
            .field("progress", &self.progress)
            .finish()
    }
}

/// True for `1`, `true`, `yes`, `on` (any case, surrounding blanks ignored).
fn truthy(v: Option<String>) -> bool {
    matches!(
        v.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

impl HubSettings {
    /// The settings the environment gives (see the fields for the variables read).
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// [`HubSettings::from_env`] with each variable read through `var`, so that a test
    /// can pass its own values. Only the token file is read from disk.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let home = || {
            get("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("."))
        };
        // `~` at the start, as Python's os.path.expanduser.
        let expand = |p: String| match p.strip_prefix("~") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                home().join(rest.trim_start_matches('/'))
            }
            _ => PathBuf::from(p),
        };
        let hf_home = match get("HF_HOME") {
            Some(h) => expand(h),
            None => get("XDG_CACHE_HOME")
                .map(expand)
                .unwrap_or_else(|| home().join(".cache"))
                .join("huggingface"),
        };
        let cache_dir = get("HF_HUB_CACHE")
            .or_else(|| get("HUGGINGFACE_HUB_CACHE"))
            .map(expand)
            .unwrap_or_else(|| hf_home.join("hub"));
        let endpoint = get("HF_ENDPOINT")
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token = get("HF_TOKEN")
            .or_else(|| get("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = get("HF_TOKEN_PATH")
                    .map(expand)
                    .unwrap_or_else(|| hf_home.join("token"));
                std::fs::read_to_string(path).ok()
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        HubSettings {
            cache_dir,
            endpoint,
            token,
            offline: truthy(var("HF_HUB_OFFLINE"))
                || truthy(var("TRANSFORMERS_OFFLINE"))
                || truthy(var("ML4LLM_OFFLINE")),
            progress: true,
        }
    }

    /// Settings for a cache folder and an endpoint, online, with no token and no
    /// progress bar (tests, a mirror chosen in code).
    pub fn new(cache_dir: impl Into<PathBuf>, endpoint: &str) -> Self {
        HubSettings {
            cache_dir: cache_dir.into(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: None,
            offline: false,
            progress: false,
        }
    }

    /// The same settings with this token.
    pub fn with_token(mut self, token: Option<&str>) -> Self {
        self.token = token.map(String::from);
        self
    }

    /// The same settings, offline or not.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// The hub client for these settings (no network use until a request).
    fn api(&self) -> Result<hf_hub::api::sync::Api> {
        ApiBuilder::from_cache(Cache::new(self.cache_dir.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_token(self.token.clone())
            .with_progress(self.progress)
            .with_user_agent("ml4llm-rs", env!("CARGO_PKG_VERSION"))
            .build()
            .context("could not set up the Hugging Face hub client")
    }

    /// "endpoint https://…" plus whether a token is set, for error messages.
    fn describe(&self) -> String {
        format!(
            "{} ({}; HF_ENDPOINT sets another hub, e.g. a mirror)",
            self.endpoint,
            if self.token.is_some() {
                "with the token from HF_TOKEN or the token file"
            } else {
                "no token: HF_TOKEN is not set"
            }
        )
    }

    /// A file of a hub repo from the cache, or `None` when it is not cached. A revision
    /// is a branch or tag (looked up through the cache's `refs/`) or a full commit hash
    /// (its `snapshots/` folder), as in `huggingface_hub`.
    pub fn cached_file(
        &self,
        id: &str,
        kind: RepoKind,
        revision: Option<&str>,
        filename: &str,
    ) -> Option<PathBuf> {
        // Only a plain name inside the snapshot (and a plain revision) is looked up: a
        // `../` or absolute one would name a file outside the cache.
        if repo_path_problem(filename).is_some()
            || revision.is_some_and(|r| repo_path_problem(r).is_some())
        {
            return None;
        }
        let r = repo(id, kind, revision);
        if let Some(p) = Cache::new(self.cache_dir.clone())
            .repo(r.clone())
            .get(filename)
        {
            return Some(p);
        }
        let dir = self.cache_dir.join(r.folder_name());
        let commit = match revision {
            Some(rev) if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) => {
                rev.to_string()
            }
            // A ref file ending in a newline (written by hand or another tool).
            _ => std::fs::read_to_string(dir.join("refs").join(revision.unwrap_or("main")))
                .ok()?
                .trim()
                .to_string(),
        };
        let p = dir.join("snapshots").join(commit).join(filename);
        p.is_file().then_some(p)
    }

    /// The download URL of a file of a hub model at `revision` (default `main`), e.g.
    /// `https://huggingface.co/EleutherAI/pythia-70m/resolve/step3000/config.json`.
    pub fn hub_url(&self, id: &str, revision: Option<&str>, filename: &str) -> String {
        let rev = revision.unwrap_or("main").replace('/', "%2F");
        format!("{}/{id}/resolve/{rev}/{filename}", self.endpoint)
    }

    /// A file of a hub repo: from the cache, else downloaded into it (unless offline).
    pub fn hub_file(
        &self,
        id: &str,
        kind: RepoKind,
        revision: Option<&str>,
        filename: &str,
    ) -> Result<PathBuf> {
        check_repo_path(filename, &format!("file of {id}"))?;
        if let Some(r) = revision {
            check_repo_path(r, &format!("revision of {id}"))?;
        }
        if let Some(p) = self.cached_file(id, kind, revision, filename) {
            return Ok(p);
        }
        let at = revision
            .map(|r| format!(" at revision {r}"))
            .unwrap_or_default();
        if self.offline {
            bail!(
                "{filename} of {id}{at} is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set: \
                 run once with network access (unset HF_HUB_OFFLINE), or pass a local directory",
                self.cache_dir.display()
            );
        }
        self.download(id, kind, revision, filename).map_err(|e| {
            let hint = match e.status {
                Some(401 | 403) => {
                    " The hub refused access: the repo may be gated or private; set HF_TOKEN \
                         to a token that has access (huggingface.co/settings/tokens), or accept \
                         the repo's terms on its page."
                }
                Some(404) => " The hub has no such repo, revision or file: check the id.",
                _ => "",
            };
            anyhow!(
                "could not download {filename} of {id}{at} from {}: {e}.{hint} Check the id \
                     and your network, or pass a local directory (files already in {} are used \
                     without network)",
                self.describe(),
                self.cache_dir.display()
            )
        })
    }

    /// An HTTP agent for the hub: timeouts, the proxy from the environment (not for
    /// loopback URLs), redirects followed only when `follow` (the metadata request reads
    /// the hub's own answer, before any redirect to a CDN).
    fn agent(&self, url: &str, follow: bool) -> ureq::Agent {
        let host = origin(url).split("://").nth(1).unwrap_or("");
        let loopback =
            host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
        ureq::AgentBuilder::new()
            .timeout_connect(std::time::Duration::from_secs(30))
            .timeout_read(std::time::Duration::from_secs(120))
            .redirects(if follow { 10 } else { 0 })
            .user_agent(&format!("ml4llm-rs/{}", env!("CARGO_PKG_VERSION")))
            .try_proxy_from_env(!loopback)
            .build()
    }

    /// A GET of `url` with the token when `url` is on the hub's own host (never sent to
    /// a CDN or another host a redirect leads to).
    fn get(&self, url: &str, follow: bool) -> ureq::Request {
        let req = self.agent(url, follow).get(url);
        match &self.token {
            Some(t) if origin(url) == origin(&self.endpoint) => {
                req.set("Authorization", &format!("Bearer {t}"))
            }
            _ => req,
        }
    }

    /// The hub's answer about `url` (see [`RemoteFile`]), following the hub's relative
    /// redirects (a renamed repo) but reading the headers before a redirect elsewhere.
    fn remote_file(&self, url: &str) -> std::result::Result<RemoteFile, DownloadError> {
        let mut current = url.to_string();
        let mut resp = self.get(&current, false).set("Range", "bytes=0-0").call()?;
        for _ in 0..10 {
            let relative = match resp.header("location") {
                Some(l) if (300..400).contains(&resp.status()) && l.starts_with('/') => {
                    l.to_string()
                }
                _ => break,
            };
            current = format!("{}{relative}", origin(&current));
            resp = self.get(&current, false).set("Range", "bytes=0-0").call()?;
        }
        let header = |name: &str| resp.header(name).map(str::to_string);
        let missing = |name: &str| {
            DownloadError::new(format!(
                "the hub's answer for {current} has no {name} header (is the endpoint a \
                 Hugging Face hub or mirror?)"
            ))
        };
        let commit =
            commit_name(&header("x-repo-commit").ok_or_else(|| missing("X-Repo-Commit"))?)?;
        let etag = blob_name(
            &header("x-linked-etag")
                .or_else(|| header("etag"))
                .ok_or_else(|| missing("ETag"))?,
        )?;
        let (data_url, sized) = if (300..400).contains(&resp.status()) {
            let to = header("location").ok_or_else(|| missing("Location"))?;
            let r = self.get(&to, true).set("Range", "bytes=0-0").call()?;
            (to, r)
        } else {
            (current.clone(), resp)
        };
        let size = sized
            .header("content-range")
            .and_then(|v| v.rsplit('/').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| {
                (sized.status() == 200)
                    .then(|| sized.header("content-length")?.trim().parse().ok())
                    .flatten()
            })
            .ok_or_else(|| missing("Content-Range"))?;
        Ok(RemoteFile {
            commit,
            etag,
            size,
            url: data_url,
        })
    }

    /// Download `filename` of a hub repo into the cache, in the layout `huggingface_hub`
    /// writes: the bytes to `blobs/{etag}` (through a temporary file in that folder,
    /// renamed once its length is checked), `snapshots/{commit}/{filename}` a relative
    /// link to it, and `refs/{revision}` the commit. Every name joined to the cache is
    /// checked first: the file name and revision by [`check_repo_path`], the commit and
    /// ETag the hub sends by [`commit_name`] and [`blob_name`], so neither a hostile
    /// mirror nor a hostile index writes outside the cache.
    fn download(
        &self,
        id: &str,
        kind: RepoKind,
        revision: Option<&str>,
        filename: &str,
    ) -> std::result::Result<PathBuf, DownloadError> {
        let io = |what: &str, p: &Path, e: std::io::Error| {
            DownloadError::new(format!("{what} {}: {e}", p.display()))
        };
        let rev = revision.unwrap_or("main");
        let url = match kind {
            RepoKind::Model => self.hub_url(id, revision, filename),
            RepoKind::Dataset => format!(
                "{}/datasets/{id}/resolve/{}/{filename}",
                self.endpoint,
                rev.replace('/', "%2F")
            ),
        };
        let remote = self.remote_file(&url)?;
        let repo_dir = self.cache_dir.join(repo(id, kind, revision).folder_name());
        let blobs = repo_dir.join("blobs");
        let blob = blobs.join(&remote.etag);
        let have = std::fs::metadata(&blob).ok().map(|m| m.len());
        if have != Some(remote.size) {
            std::fs::create_dir_all(&blobs).map_err(|e| io("creating", &blobs, e))?;
            let mut tmp = tempfile::Builder::new()
                .prefix(&format!("{}.", remote.etag))
                .suffix(".incomplete")
                .tempfile_in(&blobs)
                .map_err(|e| io("creating a temporary file in", &blobs, e))?;
            let resp = self.get(&remote.url, true).call()?;
            let bar = if self.progress {
                let pb = indicatif::ProgressBar::new(remote.size);
                pb.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg:<24} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, ~{eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_message(filename.to_string());
                pb
            } else {
                indicatif::ProgressBar::hidden()
            };
            use std::io::Read;
            let mut reader = bar.wrap_read(resp.into_reader().take(remote.size.saturating_add(1)));
            let got = std::io::copy(&mut reader, tmp.as_file_mut())
                .map_err(|e| DownloadError::new(format!("the download was cut off ({e})")))?;
            bar.finish_and_clear();
            if got != remote.size {
                return Err(DownloadError::new(format!(
                    "incomplete download: {got} of {} bytes arrived",
                    remote.size
                )));
            }
            tmp.as_file()
                .sync_all()
                .map_err(|e| io("writing", tmp.path(), e))?;
            tmp.persist(&blob)
                .map_err(|e| io("moving the download into place as", &blob, e.error))?;
        }
        let pointer = repo_dir
            .join("snapshots")
            .join(&remote.commit)
            .join(filename);
        let folder = pointer.parent().unwrap_or(&repo_dir).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|e| io("creating", &folder, e))?;
        // snapshots/{commit}/{a/b/file} -> ../../(../..)blobs/{etag}
        let ups = 2 + filename.matches('/').count();
        let target = PathBuf::from("../".repeat(ups))
            .join("blobs")
            .join(&remote.etag);
        let _ = std::fs::remove_file(&pointer);
        #[cfg(unix)]
        let linked = std::os::unix::fs::symlink(&target, &pointer).is_ok();
        #[cfg(not(unix))]
        let linked = false;
        if !linked {
            std::fs::copy(&blob, &pointer).map_err(|e| io("copying into", &pointer, e))?;
        }
        if rev != remote.commit {
            let r = repo_dir.join("refs").join(rev);
            if let Some(dir) = r.parent() {
                std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
            }
            std::fs::write(&r, &remote.commit).map_err(|e| io("writing", &r, e))?;
        }
        Ok(pointer)
    }

    /// The list of files in a hub model repo at `revision` (one request), or `None` when
    /// offline or unreachable.
    fn listing(&self, id: &str, revision: Option<&str>) -> Option<Vec<String>> {
        if self.offline {
            return None;
        }
        let info = self
            .api()
            .ok()?
            .repo(repo(id, RepoKind::Model, revision))
            .info()
            .ok()?;
        Some(info.siblings.into_iter().map(|s| s.rfilename).collect())
    }

    /// Resolve a model id (`gpt2`, `EleutherAI/pythia-2.8b`) or a local directory to its
    /// files, at a hub revision (branch, tag or commit hash; `None` is the main branch).
    /// See [`resolve_model_at`].
    pub fn resolve_model(&self, id_or_path: &str, revision: Option<&str>) -> Result<ModelFiles> {
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
        self.resolve_hub(id_or_path, revision)
    }

    fn resolve_hub(&self, id: &str, rev: Option<&str>) -> Result<ModelFiles> {
        let file = |f: &str| self.hub_file(id, RepoKind::Model, rev, f);
        let config =
            file("config.json").with_context(|| format!("model {id:?} could not be resolved"))?;
        let listing = self.listing(id, rev);
        let has = |f: &str| match &listing {
            Some(l) => l.iter().any(|x| x == f),
            None => self.cached_file(id, RepoKind::Model, rev, f).is_some(),
        };
        let shards = |index: &str| -> Result<Vec<PathBuf>> {
            shard_names(&file(index)?)?
                .iter()
                .map(|s| file(s))
                .collect::<Result<Vec<_>>>()
        };
        let weights = if has("model.safetensors") {
            vec![file("model.safetensors")?]
        } else if has("model.safetensors.index.json") {
            shards("model.safetensors.index.json")?
        } else if has("pytorch_model.bin") {
            vec![file("pytorch_model.bin")?]
        } else if has("pytorch_model.bin.index.json") {
            shards("pytorch_model.bin.index.json")?
        } else if listing.is_none() {
            bail!(
                "model {id:?}: config.json is cached but no weights are (looked for model.safetensors, \
                 model.safetensors.index.json, pytorch_model.bin in {}); run once online to fetch them",
                self.cache_dir.display()
            );
        } else {
            bail!("model {id:?}: the repo has no model.safetensors, sharded safetensors or pytorch_model.bin");
        };
        // A file the repo lists is fetched, and a failure to fetch it is an error (not
        // "the repo has none").
        let optional = |f: &str| -> Result<Option<PathBuf>> {
            if has(f) {
                Ok(Some(file(f)?))
            } else {
                Ok(None)
            }
        };
        Ok(ModelFiles {
            id: id.to_string(),
            config,
            tokenizer: optional("tokenizer.json")?,
            vocab_txt: optional("vocab.txt")?,
            weights,
            cache_only: listing.is_none(),
        })
    }
}

/// A failed download: what went wrong, and the HTTP status when the hub answered one.
#[derive(Debug)]
struct DownloadError {
    status: Option<u16>,
    message: String,
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl DownloadError {
    fn new(message: impl Into<String>) -> Self {
        DownloadError {
            status: None,
            message: message.into(),
        }
    }
}

impl From<ureq::Error> for DownloadError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Status(code, r) => DownloadError {
                status: Some(code),
                message: format!("{} answered HTTP {code} {}", r.get_url(), r.status_text()),
            },
            other => DownloadError::new(format!("request error: {other}")),
        }
    }
}

/// What the hub says about a file before it is downloaded (the answer to a one-byte
/// range request, as `huggingface_hub` and `hf-hub` ask): the commit it belongs to
/// (`X-Repo-Commit`, the snapshot folder's name), its ETag (`X-Linked-Etag` or `ETag`,
/// the blob's file name), its size, and where its bytes are (a CDN the hub redirects
/// to, or the same URL).
struct RemoteFile {
    commit: String,
    etag: String,
    size: u64,
    url: String,
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after + i);
    &url[..end]
}

/// The ETag as a blob file name: `W/` and quotes dropped, as `huggingface_hub` does.
/// Only letters, digits and `-_.+=` are accepted (the hub sends hex digests), so a
/// header cannot name a path outside the cache.
fn blob_name(etag: &str) -> std::result::Result<String, DownloadError> {
    let e = etag.trim();
    let e = e.strip_prefix("W/").unwrap_or(e).replace('"', "");
    let plain = !e.is_empty()
        && e.len() <= 256
        && !e.starts_with('.')
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+=".contains(&b));
    if !plain {
        return Err(DownloadError::new(format!(
            "the hub's ETag header {etag:?} is not a plain file name (letters, digits, -_.+=), \
             and it names the file written in the cache's blobs folder: refusing it (a \
             damaged or hostile mirror?)"
        )));
    }
    Ok(e)
}

/// A commit hash from `X-Repo-Commit`: 40 hex digits (it names the snapshot folder).
fn commit_name(commit: &str) -> std::result::Result<String, DownloadError> {
    let c = commit.trim();
    if c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(c.to_string())
    } else {
        Err(DownloadError::new(format!(
            "the hub's X-Repo-Commit header {commit:?} is not a commit hash (40 hex digits), \
             and it names the cache's snapshot folder: refusing it (a damaged or hostile \
             mirror?)"
        )))
    }
}

/// The Hugging Face hub cache folder, resolved the way `huggingface_hub` does it
/// ([`HubSettings::cache_dir`]).
pub fn hub_cache_dir() -> PathBuf {
    HubSettings::from_env().cache_dir
}

/// True when `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`, `ML4LLM_OFFLINE`) is set to
/// 1/true/yes/on: nothing is downloaded.
pub fn is_offline() -> bool {
    HubSettings::from_env().offline
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

/// A file of a hub repo from the cache the environment names, or `None` when it is not
/// cached. See [`HubSettings::cached_file`].
pub fn cached_file(
    id: &str,
    kind: RepoKind,
    revision: Option<&str>,
    filename: &str,
) -> Option<PathBuf> {
    HubSettings::from_env().cached_file(id, kind, revision, filename)
}

/// The download URL of a file of a hub model at `revision` (default `main`) on the hub
/// `HF_ENDPOINT` names. See [`HubSettings::hub_url`].
pub fn hub_url(id: &str, revision: Option<&str>, filename: &str) -> Result<String> {
    Ok(HubSettings::from_env().hub_url(id, revision, filename))
}

/// A file of a hub repo: from the cache, else downloaded into it (unless offline), with
/// the endpoint and token of the environment. See [`HubSettings::hub_file`].
pub fn hub_file(
    id: &str,
    kind: RepoKind,
    revision: Option<&str>,
    filename: &str,
) -> Result<PathBuf> {
    HubSettings::from_env().hub_file(id, kind, revision, filename)
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
    HubSettings::from_env().resolve_model(id_or_path, revision)
}

fn resolve_local(id: &str, dir: &Path) -> Result<ModelFiles> {
    let config = dir.join("config.json");
    if !config.is_file() {
        bail!("model directory {} has no config.json", dir.display());
    }
    let weights = if dir.join("model.safetensors").is_file() {
        vec![dir.join("model.safetensors")]
    } else if dir.join("model.safetensors.index.json").is_file() {
        local_shards(dir, "model.safetensors.index.json")?
    } else if dir.join("pytorch_model.bin").is_file() {
        vec![dir.join("pytorch_model.bin")]
    } else if dir.join("pytorch_model.bin.index.json").is_file() {
        local_shards(dir, "pytorch_model.bin.index.json")?
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

/// The shard files an index in a local model folder lists, each checked to be a plain
/// name (see [`shard_names`]) of a file that is there.
fn local_shards(dir: &Path, index: &str) -> Result<Vec<PathBuf>> {
    let index = dir.join(index);
    let names = shard_names(&index)?;
    let missing: Vec<&str> = names
        .iter()
        .filter(|s| !dir.join(s).is_file())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} lists shard files that are not in {}: {}; copy them there, or fix the index",
            index.display(),
            dir.display(),
            missing.join(", ")
        );
    }
    Ok(names.into_iter().map(|s| dir.join(s)).collect())
}

/// Why `name` is not a plain relative file name inside a repo, or `None` when it is one.
///
/// A name read from a file someone else wrote (a shard listed in an index's `weight_map`)
/// or given for a hub repo is joined to a folder — a local model folder, a cache snapshot
/// — so it may only name a file inside it: parts separated by `/`, none of them empty,
/// `.` or `..`; not absolute (no leading `/`, no Windows drive such as `C:`), no
/// backslash, no NUL byte. `model-00001-of-00002.safetensors` and
/// `20231101.en/train-00000-of-00041.parquet` pass; `../../x`, `/etc/passwd`,
/// `a\b`, `a//b` and the empty name do not.
pub fn repo_path_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.starts_with('/') {
        return Some("it is an absolute path");
    }
    if name.contains('\\') {
        return Some("it contains a backslash");
    }
    if name.contains('\0') {
        return Some("it contains a NUL byte");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("it starts with a drive letter (an absolute Windows path)");
    }
    for part in name.split('/') {
        match part {
            "" => return Some("it has an empty part (a doubled or trailing '/')"),
            "." => return Some("it has a '.' part"),
            ".." => return Some("it goes up with '..'"),
            _ => {}
        }
    }
    None
}

/// An error unless `name` is a plain relative file name inside a repo (see
/// [`repo_path_problem`]); `what` says where the name comes from.
pub fn check_repo_path(name: &str, what: &str) -> Result<()> {
    match repo_path_problem(name) {
        None => Ok(()),
        Some(why) => bail!(
            "{what}: {name:?} is not a plain file name inside the repo ({why}); only relative \
             names such as model-00001-of-00002.safetensors are read, so nothing outside the \
             model folder or the cache is touched"
        ),
    }
}

/// The distinct shard file names listed in a `model.safetensors.index.json` (or a
/// `pytorch_model.bin.index.json`: same layout). Every `weight_map` value must be a
/// plain relative file name (see [`repo_path_problem`]): anything else — an absolute
/// path, `..`, a backslash, an empty part, a value that is not a string — is an error
/// that names the index file and the entry, and the index must list at least one file.
pub fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(index).with_context(|| format!("reading {}", index.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", index.display()))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| anyhow!("{} has no weight_map", index.display()))?;
    let mut names = Vec::with_capacity(map.len());
    for (tensor, file) in map {
        let what = || format!("{}: weight_map entry {tensor:?}", index.display());
        let Some(file) = file.as_str() else {
            bail!(
                "{} is {file}, expected the name of the shard file that holds the tensor; the \
                 index file is damaged: delete it to re-download",
                what()
            );
        };
        if let Some(why) = repo_path_problem(file) {
            bail!(
                "{}: {file:?} is not a plain file name inside the repo ({why}). A shard is a \
                 relative name such as model-00001-of-00002.safetensors, and nothing outside the \
                 model folder or the cache is read: the index file is damaged or hostile; delete \
                 it to re-download, or fix the entry",
                what()
            );
        }
        names.push(file.to_string());
    }
    if names.is_empty() {
        bail!(
            "{}: weight_map lists no shard files; the index file is damaged: delete it to \
             re-download",
            index.display()
        );
    }
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Settings from these variables only (the process environment is not touched).
    fn vars(pairs: &[(&str, &str)]) -> HubSettings {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        HubSettings::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn cache_dir_follows_hf_variables() {
        let s = vars(&[
            ("HF_HUB_CACHE", "/x/hub"),
            ("HF_HOME", "/y"),
            ("HOME", "/h"),
        ]);
        assert_eq!(s.cache_dir, PathBuf::from("/x/hub"));
        let s = vars(&[("HF_HOME", "/y"), ("HOME", "/h")]);
        assert_eq!(s.cache_dir, PathBuf::from("/y/hub"));
        let s = vars(&[("HUGGINGFACE_HUB_CACHE", "/old"), ("HOME", "/h")]);
        assert_eq!(s.cache_dir, PathBuf::from("/old"));
        let s = vars(&[("XDG_CACHE_HOME", "/xdg"), ("HOME", "/h")]);
        assert_eq!(s.cache_dir, PathBuf::from("/xdg/huggingface/hub"));
        let s = vars(&[("HOME", "/h")]);
        assert_eq!(s.cache_dir, PathBuf::from("/h/.cache/huggingface/hub"));
        let s = vars(&[("HF_HOME", "~/hf"), ("HOME", "/h")]);
        assert_eq!(s.cache_dir, PathBuf::from("/h/hf/hub"));
    }

    #[test]
    fn endpoint_token_and_offline_come_from_the_environment() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().to_str().unwrap();
        let s = vars(&[("HOME", home)]);
        assert_eq!(s.endpoint, "https://huggingface.co");
        assert_eq!(s.token, None);
        assert!(!s.offline);
        let s = vars(&[
            ("HOME", home),
            ("HF_ENDPOINT", "http://mirror.example:8080/"),
            ("HF_TOKEN", " hf_abc\n"),
            ("HUGGING_FACE_HUB_TOKEN", "hf_old"),
            ("HF_HUB_OFFLINE", "1"),
        ]);
        assert_eq!(s.endpoint, "http://mirror.example:8080");
        assert_eq!(s.token.as_deref(), Some("hf_abc"));
        assert!(s.offline);
        assert!(
            !format!("{s:?}").contains("hf_abc"),
            "Debug must not print the token"
        );
        assert_eq!(
            s.hub_url("org/m", None, "config.json"),
            "http://mirror.example:8080/org/m/resolve/main/config.json"
        );
        let s = vars(&[("HOME", home), ("HUGGING_FACE_HUB_TOKEN", "hf_old")]);
        assert_eq!(s.token.as_deref(), Some("hf_old"));
        for v in ["TRANSFORMERS_OFFLINE", "ML4LLM_OFFLINE"] {
            assert!(vars(&[("HOME", home), (v, "true")]).offline, "{v}");
        }
        assert!(!vars(&[("HOME", home), ("HF_HUB_OFFLINE", "0")]).offline);
        // the token file `huggingface-cli login` writes: $HF_HOME/token, or HF_TOKEN_PATH
        let hf_home = tmp.path().join("hf");
        std::fs::create_dir_all(&hf_home).unwrap();
        std::fs::write(hf_home.join("token"), "hf_from_file\n").unwrap();
        let s = vars(&[("HOME", home), ("HF_HOME", hf_home.to_str().unwrap())]);
        assert_eq!(s.token.as_deref(), Some("hf_from_file"));
        let s = vars(&[
            ("HOME", home),
            ("HF_HOME", hf_home.to_str().unwrap()),
            ("HF_TOKEN", "hf_env"),
        ]);
        assert_eq!(s.token.as_deref(), Some("hf_env"), "HF_TOKEN wins");
        let other = tmp.path().join("elsewhere");
        std::fs::write(&other, "hf_path").unwrap();
        let s = vars(&[("HOME", home), ("HF_TOKEN_PATH", other.to_str().unwrap())]);
        assert_eq!(s.token.as_deref(), Some("hf_path"));
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
        // an endpoint where nothing listens: offline must not ask it
        let s = HubSettings::new(tmp.path(), "http://127.0.0.1:9").offline(true);
        let files = s.resolve_model("org/m", None).unwrap();
        assert_eq!(files.weights, vec![snap.join("model.safetensors")]);
        assert_eq!(files.tokenizer, Some(snap.join("tokenizer.json")));
        assert!(
            files.cache_only,
            "offline resolution only looked in the cache"
        );

        let err = s.resolve_model("org/not-there", None).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("HF_HUB_OFFLINE") && msg.contains("org/not-there"),
            "{msg}"
        );
        // a ref written with a trailing newline still resolves
        std::fs::write(tmp.path().join("models--org--m/refs/main"), "abc123\n").unwrap();
        assert_eq!(
            s.cached_file("org/m", RepoKind::Model, None, "config.json"),
            Some(snap.join("config.json"))
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
        // shards the index lists but the folder lacks: named in the error
        let err = resolve_model(tmp.path().to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("m-1.safetensors, m-2.safetensors"), "{err}");
        for s in ["m-1.safetensors", "m-2.safetensors"] {
            std::fs::write(tmp.path().join(s), "x").unwrap();
        }
        let f = resolve_model(tmp.path().to_str().unwrap()).unwrap();
        assert_eq!(f.weights.len(), 2);
        assert!(!f.cache_only);
        assert!(resolve_model("./no/such/dir").is_err());
    }

    #[test]
    fn only_plain_relative_names_are_repo_paths() {
        for ok in [
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "20231101.en/train-00000-of-00041.parquet",
            "refs/convert/parquet",
            "a..b/c.d",
        ] {
            assert_eq!(repo_path_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("a/../../x", "'..'"),
            ("a/..", "'..'"),
            ("a\\b", "backslash"),
            ("a//b", "empty part"),
            ("a/", "empty part"),
            ("./a", "'.' part"),
            ("C:/x", "drive letter"),
            ("c:x", "drive letter"),
            ("a\0b", "NUL"),
        ] {
            let got = repo_path_problem(bad).unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(got.contains(why), "{bad:?}: {got}");
        }
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
        let s = HubSettings::new(tmp.path(), DEFAULT_ENDPOINT).offline(true);
        let id = "EleutherAI/pythia-70m";
        let snap = |c: &str| repo_dir.join("snapshots").join(c);
        let f_main = s.resolve_model(id, None).unwrap();
        let f_step = s.resolve_model(id, Some("step3000")).unwrap();
        let f_hash = s.resolve_model(id, Some(&step)).unwrap();
        let missing = s.resolve_model(id, Some("step1")).unwrap_err();
        assert_eq!(f_main.config, snap(&main).join("config.json"));
        assert_eq!(f_step.config, snap(&step).join("config.json"));
        assert_eq!(f_step.weights, vec![snap(&step).join("pytorch_model.bin")]);
        assert_eq!(f_hash.config, snap(&step).join("config.json"));
        let msg = format!("{missing:#}");
        assert!(msg.contains("at revision step1"), "{msg}");
        assert_eq!(
            s.hub_url(id, Some("step3000"), "config.json"),
            "https://huggingface.co/EleutherAI/pythia-70m/resolve/step3000/config.json"
        );
        assert_eq!(
            s.hub_url(id, None, "config.json"),
            "https://huggingface.co/EleutherAI/pythia-70m/resolve/main/config.json"
        );
        // a local directory has no revisions
        let local = snap(&main);
        let err = s
            .resolve_model(local.to_str().unwrap(), Some("step3000"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("local directory"), "{err}");
    }
}
