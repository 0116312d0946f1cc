//! # Project 7 — Comparing tokenizers: GPT-2 vs GPT-4 (cl100k_base), plus BERT vs GPT-2
//!
//! **Question.** How do the tokenizers of different models differ — in vocabulary size
//! and token lengths, in how many tokens they spend on the same books, and in whether a
//! token sequence can be translated from one tokenizer to another by going through text?
//!
//! **What to look for.**
//! - GPT-4's cl100k_base has about twice GPT-2's vocabulary (100,277 vs 50,257 ids, 16 of
//!   cl100k's unused). Their token byte-length curves nearly coincide from 2 to 12 bytes;
//!   GPT-4 peaks a byte earlier (4 vs 5) and has a much heavier tail of long whitespace
//!   and code runs (1030 tokens of ≥16 bytes vs 130).
//! - On English books GPT-4 needs ≈11–16 % fewer tokens (panel A: below the identity line)
//!   and its tokens are longer on average (panel B: above it).
//! - Translation decode → encode between two byte-level BPEs is lossless.
//! - Part 5 (the book's variant notebook "7b"): BERT's uncased WordPiece lowercases,
//!   drops whitespace and splits punctuation, so text that goes through BERT loses its
//!   case: the round trip is lossy.
//!
//! A token's length is the UTF-8 byte length of that token decoded on its own: lossy
//! UTF-8 for the byte-level BPEs (a lone byte of a multi-byte character is U+FFFD, 3
//! bytes), the vocabulary string for BERT (`##` and `[CLS]` kept). A book's mean token
//! length is the mean of that over its token sequence, so it is not bytes / tokens.
//!
//! Run: `cargo run --release -p project07_compare_tokenizers` (GPT-2 and GPT-4 are
//! bundled; downloads the ten Gutenberg books, ≈5 MB, and bert-base-uncased's
//! tokenizer.json once). `--quick` uses the short texts in `assets/data/ch02/books/`
//! and the offline copy of BERT's vocabulary in `.minilm` (see `scripts/setup.sh`).

use anyhow::{Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::output::{thousands, Output};
use common::plot::{
    markersize_px, rgb_f, sci_axis, Figure, LegendPos, Marker, Panel, Series, Style,
};
use common::text::{chapter2_books, Book};
use common::tokenizer::Tokenizer;

const PROJECT: &str = "project07_compare_tokenizers";
const SENTENCE: &str = "Canadian winters are kept WArM bY the friendliness of THE PEOPLE.";
const DEMO_PHRASE: &str = "Peanut and strawberry";
const DPI: f64 = 100.0;

/// Compare GPT-2, GPT-4 (cl100k_base) and BERT tokenizers.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// BERT tokenizer for Part 5: a hub id (its tokenizer.json is fetched) or a
    /// tokenizer.json file. Default: bert-base-uncased, or the offline copy in .minilm
    /// under --quick.
    #[arg(long)]
    bert: Option<String>,
}

/// A tokenizer with its display name and every id's byte length (−1: no such token).
struct Named {
    name: &'static str,
    tok: Tokenizer,
    lengths: Vec<i64>,
}

impl Named {
    fn new(name: &'static str, tok: Tokenizer) -> Self {
        let lengths = byte_lengths(&tok);
        Named { name, tok, lengths }
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say("--quick: the short texts of assets/data/ch02/books (written for this project) instead of the Gutenberg books, and BERT's vocabulary from .minilm.");
    }
    let gpt2 = Named::new("GPT-2", Tokenizer::gpt2());
    let gpt4 = Named::new("GPT-4", Tokenizer::cl100k());
    // Every text and tokenizer is fetched (or found in the cache) before Part 1.
    let books = chapter2_books(args.common.quick)?;
    let bert = load_bert(&args)?;

    part1_vocab_sizes(&gpt2, &gpt4, &mut out);
    part2_length_distributions(&gpt4, &gpt2, "ch2_proj7_part2", &mut out)?;
    part3_books(&gpt2, &gpt4, &books, "ch2_proj7_part3", &mut out)?;
    part4_translators(&gpt2, &gpt4, &mut out)?;

    out.say("\n# Part 5: BERT (bert-base-uncased) vs GPT-2");
    let bert = Named::new("BERT", bert);
    let gpt2 = Named {
        name: "GPT2",
        ..gpt2
    };
    part5_bert_vs_gpt2(&bert, &gpt2, &books, &mut out)?;
    out.finish()
}

