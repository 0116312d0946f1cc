//! Part 5's larger model has its own flag, `--large-model`, which `--quick` does not
//! override when it is given; `--model` is Parts 3-5's main model only.

use common::testing::run_project;

#[test]
fn each_model_comes_from_its_own_flag() {
    let tiny = common::cli::tiny_gpt2();
    // the tiny GPT-2 under two other names, so the models can be told apart
    let tmp = tempfile::tempdir().unwrap();
    let (small, large) = (tmp.path().join("small-x"), tmp.path().join("large-x"));
    std::os::unix::fs::symlink(&tiny, &small).unwrap();
    std::os::unix::fs::symlink(&tiny, &large).unwrap();
    let run = run_project(
        env!("CARGO_BIN_EXE_project16_softmax_distributions"),
        &[
            "--quick",
            "--device",
            "cpu",
            "--model",
            small.to_str().unwrap(),
            "--large-model",
            large.to_str().unwrap(),
        ],
    )
    .unwrap();
    let s = run.summary();
    // the lines printed when each model is loaded: "<id>: <n> parameters"
    let loaded: Vec<&str> = s
        .lines()
        .filter(|l| l.ends_with(" parameters"))
        .filter_map(|l| l.split(": ").next())
        .collect();
    assert_eq!(
        loaded,
        [small.to_str().unwrap(), large.to_str().unwrap()],
        "{s}"
    );
}
