//! Each of the four models comes from its own flag (`--model` is GPT-2 small only, and an
//! explicit flag wins over --quick's stand-ins); `--models` chooses which are evaluated;
//! a model of the wrong kind for its slot stops the run before Part 1.

use common::testing::run_project;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_project22_hellaswag_eval");

#[test]
fn each_model_comes_from_its_own_flag() {
    let assets = common::assets_dir().join("models");
    // the tiny models under other names, so the four slots can be told apart
    let tmp = tempfile::tempdir().unwrap();
    let link = |src: &str, name: &str| {
        let p = tmp.path().join(name);
        std::os::unix::fs::symlink(assets.join(src), &p).unwrap();
        p.display().to_string()
    };
    let (gs, gl) = (link("tiny-gpt2", "gs"), link("tiny-gpt2", "gl"));
    let (rs, rl) = (link("tiny-roberta", "rs"), link("tiny-roberta", "rl"));
    let run = run_project(
        BIN,
        &[
            "--quick",
            "--device",
            "cpu",
            "--model",
            &gs,
            "--large-model",
            &gl,
            "--roberta-model",
            &rs,
            "--roberta-large-model",
            &rl,
        ],
    )
    .unwrap();
    for (line, id) in [
        ("GPT2 small (GPT-s): ", &gs),
        ("GPT2 large (GPT-l): ", &gl),
        ("RoBERTa small (RoB-s): ", &rs),
        ("RoBERTa large (RoB-l): ", &rl),
    ] {
        assert_eq!(run.summary_line(line).unwrap(), format!("{line}{id}"));
    }

    // --models: only RoB-s is evaluated (GPT-s is still loaded for Part 3).
    let run = run_project(BIN, &["--quick", "--device", "cpu", "--models", "RoB-s"]).unwrap();
    let s = run.summary();
    assert!(run.summary_line("accuracy RoBERTa small: ").is_ok(), "{s}");
    assert!(!s.contains("accuracy GPT2"), "{s}");
    assert!(run.summary_line("GPT2 small (GPT-s): ").is_ok());
    assert!(!s.contains("GPT2 large (GPT-l)"), "{s}");
    // one model: no pair to compare
    assert!(s.contains("no pair to compare, Part 6 skipped"), "{s}");
    assert!(!run.file("ch4_proj22_part6.png").exists());
}

#[test]
fn a_model_of_the_wrong_kind_stops_the_run_before_part_1() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let gpt2 = common::cli::tiny_gpt2();
    let r = Command::new(BIN)
        .args([
            "--quick",
            "--device",
            "cpu",
            "--roberta-model",
            &gpt2,
            "--out",
        ])
        .arg(&out)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("is a causal LM") && err.contains("RoB-s slot needs a masked LM"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(!stdout.contains("## Part 1"), "{stdout}");
    assert!(!out.exists(), "nothing written");
    let r = Command::new(BIN)
        .args(["--quick", "--device", "cpu", "--models", "GPT-x", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&r.stderr).contains("unknown model \"GPT-x\""));
}
