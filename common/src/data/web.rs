//! Any other web resource a spec names: raw HTML pages (project 5's eleven sites, the
//! gutenberg.org home page of project 28) and files such as project 29's image.
//!
//! Pages are cached as `web/{host}/{path}-{hash}.page`, files as `...file`, bytes as served
//! (gzip transfer encoding undone), with the fetch time and HTTP status in the sidecar:
//! live pages change, so the first fetch is the snapshot later runs measure. Delete the
//! file to take a fresh one.

use super::cache::{fnv1a, safe_name, DataCache, Fetch, Meta};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// A browser-like User-Agent, for servers that turn scripts away (project 29's image).
pub const BROWSER_USER_AGENT: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";

/// A fetched page, decoded.
#[derive(Debug, Clone)]
pub struct WebPage {
    /// The URL asked for.
    pub url: String,
    /// The HTTP status of the response (4xx/5xx bodies are kept, as Python `requests`
    /// does); `None` for a page placed in the cache by hand.
    pub status: Option<u16>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The charset the body was decoded with (`utf-8`, `iso-8859-1`, `windows-1252`).
    pub charset: String,
    /// How the charset was chosen, when it was not simply the declared one.
    pub charset_note: Option<String>,
    /// The decoded body.
    pub text: String,
    /// When it was fetched (`YYYY-MM-DDTHH:MM:SSZ`); `None` for a page placed by hand.
    pub fetched_at: Option<String>,
    /// The body's length in bytes, as served.
    pub bytes: usize,
}

fn rel_for(url: &str, kind: &str) -> PathBuf {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stem = safe_name(path.trim_end_matches('/'));
    stem.truncate(80);
    let stem = if path.trim_end_matches('/').is_empty() {
        "index".to_string()
    } else {
        stem
    };
    PathBuf::from("web").join(safe_name(host)).join(format!(
        "{stem}-{:08x}.{kind}",
        fnv1a(url.as_bytes()) as u32
    ))
}

/// The `charset` parameter of a `Content-Type` value, lower-cased.
fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("charset"))
            .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    })
}

/// The characters of windows-1252 bytes 0x80..=0x9F (U+FFFD where it has none).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{FFFD}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{FFFD}', '\u{017D}', '\u{FFFD}',
    '\u{FFFD}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{FFFD}', '\u{017E}', '\u{0178}',
];

/// Decode a body with the charset of its `Content-Type`, falling back to UTF-8 (invalid
/// bytes become U+FFFD). Returns the text, the charset used and a note on how it was
/// chosen when it was not simply the declared one. Note: Python `requests` would use
/// ISO-8859-1 for a `text/*` type without a charset; the specs ask for UTF-8.
pub fn decode_body(bytes: &[u8], content_type: Option<&str>) -> (String, String, Option<String>) {
    let utf8 = || String::from_utf8_lossy(bytes).into_owned();
    let declared = content_type.and_then(charset_of);
    match declared.as_deref() {
        Some("utf-8" | "utf8") => (utf8(), "utf-8".into(), None),
        Some("iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "us-ascii" | "ascii") => (
            bytes.iter().map(|&b| b as char).collect(),
            "iso-8859-1".into(),
            None,
        ),
        Some("windows-1252" | "cp1252") => {
            let text = bytes
                .iter()
                .map(|&b| {
                    if (0x80..0xA0).contains(&b) {
                        CP1252_HIGH[(b - 0x80) as usize]
                    } else {
                        b as char
                    }
                })
                .collect();
            (text, "windows-1252".into(), None)
        }
        Some(other) => (
            utf8(),
            "utf-8".into(),
            Some(format!(
                "declared charset {other:?} is not supported: decoded as UTF-8"
            )),
        ),
        None => {
            let note = if content_type
                .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/"))
            {
                "no charset declared: decoded as UTF-8 (Python requests would use ISO-8859-1)"
            } else {
                "no charset declared: decoded as UTF-8"
            };
            (utf8(), "utf-8".into(), Some(note.into()))
        }
    }
}

impl DataCache {
    /// The page at `url`, fetched once (plain GET, redirects followed, 4xx/5xx bodies kept)
    /// and cached; decoded with [`decode_body`].
    pub fn web_page(&self, url: &str) -> Result<WebPage> {
        self.web_page_with(url, None)
    }

