//! Runs the project as a learner would (offline) and checks the spec's offline checks
//! on what it wrote; the (characters, bytes) matrix against Python's
//! (`len(decode([id]))`, recorded by `scripts/derive_golden_counts.py` in
//! assets/fixtures/ch02_golden_counts.json).

use common::testing::{ch02_golden_counts, figure_series, read_csv, run_project};

#[test]
fn quick_run_measures_the_whole_vocabulary() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project04_token_chars_vs_bytes"),
        &["--quick"],
    )
    .unwrap();
    let s = run.summary();
    for line in [
        // 1. demo byte counts
        "1 bytes in x",
        "1 bytes in !",
        "2 bytes in ü",
        "4 bytes in 🥰",
        "3 bytes in 活",
        // 2. vocab size, matrix sum
        "vocab size 50257",
        "M has 63 nonzero cells and sums to 50257; the largest cell is (5, 5) with 7286 tokens",
        "M[1, 3] = 434",
        // 3. mismatches, longest tokens
        "873 tokens have chars != bytes (0 have fewer bytes than characters); 352 decode to a string containing U+FFFD",
        "Longest token in bytes: id 35496 (64 characters, 128 bytes)",
        "Longest token in characters: id 38093 (66 characters)",
        "In bytes: peak at 5 (7,301 tokens, 14.5%), mean 6.40",
        "mean 6.35",
        "ids    94..=255  :  128 mismatches",
        "ids 40000..=50256:  209 mismatches",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

    // 2 and 4: every token's lengths, bytes >= chars >= 1, lossy decoding of id 94.
    let (header, tokens) = read_csv(&run.file("ch2_proj4_tokens.csv")).unwrap();
    assert_eq!(header, ["id", "chars", "bytes", "token"]);
    assert_eq!(tokens.len(), 50257);
    for r in &tokens {
        let (c, b): (usize, usize) = (r[1].parse().unwrap(), r[2].parse().unwrap());
        assert!(b >= c && c >= 1, "{r:?}");
    }
    assert_eq!(tokens[94][1..], ["1", "3", "\u{FFFD}"]);
    assert!(tokens[..94].iter().all(|r| r[1] == "1" && r[2] == "1"));

    // The count matrix: Python's cells, summing to the vocabulary size; the per-token
    // table agrees with it.
    let golden = ch02_golden_counts().unwrap();
    let g = &golden["p04"];
    let want: Vec<[usize; 3]> = g["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| [0, 1, 2].map(|i| c[i].as_u64().unwrap() as usize))
        .collect();
    assert_eq!(want.len(), 63);
    assert_eq!(want.iter().map(|c| c[2]).sum::<usize>(), 50257);
    let (header, rows) = read_csv(&run.file("ch2_proj4_part1_matrix.csv")).unwrap();
    assert_eq!(header, ["chars", "bytes", "count"]);
    let got: Vec<[usize; 3]> = rows
        .iter()
        .map(|r| [0, 1, 2].map(|i| r[i].parse().unwrap()))
        .collect();
    assert_eq!(got, want);
    let mut cells = std::collections::BTreeMap::new();
    for r in &tokens {
        *cells
            .entry([r[1].parse::<usize>().unwrap(), r[2].parse().unwrap()])
            .or_insert(0usize) += 1;
    }
    let from_tokens: Vec<[usize; 3]> = cells.iter().map(|(k, &n)| [k[0], k[1], n]).collect();
    assert_eq!(from_tokens, want);
    let mismatches = tokens.iter().filter(|r| r[1] != r[2]).count();
    assert_eq!(mismatches, g["mismatches"].as_u64().unwrap() as usize);

    // 5. the percentages sum to 100 for each series.
    let (header, rows) = read_csv(&run.file("ch2_proj4_part4_distribution.csv")).unwrap();
    assert_eq!(header, ["unit", "length", "count", "percent"]);
    for unit in ["bytes", "characters"] {
        let sum: f64 = rows
            .iter()
            .filter(|r| r[0] == unit)
            .map(|r| r[3].parse::<f64>().unwrap())
            .sum();
        assert!((sum - 100.0).abs() < 1e-9, "{unit}: {sum}");
    }

    // Part 1 plots one hexagon per nonzero cell; Part 2 two series of 50257 points.
    let p1 = figure_series(&run.file("ch2_proj4_part1.csv")).unwrap();
    let cells = p1
        .iter()
        .find(|((_, s), _)| s == "Log frequency")
        .map(|(_, v)| v.len());
    assert_eq!(cells, Some(63));
    let p2 = figure_series(&run.file("ch2_proj4_part2.csv")).unwrap();
    for name in ["Characters", "Bytes"] {
        let n = p2
            .iter()
            .find(|((_, s), _)| s == name)
            .map(|(_, v)| v.len());
        assert_eq!(n, Some(50257), "{name}");
    }

    for f in [
        "ch2_proj4_part1",
        "ch2_proj4_part2",
        "ch2_proj4_part3",
        "ch2_proj4_part4",
    ] {
        run.check_figure(f).unwrap();
    }
}
