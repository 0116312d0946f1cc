//! Runs the project as a learner would (offline, on the texts in assets/data/ch02/books)
//! and checks the spec's offline checks on what it wrote. Reference counts come from
//! Python (`len`, `str.split()`) and Hugging Face `tokenizers` on GPT-2's tokenizer.json,
//! recorded by `scripts/derive_golden_counts.py` in assets/fixtures/ch02_golden_counts.json.

use common::testing::{ch02_golden_counts, figure_series, read_csv, run_project};

const BIN: &str = env!("CARGO_BIN_EXE_project02_book_lengths");

#[test]
fn quick_run_counts_and_plots() {
    let run = run_project(BIN, &["--quick"]).unwrap();
    let golden = ch02_golden_counts().unwrap();
    let books = golden["p02"]["books"].as_array().unwrap();
    assert_eq!(books.len(), 4);
    let s = run.summary();
    let thousands = |n: u64| -> String {
        let d = n.to_string();
        let mut out = String::new();
        for (i, c) in d.chars().enumerate() {
            if i > 0 && (d.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    assert!(
        s.contains("Book title       |       Chars |       Words |      Tokens"),
        "{s}"
    );
    for b in books {
        let n = |k: &str| thousands(b[k].as_u64().unwrap());
        let line = format!(
            "{:<16} | {:>11} | {:>11} | {:>11}",
            b["label"].as_str().unwrap(),
            n("chars"),
            n("words"),
            n("tokens")
        );
        assert!(s.contains(&line), "summary lacks {line:?}:\n{s}");
    }
    // 4. the BOM is one character and part of the first word (Python: "\ufeffTHE")
    let first = books[0]["first_word"].as_str().unwrap();
    assert!(first.starts_with('\u{feff}'));
    assert!(
        s.contains(&format!("the first word is {first:?}")),
        "{first:?}\n{s}"
    );
    let most = &golden["p02"]["most_distinct_chars"];
    let line = format!(
        "Most distinct characters: {} with {}",
        most["label"].as_str().unwrap(),
        most["count"]
    );
    assert!(s.contains(&line), "{line}\n{s}");

    let (header, rows) = read_csv(&run.file("ch2_proj2_counts.csv")).unwrap();
    let columns = [
        "chars",
        "words",
        "tokens",
        "unique_chars",
        "unique_words",
        "unique_tokens",
        "bytes",
    ];
    let mut want_header = vec!["book", "gutenberg_id"];
    want_header.extend(columns);
    assert_eq!(header, want_header);
    assert_eq!(rows.len(), books.len());
    for (r, b) in rows.iter().zip(books) {
        assert_eq!(r[0], b["label"].as_str().unwrap());
        let got: Vec<u64> = (2..9).map(|i| r[i].parse().unwrap()).collect();
        let want: Vec<u64> = columns.iter().map(|c| b[*c].as_u64().unwrap()).collect();
        assert_eq!(got, want, "{}", r[0]);
    }

    for f in ["ch2_proj2_part2", "ch2_proj2_part3"] {
        run.check_figure(f).unwrap();
    }
    // Part 3 titles carry r(unique, total) per unit (numpy's corrcoef in the fixture).
    let p3 = figure_series(&run.file("ch2_proj2_part3.csv")).unwrap();
    let mut titles: Vec<&str> = p3.keys().map(|(p, _)| p.as_str()).collect();
    titles.sort();
    let r = &golden["p02"]["r_unique_total"];
    let mut want: Vec<String> = ["Characters", "Tokens", "Words"]
        .iter()
        .map(|u| format!("{u} (r = {:.2})", r[*u].as_f64().unwrap()))
        .collect();
    want.sort();
    assert_eq!(titles, want);
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
    assert!(!a.is_empty() && a.iter().all(|(_, x)| !x.is_empty()));
    assert_eq!(a, jitter("42"));
    assert_ne!(a, jitter("7"));
}
