//! Runs the project in --quick mode (real MiniLM embeddings for BERT, offline) and checks
//! the spec's offline checks on what it wrote: the simulation against closed forms, the
//! word neighbours against distances and cosines recomputed here from the raw embedding
//! matrix.

use common::testing::reference::{self, RawMatrix};
use common::testing::{figure_series, read_csv, run_project, FigureSeries, ProjectRun};

/// The spec's BERT id of "beauty".
const SEED: usize = 5053;

fn series<'a>(s: &'a FigureSeries, name: &str) -> &'a [(f64, f64)] {
    s.iter()
        .find(|((_, n), _)| n == name)
        .unwrap_or_else(|| panic!("no series {name:?}"))
        .1
}

/// The (x, y, extra) rows of one panel of a figure CSV, by panel-title prefix.
fn panel_rows(run: &ProjectRun, file: &str, panel: &str) -> Vec<(f64, f64, f64)> {
    let (_, rows) = read_csv(&run.file(file)).unwrap();
    rows.iter()
        .filter(|r| r[0].starts_with(panel))
        .map(|r| {
            let f = |i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
            (f(3), f(4), f(5))
        })
        .collect()
}

/// (x − min) / (max − min), NaN ignored.
fn min_max(v: &[f64]) -> Vec<f64> {
    let fin = v.iter().copied().filter(|x| !x.is_nan());
    let lo = fin.clone().fold(f64::INFINITY, f64::min);
    let hi = fin.fold(f64::NEG_INFINITY, f64::max);
    v.iter().map(|x| (x - lo) / (hi - lo)).collect()
}

