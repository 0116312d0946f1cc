//! Building and running the projects: one release build of everything chosen, then each
//! binary in turn with its output captured to a log, and its end classified as ok,
//! failed (and why) or skipped (a model or data set it needs is not available offline).

use crate::projects::Project;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a project's run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    /// Non-zero exit: the reason (the error's first line).
    Failed(String),
    /// A model or data set is not available offline (or could not be downloaded).
    Skipped(String),
}

impl Status {
    pub fn word(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed(_) => "failed",
            Status::Skipped(_) => "skipped",
        }
    }
    pub fn reason(&self) -> &str {
        match self {
            Status::Ok => "",
            Status::Failed(r) | Status::Skipped(r) => r,
        }
    }
}

/// What one project's run left.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub project: String,
    pub status: Status,
    pub wall: Duration,
    /// PNGs in the project's output folder after a successful run (0 otherwise).
    pub figures: usize,
    pub log: PathBuf,
    /// The last lines the run wrote to stderr (for failures).
    pub stderr_tail: Vec<String>,
}

/// The lines of a project's stderr that say a model or data set is missing offline:
/// the messages of `common::cli` (models), `common::hub` (hub files) and `common::data`
/// (data cache, HF datasets, partial downloads), and a failed download.
const NOT_AVAILABLE: &[&str] = &[
    "is not available offline",
    "and HF_HUB_OFFLINE is set",
    "offline mode is on",
    "could not download",
];

/// Classify a finished run from its exit and its stderr lines.
pub fn classify(success: bool, exit: &str, stderr: &[String]) -> Status {
    if success {
        return Status::Ok;
    }
    let clean = |l: &str| {
        let l = l.trim();
        let l = l.strip_prefix("Error:").unwrap_or(l).trim();
        // anyhow's "Caused by:" items: "0: message"
        match l.split_once(": ") {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                rest.to_string()
            }
            _ => l.to_string(),
        }
    };
    if let Some(l) = stderr
        .iter()
        .find(|l| NOT_AVAILABLE.iter().any(|p| l.contains(p)))
    {
        return Status::Skipped(clean(l));
    }
    if let Some(l) = stderr.iter().find(|l| l.starts_with("Error:")) {
        let r = clean(l);
        if !r.is_empty() {
            return Status::Failed(r);
        }
    }
    if let Some(i) = stderr.iter().position(|l| l.contains("panicked at")) {
        let msg = stderr.get(i + 1).map(|l| l.trim()).unwrap_or("");
        return Status::Failed(format!("panicked: {msg} ({exit})"));
    }
    match stderr.iter().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => Status::Failed(format!("{} ({exit})", l.trim())),
        None => Status::Failed(exit.to_string()),
    }
}

/// The cargo that runs us (`$CARGO` under `cargo run`), else `cargo` on the PATH.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Build the projects' release binaries with one `cargo build --release` in the
/// workspace (cargo's own messages go to the terminal) and return each project's
/// executable. With `--keep-going`, a project that does not compile does not stop the
/// others: it is missing from the map, and its run is reported as failed.
pub fn build_release(root: &Path, projects: &[Project]) -> Result<BTreeMap<String, PathBuf>> {
    let cargo = cargo();
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--release",
            "--keep-going",
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for p in projects {
        cmd.args(["-p", &p.name]);
    }
    eprintln!(
        "building {} project{} (cargo build --release) ...",
        projects.len(),
        if projects.len() == 1 { "" } else { "s" }
    );
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "cargo not found ({}): the runner builds the projects with cargo. Install Rust \
                 (https://rustup.rs), or pass --bin-dir DIR with the project binaries already \
                 built (e.g. target/release after cargo build --release -p ...)",
                cargo.to_string_lossy()
            )
        } else {
            anyhow!("cannot run {}: {e}", cargo.to_string_lossy())
        }
    })?;
    let mut bins = BTreeMap::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.context("reading cargo's messages")?;
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if msg["reason"] != "compiler-artifact" {
                continue;
            }
            let is_bin = msg["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if let (true, Some(name), Some(exe)) = (
                is_bin,
                msg["target"]["name"].as_str(),
                msg["executable"].as_str(),
            ) {
                bins.insert(name.to_string(), PathBuf::from(exe));
            }
        }
    }
    let status = child.wait().context("waiting for cargo build")?;
    if !status.success() && bins.is_empty() {
        bail!("cargo build --release of the projects failed ({status}): see cargo's errors above");
    }
    Ok(bins)
}

