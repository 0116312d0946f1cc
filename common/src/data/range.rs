//! Parts of a big remote file, fetched with HTTP range requests and kept on disk.
//!
//! A project that reads the first few hundred articles of a 400 MB parquet shard, or the
//! first documents of a 300 MB `json.gz`, should not download the whole file. A `RangeFile`
//! holds, at the file's real offsets, a prefix `[0, head)` and a suffix `[tail_start, total)`
//! of the remote file (a parquet footer lives in the suffix) in a sparse local file of the
//! full length, with a sidecar `F.range.json` recording what is there. Bytes are written
//! first and checked (every range answer must be exactly as long as asked); the sidecar is
//! replaced atomically afterwards, so bytes it does not cover are never read. A sidecar that
//! disagrees with the file, or a remote file whose length changed, discards the partial copy.

use super::cache::{utc_now, write_atomic, DataCache};
use super::http;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the local copy holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RangeMeta {
    url: String,
    total: u64,
    head: u64,
    tail_start: u64,
    updated_at: String,
}

/// A partially fetched remote file (see the module docs).
#[derive(Debug)]
pub(crate) struct RangeFile {
    path: PathBuf,
    url: String,
    what: String,
    user_agent: String,
    offline: bool,
    meta: Option<RangeMeta>,
}

fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".range.json");
    PathBuf::from(s)
}

/// Parse `bytes a-b/total` (the total may not be `*` here).
fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.trim().strip_prefix("bytes")?.trim();
    let (ab, total) = v.split_once('/')?;
    let (a, b) = ab.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    ))
}

impl RangeFile {
    /// The partial copy of `url` at cache entry `rel` (nothing is fetched yet).
    pub fn open(cache: &DataCache, rel: &Path, url: &str, what: &str) -> Result<Self> {
        let path = cache.path(rel);
        let mut rf = Self {
            path,
            url: url.to_string(),
            what: what.to_string(),
            user_agent: cache.user_agent.clone(),
            offline: cache.offline,
            meta: None,
        };
        let meta: Option<RangeMeta> = std::fs::read(sidecar(&rf.path))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let file_len = std::fs::metadata(&rf.path).ok().map(|m| m.len());
        match meta {
            Some(m)
                if m.url == rf.url
                    && file_len == Some(m.total)
                    && m.head <= m.total
                    && m.tail_start <= m.total =>
            {
                rf.meta = Some(m)
            }
            Some(_) => {
                eprintln!(
                    "the partial copy of {} at {} is inconsistent: starting afresh",
                    rf.what,
                    rf.path.display()
                );
                rf.discard();
            }
            None if file_len.is_some() => rf.discard(),
            None => {}
        }
        Ok(rf)
    }

    /// The local file (sparse; only the ranges the sidecar records are real).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when nothing may be fetched (`HF_HUB_OFFLINE` / `ML4LLM_OFFLINE`).
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// The error for a damaged partial copy found while offline: the copy is kept (what
    /// reads of it still reads) and the message names it and says what to do.
    pub fn damaged_offline_error(&self, e: anyhow::Error) -> anyhow::Error {
        e.context(format!(
            "the partial copy of {} at {} is damaged, and offline mode is on (HF_HUB_OFFLINE or \
             ML4LLM_OFFLINE) so it was not fetched again: run once with network access (the \
             damaged copy is then deleted and fetched afresh by itself), or delete it and its \
             .range.json",
            self.what,
            self.path.display()
        ))
    }

    /// The remote file's length, once anything was fetched.
    pub fn total(&self) -> Option<u64> {
        self.meta.as_ref().map(|m| m.total)
    }

