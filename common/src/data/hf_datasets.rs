//! Hugging Face datasets, read from the files the hub serves (parquet, `json.gz`), never
//! through Python.
//!
//! Where each dataset's files are (the paths other code in the wild downloads; they could
//! not be checked against the hub from here. If a repo moves its files, build an [`HfFile`]
//! with the new path and use the `*_from_file` readers or [`DataCache::hub_parquet_rows`]):
//!
//! | dataset | repo | file |
//! |---|---|---|
//! | wikitext | `Salesforce/wikitext` | `{config}/{split}-0000i-of-0000N.parquet` (N = 2 for the 103 configs' train split, else 1) |
//! | hellaswag | `Rowan/hellaswag` | `data/{split}-00000-of-00001.parquet` |
//! | glue/sst2 | `nyu-mll/glue` | `sst2/{split}-00000-of-00001.parquet` |
//! | rotten_tomatoes | `cornell-movie-review-data/rotten_tomatoes` | `{split}.parquet` |
//! | wikipedia (en) | `wikimedia/wikipedia` | `20231101.en/train-00000-of-00041.parquet` (first of 41 shards) |
//! | c4 (en) | `allenai/c4` | `en/c4-train.{i:05}-of-01024.json.gz` |
//!
//! Every dataset also has the hub's automatic conversion at revision `refs/convert/parquet`,
//! `{config}/{split}/0000.parquet`: `HfFile::new(repo, path).at_revision("refs/convert/parquet")`.
//!
//! Small files (all but the last two rows) are whole files in the Hugging Face cache through
//! [`crate::hub`]; one that does not parse is deleted and fetched again once. The Wikipedia
//! and C4 shards are hundreds of MB, of which the projects read the start: unless the whole
//! shard is already in the Hugging Face cache, only the needed part is fetched, with HTTP
//! range requests (the parquet footer, then row group after row group; the gzip stream as
//! far as it is read), and kept under `hf-partial/` in the data cache (see `range`). A
//! partial copy whose row group or gzip stream does not decode is deleted and fetched afresh
//! once, and reading goes on; offline that is an error naming the copy.

use super::cache::{safe_name, DataCache};
use super::range::{RangeFile, RangeReader};
use crate::hub::{self, RepoKind};
use anyhow::{anyhow, bail, Context, Result};
use parquet::errors::ParquetError;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::reader::FileReader;
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::record::{Field, Row};
use parquet::schema::types::Type;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One file of a dataset repo on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfFile {
    /// `owner/name`.
    pub repo: String,
    /// A branch, tag, commit or `refs/convert/parquet`; `None` is `main`.
    pub revision: Option<String>,
    /// The path inside the repo.
    pub path: String,
}

impl HfFile {
    /// `path` of dataset `repo` on `main`.
    pub fn new(repo: &str, path: &str) -> Self {
        Self {
            repo: repo.into(),
            revision: None,
            path: path.into(),
        }
    }
    /// The same file at another revision.
    pub fn at_revision(mut self, revision: &str) -> Self {
        self.revision = Some(revision.into());
        self
    }
    /// Its download URL on `endpoint` (`https://huggingface.co`).
    pub fn url(&self, endpoint: &str) -> String {
        let rev = self
            .revision
            .as_deref()
            .unwrap_or("main")
            .replace('/', "%2F");
        format!(
            "{}/datasets/{}/resolve/{rev}/{}",
            endpoint.trim_end_matches('/'),
            self.repo,
            self.path
        )
    }
}

impl fmt::Display for HfFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of dataset {}", self.path, self.repo)?;
        if let Some(r) = &self.revision {
            write!(f, " (revision {r})")?;
        }
        Ok(())
    }
}

fn check_split(dataset: &str, split: &str, known: &[&str]) -> Result<()> {
    if !known.contains(&split) {
        bail!(
            "{dataset} has no split {split:?}; its splits are {}",
            known.join(", ")
        );
    }
    Ok(())
}

/// The parquet files of a wikitext config and split, in order.
pub fn wikitext_files(config: &str, split: &str) -> Result<Vec<HfFile>> {
    const CONFIGS: [&str; 4] = [
        "wikitext-2-raw-v1",
        "wikitext-2-v1",
        "wikitext-103-raw-v1",
        "wikitext-103-v1",
    ];
    if !CONFIGS.contains(&config) {
        bail!(
            "wikitext has no config {config:?}; its configs are {}",
            CONFIGS.join(", ")
        );
    }
    check_split("wikitext", split, &["train", "validation", "test"])?;
    let shards = if config.starts_with("wikitext-103") && split == "train" {
        2
    } else {
        1
    };
    Ok((0..shards)
        .map(|i| {
            HfFile::new(
                "Salesforce/wikitext",
                &format!("{config}/{split}-{i:05}-of-{shards:05}.parquet"),
            )
        })
        .collect())
}

