//! Counting text the way the book's Python does: characters are Unicode code points
//! (Python `len(str)`), words are the pieces of Python's `str.split()`, bytes are the
//! UTF-8 length. Also the texts of chapter 2 (the ten Gutenberg books, or the short
//! texts in `assets/data/ch02/` that `--quick` runs use).

use anyhow::{bail, Context, Result};

/// Python's `str.isspace()` for one character: Unicode `White_Space` (Rust's
/// `char::is_whitespace`) plus the information separators U+001C..=U+001F, which
/// Python also treats as whitespace.
pub fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The words of Python's `text.split()` with no argument: split on runs of whitespace
/// (see [`is_py_whitespace`]), no empty pieces. Case and punctuation stay attached.
pub fn py_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_py_whitespace).filter(|w| !w.is_empty())
}

/// Number of Unicode code points (Python `len(str)`), not bytes.
pub fn n_chars(text: &str) -> usize {
    text.chars().count()
}

/// One text of chapter 2 with its label for tables and plots.
#[derive(Debug, Clone)]
pub struct Book {
    /// Gutenberg number (`None` for the project's own texts).
    pub id: Option<u32>,
    /// Short label (`Frankenstein`, ...).
    pub label: String,
    /// The whole text as served: BOM, licence blocks and CRLF line endings kept.
    pub text: String,
}

/// The folder of chapter 2's own short texts (`assets/data/ch02`).
pub fn ch02_dir() -> std::path::PathBuf {
    crate::assets_dir().join("data").join("ch02")
}

/// The stand-in "books" of `--quick` runs: short texts written for this project, in
/// `assets/data/ch02/books/`, listed in order in its `index.txt` (`label<TAB>file`).
/// They keep the Gutenberg conventions (CRLF line endings; one starts with a BOM).
pub fn quick_books() -> Result<Vec<Book>> {
    let dir = ch02_dir().join("books");
    let index_path = dir.join("index.txt");
    let index = std::fs::read_to_string(&index_path).with_context(|| {
        format!(
            "reading {} (the texts --quick runs use ship with the repository; is assets/ complete?)",
            index_path.display()
        )
    })?;
    let mut books = Vec::new();
    for line in index.lines().filter(|l| !l.trim().is_empty()) {
        let Some((label, file)) = line.split_once('\t') else {
            bail!(
                "{}: line {line:?} is not label<TAB>file",
                index_path.display()
            );
        };
        let path = dir.join(file.trim());
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
        books.push(Book {
            id: None,
            label: label.trim().to_string(),
            text,
        });
    }
    if books.is_empty() {
        bail!("{} lists no texts", index_path.display());
    }
    Ok(books)
}

/// The texts of chapter 2's book comparisons: with `quick`, the project's own short texts
/// ([`quick_books`]); else the ten Gutenberg books of [`crate::data::BOOKS`], whole as
/// served (downloaded once and cached; offline, an error says what to fetch).
pub fn chapter2_books(quick: bool) -> Result<Vec<Book>> {
    if quick {
        return quick_books();
    }
    crate::data::BOOKS
        .iter()
        .map(|&(id, label)| {
            let text = crate::data::gutenberg_raw(id).with_context(|| {
                format!(
                    "this project needs the ten Gutenberg books of chapter 2 ({label} is book {id}): \
                     run it once with network access, or use --quick for the texts shipped in assets/data/ch02"
                )
            })?;
            Ok(Book {
                id: Some(id),
                label: label.to_string(),
                text,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_split_and_code_points() {
        let s = "a  b\r\nc\u{00A0}d é";
        assert_eq!(py_words(s).collect::<Vec<_>>(), ["a", "b", "c", "d", "é"]);
        assert_eq!(n_chars(s), 11);
        assert_eq!(s.len(), 13);
        // Python splits on the information separators; Rust's split_whitespace does not.
        assert_eq!(py_words("x\u{1c}y\u{1f}z").count(), 3);
        assert_eq!("x\u{1c}y".split_whitespace().count(), 1);
        // No empty pieces at either end, nothing for blank text.
        assert_eq!(py_words("  \t\n").count(), 0);
        assert_eq!(py_words(" hi ").collect::<Vec<_>>(), ["hi"]);
    }

    #[test]
    fn bom_is_one_character_of_the_first_word() {
        let s = "\u{FEFF}The start.";
        assert_eq!(&s.as_bytes()[..3], &[0xEF, 0xBB, 0xBF]);
        assert_eq!(n_chars(s), 11);
        assert_eq!(py_words(s).next(), Some("\u{FEFF}The"));
    }
}