/// The binaries of `projects` in a folder of prebuilt binaries (`--bin-dir`).
pub fn prebuilt(dir: &Path, projects: &[Project]) -> Result<BTreeMap<String, PathBuf>> {
    let mut bins = BTreeMap::new();
    let missing: Vec<&str> = projects
        .iter()
        .filter(|p| !dir.join(&p.name).is_file())
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "--bin-dir {}: no binary for {}. Build them first (cargo build --release -p {} puts \
             them in target/release; cargo test --workspace builds every binary into \
             target/debug), or leave out --bin-dir and the runner builds them",
            dir.display(),
            missing.join(", "),
            missing.join(" -p ")
        );
    }
    for p in projects {
        bins.insert(p.name.clone(), dir.join(&p.name));
    }
    Ok(bins)
}

/// How the projects are run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub quick: bool,
    pub device: Option<String>,
    /// Passed on to every project after the runner's own flags.
    pub extra: Vec<String>,
}

impl RunOptions {
    /// The flags of one project's run, `--out` included.
    pub fn args(&self, out: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["--out".into(), out.into()];
        if self.quick {
            a.push("--quick".into());
        }
        if let Some(d) = &self.device {
            a.push("--device".into());
            a.push(d.into());
        }
        a.extend(self.extra.iter().map(OsString::from));
        a
    }
}

/// PNG files in `dir` (sorted by name).
pub fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "png") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Run one project binary into `out_root/<project>`, its stdout and stderr going to
/// `logs/<project>.log` (stderr is kept too, to classify the end).
pub fn run_one(
    project: &Project,
    bin: Option<&Path>,
    opts: &RunOptions,
    out_root: &Path,
    logs: &Path,
) -> Result<RunResult> {
    let out = out_root.join(&project.name);
    let log = logs.join(format!("{}.log", project.name));
    let mut result = RunResult {
        project: project.name.clone(),
        status: Status::Ok,
        wall: Duration::ZERO,
        figures: 0,
        log: log.clone(),
        stderr_tail: Vec::new(),
    };
    let mut file =
        std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let Some(bin) = bin else {
        result.status = Status::Failed("did not build (see cargo's errors above)".into());
        writeln!(file, "{}: did not build", project.name)?;
        return Ok(result);
    };
    let args = opts.args(&out);
    let shown: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
    writeln!(file, "$ {} {}", bin.display(), shown.join(" "))?;
    let mut cmd = Command::new(bin);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(Stdio::piped());
    if opts.quick {
        // --quick needs nothing from the network: never wait on it
        cmd.env("HF_HUB_OFFLINE", "1");
    }
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            result.status = Status::Failed(format!("cannot start {}: {e}", bin.display()));
            return Ok(result);
        }
    };
    // stderr: into the log (the same open file as stdout, so the order is kept) and kept
    let err = child.stderr.take();
    let mut log_err = file.try_clone()?;
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        if let Some(err) = err {
            for line in BufReader::new(err).lines().map_while(|l| l.ok()) {
                let _ = writeln!(log_err, "{line}");
                lines.push(line);
            }
        }
        lines
    });
    let status = child.wait().context("waiting for the project")?;
    result.wall = start.elapsed();
    let lines = reader.join().unwrap_or_default();
    let exit = match status.code() {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".to_string(),
    };
    writeln!(file, "[book] {} after {}", exit, fmt_wall(result.wall))?;
    result.status = classify(status.success(), &exit, &lines);
    if result.status == Status::Ok {
        result.figures = pngs(&out).len();
    }
    result.stderr_tail = error_lines(&lines);
    Ok(result)
}

/// The lines of a failed run's stderr worth showing: the error and its causes (or the
/// panic message), without a backtrace (RUST_BACKTRACE), at most 10; else the last 8.
pub fn error_lines(lines: &[String]) -> Vec<String> {
    let start = lines
        .iter()
        .position(|l| l.starts_with("Error:"))
        .or_else(|| lines.iter().position(|l| l.contains("panicked at")));
    match start {
        Some(i) => lines[i..]
            .iter()
            .take_while(|l| {
                !l.trim_start()
                    .to_lowercase()
                    .starts_with("stack backtrace:")
            })
            .filter(|l| !l.trim().is_empty())
            .take(10)
            .cloned()
            .collect(),
        None => lines[lines.len().saturating_sub(8)..].to_vec(),
    }
}

