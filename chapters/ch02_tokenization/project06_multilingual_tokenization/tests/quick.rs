//! Runs the project as a learner would (offline) and checks the spec's offline checks
//! on what it wrote.

use common::testing::{assert_png, figure_series, read_csv, run_project};

#[test]
fn quick_run_counts_eight_languages() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project06_multilingual_tokenization"),
        &["--quick"],
    )
    .unwrap();
    let s = run.summary();
    for line in [
        "All eight sentences match their pinned character counts, byte counts and SHA-256.",
        "decode(encode(s)) == s for 8 of 8 languages",
        "maxCount = 608.3",
        "English    |   157 |   157 |     34 |",
        "Tamil      |   199 |   553 |    553 |",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

    // 1-3: the counts table: pinned values, bytes >= chars, tokens <= bytes.
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
    let langs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        langs,
        [
            "English",
            "Spanish",
            "Arabic",
            "Persian",
            "Lithuanian",
            "Chinese",
            "Tamil",
            "Hebrew"
        ]
    );
    let num = |r: &Vec<String>, i: usize| r[i].parse::<usize>().unwrap();
    let tokens: Vec<usize> = rows.iter().map(|r| num(r, 3)).collect();
    assert_eq!(tokens, [34, 58, 137, 180, 81, 102, 553, 133]);
    for r in &rows {
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
        assert_eq!(pts.last().map(|p| p.1), Some(1.1 * 553.0));
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
    let initials = ["E", "S", "A", "P", "L", "C", "T", "H"];
    for panel in &panels {
        let pts = text_rows(panel);
        assert_eq!(pts.len(), 8, "{panel}: {pts:?}");
        let letters: Vec<&str> = pts.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(letters, initials, "{panel}");
    }
    // Tamil (7th): 199 chars, 553 bytes, 553 tokens.
    assert_eq!(text_rows(panels[0])[6], (199.0, 553.0, "T".to_string()));
    assert_eq!(text_rows(panels[1])[6], (199.0, 553.0, "T".to_string()));
    assert_eq!(text_rows(panels[2])[6], (553.0, 553.0, "T".to_string()));
    // English (1st): 157 chars = 157 bytes, 34 tokens.
    assert_eq!(text_rows(panels[2])[0], (157.0, 34.0, "E".to_string()));
    let (w, h) = assert_png(&run.file("ch2_proj6_part2.png")).unwrap();
    assert_eq!((w, h), (1200, 350));
}