/// Part 3 / Part 5 figure (`file`) and top-10 table (`table`) against distances `d`
/// and cosines `c` to the seed (the seed itself NaN in both).
fn check_neighbours(run: &ProjectRun, file: &str, table: &str, d: &[f64], c: &[f64]) {
    let (dn, cn) = (min_max(d), min_max(c));
    let others: Vec<usize> = (0..d.len()).filter(|&t| t != SEED).collect();
    for (panel, y, colour) in [("Distance to", d, &cn), ("Similarity to", c, &dn)] {
        let pts = panel_rows(run, file, panel);
        assert_eq!(pts.len(), others.len(), "{file} {panel}");
        for (p, &t) in pts.iter().zip(&others) {
            assert_eq!(p.0, t as f64, "{file} {panel}");
            assert!(
                (p.1 - y[t]).abs() < 1e-5,
                "{file} {panel} token {t}: {p:?} vs {}",
                y[t]
            );
            assert!(
                (p.2 - colour[t]).abs() < 1e-5,
                "{file} {panel} colour of {t}"
            );
        }
    }
    let (header, rows) = read_csv(&run.file(table)).unwrap();
    assert_eq!(
        header,
        [
            "rank",
            "dist_id",
            "distance",
            "dist_token",
            "cos_id",
            "cosine",
            "cos_token"
        ]
    );
    assert_eq!(rows.len(), 10);
    // NaN (the seed) sorts last in both directions here: it is excluded.
    let fin = |v: &[f64], sign: f64| -> Vec<f64> {
        v.iter()
            .map(|x| if x.is_nan() { f64::INFINITY } else { sign * x })
            .collect()
    };
    let near = reference::extreme_indices(&fin(d, 1.0), 10, false);
    let similar = reference::extreme_indices(&fin(c, -1.0), 10, false);
    for (k, r) in rows.iter().enumerate() {
        let (di, ci): (usize, usize) = (r[1].parse().unwrap(), r[4].parse().unwrap());
        let (dv, cv): (f64, f64) = (r[2].parse().unwrap(), r[5].parse().unwrap());
        assert!(di != SEED && ci != SEED, "{table}: {r:?}");
        assert!(
            (dv - d[near[k]]).abs() < 1e-5 && (dv - d[di]).abs() < 1e-5,
            "{table}: {r:?}"
        );
        assert!(
            (cv - c[similar[k]]).abs() < 1e-5 && (cv - c[ci]).abs() < 1e-5,
            "{table}: {r:?}"
        );
    }
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project13_distance_vs_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1a", "part1b", "part2a", "part2b", "part3", "part5"] {
        run.check_figure(&format!("ch3_proj13_{f}")).unwrap();
    }
    let s = run.summary();

    // Part 1 (checks 1-2): 1000 pairs of N(0, 1)^768 vectors. Mean distances near their
    // closed forms sqrt(2·768), sqrt(768·(1 + 1/100)) and sqrt(2); the same cosine in
    // every case; for unit vectors cos = 1 − d²/2.
    let p1 = figure_series(&run.file("ch3_proj13_part1a.csv")).unwrap();
    let cases = [
        ("Case 1: randn", (2.0f64 * 768.0).sqrt(), 0.3),
        ("Case 2: Unequal var.", (768.0f64 * 1.01).sqrt(), 0.3),
        ("Case 3: Normed", 2f64.sqrt(), 0.01),
    ];
    let mut cosines = vec![];
    for (name, want, tol) in cases {
        let pts = series(&p1, name);
        assert_eq!(pts.len(), 1000, "{name}");
        let d: Vec<f64> = pts.iter().map(|p| p.0).collect();
        assert!(
            (reference::mean(&d) - want).abs() < tol,
            "{name}: {}",
            reference::mean(&d)
        );
        cosines.push(pts.iter().map(|p| p.1).collect::<Vec<f64>>());
    }
    for c in &cosines[1..] {
        let worst = c
            .iter()
            .zip(&cosines[0])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-12, "cosines differ between cases by {worst}");
    }
    let normed = series(&p1, "Case 3: Normed");
    assert!(normed
        .iter()
        .all(|&(d, c)| (c - (1.0 - d * d / 2.0)).abs() < 1e-12));
    // cosines of independent 768-d vectors: sd 1/sqrt(768)
    let sd = reference::population_sd(&cosines[0]);
    assert!((sd - 1.0 / 768f64.sqrt()).abs() < 0.005, "{sd}");
    // Part 2: the printed maxima are the maxima of the plotted errors.
    let p2 = figure_series(&run.file("ch3_proj13_part2a.csv")).unwrap();
    let errors = series(&p2, "error");
    assert_eq!(errors.len(), 1000);
    let worst = errors.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
    let printed = run
        .summary_value("max |case-3 error (eq. 1.13)| =")
        .unwrap();
    assert!(
        worst < 1e-12 && (printed - worst).abs() <= 1e-3 * worst,
        "{printed} {worst}"
    );
    assert!(
        run.summary_value("max |eq. 1.15 error| / (x·x + y·y) =")
            .unwrap()
            < 1e-9
    );

    // Check 5: the real uncased vocabulary.
    assert!(s.contains("\"beauty\" -> [5053]"), "{s}");
    let e: RawMatrix =
        reference::token_embeddings(&common::embeddings::minilm_dir().unwrap()).unwrap();
    let v = e.row(SEED);
    let nan_at_seed = |mut x: Vec<f64>| {
        x[SEED] = f64::NAN;
        x
    };
    let dist = |a: &[f64], b: &[f64]| -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f64>()
            .sqrt()
    };
    let rows: Vec<Vec<f64>> = (0..e.rows).map(|t| e.row(t)).collect();
    let cos = nan_at_seed(rows.iter().map(|r| reference::cosine(r, &v)).collect());
    // Parts 3-4: raw Euclidean distance and cosine to "beauty".
    let d_raw = nan_at_seed(rows.iter().map(|r| dist(r, &v)).collect());
    check_neighbours(
        &run,
        "ch3_proj13_part3.csv",
        "part4_top10.csv",
        &d_raw,
        &cos,
    );
    // Part 5: distance between unit rows; then d = sqrt(2 − 2 cos), so both lists agree.
    let unit = |r: &[f64]| -> Vec<f64> {
        let n = reference::norm(r);
        r.iter().map(|x| x / n).collect()
    };
    let vn = unit(&v);
    let d_unit = nan_at_seed(rows.iter().map(|r| dist(&unit(r), &vn)).collect());
    check_neighbours(
        &run,
        "ch3_proj13_part5.csv",
        "part5_top10.csv",
        &d_unit,
        &cos,
    );
    let (_, rows5) = read_csv(&run.file("part5_top10.csv")).unwrap();
    for r in &rows5 {
        assert_eq!(r[1], r[4], "{r:?}");
    }
    // Check 4: the NaN-ed seed is ignored by min-max scaling: one 0 and one 1 each time.
    assert_eq!(
        s.matches("values in [0, 1], exactly 0: 1, exactly 1: 1")
            .count(),
        4,
        "{s}"
    );
}
