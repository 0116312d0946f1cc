//! The output folder of a run: one PNG per figure with a CSV of its data, extra CSV
//! tables, and `summary.txt` holding every line the run printed.

use crate::plot::Figure;
use anyhow::{Context, Result};
use std::fmt::Display;
use std::path::{Path, PathBuf};

/// Collects a run's printed lines and files under one folder.
pub struct Output {
    dir: PathBuf,
    summary: Vec<String>,
    files: Vec<PathBuf>,
}

impl Output {
    /// Create (or reuse) the folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        Ok(Output {
            dir,
            summary: Vec::new(),
            files: Vec::new(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Write `summary.txt` and list what was written.
    pub fn finish(mut self) -> Result<()> {
        let path = self.dir.join("summary.txt");
        std::fs::write(&path, self.summary.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        self.files.push(path);
        println!(
            "\nwrote {} files to {}:",
            self.files.len(),
            self.dir.display()
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
}
