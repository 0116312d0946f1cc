//! The text `--quick` runs (and the tests) use in place of *The Great Gatsby*: a short
//! passage written for this project (about 370 GPT-2 tokens). It lives in
//! `quick_text.txt` so that the Python reference script reads the same characters.

/// The passage, as written.
pub const TEXT: &str = include_str!("quick_text.txt");

/// Where Part 5's two sequences start under `--quick` (the book's run: tokens 10,000
/// and 20,000 of the novel). With the tiny model's 64-token context they cover tokens
/// 100..164 and 200..264 of the passage.
pub const STARTS: [usize; 2] = [100, 200];
