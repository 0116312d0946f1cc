//! Runs the project as a learner would (offline, on the texts in assets/data/ch02) and
//! checks the spec's offline checks on what it wrote.
//!
//! The spec's exact Pulcinella numbers (104 words, 174 tokens, 129 unique, ids
//! [47, 377, 66, 500, 8466]) need the book's Wikipedia paragraph, which the project
//! fetches rather than ships; the same checks run here on the project's own paragraph,
//! with values cross-checked against Hugging Face `tokenizers` (GPT-2's tokenizer.json).

use common::testing::{read_csv, run_project};

#[test]
fn quick_run_tables_token_lengths() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project03_token_length_frequencies"),
        &["--quick"],
    )
    .unwrap();
    let s = run.summary();
    for line in [
        // 1. words, tokens, unique, exact round trip, first five (id, length)
        "There are 111 words and 142 tokens (110 of which are unique)",
        "Decoded text equals the original: true",
        "  (13587, 3)  \"Har\"",
        "  (6084, 4)  \"bour\"",
        "  (1589, 4)  \"side\"",
        "  (4789, 5)  \" Hall\"",
        "  (318, 3)  \" is\"",
        // 2. the counts sum to the number of tokens
        "The counts sum to 142 (the number of tokens)",
        // 4. the id -> length table
        "id -> length table: 50257 entries, 0 zeros, longest 66",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

    // 1. The frequency table (ascending lengths in the CSV behind the bar chart).
    let (header, rows) = read_csv(&run.file("ch2_proj3_part1_table.csv")).unwrap();
    assert_eq!(header, ["length", "count"]);
    let table: Vec<(usize, usize)> = rows
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    assert_eq!(
        table,
        [
            (1, 16),
            (2, 12),
            (3, 24),
            (4, 25),
            (5, 13),
            (6, 18),
            (7, 9),
            (8, 9),
            (9, 8),
            (10, 6),
            (11, 2)
        ]
    );
    // 5. lengths ascending, counts summing to the tokens
    assert!(table.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(table.iter().map(|t| t.1).sum::<usize>(), 142);

    // Per-token table: every token has a length >= 1.
    let (header, rows) = read_csv(&run.file("ch2_proj3_part1_tokens.csv")).unwrap();
    assert_eq!(header, ["position", "id", "length", "token"]);
    assert_eq!(rows.len(), 142);

    // 2. Normalised frequencies sum to 1 for every text.
    let (header, rows) = read_csv(&run.file("ch2_proj3_part2_freqs.csv")).unwrap();
    assert_eq!(header, ["book", "length", "count", "frequency"]);
    for book in ["Lighthouse", "Orchard", "Traveller", "Clockmaker"] {
        let sum: f64 = rows
            .iter()
            .filter(|r| r[0] == book)
            .map(|r| r[3].parse::<f64>().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-12, "{book}: {sum}");
    }

    for f in ["ch2_proj3_part1", "ch2_proj3_part2"] {
        run.check_figure(f).unwrap();
    }
}
