//! The data cache: where downloaded texts live, offline mode, and atomic, checked writes.
//!
//! Layout under the cache root (`ML4LLM_CACHE`, default `~/.cache/ml4llm-rs`):
//!
//! ```text
//! gutenberg/pg{id}.txt                 a Gutenberg book, bytes exactly as served
//! wikipedia/{host}/{Title}.txt         a MediaWiki plain-text extract
//! web/{host}/{path}-{hash}.body        a web page or file, bytes as served
//! wordlists/{file}                     downloaded word lists
//! hf-partial/{repo}/{rev}/{file}       the parts of a big hub file read so far (see `range`)
//! ```
//!
//! Each downloaded file `F` has a sidecar `F.meta.json` (source URL, time, byte count, HTTP
//! status and content type). A file is written to a temporary file in the same folder and
//! renamed into place only once its length has been checked, so an interrupted download
//! never takes the final name; a file whose length disagrees with its sidecar is deleted and
//! fetched again. A file placed by hand (no sidecar) is used as it is: that is how a
//! learner without network, or a test, provides data.
//!
//! Whole hub files (parquet shards) live in the Hugging Face cache through [`crate::hub`].

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The User-Agent sent by default. Wikimedia asks API clients to identify themselves.
pub const DEFAULT_USER_AGENT: &str =
    "ml4llm-rs/0.1 (Rust companion to the book '50 ML projects to understand LLMs'; data loader)";

/// Where data comes from and goes to. [`DataCache::from_env`] is what the free functions of
/// [`crate::data`] use; tests build one with [`DataCache::isolated`] on a temporary folder,
/// with local endpoints.
#[derive(Debug, Clone)]
pub struct DataCache {
    /// Root folder of the cache.
    pub root: PathBuf,
    /// `None`: hub files go through [`crate::hub`] (the Hugging Face cache, downloads unless
    /// offline). `Some(dir)`: a Hugging Face-layout cache at `dir`, read only (no downloads),
    /// for tests and for files placed by hand.
    pub hub_cache: Option<PathBuf>,
    /// Never touch the network; only cached items load.
    pub offline: bool,
    /// Gutenberg plain-text URL, with `{id}` standing for the book number.
    pub gutenberg_url: String,
    /// The English Wikipedia MediaWiki API endpoint (`.../w/api.php`).
    pub wikipedia_api: String,
    /// The Hugging Face hub endpoint, used for partial (HTTP range) reads of big shards.
    pub hf_endpoint: String,
    /// Base URL of the word lists of project 44 (`.../top-english-wordlists/.../master`).
    pub wordlist_base: String,
    /// The User-Agent of every request (a page may ask for another one, see [`crate::data::web`]).
    pub user_agent: String,
}

