//! The `--quick` stand-in for SST-2's `train[:5%]`: 103 short movie-review phrases written
//! for this project (lower case, SST-2 style, trailing space), label 0 = negative,
//! 1 = positive. 103 = 3 × 32 + 7, so the batching drops the last 7 rows as the book's
//! 3,367 = 105 × 32 + 7 does.

use common::data::LabeledText;

/// `label<TAB>sentence` lines.
pub const SENTENCES_TSV: &str = include_str!("quick_sentences.tsv");

/// The written sentences, in file order.
pub fn sentences() -> Vec<LabeledText> {
    SENTENCES_TSV
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(label, text)| LabeledText {
            text: text.to_string(),
            label: label.parse().unwrap_or(-1),
        })
        .collect()
}