/// The hellaswag file of a split (`train`, `validation`, `test`).
pub fn hellaswag_file(split: &str) -> Result<HfFile> {
    check_split("hellaswag", split, &["train", "validation", "test"])?;
    Ok(HfFile::new(
        "Rowan/hellaswag",
        &format!("data/{split}-00000-of-00001.parquet"),
    ))
}

/// The GLUE SST-2 file of a split (`train`, `validation`, `test`; test labels are -1).
pub fn sst2_file(split: &str) -> Result<HfFile> {
    check_split("glue/sst2", split, &["train", "validation", "test"])?;
    Ok(HfFile::new(
        "nyu-mll/glue",
        &format!("sst2/{split}-00000-of-00001.parquet"),
    ))
}

/// The rotten_tomatoes file of a split (`train`, `validation`, `test`).
pub fn rotten_tomatoes_file(split: &str) -> Result<HfFile> {
    check_split("rotten_tomatoes", split, &["train", "validation", "test"])?;
    Ok(HfFile::new(
        "cornell-movie-review-data/rotten_tomatoes",
        &format!("{split}.parquet"),
    ))
}

/// The first shard of English Wikipedia, dump of 2023-11-01 (rows in dataset order).
pub fn wikipedia_en_file() -> HfFile {
    HfFile::new(
        "wikimedia/wikipedia",
        "20231101.en/train-00000-of-00041.parquet",
    )
}

/// Shard `i` (0..1024) of C4's English training split.
pub fn c4_en_file(i: u32) -> HfFile {
    HfFile::new(
        "allenai/c4",
        &format!("en/c4-train.{i:05}-of-01024.json.gz"),
    )
}

/// The row index that percent boundary `pct` of a split of `n_rows` rows stands for, as the
/// `datasets` library computes it for a slice such as `train[:5%]` (default rounding
/// `"closest"`): `int(round(pct * n_rows / 100))` with Python's `round` (halves go to the even
/// neighbour); a negative `pct` counts from the end (`train[-5%:]`); the result is clamped to
/// `0..=n_rows`. So `train[:5%]` is rows `0..split_percent_rows(n, 5.0)` and `train[10%:20%]`
/// is `split_percent_rows(n, 10.0)..split_percent_rows(n, 20.0)`. `datasets` only accepts
/// whole percents in `-100..=100`; fractions are rounded the same way here.
///
/// SST-2's train split (67,349 rows): `train[:5%]` is 3,367 rows (project 30); the first
/// English Wikipedia dump `20231101.en` (6,407,814 rows): `train[:1%]` is 64,078 (project 39).
///
/// # Panics
/// When `pct` is not finite or outside `-100..=100` (`datasets` raises an error there too).
pub fn split_percent_rows(n_rows: usize, pct: f64) -> usize {
    assert!(
        pct.is_finite() && (-100.0..=100.0).contains(&pct),
        "percent slice boundaries must be within -100..=100, got {pct}"
    );
    let b = (pct * n_rows as f64 / 100.0).round_ties_even();
    let b = if b < 0.0 { n_rows as f64 + b } else { b };
    (b.max(0.0) as usize).min(n_rows)
}

/// A hellaswag item.
#[derive(Debug, Clone, PartialEq)]
pub struct HellaSwagItem {
    /// The item's index in the original release.
    pub ind: i64,
    /// The ActivityNet or WikiHow category.
    pub activity_label: String,
    /// First part of the context.
    pub ctx_a: String,
    /// Second part of the context (the start of the sentence to complete).
    pub ctx_b: String,
    /// The full context (`ctx_a + " " + ctx_b`).
    pub ctx: String,
    /// The four candidate endings.
    pub endings: Vec<String>,
    /// The index of the right ending (0..=3).
    pub label: usize,
}

/// A text with an integer class label (SST-2: `sentence`, rotten_tomatoes: `text`;
/// 0 = negative, 1 = positive).
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledText {
    /// The text.
    pub text: String,
    /// The label.
    pub label: i64,
}

/// A Wikipedia article of `wikimedia/wikipedia`.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    /// The page id.
    pub id: String,
    /// Its URL.
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its plain text.
    pub text: String,
}

/// A C4 document.
#[derive(Debug, Clone, PartialEq)]
pub struct C4Doc {
    /// The text.
    pub text: String,
    /// The page it was taken from.
    pub url: String,
    /// When it was crawled.
    pub timestamp: String,
}

// ---------------------------------------------------------------------------------------
// Reading parquet rows.

/// The named columns of one row.
struct Fields<'a> {
    map: HashMap<String, Field>,
    row: usize,
    source: &'a str,
}