/// True for `1`, `true`, `yes`, `on` (any case).
fn truthy(v: Option<String>) -> bool {
    matches!(
        v.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

impl DataCache {
    /// The cache as the environment sets it:
    /// - `ML4LLM_CACHE`: cache root (default `~/.cache/ml4llm-rs`);
    /// - `HF_HUB_OFFLINE=1` or `ML4LLM_OFFLINE=1`: offline;
    /// - `HF_ENDPOINT`: hub endpoint (default `https://huggingface.co`).
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// [`DataCache::from_env`] with the variables read through `var` (testable without
    /// touching the process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let root = match var("ML4LLM_CACHE").filter(|s| !s.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => {
                let home = var("HOME")
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| ".".into());
                PathBuf::from(home).join(".cache").join("ml4llm-rs")
            }
        };
        let mut c = Self::at(root);
        c.offline = truthy(var("HF_HUB_OFFLINE")) || truthy(var("ML4LLM_OFFLINE"));
        if let Some(e) = var("HF_ENDPOINT").filter(|s| !s.is_empty()) {
            c.hf_endpoint = e.trim_end_matches('/').to_string();
        }
        c
    }

    /// A cache rooted at `root`: online, the real endpoints, hub files through
    /// [`crate::hub`] (the Hugging Face cache the environment names).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            hub_cache: None,
            offline: false,
            gutenberg_url: "https://www.gutenberg.org/cache/epub/{id}/pg{id}.txt".into(),
            wikipedia_api: "https://en.wikipedia.org/w/api.php".into(),
            hf_endpoint: "https://huggingface.co".into(),
            wordlist_base:
                "https://raw.githubusercontent.com/david47k/top-english-wordlists/refs/heads/master"
                    .into(),
            user_agent: DEFAULT_USER_AGENT.into(),
        }
    }

    /// A cache that keeps everything under `root`: like [`DataCache::at`], but its Hugging
    /// Face cache is `root/hub`, read only (nothing is downloaded into it) and independent
    /// of the environment. This is what tests use, with pre-placed files and local
    /// endpoints.
    pub fn isolated(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let mut c = Self::at(root.clone());
        c.hub_cache = Some(root.join("hub"));
        c
    }

    /// Absolute path of a cache entry.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// The cached file for `rel` if it is there and complete. A file whose sidecar records
    /// another length is a broken download: it is deleted (with a message) and `None` returned.
    pub(crate) fn cached(&self, rel: &Path) -> Option<PathBuf> {
        let path = self.path(rel);
        let len = std::fs::metadata(&path).ok().filter(|m| m.is_file())?.len();
        if let Some(meta) = Meta::read(&path) {
            if meta.bytes != len {
                eprintln!(
                    "{} holds {len} bytes but its download had {}: deleting it and fetching it again",
                    path.display(),
                    meta.bytes
                );
                let _ = std::fs::remove_file(&path);
                let _ = std::fs::remove_file(Meta::path_for(&path));
                return None;
            }
        }
        Some(path)
    }

    /// The cached file for `rel`, or the error to give when it is missing and we are offline
    /// or the download failed: it names the item, the URL and where to put a copy.
    pub(crate) fn missing(
        &self,
        what: &str,
        url: &str,
        rel: &Path,
        cause: Option<anyhow::Error>,
    ) -> anyhow::Error {
        let path = self.path(rel);
        match cause {
            None => anyhow::anyhow!(
                "{what} is not in the data cache ({}) and offline mode is on (HF_HUB_OFFLINE or \
                 ML4LLM_OFFLINE): run once with network access, or download {url} yourself and \
                 save it as that file",
                path.display()
            ),
            Some(e) => anyhow::anyhow!(
                "could not download {what} from {url}: {e:#}. Check your network, or download it \
                 yourself and save it as {} (ML4LLM_CACHE moves the cache folder)",
                path.display()
            ),
        }
    }

    /// Write `bytes` to the cache entry `rel` atomically (temporary file in the same folder,
    /// then rename), with its sidecar. Returns the final path.
    pub(crate) fn store(&self, rel: &Path, bytes: &[u8], mut meta: Meta) -> Result<PathBuf> {
        let path = self.path(rel);
        meta.bytes = bytes.len() as u64;
        write_atomic(&path, bytes)?;
        let json = serde_json::to_vec_pretty(&meta).context("serialising a cache sidecar")?;
        write_atomic(&Meta::path_for(&path), &json)?;
        Ok(path)
    }
}

/// One downloadable cache entry.
pub(crate) struct Fetch<'a> {
    /// What it is, for messages ("Gutenberg book 84 (Frankenstein)").
    pub what: &'a str,
    /// Where it comes from.
    pub url: &'a str,
    /// Where it goes, relative to the cache root.
    pub rel: &'a Path,
    /// A User-Agent other than the cache's.
    pub user_agent: Option<&'a str>,
    /// Keep the body of a 4xx/5xx response instead of failing.
    pub allow_error_status: bool,
}

impl DataCache {
    /// The cache entry `f.rel`: from the cache, else downloaded (unless offline), checked and
    /// stored as served.
    pub(crate) fn fetch(&self, f: &Fetch) -> Result<PathBuf> {
        self.fetch_with(f, |body| Ok((body.bytes, None)))
    }

    /// Like [`DataCache::fetch`], storing `transform(body)` (bytes and a note for the
    /// sidecar) instead of the raw body. Errors of `transform` are passed on as they are.
    pub(crate) fn fetch_with(
        &self,
        f: &Fetch,
        transform: impl FnOnce(super::http::Body) -> Result<(Vec<u8>, Option<String>)>,
    ) -> Result<PathBuf> {
        not_a_file(&self.path(f.rel))?;
        if let Some(p) = self.cached(f.rel) {
            return Ok(p);
        }
        ensure_online(self, f.what, f.url, f.rel)?;
        let ua = f.user_agent.unwrap_or(&self.user_agent);
        let body = super::http::get(f.url, ua, f.allow_error_status)
            .map_err(|e| self.missing(f.what, f.url, f.rel, Some(e)))?;
        let mut meta = Meta::now(f.url, body.status, body.content_type.clone());
        let (bytes, note) = transform(body)?;
        meta.note = note;
        self.store(f.rel, &bytes, meta)
    }
}

/// Write a file atomically: a temporary file next to it, synced, then renamed over it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a cache path has no parent folder")?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the cache folder {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "creating a temporary file in {} (is it writable?)",
            dir.display()
        )
    })?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| {
            format!(
                "writing a temporary file in {} (is the disk full?)",
                dir.display()
            )
        })?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("moving a download into place as {}", path.display()))?;
    Ok(())
}

/// The sidecar of a cached download.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// Where it came from.
    pub url: String,
    /// When, as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fetched_at: String,
    /// Length of the cached file in bytes.
    pub bytes: u64,
    /// HTTP status of the response.
    pub status: u16,
    /// The `Content-Type` header, if any.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Anything else worth keeping (e.g. a Wikipedia revision id).
    #[serde(default)]
    pub note: Option<String>,
}

