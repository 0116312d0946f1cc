//! Runs the project in --quick mode (tiny random GPT-2, the project's own 60 contexts,
//! offline) and checks the spec's offline checks on what it wrote. Reference values come
//! from `fixtures/` (transformers' losses, statsmodels' OLS, scikit-learn's logistic
//! regression, recorded by `scripts/make_fixture.sh`), from closed forms, and from
//! computations done here independently of the program.

use common::ml::logistic::LogisticL2;
use common::ml::regression::ols1;
use common::testing::{
    figure_series, json_f64s, json_usizes, read_csv, run_project, FigureSeries, ProjectRun,
};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal, Uniform};
use serde_json::Value;
use std::collections::HashMap;

const N_TRAIN: usize = 30;
const NPOS: usize = 5;

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).expect("fixture JSON")
}

/// A table as rows of named columns.
fn table(run: &ProjectRun, name: &str) -> Vec<HashMap<String, String>> {
    let (header, rows) = read_csv(&run.file(&format!("{name}.csv"))).unwrap();
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn num(r: &HashMap<String, String>, k: &str) -> f64 {
    r[k].parse().unwrap_or_else(|_| panic!("{k} = {:?}", r[k]))
}

fn series<'a>(s: &'a FigureSeries, panel_prefix: &str, name: &str) -> &'a Vec<(f64, f64)> {
    s.iter()
        .find(|((p, n), _)| p.starts_with(panel_prefix) && n == name)
        .unwrap_or_else(|| panic!("no series {name:?} in panel {panel_prefix:?}"))
        .1
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tol {tol})");
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let sab: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let saa: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let sbb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    sab / (saa * sbb).sqrt()
}

