//! Runs the project in --quick mode (real all-MiniLM-L6-v2 embeddings, BERT's vocabulary,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{assert_close, csv_column_f64, read_csv, reference, run_project};

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project09_sequential_word_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["ch3_proj9_part1", "ch3_proj9_part2"] {
        run.check_figure(f).unwrap();
    }

    // Check 1: the exact BERT ids of the Part 1 sentence.
    let (header, rows) = read_csv(&run.file("part1_similarities.csv")).unwrap();
    assert_eq!(header, ["position", "token_id", "token", "cosine"]);
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(
        ids,
        [2026, 3042, 2003, 1999, 1996, 3829, 2379, 1996, 3147, 3256, 6949]
    );
    // Check 4 and the values themselves: s[0] NaN, s[i] = cos(E[i], E[i−1]) recomputed
    // here from the raw embedding rows (read straight from model.safetensors).
    let e = reference::token_embeddings(&common::embeddings::minilm_dir().unwrap()).unwrap();
    let successive = |ids: &[u32]| -> Vec<f64> {
        let rows = e.rows(ids).unwrap();
        let mut s = vec![f64::NAN];
        s.extend(rows.windows(2).map(|w| reference::cosine(&w[1], &w[0])));
        s
    };
    assert_close(
        &csv_column_f64(&rows, 3).unwrap(),
        &successive(&ids),
        1e-9,
        "Part 1 similarities",
    )
    .unwrap();

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
    // Check 2: both similarity vectors, recomputed, and bit-identical in the program's
    // output except at 7, 8 and 9 (the positions next to the changed words).
    let (sa, sb) = (successive(&a), successive(&b));
    assert_close(&csv_column_f64(&rows, 3).unwrap(), &sa, 1e-9, "sentence 1").unwrap();
    assert_close(&csv_column_f64(&rows, 6).unwrap(), &sb, 1e-9, "sentence 2").unwrap();
    let differ: Vec<usize> = (1..13).filter(|&i| rows[i][3] != rows[i][6]).collect();
    assert_eq!(differ, [7, 8, 9]);
    assert_eq!(rows[0][3], "NaN");
    assert!(run
        .summary()
        .contains("similarities differ at positions [7, 8, 9]"));
}
