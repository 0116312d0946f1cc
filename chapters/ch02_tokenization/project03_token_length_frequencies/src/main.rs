//! # Project 3 — Frequency tables of token lengths
//!
//! **Question.** How long, in characters, are the GPT-2 tokens that real text is cut into?
//! First for one paragraph (a frequency table of token lengths), then for ten whole books
//! (normalised length distributions side by side).
//!
//! **What to look for.**
//! - Most tokens are short: 1–5 characters, the leading space included (" the" is 4).
//!   Frequent words are single tokens with their space; rare names split into pieces.
//! - One-character tokens are punctuation and fragments of rare words; on Gutenberg files
//!   they are the mode (≈25–33 %), because every CRLF line break is two tokens, "\r" and "\n".
//! - The ten books' curves nearly overlap: the length profile is a property of the
//!   tokenizer and of English, not of the book.
//! - Decoding the ids gives the text back exactly.
//!
//! Token length = number of code points of the token decoded on its own (lossy UTF-8, so
//! a lone byte of a multi-byte character is one U+FFFD), with no space clean-up.
//!
//! Data: Part 1 uses the lead paragraph of the English Wikipedia article "Pulcinella
//! (ballet)", fetched once and cached (the book hard-codes the version whose SHA-256 starts
//! `e1cb5ee80a3ba32f`: 104 words, 174 tokens, 129 unique); Part 2 the ten Gutenberg books,
//! whole as served. `--quick` uses the paragraph and short texts in `assets/data/ch02/`,
//! written for this project, and needs no network.
//!
//! Run: `cargo run --release -p project03_token_length_frequencies`.

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::output::Output;
use common::plot::{
    bar_edges, cycle_color, scatter_size_px, Colormap, Figure, Marker, Panel, Series, Style,
};
use common::text::{ch02_dir, chapter2_books, n_chars, py_words, Book};
use common::tokenizer::Tokenizer;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

const PROJECT: &str = "project03_token_length_frequencies";
const WIKI_TITLE: &str = "Pulcinella (ballet)";
/// SHA-256 prefix of the paragraph as the book hard-codes it.
const BOOK_PARAGRAPH_SHA: &str = "e1cb5ee80a3ba32f";
const DPI: f64 = 100.0;

/// Token-length frequency tables for a paragraph and for ten books.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// A file whose text replaces the Wikipedia paragraph of Part 1.
    #[arg(long)]
    paragraph: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let tok = Tokenizer::gpt2();
    if args.common.quick {
        out.say("--quick: the paragraph and short texts of assets/data/ch02 (written for this project), no network.");
    }
    // Every text is fetched (or found in the cache) before Part 1.
    let paragraph = load_paragraph(&args)?;
    let books = chapter2_books(args.common.quick)?;
    part1_paragraph_token_lengths(&tok, &paragraph, &mut out)?;
    part2_book_length_distributions(&tok, &books, &mut out)?;
    out.finish()
}