/// Intercept and slope by the textbook closed form.
fn closed_form_line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let slope = sxy / sxx;
    (my - slope * mx, slope)
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project21_position_regression"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1", "part3", "part4", "part5", "part6"] {
        run.check_figure(&format!("ch4_proj21_{f}")).unwrap();
    }
    let losses = fixture("quick_losses.json");
    let fits = fixture("quick_fits.json");
    let rows = losses["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * N_TRAIN);

    // ---- Offline check 4: loss extraction against transformers' labelled loss ----------
    let mut flat_by_set = Vec::new();
    for (set, first_row) in [("part1", 0), ("part6", N_TRAIN)] {
        let batch = table(&run, &format!("{set}_batch"));
        assert_eq!(batch.len(), N_TRAIN);
        for (s, r) in batch.iter().enumerate() {
            let want = json_usizes(&rows[first_row + s]["ids"]);
            let got: Vec<usize> = (0..6)
                .map(|k| num(r, &format!("tok{k}")) as usize)
                .collect();
            assert_eq!(got, want, "{set} row {s}: token ids");
            assert_eq!(num(r, "row") as usize, first_row + s);
        }
        let flat = table(&run, &format!("{set}_flat"));
        assert_eq!(flat.len(), N_TRAIN * NPOS);
        let mut max_diff: f64 = 0.0;
        let mut max_wrong: f64 = 0.0;
        for s in 0..N_TRAIN {
            let fx = &rows[first_row + s];
            let want = json_f64s(&fx["token_losses"]);
            let wrong = json_f64s(&fx["same_token_nll"]);
            let ids = json_usizes(&fx["ids"]);
            let got: Vec<f64> = (0..NPOS)
                .map(|t| num(&flat[s * NPOS + t], "loss"))
                .collect();
            for t in 0..NPOS {
                max_diff = max_diff.max((got[t] - want[t]).abs());
                max_wrong = max_wrong.max((got[t] - wrong[t]).abs());
                // the target of position t is token t+1
                assert_eq!(
                    num(&flat[s * NPOS + t], "target_token") as usize,
                    ids[t + 1]
                );
            }
            // the row's mean is transformers' built-in `labels=` loss
            let builtin = fx["builtin_loss"].as_f64().unwrap();
            close(
                got.iter().sum::<f64>() / NPOS as f64,
                builtin,
                1e-4,
                "row mean vs built-in loss",
            );
        }
        println!(
            "{set}: max |loss - transformers| = {max_diff:.2e}; vs token-t target {max_wrong:.2}"
        );
        assert!(
            max_diff < 1e-4,
            "{set}: losses differ from transformers by {max_diff}"
        );
        assert!(
            max_wrong > 0.5,
            "{set}: losses look like the token-t target"
        );

        // ---- Offline check 5: flattening order -------------------------------------------
        for (i, r) in flat.iter().enumerate() {
            assert_eq!(num(r, "i") as usize, i);
            assert_eq!(num(r, "position") as usize, i % NPOS, "flat position {i}");
            assert_eq!(num(r, "row") as usize, first_row + i / NPOS);
            let want = json_f64s(&rows[first_row + i / NPOS]["token_losses"])[i % NPOS];
            close(
                num(r, "loss"),
                want,
                1e-4,
                "flattened loss aligned with L[i/5, i%5]",
            );
        }
        let loss: Vec<f64> = flat.iter().map(|r| num(r, "loss")).collect();
        let pos: Vec<usize> = flat.iter().map(|r| num(r, "position") as usize).collect();
        flat_by_set.push((loss, pos));
    }
    let (loss, pos) = &flat_by_set[0];
    let posf: Vec<f64> = pos.iter().map(|&p| p as f64).collect();

    // Part 1 figure: the scatter is the flattened losses in order at jittered positions;
    // the bars are the per-position means; the lines are numpy-style density histograms.
    let s1 = figure_series(&run.file("ch4_proj21_part1.csv")).unwrap();
    let scatter = series(&s1, "A)", "individual losses");
    assert_eq!(scatter.len(), loss.len());
    for (k, (x, y)) in scatter.iter().enumerate() {
        assert_eq!(x.round() as usize, pos[k]);
        assert!((x - pos[k] as f64).abs() < 0.2, "jitter of point {k}: {x}");
        close(*y, loss[k], 1e-12, "scatter y");
    }
    let jit: Vec<f64> = scatter.iter().map(|(x, _)| x - x.round()).collect();
    let sd = (jit.iter().map(|j| j * j).sum::<f64>() / jit.len() as f64).sqrt();
    assert!(sd > 0.015 && sd < 0.05, "jitter sd {sd}, spec 0.03");
    let bars = series(&s1, "A)", "mean loss");
    for t in 0..NPOS {
        let col: Vec<f64> = (0..N_TRAIN).map(|s| loss[s * NPOS + t]).collect();
        close(
            bars[t].1,
            col.iter().sum::<f64>() / N_TRAIN as f64,
            1e-12,
            "mean loss bar",
        );
        let line = series(&s1, "B)", &format!("Token {t}"));
        let (lo, hi) = col
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let w = (hi - lo) / 10.0;
        assert_eq!(line.len(), 10);
        let mut area = 0.0;
        for (k, (x, y)) in line.iter().enumerate() {
            let left = lo + k as f64 * w;
            close(*x, left, 1e-9, "left bin edge");
            let count = col
                .iter()
                .filter(|&&v| v >= left && (v < left + w || (k == 9 && v <= hi)))
                .count();
            close(*y, count as f64 / (N_TRAIN as f64 * w), 1e-6, "density");
            area += y * w;
        }
        close(area, 1.0, 1e-9, "density integrates to 1");
    }

    // ---- Offline check 1: OLS -----------------------------------------------------------
    // (a) synthetic y = 2 − 0.5x + ε, n = 1,000, seeded
    let mut rng = StdRng::seed_from_u64(7);
    let xs = Normal::new(0.0, 2.0).unwrap();
    let eps = Normal::new(0.0, 1.0).unwrap();
    let x: Vec<f64> = (0..1000).map(|_| xs.sample(&mut rng)).collect();
    let e: Vec<f64> = (0..1000).map(|_| eps.sample(&mut rng)).collect();
    let y: Vec<f64> = x.iter().zip(&e).map(|(a, n)| 2.0 - 0.5 * a + n).collect();
    let fit = ols1(
        Array1::from(x.clone()).view(),
        Array1::from(y.clone()).view(),
    )
    .unwrap();
    assert!(
        (fit.params[0] - 2.0).abs() < 3.0 * fit.bse[0],
        "{:?}",
        fit.params
    );
    assert!(
        (fit.params[1] + 0.5).abs() < 3.0 * fit.bse[1],
        "{:?}",
        fit.params
    );
    let (c, s) = closed_form_line(&x, &y);
    close(fit.params[0], c, 1e-10, "summary const vs closed form");
    close(fit.params[1], s, 1e-10, "summary slope vs closed form");
    close(fit.rsquared, pearson(&x, &y).powi(2), 1e-12, "R² = r²");
    let y0: Vec<f64> = x.iter().map(|a| 2.0 - 0.5 * a).collect();
    let exact = ols1(Array1::from(x.clone()).view(), Array1::from(y0).view()).unwrap();
    close(exact.rsquared, 1.0, 1e-12, "noise-free R²");
    assert!(
        exact.resid.iter().all(|r| r.abs() < 1e-12),
        "noise-free residuals"
    );
    close(exact.params[0], 2.0, 1e-12, "noise-free const");
    close(exact.params[1], -0.5, 1e-12, "noise-free slope");

    // (b) the run's Part 2: summary coefficients = plain least squares = closed form here
    // = statsmodels on transformers' losses
    let ols_rows = table(&run, "part2_ols");
    let sm = &fits["ols"];
    let (c, s) = closed_form_line(loss, &posf);
    for (j, (r, cf)) in ols_rows.iter().zip([c, s]).enumerate() {
        assert_eq!(r["param"], ["const", "x1"][j]);
        close(num(r, "coef"), num(r, "lstsq"), 1e-10, "summary vs lstsq");
        close(
            num(r, "coef"),
            cf,
            1e-10,
            "summary vs closed form of the run's data",
        );
        for (col, key, tol) in [
            ("coef", "params", 1e-4),
            ("std_err", "bse", 1e-5),
            ("t", "tvalues", 1e-3),
            ("p", "pvalues", 1e-4),
        ] {
            close(
                num(r, col),
                json_f64s(&sm[key])[j],
                tol,
                &format!("{col} vs statsmodels"),
            );
        }
        let ci = json_f64s(&sm["conf_int"][j]);
        close(num(r, "ci_low"), ci[0], 1e-3, "CI low vs statsmodels");
        close(num(r, "ci_high"), ci[1], 1e-3, "CI high vs statsmodels");
    }
    let st: HashMap<String, f64> = table(&run, "part2_ols_stats")
        .iter()
        .map(|r| (r["statistic"].clone(), num(r, "value")))
        .collect();
    assert_eq!(st["nobs"], 150.0);
    assert_eq!(st["df_model"], 1.0);
    assert_eq!(st["df_resid"], 148.0);
    close(
        st["rsquared"],
        pearson(loss, &posf).powi(2),
        1e-12,
        "run R² = r²",
    );
    for (k, tol) in [
        ("rsquared", 1e-6),
        ("rsquared_adj", 1e-6),
        ("fvalue", 1e-4),
        ("f_pvalue", 1e-4),
        ("llf", 1e-3),
        ("aic", 1e-3),
        ("bic", 1e-3),
    ] {
        close(
            st[k],
            sm[k].as_f64().unwrap(),
            tol,
            &format!("{k} vs statsmodels"),
        );
    }
    // Part 3 figure: predictions = const + slope · loss, at jittered true positions
    let s3 = figure_series(&run.file("ch4_proj21_part3.csv")).unwrap();
    let pred3 = series(&s3, "", "predictions");
    assert_eq!(pred3.len(), loss.len());
    for (k, (x, y)) in pred3.iter().enumerate() {
        assert_eq!(x.round() as usize, pos[k]);
        close(*y, c + s * loss[k], 1e-10, "linear prediction");
    }

    // ---- Offline check 2: logistic regression -------------------------------------------
    let lr = table(&run, "part4_logistic");
    let w: Vec<f64> = lr.iter().map(|r| num(r, "coef")).collect();
    let b: Vec<f64> = lr.iter().map(|r| num(r, "intercept")).collect();
    assert_eq!(w.len(), NPOS);
    close(w.iter().sum(), 0.0, 1e-6, "coefficients sum to 0");
    close(b.iter().sum(), 0.0, 1e-9, "intercepts sum to 0");
    let opt = &fits["logistic_optimum"];
    let dflt = &fits["logistic_default"];
    for k in 0..NPOS {
        close(
            w[k],
            json_f64s(&opt["coef"])[k],
            2e-3,
            "coef vs sklearn (tol 1e-10)",
        );
        close(
            b[k],
            json_f64s(&opt["intercept"])[k],
            2e-2,
            "intercept vs sklearn (tol 1e-10)",
        );
        close(
            w[k],
            json_f64s(&dflt["coef"])[k],
            5e-3,
            "coef vs sklearn defaults",
        );
        close(
            b[k],
            json_f64s(&dflt["intercept"])[k],
            5e-2,
            "intercept vs sklearn defaults",
        );
    }
    let s4 = figure_series(&run.file("ch4_proj21_part4.csv")).unwrap();
    let (sb, ib) = (series(&s4, "A)", "slope"), series(&s4, "B)", "intercept"));
    for k in 0..NPOS {
        assert_eq!(sb[k], (k as f64, w[k]));
        assert_eq!(ib[k], (k as f64, b[k]));
    }
    // probabilities: recomputed here as softmax(b + w·loss)
    for (set, (loss, pos)) in ["part5", "part6"].iter().zip(&flat_by_set) {
        let proba = table(&run, &format!("{set}_proba"));
        assert_eq!(proba.len(), loss.len());
        for (i, r) in proba.iter().enumerate() {
            let p: Vec<f64> = (0..NPOS).map(|k| num(r, &format!("p{k}"))).collect();
            assert!(p.iter().all(|&v| v > 0.0), "{set} row {i}: {p:?}");
            close(p.iter().sum(), 1.0, 1e-12, "probabilities sum to 1");
            let z: Vec<f64> = (0..NPOS).map(|k| b[k] + w[k] * loss[i]).collect();
            let m = z.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
            let tot: f64 = e.iter().sum();
            for k in 0..NPOS {
                close(p[k], e[k] / tot, 1e-9, "softmax(b + w·loss)");
            }
            assert_eq!(num(r, "true") as usize, pos[i]);
        }
    }
    // disjoint 1-D classes: high training accuracy, symmetric solution
    let mut rng = StdRng::seed_from_u64(3);
    let u = Uniform::new(0.0, 1.0).unwrap();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for k in 0..NPOS {
        for _ in 0..100 {
            // intervals [k, k+0.8]: disjoint, and within reach of linfa's direct solve
            // (wider gaps need the project's fallback, unit-tested in src/logistic_fit.rs)
            xs.push(k as f64 + 0.8 * u.sample(&mut rng));
            ys.push(k);
        }
    }
    let xm = Array2::from_shape_vec((xs.len(), 1), xs).unwrap();
    let m = LogisticL2::fit(xm.view(), &ys, 1.0).unwrap();
    let acc = m.score(xm.view(), &ys).unwrap();
    assert!(acc > 0.9, "disjoint classes: training accuracy {acc}");
    close(m.coef.sum(), 0.0, 1e-6, "synthetic coefficients sum to 0");
    close(
        m.intercept.sum(),
        0.0,
        1e-9,
        "synthetic intercepts sum to 0",
    );
    let p = m.predict_proba(xm.view()).unwrap();
    assert!(p.iter().all(|&v| v > 0.0));
    assert!(p.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-12));

    // ---- Offline check 3: confusion matrices --------------------------------------------
    for (set, key, fig) in [
        ("part5", "confusion_train", "ch4_proj21_part5"),
        ("part6", "confusion_test", "ch4_proj21_part6"),
    ] {
        let counts: Vec<Vec<usize>> = table(&run, &format!("{set}_confusion"))
            .iter()
            .map(|r| {
                (0..NPOS)
                    .map(|j| num(r, &format!("pred{j}")) as usize)
                    .collect()
            })
            .collect();
        // scikit-learn's predictions from the same losses give the same matrix
        let want: Vec<Vec<usize>> = opt[key]
            .as_array()
            .unwrap()
            .iter()
            .map(json_usizes)
            .collect();
        assert_eq!(counts, want, "{set} confusion matrix vs sklearn");
        let n: usize = counts.iter().flatten().sum();
        assert_eq!(n, N_TRAIN * NPOS, "entries sum to n");
        let trace: usize = (0..NPOS).map(|i| counts[i][i]).sum();
        let acc = table(&run, &format!("{set}_accuracy"));
        let all = acc.iter().find(|r| r["position"] == "all").unwrap();
        close(
            num(all, "accuracy_pct"),
            100.0 * trace as f64 / n as f64,
            1e-9,
            "trace / n",
        );
        let s = figure_series(&run.file(&format!("{fig}.csv"))).unwrap();
        let (_, rows) = read_csv(&run.file(&format!("{fig}.csv"))).unwrap();
        let mut heat = vec![vec![f64::NAN; NPOS]; NPOS];
        for r in rows.iter().filter(|r| r[2] == "heatmap") {
            let (j, i): (usize, usize) = (r[3].parse().unwrap(), r[4].parse().unwrap());
            heat[i][j] = r[5].parse().unwrap();
        }
        let bars = series(&s, "A)", "accuracy");
        for i in 0..NPOS {
            close(
                heat[i].iter().sum(),
                100.0,
                1e-9,
                "row of the normalised matrix",
            );
            let row_n: usize = counts[i].iter().sum();
            for j in 0..NPOS {
                close(
                    heat[i][j],
                    100.0 * counts[i][j] as f64 / row_n as f64,
                    1e-9,
                    "percent",
                );
            }
            close(
                bars[i].1,
                heat[i][i],
                1e-12,
                "per-class accuracy = diagonal",
            );
        }
        let chance = s
            .iter()
            .find(|((p, n), _)| p.starts_with("A)") && n == "chance")
            .unwrap()
            .1;
        close(chance[0].1, 20.0, 1e-12, "chance line");
    }
}