impl<'a> Fields<'a> {
    fn new(row: Row, index: usize, source: &'a str) -> Self {
        Self {
            map: row.into_columns().into_iter().collect(),
            row: index,
            source,
        }
    }
    fn get(&self, name: &str) -> Result<&Field> {
        self.map
            .get(name)
            .ok_or_else(|| anyhow!("{}, row {}: no column {name:?}", self.source, self.row))
    }
    fn bad(&self, name: &str, want: &str, got: &Field) -> anyhow::Error {
        anyhow!(
            "{}, row {}: column {name:?} should hold {want}, found {got:?}",
            self.source,
            self.row
        )
    }
    fn string(&self, name: &str) -> Result<String> {
        match self.get(name)? {
            Field::Str(s) => Ok(s.clone()),
            Field::Bytes(b) => Ok(String::from_utf8_lossy(b.data()).into_owned()),
            other => Err(self.bad(name, "text", other)),
        }
    }
    fn int(&self, name: &str) -> Result<i64> {
        let f = self.get(name)?;
        Ok(match f {
            Field::Byte(v) => i64::from(*v),
            Field::Short(v) => i64::from(*v),
            Field::Int(v) => i64::from(*v),
            Field::Long(v) => *v,
            Field::UByte(v) => i64::from(*v),
            Field::UShort(v) => i64::from(*v),
            Field::UInt(v) => i64::from(*v),
            Field::ULong(v) => i64::try_from(*v).map_err(|_| self.bad(name, "an integer", f))?,
            Field::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.bad(name, "an integer", f))?,
            other => return Err(self.bad(name, "an integer", other)),
        })
    }
    fn strings(&self, name: &str) -> Result<Vec<String>> {
        match self.get(name)? {
            Field::ListInternal(list) => list
                .elements()
                .iter()
                .map(|e| match e {
                    Field::Str(s) => Ok(s.clone()),
                    other => Err(self.bad(name, "a list of texts", other)),
                })
                .collect(),
            other => Err(self.bad(name, "a list of texts", other)),
        }
    }
}

/// A projection of the file's schema onto `columns` (an error lists the columns it has).
fn projection(reader: &SerializedFileReader<File>, columns: &[&str], source: &str) -> Result<Type> {
    let schema = reader.metadata().file_metadata().schema();
    let fields = columns
        .iter()
        .map(|c| {
            schema
                .get_fields()
                .iter()
                .find(|f| f.name() == *c)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
                    anyhow!("{source} has no column {c:?}; it has {}", names.join(", "))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Type::group_type_builder(schema.name())
        .with_fields(fields)
        .build()
        .context("building a parquet projection")
}

/// The byte span `[start, end)` of a row group's column chunks (offsets checked by
/// [`check_footer`]; here a negative one counts as 0 and sums saturate, so this never
/// panics).
fn row_group_span(rg: &RowGroupMetaData) -> (u64, u64) {
    let mut start = u64::MAX;
    let mut end = 0;
    for c in rg.columns() {
        let (s, l) = chunk_range(c);
        start = start.min(s);
        end = end.max(s.saturating_add(l));
    }
    (start.min(end), end)
}

/// A column chunk's start offset and length as the footer gives them (the parquet
/// crate's `byte_range` panics on negative values; this clamps them to 0).
fn chunk_range(c: &parquet::file::metadata::ColumnChunkMetaData) -> (u64, u64) {
    let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
    (start.max(0) as u64, c.compressed_size().max(0) as u64)
}

/// A parquet decoding error (so [`is_parquet_error`] sees damage, which makes a hub
/// file be fetched again).
fn damaged(msg: String) -> anyhow::Error {
    anyhow::Error::new(ParquetError::General(msg))
}

/// The footer's column chunks must lie inside the file (`file_len` bytes): a damaged
/// footer with negative or out-of-range offsets is an error here, before the parquet
/// crate reads (and asserts on) them.
fn check_footer(reader: &SerializedFileReader<File>, file_len: u64, source: &str) -> Result<()> {
    let meta = reader.metadata();
    for (g, rg) in meta.row_groups().iter().enumerate() {
        if rg.num_rows() < 0 {
            return Err(damaged(format!(
                "{source}: row group {g} has {} rows in its footer: the file is damaged",
                rg.num_rows()
            )));
        }
        for c in rg.columns() {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let len = c.compressed_size();
            let fits = start >= 0
                && c.data_page_offset() >= 0
                && len >= 0
                && (start as u64)
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= file_len);
            if !fits {
                return Err(damaged(format!(
                    "{source}: the footer puts column {:?} of row group {g} at offset {start}, \
                     {len} bytes, outside the file's {file_len} bytes: the file is damaged",
                    c.column_path().string()
                )));
            }
        }
    }
    Ok(())
}

/// Runs a call into the parquet decoder, turning a panic of the decoder (some damaged
/// pages trip its internal assertions rather than return an error) into an error.
fn decoder_call<T>(
    f: impl FnOnce() -> std::result::Result<T, ParquetError>,
) -> std::result::Result<T, ParquetError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(ParquetError::General(format!(
            "the parquet decoder failed on damaged data ({what})"
        )))
    })
}

