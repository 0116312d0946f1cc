//! Helpers for the projects' tests: run a project binary in `--quick` mode into a
//! temporary folder, check that its figures are real images, read its CSVs.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, HashMap};
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
    /// Column `col` of the CSV table `file` in the output folder (e.g. `"part2.csv"`),
    /// as text; an error names the file and the columns it has.
    pub fn column(&self, file: &str, col: &str) -> Result<Vec<String>> {
        let (header, rows) = read_csv(&self.file(file))?;
        let Some(j) = header.iter().position(|h| h == col) else {
            bail!("{file} has no column {col:?}; it has {header:?}");
        };
        Ok(rows
            .into_iter()
            .map(|mut r| std::mem::take(&mut r[j]))
            .collect())
    }
    /// [`Self::column`] as numbers; a cell that is not one is an error naming it.
    pub fn f64_column(&self, file: &str, col: &str) -> Result<Vec<f64>> {
        self.column(file, col)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.parse().with_context(|| {
                    format!("{file} row {i} column {col:?}: {v:?} is not a number")
                })
            })
            .collect()
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

/// The points of series `series` in panel `panel` of a figure's [`FigureSeries`]; panics,
/// naming what the figure has, when there is no such series (for tests).
pub fn points<'a>(s: &'a FigureSeries, panel: &str, series: &str) -> &'a [(f64, f64)] {
    s.get(&(panel.to_string(), series.to_string()))
        .unwrap_or_else(|| panic!("no series {series:?} in panel {panel:?}: {:?}", s.keys()))
}

/// The x values of a series' points.
pub fn xs(points: &[(f64, f64)]) -> Vec<f64> {
    points.iter().map(|p| p.0).collect()
}

/// The y values of a series' points.
pub fn ys(points: &[(f64, f64)]) -> Vec<f64> {
    points.iter().map(|p| p.1).collect()
}

/// A fixture's JSON list of numbers; panics, showing the value, on anything else (for
/// tests).
pub fn json_f64s(v: &JsonValue) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("not a number: {x}")))
        .collect()
}

/// A fixture's JSON list of non-negative integers; panics, showing the value, on anything
/// else (for tests).
pub fn json_usizes(v: &JsonValue) -> Vec<usize> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap_or_else(|| panic!("not an index: {x}")) as usize)
        .collect()
}

/// The heatmaps of a figure's CSV (written by [`crate::plot::Figure::write_csv`], e.g.
/// through [`crate::output::Output::figure`]): panel name -> matrix `[row][column]`, rows
/// as stored (row 0 = the first row of the heatmap's values, drawn at the top). Only
/// `kind=heatmap` rows are read (`x` = column, `y` = row, `extra` = value); panels
/// without a heatmap are absent. An error, naming the file and panel, when the header is
/// not the figure-CSV header, a coordinate or value does not parse, a cell appears twice,
/// or the cells of a panel do not fill a full rectangle.
pub fn figure_heatmaps(path: &Path) -> Result<BTreeMap<String, Vec<Vec<f64>>>> {
    let (header, rows) = read_csv(path)?;
    if header != crate::plot::FIGURE_CSV_COLUMNS {
        bail!(
            "{} has columns {header:?}, expected the figure columns {:?}",
            path.display(),
            crate::plot::FIGURE_CSV_COLUMNS
        );
    }
    let mut cells: BTreeMap<String, BTreeMap<(usize, usize), f64>> = BTreeMap::new();
    for (n, r) in rows.iter().enumerate().filter(|(_, r)| r[2] == "heatmap") {
        let what = || format!("{} data row {} ({r:?})", path.display(), n + 1);
        let col: usize = r[3]
            .parse()
            .with_context(|| format!("{}: x is not a column index", what()))?;
        let row: usize = r[4]
            .parse()
            .with_context(|| format!("{}: y is not a row index", what()))?;
        let v: f64 = r[5]
            .parse()
            .with_context(|| format!("{}: extra is not a number", what()))?;
        if cells
            .entry(r[0].clone())
            .or_default()
            .insert((row, col), v)
            .is_some()
        {
            bail!("{}: cell (row {row}, column {col}) appears twice", what());
        }
    }
    cells
        .into_iter()
        .map(|(panel, c)| {
            // non-empty: an entry exists only once a cell was inserted
            let nr = c.keys().map(|k| k.0).max().unwrap_or(0) + 1;
            let nc = c.keys().map(|k| k.1).max().unwrap_or(0) + 1;
            if c.len() != nr * nc {
                bail!(
                    "{} panel {panel:?}: {} heatmap cells do not fill a {nr}×{nc} matrix",
                    path.display(),
                    c.len()
                );
            }
            let m = (0..nr)
                .map(|i| (0..nc).map(|j| c[&(i, j)]).collect())
                .collect();
            Ok((panel, m))
        })
        .collect()
}

