//! The text `--quick` runs (and the tests) use in place of WikiText-2: a short made-up
//! article written for this project, laid out like wikitext-2-raw-v1 rows (blank rows,
//! ` = Title = ` headers, paragraphs ending in a newline). It lives in
//! `quick_wikitext.json` so that the Python reference script reads the same rows.

use anyhow::{Context, Result};

const JSON: &str = include_str!("quick_wikitext.json");

/// The row printed as the example (the real run prints WikiText's row 1112; this short
/// text has 17 rows).
pub const EXAMPLE_ROW: usize = 3;

/// The rows of the quick text, in order.
pub fn rows() -> Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(JSON).context("quick_wikitext.json")?;
    let rows = v
        .get("rows")
        .and_then(|r| r.as_array())
        .context("quick_wikitext.json has no \"rows\" list")?;
    rows.iter()
        .map(|r| {
            r.as_str()
                .map(String::from)
                .context("quick_wikitext.json: a row is not a string")
        })
        .collect()
}
