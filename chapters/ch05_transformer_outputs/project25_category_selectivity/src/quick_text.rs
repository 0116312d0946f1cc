//! The text `--quick` runs (and the tests) use in place of *The Great Gatsby*: a short
//! passage written for this project (about 260 GPT-2 tokens) in which each target word
//! (` years`, ` garage`, ` lawn`) occurs four or three times, every time at least 50
//! tokens into the passage so that each occurrence has a full 50-token context. It lives
//! in `quick_text.txt` so that a reader (or a reference script) sees the same characters.

/// The passage, as written.
pub const TEXT: &str = include_str!("quick_text.txt");
