//! # Project 5 — Is tokenization compression?
//!
//! **Question.** GPT-2 token counts as a percentage of character, word and byte counts,
//! for English books and for the raw HTML of eleven websites: in what sense does BPE
//! compress text?
//!
//! **What to look for.**
//! - Books: tokens ≈ 26–28 % of the characters (≈3.6–3.9 characters per token: a four-fold
//!   shortening), but ≈150–165 % of the words — more tokens than words, partly because
//!   every CRLF line break costs two tokens.
//! - Websites: markup, URLs and minified JavaScript break into many short tokens, so
//!   tokens/characters is higher (≈30–50 %). tokens/bytes ≤ tokens/chars, equal for pure
//!   ASCII; non-ASCII pages show a gap. Bot-challenge pages and redirects give tiny bodies.
//! - Always tokens ≤ bytes: every byte-level BPE token covers at least one byte.
//! - For scale, the last table puts real compressors (gzip, zlib, bzip2, xz, at Python's
//!   one-call defaults) beside the tokenizer. 100·tokens/bytes looks as small as their
//!   output (≈25–40 % of a whole book's bytes), but a
//!   token is an id of 16 bits: stored as ids, the text takes twice that percentage.
//!   BPE compresses modestly; its point is a fixed vocabulary a model can learn.
//!
//! Counting rules: characters are code points (Python `len`), words are `str.split()`
//! pieces, bytes are the UTF-8 length. Tokens: GPT-2 ids of the whole text in one call,
//! no truncation, ordinary encoding (the bundled r50k_base does not map a literal
//! `<|endoftext|>` in a page to id 50256, where Hugging Face's tokenizer would).
//!
//! Data: the ten Gutenberg books whole as served, and the eleven pages' raw bodies
//! (4xx/5xx bodies kept, redirects followed, charset from Content-Type else UTF-8), each
//! fetched once and cached with its fetch time: live pages change, so numbers differ
//! between snapshots. `--quick` uses the short texts and two small HTML pages in
//! `assets/data/ch02/`, written for this project.
//!
//! Run: `cargo run --release -p project05_tokenization_compression`.

use anyhow::{Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::DataCache;
use common::output::{thousands, Output};
use common::text::{ch02_dir, chapter2_books, n_chars, py_words, Book};
use common::tokenizer::Tokenizer;
use std::io::Write;

const PROJECT: &str = "project05_tokenization_compression";
const SITES: [&str; 11] = [
    "https://python.org/",
    "https://pytorch.org/",
    "https://duckduckgo.com/",
    "https://sudoku.com/",
    "https://oreilly.com/",
    "https://visiteurope.com/en/",
    "https://sincxpress.com/",
    "https://openai.com/",
    "https://theuselessweb.com/",
    "https://maps.google.com/",
    "https://pigeonsarentreal.co.uk/",
];

/// GPT-2 token counts relative to characters, words and bytes, for books and websites.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// One web page's body and how it was fetched.
struct Page {
    url: String,
    text: String,
    note: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let tok = Tokenizer::gpt2();
    if args.common.quick {
        out.say("--quick: the texts and two HTML pages of assets/data/ch02 (written for this project), no network.");
    }
    // Every text is fetched (or found in the cache) before Part 1.
    let books = chapter2_books(args.common.quick)?;
    let pages = load_pages(args.common.quick)?;
    part1_books(&tok, &books, &mut out)?;
    part2_websites(&tok, &pages, &mut out)?;
    compressors_for_scale(&tok, &books, &pages, &mut out)?;
    out.finish()
}

/// `100 · part / whole`.
fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole as f64
}

/// The table's short site name: drop `https://` (8 characters), keep what comes before
/// the first `.`.
fn short_name(url: &str) -> &str {
    let rest = url.get(8..).unwrap_or(url);
    rest.split('.').next().unwrap_or(rest)
}