/// BERT's tokenizer: `--bert`, else the offline copy under `--quick`, else the hub's.
fn load_bert(args: &Args) -> Result<Tokenizer> {
    match (&args.bert, args.common.quick) {
        (Some(b), _) if std::path::Path::new(b).is_file() => {
            Tokenizer::from_file(std::path::Path::new(b))
        }
        (Some(b), _) => Tokenizer::from_hub_tokenizer(b),
        (None, true) => Tokenizer::minilm_bert(),
        (None, false) => Tokenizer::from_hub_tokenizer("bert-base-uncased").context(
            "Part 5 needs bert-base-uncased's tokenizer.json: run once with network access, pass \
             --bert FILE, or use --quick (the offline copy of BERT's vocabulary in .minilm)",
        ),
    }
}

/// Byte length of every id decoded on its own; −1 for ids that are not tokens.
fn byte_lengths(tok: &Tokenizer) -> Vec<i64> {
    (0..tok.vocab_size() as u32)
        .map(|id| match tok.token_bytes(id) {
            Ok(b) => String::from_utf8_lossy(&b).len() as i64,
            Err(_) => -1,
        })
        .collect()
}

/// Counts of each non-negative length (index = length); negative entries are skipped.
fn bincount(lengths: &[i64]) -> Vec<usize> {
    let max = lengths.iter().copied().max().unwrap_or(0).max(0) as usize;
    let mut c = vec![0; max + 1];
    for &l in lengths.iter().filter(|&&l| l >= 0) {
        c[l as usize] += 1;
    }
    c
}

/// Mean single-token byte length over a token sequence.
fn mean_token_length(ids: &[u32], lengths: &[i64]) -> f64 {
    ids.iter().map(|&i| lengths[i as usize] as f64).sum::<f64>() / ids.len() as f64
}

/// `to.encode(from.decode(ids))`: translate a token sequence through text (no special
/// tokens added).
fn translate(from: &Tokenizer, to: &Tokenizer, ids: &[u32]) -> Result<Vec<u32>> {
    to.encode(&from.decode(ids)?)
}

/// Part 1: vocabulary sizes.
fn part1_vocab_sizes(gpt2: &Named, gpt4: &Named, out: &mut Output) {
    out.say("## Part 1: vocabulary sizes");
    for t in [gpt4, gpt2] {
        out.say(format!(
            "{} tokenizer has {} tokens.",
            t.name,
            thousands(t.tok.vocab_size() as i64)
        ));
    }
    out.say("API used: vocab_size, encode (no special tokens), decode, token_bytes (one id's raw bytes).");
}