/// True when two footers describe the same row groups (rows and byte spans).
fn same_layout(a: &SerializedFileReader<File>, b: &SerializedFileReader<File>) -> bool {
    let (a, b) = (a.metadata(), b.metadata());
    a.num_row_groups() == b.num_row_groups()
        && a.row_groups()
            .iter()
            .zip(b.row_groups())
            .all(|(x, y)| x.num_rows() == y.num_rows() && row_group_span(x) == row_group_span(y))
}

/// True when `e` comes from the parquet decoder (a damaged file), not from our checks.
fn is_parquet_error(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<ParquetError>())
}

/// Rows of a parquet file, read row group by row group (only the requested columns). On a
/// partial copy (HTTP range requests), each row group's bytes are fetched just before it is
/// read, and a row group that does not decode makes the copy be deleted and fetched afresh
/// once (offline: an error that names the copy).
pub struct ParquetRows {
    reader: SerializedFileReader<File>,
    range: Option<RangeFile>,
    proj: Type,
    next_group: usize,
    buf: VecDeque<Row>,
    failed: bool,
    refetched: bool,
    source: String,
}

impl ParquetRows {
    /// The rows of a local parquet file, columns `columns` only.
    pub fn open(path: &Path, columns: &[&str]) -> Result<Self> {
        let source = path.display().to_string();
        let file = File::open(path).with_context(|| format!("opening {source}"))?;
        let file_len = file
            .metadata()
            .with_context(|| format!("reading {source}"))?
            .len();
        let reader = decoder_call(|| SerializedFileReader::new(file))
            .with_context(|| format!("{source} is not a readable parquet file"))?;
        check_footer(&reader, file_len, &source)
            .with_context(|| format!("{source} is not a readable parquet file"))?;
        Self::from_reader(reader, None, columns, source)
    }

    fn from_reader(
        reader: SerializedFileReader<File>,
        range: Option<RangeFile>,
        columns: &[&str],
        source: String,
    ) -> Result<Self> {
        let proj = projection(&reader, columns, &source)?;
        Ok(Self {
            reader,
            range,
            proj,
            next_group: 0,
            buf: VecDeque::new(),
            failed: false,
            refetched: false,
            source,
        })
    }

    /// What errors call the file: its path, or the hub file and its partial copy's path.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Total number of rows in the file (from its footer).
    pub fn total_rows(&self) -> u64 {
        self.reader.metadata().file_metadata().num_rows().max(0) as u64
    }

    fn load(&mut self, i: usize) -> Result<()> {
        if let Some(rf) = &mut self.range {
            let (a, b) = row_group_span(self.reader.metadata().row_group(i));
            rf.ensure_range(a, b)?;
        }
        let rows = decoder_call(|| -> std::result::Result<Vec<Row>, ParquetError> {
            let rg = self.reader.get_row_group(i)?;
            rg.get_row_iter(Some(self.proj.clone()))?.collect()
        });
        match rows {
            Ok(rows) => {
                self.buf.extend(rows);
                Ok(())
            }
            Err(e) => {
                let e =
                    anyhow!(e).context(format!("row group {i} of {} does not decode", self.source));
                let Some(rf) = &mut self.range else {
                    return Err(e);
                };
                if rf.offline() {
                    return Err(rf.damaged_offline_error(e));
                }
                if self.refetched {
                    return Err(e.context(format!(
                        "{} is still unreadable after fetching it afresh",
                        self.source
                    )));
                }
                eprintln!(
                    "{e:#}: deleting the partial copy at {} and fetching it again",
                    rf.path().display()
                );
                rf.discard();
                self.refetched = true;
                let reader = open_parquet_footer(rf).with_context(|| {
                    format!("fetching {} afresh after a damaged row group", self.source)
                })?;
                if !same_layout(&self.reader, &reader) {
                    bail!(
                        "{} changed on the server while it was being read (its row groups differ \
                         from the ones read so far): run again",
                        self.source
                    );
                }
                // Row groups before `i` decoded from the old copy; the new one serves the rest.
                self.reader = reader;
                self.load(i)
            }
        }
    }
}

