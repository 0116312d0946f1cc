//! The output folder of a run: one PNG per figure with a CSV of its data, extra CSV
//! tables, and `summary.txt` holding every line the run printed.
//!
//! A run never half-writes its folder. Everything goes into a temporary folder beside
//! it (`outputs/.project16_softmax_distributions.partial-<pid>-<n>`), and only
//! [`Output::finish`], called when the run has succeeded, moves it into place: the
//! previous output folder is renamed away, the new one renamed in, the old one deleted.
//! A run that fails (an error, a panic) leaves the previous output folder exactly as it
//! was and prints where the files it did write are (with a `summary.txt` of what it
//! printed so far). Partial folders of runs whose process is gone are removed by the
//! next run into the same folder.

use crate::plot::Figure;
use anyhow::{bail, Context, Result};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Distinguishes two outputs of one process aimed at the same folder.
static SERIAL: AtomicUsize = AtomicUsize::new(0);

/// Collects a run's printed lines and files under one folder.
pub struct Output {
    /// Where the files go while the run lasts: the temporary folder.
    dir: PathBuf,
    /// The output folder the run replaces when it finishes.
    target: PathBuf,
    summary: Vec<String>,
    files: Vec<PathBuf>,
    finished: bool,
}

/// `(parent, file name)` of an output folder path, with `.` for a bare name.
fn split_target(target: &Path) -> Result<(PathBuf, String)> {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .with_context(|| {
            format!(
                "{:?} cannot be an output folder: give a path that ends in a folder name, \
                 e.g. --out outputs/my_run",
                target.display()
            )
        })?
        .to_string();
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// True when process `pid` is known to be gone (Linux `/proc`; elsewhere nothing is
/// known, and nothing is cleaned up).
fn process_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a `.<name>.<kind>-<pid>-<n>` entry name, if it is one.
fn leftover_pid(entry: &str, name: &str, kind: &str) -> Option<u32> {
    let rest = entry.strip_prefix(&format!(".{name}.{kind}-"))?;
    rest.split('-').next()?.parse().ok()
}

/// Remove what runs that died left beside `target`: partial folders, and the previous
/// output folder of a swap that was cut short (renamed back when nothing replaced it).
fn clean_leftovers(parent: &Path, name: &str, target: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let entry = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = leftover_pid(&entry, name, "partial") {
            if process_gone(pid) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        } else if let Some(pid) = leftover_pid(&entry, name, "old") {
            if process_gone(pid) {
                if target.exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                } else {
                    let _ = std::fs::rename(e.path(), target);
                }
            }
        }
    }
}

