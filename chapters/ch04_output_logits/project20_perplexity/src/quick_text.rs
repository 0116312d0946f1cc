//! The `--quick` texts, all written for this project (files in `src/quick/`):
//! - five short passages in different styles (plain narrative, verse, a stage scene, a
//!   fairy tale, an old-fashioned travel narrative) that stand in for Part 4's ten books;
//!   the last one, the voyage, stands in for GulliversTravels in Part 5;
//! - a "book" for Parts 1–3: front matter with a table of contents, the five passages, and
//!   a closing note about the file, so that, like a Gutenberg file as served, its first and
//!   last segments are not story text;
//! - rows in WikiText's raw format (headings ` = Title = `, spaced punctuation, `@-@`,
//!   empty rows) that stand in for Part 6's WikiText-2 test split.
//!
//! `scripts/fixture_reference.py` builds the same texts by the same rules (read there from
//! the same files) for the reference values in `fixtures/`.

/// The five passages: (label, text).
pub const PASSAGES: [(&str, &str); 5] = [
    ("Lamplighter", include_str!("quick/p1_lamplighter.txt")),
    ("HarbourSong", include_str!("quick/p2_harbour.txt")),
    ("TwoClerks", include_str!("quick/p3_clerks.txt")),
    ("FoxAndMiller", include_str!("quick/p4_fox.txt")),
    ("SaltIslands", include_str!("quick/p5_voyage.txt")),
];

const FRONT: &str = include_str!("quick/front.txt");
const BACK: &str = include_str!("quick/back.txt");
const WIKI_ROWS: &str = include_str!("quick/wiki_rows.txt");

/// Part 4 keeps the first 200 tokens of each quick passage (the book: 50,000 of each
/// book): three segments of the tiny model's 64 tokens and a dropped tail, as the book's
/// 50,000 tokens are 48 segments of 1,024 and a dropped tail of 848.
pub const QUICK_BOOK_TOKENS: usize = 200;

/// The Parts 1–3 text: front matter, the five passages separated by a blank line, the
/// closing note.
pub fn book() -> String {
    let body: Vec<&str> = PASSAGES.iter().map(|(_, t)| *t).collect();
    format!("{FRONT}{}{BACK}", body.join("\n"))
}

/// The WikiText-style rows: one row per line of `wiki_rows.txt`; as in the raw WikiText
/// files, a non-empty row keeps its line's `\n` and an empty line is the row `""`.
pub fn wiki_rows() -> Vec<String> {
    WIKI_ROWS
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}
