//! # Project 2 — Book lengths in characters, words, and tokens
//!
//! **Question.** Ten Project Gutenberg books measured three ways — characters,
//! whitespace-separated words and GPT-2 tokens — as totals and as counts of distinct units.
//! How do the three units scale with each other?
//!
//! **What to look for.**
//! - Tokens sit between characters and words: about 26–28 % of the characters and
//!   1.5–1.65 × the words. Part of that is the file format: every CRLF line break costs two
//!   tokens, "\r" (201) and "\n" (198).
//! - Distinct words and distinct tokens grow with book length (strong unique-vs-total
//!   correlations), but there are always fewer distinct GPT-2 ids than distinct words:
//!   the vocabulary is fixed, words are not.
//! - Distinct characters are set by the alphabet plus unusual symbols, so they barely
//!   track length; one book (the Poe volume, 2148) is an outlier with accented letters,
//!   foreign scripts and typographic symbols.
//!
//! Counting rules, as the book's Python counts: characters are code points (`len(str)`),
//! words are `str.split()` pieces (case and punctuation attached), tokens are GPT-2 ids of
//! the whole file encoded at once (no special tokens, no truncation). The files are used
//! as served: byte-order mark, licence header and footer and CRLF line endings kept.
//!
//! Run: `cargo run --release -p project02_book_lengths` (downloads ≈5 MB of books once).
//! `--quick` uses the short texts in `assets/data/ch02/books/`, written for this project.

use anyhow::Result;
use clap::Parser;
use common::cli::CommonArgs;
use common::output::{thousands, Output};
use common::plot::{markersize_px, rgb_f, sci_axis, Figure, Marker, Panel, Rgb, Series, Style};
use common::stats::{argmax, mean, pearson};
use common::text::{chapter2_books, n_chars, py_words, Book};
use common::tokenizer::Tokenizer;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::collections::{BTreeSet, HashSet};

const PROJECT: &str = "project02_book_lengths";
const DPI: f64 = 100.0;
const UNITS: [&str; 3] = ["Characters", "Words", "Tokens"];

/// Characters, words and GPT-2 tokens of ten books, total and distinct.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Row 0 characters, row 1 words, row 2 tokens; one column per book.
type Matrix = [Vec<f64>; 3];

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let tok = Tokenizer::gpt2();
    if args.common.quick {
        out.say("--quick: the short texts of assets/data/ch02/books (written for this project) instead of the ten Gutenberg books.");
    }
    // Each book is downloaded once and cached; the book re-downloads them in every part.
    let books = chapter2_books(args.common.quick)?;
    part0_fetch_a_book(&books[0], &mut out);
    let (totals, uniques) = part1_totals(&tok, &books, &mut out)?;
    part2_unique_and_total(&books, &totals, &uniques, args.common.seed, &mut out)?;
    part3_unique_vs_total(&books, &totals, &uniques, &mut out)?;
    out.finish()
}

/// Part 0: what a book looks like as served.
fn part0_fetch_a_book(book: &Book, out: &mut Output) {
    out.say(format!("## Part 0: fetching a book ({})", book.label));
    let head: String = book.text.chars().take(2000).collect();
    out.say(head);
    out.say(format!(
        "... {} characters in total; the first word is {:?} (a leading U+FEFF is the byte-order mark, kept as served)",
        thousands(n_chars(&book.text) as i64),
        py_words(&book.text).next().unwrap_or("")
    ));
}

/// Total and distinct counts of one text: ([chars, words, tokens], [distinct ...]).
fn count_units(tok: &Tokenizer, text: &str) -> Result<([usize; 3], [usize; 3])> {
    let chars: HashSet<char> = text.chars().collect();
    let words: Vec<&str> = py_words(text).collect();
    let distinct_words: HashSet<&str> = words.iter().copied().collect();
    let ids = tok.encode(text)?;
    let distinct_ids: HashSet<u32> = ids.iter().copied().collect();
    Ok((
        [n_chars(text), words.len(), ids.len()],
        [chars.len(), distinct_words.len(), distinct_ids.len()],
    ))
}