impl ProjectRun {
    /// The line of `summary.txt` that starts with `prefix`; an error when there is none
    /// or more than one.
    pub fn summary_line(&self, prefix: &str) -> Result<String> {
        summary_line(&self.summary(), prefix)
    }
    /// The number after `prefix` on the one summary line that starts with it (see
    /// [`summary_value`]).
    pub fn summary_value(&self, prefix: &str) -> Result<f64> {
        summary_value(&self.summary(), prefix)
    }
}

/// The one line of `text` that starts with `prefix` (an error for none or several, so
/// that a check cannot pass on a line that was never printed).
pub fn summary_line(text: &str, prefix: &str) -> Result<String> {
    let found: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    match found.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!("no line starts with {prefix:?} in:\n{text}"),
        many => bail!("{} lines start with {prefix:?}: {many:?}", many.len()),
    }
}

/// The number that follows `prefix` on the one line of `text` that starts with it (the
/// first whitespace-separated word after the prefix, trailing `,;%)` removed).
pub fn summary_value(text: &str, prefix: &str) -> Result<f64> {
    let line = summary_line(text, prefix)?;
    let word = line[prefix.len()..]
        .split_whitespace()
        .next()
        .with_context(|| format!("nothing after {prefix:?} in {line:?}"))?
        .trim_end_matches([',', ';', '%', ')']);
    word.parse()
        .with_context(|| format!("{word:?} after {prefix:?} is not a number ({line:?})"))
}

/// A CSV column parsed as numbers (`NaN` allowed).
pub fn csv_column_f64(rows: &[Vec<String>], col: usize) -> Result<Vec<f64>> {
    rows.iter()
        .map(|r| {
            let v = r
                .get(col)
                .with_context(|| format!("row {r:?} has no column {col}"))?;
            v.parse::<f64>()
                .with_context(|| format!("{v:?} in column {col} is not a number"))
        })
        .collect()
}

/// Assert that two equally long lists agree within `tol` (absolute), naming the first
/// index that does not.
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) -> Result<()> {
    if got.len() != want.len() {
        bail!("{what}: {} values, expected {}", got.len(), want.len());
    }
    if got.is_empty() {
        bail!("{what}: no values to compare");
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // NaN matches only NaN; a NaN difference (one side NaN) is a mismatch
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= tol;
        if !ok {
            bail!("{what}[{i}]: {g} vs expected {w} (tolerance {tol})");
        }
    }
    Ok(())
}

/// Independent reference computations for the projects' tests: weights read straight
/// from `model.safetensors` with the `safetensors` crate (not common's loader) and plain
/// f64 loops (not `common::stats`), so that a test checks a project's numbers against a
/// second computation rather than against themselves.
pub mod reference {
    use anyhow::{bail, Context, Result};
    use std::path::Path;

    /// A 2-d float32 tensor as stored, row-major.
    pub struct RawMatrix {
        pub rows: usize,
        pub cols: usize,
        pub data: Vec<f32>,
    }

    impl RawMatrix {
        /// Row `i` widened to f64.
        pub fn row(&self, i: usize) -> Vec<f64> {
            self.data[i * self.cols..(i + 1) * self.cols]
                .iter()
                .map(|&x| f64::from(x))
                .collect()
        }
        /// The rows of `ids`, widened to f64.
        pub fn rows(&self, ids: &[u32]) -> Result<Vec<Vec<f64>>> {
            ids.iter()
                .map(|&i| {
                    if i as usize >= self.rows {
                        bail!("id {i} is outside the {}-row matrix", self.rows);
                    }
                    Ok(self.row(i as usize))
                })
                .collect()
        }
    }

