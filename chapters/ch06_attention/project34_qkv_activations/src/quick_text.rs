//! The text `--quick` runs (and the tests) use in place of *The Great Gatsby*: a short
//! story written for this project (438 GPT-2 tokens, ten of them ` like`, the first at
//! token 20, before the 50-token context, so that dropping early targets is exercised;
//! `Like`, ` liked` and ` Unlike` are other tokens). It lives in `quick_text.txt` so that
//! the Python reference script reads the same characters.

/// The story, as written.
pub const TEXT: &str = include_str!("quick_text.txt");
