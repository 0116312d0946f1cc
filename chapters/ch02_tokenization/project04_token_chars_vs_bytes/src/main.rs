//! # Project 4 — Token lengths in characters and bytes
//!
//! **Question.** How long is each of GPT-2's 50,257 tokens, counted in characters
//! (Unicode code points) and counted in UTF-8 bytes — and where do the two disagree?
//!
//! **What to look for.**
//! - Byte-level BPE works on bytes. Most tokens are ASCII, so characters = bytes and
//!   the points of Part 1 sit on the identity line; the largest cell is (5, 5).
//! - 873 tokens have more bytes than characters (never fewer): 128 are the lone bytes
//!   0x80–0xFF, which are not valid UTF-8 on their own and decode to U+FFFD (1 character,
//!   3 bytes); others are fragments of multi-byte characters or genuine non-ASCII text
//!   ("é", "—", "の").
//! - Part 3: mismatches form a dense block at ids 94–255 (the raw bytes), then are
//!   sparse, a little denser at high ids (merges learned late).
//! - Part 4: lengths are skewed, peaking at 5 bytes (≈14.5 %) with a long tail up to
//!   128 bytes: id 35496, "ÃÂ" ×32, a mojibake artefact of the training data.
//!
//! Every token is decoded on its own from its raw bytes with lossy UTF-8
//! (`String::from_utf8_lossy`, the same as Python's `errors='replace'`), without
//! cleaning up spaces. Byte length is the UTF-8 length of that decoded string, so a
//! lone invalid byte counts 3 (the replacement character's size).
//!
//! Run: `cargo run --release -p project04_token_chars_vs_bytes` (no downloads: GPT-2's
//! tokenizer is bundled; `--quick` runs the same).

