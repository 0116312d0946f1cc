//! The `--quick` stimulus: 60 short contexts written for this project in the style of
//! HellaSwag's `ctx_a` (ActivityNet captions such as "A woman stands at a counter ...",
//! and WikiHow steps "How to ... ."). Rows 0..30 are the quick training batch, rows
//! 30..60 the quick held-out batch. The same file is read by `scripts/fixture_losses.py`,
//! which records transformers' losses for it in `fixtures/`.

const CONTEXTS: &str = include_str!("quick_contexts.txt");

/// Rows of each quick batch (the book uses 500).
pub const QUICK_ROWS: usize = 30;

/// The 60 contexts, one per line.
pub fn contexts() -> Vec<String> {
    CONTEXTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}