impl Iterator for ParquetRows {
    type Item = Result<Row>;
    fn next(&mut self) -> Option<Result<Row>> {
        loop {
            if let Some(r) = self.buf.pop_front() {
                return Some(Ok(r));
            }
            if self.failed || self.next_group >= self.reader.num_row_groups() {
                return None;
            }
            let i = self.next_group;
            self.next_group += 1;
            if let Err(e) = self.load(i) {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}

/// The first `limit` rows (all with `None`) of a local parquet file, columns `columns` only.
pub fn parquet_rows(path: &Path, columns: &[&str], limit: Option<usize>) -> Result<Vec<Row>> {
    ParquetRows::open(path, columns)?
        .take(limit.unwrap_or(usize::MAX))
        .collect()
}

/// One text column of a local parquet file.
pub fn parquet_strings(path: &Path, column: &str) -> Result<Vec<String>> {
    let source = path.display().to_string();
    ParquetRows::open(path, &[column])?
        .enumerate()
        .map(|(i, r)| Fields::new(r?, i, &source).string(column))
        .collect()
}

fn hellaswag_item(f: &Fields) -> Result<HellaSwagItem> {
    let endings = f.strings("endings")?;
    let label = f
        .int("label")
        .context("hellaswag labels are only in the train and validation splits")?;
    let label = usize::try_from(label)
        .ok()
        .filter(|l| *l < endings.len())
        .ok_or_else(|| {
            anyhow!(
                "{}, row {}: label {label} but {} endings",
                f.source,
                f.row,
                endings.len()
            )
        })?;
    Ok(HellaSwagItem {
        ind: f.int("ind")?,
        activity_label: f.string("activity_label")?,
        ctx_a: f.string("ctx_a")?,
        ctx_b: f.string("ctx_b")?,
        ctx: f.string("ctx")?,
        endings,
        label,
    })
}

/// A hellaswag item from one line of the original release's JSON lines.
fn hellaswag_item_json(v: &serde_json::Value, line: usize, source: &str) -> Result<HellaSwagItem> {
    let bad = |k: &str| anyhow!("{source}, line {line}: missing or malformed {k:?}");
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| bad(k))
    };
    let int = |k: &str| match v.get(k) {
        Some(serde_json::Value::Number(n)) => n.as_i64().ok_or_else(|| bad(k)),
        Some(serde_json::Value::String(t)) => t.trim().parse().map_err(|_| bad(k)),
        _ => Err(bad(k)),
    };
    let endings = v
        .get("endings")
        .and_then(|e| e.as_array())
        .and_then(|a| {
            a.iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| bad("endings"))?;
    let label = usize::try_from(int("label")?)
        .ok()
        .filter(|l| *l < endings.len())
        .ok_or_else(|| bad("label"))?;
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

const HELLASWAG_COLUMNS: [&str; 7] = [
    "ind",
    "activity_label",
    "ctx_a",
    "ctx_b",
    "ctx",
    "endings",
    "label",
];

/// Hellaswag items from a local file: the hub's parquet, or the original release's
/// `hellaswag_val.jsonl` (one JSON object per line; the label is an integer there).
pub fn hellaswag_from_file(path: &Path) -> Result<Vec<HellaSwagItem>> {
    let source = path.display().to_string();
    let is_jsonl = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "json");
    if !is_jsonl {
        return ParquetRows::open(path, &HELLASWAG_COLUMNS)?
            .enumerate()
            .map(|(i, r)| hellaswag_item(&Fields::new(r?, i, &source)))
            .collect();
    }
    let file = File::open(path).with_context(|| format!("opening {source}"))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {source}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("{source}, line {}: not JSON", i + 1))?;
        out.push(hellaswag_item_json(&v, i + 1, &source)?);
    }
    Ok(out)
}

/// Texts and labels from a local parquet file (`text_column`, `label_column`).
pub fn labeled_texts_from_file(
    path: &Path,
    text_column: &str,
    label_column: &str,
) -> Result<Vec<LabeledText>> {
    let source = path.display().to_string();
    ParquetRows::open(path, &[text_column, label_column])?
        .enumerate()
        .map(|(i, r)| {
            let f = Fields::new(r?, i, &source);
            Ok(LabeledText {
                text: f.string(text_column)?,
                label: f.int(label_column)?,
            })
        })
        .collect()
}

fn article(f: &Fields) -> Result<Article> {
    Ok(Article {
        id: f.string("id")?,
        url: f.string("url")?,
        title: f.string("title")?,
        text: f.string("text")?,
    })
}

