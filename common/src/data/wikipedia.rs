//! Wikipedia (and other MediaWiki sites') pages as plain text.
//!
//! The text is the MediaWiki "TextExtracts" plain-text extract — what Python's `wikipedia`
//! package returns as `.content`, with section headings written `== Heading ==`:
//! `{api}?action=query&prop=extracts|info&explaintext=1&redirects=1&format=json&formatversion=2&titles=...`.
//! It is cached as `wikipedia/{host}/{Title}.txt` (the page's revision id goes in the
//! sidecar): pages change, so the first fetch is the snapshot later runs reuse. Delete
//! the file to take a fresh one.

use super::cache::{safe_name, DataCache, Fetch};
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

/// `s` percent-encoded for a query string (everything but `A-Za-z0-9-_.~`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The API URL that returns the plain-text extract of `title`.
pub fn extract_url(api: &str, title: &str) -> String {
    format!(
        "{api}?action=query&prop=extracts%7Cinfo&explaintext=1&redirects=1&format=json&formatversion=2&titles={}",
        percent_encode(title)
    )
}

/// The host of a URL (`en.wikipedia.org`), for cache folder names.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?', ':'])
        .next()
        .filter(|h| !h.is_empty())
        .unwrap_or("unknown-host")
}

/// A parsed extract: the page's canonical title, its text and its revision id.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    /// The title the API resolved to (after normalisation and redirects).
    pub title: String,
    /// The plain text.
    pub text: String,
    /// The revision the text comes from.
    pub revision: Option<u64>,
}

/// Parse an API answer (format=json, formatversion=2) for one title. A missing or invalid
/// page, or an API error, is an error that names `title`.
pub fn parse_extract(json: &[u8], title: &str) -> Result<Extract> {
    let v: serde_json::Value = serde_json::from_slice(json)
        .with_context(|| format!("the MediaWiki API answer for {title:?} is not JSON"))?;
    if let Some(err) = v.get("error") {
        bail!(
            "the MediaWiki API refused the request for {title:?}: {} ({})",
            err.get("info")
                .and_then(|s| s.as_str())
                .unwrap_or("no details"),
            err.get("code").and_then(|s| s.as_str()).unwrap_or("?")
        );
    }
    let page = v
        .pointer("/query/pages/0")
        .ok_or_else(|| anyhow!("the MediaWiki API answer for {title:?} has no page in it"))?;
    let flag = |k: &str| page.get(k).is_some_and(|x| x.as_bool() != Some(false));
    if flag("missing") {
        bail!(
            "there is no page titled {title:?} (check the spelling; after the first letter, \
             titles are case-sensitive)"
        );
    }
    if flag("invalid") {
        bail!(
            "{title:?} is not a valid page title: {}",
            page.get("invalidreason")
                .and_then(|s| s.as_str())
                .unwrap_or("no reason given")
        );
    }
    let text = page.get("extract").and_then(|s| s.as_str()).unwrap_or("");
    if text.trim().is_empty() {
        bail!("the page {title:?} exists but its plain-text extract is empty (a special page?)");
    }
    Ok(Extract {
        title: page
            .get("title")
            .and_then(|s| s.as_str())
            .unwrap_or(title)
            .to_string(),
        text: text.to_string(),
        revision: page.get("lastrevid").and_then(|r| r.as_u64()),
    })
}

impl DataCache {
    /// The plain text of the English Wikipedia page `title` (spaces or underscores, e.g.
    /// `Turkish_coffee`; redirects followed). Cached after the first fetch.
    pub fn wikipedia_text(&self, title: &str) -> Result<String> {
        let api = self.wikipedia_api.clone();
        self.mediawiki_text(&api, title)
    }