impl Meta {
    /// A sidecar for a download of `url` made now.
    pub fn now(url: &str, status: u16, content_type: Option<String>) -> Self {
        Self {
            url: url.to_string(),
            fetched_at: utc_now(),
            bytes: 0,
            status,
            content_type,
            note: None,
        }
    }
    /// `F.meta.json` for the file `F`.
    pub fn path_for(path: &Path) -> PathBuf {
        let mut s = path.as_os_str().to_os_string();
        s.push(".meta.json");
        PathBuf::from(s)
    }
    /// The sidecar of `path`, if there is a readable one.
    pub fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read(Self::path_for(path)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_string(secs)
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
pub fn utc_string(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A file-name-safe form of `s`: ASCII letters, digits and `-_.,()` kept, anything else
/// written as `%XX` bytes; never empty, never `.`/`..`.
pub fn safe_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.,()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        out = format!("_{out}");
    }
    // Keep file names within common file-system limits.
    if out.len() > 150 {
        let h = fnv1a(s.as_bytes());
        out.truncate(130);
        out.push_str(&format!("-{h:016x}"));
    }
    out
}

/// FNV-1a, a small hash that is stable across Rust versions (cache keys must not change).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Fail with a clear message when asked to go online in offline mode.
pub(crate) fn ensure_online(cache: &DataCache, what: &str, url: &str, rel: &Path) -> Result<()> {
    if cache.offline {
        return Err(cache.missing(what, url, rel, None));
    }
    Ok(())
}

/// `bail!` helper for a cache path that exists but is not a file.
pub(crate) fn not_a_file(path: &Path) -> Result<()> {
    if path.exists() && !path.is_file() {
        bail!(
            "{} is in the way of a cache file (it is not a file): remove it",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn env_sets_root_offline_and_endpoint() {
        let vars: HashMap<&str, &str> = [
            ("HOME", "/home/u"),
            ("ML4LLM_OFFLINE", "1"),
            ("HF_ENDPOINT", "http://mirror/"),
        ]
        .into();
        let c = DataCache::from_vars(|k| vars.get(k).map(|s| s.to_string()));
        assert_eq!(c.root, PathBuf::from("/home/u/.cache/ml4llm-rs"));
        assert!(c.offline && c.hub_cache.is_none());
        assert_eq!(c.hf_endpoint, "http://mirror");

        let vars: HashMap<&str, &str> =
            [("ML4LLM_CACHE", "/tmp/c"), ("HF_HUB_OFFLINE", "0")].into();
        let c = DataCache::from_vars(|k| vars.get(k).map(|s| s.to_string()));
        assert_eq!(c.root, PathBuf::from("/tmp/c"));
        assert!(!c.offline);
        let vars: HashMap<&str, &str> = [("HF_HUB_OFFLINE", "TRUE")].into();
        assert!(DataCache::from_vars(|k| vars.get(k).map(|s| s.to_string())).offline);
    }

    #[test]
    fn utc_strings_and_safe_names() {
        assert_eq!(utc_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_string(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(utc_string(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(safe_name("Pulcinella (ballet)"), "Pulcinella%20(ballet)");
        assert_eq!(safe_name("AC/DC"), "AC%2FDC");
        assert_eq!(safe_name(".."), "_..");
        assert!(safe_name(&"x".repeat(400)).len() < 160);
    }

    #[test]
    fn store_is_atomic_and_a_length_mismatch_is_a_miss() {
        let tmp = tempfile::tempdir().unwrap();
        let c = DataCache::isolated(tmp.path());
        let rel = Path::new("a/b.txt");
        assert!(c.cached(rel).is_none());
        let p = c
            .store(rel, b"hello", Meta::now("http://x", 200, None))
            .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
        assert_eq!(Meta::read(&p).unwrap().bytes, 5);
        assert_eq!(c.cached(rel), Some(p.clone()));
        // Only the file and its sidecar: no temporary file left behind.
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 2);
        // A truncated file is detected and removed.
        std::fs::write(&p, b"hel").unwrap();
        assert!(c.cached(rel).is_none());
        assert!(!p.exists());
        // A file placed by hand (no sidecar) is used as it is.
        std::fs::write(&p, b"by hand").unwrap();
        assert_eq!(c.cached(rel), Some(p));
    }

    #[test]
    fn offline_error_names_item_url_and_path() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.offline = true;
        let e = ensure_online(
            &c,
            "Gutenberg book 84",
            "http://u/pg84.txt",
            Path::new("gutenberg/pg84.txt"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("Gutenberg book 84") && e.contains("http://u/pg84.txt"),
            "{e}"
        );
        assert!(e.contains("pg84.txt") && e.contains("offline"), "{e}");
    }
}
