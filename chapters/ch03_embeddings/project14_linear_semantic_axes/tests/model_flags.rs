//! Part 5's models come from `--other-models`; given explicitly, `--quick` does not
//! replace them with its stand-ins, and `--model` is the main model only.

use common::testing::run_project;

#[test]
fn other_models_flag_is_honoured_under_quick() {
    let tiny = common::cli::tiny_gpt2();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other-x");
    std::os::unix::fs::symlink(&tiny, &other).unwrap();
    let run = run_project(
        env!("CARGO_BIN_EXE_project14_linear_semantic_axes"),
        &[
            "--quick",
            "--device",
            "cpu",
            "--other-models",
            other.to_str().unwrap(),
        ],
    )
    .unwrap();
    let s = run.summary();
    let parts5: Vec<&str> = s
        .lines()
        .filter_map(|l| l.strip_prefix("## Part 5: "))
        .collect();
    assert_eq!(parts5, [other.to_str().unwrap()], "{s}");
    run.check_figure("ch3_proj14_part5_other-x_part1").unwrap();
}
