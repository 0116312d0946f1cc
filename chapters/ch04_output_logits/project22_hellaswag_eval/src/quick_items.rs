//! The `--quick` stand-in for HellaSwag: twelve items written for this project (not
//! taken from the dataset) in the format of the original release's
//! `hellaswag_val.jsonl`: an activity label, a context in two parts (`ctx` =
//! `ctx_a + " " + ctx_b`), four endings and the index of the right one. They are short
//! enough for the tiny test models' 64 positions (tiny-roberta's small tokenizer spends
//! about one token per two characters). Item 2 is written with the kind of broken
//! grammar and stray spaces that HellaSwag's row 2 shows. Labels are spread evenly
//! (three of each), so a scorer that ties every ending scores exactly 25%.

use anyhow::{anyhow, Context, Result};
use common::data::HellaSwagItem;
use serde_json::Value;

/// The items, one JSON object per line.
pub const QUICK_JSONL: &str = include_str!("../data/quick_hellaswag.jsonl");

/// The rows each part displays: the book's row numbers and, under `--quick`, the
/// written item that stands in for each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rows {
    /// Part 2: the row printed after the dataset summary.
    pub shown: usize,
    /// Part 7: an example of imperfect text.
    pub imperfect: usize,
    /// Part 3: the example scored by hand.
    pub by_hand: usize,
    /// Part 4: the test of the scoring function.
    pub scoring_test: usize,
}

/// The book's rows (Parts 2, 7, 3, 4).
pub const BOOK_ROWS: Rows = Rows {
    shown: 1,
    imperfect: 2,
    by_hand: 224,
    scoring_test: 42,
};

/// The written items that stand in for them under `--quick`.
pub const QUICK_ROWS: Rows = Rows {
    shown: 1,
    imperfect: 2,
    by_hand: 3,
    scoring_test: 4,
};

impl Rows {
    /// Every row a run reads, so a short data file is refused before Part 1.
    pub fn max(&self) -> usize {
        self.shown
            .max(self.imperfect)
            .max(self.by_hand)
            .max(self.scoring_test)
    }
}

/// The written items, parsed.
pub fn quick_items() -> Result<Vec<HellaSwagItem>> {
    QUICK_JSONL
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| parse_item(line).with_context(|| format!("quick item {i}")))
        .collect()
}

fn parse_item(line: &str) -> Result<HellaSwagItem> {
    let v: Value = serde_json::from_str(line)?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no string {k:?}"))
    };
    let int = |k: &str| {
        v.get(k)
            .and_then(Value::as_i64)
            .ok_or_else(|| anyhow!("no integer {k:?}"))
    };
    let endings: Vec<String> = v
        .get("endings")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no endings"))?
        .iter()
        .map(|e| e.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow!("an ending is not a string"))?;
    let label = usize::try_from(int("label")?)?;
    anyhow::ensure!(
        endings.len() == 4 && label < 4,
        "4 endings and a label 0..3"
    );
    Ok(HellaSwagItem {
        ind: int("ind")?,
        activity_label: s("activity_label")?,
        ctx_a: s("ctx_a")?,
        ctx_b: s("ctx_b")?,
        ctx: s("ctx")?,
        endings,
        label,
    })
}
