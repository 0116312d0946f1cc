//! What `--quick` changes: tiny-bert (random weights, 2 layers, 64 MLP neurons, a
//! 140-entry vocabulary without "him" or "her") and two stand-in words of its
//! vocabulary that play "him" and "her" in the same sentences.

/// The tiny vocabulary's stand-ins for "him" and "her" (words no sentence holds).
pub const STAND_IN_HIM: &str = "platypus";
pub const STAND_IN_HER: &str = "plethora";

/// `text` with every whole word `from` (letters and digits delimit words) replaced by `to`.
pub fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(if word == from { to } else { word });
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert_eq!(
            replace_word("She gave him his himself him.", "him", "X"),
            "She gave X his himself X."
        );
        assert_eq!(replace_word("him", "him", "her"), "her");
    }
}
