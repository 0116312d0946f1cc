//! Runs the project in --quick mode (GPT-2's real tokenizer, tiny random embeddings,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{assert_close, csv_column_f64, read_csv, reference, run_project};
use std::collections::BTreeMap;

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project10_sequential_number_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1a", "part1b", "part3", "part4"] {
        run.check_figure(&format!("ch3_proj10_{f}")).unwrap();
    }

    // Checks 1-2: counts {1: 820, 2: 1000, 3: 181}, "-123", "1000", round trip.
    let (header, rows) = read_csv(&run.file("part1_tokens.csv")).unwrap();
    assert_eq!(header, ["number", "token_count", "token_ids", "decoded"]);
    let numbers: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let want: Vec<String> = (-1000..=1000).map(|n: i32| n.to_string()).collect();
    assert_eq!(numbers, want);
    let mut hist = BTreeMap::new();
    for r in &rows {
        *hist.entry(r[1].parse::<usize>().unwrap()).or_insert(0) += 1;
        assert_eq!(r[0], r[3], "round trip");
        // Every negative number starts with the "-" token (id 12): Part 1b's flat line.
        if r[0].starts_with('-') {
            assert!(r[2].starts_with("12 "), "{r:?}");
        }
        match r[0].as_str() {
            "-123" => assert_eq!(r[2], "12 10163"),
            "1000" => assert_eq!(r[2], "12825"),
            "521" => assert_eq!(r[1], "2"),
            _ => {}
        }
    }
    assert_eq!(hist, BTreeMap::from([(1, 820), (2, 1000), (3, 181)]));

    // Check 3: the Part 2 totals.
    let s = run.summary();
    assert!(s.contains("token-count matches: 1000 of 1000"), "{s}");
    assert!(s.contains("token-value matches: 1000 of 1000"), "{s}");

    // Check 4 and the values: s[0] NaN, then cos(E["i"], E["i−1"]) for "0".."10", and
    // the 20×20 matrix of the digits and tens, recomputed here from the raw embedding
    // rows (read straight from model.safetensors, plain f64).
    let e = reference::token_embeddings(&reference::tiny_gpt2_dir()).unwrap();
    let (_, rows) = read_csv(&run.file("part3_digits.csv")).unwrap();
    assert_eq!(rows.len(), 11);
    let ids: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let mut want_ids: Vec<u32> = (15..25).collect();
    want_ids.push(940); // "10"
    assert_eq!(ids, want_ids);
    let v = e.rows(&ids).unwrap();
    let mut want = vec![f64::NAN];
    want.extend(v.windows(2).map(|w| reference::cosine(&w[1], &w[0])));
    assert_close(&csv_column_f64(&rows, 3).unwrap(), &want, 1e-6, "Part 3").unwrap();

    // Part 4: the 20 ids and their cosine matrix (heatmap cells x, y, value).
    let (_, rows) = read_csv(&run.file("part4_ids.csv")).unwrap();
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let mut want_ids: Vec<u32> = (15..25).collect();
    want_ids.extend([940, 1238, 1270, 1821, 1120, 1899, 2154, 1795, 3829, 3064]);
    assert_eq!(ids, want_ids);
    let c = reference::cosine_matrix(&e.rows(&ids).unwrap());
    let (_, cells) = read_csv(&run.file("ch3_proj10_part4.csv")).unwrap();
    let mut got = vec![vec![f64::NAN; 20]; 20];
    assert_eq!(cells.len(), 400);
    for r in &cells {
        let (x, y): (usize, usize) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        got[y][x] = r[5].parse().unwrap();
    }
    assert_close(&got.concat(), &c.concat(), 1e-6, "Part 4 matrix").unwrap();
    let diff = run
        .summary_value("max |matrix - manual cosine| = ")
        .unwrap();
    assert!(diff < 1e-6, "{diff}");
}
