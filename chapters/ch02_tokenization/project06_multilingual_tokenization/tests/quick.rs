//! Runs the project as a learner would (offline) and checks the spec's offline checks
//! on what it wrote, against counts, SHA-256 prefixes and round trips derived in Python
//! (Hugging Face `tokenizers` on GPT-2's tokenizer.json, `len`, `hashlib`) by
//! `scripts/derive_golden_counts.py` (assets/fixtures/ch02_golden_counts.json).

use common::testing::{assert_png, ch02_golden_counts, figure_series, read_csv, run_project};

#[test]
fn quick_run_counts_eight_languages() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project06_multilingual_tokenization"),
        &["--quick"],
    )
    .unwrap();
    let golden = ch02_golden_counts().unwrap();
    let want = golden["p06"].as_array().unwrap();
    assert_eq!(want.len(), 8);
    let n = |i: usize, k: &str| want[i][k].as_u64().unwrap() as usize;
    let languages: Vec<&str> = want
        .iter()
        .map(|w| w["language"].as_str().unwrap())
        .collect();
    assert!(want.iter().all(|w| w["roundtrip"].as_bool() == Some(true)));
    let max_count = (0..8)
        .flat_map(|i| [n(i, "chars"), n(i, "bytes"), n(i, "tokens")])
        .max()
        .unwrap();
    let s = run.summary();
    for line in [
        "All eight sentences match their pinned character counts, byte counts and SHA-256."
            .to_string(),
        "decode(encode(s)) == s for 8 of 8 languages".to_string(),
        format!("maxCount = {:.1}", 1.1 * max_count as f64),
    ] {
        assert!(s.contains(&line), "summary lacks {line:?}:\n{s}");
    }
    for (i, lang) in languages.iter().enumerate() {
        let line = format!(
            "{lang:<10} | {:>5} | {:>5} | {:>6} |",
            n(i, "chars"),
            n(i, "bytes"),
            n(i, "tokens")
        );
        assert!(s.contains(&line), "summary lacks {line:?}:\n{s}");
    }

    // 1-3: the counts table: Python's values; bytes >= chars, tokens <= bytes.
    let (header, rows) = read_csv(&run.file("ch2_proj6_counts.csv")).unwrap();
    assert_eq!(
        header,
        [
            "language",
            "chars",
            "bytes",
            "tokens",
            "cl100k_tokens",
            "sha256_16"
        ]
    );
    assert_eq!(rows.len(), 8);
    let num = |r: &Vec<String>, i: usize| r[i].parse::<usize>().unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], languages[i]);
        assert_eq!(
            [num(r, 1), num(r, 2), num(r, 3)],
            [n(i, "chars"), n(i, "bytes"), n(i, "tokens")],
            "{r:?}"
        );
        assert_eq!(r[5], want[i]["sha256_16"].as_str().unwrap(), "{r:?}");
        assert!(num(r, 2) >= num(r, 1) && num(r, 3) <= num(r, 2), "{r:?}");
    }
    assert_eq!(num(&rows[0], 1), num(&rows[0], 2), "English is ASCII");
    assert_eq!(rows[3][5], "afe5a028980d2578", "Persian keeps its ZWNJs");

    // 4: three panels, each with the identity line up to maxCount.
    let series = figure_series(&run.file("ch2_proj6_part2.csv")).unwrap();
    let mut panels: Vec<&str> = series.keys().map(|(p, _)| p.as_str()).collect();
    panels.sort();
    panels.dedup();
    assert_eq!(
        panels,
        [
            "A) Character vs. byte counts",
            "B) Character vs. token counts",
            "C) Byte vs. token counts"
        ]
    );
    let identity: Vec<_> = series
        .iter()
        .filter(|((_, s), _)| s == "identity")
        .collect();
    assert_eq!(identity.len(), 3);
    for (_, pts) in identity {
        assert_eq!(pts.last().map(|p| p.1), Some(1.1 * max_count as f64));
    }
    // Each panel has the eight languages as text points (their initials), at their counts.
    let (header, rows) = read_csv(&run.file("ch2_proj6_part2.csv")).unwrap();
    assert_eq!(header, ["panel", "series", "kind", "x", "y", "extra"]);
    let text_rows = |panel: &str| -> Vec<(f64, f64, String)> {
        rows.iter()
            .filter(|r| r[0] == panel && r[2] == "text")
            .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap(), r[5].clone()))
            .collect()
    };
    for (panel, (x, y)) in
        panels
            .iter()
            .zip([("chars", "bytes"), ("chars", "tokens"), ("bytes", "tokens")])
    {
        let want_pts: Vec<(f64, f64, String)> = (0..8)
            .map(|i| {
                (
                    n(i, x) as f64,
                    n(i, y) as f64,
                    languages[i][..1].to_string(),
                )
            })
            .collect();
        assert_eq!(text_rows(panel), want_pts, "{panel}");
    }
    let (w, h) = assert_png(&run.file("ch2_proj6_part2.png")).unwrap();
    assert_eq!((w, h), (1200, 350));
}
