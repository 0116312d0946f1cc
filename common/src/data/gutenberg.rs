//! Project Gutenberg books by number: the file as served, or its text between the licence
//! blocks.
//!
//! Source: `https://www.gutenberg.org/cache/epub/{id}/pg{id}.txt` (redirects followed),
//! cached as `gutenberg/pg{id}.txt`, byte for byte.

use super::cache::{DataCache, Fetch};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// The ten books of chapter 2 (projects 2, 3, 5, 7, 20), in the book's order, with the
/// labels its tables and plots use. Projects 24, 25 and 34 use 64317, projects 28 and 37
/// use 11.
pub const BOOKS: &[(u32, &str)] = &[
    (84, "Frankenstein"),
    (64317, "GreatGatsby"),
    (11, "AliceWonderland"),
    (1513, "RomeoJuliet"),
    (76, "HuckFinn"),
    (219, "HeartDarkness"),
    (2591, "GrimmsTales"),
    (2148, "EdgarAllenPoe"),
    (36, "WarOfTheWorlds"),
    (829, "GulliversTravels"),
];

/// The label of a book of [`BOOKS`], or `None` for another number.
pub fn book_label(id: u32) -> Option<&'static str> {
    BOOKS.iter().find(|(i, _)| *i == id).map(|(_, l)| *l)
}

fn describe(id: u32) -> String {
    match book_label(id) {
        Some(l) => format!("Gutenberg book {id} ({l})"),
        None => format!("Gutenberg book {id}"),
    }
}

impl DataCache {
    /// The cached file of book `id` (downloaded first if needed): the bytes as served.
    pub fn gutenberg_file(&self, id: u32) -> Result<PathBuf> {
        let url = self.gutenberg_url.replace("{id}", &id.to_string());
        let rel = PathBuf::from("gutenberg").join(format!("pg{id}.txt"));
        let what = describe(id);
        self.fetch(&Fetch {
            what: &what,
            url: &url,
            rel: &rel,
            user_agent: None,
            allow_error_status: false,
        })
    }

    /// Book `id` whole, as served: decoded as UTF-8 (invalid bytes become U+FFFD, as
    /// Python's `requests` does), byte-order mark, licence header and footer and CRLF line
    /// endings all kept.
    pub fn gutenberg_raw(&self, id: u32) -> Result<String> {
        read_lossy(&self.gutenberg_file(id)?)
    }

    /// Book `id` without the Gutenberg header and footer (see [`strip_gutenberg`]), line
    /// endings normalised to `\n`, blank lines at both ends removed. A file without the
    /// markers (damaged, or not a Gutenberg text) is an error that names the cached file.
    pub fn gutenberg_text(&self, id: u32) -> Result<String> {
        let path = self.gutenberg_file(id)?;
        let raw = read_lossy(&path)?;
        let body = strip_gutenberg(&raw).with_context(|| {
            format!(
                "{} ({}; delete the file to fetch it again)",
                describe(id),
                path.display()
            )
        })?;
        Ok(tidy(body))
    }
}

/// Where a project's raw book text comes from, in order: a local copy (the project's
/// `--book-file`), the project's own text under `--quick`, or Gutenberg book `id` as served.
#[derive(Clone, Copy, Debug)]
pub struct RawBook<'a> {
    /// The Gutenberg number.
    pub id: u32,
    /// The book's title for messages and labels ("The Great Gatsby").
    pub title: &'a str,
    /// `--book-file`: a local file read instead (any UTF-8 text; invalid bytes become
    /// U+FFFD).
    pub local: Option<&'a std::path::Path>,
    /// `--quick`: the project's own `(label, text)`.
    pub quick: Option<(&'a str, &'a str)>,
}

impl DataCache {
    /// The text of `book` and a label that says where it came from (the file's path, the
    /// quick text's label, or "Gutenberg book 64317 (The Great Gatsby)"). The book itself
    /// is fetched behind a spinner; when it cannot be (offline and not cached, or no
    /// network), the error names the three ways to get it.
    pub fn raw_book_or_local(&self, book: &RawBook) -> Result<(String, String)> {
        if let Some(p) = book.local {
            let text = read_lossy(p).context("reading --book-file")?;
            return Ok((p.display().to_string(), text));
        }
        if let Some((label, text)) = book.quick {
            return Ok((label.to_string(), text.to_string()));
        }
        let (id, title) = (book.id, book.title);
        let pb = crate::progress::spinner(&format!("fetching {title} (Gutenberg {id})"));
        let text = self.gutenberg_raw(id);
        pb.finish_and_clear();
        let text = text.with_context(|| {
            format!(
                "this project needs Gutenberg book {id}: run it once with network access, \
                 pass --book-file with a copy of pg{id}.txt, or use --quick"
            )
        })?;
        Ok((format!("Gutenberg book {id} ({title})"), text))
    }
}

