//! Every text and dataset the book uses: fetched at run time, cached on disk, offline-aware.
//!
//! - [`gutenberg`]: Project Gutenberg books, whole as served ([`gutenberg_raw`]) or without
//!   the licence header and footer ([`gutenberg_text`]); the ten books of chapter 2 ([`BOOKS`]).
//! - [`wikipedia`]: Wikipedia pages as plain text ([`wikipedia_text`]).
//! - [`web`]: raw web pages and files ([`web_page`], [`web_bytes`]).
//! - [`hf_datasets`]: wikitext, hellaswag, SST-2, rotten_tomatoes, English Wikipedia and
//!   C4 from the files the Hugging Face hub serves (parquet, `json.gz`), as plain records;
//!   [`split_percent_rows`] turns a percent slice such as `train[:5%]` into a row count.
//! - [`wordlists`]: the project's word lists (`assets/data/`) and downloaded ones.
//!
//! The free functions use [`DataCache::from_env`]; a [`DataCache`] value does the same
//! with another cache folder, offline flag or endpoints (tests, mirrors).
//!
//! Rules (see [`cache`] for the layout):
//! - The cache root is `ML4LLM_CACHE`, default `~/.cache/ml4llm-rs`; whole hub files go
//!   to the Hugging Face cache through [`crate::hub`].
//! - `HF_HUB_OFFLINE=1` or `ML4LLM_OFFLINE=1`: cached items load, anything else is an error
//!   that names the item, where it would be cached and how to get it. Without network, the
//!   same error names the failed URL.
//! - Downloads go to a temporary file, are checked against `Content-Length` and renamed into
//!   place; a cached file whose length disagrees with its record is fetched again; a hub
//!   parquet file that does not decode is deleted and fetched again once, and so is a partial
//!   copy of a big shard whose parquet row group or gzip stream does not decode (offline,
//!   both are errors that name the file).
//! - Pages that change (Wikipedia, web pages) are fetched once: the cached copy is the
//!   snapshot every later run uses. Delete it to refresh.

pub mod cache;
pub mod gutenberg;
pub mod hf_datasets;
mod http;
mod range;
pub mod web;
pub mod wikipedia;
pub mod wordlists;

#[cfg(test)]
mod tests_hf;
#[cfg(test)]
mod testserver;

pub use cache::DataCache;
pub use gutenberg::{book_label, strip_gutenberg, RawBook, BOOKS};
pub use hf_datasets::{split_percent_rows, Article, C4Doc, HellaSwagItem, HfFile, LabeledText};
pub use web::{WebPage, BROWSER_USER_AGENT};

use anyhow::Result;

/// Gutenberg book `id` whole, as served (BOM, licence blocks and CRLF kept). See
/// [`DataCache::gutenberg_raw`].
pub fn gutenberg_raw(id: u32) -> Result<String> {
    DataCache::from_env().gutenberg_raw(id)
}

/// A project's raw book text and where it came from: `--book-file`, the `--quick` text or
/// the Gutenberg book. See [`DataCache::raw_book_or_local`].
pub fn raw_book_or_local(book: &RawBook) -> Result<(String, String)> {
    DataCache::from_env().raw_book_or_local(book)
}

/// Gutenberg book `id` between its `*** START OF` / `*** END OF` markers, with `\n` line
/// endings. See [`DataCache::gutenberg_text`].
pub fn gutenberg_text(id: u32) -> Result<String> {
    DataCache::from_env().gutenberg_text(id)
}

/// The plain text of the English Wikipedia page `title`. See [`DataCache::wikipedia_text`].
pub fn wikipedia_text(title: &str) -> Result<String> {
    DataCache::from_env().wikipedia_text(title)
}

/// The raw body of the web page at `url`, decoded (4xx/5xx bodies kept). See
/// [`DataCache::web_page`] for the status, charset and fetch time.
pub fn web_page(url: &str) -> Result<String> {
    Ok(DataCache::from_env().web_page(url)?.text)
}

/// The bytes of the file at `url` (an image ...), with an optional User-Agent such as
/// [`BROWSER_USER_AGENT`]. See [`DataCache::web_bytes`].
pub fn web_bytes(url: &str, user_agent: Option<&str>) -> Result<Vec<u8>> {
    DataCache::from_env().web_bytes(url, user_agent)
}

/// The rows (`text`) of a wikitext config and split, e.g. `("wikitext-2-raw-v1", "test")`.
pub fn wikitext(config: &str, split: &str) -> Result<Vec<String>> {
    DataCache::from_env().wikitext(config, split)
}

/// Hellaswag's validation split (10,042 items).
pub fn hellaswag_validation() -> Result<Vec<HellaSwagItem>> {
    DataCache::from_env().hellaswag("validation")
}

/// GLUE SST-2 sentences and labels of `split`.
pub fn sst2(split: &str) -> Result<Vec<LabeledText>> {
    DataCache::from_env().sst2(split)
}

/// rotten_tomatoes texts and labels of `split`.
pub fn rotten_tomatoes(split: &str) -> Result<Vec<LabeledText>> {
    DataCache::from_env().rotten_tomatoes(split)
}

/// The first `n` English Wikipedia articles (dump 2023-11-01, dataset order), fetching only
/// the part of the first shard they are in.
pub fn wikipedia_articles(n: usize) -> Result<Vec<Article>> {
    DataCache::from_env().wikipedia_articles(n)
}

/// The texts of the first `n` C4 English documents, streamed from the first shard(s).
/// For a loop that stops on a condition, use [`DataCache::c4_documents`].
pub fn c4_texts(n: usize) -> Result<Vec<String>> {
    DataCache::from_env().c4_texts(n)
}