/// Part 1: total characters, words and tokens per book.
fn part1_totals(tok: &Tokenizer, books: &[Book], out: &mut Output) -> Result<(Matrix, Matrix)> {
    out.say("\n## Part 1: total characters, words, tokens");
    out.say(format!(
        "{:<16} | {:>11} | {:>11} | {:>11}",
        "Book title", "Chars", "Words", "Tokens"
    ));
    let mut totals: Matrix = Default::default();
    let mut uniques: Matrix = Default::default();
    let mut rows = Vec::new();
    for book in books {
        let (t, u) = count_units(tok, &book.text)?;
        out.say(format!(
            "{:<16} | {:>11} | {:>11} | {:>11}",
            book.label,
            thousands(t[0] as i64),
            thousands(t[1] as i64),
            thousands(t[2] as i64)
        ));
        for k in 0..3 {
            totals[k].push(t[k] as f64);
            uniques[k].push(u[k] as f64);
        }
        rows.push(vec![
            book.label.clone(),
            book.id.map_or(String::new(), |i| i.to_string()),
            t[0].to_string(),
            t[1].to_string(),
            t[2].to_string(),
            u[0].to_string(),
            u[1].to_string(),
            u[2].to_string(),
            book.text.len().to_string(),
        ]);
    }
    out.table(
        "ch2_proj2_counts",
        &[
            "book",
            "gutenberg_id",
            "chars",
            "words",
            "tokens",
            "unique_chars",
            "unique_words",
            "unique_tokens",
            "bytes",
        ],
        &rows,
    )?;
    let ratio =
        |a: &[f64], b: &[f64]| mean(&a.iter().zip(b).map(|(x, y)| x / y).collect::<Vec<_>>());
    out.say(format!(
        "On average: words = chars / {:.1}; tokens = {:.1}% of chars = {:.2} × words",
        1.0 / ratio(&totals[1], &totals[0]),
        100.0 * ratio(&totals[2], &totals[0]),
        ratio(&totals[2], &totals[1])
    ));
    Ok((totals, uniques))
}

/// Fill colours of the three units (light red, green, blue).
fn unit_fill(k: usize) -> Rgb {
    [
        rgb_f(0.9, 0.7, 0.7),
        rgb_f(0.7, 0.9, 0.7),
        rgb_f(0.7, 0.7, 0.9),
    ][k]
}

/// The x positions of a strip plot: category `k` plus N(0, 0.06) jitter per book.
fn jittered_x(k: usize, n: usize, rng: &mut StdRng) -> Result<Vec<f64>> {
    let jitter = Normal::new(0.0, 0.06)?;
    Ok((0..n).map(|_| k as f64 + jitter.sample(rng)).collect())
}

/// Part 2: totals and uniques of the three units as strip plots with their means.
fn part2_unique_and_total(
    books: &[Book],
    totals: &Matrix,
    uniques: &Matrix,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 2: unique and total counts");
    let mut rng = StdRng::seed_from_u64(seed);
    let markers = [Marker::Hexagon, Marker::Square, Marker::Circle];
    let mut strip = |title: &str, m: &Matrix| -> Result<Panel> {
        let all: Vec<f64> = m.iter().flatten().copied().collect();
        let (range, ticks) = sci_axis(&all);
        let mut p = Panel::new(title)
            .ylabel("Count")
            .xlim(-1.0, 3.0)
            .ylim(range.0, range.1)
            .y_ticks(ticks)
            .x_ticks(
                UNITS
                    .iter()
                    .enumerate()
                    .map(|(k, u)| (k as f64, u.to_string()))
                    .collect(),
            );
        for k in 0..3 {
            let style = Style::markers((0, 0, 0), markers[k])
                .fill(unit_fill(k))
                .edge((0, 0, 0))
                .alpha(0.7)
                .size(markersize_px(10.0, DPI))
                .label(UNITS[k]);
            p = p.add(Series::scatter(
                jittered_x(k, books.len(), &mut rng)?,
                m[k].clone(),
                style,
            ));
            let avg = mean(&m[k]);
            p = p.add(
                Series::line(
                    vec![k as f64 - 0.5, k as f64 + 0.5],
                    vec![avg, avg],
                    Style::line(unit_fill(k)).width(3),
                )
                .with_label(&format!("{} mean", UNITS[k])),
            );
        }
        Ok(p)
    };
    let fig = Figure::grid(10.0, 3.0, 1, 2)
        .panel(strip("A) Total", totals)?)
        .panel(strip("B) Unique", uniques)?);
    out.figure(&fig, "ch2_proj2_part2")?;
    for k in 0..3 {
        out.say(format!(
            "{:<10} mean total {:>12}, mean unique {:>8}",
            UNITS[k],
            thousands(mean(&totals[k]).round() as i64),
            thousands(mean(&uniques[k]).round() as i64)
        ));
    }
    let fewer = (0..books.len()).all(|b| uniques[2][b] < uniques[1][b]);
    out.say(format!(
        "Distinct GPT-2 ids < distinct words in every book: {fewer}"
    ));
    Ok(())
}

