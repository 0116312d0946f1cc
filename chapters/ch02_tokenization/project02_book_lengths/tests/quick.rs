//! Runs the project as a learner would (offline, on the texts in assets/data/ch02/books)
//! and checks the spec's offline checks on what it wrote. Reference counts come from
//! Python (`len`, `str.split()`) and Hugging Face `tokenizers` on GPT-2's tokenizer.json.

use common::testing::{figure_series, read_csv, run_project};

const BIN: &str = env!("CARGO_BIN_EXE_project02_book_lengths");

#[test]
fn quick_run_counts_and_plots() {
    let run = run_project(BIN, &["--quick"]).unwrap();
    let s = run.summary();
    for line in [
        "Book title       |       Chars |       Words |      Tokens",
        "Lighthouse       |       1,937 |         364 |         531",
        "Traveller        |       1,522 |         271 |         505",
        // 4. the BOM is one character and part of the first word
        "the first word is \"\\u{feff}THE\"",
        "Most distinct characters: Traveller with 109",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

    let (header, rows) = read_csv(&run.file("ch2_proj2_counts.csv")).unwrap();
    assert_eq!(
        header,
        [
            "book",
            "gutenberg_id",
            "chars",
            "words",
            "tokens",
            "unique_chars",
            "unique_words",
            "unique_tokens",
            "bytes"
        ]
    );
    let num = |r: &Vec<String>, i: usize| r[i].parse::<usize>().unwrap();
    // Python: len(s), len(s.split()), GPT-2 ids, len(set(...)) of each, UTF-8 bytes.
    let expected = [
        ("Lighthouse", [1937, 364, 531, 54, 221, 250, 1939]),
        ("Orchard", [1895, 345, 489, 49, 222, 251, 1895]),
        ("Traveller", [1522, 271, 505, 109, 193, 294, 1596]),
        ("Clockmaker", [1282, 234, 345, 50, 156, 191, 1282]),
    ];
    assert_eq!(rows.len(), expected.len());
    for (r, (label, want)) in rows.iter().zip(expected) {
        assert_eq!(r[0], label);
        let got: Vec<usize> = (2..9).map(|i| num(r, i)).collect();
        assert_eq!(got, want, "{label}");
        // 2. uniques <= totals; tokens <= bytes
        for k in 0..3 {
            assert!(num(r, 5 + k) <= num(r, 2 + k), "{label}");
        }
        assert!(num(r, 4) <= num(r, 8), "{label}");
    }

    for f in ["ch2_proj2_part2", "ch2_proj2_part3"] {
        run.check_figure(f).unwrap();
    }
    // Part 3 titles carry the correlations.
    let p3 = figure_series(&run.file("ch2_proj2_part3.csv")).unwrap();
    let mut titles: Vec<&str> = p3.keys().map(|(p, _)| p.as_str()).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "Characters (r = -0.26)",
            "Tokens (r = 0.84)",
            "Words (r = 0.96)"
        ]
    );
}

#[test]
fn seeded_jitter_is_reproducible() {
    let jitter = |seed: &str| {
        let run = run_project(BIN, &["--quick", "--seed", seed]).unwrap();
        let series = figure_series(&run.file("ch2_proj2_part2.csv")).unwrap();
        let mut xs: Vec<(String, Vec<f64>)> = series
            .into_iter()
            .map(|((p, s), pts)| (format!("{p}/{s}"), pts.iter().map(|p| p.0).collect()))
            .collect();
        xs.sort_by(|a, b| a.0.cmp(&b.0));
        xs
    };
    let a = jitter("42");
    assert_eq!(a, jitter("42"));
    assert_ne!(a, jitter("7"));
}
