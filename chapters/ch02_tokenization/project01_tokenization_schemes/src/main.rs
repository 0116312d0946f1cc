//! # Project 1 — Three tokenization schemes
//!
//! **Question.** One sentence, three ways to cut it into tokens: by character, by
//! whitespace-separated word, and with GPT-2's byte-level BPE. Every scheme is a
//! vocabulary (a sorted list of unique units) plus a lookup from text to integer ids.
//!
//! **What to look for.** Characters give a long sequence over a tiny vocabulary (53
//! tokens, 18 unique). Words give the shortest sequence (11 tokens, 8 unique), but the
//! vocabulary is case-sensitive and keeps punctuation attached, so it would grow without
//! bound on real text. GPT-2 sits in between (12 tokens from a fixed 50,257-entry
//! vocabulary): punctuation is its own token, case still matters ("The" 464 vs " the"
//! 262), and most tokens carry their leading space, so " Mike" (4995) and "Mike" (16073)
//! are different tokens.
//!
//! Run: `cargo run --release -p project01_tokenization_schemes` (no model weights needed;
//! GPT-2's tokenizer is bundled, so this works offline).

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::output::Output;
use common::plot::{cycle_color, rgb_f, Figure, Marker, Panel, Series, Style};
use common::tokenizer::Tokenizer;

const PROJECT: &str = "project01_tokenization_schemes";
const SENTENCE: &str = "The way you do anything is the way you do everything.";

/// Tokenize one sentence by character, by word and with GPT-2's BPE.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The sentence to tokenize.
    #[arg(long, default_value = SENTENCE)]
    text: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    // Every scheme needs at least one word (an axis of no tokens has no scale).
    if args.text.split_whitespace().next().is_none() {
        bail!("--text is empty (or only whitespace): give a sentence to tokenize, e.g. --text \"{SENTENCE}\"");
    }
    let mut out = args.common.output(PROJECT)?;
    // `--model` picks another tokenizer (a hub id or folder with tokenizer.json);
    // by default GPT-2's BPE, bundled with tiktoken-rs (the same ids as HF `gpt2`).
    let gpt2 = match &args.common.model {
        Some(m) => Tokenizer::from_pretrained(m)?,
        None => Tokenizer::gpt2(),
    };
    let chars = part1_characters(&args.text, &mut out)?;
    let words = part2_words(&args.text, &mut out)?;
    part3_gpt2(&args.text, &gpt2, chars, words, &mut out)?;
    out.finish()
}

/// Token counts of one scheme: (total, unique).
type Counts = (usize, usize);

