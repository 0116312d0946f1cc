//! The texts `--quick` runs (and the tests) use in place of the rotten_tomatoes reviews:
//! eight short reviews written for this project, one per line of `quick_sentences.txt`
//! (3 to 35 GPT-2 tokens, so the batch is padded and one review is too short to give a lag
//! triple). The file is shared with the Python reference script, which reads the same
//! characters.

const TEXT: &str = include_str!("quick_sentences.txt");

/// The reviews, in order (blank lines skipped).
pub fn sentences() -> Vec<String> {
    TEXT.lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}