use anyhow::{ensure, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::output::{thousands, Output};
use common::plot::{
    rainbow, rgb_f, scatter_size_px, Colormap, Figure, LegendPos, Marker, Panel, Series, Style,
};
use common::tokenizer::Tokenizer;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::collections::BTreeMap;

const PROJECT: &str = "project04_token_chars_vs_bytes";
const DEMO: [&str; 5] = ["x", "!", "ü", "🥰", "活"];
/// Figure resolution (pixels per inch) used to convert matplotlib marker sizes.
const DPI: f64 = 100.0;

/// Measure every GPT-2 token in characters and in bytes.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Every vocabulary entry decoded on its own, and its two lengths.
struct VocabLengths {
    text: Vec<String>,
    chars: Vec<usize>,
    bytes: Vec<usize>,
}

impl VocabLengths {
    /// Ids whose character and byte lengths differ.
    fn mismatches(&self) -> Vec<usize> {
        (0..self.chars.len())
            .filter(|&i| self.chars[i] != self.bytes[i])
            .collect()
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    // `--model` may name another tokenizer (hub id or folder with tokenizer.json).
    let tok = match &args.common.model {
        Some(m) => Tokenizer::from_pretrained(m)?,
        None => Tokenizer::gpt2(),
    };
    if args.common.quick {
        out.say(
            "--quick: the same as a full run (GPT-2's vocabulary is bundled, nothing to download).",
        );
    }
    let mut rng = StdRng::seed_from_u64(args.common.seed);

    demo_byte_counts(&mut out);
    let lens = vocab_lengths(&tok)?;
    out.say(format!(
        "\nTokenizer: {}, vocab size {}",
        tok.name(),
        lens.chars.len()
    ));
    part1_chars_vs_bytes(&lens, &mut rng, &mut out)?;
    part2_lengths_across_vocab(&lens, &mut out)?;
    part3_where_mismatches_are(&lens, &mut rng, &mut out)?;
    part4_length_distributions(&lens, &mut out)?;
    out.finish()
}

/// A string's length in characters (code points) and in UTF-8 bytes.
fn char_and_byte_len(s: &str) -> (usize, usize) {
    (s.chars().count(), s.len())
}

/// Demo: characters take 1 to 4 bytes in UTF-8.
fn demo_byte_counts(out: &mut Output) {
    out.say("## Demo: UTF-8 byte counts");
    for s in DEMO {
        out.say(format!("{} bytes in {s}", s.len()));
    }
}

/// Decode each id from its raw bytes (lossy UTF-8) and measure it.
fn vocab_lengths(tok: &Tokenizer) -> Result<VocabLengths> {
    let n = tok.vocab_size();
    let mut v = VocabLengths {
        text: Vec::with_capacity(n),
        chars: Vec::with_capacity(n),
        bytes: Vec::with_capacity(n),
    };
    for id in 0..n as u32 {
        let s = String::from_utf8_lossy(&tok.token_bytes(id)?).into_owned();
        let (c, b) = char_and_byte_len(&s);
        v.text.push(s);
        v.chars.push(c);
        v.bytes.push(b);
    }
    Ok(v)
}

/// The nonzero cells of the count matrix M[chars, bytes].
fn count_matrix(chars: &[usize], bytes: &[usize]) -> BTreeMap<(usize, usize), usize> {
    let mut m = BTreeMap::new();
    for (&c, &b) in chars.iter().zip(bytes) {
        *m.entry((c, b)).or_insert(0) += 1;
    }
    m
}

/// Part 1: characters against bytes for every token, as a 2-D count matrix.
fn part1_chars_vs_bytes(lens: &VocabLengths, rng: &mut StdRng, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: characters vs bytes");
    // The book keeps a dense 200×200 matrix; both lengths are at most 128, so only the
    // nonzero cells matter.
    let m = count_matrix(&lens.chars, &lens.bytes);
    ensure!(
        m.keys().all(|&(c, b)| c < 200 && b < 200),
        "a token is longer than the 200×200 matrix"
    );
    let total: usize = m.values().sum();
    let (&(mc, mb), &max_count) = m
        .iter()
        .max_by_key(|(_, &n)| n)
        .expect("the vocabulary is not empty");
    out.say(format!(
        "M has {} nonzero cells and sums to {total}; the largest cell is ({mc}, {mb}) with {max_count} tokens",
        m.len()
    ));
    for cell in [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (6, 6),
        (1, 2),
        (1, 3),
        (2, 4),
        (2, 6),
    ] {
        out.say(format!(
            "  M[{}, {}] = {}",
            cell.0,
            cell.1,
            m.get(&cell).unwrap_or(&0)
        ));
    }

    // One hexagon per nonzero cell, coloured by log(count) on [0, log(max)]: cells
    // holding one token get the darkest colour.
    let xs: Vec<f64> = m.keys().map(|k| k.0 as f64).collect();
    let ys: Vec<f64> = m.keys().map(|k| k.1 as f64).collect();
    let logs: Vec<f64> = m.values().map(|&n| (n as f64).ln()).collect();
    let xmax = *lens.chars.iter().max().unwrap_or(&0) as f64;
    let style = Style::markers((0, 0, 0), Marker::Hexagon)
        .size(common::plot::markersize_px(9.0, DPI))
        .edge((0, 0, 0))
        .alpha(0.7)
        .label("Log frequency");
    let panel = Panel::new("")
        .xlabel("Token length in characters")
        .ylabel("Token length in bytes")
        .add(Series::line(
            vec![0.0, xmax],
            vec![0.0, xmax],
            Style::line(rgb_f(0.8, 0.8, 0.8)).dashed(),
        ))
        .add(Series::scatter_colored(
            xs,
            ys,
            style,
            logs,
            Colormap::Magma,
        ));
    out.figure(&Figure::new(8.0, 5.0).panel(panel), "ch2_proj4_part1")?;
    out.table(
        "ch2_proj4_part1_matrix",
        &["chars", "bytes", "count"],
        &m.iter()
            .map(|(&(c, b), &n)| vec![c.to_string(), b.to_string(), n.to_string()])
            .collect::<Vec<_>>(),
    )?;

    let noteq = lens.mismatches();
    let fewer = (0..lens.chars.len())
        .filter(|&i| lens.bytes[i] < lens.chars[i])
        .count();
    let with_fffd = lens.text.iter().filter(|s| s.contains('\u{FFFD}')).count();
    out.say(format!(
        "{} tokens have chars != bytes ({fewer} have fewer bytes than characters); {with_fffd} decode to a string containing U+FFFD",
        noteq.len()
    ));
    // 30 draws with replacement, as the book's np.random.choice does.
    let sample: Vec<&str> = (0..30)
        .map(|_| lens.text[noteq[rng.random_range(0..noteq.len())]].as_str())
        .collect();
    out.say(format!("30 random mismatch tokens: {}", sample.join(" | ")));
    Ok(())
}

/// Part 2: both lengths along the vocabulary (characters nudged up by 0.1 so that
/// disagreements show).
fn part2_lengths_across_vocab(lens: &VocabLengths, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: lengths across the vocabulary");
    let ids: Vec<f64> = (0..lens.chars.len()).map(|i| i as f64).collect();
    let size = common::plot::markersize_px(5.0, DPI);
    let chars = Style::markers((255, 0, 0), Marker::Square)
        .size(size)
        .fill(rgb_f(0.9, 0.7, 0.7))
        .edge((255, 0, 0))
        .alpha(0.7)
        .label("Characters");
    let bytes = Style::markers((0, 0, 255), Marker::Circle)
        .size(size)
        .fill(rgb_f(0.7, 0.7, 0.9))
        .edge((0, 0, 255))
        .alpha(0.7)
        .label("Bytes");
    let panel = Panel::new("")
        .xlabel("Token index")
        .ylabel("Token length")
        .xlim(-10.0, 50267.0)
        .add(Series::scatter(
            ids.clone(),
            lens.chars.iter().map(|&c| c as f64 + 0.1).collect(),
            chars,
        ))
        .add(Series::scatter(
            ids,
            lens.bytes.iter().map(|&b| b as f64).collect(),
            bytes,
        ))
        .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch2_proj4_part2")?;
    out.table(
        "ch2_proj4_tokens",
        &["id", "chars", "bytes", "token"],
        &(0..lens.chars.len())
            .map(|i| {
                vec![
                    i.to_string(),
                    lens.chars[i].to_string(),
                    lens.bytes[i].to_string(),
                    lens.text[i].clone(),
                ]
            })
            .collect::<Vec<_>>(),
    )?;
    out.say("wrote every token's lengths to ch2_proj4_tokens.csv");
    Ok(())
}

/// Part 3: match (0) or mismatch (1) along the vocabulary, with a little vertical jitter.
fn part3_where_mismatches_are(
    lens: &VocabLengths,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: where the mismatch tokens are");
    let noteq = lens.mismatches();
    // Mismatches per id range: a block among the raw bytes, then sparse, denser late.
    let ranges = [
        (0, 93),
        (94, 255),
        (256, 4999),
        (5000, 9999),
        (10000, 19999),
        (20000, 29999),
        (30000, 39999),
        (40000, lens.chars.len() - 1),
    ];
    for (a, b) in ranges {
        let n = noteq.iter().filter(|&&i| (a..=b).contains(&i)).count();
        out.say(format!("  ids {a:>5}..={b:<5}: {n:>4} mismatches"));
    }
    let jitter = Normal::new(0.0, 0.02)?;
    let x: Vec<f64> = (0..lens.chars.len()).map(|i| i as f64).collect();
    let y: Vec<f64> = (0..lens.chars.len())
        .map(|i| f64::from(u8::from(lens.chars[i] != lens.bytes[i])) + jitter.sample(rng))
        .collect();
    let style = Style::markers((0, 0, 0), Marker::Hexagon)
        .size(common::plot::markersize_px(5.0, DPI))
        .fill(rgb_f(0.9, 0.7, 0.7))
        .edge((0, 0, 0))
        .alpha(0.3);
    let panel = Panel::new("")
        .xlabel("Token index")
        .add(Series::scatter(x, y, style))
        .xlim(-30.0, 50287.0)
        .ylim(-0.5, 1.5)
        .y_ticks(vec![(0.0, "Match".into()), (1.0, "Mismatch".into())]);
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch2_proj4_part3")?;
    Ok(())
}

/// Distinct values of `lengths` with their counts and percentages of all tokens.
fn distribution(lengths: &[usize]) -> Vec<(usize, usize, f64)> {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for &l in lengths {
        *counts.entry(l).or_insert(0) += 1;
    }
    let n = lengths.len() as f64;
    counts
        .into_iter()
        .map(|(l, c)| (l, c, 100.0 * c as f64 / n))
        .collect()
}

/// Part 4: how many tokens have each length, in bytes and in characters.
fn part4_length_distributions(lens: &VocabLengths, out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: length distributions");
    let by_bytes = distribution(&lens.bytes);
    let by_chars = distribution(&lens.chars);
    for (name, d, v) in [
        ("bytes", &by_bytes, &lens.bytes),
        ("characters", &by_chars, &lens.chars),
    ] {
        let (peak, count, pct) = d
            .iter()
            .copied()
            .max_by_key(|t| t.1)
            .expect("nonempty distribution");
        let mean = v.iter().sum::<usize>() as f64 / v.len() as f64;
        out.say(format!(
            "In {name}: peak at {peak} ({} tokens, {pct:.1}%), mean {mean:.2}, percentages sum to {:.6}",
            thousands(count as i64),
            d.iter().map(|t| t.2).sum::<f64>()
        ));
        out.say(format!(
            "  counts: {}",
            d.iter()
                .map(|(l, c, _)| format!("{l}:{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    // matplotlib's scatter takes per-point sizes and colours; here each point is its own
    // series (area 100 + 10·percent pt², colour = rainbow over the series' lengths), and
    // the first point of each carries the legend label.
    let mut panel = Panel::new("")
        .xlabel("Token length")
        .ylabel("Frequency (percent)")
        .grid()
        .legend();
    for (label, marker, d) in [
        ("Bytes", Marker::Square, &by_bytes),
        ("Characters", Marker::Circle, &by_chars),
    ] {
        let lo = d.first().map_or(0, |t| t.0) as f64;
        let hi = d.last().map_or(1, |t| t.0) as f64;
        for (k, &(l, _, pct)) in d.iter().enumerate() {
            let t = if hi > lo {
                (l as f64 - lo) / (hi - lo)
            } else {
                0.5
            };
            let mut style = Style::markers(rainbow(t), marker)
                .size(scatter_size_px(100.0 + 10.0 * pct, DPI))
                .edge((0, 0, 0))
                .alpha(0.7);
            if k == 0 {
                style = style.label(label);
            }
            panel = panel.add(Series::scatter(vec![l as f64], vec![pct], style));
        }
    }
    let ticks: Vec<(f64, String)> = by_bytes
        .iter()
        .step_by(2)
        .map(|(l, _, _)| (*l as f64, l.to_string()))
        .collect();
    panel = panel.x_ticks(ticks);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch2_proj4_part4")?;
    let mut rows = Vec::new();
    for (unit, d) in [("bytes", &by_bytes), ("characters", &by_chars)] {
        for (l, c, p) in d {
            rows.push(vec![
                unit.to_string(),
                l.to_string(),
                c.to_string(),
                format!("{p}"),
            ]);
        }
    }
    out.table(
        "ch2_proj4_part4_distribution",
        &["unit", "length", "count", "percent"],
        &rows,
    )?;

    // The first id with the most bytes.
    let (longest, _) =
        lens.bytes.iter().enumerate().fold(
            (0, 0),
            |best, (i, &b)| if b > best.1 { (i, b) } else { best },
        );
    out.say(format!(
        "Longest token in bytes: id {longest} ({} characters, {} bytes): {:?}",
        lens.chars[longest], lens.bytes[longest], lens.text[longest]
    ));
    let (widest, _) =
        lens.chars.iter().enumerate().fold(
            (0, 0),
            |best, (i, &c)| if c > best.1 { (i, c) } else { best },
        );
    out.say(format!(
        "Longest token in characters: id {widest} ({} characters): {:?}",
        lens.chars[widest], lens.text[widest]
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_strings_take_1_to_4_bytes() {
        let n: Vec<usize> = DEMO.iter().map(|s| s.len()).collect();
        assert_eq!(n, [1, 1, 2, 4, 3]);
        assert_eq!(char_and_byte_len("🥰"), (1, 4));
    }

    #[test]
    fn lone_bytes_decode_to_the_replacement_character() {
        let tok = Tokenizer::gpt2();
        assert_eq!(tok.token_bytes(94).unwrap(), vec![0xA1]);
        let s = String::from_utf8_lossy(&tok.token_bytes(94).unwrap()).into_owned();
        assert_eq!(s, "\u{FFFD}");
        assert_eq!(char_and_byte_len(&s), (1, 3));
        for id in 0..94 {
            let b = tok.token_bytes(id).unwrap();
            assert_eq!(b.len(), 1);
            assert!(b[0].is_ascii_graphic(), "id {id}");
        }
    }

    #[test]
    fn whole_vocabulary() {
        let lens = vocab_lengths(&Tokenizer::gpt2()).unwrap();
        assert_eq!(lens.chars.len(), 50257);
        assert!((0..50257).all(|i| lens.bytes[i] >= lens.chars[i] && lens.chars[i] >= 1));
        let m = count_matrix(&lens.chars, &lens.bytes);
        assert_eq!(m.values().sum::<usize>(), 50257);
        assert_eq!(m.len(), 63);
        assert_eq!(m[&(5, 5)], 7286);
        assert_eq!(lens.mismatches().len(), 873);
        assert_eq!((lens.chars[35496], lens.bytes[35496]), (64, 128));
        assert_eq!(lens.chars.iter().max(), Some(&66));
        let d = distribution(&lens.bytes);
        assert!((d.iter().map(|t| t.2).sum::<f64>() - 100.0).abs() < 1e-9);
        assert_eq!(d[4], (5, 7301, 100.0 * 7301.0 / 50257.0));
    }
}