/// Part 2 (and 5.2): byte-length distributions of two vocabularies, peak-normalised on
/// log–log axes. `first` is drawn first, in green squares.
fn part2_length_distributions(
    first: &Named,
    second: &Named,
    name: &str,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Byte-length distributions: {} vs {}",
        first.name, second.name
    ));
    let mut panel = Panel::new("Distributions of token lengths")
        .xlabel("Token length (byte)")
        .ylabel("Density")
        .log_x()
        .log_y()
        .legend_at(LegendPos::UpperRight);
    let mut rows = Vec::new();
    for (t, line, fill, marker) in [
        (
            first,
            rgb_f(0.3, 0.9, 0.3),
            rgb_f(0.7, 0.9, 0.7),
            Marker::Square,
        ),
        (
            second,
            rgb_f(0.3, 0.3, 0.9),
            rgb_f(0.7, 0.7, 0.9),
            Marker::Circle,
        ),
    ] {
        let bad: Vec<usize> = (0..t.lengths.len()).filter(|&i| t.lengths[i] < 0).collect();
        let counts = bincount(&t.lengths);
        let valid: Vec<i64> = t.lengths.iter().copied().filter(|&l| l >= 0).collect();
        let peak = (1..counts.len())
            .max_by_key(|&l| (counts[l], std::cmp::Reverse(l)))
            .unwrap_or(0);
        let max_len = counts.len() - 1;
        let max_id = t
            .lengths
            .iter()
            .position(|&l| l == max_len as i64)
            .unwrap_or(0);
        let mean = valid.iter().sum::<i64>() as f64 / valid.len() as f64;
        let long = valid.iter().filter(|&&l| l >= 16).count();
        if !bad.is_empty() {
            out.say(format!(
                "{}: {} ids cannot be decoded: {:?}; {} lengths remain",
                t.name,
                bad.len(),
                bad,
                valid.len()
            ));
        }
        out.say(format!(
            "{} byte lengths: {} tokens, peak at {peak} ({}), max {max_len} (id {max_id}, {:?}), mean {mean:.2}, {long} tokens of >= 16 bytes",
            t.name,
            counts.iter().sum::<usize>(),
            counts[peak],
            String::from_utf8_lossy(&t.tok.token_bytes(max_id as u32)?)
        ));
        out.say(format!(
            "  counts 1..=12: {}",
            (1..=12.min(max_len))
                .map(|l| format!("{l}:{}", counts[l]))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (l, &c) in counts.iter().enumerate().skip(1) {
            rows.push(vec![t.name.to_string(), l.to_string(), c.to_string()]);
        }
        // Peak-normalised; zero counts cannot sit on a log axis, so they are left out.
        let top = counts[peak] as f64;
        let (x, y): (Vec<f64>, Vec<f64>) = (1..counts.len())
            .filter(|&l| counts[l] > 0)
            .map(|l| (l as f64, counts[l] as f64 / top))
            .unzip();
        let style = Style::line(line)
            .marker(marker)
            .fill(fill)
            .size(markersize_px(8.0, DPI))
            .label(t.name);
        panel = panel.add(Series::line(x, y, style));
    }
    out.table(
        &format!("{name}_bincounts"),
        &["tokenizer", "length", "count"],
        &rows,
    )?;
    out.figure(&Figure::new(10.0, 4.0).panel(panel), name)?;
    Ok(())
}

/// Part 3 (and 5.3): token counts and mean token lengths of each book under two
/// tokenizers (x = `a`, y = `b`).
fn part3_books(a: &Named, b: &Named, books: &[Book], name: &str, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Token counts and lengths in books: {} vs {}",
        a.name, b.name
    ));
    out.say(format!(
        "{:<16} | {:>9} | {:>9} | {:>6} | {:>8} | {:>8}",
        "Book",
        a.name,
        b.name,
        "ratio",
        format!("{} len", a.name),
        format!("{} len", b.name)
    ));
    let (mut na, mut nb, mut la, mut lb) = (vec![], vec![], vec![], vec![]);
    let mut rows = Vec::new();
    for book in books {
        let ia = a.tok.encode(&book.text)?;
        let ib = b.tok.encode(&book.text)?;
        let (ma, mb) = (
            mean_token_length(&ia, &a.lengths),
            mean_token_length(&ib, &b.lengths),
        );
        out.say(format!(
            "{:<16} | {:>9} | {:>9} | {:>5.1}% | {:>8.3} | {:>8.3}",
            book.label,
            thousands(ia.len() as i64),
            thousands(ib.len() as i64),
            100.0 * ib.len() as f64 / ia.len() as f64,
            ma,
            mb
        ));
        rows.push(vec![
            book.label.clone(),
            ia.len().to_string(),
            ib.len().to_string(),
            ma.to_string(),
            mb.to_string(),
        ]);
        na.push(ia.len() as f64);
        nb.push(ib.len() as f64);
        la.push(ma);
        lb.push(mb);
    }
    let below = na.iter().zip(&nb).filter(|(x, y)| y < x).count();
    let above = la.iter().zip(&lb).filter(|(x, y)| y > x).count();
    out.say(format!(
        "{} needs fewer tokens than {} for {below} of {} books; its mean token is longer for {above}",
        b.name,
        a.name,
        books.len()
    ));
    out.table(
        &format!("{name}_books"),
        &[
            "book",
            &format!("tokens_{}", a.name),
            &format!("tokens_{}", b.name),
            &format!("mean_len_{}", a.name),
            &format!("mean_len_{}", b.name),
        ],
        &rows,
    )?;

    let identity = |xs: &[f64], ys: &[f64]| {
        let all = xs.iter().chain(ys);
        let lo = all.clone().copied().fold(f64::INFINITY, f64::min);
        let hi = all.copied().fold(f64::NEG_INFINITY, f64::max);
        Series::line(
            vec![lo, hi],
            vec![lo, hi],
            Style::line(rgb_f(0.5, 0.5, 0.5)).dashed(),
        )
        .with_label("identity")
    };
    let marker = |m: Marker, fill| {
        Style::markers((0, 0, 0), m)
            .fill(fill)
            .edge((0, 0, 0))
            .alpha(0.7)
            .size(markersize_px(12.0, DPI))
            .label("books")
    };
    let both: Vec<f64> = na.iter().chain(&nb).copied().collect();
    let (range, ticks) = sci_axis(&both);
    let counts = Panel::new("Book lengths in tokens")
        .xlabel(&format!("{} tokens", a.name))
        .ylabel(&format!("{} tokens", b.name))
        .add(identity(&na, &nb))
        .add(Series::scatter(
            na,
            nb,
            marker(Marker::Hexagon, rgb_f(0.9, 0.7, 0.7)),
        ))
        .xlim(range.0, range.1)
        .ylim(range.0, range.1)
        .x_ticks(ticks.clone())
        .y_ticks(ticks);
    // The book's 7b notebook reuses the left panel's axis labels here by mistake.
    let (xl, yl) = (
        format!("{} token lengths", a.name),
        format!("{} token lengths", b.name),
    );
    let lengths = Panel::new("Average token lengths (bytes)")
        .xlabel(&xl)
        .ylabel(&yl)
        .add(identity(&la, &lb))
        .add(Series::scatter(
            la,
            lb,
            marker(Marker::Square, rgb_f(0.7, 0.9, 0.7)),
        ));
    let fig = Figure::grid(10.0, 4.0, 1, 2).panel(counts).panel(lengths);
    out.figure(&fig, name)?;
    Ok(())
}