/// Part 1: tokens as a percentage of characters and of words, per book.
fn part1_books(tok: &Tokenizer, books: &[Book], out: &mut Output) -> Result<()> {
    out.say("## Part 1: compression in English books");
    out.say(format!(
        "{:<16} | {:>11} | {:>11} | {:>11} | {}",
        "Book title", "Chars", "Words", "Tokens", "Compress"
    ));
    let mut rows = Vec::new();
    for book in books {
        let chars = n_chars(&book.text);
        let words = py_words(&book.text).count();
        let tokens = tok.encode(&book.text)?.len();
        let (c, w) = (percent(tokens, chars), percent(tokens, words));
        out.say(book_row(&book.label, chars, words, tokens));
        rows.push(vec![
            book.label.clone(),
            chars.to_string(),
            words.to_string(),
            tokens.to_string(),
            c.to_string(),
            w.to_string(),
        ]);
    }
    out.table(
        "ch2_proj5_part1_books",
        &[
            "book",
            "chars",
            "words",
            "tokens",
            "compression_chars",
            "compression_words",
        ],
        &rows,
    )?;
    Ok(())
}

/// One row of the Part 1 table: the two percentages rounded to integers.
fn book_row(label: &str, chars: usize, words: usize, tokens: usize) -> String {
    format!(
        "{:<16} | {:>11} | {:>11} | {:>11} | {:.0} / {:.0}",
        label,
        thousands(chars as i64),
        thousands(words as i64),
        thousands(tokens as i64),
        percent(tokens, chars),
        percent(tokens, words)
    )
}

/// The pages of Part 2: fetched once and cached, or the project's own under `--quick`.
fn load_pages(quick: bool) -> Result<Vec<Page>> {
    if quick {
        let dir = ch02_dir().join("web");
        let index = std::fs::read_to_string(dir.join("index.txt"))
            .with_context(|| format!("reading {}", dir.join("index.txt").display()))?;
        return index
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(url, file)| {
                let path = dir.join(file.trim());
                Ok(Page {
                    url: url.to_string(),
                    text: std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                    note: format!("local file {}", file.trim()),
                })
            })
            .collect();
    }
    let cache = DataCache::from_env();
    SITES
        .iter()
        .map(|url| {
            let p = cache.web_page(url).with_context(|| {
                format!("Part 2 needs the page {url}: run once with network access (pages are cached after the first fetch), or use --quick")
            })?;
            let note = format!(
                "status {}, charset {}{}, fetched {}",
                p.status.map_or("?".into(), |s| s.to_string()),
                p.charset,
                p.charset_note.map_or(String::new(), |n| format!(" ({n})")),
                p.fetched_at.unwrap_or_else(|| "by hand".into())
            );
            Ok(Page {
                url: url.to_string(),
                text: p.text,
                note,
            })
        })
        .collect()
}

/// One row of the Part 2 table: the two percentages with 2 decimals.
fn site_row(name: &str, chars: usize, bytes: usize, tokens: usize) -> String {
    format!(
        "{:>16} | {:>11} | {:>11} | {:>11} | {:.2} / {:.2}",
        name,
        thousands(chars as i64),
        thousands(bytes as i64),
        thousands(tokens as i64),
        percent(tokens, chars),
        percent(tokens, bytes)
    )
}

/// Part 2: tokens as a percentage of characters and of bytes, per web page.
fn part2_websites(tok: &Tokenizer, pages: &[Page], out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: compression in websites");
    if let Some(first) = pages.first() {
        out.say(format!(
            "Raw HTML of {} (first 2000 characters):",
            first.url
        ));
        out.say(first.text.chars().take(2000).collect::<String>());
    }
    out.say(format!(
        "\n{:>16} | {:>11} | {:>11} | {:>11} | {}",
        "Website", "Chars", "Bytes", "Tokens", "Compression (%)"
    ));
    let mut rows = Vec::new();
    for p in pages {
        let name = short_name(&p.url);
        let (chars, bytes) = (n_chars(&p.text), p.text.len());
        let tokens = tok.encode(&p.text)?.len();
        out.say(site_row(name, chars, bytes, tokens));
        rows.push(vec![
            name.to_string(),
            p.url.clone(),
            chars.to_string(),
            bytes.to_string(),
            tokens.to_string(),
            percent(tokens, chars).to_string(),
            percent(tokens, bytes).to_string(),
            p.note.clone(),
        ]);
    }
    out.say("How each page was fetched:");
    for p in pages {
        out.say(format!("  {}: {}", short_name(&p.url), p.note));
        if p.text.contains("<|endoftext|>") {
            out.say("    contains the literal string <|endoftext|>: encoded as ordinary text (HF would map it to 50256)");
        }
    }
    out.table(
        "ch2_proj5_part2_websites",
        &[
            "site",
            "url",
            "chars",
            "bytes",
            "tokens",
            "compression_chars",
            "compression_bytes",
            "fetch",
        ],
        &rows,
    )?;
    Ok(())
}

