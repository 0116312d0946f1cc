//! Helpers for the projects' tests: run a project binary in `--quick` mode into a
//! temporary folder, check that its figures are real images, read its CSVs.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a project run left behind.
pub struct ProjectRun {
    /// Keeps the output folder alive for the test's duration.
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub stdout: String,
}

impl ProjectRun {
    /// The contents of `summary.txt`.
    pub fn summary(&self) -> String {
        std::fs::read_to_string(self.dir.join("summary.txt")).unwrap_or_default()
    }
    /// Path of a file in the output folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// Check figure `name` (no extension): `name.png` passes [`assert_png`] and
    /// `name.csv` has the figure-CSV columns and at least one data row. Returns the rows.
    pub fn check_figure(&self, name: &str) -> Result<Vec<Vec<String>>> {
        assert_png(&self.file(&format!("{name}.png")))?;
        let (header, rows) = read_csv(&self.file(&format!("{name}.csv")))?;
        if header != crate::plot::FIGURE_CSV_COLUMNS {
            bail!(
                "{name}.csv has columns {header:?}, expected {:?}",
                crate::plot::FIGURE_CSV_COLUMNS
            );
        }
        if rows.is_empty() {
            bail!("{name}.csv has no data rows");
        }
        Ok(rows)
    }
}

/// Run a project binary (`env!("CARGO_BIN_EXE_<name>")`) with `args` plus `--out <tmp>`,
/// offline; fails with its stderr when it exits non-zero.
pub fn run_project(bin: &str, args: &[&str]) -> Result<ProjectRun> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("out");
    let output = Command::new(bin)
        .args(args)
        .arg("--out")
        .arg(&dir)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .with_context(|| format!("running {bin}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "{bin} {args:?} failed ({}):\n{}\n{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(ProjectRun {
        _tmp: tmp,
        dir,
        stdout,
    })
}

/// Check that `path` is a PNG image of at least 100×100 pixels that is not one flat
/// colour; returns its size.
pub fn assert_png(path: &Path) -> Result<(u32, u32)> {
    let img = image::open(path)
        .with_context(|| format!("{} is not a readable image", path.display()))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    if w < 100 || h < 100 {
        bail!("{} is only {w}×{h} pixels", path.display());
    }
    let first = img.get_pixel(0, 0);
    let mut distinct = std::collections::HashSet::new();
    for p in img.pixels() {
        distinct.insert(p.0);
        if distinct.len() > 8 {
            break;
        }
    }
    if distinct.len() <= 2 || img.pixels().all(|p| p == first) {
        bail!("{} is (nearly) a blank image", path.display());
    }
    Ok((w, h))
}

/// A CSV file as its header and rows of strings.
pub fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header = r.headers()?.iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.map(|r| r.iter().map(String::from).collect()))
        .collect::<Result<_, _>>()?;
    Ok((header, rows))
}

/// The points of each (panel, series) of a figure.
pub type FigureSeries = HashMap<(String, String), Vec<(f64, f64)>>;

/// A figure's CSV (written by [`crate::plot::Figure::write_csv`]) grouped by
/// (panel, series): the y values of each, in order.
pub fn figure_series(path: &Path) -> Result<FigureSeries> {
    let (header, rows) = read_csv(path)?;
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .with_context(|| format!("{} has no column {n}", path.display()))
    };
    let (p, s, x, y) = (col("panel")?, col("series")?, col("x")?, col("y")?);
    let mut out: FigureSeries = HashMap::new();
    for r in rows {
        let xv: f64 = r[x].parse().unwrap_or(f64::NAN);
        let yv: f64 = r[y].parse().unwrap_or(f64::NAN);
        out.entry((r[p].clone(), r[s].clone()))
            .or_default()
            .push((xv, yv));
    }
    Ok(out)
}
