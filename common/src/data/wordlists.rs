//! Word lists: the project's own in `assets/data/`, and downloaded ones in the cache.
//!
//! File format of the project's lists: UTF-8 text, one entry per line; blank lines and
//! lines starting with `#` are ignored. A labelled list has `word<TAB>label` lines.

use super::cache::{safe_name, DataCache, Fetch};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// 18 words in 3 categories of 6 (space, furniture, fruit), in the order of project 12.
pub const WORDS_3CAT_18: &str = "words_3cat_18.tsv";
/// 34 words in 3 categories (space 10, home 13, fruit 11), in the order of projects 25 and 38.
pub const WORDS_3CAT_34: &str = "words_3cat_34.tsv";

/// Project 44's verb list (github david47k/top-english-wordlists).
pub const TOP_ENGLISH_VERBS: &str = "top_english_verbs_lower_10000.txt";
/// Project 44's noun list (github david47k/top-english-wordlists).
pub const TOP_ENGLISH_NOUNS: &str = "top_english_nouns_lower_10000.txt";

/// The path of a file of `assets/data/`.
pub fn data_asset(name: &str) -> PathBuf {
    crate::assets_dir().join("data").join(name)
}

fn entries(path: &Path) -> Result<Vec<(usize, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the word list {} (a UTF-8 text file)",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect())
}

/// The entries of a word list file (one per line; blanks and `#` comments skipped).
pub fn read_word_list(path: &Path) -> Result<Vec<String>> {
    Ok(entries(path)?.into_iter().map(|(_, l)| l).collect())
}

/// The `(word, label)` pairs of a labelled list (`word<TAB>label` lines).
pub fn read_labeled_words(path: &Path) -> Result<Vec<(String, String)>> {
    entries(path)?
        .into_iter()
        .map(|(n, l)| match l.split_once('\t') {
            Some((w, lab)) if !w.trim().is_empty() && !lab.trim().is_empty() => {
                Ok((w.trim().to_string(), lab.trim().to_string()))
            }
            _ => bail!(
                "{}, line {n}: expected `word<TAB>label`, found {l:?}",
                path.display()
            ),
        })
        .collect()
}

/// A word list of `assets/data/`.
pub fn asset_words(name: &str) -> Result<Vec<String>> {
    read_word_list(&data_asset(name))
}

/// A labelled word list of `assets/data/` (e.g. [`WORDS_3CAT_34`]).
pub fn asset_labeled_words(name: &str) -> Result<Vec<(String, String)>> {
    read_labeled_words(&data_asset(name))
}

/// `text.split("\n")` as Python does it: a trailing newline gives a final empty entry and
/// nothing else is trimmed (project 44 counts 10,001 entries in a 10,000-word file).
pub fn split_lines_python(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_string).collect()
}

impl DataCache {
    /// A list of the david47k/top-english-wordlists repository (e.g. [`TOP_ENGLISH_VERBS`]),
    /// fetched once and cached as `wordlists/{file}`; returned as [`split_lines_python`] splits it.
    pub fn top_english_wordlist(&self, file: &str) -> Result<Vec<String>> {
        if file.is_empty() || file.contains('/') || file.contains("..") {
            bail!("{file:?} is not a file name of the top-english-wordlists repository");
        }
        let url = format!("{}/{file}", self.wordlist_base.trim_end_matches('/'));
        let rel = PathBuf::from("wordlists").join(safe_name(file));
        let what = format!("the word list {file}");
        let path = self.fetch(&Fetch {
            what: &what,
            url: &url,
            rel: &rel,
            user_agent: None,
            allow_error_status: false,
        })?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (not UTF-8?)", path.display()))?;
        Ok(split_lines_python(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testserver::{Route, TestServer};

    #[test]
    fn project_lists_have_the_spec_counts() {
        let w18 = asset_labeled_words(WORDS_3CAT_18).unwrap();
        assert_eq!(w18.len(), 18);
        for cat in ["space", "furniture", "fruit"] {
            assert_eq!(w18.iter().filter(|(_, l)| l == cat).count(), 6, "{cat}");
        }
        assert_eq!(w18[0].0, "space");
        assert_eq!(w18[17].0, "grape");

        let w34 = asset_labeled_words(WORDS_3CAT_34).unwrap();
        let count = |c: &str| w34.iter().filter(|(_, l)| l == c).count();
        assert_eq!(
            (w34.len(), count("space"), count("home"), count("fruit")),
            (34, 10, 13, 11)
        );
        assert_eq!(w34[0].0, "galaxy");
        assert_eq!(w34[33].0, "fruit");
        // Categories are contiguous, in the order space, home, fruit.
        let labels: Vec<&str> = w34.iter().map(|(_, l)| l.as_str()).collect();
        assert!(labels.windows(2).filter(|w| w[0] != w[1]).count() == 2);
    }

    #[test]
    fn list_parsing_and_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("l.tsv");
        std::fs::write(&p, "# a comment\n\nalpha\tA\n beta \t B\n").unwrap();
        assert_eq!(
            read_labeled_words(&p).unwrap(),
            vec![("alpha".into(), "A".into()), ("beta".into(), "B".into())]
        );
        assert_eq!(read_word_list(&p).unwrap().len(), 2);
        std::fs::write(&p, "alpha\n").unwrap();
        let e = read_labeled_words(&p).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(read_word_list(&tmp.path().join("missing.txt")).is_err());
        assert_eq!(split_lines_python("is\nbe\n"), vec!["is", "be", ""]);
    }

    #[test]
    fn downloaded_lists_are_cached() {
        let srv = TestServer::start(vec![Route::ok(
            "/lists/top_english_verbs_lower_10000.txt",
            "is\nbe\nhave\n",
        )]);
        let tmp = tempfile::tempdir().unwrap();
        let mut c = DataCache::isolated(tmp.path());
        c.wordlist_base = format!("{}/lists/", srv.base);
        assert_eq!(
            c.top_english_wordlist(TOP_ENGLISH_VERBS).unwrap(),
            vec!["is", "be", "have", ""]
        );
        c.offline = true;
        assert_eq!(c.top_english_wordlist(TOP_ENGLISH_VERBS).unwrap().len(), 4);
        let e = format!(
            "{:#}",
            c.top_english_wordlist(TOP_ENGLISH_NOUNS).unwrap_err()
        );
        assert!(
            e.contains("top_english_nouns_lower_10000.txt") && e.contains("offline"),
            "{e}"
        );
        assert!(c.top_english_wordlist("../x").is_err());
    }
}