    /// True when every byte is here.
    pub fn complete(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.head >= m.tail_start)
    }

    /// Bytes from `pos` on that are here, up to which offset (`pos` itself when none).
    pub fn available_from(&self, pos: u64) -> u64 {
        match &self.meta {
            None => pos,
            Some(m) if m.head >= m.tail_start || pos >= m.tail_start => m.total,
            Some(m) if pos < m.head => m.head,
            Some(_) => pos,
        }
    }

    /// Delete the local copy and its sidecar.
    pub fn discard(&mut self) {
        let _ = std::fs::remove_file(sidecar(&self.path));
        let _ = std::fs::remove_file(&self.path);
        self.meta = None;
    }

    /// Make `[start, end)` available, growing the prefix when needed.
    pub fn ensure_range(&mut self, start: u64, end: u64) -> Result<()> {
        if let Some(m) = &self.meta {
            let end = end.min(m.total);
            if self.complete() || end <= m.head || start >= m.tail_start {
                return Ok(());
            }
        }
        self.ensure_head(end)
    }

    /// Make the prefix `[0, upto)` available (clamped to the file's length).
    pub fn ensure_head(&mut self, upto: u64) -> Result<()> {
        match &self.meta {
            Some(m) => {
                let upto = upto.min(m.total);
                if self.complete() || upto <= m.head {
                    return Ok(());
                }
                self.fetch(m.head, Some(upto))
            }
            None => self.fetch(0, Some(upto.max(1))),
        }
    }

    /// Make the last `n` bytes available.
    pub fn ensure_tail(&mut self, n: u64) -> Result<()> {
        match &self.meta {
            Some(m) => {
                let want = m.total.saturating_sub(n);
                if self.complete() || want >= m.tail_start {
                    return Ok(());
                }
                self.fetch(want, Some(m.tail_start))
            }
            None => self.fetch_range(&format!("bytes=-{}", n.max(1)), None),
        }
    }

    /// Fetch `[from, to)` (`to` = None: to the end).
    fn fetch(&mut self, from: u64, to: Option<u64>) -> Result<()> {
        let spec = match to {
            Some(t) => format!("bytes={from}-{}", t.max(from + 1) - 1),
            None => format!("bytes={from}-"),
        };
        self.fetch_range(&spec, Some(from))
    }

    fn offline_error(&self) -> anyhow::Error {
        match &self.meta {
            Some(m) => anyhow!(
                "{} is only partly cached ({} of {} bytes, at {}) and offline mode is on: \
                 run once with network access, or ask for less of it",
                self.what,
                m.head,
                m.total,
                self.path.display()
            ),
            None => anyhow!(
                "{} is not cached ({}) and offline mode is on (HF_HUB_OFFLINE or ML4LLM_OFFLINE): \
                 run once with network access; or download {} and place it in the Hugging Face \
                 cache (e.g. with `huggingface-cli download`)",
                self.what,
                self.path.display(),
                self.url
            ),
        }
    }

    fn fetch_range(&mut self, spec: &str, expect_from: Option<u64>) -> Result<()> {
        if self.offline {
            return Err(self.offline_error());
        }
        self.fetch_range_online(spec, expect_from).with_context(|| {
            format!(
                "fetching {spec} of {} from {} (check your network; what was fetched so far \
                 stays in {})",
                self.what,
                self.url,
                self.path.display()
            )
        })
    }

    fn fetch_range_online(&mut self, spec: &str, expect_from: Option<u64>) -> Result<()> {
        let resp = match http::agent(&self.url, &self.user_agent)
            .get(&self.url)
            .set("Range", spec)
            .call()
        {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                bail!("the server answered HTTP {code} {}", r.status_text())
            }
            Err(e) => return Err(anyhow!(e)).context("no response"),
        };
        let (from, len, total) = match resp.status() {
            206 => {
                let cr = resp
                    .header("content-range")
                    .and_then(parse_content_range)
                    .ok_or_else(|| {
                        anyhow!("a partial answer without a usable Content-Range header")
                    })?;
                if cr.1 < cr.0 || cr.1 >= cr.2 {
                    bail!("a nonsensical Content-Range ({}-{}/{})", cr.0, cr.1, cr.2);
                }
                if expect_from.is_some_and(|f| f != cr.0) {
                    bail!("asked for {spec} but the server sent bytes from {}", cr.0);
                }
                (cr.0, cr.1 - cr.0 + 1, cr.2)
            }
            200 => {
                // The server ignores ranges: this is the whole file.
                let n = http::content_length(&resp).ok_or_else(|| {
                    anyhow!("the server ignores range requests and gives no length")
                })?;
                eprintln!(
                    "the server sends all of {} ({n} bytes) instead of a part",
                    self.what
                );
                (0, n, n)
            }
            s => bail!("unexpected HTTP status {s} for a range request"),
        };
        if let Some(m) = &self.meta {
            if m.total != total {
                let old = m.total;
                self.discard();
                bail!(
                    "{} changed on the server ({old} bytes before, {total} now) since part of it was \
                     cached: the partial copy was deleted, run again",
                    self.what
                );
            }
        }
        if len > 8 << 20 {
            eprintln!("fetching {:.1} MB of {}", len as f64 / 1e6, self.what);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        if self.meta.is_none() {
            file.set_len(total)
                .with_context(|| format!("sizing {}", self.path.display()))?;
        }
        file.seek(SeekFrom::Start(from))?;
        let mut reader = resp.into_reader().take(len);
        let copied = std::io::copy(&mut reader, &mut file);
        let got = match copied {
            Ok(n) => n,
            Err(e) => bail!("the download was cut off ({e})"),
        };
        if got != len {
            bail!("incomplete download: {got} of {len} bytes arrived");
        }
        file.flush()?;
        file.sync_data()
            .with_context(|| format!("writing {} (is the disk full?)", self.path.display()))?;
        let mut m = self.meta.clone().unwrap_or(RangeMeta {
            url: self.url.clone(),
            total,
            head: 0,
            tail_start: total,
            updated_at: String::new(),
        });
        let end = from + len;
        if from <= m.head {
            m.head = m.head.max(end);
        }
        if end >= m.tail_start || end == total {
            m.tail_start = m.tail_start.min(from);
        }
        m.updated_at = utc_now();
        write_atomic(&sidecar(&self.path), &serde_json::to_vec_pretty(&m)?)?;
        self.meta = Some(m);
        Ok(())
    }
}

