//! Runs the project as a learner would (offline, on the texts in assets/data/ch02) and
//! checks the spec's offline checks on what it wrote.
//!
//! The spec's exact Pulcinella numbers (104 words, 174 tokens, 129 unique, ids
//! [47, 377, 66, 500, 8466]) need the book's Wikipedia paragraph, which the project
//! fetches rather than ships; the same checks run here on the project's own paragraph,
//! against counts derived in Python (Hugging Face `tokenizers` on GPT-2's tokenizer.json,
//! `len(decode([id]))`) by `scripts/derive_golden_counts.py`
//! (assets/fixtures/ch02_golden_counts.json).

use common::testing::{ch02_golden_counts, read_csv, run_project, JsonValue};

/// A JSON list of [length, count] pairs.
fn pairs(v: &JsonValue) -> Vec<(usize, usize)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_u64().unwrap() as usize,
                p[1].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

fn numbers(v: &JsonValue) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn quick_run_tables_token_lengths() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project03_token_length_frequencies"),
        &["--quick"],
    )
    .unwrap();
    let golden = ch02_golden_counts().unwrap();
    let g = &golden["p03"];
    let para = &g["paragraph"];
    let n = |v: &JsonValue| v.as_u64().unwrap();
    let s = run.summary();
    for line in [
        // 1. words, tokens, unique, exact round trip
        format!(
            "There are {} words and {} tokens ({} of which are unique)",
            n(&para["words"]),
            n(&para["tokens"]),
            n(&para["unique_tokens"])
        ),
        format!(
            "Decoded text equals the original: {}",
            para["roundtrip"].as_bool().unwrap()
        ),
        // 2. the counts sum to the number of tokens
        format!(
            "The counts sum to {} (the number of tokens)",
            n(&para["tokens"])
        ),
        // 4. the id -> length table
        format!(
            "id -> length table: {} entries, {} zeros, longest {}",
            n(&g["vocab"]["entries"]),
            n(&g["vocab"]["zeros"]),
            n(&g["vocab"]["longest"])
        ),
        // the first five (id, length) as printed
        "  (13587, 3)  \"Har\"".to_string(),
        "  (6084, 4)  \"bour\"".to_string(),
        "  (1589, 4)  \"side\"".to_string(),
        "  (4789, 5)  \" Hall\"".to_string(),
        "  (318, 3)  \" is\"".to_string(),
    ] {
        assert!(s.contains(&line), "summary lacks {line:?}:\n{s}");
    }

    // Per-token table: every id and its length, in order.
    let (header, rows) = read_csv(&run.file("ch2_proj3_part1_tokens.csv")).unwrap();
    assert_eq!(header, ["position", "id", "length", "token"]);
    let col = |i: usize| -> Vec<usize> { rows.iter().map(|r| r[i].parse().unwrap()).collect() };
    assert_eq!(col(0), (0..rows.len()).collect::<Vec<_>>());
    assert_eq!(col(1), numbers(&para["ids"]));
    assert_eq!(col(2), numbers(&para["lengths"]));

    // 1 and 5. The frequency table (ascending lengths in the CSV behind the bar chart).
    let (header, rows) = read_csv(&run.file("ch2_proj3_part1_table.csv")).unwrap();
    assert_eq!(header, ["length", "count"]);
    let table: Vec<(usize, usize)> = rows
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    assert_eq!(table, pairs(&para["length_table"]));

    // 2. Each book's length counts, and frequencies = count / tokens (summing to 1).
    let (header, rows) = read_csv(&run.file("ch2_proj3_part2_freqs.csv")).unwrap();
    assert_eq!(header, ["book", "length", "count", "frequency"]);
    let books = g["books"].as_object().unwrap();
    assert_eq!(books.len(), 4);
    for (book, want) in books {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| &r[0] == book).collect();
        let got: Vec<(usize, usize)> = mine
            .iter()
            .map(|r| (r[1].parse().unwrap(), r[2].parse().unwrap()))
            .collect();
        let want = pairs(want);
        assert_eq!(got, want, "{book}");
        let total: usize = want.iter().map(|p| p.1).sum();
        for (r, (_, c)) in mine.iter().zip(&want) {
            let f: f64 = r[3].parse().unwrap();
            assert!(
                (f - *c as f64 / total as f64).abs() < 1e-12,
                "{book}: {r:?}"
            );
        }
    }
    assert_eq!(
        rows.len(),
        books.values().map(|b| pairs(b).len()).sum::<usize>()
    );

    for f in ["ch2_proj3_part1", "ch2_proj3_part2"] {
        run.check_figure(f).unwrap();
    }
}