/// The distinct items of `units`, sorted by code point: the scheme's vocabulary.
fn vocabulary<T: Ord + Clone>(units: &[T]) -> Vec<T> {
    let mut v = units.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Each unit's index in the (sorted) vocabulary: the encoding.
fn encode<T: Ord>(units: &[T], vocab: &[T]) -> Vec<usize> {
    units
        .iter()
        .map(|u| {
            vocab
                .binary_search(u)
                .expect("every unit is in its own vocabulary")
        })
        .collect()
}

/// Part 1: every character is a token.
fn part1_characters(text: &str, out: &mut Output) -> Result<Counts> {
    out.say("## Part 1: character tokenization");
    let characters: Vec<char> = text.chars().collect();
    out.say(format!("Sentence: {text}"));
    out.say(format!("Characters: {characters:?}"));
    let char_vocab = vocabulary(&characters);
    out.say(format!("Vocab: {char_vocab:?}"));
    out.say(format!(
        "{} characters, {} unique",
        characters.len(),
        char_vocab.len()
    ));
    out.say(format!(
        "Token | {}",
        char_vocab
            .iter()
            .map(|c| format!("{:>3}", format!("'{c}'")))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    out.say(format!(
        "Index | {}",
        (0..char_vocab.len())
            .map(|i| format!("{i:>3}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let tokens = encode(&characters, &char_vocab);
    out.say(format!("Tokens: {tokens:?}"));

    let labels: Vec<String> = char_vocab.iter().map(|c| c.to_string()).collect();
    let fig = Figure::new(12.0, 4.0).panel(token_scatter(
        &tokens,
        &labels,
        "Character index",
        12,
        "Characters as token ids",
    ));
    out.figure(&fig, "ch2_proj1_part1-tokenscatter")?;
    Ok((characters.len(), char_vocab.len()))
}

/// Part 2: every whitespace-separated word is a token.
fn part2_words(text: &str, out: &mut Output) -> Result<Counts> {
    out.say("\n## Part 2: word tokenization");
    let words: Vec<&str> = text.split_whitespace().collect();
    let word_vocab = vocabulary(&words);
    out.say(format!("Words: {words:?}"));
    out.say(format!(
        "{} words, {} unique",
        words.len(),
        word_vocab.len()
    ));
    out.say(format!("Vocab: {word_vocab:?}"));
    let tokens = encode(&words, &word_vocab);
    out.say(format!("Tokens: {tokens:?}"));

    let labels: Vec<String> = word_vocab.iter().map(|w| w.to_string()).collect();
    let fig = Figure::new(10.0, 3.0).panel(token_scatter(
        &tokens,
        &labels,
        "Word index",
        15,
        "Words as token ids",
    ));
    out.figure(&fig, "ch2_proj1_part2")?;
    Ok((words.len(), word_vocab.len()))
}

/// Part 3: GPT-2's byte-level BPE, and the three schemes side by side.
fn part3_gpt2(
    text: &str,
    tok: &Tokenizer,
    chars: Counts,
    words: Counts,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: GPT-2 tokenizer");
    out.say(format!(
        "Tokenizer: {} — vocab size {}",
        tok.name(),
        tok.vocab_size()
    ));
    let enc = tok.encode_full(text)?;
    out.say(format!("Token ids: {:?}", enc.ids));
    for (id, s) in enc.ids.iter().zip(&enc.tokens) {
        out.say(format!("{id:>6}  {s:?}"));
    }
    for probe in [" Mike", "Mike"] {
        out.say(format!("{probe:?} -> {:?}", tok.encode(probe)?));
    }
    let unique = vocabulary(&enc.ids).len();
    out.say(format!("{} tokens, {} unique", enc.ids.len(), unique));

    let names = ["Characters", "Words", "GPT-2"];
    let ticks: Vec<(f64, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i as f64, n.to_string()))
        .collect();
    let colors: Vec<_> = (0..3).map(cycle_color).collect();
    let bars = |title: &str, h: [usize; 3]| {
        Panel::new(title)
            .ylabel("Count")
            .add(Series::bars(
                vec![0.0, 1.0, 2.0],
                h.iter().map(|&x| x as f64).collect(),
                colors.clone(),
            ))
            .x_ticks(ticks.clone())
    };
    let fig = Figure::grid(10.0, 3.0, 1, 2)
        .panel(bars("Total", [chars.0, words.0, enc.ids.len()]))
        .panel(bars("Unique", [chars.1, words.1, unique]));
    out.figure(&fig, "ch2_proj1_part3")?;
    Ok(())
}

/// Token id against position, with the vocabulary entries on a twin right axis so
/// each row reads as its unit.
fn token_scatter(
    tokens: &[usize],
    labels: &[String],
    xlabel: &str,
    size: u32,
    title: &str,
) -> Panel {
    let x: Vec<f64> = (0..tokens.len()).map(|i| i as f64).collect();
    let y: Vec<f64> = tokens.iter().map(|&t| t as f64).collect();
    let style = Style::markers((0, 0, 0), Marker::Square)
        .size(size / 2)
        .fill(rgb_f(0.7, 0.7, 0.9))
        .edge((0, 0, 0));
    let ids: Vec<(f64, String)> = (0..labels.len())
        .map(|i| (i as f64, i.to_string()))
        .collect();
    let named: Vec<(f64, String)> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i as f64, format!("{l:?}")))
        .collect();
    Panel::new(title)
        .xlabel(xlabel)
        .ylabel("Token id")
        .add(Series::scatter(x, y, style))
        .ylim(-0.5, labels.len() as f64 - 0.5)
        .y_ticks(ids)
        .y2_ticks(named)
        .grid_dashed_y()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_scheme() {
        let chars: Vec<char> = SENTENCE.chars().collect();
        let vocab = vocabulary(&chars);
        assert!(vocab.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!((chars.len(), vocab.len()), (53, 18));
        let ids = encode(&chars, &vocab);
        assert_eq!(
            ids,
            vec![
                2, 7, 5, 0, 16, 3, 17, 0, 17, 10, 14, 0, 4, 10, 0, 3, 9, 17, 13, 7, 8, 9, 6, 0, 8,
                12, 0, 13, 7, 5, 0, 16, 3, 17, 0, 17, 10, 14, 0, 4, 10, 0, 5, 15, 5, 11, 17, 13, 7,
                8, 9, 6, 1
            ]
        );
        let back: String = ids.iter().map(|&i| vocab[i]).collect();
        assert_eq!(back, SENTENCE);
    }

    #[test]
    fn word_scheme() {
        let words: Vec<&str> = SENTENCE.split_whitespace().collect();
        let vocab = vocabulary(&words);
        assert_eq!(
            vocab,
            vec![
                "The",
                "anything",
                "do",
                "everything.",
                "is",
                "the",
                "way",
                "you"
            ]
        );
        let ids = encode(&words, &vocab);
        assert_eq!(ids, vec![0, 6, 7, 2, 1, 4, 5, 6, 7, 2, 3]);
        let back: Vec<&str> = ids.iter().map(|&i| vocab[i]).collect();
        assert_eq!(back.join(" "), SENTENCE);
    }

    #[test]
    fn gpt2_scheme() {
        let t = Tokenizer::gpt2();
        assert_eq!(t.vocab_size(), 50257);
        let ids = t.encode(SENTENCE).unwrap();
        assert_eq!(
            ids,
            vec![464, 835, 345, 466, 1997, 318, 262, 835, 345, 466, 2279, 13]
        );
        assert_eq!(t.decode(&ids).unwrap(), SENTENCE);
        assert_eq!(t.encode(" Mike").unwrap(), vec![4995]);
        assert_eq!(t.encode("Mike").unwrap(), vec![16073]);
        let u = vocabulary(&ids).len();
        assert!(u == 9 && u <= ids.len());
    }
}