/// A file decoded as UTF-8, invalid bytes replaced by U+FFFD.
fn read_lossy(path: &std::path::Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// True for a line that is a Gutenberg `*** START OF ... ***` / `*** END OF ... ***` marker.
fn is_marker(line: &str, word: &str) -> bool {
    let t = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let up = t.to_uppercase();
    t.starts_with("***") && up.contains(&format!("{word} OF")) && up.contains("PROJECT GUTENBERG")
}

/// The text between the Gutenberg licence header and footer: from the line after
/// `*** START OF THE (or THIS) PROJECT GUTENBERG EBOOK ... ***` to the line before
/// `*** END OF ... ***` (or, in older files, a line starting `End of the Project Gutenberg`;
/// no end marker at all means to the end of the file). A start marker wrapped over two
/// lines is skipped whole. Line endings are left as they are.
pub fn strip_gutenberg(raw: &str) -> Result<&str> {
    let mut lines = Vec::new(); // (start offset, line with its end of line)
    let mut off = 0;
    for l in raw.split_inclusive('\n') {
        lines.push((off, l));
        off += l.len();
    }
    let Some(si) = lines.iter().position(|(_, l)| is_marker(l, "START")) else {
        bail!(
            "no '*** START OF THE PROJECT GUTENBERG EBOOK' line: this does not look like a \
             Project Gutenberg text (use the raw text instead)"
        );
    };
    let mut body_start = lines[si].0 + lines[si].1.len();
    // A marker wrapped over two lines ends with `***` only on the second one.
    if !lines[si].1.trim_end().ends_with("***") {
        if let Some((o, l)) = lines.get(si + 1) {
            if l.trim_end().ends_with("***") && l.len() < 120 {
                body_start = o + l.len();
            }
        }
    }
    let end = lines[si + 1..]
        .iter()
        .find(|(o, l)| {
            *o >= body_start && {
                let t = l.trim_start();
                is_marker(l, "END")
                    || t.starts_with("End of the Project Gutenberg")
                    || t.starts_with("End of Project Gutenberg")
            }
        })
        .map(|(o, _)| *o)
        .unwrap_or(raw.len());
    Ok(&raw[body_start..end])
}

/// `\r\n` → `\n`, and blank lines at both ends dropped.
fn tidy(body: &str) -> String {
    let text = body.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    match (first, last) {
        (Some(a), Some(b)) => lines[a..=b].join("\n"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testserver::{Route, TestServer};

    /// A Gutenberg-style file written for these tests (not a real book).
    fn sample() -> String {
        [
            "\u{feff}The Project Gutenberg eBook of A Small Test Book\r\n",
            "This eBook is for the use of anyone anywhere.\r\n",
            "\r\n",
            "*** START OF THE PROJECT GUTENBERG EBOOK A SMALL TEST BOOK ***\r\n",
            "\r\n",
            "\r\n",
            "CHAPTER I\r\n",
            "  The kettle sang while the cat counted tiles.\r\n",
            "\r\n",
            "*** END OF THE PROJECT GUTENBERG EBOOK A SMALL TEST BOOK ***\r\n",
            "Licence text follows here.\r\n",
        ]
        .concat()
    }

    #[test]
    fn strips_header_and_footer() {
        let raw = sample();
        let body = strip_gutenberg(&raw).unwrap();
        assert!(body.starts_with("\r\n\r\nCHAPTER I\r\n"), "{body:?}");
        assert!(body.ends_with("tiles.\r\n\r\n"), "{body:?}");
        assert_eq!(
            tidy(body),
            "CHAPTER I\n  The kettle sang while the cat counted tiles."
        );

        // Older wording and a marker wrapped over two lines.
        let old = "header\n*** START OF THIS PROJECT GUTENBERG EBOOK THE VERY LONG\nTITLE ***\nbody\nEnd of the Project Gutenberg EBook\nfooter\n";
        assert_eq!(strip_gutenberg(old).unwrap(), "body\n");
        // No end marker: to the end.
        assert_eq!(
            strip_gutenberg("*** START OF THE PROJECT GUTENBERG EBOOK X ***\nabc").unwrap(),
            "abc"
        );
        let e = strip_gutenberg("just some text\n").unwrap_err().to_string();
        assert!(e.contains("START OF"), "{e}");
    }

    #[test]
    fn books_table() {
        assert_eq!(BOOKS.len(), 10);
        assert_eq!(BOOKS[0], (84, "Frankenstein"));
        assert_eq!(book_label(829), Some("GulliversTravels"));
        assert_eq!(book_label(1), None);
    }

    #[test]
    fn raw_from_a_preplaced_file_keeps_bom_and_crlf_offline() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.offline = true;
        c.gutenberg_url = "http://127.0.0.1:9/{id}".into(); // never used
        std::fs::create_dir_all(tmp.path().join("gutenberg")).unwrap();
        std::fs::write(tmp.path().join("gutenberg/pg84.txt"), sample()).unwrap();
        let raw = c.gutenberg_raw(84).unwrap();
        assert_eq!(raw, sample());
        assert!(raw.starts_with('\u{feff}') && raw.contains("\r\n"));
        assert!(c.gutenberg_text(84).unwrap().starts_with("CHAPTER I\n"));

        let e = format!("{:#}", c.gutenberg_raw(11).unwrap_err());
        assert!(
            e.contains("Gutenberg book 11 (AliceWonderland)") && e.contains("offline"),
            "{e}"
        );
        assert!(e.contains("pg11.txt"), "{e}");
    }

    #[test]
    fn a_raw_book_is_the_local_file_then_the_quick_text_then_the_cached_book() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.offline = true;
        c.gutenberg_url = "http://127.0.0.1:9/{id}".into(); // never reached
        let local = tmp.path().join("copy.txt");
        std::fs::write(&local, b"a local\xffcopy").unwrap();
        let mut book = RawBook {
            id: 84,
            title: "Frankenstein",
            local: Some(&local),
            quick: Some(("the quick text", "quick words")),
        };
        let (label, text) = c.raw_book_or_local(&book).unwrap();
        assert_eq!(
            (label, text.as_str()),
            (local.display().to_string(), "a local\u{fffd}copy")
        );
        book.local = None;
        let (label, text) = c.raw_book_or_local(&book).unwrap();
        assert_eq!(
            (label.as_str(), text.as_str()),
            ("the quick text", "quick words")
        );
        // Neither, offline, nothing cached: the error says how to get the book.
        book.quick = None;
        let e = format!("{:#}", c.raw_book_or_local(&book).unwrap_err());
        assert!(
            e.contains(
                "this project needs Gutenberg book 84: run it once with network access, \
                        pass --book-file with a copy of pg84.txt, or use --quick"
            ),
            "{e}"
        );
        // Cached: the book as served, labelled with its title.
        std::fs::create_dir_all(tmp.path().join("gutenberg")).unwrap();
        std::fs::write(tmp.path().join("gutenberg/pg84.txt"), sample()).unwrap();
        let (label, text) = c.raw_book_or_local(&book).unwrap();
        assert_eq!(
            (label.as_str(), text),
            ("Gutenberg book 84 (Frankenstein)", sample())
        );
        // A local file that cannot be read is an error that names the flag.
        book.local = Some(std::path::Path::new("/nonexistent/pg84.txt"));
        let e = format!("{:#}", c.raw_book_or_local(&book).unwrap_err());
        assert!(
            e.contains("reading --book-file") && e.contains("/nonexistent/pg84.txt"),
            "{e}"
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_like_requests() {
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.offline = true;
        std::fs::create_dir_all(tmp.path().join("gutenberg")).unwrap();
        std::fs::write(tmp.path().join("gutenberg/pg7.txt"), b"ab\xffcd").unwrap();
        assert_eq!(c.gutenberg_raw(7).unwrap(), "ab\u{fffd}cd");
    }

    #[test]
    fn downloads_once_then_uses_the_cache() {
        let srv = TestServer::start(vec![Route::ok("/epub/84", sample().into_bytes())]);
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.gutenberg_url = format!("{}/epub/{{id}}", srv.base);
        assert_eq!(c.gutenberg_raw(84).unwrap(), sample());
        assert_eq!(c.gutenberg_raw(84).unwrap(), sample());
        assert_eq!(srv.hits("/epub/84"), 1);
        // Cached: works offline too.
        c.offline = true;
        assert_eq!(c.gutenberg_raw(84).unwrap(), sample());
        // A book the server does not have: a clear error, nothing cached.
        c.offline = false;
        let e = format!("{:#}", c.gutenberg_raw(85).unwrap_err());
        assert!(e.contains("Gutenberg book 85") && e.contains("404"), "{e}");
        assert!(!tmp.path().join("gutenberg/pg85.txt").exists());
    }

    #[test]
    fn a_cut_off_download_is_never_cached() {
        let full = sample().into_bytes();
        let srv = TestServer::start(vec![Route::ok("/epub/84", full.clone()).cut_at(40)]);
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.gutenberg_url = format!("{}/epub/{{id}}", srv.base);
        let e = format!("{:#}", c.gutenberg_raw(84).unwrap_err());
        assert!(e.contains("cut off") || e.contains("incomplete"), "{e}");
        let dir = tmp.path().join("gutenberg");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left behind: {left:?}");

        // A complete copy on a second try.
        let srv2 = TestServer::start(vec![Route::ok("/epub/84", full.clone())]);
        c.gutenberg_url = format!("{}/epub/{{id}}", srv2.base);
        assert_eq!(c.gutenberg_raw(84).unwrap().as_bytes(), &full[..]);

        // A cached copy truncated later (length differs from its sidecar) is fetched again.
        std::fs::write(dir.join("pg84.txt"), &full[..10]).unwrap();
        assert_eq!(c.gutenberg_raw(84).unwrap().as_bytes(), &full[..]);
        assert_eq!(srv2.hits("/epub/84"), 2);
    }
}