/// The first `n` articles of a local `wikimedia/wikipedia` parquet shard.
pub fn articles_from_file(path: &Path, n: usize) -> Result<Vec<Article>> {
    let source = path.display().to_string();
    ParquetRows::open(path, &["id", "url", "title", "text"])?
        .take(n)
        .enumerate()
        .map(|(i, r)| article(&Fields::new(r?, i, &source)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// JSON lines (plain or gzip).

fn c4_doc(line: &str, source: &str, n: usize) -> Result<C4Doc> {
    let v: serde_json::Value = serde_json::from_str(line)
        .with_context(|| format!("{source}, document {n}: not a JSON line"))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Ok(C4Doc {
        text: s("text").ok_or_else(|| anyhow!("{source}, document {n}: no \"text\""))?,
        url: s("url").unwrap_or_default(),
        timestamp: s("timestamp").unwrap_or_default(),
    })
}

/// Documents of a JSON-lines stream (`{"text": ..., "url": ..., "timestamp": ...}` per line).
pub struct JsonLines<R: BufRead> {
    reader: R,
    source: String,
    n: usize,
    done: bool,
}

impl<R: BufRead> JsonLines<R> {
    /// Read documents from `reader`; `source` names it in errors.
    pub fn new(reader: R, source: &str) -> Self {
        Self {
            reader,
            source: source.into(),
            n: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<C4Doc>;
    fn next(&mut self) -> Option<Result<C4Doc>> {
        let mut line = String::new();
        while !self.done {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => self.done = true,
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => {
                    self.n += 1;
                    return Some(c4_doc(line.trim_end(), &self.source, self.n - 1));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(anyhow!(e).context(format!("reading {}", self.source))));
                }
            }
        }
        None
    }
}

/// Documents of a local `.jsonl` or `.json.gz` file (gzip is recognised by its magic bytes).
pub fn json_docs_from_file(path: &Path) -> Result<JsonLines<Box<dyn BufRead + Send>>> {
    let source = path.display().to_string();
    let mut file = File::open(path).with_context(|| format!("opening {source}"))?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0))
        .with_context(|| format!("reading {source}"))?;
    let reader: Box<dyn BufRead + Send> = if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(file),
        )))
    } else {
        Box::new(BufReader::new(file))
    };
    Ok(JsonLines::new(reader, &source))
}

// ---------------------------------------------------------------------------------------
// The hub.

impl DataCache {
    /// `f` if it is whole in the Hugging Face cache.
    pub fn cached_hub_file(&self, f: &HfFile) -> Option<PathBuf> {
        // Only a plain name inside the repo is looked up (no `..`, no absolute path).
        if hub::repo_path_problem(&f.path).is_some()
            || f.revision
                .as_deref()
                .is_some_and(|r| hub::repo_path_problem(r).is_some())
        {
            return None;
        }
        match &self.hub_cache {
            None => hub::cached_file(&f.repo, RepoKind::Dataset, f.revision.as_deref(), &f.path),
            Some(dir) => hf_hub::Cache::new(dir.clone())
                .repo(hf_hub::Repo::with_revision(
                    f.repo.clone(),
                    hf_hub::RepoType::Dataset,
                    f.revision.clone().unwrap_or_else(|| "main".into()),
                ))
                .get(&f.path),
        }
    }

    /// `f`, whole, from the Hugging Face cache or downloaded into it (unless offline).
    pub fn hub_dataset_file(&self, f: &HfFile) -> Result<PathBuf> {
        hub::check_repo_path(&f.path, &format!("file of dataset {}", f.repo))?;
        if let Some(p) = self.cached_hub_file(f) {
            return Ok(p);
        }
        match &self.hub_cache {
            Some(dir) => bail!(
                "{f} is not in the Hugging Face cache at {} (which this data cache only reads)",
                dir.display()
            ),
            None if self.offline => bail!(
                "{f} is not in the Hugging Face cache ({}) and offline mode is on (HF_HUB_OFFLINE or \
                 ML4LLM_OFFLINE): run once with network access, or fetch it with \
                 `huggingface-cli download --repo-type dataset {} {}`",
                hub::hub_cache_dir().display(),
                f.repo,
                f.path
            ),
            None => hub::hub_file(&f.repo, RepoKind::Dataset, f.revision.as_deref(), &f.path)
                .with_context(|| format!("getting {f}")),
        }
    }

    /// Delete a damaged hub file (the snapshot link and the blob it points to).
    fn remove_hub_file(path: &Path) {
        if let Ok(target) = std::fs::canonicalize(path) {
            if target != path {
                let _ = std::fs::remove_file(&target);
            }
        }
        let _ = std::fs::remove_file(path);
    }

    /// Read the whole hub parquet file `f` with `read`. A file the parquet decoder rejects
    /// is deleted (with a message) and fetched again once.
    pub fn with_hub_parquet<T>(&self, f: &HfFile, read: impl Fn(&Path) -> Result<T>) -> Result<T> {
        let path = self.hub_dataset_file(f)?;
        match read(&path) {
            Err(e) if is_parquet_error(&e) => {
                eprintln!(
                    "{} does not read as parquet ({e:#}): deleting it and fetching it again",
                    path.display()
                );
                Self::remove_hub_file(&path);
                let again = self.hub_dataset_file(f).with_context(|| {
                    format!(
                        "{} was damaged ({e:#}) and has been deleted",
                        path.display()
                    )
                })?;
                read(&again)
                    .with_context(|| format!("{f} is still unreadable after a fresh download"))
            }
            other => other,
        }
    }

