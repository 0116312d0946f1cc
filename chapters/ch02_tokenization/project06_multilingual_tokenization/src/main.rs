//! # Project 6 — Tokenization and compression in different languages
//!
//! **Question.** The same two sentences, in eight languages, measured in characters,
//! UTF-8 bytes and GPT-2 tokens: how well does a tokenizer trained mostly on English
//! compress other languages and scripts?
//!
//! **What to look for.**
//! - English is cheapest: about 4.6 characters per token, and characters = bytes (ASCII),
//!   so it sits on the identity line of panel A.
//! - Spanish and Lithuanian (Latin script with a few accents) cost ≈1.7–2.4× the tokens of
//!   English; Arabic, Persian and Hebrew need more tokens than they have characters;
//!   Chinese needs about two tokens per character.
//! - Tamil gets no compression at all: one token per byte (553 tokens for 553 bytes).
//! - Panel C: tokens ≤ bytes always (every byte-level BPE token covers at least a byte),
//!   and byte-level BPE decodes every language back exactly.
//!
//! The book used Google-Translate versions of two lyric lines; these sentences were
//! written for this project, in the same eight languages and order. Invisible and
//! combining characters (Persian's zero-width non-joiners U+200C and hamza above U+0654)
//! are written as escapes so they can be seen; the table [`EXPECTED`] pins every
//! sentence's counts and SHA-256, which catches a lost invisible character.
//!
//! Run: `cargo run --release -p project06_multilingual_tokenization` (no downloads; the
//! tokenizer is bundled, `--quick` runs the same).

use anyhow::Result;
use clap::Parser;
use common::cli::CommonArgs;
use common::output::Output;
use common::plot::{dark2, rgb_f, Figure, Panel, Series, Style};
use common::text::n_chars;
use common::tokenizer::Tokenizer;
use sha2::{Digest, Sha256};

const PROJECT: &str = "project06_multilingual_tokenization";

/// One sentence pair (a baker and the schoolchildren who wave at him), in eight languages.
const SENTENCES: [(&str, &str); 8] = [
    ("English", "On Maple Street there is a baker who sells warm bread to everyone who passes by his door. And all the children on their way to school stop to wave and smile."),
    ("Spanish", "En la calle Maple hay un panadero que vende pan caliente a todos los que pasan por su puerta. Y todos los niños que van a la escuela se detienen a saludar y sonreír."),
    ("Arabic", "في شارع مابل يوجد خبّاز يبيع الخبز الساخن لكل من يمرّ أمام بابه. وكل الأطفال في طريقهم إلى المدرسة يتوقفون دائمًا ليلوّحوا ويبتسموا."),
    ("Persian", "در خیابان میپل نانوایی هست که نان گرم را به همه\u{654} کسانی که از جلوی درش می\u{200c}گذرند می\u{200c}فروشد. و همه\u{654} بچه\u{200c}ها در راه مدرسه می\u{200c}ایستند تا دست تکان دهند و لبخند بزنند."),
    ("Lithuanian", "Klevų gatvėje yra kepėjas, kuris parduoda šiltą duoną visiems, einantiems pro jo duris. Ir visi vaikai, eidami į mokyklą, sustoja pamojuoti ir nusišypsoti."),
    ("Chinese", "在枫树街上有一位面包师，他把热面包卖给每一个从他门前经过的人。所有上学路上的孩子都会停下来挥手微笑。"),
    ("Tamil", "மேப்பிள் தெருவில் தன் கதவைக் கடந்து செல்லும் அனைவருக்கும் சூடான ரொட்டியை விற்கும் ஒரு ரொட்டிக்காரர் இருக்கிறார். பள்ளிக்குச் செல்லும் வழியில் எல்லா குழந்தைகளும் நின்று கையசைத்துப் புன்னகைக்கிறார்கள்."),
    ("Hebrew", "ברחוב מייפל יש אופה שמוכר לחם חם לכל מי שעובר ליד הדלת שלו. וכל הילדים בדרכם לבית הספר עוצרים כדי לנופף ולחייך."),
];

/// (characters, UTF-8 bytes, GPT-2 tokens, first 16 hex digits of SHA-256) per sentence,
/// computed once with Hugging Face `tokenizers` on GPT-2's `tokenizer.json` and Python's
/// `len` / `hashlib`.
const EXPECTED: [(usize, usize, usize, &str); 8] = [
    (157, 157, 34, "91fd77015ac31a21"),
    (165, 167, 58, "b577f5c7ffc88026"),
    (132, 240, 137, "22c08e3fd4007bac"),
    (157, 285, 180, "afe5a028980d2578"),
    (155, 164, 81, "3e622e486bbb4928"),
    (50, 150, 102, "118aafdd17719f64"),
    (199, 553, 553, "5669c31ca2aff92c"),
    (111, 199, 133, "e1a21bb9ae8b1ab9"),
];

/// Characters, bytes and tokens of the same sentences in eight languages.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// What Part 1 measures for one language.
struct Counts {
    language: &'static str,
    chars: usize,
    bytes: usize,
    tokens: usize,
    sha16: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let tok = match &args.common.model {
        Some(m) => Tokenizer::from_pretrained(m)?,
        None => Tokenizer::gpt2(),
    };
    if args.common.quick {
        out.say("--quick: the same as a full run (the tokenizer is bundled).");
    }
    let counts = part1_compression_by_language(&tok, &mut out)?;
    part2_visualisations(&counts, &mut out)?;
    out.finish()
}