    /// The float32 2-d tensor of `dir/model.safetensors` whose name is `name` or ends
    /// with `.name` (e.g. `wte.weight` finds `transformer.wte.weight`).
    pub fn safetensors_matrix(dir: &Path, name: &str) -> Result<RawMatrix> {
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", path.display()))?;
        let suffix = format!(".{name}");
        let names: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| *n == name || n.ends_with(&suffix))
            .cloned()
            .collect();
        let [found] = names.as_slice() else {
            bail!(
                "{}: {} tensors named like {name:?}",
                path.display(),
                names.len()
            );
        };
        let t = st
            .tensor(found)
            .map_err(|e| anyhow::anyhow!("{found}: {e:?}"))?;
        let (safetensors::Dtype::F32, [rows, cols]) = (t.dtype(), t.shape()) else {
            bail!(
                "{found} is {:?} {:?}, expected a 2-d F32 tensor",
                t.dtype(),
                t.shape()
            );
        };
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(RawMatrix {
            rows: *rows,
            cols: *cols,
            data,
        })
    }

    /// The token-embedding matrix of a model folder (BERT's `word_embeddings.weight`,
    /// GPT-2's `wte.weight`).
    pub fn token_embeddings(dir: &Path) -> Result<RawMatrix> {
        safetensors_matrix(dir, "word_embeddings.weight")
            .or_else(|_| safetensors_matrix(dir, "wte.weight"))
            .with_context(|| format!("{}: no token-embedding matrix", dir.display()))
    }

    /// The id of `token` in a WordPiece `vocab.txt` (line number = id).
    pub fn vocab_txt_id(dir: &Path, token: &str) -> Result<u32> {
        let path = dir.join("vocab.txt");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        text.lines()
            .position(|l| l == token)
            .map(|i| i as u32)
            .with_context(|| format!("{token:?} is not a line of {}", path.display()))
    }

    pub fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    pub fn norm(a: &[f64]) -> f64 {
        dot(a, a).sqrt()
    }

    /// a·b / (‖a‖‖b‖).
    pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
        dot(a, b) / (norm(a) * norm(b))
    }

    pub fn mean(a: &[f64]) -> f64 {
        a.iter().sum::<f64>() / a.len() as f64
    }

    /// Pearson r: Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²).
    pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
        let (mx, my) = (mean(x), mean(y));
        let dx: Vec<f64> = x.iter().map(|v| v - mx).collect();
        let dy: Vec<f64> = y.iter().map(|v| v - my).collect();
        dot(&dx, &dy) / (dot(&dx, &dx) * dot(&dy, &dy)).sqrt()
    }

    /// The cosine of every pair of rows.
    pub fn cosine_matrix(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter()
            .map(|a| rows.iter().map(|b| cosine(a, b)).collect())
            .collect()
    }

    /// The entries above the diagonal, row by row (`i < j`).
    pub fn upper_triangle(m: &[Vec<f64>]) -> Vec<f64> {
        let mut out = vec![];
        for (i, row) in m.iter().enumerate() {
            out.extend_from_slice(&row[i + 1..]);
        }
        out
    }

    /// The middle value (mean of the middle two for an even count).
    pub fn median(v: &[f64]) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        }
    }

    /// Standard deviation dividing by N (numpy's default).
    pub fn population_sd(v: &[f64]) -> f64 {
        let m = mean(v);
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
    }

    /// The indices of the `k` largest values (`descending`) or smallest, in that order.
    pub fn extreme_indices(v: &[f64], k: usize, descending: bool) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| {
            let o = v[a].total_cmp(&v[b]);
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        idx.truncate(k);
        idx
    }

    /// The folder of GPT-2's tiny random test model (GPT-2's real tokenizer).
    pub fn tiny_gpt2_dir() -> std::path::PathBuf {
        crate::assets_dir().join("models/tiny-gpt2")
    }
}

