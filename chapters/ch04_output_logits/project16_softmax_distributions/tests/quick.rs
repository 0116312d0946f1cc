//! Runs the project in --quick mode (tiny random GPT-2, offline) and checks the spec's
//! offline checks on what it wrote.

use common::testing::{assert_png, figure_series, read_csv, run_project};

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project16_softmax_distributions"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let figs = [
        "part1", "part2", "part3", "part4", "part5a", "part5b", "part5c", "part5d", "part5e",
    ];
    for f in figs {
        assert_png(&run.file(&format!("ch4_proj16_{f}.png"))).unwrap();
        assert!(run.file(&format!("ch4_proj16_{f}.csv")).is_file());
    }

    // Part 1: the manual softmax values and their sum.
    let s1 = figure_series(&run.file("ch4_proj16_part1.csv")).unwrap();
    let manual = s1
        .iter()
        .find(|((_, s), _)| s == "Manual")
        .expect("Manual series")
        .1;
    let want = [
        0.00264, 0.00291, 0.00717, 0.01948, 0.14397, 0.39134, 0.43250,
    ];
    for (p, w) in manual.iter().zip(want) {
        assert!((p.1 - w).abs() < 1e-5, "{} vs {w}", p.1);
    }
    assert!((manual.iter().map(|p| p.1).sum::<f64>() - 1.0).abs() < 1e-6);

    // Part 3 on the tiny model: V logits, softmax sums to 1.
    let s3 = figure_series(&run.file("ch4_proj16_part3.csv")).unwrap();
    let logits = &s3.iter().find(|((p, _), _)| p.starts_with("A)")).unwrap().1;
    let probs = &s3.iter().find(|((p, _), _)| p.starts_with("B)")).unwrap().1;
    assert_eq!(logits.len(), 50257);
    assert!((probs.iter().map(|p| p.1).sum::<f64>() - 1.0).abs() < 1e-6);

    // Part 4: top-10 distinct, non-increasing, first is the argmax of the logits.
    let (header, rows) = read_csv(&run.file("part4_top10.csv")).unwrap();
    assert_eq!(header, vec!["rank", "token_id", "probability", "token"]);
    assert_eq!(rows.len(), 10);
    let ids: Vec<usize> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let p: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    assert!(p.windows(2).all(|w| w[0] >= w[1]));
    let argmax = logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .unwrap()
        .0;
    assert_eq!(ids[0], argmax);

    // Part 5: max-subtracted naive softmax equals the library softmax.
    let s = run.summary();
    assert!(s.contains("parameters"), "{s}");
    for line in s
        .lines()
        .filter(|l| l.contains("max |naive(max-subtracted) - library|"))
    {
        let v: f64 = line.rsplit("= ").next().unwrap().parse().unwrap();
        assert!(v < 1e-6, "{line}");
    }
}