/// The real compressors of the "for scale" table, in its column order.
const CODECS: [Codec; 4] = [Codec::Gzip, Codec::Zlib, Codec::Bzip2, Codec::Xz];

/// A general-purpose compressor, at the setting of Python's one-call default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    /// `gzip.compress`: DEFLATE in a gzip wrapper, level 9.
    Gzip,
    /// `zlib.compress(data, 9)`: DEFLATE in a zlib wrapper, level 9 (zlib's own default
    /// is 6; level 9 matches gzip's).
    Zlib,
    /// `bz2.compress`: level 9.
    Bzip2,
    /// `lzma.compress`: the .xz format at preset 6, Python's default (9 would be `xz -9`).
    Xz,
}

/// xz preset: Python's `lzma.compress` default.
const XZ_PRESET: u32 = 6;

impl Codec {
    fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zlib => "zlib",
            Codec::Bzip2 => "bzip2",
            Codec::Xz => "xz",
        }
    }

    fn compress(self, bytes: &[u8]) -> Result<Vec<u8>> {
        let best = flate2::Compression::best();
        Ok(match self {
            Codec::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), best);
                e.write_all(bytes)?;
                e.finish()?
            }
            Codec::Zlib => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), best);
                e.write_all(bytes)?;
                e.finish()?
            }
            Codec::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
                e.write_all(bytes)?;
                e.finish()?
            }
            Codec::Xz => {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), XZ_PRESET);
                e.write_all(bytes)?;
                e.finish()?
            }
        })
    }
}

/// Compressed size of `bytes` with each of [`CODECS`], in that order.
fn compressed_sizes(bytes: &[u8]) -> Result<Vec<usize>> {
    CODECS
        .iter()
        .map(|c| Ok(c.compress(bytes)?.len()))
        .collect()
}

