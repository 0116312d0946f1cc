//! Runs the project in --quick mode (GPT-2's real tokenizer, tiny random embeddings,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{read_csv, run_project};
use std::collections::BTreeMap;

#[test]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
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
    assert_eq!(rows.len(), 2001);
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
    assert!(s.contains("mean nothing"));

    // Check 4: s[0] NaN, 11 values, digits 0-9 are ids 15-24.
    let (_, rows) = read_csv(&run.file("part3_digits.csv")).unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[0][3], "NaN");
    let ids: Vec<u32> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(&ids[..10], (15..25).collect::<Vec<u32>>().as_slice());
    assert!(rows[1..]
        .iter()
        .all(|r| r[3].parse::<f64>().unwrap().abs() <= 1.0));

    // Part 4: the 20 ids, a symmetric unit-diagonal matrix, manual == matrix.
    let (_, rows) = read_csv(&run.file("part4_ids.csv")).unwrap();
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let mut want: Vec<u32> = (15..25).collect();
    want.extend([940, 1238, 1270, 1821, 1120, 1899, 2154, 1795, 3829, 3064]);
    assert_eq!(ids, want);
    let (_, cells) = read_csv(&run.file("ch3_proj10_part4.csv")).unwrap();
    let mut c = vec![vec![f64::NAN; 20]; 20];
    for r in &cells {
        let (x, y): (usize, usize) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        c[y][x] = r[5].parse().unwrap();
    }
    for i in 0..20 {
        assert!((c[i][i] - 1.0).abs() < 1e-6);
        for j in 0..20 {
            assert!((c[i][j] - c[j][i]).abs() < 1e-6);
        }
    }
    let line = s
        .lines()
        .find(|l| l.starts_with("max |matrix - manual cosine|"))
        .unwrap();
    let diff: f64 = line.rsplit("= ").next().unwrap().parse().unwrap();
    assert!(diff < 1e-6, "{line}");
}