/// Part 4 (and 5.4): translate the test sentence between two tokenizers through text.
fn part4_translators(a: &Named, b: &Named, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Translators: {} <-> {}", a.name, b.name));
    let ids_a = a.tok.encode(SENTENCE)?;
    let ids_b = b.tok.encode(SENTENCE)?;
    let a_to_b = translate(&a.tok, &b.tok, &ids_a)?;
    let b_to_a = translate(&b.tok, &a.tok, &ids_b)?;
    out.say(format!("Original:               {SENTENCE}"));
    out.say(format!("{} ids: {ids_a:?}", a.name));
    out.say(format!("{} ids: {ids_b:?}", b.name));
    out.say(format!(
        "{} reconstruction: {}",
        a.name,
        a.tok.decode(&ids_a)?
    ));
    out.say(format!(
        "{} reconstruction: {}",
        b.name,
        b.tok.decode(&ids_b)?
    ));
    out.say(format!(
        "{} -> {} translation: {}",
        a.name,
        b.name,
        b.tok.decode(&a_to_b)?
    ));
    out.say(format!(
        "{} -> {} translation: {}",
        b.name,
        a.name,
        a.tok.decode(&b_to_a)?
    ));
    out.say(format!(
        "{}_to_{}({} ids) == {} ids: {}; {}_to_{}({} ids) == {} ids: {}",
        a.name,
        b.name,
        a.name,
        b.name,
        a_to_b == ids_b,
        b.name,
        a.name,
        b.name,
        a.name,
        b_to_a == ids_a
    ));
    if b_to_a != ids_a {
        out.say(format!("{} -> {} ids: {b_to_a:?}", b.name, a.name));
    }
    Ok(())
}

