//! Runs the project as a learner would (offline) and checks the spec's offline checks
//! on what it wrote.

use common::testing::{assert_png, figure_series, run_project};

/// The spec's sentence (53 ASCII characters).
const SENTENCE: &str = "The way you do anything is the way you do everything.";

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

    // Check 1, derived here from the sentence: the character vocabulary is the sorted
    // distinct characters, a character's id its position there; the Part 1 scatter's
    // 53 points are those ids in sentence order.
    let mut vocab: Vec<char> = SENTENCE.chars().collect();
    vocab.sort_unstable();
    vocab.dedup();
    assert_eq!(vocab.len(), 18);
    let ids: Vec<f64> = SENTENCE
        .chars()
        .map(|c| vocab.iter().position(|&v| v == c).unwrap() as f64)
        .collect();
    let s1 = figure_series(&run.file("ch2_proj1_part1-tokenscatter.csv")).unwrap();
    assert_eq!(s1.len(), 1);
    let pts = s1.values().next().unwrap();
    let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let y: Vec<f64> = pts.iter().map(|p| p.1).collect();
    assert_eq!(x, (0..53).map(f64::from).collect::<Vec<_>>());
    assert_eq!(y, ids);
    let printed: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    assert!(
        s.contains(&format!("Tokens: [{}]", printed.join(", "))),
        "{s}"
    );
    // Check 2: the word scheme's ids (sorted distinct words) as the spec lists them.
    assert!(
        s.contains("Tokens: [0, 6, 7, 2, 1, 4, 5, 6, 7, 2, 3]"),
        "{s}"
    );
}
