//! Runs the project in --quick mode (real all-MiniLM-L6-v2 embeddings, BERT's vocabulary,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{read_csv, run_project};

#[test]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project09_sequential_word_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["ch3_proj9_part1", "ch3_proj9_part2"] {
        run.check_figure(f).unwrap();
    }

    // Check 1: the exact BERT ids of the Part 1 sentence; check 4: s[0] NaN, rest in [-1, 1].
    let (header, rows) = read_csv(&run.file("part1_similarities.csv")).unwrap();
    assert_eq!(header, ["position", "token_id", "token", "cosine"]);
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(
        ids,
        [2026, 3042, 2003, 1999, 1996, 3829, 2379, 1996, 3147, 3256, 6949]
    );
    let s: Vec<f64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(s[0].is_nan());
    assert!(s[1..].iter().all(|v| (-1.0..=1.0).contains(v)));

    // Part 2: 13 ids each, differing only at 7 and 8; similarities identical except 7, 8, 9.
    let (header, rows) = read_csv(&run.file("part2_similarities.csv")).unwrap();
    assert_eq!(
        header,
        [
            "position",
            "token_id_1",
            "token_1",
            "cosine_1",
            "token_id_2",
            "token_2",
            "cosine_2"
        ]
    );
    assert_eq!(rows.len(), 13);
    let a: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let b: Vec<u32> = rows.iter().map(|r| r[4].parse().unwrap()).collect();
    assert_eq!(
        a,
        [1996, 7589, 7147, 2010, 2398, 2004, 1996, 3345, 7745, 1998, 2111, 2938, 2091]
    );
    assert_eq!(
        b,
        [1996, 7589, 7147, 2010, 2398, 2004, 1996, 4032, 2211, 1998, 2111, 2938, 2091]
    );
    for (i, r) in rows.iter().enumerate().skip(1) {
        let same = r[3] == r[6];
        assert_eq!(
            same,
            ![7, 8, 9].contains(&i),
            "position {i}: {} vs {}",
            r[3],
            r[6]
        );
    }
    assert_eq!(rows[0][3], "NaN");
    assert!(run
        .summary()
        .contains("similarities differ at positions [7, 8, 9]"));
    assert!(run.summary().contains("mean nothing") || run.summary().contains("not the book's"));
}