/// Part 5: the same comparisons with BERT's WordPiece as tokenizer "B" and GPT-2 as "G".
fn part5_bert_vs_gpt2(bert: &Named, gpt2: &Named, books: &[Book], out: &mut Output) -> Result<()> {
    out.say(format!("BERT tokenizer: {}", bert.tok.name()));

    out.say("\n## 5.0 Special tokens");
    let ids = bert.tok.encode_with_special_tokens(DEMO_PHRASE)?;
    out.say(format!("{DEMO_PHRASE:?} -> {ids:?}"));
    let pieces = ids
        .iter()
        .map(|&i| bert.tok.decode_one(i))
        .collect::<Result<Vec<_>>>()?;
    out.say(format!("one id at a time: {pieces:?}"));
    let inner = &ids[1..ids.len().saturating_sub(1).max(1)];
    out.say(format!(
        "slicing off the first and last id: {:?}",
        bert.tok.decode(inner)?
    ));
    out.say(format!(
        "encoding with add_special_tokens=False: {:?}",
        bert.tok.decode(&bert.tok.encode(DEMO_PHRASE)?)?
    ));

    out.say("\n## 5.1 Vocabulary sizes");
    for t in [bert, gpt2] {
        out.say(format!(
            "{} tokenizer has {} tokens.",
            t.name,
            thousands(t.tok.vocab_size() as i64)
        ));
    }
    let continuation = (0..bert.tok.vocab_size() as u32)
        .filter(|&i| bert.tok.decode_one(i).is_ok_and(|s| s.starts_with("##")))
        .count();
    out.say(format!(
        "{continuation} BERT entries are ## continuation pieces (lengths count the ##)"
    ));

    out.say("\n## 5.2");
    part2_length_distributions(bert, gpt2, "ch2_proj7b_part2", out)?;
    out.say("\n## 5.3");
    part3_books(bert, gpt2, books, "ch2_proj7b_part3", out)?;
    out.say("\n## 5.4");
    part4_translators(gpt2, bert, out)?;
    let lower = bert.tok.decode(&bert.tok.encode(SENTENCE)?)?;
    out.say(format!(
        "BERT round trip equals the original: {}; equals it lowercased: {}",
        lower == SENTENCE,
        lower == SENTENCE.to_lowercase()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl100k_gaps_and_specials() {
        let t = Tokenizer::cl100k();
        assert_eq!(t.vocab_size(), 100277);
        let lengths = byte_lengths(&t);
        let bad: Vec<usize> = (0..lengths.len()).filter(|&i| lengths[i] < 0).collect();
        let want: Vec<usize> = std::iter::once(100256).chain(100261..=100275).collect();
        assert_eq!(bad, want);
        assert_eq!(t.decode_one(100257).unwrap(), "<|endoftext|>");
        assert_eq!(t.decode_one(100276).unwrap(), "<|endofprompt|>");
        let c = bincount(&lengths);
        assert_eq!(c.iter().sum::<usize>(), 100261);
        assert_eq!((c[4], c.len() - 1), (15190, 128));
        assert_eq!(c.iter().max(), Some(&15190));
    }

    #[test]
    fn gpt2_bincount() {
        let lengths = byte_lengths(&Tokenizer::gpt2());
        let c = bincount(&lengths);
        assert_eq!(c.iter().sum::<usize>(), 50257);
        assert_eq!(c[5], 7301);
        assert_eq!(c.iter().max(), Some(&7301));
        assert_eq!(lengths.iter().position(|&l| l == 128), Some(35496));
    }

    #[test]
    fn test_sentence_ids_and_translation() {
        let (g2, g4) = (Tokenizer::gpt2(), Tokenizer::cl100k());
        let a = g2.encode(SENTENCE).unwrap();
        let b = g4.encode(SENTENCE).unwrap();
        assert_eq!(
            a,
            [
                28203, 45764, 389, 4030, 370, 3163, 44, 275, 56, 262, 1545, 26061, 286, 3336,
                36388, 13
            ]
        );
        assert_eq!(
            b,
            [
                60674, 86082, 527, 8774, 468, 7098, 44, 293, 56, 279, 4333, 49958, 315, 3247,
                67825, 13
            ]
        );
        assert_eq!(g2.decode(&a).unwrap(), SENTENCE);
        assert_eq!(g4.decode(&b).unwrap(), SENTENCE);
        assert_eq!(translate(&g2, &g4, &a).unwrap(), b);
        assert_eq!(translate(&g4, &g2, &b).unwrap(), a);
    }

    #[test]
    fn mean_token_length_counts_split_characters_three_bytes() {
        let g2 = Tokenizer::gpt2();
        let l2 = byte_lengths(&g2);
        let ascii = "Plain ASCII text, nothing else.";
        let ids = g2.encode(ascii).unwrap();
        assert!(
            (mean_token_length(&ids, &l2) - ascii.len() as f64 / ids.len() as f64).abs() < 1e-12
        );
        let ids = g2.encode("活").unwrap();
        assert_eq!(ids, [162, 112, 119]);
        assert_eq!(mean_token_length(&ids, &l2), 3.0);
        let g4 = Tokenizer::cl100k();
        let ids = g4.encode("活").unwrap();
        assert_eq!(ids, [76706]);
        assert_eq!(mean_token_length(&ids, &byte_lengths(&g4)), 3.0);
    }

    #[test]
    fn bert_wordpiece_when_available() {
        // Needs the offline vocabulary that scripts/setup.sh links as .minilm.
        let Ok(bert) = Tokenizer::minilm_bert() else {
            eprintln!("skipped: .minilm is not set up");
            return;
        };
        assert_eq!(
            bert.encode_with_special_tokens(DEMO_PHRASE).unwrap(),
            [101, 21443, 1998, 16876, 102]
        );
        let ids = bert.encode(SENTENCE).unwrap();
        assert_eq!(
            ids,
            [3010, 12214, 2024, 2921, 4010, 2011, 1996, 2767, 20942, 1997, 1996, 2111, 1012]
        );
        let back = bert.decode(&ids).unwrap();
        assert_ne!(back, SENTENCE);
        assert_eq!(back, SENTENCE.to_lowercase());
        assert_eq!(bert.decode_one(20942).unwrap(), "##liness");
        let c = bincount(&byte_lengths(&bert));
        assert_eq!((c.iter().sum::<usize>(), c.len() - 1), (30522, 18));
    }
}