/// Part 3: unique against total for each unit, and the book with the most characters.
fn part3_unique_vs_total(
    books: &[Book],
    totals: &Matrix,
    uniques: &Matrix,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: unique vs total");
    let markers = [Marker::Hexagon, Marker::Circle, Marker::Square];
    let mut fig = Figure::grid(12.0, 3.5, 1, 3);
    for k in 0..3 {
        let r = pearson(&uniques[k], &totals[k])?;
        out.say(format!("{}: r(unique, total) = {r:.2}", UNITS[k]));
        // Grey, with the unit's own channel raised: red, green, blue.
        let mut fill = [0.7, 0.7, 0.7];
        fill[k] = 0.9;
        let style = Style::markers((0, 0, 0), markers[k])
            .fill(rgb_f(fill[0], fill[1], fill[2]))
            .edge((0, 0, 0))
            .size(markersize_px(12.0, DPI))
            .label(UNITS[k]);
        let (yr, yt) = sci_axis(&totals[k]);
        let mut p = Panel::new(&format!("{} (r = {r:.2})", UNITS[k]))
            .xlabel("Unique")
            .ylabel("Total")
            .add(Series::scatter(
                uniques[k].clone(),
                totals[k].clone(),
                style,
            ))
            .ylim(yr.0, yr.1)
            .y_ticks(yt);
        if k > 0 {
            let (xr, xt) = sci_axis(&uniques[k]);
            p = p.xlim(xr.0, xr.1).x_ticks(xt);
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, "ch2_proj2_part3")?;

    let outlier = argmax(&uniques[0]);
    let distinct: BTreeSet<char> = books[outlier].text.chars().collect();
    out.say(format!(
        "Most distinct characters: {}{} with {}",
        books[outlier].label,
        books[outlier]
            .id
            .map_or(String::new(), |i| format!(" (id {i})")),
        distinct.len()
    ));
    let listed: String = distinct.iter().collect();
    out.say(format!("Its characters, sorted: {listed:?}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_semantics() {
        let tok = Tokenizer::gpt2();
        let (t, u) = count_units(&tok, "a  b\r\nc\u{00A0}d é").unwrap();
        assert_eq!(t[0], 11, "code points, not bytes");
        assert_eq!(t[1], 5, "Python's split");
        assert!(u.iter().zip(&t).all(|(u, t)| u <= t));
        assert!(t[2] <= "a  b\r\nc\u{00A0}d é".len(), "tokens <= bytes");
    }

    #[test]
    fn tokens_of_a_known_line() {
        // Reference: Hugging Face tokenizers with GPT-2's tokenizer.json.
        let line = "THE KEEPER OF GULL ROCK\r\n";
        let ids = Tokenizer::gpt2().encode(line).unwrap();
        assert_eq!(
            ids,
            vec![10970, 509, 6500, 18973, 3963, 402, 9994, 41320, 201, 198]
        );
        assert!(ids.len() <= line.len());
    }

    #[test]
    fn bom_is_a_character_of_the_first_word() {
        let tok = Tokenizer::gpt2();
        let text = "\u{FEFF}Hello there";
        let (t, _) = count_units(&tok, text).unwrap();
        assert_eq!(t[0], 12);
        assert_eq!(py_words(text).next(), Some("\u{FEFF}Hello"));
    }

    #[test]
    fn pearson_properties() {
        let x = [1.0, 2.0, 4.0, 7.0, 11.0];
        let up: Vec<f64> = x.iter().map(|v| 3.0 * v + 2.0).collect();
        let down: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((pearson(&x, &up).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &down).unwrap() + 1.0).abs() < 1e-12);
        let y = [2.0, 1.0, 5.0, 3.0, 8.0];
        let (a, b) = (pearson(&x, &y).unwrap(), pearson(&y, &x).unwrap());
        assert!((a - b).abs() < 1e-15 && (-1.0..=1.0).contains(&a));
    }

    #[test]
    fn seeded_jitter_is_reproducible() {
        let a = jittered_x(1, 10, &mut StdRng::seed_from_u64(42)).unwrap();
        let b = jittered_x(1, 10, &mut StdRng::seed_from_u64(42)).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (x - 1.0).abs() < 0.5));
    }
}