/// JSON values as [`ch02_golden_counts`] returns them.
pub use serde_json::Value as JsonValue;

/// The golden counts of chapter 2's tests, derived in Python by
/// `scripts/derive_golden_counts.py` (`assets/fixtures/ch02_golden_counts.json`).
pub fn ch02_golden_counts() -> Result<JsonValue> {
    let path = crate::assets_dir().join("fixtures/ch02_golden_counts.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (regenerate it with .venv/bin/python scripts/derive_golden_counts.py)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Output;
    use crate::plot::{Colormap, Figure, Heatmap, Panel, Series, Style};

    /// A table written through `Output::table` reads back by column name, as text and
    /// as numbers; a missing column and a non-number are errors that say which.
    #[test]
    fn project_run_columns_read_a_table_back_by_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let mut out = Output::new(&dir).unwrap();
        let rows = vec![
            vec!["a".to_string(), "1.5".to_string()],
            vec!["b".to_string(), "-2".to_string()],
        ];
        out.table("part1", &["name", "value"], &rows).unwrap();
        out.finish().unwrap();
        let run = ProjectRun {
            _tmp: tmp,
            dir,
            stdout: String::new(),
        };
        assert_eq!(run.column("part1.csv", "name").unwrap(), ["a", "b"]);
        assert_eq!(run.f64_column("part1.csv", "value").unwrap(), [1.5, -2.0]);
        let e = run.column("part1.csv", "nope").unwrap_err().to_string();
        assert!(
            e.contains("no column \"nope\"") && e.contains("\"value\""),
            "{e}"
        );
        let e = format!("{:#}", run.f64_column("part1.csv", "name").unwrap_err());
        assert!(
            e.contains("row 0 column \"name\": \"a\" is not a number"),
            "{e}"
        );
    }

    /// A 2×3 heatmap written through `Output::figure` comes back as the same matrix
    /// under its panel's title; a panel with only a line has no entry.
    #[test]
    fn figure_heatmaps_reads_back_what_output_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let mut out = Output::new(tmp.path().join("out")).unwrap();
        let values = vec![vec![1.5, -2.0, 0.25], vec![4.0, 5.0, -6.5]];
        let fig = Figure::grid(8.0, 4.0, 1, 2)
            .panel(
                Panel::new("cells")
                    .heatmap(Heatmap::new(values.clone(), Colormap::Viridis).label("v")),
            )
            .panel(Panel::new("a line").add(Series::line(
                vec![0.0, 1.0],
                vec![2.0, 3.0],
                Style::line((0, 0, 0)),
            )));
        out.figure(&fig, "fig").unwrap();
        let got = figure_heatmaps(&out.dir().join("fig.csv")).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["cells"]);
        assert_eq!(got["cells"], values);
    }

    /// Missing or repeated cells, bad values and a wrong header are errors.
    #[test]
    fn figure_heatmaps_rejects_bad_csvs() {
        let tmp = tempfile::tempdir().unwrap();
        let head = "panel,series,kind,x,y,extra\n";
        let cases = [
            (
                "missing",
                format!("{head}p,h,heatmap,0,0,1\np,h,heatmap,1,1,2\n"),
            ),
            (
                "repeated",
                format!("{head}p,h,heatmap,0,0,1\np,h,heatmap,0,0,2\n"),
            ),
            ("value", format!("{head}p,h,heatmap,0,0,one\n")),
            ("index", format!("{head}p,h,heatmap,-1,0,1\n")),
            ("header", "a,b,c,d,e,f\np,h,heatmap,0,0,1\n".to_string()),
        ];
        for (name, text) in cases {
            let path = tmp.path().join(format!("{name}.csv"));
            std::fs::write(&path, text).unwrap();
            assert!(figure_heatmaps(&path).is_err(), "{name} was accepted");
        }
        // and a good one, to show the cases fail for their defect only
        let path = tmp.path().join("good.csv");
        std::fs::write(&path, format!("{head}p,h,heatmap,0,0,1\np,h,line,0,0,\n")).unwrap();
        assert_eq!(figure_heatmaps(&path).unwrap()["p"], vec![vec![1.0]]);
    }
}
