//! Runs the project in --quick mode (tiny GPT-2 for RoBERTa, MiniLM for BERT-large,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{read_csv, run_project};

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project14_linear_semantic_axes"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let mut figs = vec!["ch3_proj14_part1".to_string()];
    // (figure prefix, table prefix) of Parts 2-3: the main axis, Part 4's axes, Part 5's
    // models (their Part 1 figure too).
    let mut parts: Vec<(String, String)> = ["", "_good-evil", "_young-old", "_big-small"]
        .iter()
        .map(|s| (format!("ch3_proj14_part{{}}{s}"), format!("part3{s}")))
        .collect();
    for model in ["bert", "tiny-gpt2"] {
        figs.push(format!("ch3_proj14_part5_{model}_part1"));
        parts.push((
            format!("ch3_proj14_part5_{model}_part{{}}"),
            format!("part5_{model}_part3"),
        ));
    }
    for (fig, table) in &parts {
        figs.push(fig.replace("{}", "2"));
        figs.push(fig.replace("{}", "3"));
        for which in ["top10", "bottom10"] {
            let (header, rows) = read_csv(&run.file(&format!("{table}_{which}.csv"))).unwrap();
            assert_eq!(header, ["rank", "token_id", "projection", "token"]);
            assert_eq!(rows.len(), 10);
            let p: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
            // Check 2: projections are cosines, so within [-1, 1]; lists are ordered.
            assert!(p.iter().all(|v| v.abs() <= 1.0 + 1e-6));
            if which == "top10" {
                assert!(p.windows(2).all(|w| w[0] >= w[1]));
            } else {
                assert!(p.windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
    assert_eq!(figs.len(), 1 + 2 + 4 * 2 + 2 * 2);
    for f in &figs {
        run.check_figure(f).unwrap();
    }
    // No outputs under the old Part 5 names.
    for old in [
        "ch3_proj14_part2_part5_bert.png",
        "ch3_proj14_part3_part5_bert.png",
        "part3_part5_bert_top10.csv",
    ] {
        assert!(!run.file(old).exists(), "{old}");
    }
    let s = run.summary();
    // Check 1: unit rows, unit axis, ‖a_norm‖ = sqrt(2 - 2 cos).
    assert!(s.contains("norm of En[300] = 1.000000"), "{s}");
    assert_eq!(
        s.matches("norm of axis (normed after subtraction) = 1.000")
            .count(),
        6
    );
    for l in s
        .lines()
        .filter(|l| l.starts_with("norm of axis (subtraction"))
    {
        let a = l.split(" = ").nth(1).unwrap().split(' ').next().unwrap();
        let b = l.rsplit(" = ").next().unwrap().trim_end_matches(')');
        assert_eq!(a, b, "{l}");
    }
    // Check 6: the pole words are single tokens that decode back to themselves (GPT-2's
    // BPE = RoBERTa's merges; ids in GPT-2 numbering under --quick).
    for (w, id) in [
        ("future", 2003),
        ("past", 1613),
        ("good", 922),
        ("evil", 6181),
        ("young", 1862),
        ("old", 1468),
        ("big", 1263),
        ("small", 1402),
    ] {
        assert!(
            s.contains(&format!("\" {w}\" -> [{id}] -> \" {w}\"")),
            "{w}: {s}"
        );
    }
}
