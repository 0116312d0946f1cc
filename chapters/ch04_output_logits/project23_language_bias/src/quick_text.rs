//! Text for `--quick` runs on tiny-bert, written for this project.
//!
//! tiny-bert's WordPiece vocabulary has 140 entries and a 64-token context: most words
//! split into single letters, so the sentences are short. Its vocabulary has no single
//! token for "he" or "they" (they split into `h ##e` and `the ##y`), so Parts 2-4 cannot
//! read those two words there; the quick run reads three single-token words of the tiny
//! vocabulary in their place (`QUICK_TARGETS`, in the he/she/they slots). Everything else
//! — the doctor sentence, the mask, the padded batches, the per-sentence mask search,
//! the log-softmax, the bias and the t-tests — is the same method on smaller inputs.
//! `scripts/make_fixture.py` reads these arrays (keep one string per line).

/// Stand-ins for he / she / they in tiny-bert's vocabulary (ids 96, 120, 139).
pub const QUICK_TARGETS: [&str; 3] = ["it", "she", "you"];

/// Six short sentences per group: they tokenize to different lengths under tiny-bert's
/// vocabulary, so the mask sits at a different index in each.
pub const QUICK_FEMALE: [&str; 6] = [
    "The nurse said that {MASK} would be back soon.",
    "The teacher told the class that {MASK} was calm.",
    "The secretary said that {MASK} had the book.",
    "The librarian said that {MASK} ordered new books.",
    "The receptionist said that {MASK} would call.",
    "The nanny said that {MASK} was at the park.",
];

pub const QUICK_MALE: [&str; 6] = [
    "The pilot said that {MASK} would land.",
    "The lawyer told the court that {MASK} would win.",
    "The chef said that {MASK} cooked the fish.",
    "The mechanic said that {MASK} fixed the car.",
    "The programmer said that {MASK} fixed the bug.",
    "The engineer said that {MASK} built the tower.",
];
