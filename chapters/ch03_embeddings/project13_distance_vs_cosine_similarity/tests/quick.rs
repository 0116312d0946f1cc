//! Runs the project in --quick mode (real MiniLM embeddings for BERT, offline) and checks
//! the spec's offline checks on what it wrote.

use common::testing::{read_csv, run_project};

/// The value after `prefix` on the summary line that starts with it.
fn value(summary: &str, prefix: &str) -> f64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{summary}"));
    line[prefix.len()..].trim().parse().unwrap()
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project13_distance_vs_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1a", "part1b", "part2a", "part2b", "part3", "part5"] {
        run.check_figure(&format!("ch3_proj13_{f}")).unwrap();
    }
    let s = run.summary();
    // Checks 1-2: identities at machine precision, cosine identical across the cases.
    assert!(value(&s, "max |case-3 error (eq. 1.13)| =") < 1e-12);
    assert!(value(&s, "max |eq. 1.15 error| / (x·x + y·y) =") < 1e-9);
    assert!(value(&s, "max cosine difference between cases =") < 1e-12);
    // Check 5: the real uncased vocabulary.
    assert!(s.contains("\"beauty\" -> [5053]"), "{s}");
    // Check 4: NaN-ed seed ignored by min-max scaling: one 0 and one 1 each time.
    let scaled: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("min-max scaled"))
        .collect();
    assert_eq!(scaled.len(), 4);
    for l in scaled {
        assert!(
            l.contains("values in [0, 1], exactly 0: 1, exactly 1: 1"),
            "{l}"
        );
    }
    // Check 4: the seed is never in a top-10 list; Part 5's two lists are the same tokens
    // in the same order, with d = sqrt(2 - 2 cos).
    for name in ["part4_top10.csv", "part5_top10.csv"] {
        let (header, rows) = read_csv(&run.file(name)).unwrap();
        assert_eq!(
            header,
            [
                "rank",
                "dist_id",
                "distance",
                "dist_token",
                "cos_id",
                "cosine",
                "cos_token"
            ]
        );
        assert_eq!(rows.len(), 10);
        for r in &rows {
            assert_ne!(r[1], "5053");
            assert_ne!(r[4], "5053");
        }
        if name.starts_with("part5") {
            for r in &rows {
                assert_eq!(r[1], r[4], "{r:?}");
                let (d, c): (f64, f64) = (r[2].parse().unwrap(), r[5].parse().unwrap());
                assert!((d - (2.0 - 2.0 * c).sqrt()).abs() < 1e-5, "{r:?}");
            }
        }
    }
    assert!(value(&s, "max |d - sqrt(2 - 2 cos)| =") < 1e-5);
}