/// `3.2 s`, `4 min 05 s`, `1 h 02 min`.
pub fn fmt_wall(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        let t = s.round() as u64;
        format!("{} min {:02} s", t / 60, t % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// The record of a project's last run through the runner (`book/runs.json`), read by
/// the gallery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// ok, failed or skipped
    pub status: String,
    pub reason: String,
    pub wall_s: f64,
    /// The last run was a `--quick` run.
    pub quick: bool,
    /// The output folder's figures come from a `--quick` run (from the last successful
    /// run, which a failed one does not replace).
    pub figures_quick: Option<bool>,
    /// When the run ended (seconds since 1970, UTC).
    pub finished: u64,
}

/// Every project's record, by project name.
pub type Records = BTreeMap<String, Record>;

pub fn load_records(path: &Path) -> Records {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

pub fn save_records(path: &Path, r: &Records) -> Result<()> {
    let s = serde_json::to_string_pretty(r)?;
    std::fs::write(path, s + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Update `records` with a finished run.
pub fn record(records: &mut Records, r: &RunResult, quick: bool) {
    let previous = records.get(&r.project).and_then(|p| p.figures_quick);
    let finished = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    records.insert(
        r.project.clone(),
        Record {
            status: r.status.word().to_string(),
            reason: r.status.reason().to_string(),
            wall_s: r.wall.as_secs_f64(),
            quick,
            figures_quick: if r.status == Status::Ok {
                Some(quick)
            } else {
                previous
            },
            finished,
        },
    );
}

/// `s` cut to `n` characters with an ellipsis.
pub fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n.saturating_sub(1)).collect::<String>() + "…"
    }
}

/// The final table: project, status (and why), wall time, figures.
pub fn table(results: &[RunResult]) -> String {
    let rows: Vec<[String; 4]> = results
        .iter()
        .map(|r| {
            let status = match &r.status {
                Status::Ok => "ok".to_string(),
                s => format!("{}: {}", s.word(), shorten(s.reason(), 90)),
            };
            [
                r.project.clone(),
                status,
                fmt_wall(r.wall),
                r.figures.to_string(),
            ]
        })
        .collect();
    let header = ["project", "status", "wall time", "figures"];
    let mut w = header.map(|h| h.chars().count());
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |c: [&str; 4]| {
        format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}",
            c[0],
            c[1],
            c[2],
            c[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        )
        .trim_end()
        .to_string()
    };
    let mut out = vec![
        line(header),
        line([
            &"-".repeat(w[0]),
            &"-".repeat(w[1]),
            &"-".repeat(w[2]),
            &"-".repeat(w[3]),
        ]),
    ];
    for r in &rows {
        out.push(line([&r[0], &r[1], &r[2], &r[3]]));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(String::from).collect()
    }

    #[test]
    fn offline_messages_of_common_are_skips() {
        // the messages common::cli, common::hub and common::data write (see NOT_AVAILABLE)
        let model = lines(
            "Error: model \"gpt2\" is not available offline (HF_HUB_OFFLINE is set and it is \
             not in the Hugging Face cache /x): run once with network access\n\nCaused by:\n    \
             config.json of gpt2 is not in the Hugging Face cache (/x) and HF_HUB_OFFLINE is set",
        );
        let s = classify(false, "exit code 1", &model);
        assert_eq!(s.word(), "skipped", "{s:?}");
        assert!(
            s.reason()
                .starts_with("model \"gpt2\" is not available offline"),
            "{s:?}"
        );
        let data = lines(
            "loading\nError: Gutenberg book 11 is not in the data cache (/c/pg11.txt) and offline \
             mode is on (HF_HUB_OFFLINE or ML4LLM_OFFLINE): run once with network access",
        );
        assert_eq!(classify(false, "exit code 1", &data).word(), "skipped");
        let cause =
            lines("Error: part 2 failed\n\nCaused by:\n    0: could not download x.parquet");
        assert_eq!(
            classify(false, "exit code 1", &cause),
            Status::Skipped("could not download x.parquet".into())
        );
    }

    #[test]
    fn other_ends_are_failures_with_their_reason() {
        let e = lines("Error: --device cuda: CUDA is not available\n\nCaused by:\n    x");
        assert_eq!(
            classify(false, "exit code 1", &e),
            Status::Failed("--device cuda: CUDA is not available".into())
        );
        let p = lines("thread 'main' panicked at src/main.rs:3:5:\nindex out of bounds\nnote: ...");
        assert_eq!(
            classify(false, "exit code 101", &p),
            Status::Failed("panicked: index out of bounds (exit code 101)".into())
        );
        assert_eq!(
            classify(false, "killed by a signal", &[]),
            Status::Failed("killed by a signal".into())
        );
        assert_eq!(
            classify(false, "exit code 2", &lines("some\nlast words\n")),
            Status::Failed("last words (exit code 2)".into())
        );
        // a successful run is ok whatever it printed
        assert_eq!(classify(true, "exit code 0", &model_lines()), Status::Ok);
    }

    #[test]
    fn the_tail_shown_is_the_error_without_its_backtrace() {
        let l = lines(
            "progress\nError: model \"gpt2\" is missing\n\nCaused by:\n    0: config.json\n\n\
             Stack backtrace:\n   0: anyhow::msg\n   1: main",
        );
        assert_eq!(
            error_lines(&l),
            [
                "Error: model \"gpt2\" is missing",
                "Caused by:",
                "    0: config.json"
            ]
        );
        let p = lines("thread 'main' panicked at a.rs:1:1:\nboom\nstack backtrace:\n  0: x");
        assert_eq!(
            error_lines(&p),
            ["thread 'main' panicked at a.rs:1:1:", "boom"]
        );
        let other: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(error_lines(&other), other[12..].to_vec());
    }

    fn model_lines() -> Vec<String> {
        lines("warning: is not available offline")
    }

    #[test]
    fn wall_times_and_the_table() {
        assert_eq!(fmt_wall(Duration::from_millis(3240)), "3.2 s");
        assert_eq!(fmt_wall(Duration::from_secs(245)), "4 min 05 s");
        assert_eq!(fmt_wall(Duration::from_secs(3720)), "1 h 02 min");
        let r = |p: &str, s: Status, secs: u64, f: usize| RunResult {
            project: p.into(),
            status: s,
            wall: Duration::from_secs(secs),
            figures: f,
            log: PathBuf::new(),
            stderr_tail: vec![],
        };
        let t = table(&[
            r("project01_a", Status::Ok, 3, 5),
            r("project16_long_name", Status::Failed("boom".into()), 61, 0),
            r("p2", Status::Skipped("model \"gpt2\" missing".into()), 1, 0),
        ]);
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(rows.len(), 5, "{t}");
        assert!(
            rows[0].starts_with("project ") && rows[0].ends_with("figures"),
            "{t}"
        );
        assert!(
            rows[2].starts_with("project01_a ") && rows[2].ends_with("3.0 s        5"),
            "{t}"
        );
        assert!(
            rows[3].contains("failed: boom") && rows[3].contains("1 min 01 s"),
            "{t}"
        );
        assert!(rows[4].contains("skipped: model \"gpt2\" missing"), "{t}");
        // columns line up: the status column starts at the same place in every row
        let col = rows[0].find("status").unwrap();
        for row in &rows[2..] {
            assert_eq!(
                row.char_indices()
                    .nth(col)
                    .map(|c| c.1)
                    .map(char::is_whitespace),
                Some(false),
                "{t}"
            );
        }
        assert_eq!(shorten("abcdef", 4), "abc…");
    }

    #[test]
    fn records_keep_where_the_figures_came_from() {
        let mut recs = Records::new();
        let mut r = RunResult {
            project: "p".into(),
            status: Status::Ok,
            wall: Duration::from_secs(2),
            figures: 3,
            log: PathBuf::new(),
            stderr_tail: vec![],
        };
        record(&mut recs, &r, true);
        assert_eq!(recs["p"].figures_quick, Some(true));
        // a failed full run leaves the quick figures in place: still quick
        r.status = Status::Failed("x".into());
        record(&mut recs, &r, false);
        assert_eq!(
            (recs["p"].status.as_str(), recs["p"].figures_quick),
            ("failed", Some(true))
        );
        r.status = Status::Ok;
        record(&mut recs, &r, false);
        assert_eq!(recs["p"].figures_quick, Some(false));
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("runs.json");
        save_records(&f, &recs).unwrap();
        assert_eq!(load_records(&f), recs);
        assert!(load_records(&tmp.path().join("none.json")).is_empty());
    }
}