    /// The rows of hub parquet file `f` (columns `columns`), lazily: from the whole file when
    /// it is in the Hugging Face cache, else from a partial copy that grows row group by row
    /// group (HTTP range requests), so reading the start of a big shard fetches only that.
    pub fn hub_parquet_rows(&self, f: &HfFile, columns: &[&str]) -> Result<ParquetRows> {
        if let Some(p) = self.cached_hub_file(f) {
            match ParquetRows::open(&p, columns) {
                Err(e) if is_parquet_error(&e) => {
                    eprintln!(
                        "{} does not read as parquet ({e:#}): deleting it",
                        p.display()
                    );
                    Self::remove_hub_file(&p);
                }
                other => return other,
            }
        }
        let rel = partial_rel(f);
        let url = f.url(&self.hf_endpoint);
        let what = f.to_string();
        let mut rf = RangeFile::open(self, &rel, &url, &what)?;
        let source = format!("{what} (partial copy at {})", rf.path().display());
        let reader = match open_parquet_footer(&mut rf) {
            Err(e) if is_parquet_error(&e) && rf.offline() => {
                return Err(rf.damaged_offline_error(e.context("its footer does not decode")))
            }
            Err(e) if is_parquet_error(&e) => {
                eprintln!("the cached footer of {what} does not decode ({e:#}): fetching it again");
                rf.discard();
                open_parquet_footer(&mut rf)
                    .with_context(|| format!("{what} is not a readable parquet file"))?
            }
            other => other?,
        };
        ParquetRows::from_reader(reader, Some(rf), columns, source)
    }

    /// All rows (`text`) of a wikitext config and split, in order, e.g.
    /// `wikitext("wikitext-2-raw-v1", "test")` (4,358 rows).
    pub fn wikitext(&self, config: &str, split: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for f in wikitext_files(config, split)? {
            out.extend(self.with_hub_parquet(&f, |p| parquet_strings(p, "text"))?);
        }
        Ok(out)
    }

    /// Hellaswag items of a split (`train` or `validation`; the test split has no labels).
    pub fn hellaswag(&self, split: &str) -> Result<Vec<HellaSwagItem>> {
        if split == "test" {
            bail!("hellaswag's test split has no labels; use \"validation\"");
        }
        self.with_hub_parquet(&hellaswag_file(split)?, hellaswag_from_file)
    }

    /// GLUE SST-2 sentences and labels of a split.
    pub fn sst2(&self, split: &str) -> Result<Vec<LabeledText>> {
        self.with_hub_parquet(&sst2_file(split)?, |p| {
            labeled_texts_from_file(p, "sentence", "label")
        })
    }

    /// rotten_tomatoes texts and labels of a split.
    pub fn rotten_tomatoes(&self, split: &str) -> Result<Vec<LabeledText>> {
        self.with_hub_parquet(&rotten_tomatoes_file(split)?, |p| {
            labeled_texts_from_file(p, "text", "label")
        })
    }

    /// English Wikipedia articles in dataset order, lazily (see [`DataCache::hub_parquet_rows`]).
    pub fn wikipedia_articles_iter(&self) -> Result<impl Iterator<Item = Result<Article>>> {
        let f = wikipedia_en_file();
        let rows = self.hub_parquet_rows(&f, &["id", "url", "title", "text"])?;
        let source = rows.source().to_string();
        Ok(rows
            .enumerate()
            .map(move |(i, r)| article(&Fields::new(r?, i, &source))))
    }

    /// The first `n` English Wikipedia articles (at most the first shard's rows).
    pub fn wikipedia_articles(&self, n: usize) -> Result<Vec<Article>> {
        self.wikipedia_articles_iter()?.take(n).collect()
    }

    /// C4 English training documents in order, lazily, shard after shard. A partial copy
    /// that turns out damaged (the gzip or JSON lines do not decode) is deleted and fetched
    /// afresh once, and reading goes on where it stopped; offline, that is an error naming it.
    pub fn c4_documents(&self) -> C4Docs {
        C4Docs {
            cache: self.clone(),
            shard: 0,
            docs: None,
            fetch_failed: None,
            pos: 0,
            refetched: false,
            done: false,
        }
    }

    /// The texts of the first `n` C4 English documents.
    pub fn c4_texts(&self, n: usize) -> Result<Vec<String>> {
        self.c4_documents()
            .take(n)
            .map(|d| d.map(|d| d.text))
            .collect()
    }

    /// The documents of one C4 shard: the whole file if it is in the Hugging Face cache,
    /// else streamed from a partial copy that grows as it is read; then also the flag that
    /// tells a failed fetch from a damaged copy (see [`RangeReader::fetch_failed_flag`]).
    fn c4_shard(&self, i: u32) -> Result<(C4Stream, Option<Arc<AtomicBool>>)> {
        let f = c4_en_file(i);
        if let Some(p) = self.cached_hub_file(&f) {
            return Ok((json_docs_from_file(&p)?, None));
        }
        let rel = partial_rel(&f);
        let rf = RangeFile::open(self, &rel, &f.url(&self.hf_endpoint), &f.to_string())?;
        let source = format!("{f} (partial copy at {})", self.path(&rel).display());
        let reader = RangeReader::new(rf);
        let flag = reader.fetch_failed_flag();
        let gz = flate2::read::MultiGzDecoder::new(BufReader::new(reader));
        Ok((
            JsonLines::new(Box::new(BufReader::new(gz)), &source),
            Some(flag),
        ))
    }
}

