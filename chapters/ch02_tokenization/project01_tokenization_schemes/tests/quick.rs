//! Runs the project as a learner would (offline) and checks the spec's offline checks
//! on what it wrote.

use common::testing::{assert_png, figure_series, run_project};

#[test]
fn quick_run_writes_the_three_figures_and_exact_counts() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project01_tokenization_schemes"),
        &["--quick"],
    )
    .unwrap();
    for f in [
        "ch2_proj1_part1-tokenscatter",
        "ch2_proj1_part2",
        "ch2_proj1_part3",
    ] {
        let (w, h) = assert_png(&run.file(&format!("{f}.png"))).unwrap();
        assert!(run.file(&format!("{f}.csv")).is_file(), "{f}.csv");
        if f == "ch2_proj1_part1-tokenscatter" {
            assert_eq!((w, h), (1200, 400));
        }
    }
    let s = run.summary();
    for line in [
        "53 characters, 18 unique",
        "11 words, 8 unique",
        "12 tokens, 9 unique",
        "vocab size 50257",
        "\" Mike\" -> [4995]",
        "\"Mike\" -> [16073]",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }
    assert!(s.contains("Token ids: [464, 835, 345, 466, 1997, 318, 262, 835, 345, 466, 2279, 13]"));

    // Bar heights in the CSV behind the Part 3 figure.
    let series = figure_series(&run.file("ch2_proj1_part3.csv")).unwrap();
    let heights = |panel: &str| -> Vec<f64> {
        let (_, pts) = series
            .iter()
            .find(|((p, _), _)| p == panel)
            .expect("panel in csv");
        pts.iter().map(|p| p.1).collect()
    };
    assert_eq!(heights("Total"), vec![53.0, 11.0, 12.0]);
    assert_eq!(heights("Unique"), vec![18.0, 8.0, 9.0]);

    // The Part 1 scatter: 53 points whose y values are the character ids.
    let s1 = figure_series(&run.file("ch2_proj1_part1-tokenscatter.csv")).unwrap();
    let pts = s1.values().next().unwrap();
    assert_eq!(pts.len(), 53);
    assert_eq!(pts[0].1, 2.0);
    assert_eq!(pts[52].1, 1.0);
}