/// First 16 hex digits of the SHA-256 of the UTF-8 bytes.
fn sha256_16(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Part 1: encode, decode and count each language.
fn part1_compression_by_language(tok: &Tokenizer, out: &mut Output) -> Result<Vec<Counts>> {
    out.say("## Part 1: compression in different languages");
    let mut counts = Vec::new();
    for (language, sentence) in SENTENCES {
        let ids = tok.encode(sentence)?;
        let decoded = tok.decode(&ids)?;
        out.say(format!("{language:>10}: {decoded}"));
        if decoded != sentence {
            out.say(format!(
                "{language:>10}  !! the decode differs from the original"
            ));
        }
        counts.push(Counts {
            language,
            chars: n_chars(sentence),
            bytes: sentence.len(),
            tokens: ids.len(),
            sha16: sha256_16(sentence),
        });
    }
    let round_trips = SENTENCES
        .iter()
        .map(|(_, s)| Ok(tok.decode(&tok.encode(s)?)? == *s))
        .collect::<Result<Vec<bool>>>()?;
    out.say(format!(
        "decode(encode(s)) == s for {} of {} languages",
        round_trips.iter().filter(|&&b| b).count(),
        round_trips.len()
    ));

    // For comparison, GPT-4's cl100k_base (Project 7) on the same sentences.
    let cl100k = Tokenizer::cl100k();
    out.say(format!(
        "\n{:<10} | {:>5} | {:>5} | {:>6} | {:>6} | {}",
        "Language", "Chars", "Bytes", "Tokens", "cl100k", "sha256[:16]"
    ));
    let mut rows = Vec::new();
    for (c, (_, s)) in counts.iter().zip(SENTENCES) {
        let gpt4 = cl100k.encode(s)?.len();
        out.say(format!(
            "{:<10} | {:>5} | {:>5} | {:>6} | {:>6} | {}",
            c.language, c.chars, c.bytes, c.tokens, gpt4, c.sha16
        ));
        rows.push(vec![
            c.language.to_string(),
            c.chars.to_string(),
            c.bytes.to_string(),
            c.tokens.to_string(),
            gpt4.to_string(),
            c.sha16.clone(),
        ]);
    }
    out.table(
        "ch2_proj6_counts",
        &[
            "language",
            "chars",
            "bytes",
            "tokens",
            "cl100k_tokens",
            "sha256_16",
        ],
        &rows,
    )?;

    // The sentences carry invisible characters; check them against the pinned table.
    let changed: Vec<&str> = counts
        .iter()
        .zip(EXPECTED)
        .filter(|(c, e)| (c.chars, c.bytes, c.sha16.as_str()) != (e.0, e.1, e.3))
        .map(|(c, _)| c.language)
        .collect();
    if changed.is_empty() {
        out.say(
            "All eight sentences match their pinned character counts, byte counts and SHA-256.",
        );
    } else {
        out.say(format!(
            "Note: {changed:?} differ from the pinned table (edited sentences?)"
        ));
    }
    Ok(counts)
}

/// 1.1 × the largest count of any kind: the common axis limit of all panels.
fn max_count(counts: &[Counts]) -> f64 {
    let m = counts
        .iter()
        .flat_map(|c| [c.chars, c.bytes, c.tokens])
        .max()
        .unwrap_or(0);
    1.1 * m as f64
}

/// Part 2: three scatter panels, each language drawn as its initial letter.
fn part2_visualisations(counts: &[Counts], out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: visualisations");
    let max = max_count(counts);
    out.say(format!("maxCount = {max:.1}"));
    let panel = |title: &str,
                 xlabel: &str,
                 ylabel: &str,
                 fx: fn(&Counts) -> usize,
                 fy: fn(&Counts) -> usize| {
        let mut p = Panel::new(title)
            .xlabel(xlabel)
            .ylabel(ylabel)
            .xlim(0.0, max)
            .ylim(0.0, max)
            .add(
                Series::line(
                    vec![0.0, max],
                    vec![0.0, max],
                    Style::line(rgb_f(0.7, 0.7, 0.7)).dashed(),
                )
                .with_label("identity"),
            );
        for (i, c) in counts.iter().enumerate() {
            let initial = &c.language[..1];
            p = p.add(Series::text(
                fx(c) as f64,
                fy(c) as f64,
                initial,
                13,
                dark2(i),
            ));
        }
        p
    };
    let fig = Figure::grid(12.0, 3.5, 1, 3)
        .panel(panel(
            "A) Character vs. byte counts",
            "Character count",
            "Byte count",
            |c| c.chars,
            |c| c.bytes,
        ))
        .panel(panel(
            "B) Character vs. token counts",
            "Character count",
            "Token count",
            |c| c.chars,
            |c| c.tokens,
        ))
        .panel(panel(
            "C) Byte vs. token counts",
            "Bytes count",
            "Token count",
            |c| c.bytes,
            |c| c.tokens,
        ));
    out.figure(&fig, "ch2_proj6_part2")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_match_the_pinned_table() {
        let tok = Tokenizer::gpt2();
        for ((lang, s), (chars, bytes, tokens, sha)) in SENTENCES.iter().zip(EXPECTED) {
            assert_eq!(n_chars(s), chars, "{lang}");
            assert_eq!(s.len(), bytes, "{lang}");
            assert_eq!(sha256_16(s), sha, "{lang}");
            let ids = tok.encode(s).unwrap();
            assert_eq!(ids.len(), tokens, "{lang}");
            assert_eq!(tok.decode(&ids).unwrap(), *s, "{lang}");
            assert!(bytes >= chars && tokens <= bytes, "{lang}");
        }
        // Persian keeps its invisible characters.
        let persian = SENTENCES[3].1;
        assert_eq!(persian.matches('\u{200c}').count(), 4);
        assert_eq!(persian.matches('\u{654}').count(), 2);
    }

    #[test]
    fn sha_prefix_of_a_known_string() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(sha256_16("abc"), "ba7816bf8f01cfea");
    }
}