/// The documents of one C4 shard as they are decoded.
type C4Stream = JsonLines<Box<dyn BufRead + Send>>;

impl DataCache {
    /// The hub's partial copy of `f` (nothing is fetched).
    fn partial_copy(&self, f: &HfFile) -> Result<RangeFile> {
        RangeFile::open(
            self,
            &partial_rel(f),
            &f.url(&self.hf_endpoint),
            &f.to_string(),
        )
    }
}

/// `hf-partial/{repo}/{revision}/{path}` for a partial copy of `f`.
pub(super) fn partial_rel(f: &HfFile) -> PathBuf {
    let mut rel = PathBuf::from("hf-partial");
    for part in f.repo.split('/') {
        rel.push(safe_name(part));
    }
    rel.push(safe_name(f.revision.as_deref().unwrap_or("main")));
    for part in f.path.split('/') {
        rel.push(safe_name(part));
    }
    rel
}

/// Fetch a parquet file's footer into `rf` and open it.
fn open_parquet_footer(rf: &mut RangeFile) -> Result<SerializedFileReader<File>> {
    rf.ensure_tail(64 << 10)?;
    let total = rf.total().unwrap_or(0);
    let mut file =
        File::open(rf.path()).with_context(|| format!("opening {}", rf.path().display()))?;
    let mut tail = [0u8; 8];
    if total < 12 {
        return Err(anyhow!(ParquetError::General("file too short".into())));
    }
    file.seek(SeekFrom::Start(total - 8))?;
    file.read_exact(&mut tail)?;
    if &tail[4..] != b"PAR1" {
        return Err(anyhow!(ParquetError::General(
            "no PAR1 magic at the end".into()
        )));
    }
    let meta_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    rf.ensure_tail(meta_len + 8)?;
    let reader = decoder_call(|| SerializedFileReader::new(file))?;
    check_footer(&reader, total, &rf.path().display().to_string())?;
    Ok(reader)
}

/// C4 documents, shard after shard (see [`DataCache::c4_documents`]).
pub struct C4Docs {
    cache: DataCache,
    shard: u32,
    docs: Option<C4Stream>,
    /// Set while the shard is read from a partial copy: true once a fetch has failed.
    fetch_failed: Option<Arc<AtomicBool>>,
    /// Documents of the current shard handed out so far.
    pos: usize,
    /// Whether the current shard's partial copy has been fetched afresh already.
    refetched: bool,
    done: bool,
}

impl C4Docs {
    /// After the error `e` in the current shard: when it is a damaged partial copy (not a
    /// failed fetch), delete it, fetch it afresh and skip the documents already handed out;
    /// once per shard, and never offline.
    fn recover(&mut self, e: anyhow::Error) -> Result<()> {
        let Some(flag) = &self.fetch_failed else {
            return Err(e); // a whole file of the Hugging Face cache
        };
        if flag.load(Ordering::SeqCst) {
            return Err(e); // the network or offline mode, not damage
        }
        let f = c4_en_file(self.shard);
        let mut rf = self.cache.partial_copy(&f)?;
        if rf.offline() {
            return Err(rf.damaged_offline_error(e));
        }
        if self.refetched {
            return Err(e.context(format!("{f} is still unreadable after fetching it afresh")));
        }
        eprintln!(
            "{e:#}: deleting the partial copy at {} and fetching it again",
            rf.path().display()
        );
        rf.discard();
        self.refetched = true;
        let (mut docs, flag) = self.cache.c4_shard(self.shard)?;
        for k in 0..self.pos {
            match docs.next() {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.context(format!("re-reading {f} fetched afresh"))),
                None => bail!(
                    "{f} fetched afresh ends after {k} documents, but {} were read before",
                    self.pos
                ),
            }
        }
        self.docs = Some(docs);
        self.fetch_failed = flag;
        Ok(())
    }
}

impl Iterator for C4Docs {
    type Item = Result<C4Doc>;
    fn next(&mut self) -> Option<Result<C4Doc>> {
        while !self.done {
            if self.docs.is_none() {
                if self.shard >= 1024 {
                    self.done = true;
                    return None;
                }
                match self.cache.c4_shard(self.shard) {
                    Ok((d, flag)) => {
                        self.docs = Some(d);
                        self.fetch_failed = flag;
                        self.pos = 0;
                        self.refetched = false;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            match self.docs.as_mut().and_then(Iterator::next) {
                Some(Err(e)) => {
                    if let Err(e) = self.recover(e) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                Some(ok) => {
                    self.pos += 1;
                    return Some(ok);
                }
                None => {
                    self.docs = None;
                    self.shard += 1;
                }
            }
        }
        None
    }
}