/// Sequential reads of a [`RangeFile`] from its start, fetching more as the reader goes:
/// chunks start at 1 MiB and double up to 32 MiB.
pub(crate) struct RangeReader {
    rf: RangeFile,
    file: Option<File>,
    pos: u64,
    chunk: u64,
    fetch_failed: Arc<AtomicBool>,
}

impl RangeReader {
    /// Read `rf` from offset 0.
    pub fn new(rf: RangeFile) -> Self {
        Self {
            rf,
            file: None,
            pos: 0,
            chunk: 1 << 20,
            fetch_failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that turns true when a fetch fails (network, offline): an error of whatever
    /// decodes the bytes is then not a sign of a damaged copy.
    pub fn fetch_failed_flag(&self) -> Arc<AtomicBool> {
        self.fetch_failed.clone()
    }
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let failed = self.fetch_failed.clone();
        let io = move |e: anyhow::Error| {
            failed.store(true, Ordering::SeqCst);
            std::io::Error::other(format!("{e:#}"))
        };
        if buf.is_empty() {
            return Ok(0);
        }
        if self.rf.total().is_none() {
            self.rf.ensure_head(self.chunk).map_err(&io)?;
        }
        let total = self.rf.total().unwrap_or(0);
        if self.pos >= total {
            return Ok(0);
        }
        if self.rf.available_from(self.pos) <= self.pos {
            self.rf
                .ensure_head((self.pos + self.chunk).min(total))
                .map_err(&io)?;
            self.chunk = (self.chunk * 2).min(32 << 20);
        }
        let avail = self.rf.available_from(self.pos).saturating_sub(self.pos);
        let n = (buf.len() as u64).min(avail) as usize;
        if n == 0 {
            return Err(std::io::Error::other("no bytes available after a fetch"));
        }
        if self.file.is_none() {
            self.file = Some(File::open(self.rf.path())?);
        }
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("file not open"))?;
        f.seek(SeekFrom::Start(self.pos))?;
        let got = f.read(&mut buf[..n])?;
        self.pos += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testserver::{Route, TestServer};

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn content_range_parsing() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(parse_content_range("bytes 5-9/*"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[test]
    fn head_and_tail_fetches_land_at_their_offsets() {
        let data = body(10_000);
        let srv = TestServer::start(vec![Route::ok("/f", data.clone()).ranges()]);
        let tmp = tempfile::tempdir().unwrap();
        let c = DataCache::isolated(tmp.path());
        let url = format!("{}/f", srv.base);
        let mut rf = RangeFile::open(&c, Path::new("p/f.bin"), &url, "test file").unwrap();
        rf.ensure_tail(100).unwrap();
        assert_eq!(rf.total(), Some(10_000));
        assert_eq!(rf.available_from(9_900), 10_000);
        assert_eq!(rf.available_from(0), 0);
        rf.ensure_range(0, 1_000).unwrap();
        rf.ensure_range(9_950, 10_000).unwrap(); // already there: no request
        assert_eq!(srv.hits("/f"), 2);
        assert_eq!(srv.bytes_sent("/f"), 1_100);
        let local = std::fs::read(rf.path()).unwrap();
        assert_eq!(local.len(), 10_000);
        assert_eq!(&local[..1_000], &data[..1_000]);
        assert_eq!(&local[9_900..], &data[9_900..]);

        // Reopened from disk, the sidecar says what is there; offline, more is an error.
        let mut off = c.clone();
        off.offline = true;
        let mut rf = RangeFile::open(&off, Path::new("p/f.bin"), &url, "test file").unwrap();
        rf.ensure_range(0, 1_000).unwrap();
        let e = rf.ensure_head(2_000).unwrap_err().to_string();
        assert!(
            e.contains("only partly cached") && e.contains("1000 of 10000"),
            "{e}"
        );

        // Reading it all through a RangeReader completes it.
        let mut r =
            RangeReader::new(RangeFile::open(&c, Path::new("p/f.bin"), &url, "test file").unwrap());
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
        assert!(RangeFile::open(&c, Path::new("p/f.bin"), &url, "test file")
            .unwrap()
            .complete());
    }

    #[test]
    fn a_short_range_answer_is_rejected_and_not_recorded() {
        let srv = TestServer::start(vec![Route::ok("/f", body(5_000)).ranges().cut_at(10)]);
        let tmp = tempfile::tempdir().unwrap();
        let c = DataCache::isolated(tmp.path());
        let url = format!("{}/f", srv.base);
        let mut rf = RangeFile::open(&c, Path::new("f.bin"), &url, "test file").unwrap();
        let e = format!("{:#}", rf.ensure_head(1_000).unwrap_err());
        assert!(e.contains("cut off") || e.contains("incomplete"), "{e}");
        assert!(rf.total().is_none());
        assert!(!sidecar(rf.path()).exists());
    }

    #[test]
    fn a_server_without_ranges_gives_the_whole_file() {
        let data = body(3_000);
        let srv = TestServer::start(vec![Route::ok("/f", data.clone())]);
        let tmp = tempfile::tempdir().unwrap();
        let c = DataCache::isolated(tmp.path());
        let mut rf =
            RangeFile::open(&c, Path::new("f.bin"), &format!("{}/f", srv.base), "x").unwrap();
        rf.ensure_tail(10).unwrap();
        assert!(rf.complete());
        assert_eq!(std::fs::read(rf.path()).unwrap(), data);
    }

    #[test]
    fn a_changed_remote_file_discards_the_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let c = DataCache::isolated(tmp.path());
        let srv = TestServer::start(vec![Route::ok("/f", body(2_000)).ranges()]);
        let url = format!("{}/f", srv.base);
        let mut rf = RangeFile::open(&c, Path::new("f.bin"), &url, "x").unwrap();
        rf.ensure_head(100).unwrap();
        drop(srv);
        // The same URL (same port is not guaranteed, so rewrite the sidecar's total instead).
        let mut m: RangeMeta =
            serde_json::from_slice(&std::fs::read(sidecar(rf.path())).unwrap()).unwrap();
        let srv = TestServer::start(vec![Route::ok("/f", body(3_000)).ranges()]);
        let url2 = format!("{}/f", srv.base);
        m.url = url2.clone();
        std::fs::write(sidecar(rf.path()), serde_json::to_vec(&m).unwrap()).unwrap();
        let mut rf = RangeFile::open(&c, Path::new("f.bin"), &url2, "x").unwrap();
        let e = format!("{:#}", rf.ensure_head(500).unwrap_err());
        assert!(e.contains("changed on the server"), "{e}");
        assert!(!rf.path().exists());
    }
}