    /// [`DataCache::web_page`] with another User-Agent.
    pub fn web_page_with(&self, url: &str, user_agent: Option<&str>) -> Result<WebPage> {
        let rel = rel_for(url, "page");
        let what = format!("the web page {url}");
        let path = self.fetch(&Fetch {
            what: &what,
            url,
            rel: &rel,
            user_agent,
            allow_error_status: true,
        })?;
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let meta = Meta::read(&path);
        let content_type = meta.as_ref().and_then(|m| m.content_type.clone());
        let (text, charset, charset_note) = decode_body(&bytes, content_type.as_deref());
        Ok(WebPage {
            url: url.to_string(),
            status: meta.as_ref().map(|m| m.status),
            content_type,
            charset,
            charset_note,
            text,
            fetched_at: meta.map(|m| m.fetched_at),
            bytes: bytes.len(),
        })
    }

    /// The file at `url` (an image, a word list ...), fetched once and cached; a 4xx/5xx
    /// answer is an error. Returns its path in the cache.
    pub fn web_file(&self, url: &str, user_agent: Option<&str>) -> Result<PathBuf> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("{url:?} is not an http(s) URL");
        }
        let rel = rel_for(url, "file");
        let what = format!("the file {url}");
        self.fetch(&Fetch {
            what: &what,
            url,
            rel: &rel,
            user_agent,
            allow_error_status: false,
        })
    }

    /// The bytes of [`DataCache::web_file`].
    pub fn web_bytes(&self, url: &str, user_agent: Option<&str>) -> Result<Vec<u8>> {
        let path = self.web_file(url, user_agent)?;
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testserver::{Route, TestServer};

    #[test]
    fn decodes_with_the_declared_charset() {
        let (t, cs, note) = decode_body("café".as_bytes(), Some("text/html; charset=UTF-8"));
        assert_eq!((t.as_str(), cs.as_str(), note), ("café", "utf-8", None));
        let (t, cs, _) = decode_body(b"caf\xe9", Some("text/html; charset=\"ISO-8859-1\""));
        assert_eq!((t.as_str(), cs.as_str()), ("café", "iso-8859-1"));
        let (t, cs, _) = decode_body(b"\x93hi\x94 \x80", Some("text/plain;charset=windows-1252"));
        assert_eq!(
            (t.as_str(), cs.as_str()),
            ("\u{201C}hi\u{201D} €", "windows-1252")
        );
        let (t, cs, note) = decode_body(b"ok\xff", Some("text/html"));
        assert_eq!((t.as_str(), cs.as_str()), ("ok\u{fffd}", "utf-8"));
        assert!(note.unwrap().contains("ISO-8859-1"));
        let (_, _, note) = decode_body(b"x", Some("text/html; charset=shift_jis"));
        assert!(note.unwrap().contains("shift_jis"));
    }

    #[test]
    fn cache_names_are_stable_and_distinct() {
        let a = rel_for("https://python.org/", "page");
        assert!(a.starts_with("web/python.org"));
        assert!(a.to_string_lossy().contains("index-"));
        assert_ne!(a, rel_for("https://python.org/about", "page"));
        assert_eq!(a, rel_for("https://python.org/", "page"));
        assert_ne!(a, rel_for("https://python.org/", "file"));
    }

    #[test]
    fn pages_keep_error_bodies_files_do_not() {
        let html = "<html><body>Are you a robot?</body></html>";
        let srv = TestServer::start(vec![
            Route::ok("/challenge", html)
                .status(403)
                .header("Content-Type", "text/html; charset=utf-8"),
            Route::ok("/img.jpg", vec![0xFFu8, 0xD8, 0xFF, 0xE0])
                .header("Content-Type", "image/jpeg"),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        let page = c.web_page(&format!("{}/challenge", srv.base)).unwrap();
        assert_eq!(page.status, Some(403));
        assert_eq!(page.text, html);
        assert_eq!(page.charset, "utf-8");
        assert!(page.fetched_at.as_deref().is_some_and(|t| t.ends_with('Z')));
        let e = format!(
            "{:#}",
            c.web_file(&format!("{}/challenge", srv.base), None)
                .unwrap_err()
        );
        assert!(e.contains("403"), "{e}");
        let img = c
            .web_bytes(&format!("{}/img.jpg", srv.base), Some(BROWSER_USER_AGENT))
            .unwrap();
        assert_eq!(img, [0xFF, 0xD8, 0xFF, 0xE0]);
        c.offline = true;
        assert_eq!(
            c.web_page(&format!("{}/challenge", srv.base)).unwrap().text,
            html
        );
        assert!(c.web_page(&format!("{}/other", srv.base)).is_err());
        assert!(c.web_file("ftp://x/y", None).is_err());
    }
}