impl Output {
    /// An output for the folder `dir`: checks that it can be written (its parent is
    /// created if needed) and opens the temporary folder beside it. `dir` itself is
    /// left alone until [`Output::finish`].
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let target: PathBuf = dir.into();
        if target.exists() && !target.is_dir() {
            bail!(
                "the output folder {} exists and is not a folder: pass --out a folder path",
                target.display()
            );
        }
        let (parent, name) = split_target(&target)?;
        std::fs::create_dir_all(&parent).with_context(|| {
            format!(
                "cannot create {} to hold the output folder {}: pass --out a folder you can write to",
                parent.display(),
                target.display()
            )
        })?;
        clean_leftovers(&parent, &name, &target);
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let temp = parent.join(format!(".{name}.partial-{}-{n}", std::process::id()));
        if temp.exists() {
            std::fs::remove_dir_all(&temp)
                .with_context(|| format!("removing the stale folder {}", temp.display()))?;
        }
        std::fs::create_dir(&temp).with_context(|| {
            format!(
                "cannot write into {} (the run's files are written there before they replace {}): \
                 pass --out a folder you can write to",
                parent.display(),
                target.display()
            )
        })?;
        Ok(Output {
            dir: temp,
            target,
            summary: Vec::new(),
            files: Vec::new(),
            finished: false,
        })
    }

    /// The folder the files are written to now: during the run, the temporary folder
    /// beside [`Output::final_dir`] (files written there by hand move with the rest).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The output folder this run fills when it finishes.
    pub fn final_dir(&self) -> &Path {
        &self.target
    }

    /// Print a line and keep it for `summary.txt`.
    pub fn say(&mut self, line: impl Display) {
        let s = line.to_string();
        println!("{s}");
        self.summary.push(s);
    }

    /// Save `fig` as `<name>.png` plus the data behind it as `<name>.csv`.
    pub fn figure(&mut self, fig: &Figure, name: &str) -> Result<PathBuf> {
        let png = self.dir.join(format!("{name}.png"));
        fig.save_png(&png)
            .with_context(|| format!("drawing {}", png.display()))?;
        let csv = self.dir.join(format!("{name}.csv"));
        fig.write_csv(&csv)
            .with_context(|| format!("writing {}", csv.display()))?;
        self.files.push(png.clone());
        self.files.push(csv);
        Ok(png)
    }

    /// Write a table as `<name>.csv`.
    pub fn table<S: AsRef<str>>(
        &mut self,
        name: &str,
        header: &[&str],
        rows: &[Vec<S>],
    ) -> Result<PathBuf> {
        let path = self.dir.join(format!("{name}.csv"));
        let mut w = csv::Writer::from_path(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        w.write_record(header)?;
        for r in rows {
            w.write_record(r.iter().map(|s| s.as_ref()))?;
        }
        w.flush()?;
        self.files.push(path.clone());
        Ok(path)
    }

    fn write_summary(&self) -> Result<PathBuf> {
        let path = self.dir.join("summary.txt");
        std::fs::write(&path, self.summary.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// The run succeeded: write `summary.txt`, put the folder in place of the previous
    /// output folder, and list what was written.
    pub fn finish(mut self) -> Result<()> {
        let summary = self.write_summary()?;
        self.files.push(summary);
        self.swap_into_place()?;
        self.finished = true;
        println!(
            "\nwrote {} files to {}:",
            self.files.len(),
            self.target.display()
        );
        for f in &self.files {
            println!(
                "  {}",
                f.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Old folder renamed away, new one renamed in, old one deleted; on a failure the
    /// old folder is put back.
    fn swap_into_place(&self) -> Result<()> {
        let (parent, name) = split_target(&self.target)?;
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let old = parent.join(format!(".{name}.old-{}-{n}", std::process::id()));
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old).with_context(|| {
                format!(
                    "cannot move the previous output folder {} aside to replace it; this run's \
                     files are in {}",
                    self.target.display(),
                    self.dir.display()
                )
            })?;
        }
        if let Err(e) = std::fs::rename(&self.dir, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(e).with_context(|| {
                format!(
                    "cannot move this run's files from {} to {}",
                    self.dir.display(),
                    self.target.display()
                )
            });
        }
        if had_old {
            if let Err(e) = std::fs::remove_dir_all(&old) {
                eprintln!(
                    "warning: the previous output folder, moved to {}, could not be deleted: {e}",
                    old.display()
                );
            }
        }
        Ok(())
    }
}

impl Drop for Output {
    /// A run that did not reach [`Output::finish`]: the previous output folder was never
    /// touched. Say where this run's files are (with a `summary.txt` of what it printed
    /// so far), or remove the temporary folder when it holds nothing.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let empty = std::fs::read_dir(&self.dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if empty {
            let _ = std::fs::remove_dir(&self.dir);
            return;
        }
        let _ = self.write_summary();
        // A panic has printed its message already; an error that main returns is
        // printed after this, as the process ends.
        let why = if std::thread::panicking() {
            "stopped at the panic above"
        } else {
            "stopped with the error below"
        };
        eprintln!(
            "note: the run {why}, so {} was left as it was; the files it wrote before it \
             stopped are in {}",
            self.target.display(),
            self.dir.display()
        );
    }
}

/// A list of numbers as `[a, b, …]` with `decimals` digits after the point, as the
/// projects print coefficient and probability vectors.
pub fn fmt_floats(v: &[f64], decimals: usize) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.decimals$}")).collect();
    format!("[{}]", items.join(", "))
}

