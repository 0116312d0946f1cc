//! `scripts/setup.sh` refuses to start the torch install (a 7.4 GB peak on disk) when the
//! disk is too small, with a message that says how much it needs and what is free, and
//! without running pip — instead of pip's "No space left on device" minutes later.

use std::path::Path;
use std::process::Command;

#[test]
fn setup_stops_before_pip_when_the_disk_is_too_small() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace");
    // A copy of the script in a scratch checkout: it creates .venv next to its scripts/.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::create_dir(scratch.path().join("scripts")).unwrap();
    std::fs::copy(
        workspace.join("scripts/setup.sh"),
        scratch.path().join("scripts/setup.sh"),
    )
    .unwrap();
    // 1 PB: more than any disk has.
    let out = Command::new("bash")
        .arg(scratch.path().join("scripts/setup.sh"))
        .env("SETUP_NEED_MB", "1000000000")
        .env_remove("SETUP_SKIP_DISK_CHECK")
        // Should the check let pip through, pip fails at once instead of installing.
        .env("PIP_NO_INDEX", "1")
        .output()
        .expect("bash runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let scratch_dir = scratch.path().canonicalize().unwrap();
    let expect = format!(
        "needs about 1000000000 MB free on the disk of {}, which has ",
        scratch_dir.display()
    );
    assert!(stderr.contains(&expect), "stderr: {stderr}");
    // The free space it reports is what df says (to within what a concurrent build
    // writes meanwhile).
    let reported: i64 = stderr
        .split("which has ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no free-space figure in: {stderr}"));
    let df = Command::new("df")
        .arg("-Pm")
        .arg(&scratch_dir)
        .output()
        .unwrap();
    let df = String::from_utf8_lossy(&df.stdout);
    let free: i64 = df
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable df output: {df}"));
    assert!(
        (reported - free).abs() < 2000,
        "setup reported {reported} MB free, df says {free} MB"
    );
    // pip never ran: the fresh .venv has no torch, and nothing installed anything.
    let site = scratch.path().join(".venv/lib");
    assert!(site.is_dir(), "the venv was created first");
    let torch_found = walk_has(&site, "torch");
    assert!(!torch_found, "torch was installed despite the refusal");
    assert!(!scratch.path().join(".libtorch").exists());
}

/// Whether a directory named `name` exists anywhere below `dir`.
fn walk_has(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        p.is_dir() && (e.file_name() == name || walk_has(&p, name))
    })
}
