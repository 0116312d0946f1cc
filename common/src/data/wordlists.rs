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

/// Project 46's 54 sentences with the object pronoun "him" exactly once (and no "her"); the
/// "her" half is not stored but derived by [`him_her_sentences`].
pub const HIM_SENTENCES: &str = "him_sentences.txt";

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

/// The 20 number strings chapter 3 compares (projects 10 and 11): "0".."9", then
/// "10", "20", .., "100".
pub fn digits_and_tens() -> Vec<String> {
    (0..10)
        .chain((1..=10).map(|k| 10 * k))
        .map(|i| i.to_string())
        .collect()
}

/// How many times `word` occurs in `text` as a whole word (a maximal run of letters and
/// digits), ignoring case: `whole_word_count("Him, him and himself", "him") == 2`.
pub fn whole_word_count(text: &str, word: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.to_lowercase() == word.to_lowercase())
        .count()
}

/// `text` with every whole-word, lower-case `from` replaced by `to` (`himself` is kept).
fn replace_whole_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, w: &str| out.push_str(if w == from { to } else { w });
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            word_start.get_or_insert(i);
        } else {
            if let Some(s) = word_start.take() {
                flush(&mut out, &text[s..i]);
            }
            out.push(c);
        }
    }
    if let Some(s) = word_start {
        flush(&mut out, &text[s..]);
    }
    out
}

/// The "him"/"her" sentence pairs of `him`: the sentences as given, then each with its
/// "him" replaced by "her", nothing else changed. Every sentence must hold exactly one
/// whole-word "him" (lower case) and no "her", in any case, so that the swap is well defined
/// and each sentence has a single target word; `source` names the list in errors.
pub fn him_her_pairs(him: &[String], source: &str) -> Result<Vec<String>> {
    for (i, s) in him.iter().enumerate() {
        let n_him = whole_word_count(s, "him");
        let n_lower = s
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| *w == "him")
            .count();
        if n_him != 1 || n_lower != 1 || whole_word_count(s, "her") != 0 {
            bail!(
                "{source}, sentence {i}: {s:?} should contain the word \"him\" (lower case) \
                 exactly once and no \"her\""
            );
        }
    }
    let her = him.iter().map(|s| replace_whole_word(s, "him", "her"));
    Ok(him.iter().cloned().chain(her).collect())
}

/// Project 46's 108 sentences: the 54 "him" sentences of [`HIM_SENTENCES`] (indices 0–53),
/// then the same 54 in the same order with "him" replaced by "her" (54–107).
pub fn him_her_sentences() -> Result<Vec<String>> {
    let path = data_asset(HIM_SENTENCES);
    him_her_pairs(&read_word_list(&path)?, &path.display().to_string())
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

    #[test]
    fn digits_and_tens_are_the_twenty_chapter_3_numbers() {
        let v = digits_and_tens();
        assert_eq!(v.len(), 20);
        assert_eq!((v[0].as_str(), v[9].as_str()), ("0", "9"));
        assert_eq!((v[10].as_str(), v[19].as_str()), ("10", "100"));
    }
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
    fn him_her_sentences_follow_the_p46_rules() {
        let all = him_her_sentences().unwrap();
        assert_eq!(all.len(), 108);
        let (him, her) = all.split_at(54);
        for (i, s) in him.iter().enumerate() {
            assert_eq!(whole_word_count(s, "him"), 1, "sentence {i}: {s}");
            assert_eq!(whole_word_count(s, "her"), 0, "sentence {i}: {s}");
            assert_eq!(her[i], s.replace(" him", " her"), "sentence {}", i + 54);
            assert_eq!(whole_word_count(&her[i], "her"), 1);
            assert_eq!(whole_word_count(&her[i], "him"), 0);
        }
        let distinct: std::collections::HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), 108, "duplicate sentences");
    }

    #[test]
    fn him_her_swap_is_whole_word_and_checked() {
        assert_eq!(whole_word_count("Him, him and himself.", "him"), 2);
        assert_eq!(
            replace_whole_word("Give him himself, him.", "him", "her"),
            "Give her himself, her."
        );
        let ok = vec!["They congratulated him on his success.".to_string()];
        assert_eq!(
            him_her_pairs(&ok, "t").unwrap(),
            vec![
                "They congratulated him on his success.",
                "They congratulated her on his success."
            ]
        );
        for bad in [
            "No pronoun here.",
            "I saw him and him.",
            "I told her about him.",
            "Him again.",
        ] {
            let e = him_her_pairs(&[bad.to_string()], "list.txt")
                .unwrap_err()
                .to_string();
            assert!(e.contains("list.txt, sentence 0"), "{e}");
        }
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