/// For scale: tokens beside real compressors, all as a percentage of the UTF-8 bytes.
fn compressors_for_scale(
    tok: &Tokenizer,
    books: &[Book],
    pages: &[Page],
    out: &mut Output,
) -> Result<()> {
    out.say("\n## For scale: tokens vs real compressors (% of UTF-8 bytes)");
    let mut head = format!(
        "{:<16} | {:>11} | {:>7} | {:>9}",
        "Text", "Bytes", "tokens", "ids (2 B)"
    );
    for c in CODECS {
        head += &format!(" | {:>7}", c.name());
    }
    out.say(head);
    let mut rows = Vec::new();
    let texts = books
        .iter()
        .map(|b| (b.label.as_str(), b.text.as_str()))
        .chain(pages.iter().map(|p| (short_name(&p.url), p.text.as_str())));
    for (name, text) in texts {
        let bytes = text.len();
        let tokens = tok.encode(text)?.len();
        let sizes = compressed_sizes(text.as_bytes())?;
        let mut line = format!(
            "{:<16} | {:>11} | {:>6.1}% | {:>8.1}%",
            name,
            thousands(bytes as i64),
            percent(tokens, bytes),
            percent(2 * tokens, bytes),
        );
        let mut row = vec![name.to_string(), bytes.to_string(), tokens.to_string()];
        for n in &sizes {
            line += &format!(" | {:>6.1}%", percent(*n, bytes));
            row.push(n.to_string());
        }
        out.say(line);
        rows.push(row);
    }
    let mut header = vec!["text".to_string(), "bytes".into(), "tokens".into()];
    header.extend(CODECS.map(|c| format!("{}_bytes", c.name())));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out.table("ch2_proj5_compressors", &header, &rows)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    #[test]
    fn short_names_of_the_eleven_sites() {
        let names: Vec<&str> = SITES.iter().map(|u| short_name(u)).collect();
        assert_eq!(
            names,
            [
                "python",
                "pytorch",
                "duckduckgo",
                "sudoku",
                "oreilly",
                "visiteurope",
                "sincxpress",
                "openai",
                "theuselessweb",
                "maps",
                "pigeonsarentreal"
            ]
        );
    }

    #[test]
    fn ratios_and_counts() {
        let tok = Tokenizer::gpt2();
        let ascii = "Plain text, nothing but ASCII here.";
        let t = tok.encode(ascii).unwrap().len();
        assert_eq!(percent(t, n_chars(ascii)), percent(t, ascii.len()));
        assert!(t <= ascii.len() && n_chars(ascii) <= ascii.len());
        let mixed = "Grüße 活 🥰";
        assert_eq!((n_chars(mixed), mixed.len()), (9, 16));
        let t = tok.encode(mixed).unwrap().len();
        assert!(t <= mixed.len());
        assert_eq!(percent(3, 12), 25.0);
    }

    #[test]
    fn table_formatting() {
        assert_eq!(
            book_row("Frankenstein", 438_000, 75_500, 110_600),
            "Frankenstein     |     438,000 |      75,500 |     110,600 | 25 / 146"
        );
        assert_eq!(
            site_row("python", 50_123, 50_321, 16_789),
            "          python |      50,123 |      50,321 |      16,789 | 33.50 / 33.36"
        );
    }

    #[test]
    fn compressors_round_trip_sizes() {
        use std::io::Read;
        let text = "the same words again and again ".repeat(200) + "— ünïcödé ✓";
        let sizes = compressed_sizes(text.as_bytes()).unwrap();
        assert_eq!(sizes.len(), 4);
        for (c, n) in CODECS.iter().zip(&sizes) {
            assert!(*n > 0 && *n < text.len() / 10, "{c:?}: {n}");
            let packed = c.compress(text.as_bytes()).unwrap();
            assert_eq!(packed.len(), *n);
            let mut back = Vec::new();
            let read = match c {
                Codec::Gzip => flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut back),
                Codec::Zlib => flate2::read::ZlibDecoder::new(&packed[..]).read_to_end(&mut back),
                Codec::Bzip2 => bzip2::read::BzDecoder::new(&packed[..]).read_to_end(&mut back),
                Codec::Xz => xz2::read::XzDecoder::new(&packed[..]).read_to_end(&mut back),
            };
            read.unwrap();
            assert_eq!(back, text.as_bytes(), "{c:?} round trip");
        }
        // Container overheads: gzip's header/trailer is 18 bytes, zlib's 6, around the
        // same DEFLATE stream.
        assert_eq!(sizes[0], sizes[1] + 12);
        // The wrappers' magic bytes.
        let magic = |c: Codec| c.compress(b"x").unwrap();
        assert_eq!(magic(Codec::Gzip)[..2], [0x1f, 0x8b]);
        assert_eq!(magic(Codec::Zlib)[0], 0x78);
        assert_eq!(magic(Codec::Bzip2)[..3], *b"BZh");
        assert_eq!(magic(Codec::Xz)[..6], [0xfd, b'7', b'z', b'X', b'Z', 0]);
    }

    /// A one-shot HTTP server on 127.0.0.1: `/old` redirects to `/forbidden`, which
    /// answers 403 with a body.
    fn serve(listener: TcpListener) {
        for _ in 0..2 {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().expect("clone stream"));
            r.read_line(&mut line).ok();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let resp = if line.contains("/old") {
                "HTTP/1.1 302 Found\r\nLocation: /forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            } else {
                let body = "<html>Access denied: are you a robot?</html>";
                format!("HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            };
            s.write_all(resp.as_bytes()).ok();
        }
    }

    #[test]
    fn fetch_keeps_403_bodies_and_follows_redirects() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || serve(listener));
        let tmp = tempfile::tempdir().unwrap();
        let page = DataCache::at(tmp.path())
            .web_page(&format!("http://127.0.0.1:{port}/old"))
            .unwrap();
        assert_eq!(page.status, Some(403));
        assert_eq!(page.text, "<html>Access denied: are you a robot?</html>");
        server.join().unwrap();
    }
}