/// Format an integer with thousands separators: 124439808 -> "124,439,808".
pub fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Every file under `dir` (relative path → bytes).
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_path_buf();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A previous run's folder: two files, one in a subfolder.
    fn previous_run(dir: &Path) {
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("old_figure.csv"), "a,b\n1,2\n").unwrap();
        std::fs::write(dir.join("sub/summary.txt"), "old lines\n").unwrap();
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(124439808), "124,439,808");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(-1000), "-1,000");
    }

    #[test]
    fn writes_tables_and_summary() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = Output::new(tmp.path().join("p")).unwrap();
        out.say("hello");
        out.table("t", &["a", "b"], &[vec!["1", "2"]]).unwrap();
        out.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("p/t.csv")).unwrap(),
            "a,b\n1,2\n"
        );
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("p/summary.txt")).unwrap(),
            "hello\n"
        );
    }

    #[test]
    fn a_successful_run_replaces_the_previous_folder_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("p");
        previous_run(&target);
        let mut out = Output::new(&target).unwrap();
        // nothing of the new run is visible before finish()
        assert_ne!(out.dir(), target.as_path());
        assert_eq!(out.final_dir(), target.as_path());
        out.say("new");
        out.table("t", &["x"], &[vec!["3"]]).unwrap();
        assert!(!target.join("t.csv").exists());
        out.finish().unwrap();
        assert_eq!(names(&target), ["summary.txt", "t.csv"]);
        assert_eq!(
            std::fs::read_to_string(target.join("summary.txt")).unwrap(),
            "new\n"
        );
        // no temporary or old folder is left beside it
        assert_eq!(names(tmp.path()), ["p"]);
    }

    #[test]
    fn a_failed_run_leaves_the_previous_folder_byte_identical() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("p");
        previous_run(&target);
        let before = snapshot(&target);
        let partial = {
            let mut out = Output::new(&target).unwrap();
            out.say("part 1 done");
            out.table("part1", &["x"], &[vec!["1"]]).unwrap();
            out.dir().to_path_buf()
            // dropped without finish(): the run failed
        };
        assert_eq!(snapshot(&target), before);
        // the partial files are kept beside it, with what the run printed
        assert!(partial.starts_with(tmp.path()));
        assert_eq!(names(&partial), ["part1.csv", "summary.txt"]);
        assert_eq!(
            std::fs::read_to_string(partial.join("summary.txt")).unwrap(),
            "part 1 done\n"
        );
        // a run that failed before writing anything leaves nothing behind
        drop(Output::new(&target).unwrap());
        assert_eq!(snapshot(&target), before);
        assert_eq!(names(tmp.path()).len(), 2, "{:?}", names(tmp.path()));
    }

    #[test]
    fn an_unwritable_place_is_a_clear_error_before_any_work() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a_file");
        std::fs::write(&file, "x").unwrap();
        // parent is a file (refused even for root, unlike permission bits)
        let err = format!("{:#}", Output::new(file.join("out")).err().unwrap());
        assert!(
            err.contains("cannot create") && err.contains(&file.display().to_string()),
            "{err}"
        );
        // the folder itself is a file
        let err = format!("{:#}", Output::new(&file).err().unwrap());
        assert!(err.contains("is not a folder"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        assert!(Output::new("/").is_err());
    }

    #[test]
    fn leftovers_of_dead_runs_are_cleaned_up() {
        if !Path::new("/proc/self").exists() {
            return; // no way to tell a dead pid here
        }
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("p");
        // pid 0 is never a process that /proc lists
        let stale = tmp.path().join(".p.partial-0-0");
        std::fs::create_dir_all(&stale).unwrap();
        let other = tmp.path().join(".q.partial-0-0");
        std::fs::create_dir_all(&other).unwrap();
        let out = Output::new(&target).unwrap();
        assert!(!stale.exists());
        assert!(other.exists(), "another folder's partial run is not ours");
        out.finish().unwrap();
        assert!(target.join("summary.txt").is_file());
    }
}