    /// The plain text of page `title` of any MediaWiki site with the TextExtracts extension,
    /// given its API endpoint (e.g. `https://en.wikiquote.org/w/api.php`).
    pub fn mediawiki_text(&self, api: &str, title: &str) -> Result<String> {
        let title = title.trim();
        if title.is_empty() {
            bail!("empty page title");
        }
        let key = title.replace(' ', "_");
        let host = host_of(api).to_string();
        let rel = PathBuf::from("wikipedia")
            .join(safe_name(&host))
            .join(format!("{}.txt", safe_name(&key)));
        let url = extract_url(api, &key);
        let what = format!("the page {title:?} of {host}");
        let path = self.fetch_with(
            &Fetch {
                what: &what,
                url: &url,
                rel: &rel,
                user_agent: None,
                allow_error_status: false,
            },
            |body| {
                let ex = parse_extract(&body.bytes, title)?;
                let note = format!(
                    "title: {}; revision: {}",
                    ex.title,
                    ex.revision.map_or("unknown".into(), |r| r.to_string())
                );
                Ok((ex.text.into_bytes(), Some(note)))
            },
        )?;
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (not UTF-8?)", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testserver::{Route, TestServer};

    const FOUND: &str = r#"{"batchcomplete":true,"query":{"normalized":[{"fromencoded":false,"from":"Kettle_drums","to":"Kettle drums"}],"redirects":[{"from":"Kettle drums","to":"Timpani"}],"pages":[{"pageid":7,"ns":0,"title":"Timpani","lastrevid":1234,"extract":"Timpani are drums.\n\n== History ==\nLong ago."}]}}"#;
    const MISSING: &str = r#"{"batchcomplete":true,"query":{"pages":[{"ns":0,"title":"Xyzzy plover","missing":true}]}}"#;

    #[test]
    fn parses_extracts_and_errors() {
        let ex = parse_extract(FOUND.as_bytes(), "Kettle_drums").unwrap();
        assert_eq!(ex.title, "Timpani");
        assert_eq!(ex.revision, Some(1234));
        assert!(ex.text.contains("== History =="));
        let e = parse_extract(MISSING.as_bytes(), "Xyzzy plover")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no page titled \"Xyzzy plover\""), "{e}");
        let e = parse_extract(br#"{"error":{"code":"badvalue","info":"bad"}}"#, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("badvalue"), "{e}");
        let invalid =
            br#"{"query":{"pages":[{"title":"a<b","invalidreason":"bad char","invalid":true}]}}"#;
        assert!(parse_extract(invalid, "a<b")
            .unwrap_err()
            .to_string()
            .contains("bad char"));
        assert!(parse_extract(b"<html>", "x").is_err());
    }

    #[test]
    fn urls_encode_titles() {
        let u = extract_url("https://en.wikipedia.org/w/api.php", "Pulcinella_(ballet)");
        assert!(u.ends_with("titles=Pulcinella_%28ballet%29"), "{u}");
        assert!(
            u.contains("prop=extracts%7Cinfo")
                && u.contains("explaintext=1")
                && u.contains("redirects=1")
        );
        assert_eq!(percent_encode("Café au lait"), "Caf%C3%A9%20au%20lait");
        assert_eq!(
            host_of("https://en.wikiquote.org/w/api.php"),
            "en.wikiquote.org"
        );
    }

    #[test]
    fn fetches_caches_and_reports_missing_pages() {
        let srv = TestServer::start(vec![
            Route::ok("/w/api.php", FOUND).query("titles=Kettle_drums"),
            Route::ok("/w/api.php", MISSING).query("titles=Xyzzy_plover"),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.wikipedia_api = format!("{}/w/api.php", srv.base);
        let t = c.wikipedia_text("Kettle drums").unwrap();
        assert!(t.starts_with("Timpani are drums."));
        assert_eq!(c.wikipedia_text("Kettle_drums").unwrap(), t);
        assert_eq!(srv.hits("/w/api.php"), 1);
        let e = format!("{:#}", c.wikipedia_text("Xyzzy plover").unwrap_err());
        assert!(e.contains("no page titled"), "{e}");
        // The cached page works offline; an uncached one is a clear error.
        c.offline = true;
        assert_eq!(c.wikipedia_text("Kettle drums").unwrap(), t);
        let e = format!("{:#}", c.wikipedia_text("Coconut").unwrap_err());
        assert!(e.contains("\"Coconut\"") && e.contains("offline"), "{e}");
        let file = tmp.path().join("wikipedia/127.0.0.1/Kettle_drums.txt");
        let meta = crate::data::cache::Meta::read(&file).unwrap();
        assert!(meta.note.unwrap().contains("revision: 1234"));
    }
}
