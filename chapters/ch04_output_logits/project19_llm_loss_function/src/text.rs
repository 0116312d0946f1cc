//! The passage of Parts 3–5, written for this project.
//!
//! The book scores the opening lines of a Beatles lyric (28 GPT-2 tokens, 22 of them
//! distinct). Song lyrics are not reproduced here; this passage, written afresh, has the
//! same shape: two sentences, one line, single spaces, 28 GPT-2 tokens of which 22 are
//! distinct (" some", " have" and "," repeat), a wistful memory with a list of three.
//! `--text` scores any other passage, the book's included.

/// The passage scored in Parts 3–5 (also used by `--quick`).
pub const TEXT: &str =
    "I still picture the streets where I grew up, though some have changed. Some shops closed, some moved, and some are still there.";