/// The paragraph of Part 1: `--paragraph`, the project's own under `--quick`, else the
/// lead paragraph of the Wikipedia article (fetched once and cached).
fn load_paragraph(args: &Args) -> Result<String> {
    let (text, source) = match (&args.paragraph, args.common.quick) {
        (None, false) => {
            let page = common::data::wikipedia_text(WIKI_TITLE).with_context(|| {
                format!("Part 1 needs the Wikipedia page {WIKI_TITLE:?}: run once with network access, pass --paragraph FILE, or use --quick")
            })?;
            (
                lead_paragraph(&page).to_string(),
                format!("the Wikipedia page {WIKI_TITLE:?}"),
            )
        }
        (given, _) => {
            let path = given
                .clone()
                .unwrap_or_else(|| ch02_dir().join("paragraph.txt"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            (text, path.display().to_string())
        }
    };
    // A paragraph of no tokens has no length distribution to count.
    if text.trim().is_empty() {
        bail!(
            "the paragraph of Part 1 ({source}) is empty: pass --paragraph a file with some text"
        );
    }
    Ok(text)
}

/// The first non-empty line of a plain-text extract.
fn lead_paragraph(page: &str) -> &str {
    page.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// First 16 hex digits of the SHA-256 of the UTF-8 bytes.
fn sha256_16(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Length in characters of every token of the vocabulary, decoded on its own.
fn id_to_length(tok: &Tokenizer) -> Result<Vec<usize>> {
    (0..tok.vocab_size() as u32)
        .map(|id| Ok(n_chars(&String::from_utf8_lossy(&tok.token_bytes(id)?))))
        .collect()
}

/// How many tokens have each length (ascending lengths).
fn length_counts(lengths: impl IntoIterator<Item = usize>) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for l in lengths {
        *counts.entry(l).or_insert(0) += 1;
    }
    counts
}

/// A frequency table sorted as pandas' `value_counts` prints it: by count, descending
/// (ties: longer first).
fn by_count(counts: &BTreeMap<usize, usize>) -> Vec<(usize, usize)> {
    let mut v: Vec<(usize, usize)> = counts.iter().map(|(&l, &c)| (l, c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    v
}

/// Part 1: the lengths of one paragraph's tokens.
fn part1_paragraph_token_lengths(tok: &Tokenizer, text: &str, out: &mut Output) -> Result<()> {
    out.say("## Part 1: token lengths of one paragraph");
    let sha = sha256_16(text);
    out.say(format!(
        "Paragraph: {} characters, SHA-256 {sha}… ({})",
        n_chars(text),
        if sha == BOOK_PARAGRAPH_SHA {
            "the book's version: expect 104 words, 174 tokens, 129 unique"
        } else {
            "not the book's version, so its counts differ from the book's"
        }
    ));
    let enc = tok.encode_full(text)?;
    let unique: HashSet<u32> = enc.ids.iter().copied().collect();
    out.say(format!(
        "There are {} words and {} tokens ({} of which are unique)",
        py_words(text).count(),
        enc.ids.len(),
        unique.len()
    ));
    let decoded = tok.decode(&enc.ids)?;
    out.say(format!("Decoded: {decoded}"));
    out.say(format!(
        "Decoded text equals the original: {}",
        decoded == text
    ));

    // (id, length) per token in sequence order; `enc.tokens` are the lossy single-id decodes.
    let lengths: Vec<usize> = enc.tokens.iter().map(|t| n_chars(t)).collect();
    out.say("First tokens (id, length):");
    for ((id, len), token) in enc.ids.iter().zip(&lengths).zip(&enc.tokens).take(5) {
        out.say(format!("  ({id}, {len})  {token:?}"));
    }
    out.table(
        "ch2_proj3_part1_tokens",
        &["position", "id", "length", "token"],
        &(0..enc.ids.len())
            .map(|i| {
                vec![
                    i.to_string(),
                    enc.ids[i].to_string(),
                    lengths[i].to_string(),
                    enc.tokens[i].clone(),
                ]
            })
            .collect::<Vec<_>>(),
    )?;

    let counts = length_counts(lengths.iter().copied());
    out.say("length | count");
    for (l, c) in by_count(&counts) {
        out.say(format!("{l:>6} | {c:>5}"));
    }
    out.say(format!(
        "The counts sum to {} (the number of tokens)",
        counts.values().sum::<usize>()
    ));
    out.table(
        "ch2_proj3_part1_table",
        &["length", "count"],
        &counts
            .iter()
            .map(|(l, c)| vec![l.to_string(), c.to_string()])
            .collect::<Vec<_>>(),
    )?;

    // One bar per observed length, as categories (absent lengths get no slot), coloured
    // by plasma over [min count, max count].
    let lens: Vec<usize> = counts.keys().copied().collect();
    let heights: Vec<f64> = counts.values().map(|&c| c as f64).collect();
    let (lo, hi) = heights
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &h| {
            (a.min(h), b.max(h))
        });
    let colors = heights
        .iter()
        .map(|&h| Colormap::Plasma.color(if hi > lo { (h - lo) / (hi - lo) } else { 0.5 }))
        .collect();
    let x: Vec<f64> = (0..lens.len()).map(|i| i as f64).collect();
    let panel = Panel::new("")
        .xlabel("Token length (characters)")
        .ylabel("Count")
        .add(Series::bars(x.clone(), heights.clone(), colors))
        .add(bar_edges(&x, &heights, 0.8, (0, 0, 0)))
        .x_ticks(
            lens.iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.to_string()))
                .collect(),
        );
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch2_proj3_part1")?;
    Ok(())
}

/// Marker per book, after matplotlib's `s o h ^ v P * D X p`.
const MARKERS: [Marker; 10] = [
    Marker::Square,
    Marker::Circle,
    Marker::Hexagon,
    Marker::TriangleUp,
    Marker::TriangleDown,
    Marker::Plus,
    Marker::Star,
    Marker::Diamond,
    Marker::Cross,
    Marker::Pentagon,
];

/// Part 2: normalised token-length distributions of each book.
fn part2_book_length_distributions(
    tok: &Tokenizer,
    books: &[Book],
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 2: token-length distributions of the books");
    // Decoding millions of tokens one by one is wasteful: look lengths up by id.
    let table = id_to_length(tok)?;
    out.say(format!(
        "id -> length table: {} entries, {} zeros, longest {}",
        table.len(),
        table.iter().filter(|&&l| l == 0).count(),
        table.iter().max().unwrap_or(&0)
    ));
    let mut panel = Panel::new("")
        .xlabel("Token length (characters)")
        .ylabel("Frequency (norm.)")
        .log_x()
        .legend();
    let mut rows = Vec::new();
    for (b, book) in books.iter().enumerate() {
        let ids = tok.encode(&book.text)?;
        let counts = length_counts(ids.iter().map(|&i| table[i as usize]));
        let n = ids.len() as f64;
        let freqs: Vec<(f64, f64)> = counts
            .iter()
            .map(|(&l, &c)| (l as f64, c as f64 / n))
            .collect();
        let total: f64 = freqs.iter().map(|f| f.1).sum();
        let top = by_count(&counts);
        out.say(format!(
            "{:<16} {:>9} tokens; mode {} chars ({:.1}%); longest {}; frequencies sum to {total:.12}",
            book.label,
            ids.len(),
            top[0].0,
            100.0 * top[0].1 as f64 / n,
            counts.keys().last().unwrap_or(&0)
        ));
        for (&l, &c) in &counts {
            rows.push(vec![
                book.label.clone(),
                l.to_string(),
                c.to_string(),
                format!("{}", c as f64 / n),
            ]);
        }
        let style = Style::markers((0, 0, 0), MARKERS[b % MARKERS.len()])
            .fill(cycle_color(b))
            .edge((0, 0, 0))
            .size(scatter_size_px(80.0, DPI))
            .alpha(0.5)
            .label(&book.label);
        panel = panel.add(Series::scatter(
            freqs.iter().map(|f| f.0).collect(),
            freqs.iter().map(|f| f.1).collect(),
            style,
        ));
    }
    out.table(
        "ch2_proj3_part2_freqs",
        &["book", "length", "count", "frequency"],
        &rows,
    )?;
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch2_proj3_part2")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_byte_token_is_one_replacement_character() {
        let table = id_to_length(&Tokenizer::gpt2()).unwrap();
        assert_eq!(table.len(), 50257);
        assert_eq!(table[94], 1);
        assert!(table.iter().all(|&l| l > 0));
        assert_eq!(table.iter().max(), Some(&66));
    }

    #[test]
    fn value_counts_order_and_sum() {
        let c = length_counts([4, 3, 4, 1, 3, 4, 13]);
        assert_eq!(by_count(&c), vec![(4, 3), (3, 2), (13, 1), (1, 1)]);
        assert_eq!(c.values().sum::<usize>(), 7);
    }

    #[test]
    fn lead_paragraph_is_the_first_nonblank_line() {
        assert_eq!(lead_paragraph("\n First para. \n\nSecond."), "First para.");
    }
}
