mod fixture;

use fixture::{arr1, arr2, assert_close, cases, max_abs_diff, num, vec1};
use methods::curve_fit::{
    curve_fit, curve_fit_with, fit_sigmoid, sigmoid, sigmoid_initial_guess, CurveFitOptions,
};
use methods::regression::{ols, ols1, Ols};
use ndarray::{Array1, Array2, Axis};
use serde_json::Value;

/// OLS statistics: relative tolerance (the brief's 1e-8) …
const OLS_RTOL: f64 = 1e-8;
/// … and absolute tolerance on p values.
const P_ATOL: f64 = 1e-10;
/// curve_fit parameters, relative (the brief's 1e-6).
const POPT_RTOL: f64 = 1e-6;
/// pcov, relative: taken, as scipy does, from the last forward-difference Jacobian,
/// evaluated at an iterate that agrees with scipy's to ~1e-8.
const PCOV_RTOL: f64 = 1e-6;

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    max_abs_diff(a, b) / scale
}

fn flat(a: &Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

fn fit_case(c: &Value) -> Ols {
    let x = arr2(&c["x"]);
    let y = arr1(&c["y"]);
    ols(x.view(), y.view()).expect("fixture case fits")
}

fn ols_cases() -> Vec<(String, Value)> {
    let all = cases("regression");
    let map = all["ols"].as_object().expect("ols cases").clone();
    map.into_iter().collect()
}

#[test]
fn ols_matches_statsmodels() {
    let mut worst_rel = 0.0f64;
    let mut worst_p = 0.0f64;
    for (name, c) in ols_cases() {
        let fit = fit_case(&c);
        let vecs: [(&str, &Array1<f64>); 5] = [
            ("params", &fit.params),
            ("bse", &fit.bse),
            ("tvalues", &fit.tvalues),
            ("fittedvalues", &fit.fittedvalues),
            ("resid", &fit.resid),
        ];
        for (key, ours) in vecs {
            let want = vec1(&c[key]);
            let ours = ours.to_vec();
            // Residuals near 0 are compared on the scale of y.
            let atol = if key == "resid" {
                OLS_RTOL * vec1(&c["y"]).iter().fold(0.0f64, |m, v| m.max(v.abs()))
            } else {
                0.0
            };
            assert_close(&ours, &want, atol, OLS_RTOL, &format!("{name}.{key}"));
            worst_rel = worst_rel.max(rel_err(&ours, &want));
        }
        for (key, ours) in [("conf_int", &fit.conf_int), ("cov_params", &fit.cov_params)] {
            let want = flat(&arr2(&c[key]));
            assert_close(&flat(ours), &want, 0.0, OLS_RTOL, &format!("{name}.{key}"));
            worst_rel = worst_rel.max(rel_err(&flat(ours), &want));
        }
        let scalars = [
            ("rsquared", fit.rsquared),
            ("rsquared_adj", fit.rsquared_adj),
            ("fvalue", fit.fvalue),
            ("llf", fit.llf),
            ("aic", fit.aic),
            ("bic", fit.bic),
            ("ssr", fit.ssr),
            ("ess", fit.ess),
            ("centered_tss", fit.centered_tss),
            ("scale", fit.scale),
        ];
        for (key, ours) in scalars {
            let want = num(&c[key]);
            assert_close(&[ours], &[want], 0.0, OLS_RTOL, &format!("{name}.{key}"));
            worst_rel = worst_rel.max(rel_err(&[ours], &[want]));
        }
        let pv = fit.pvalues.to_vec();
        assert_close(
            &pv,
            &vec1(&c["pvalues"]),
            P_ATOL,
            0.0,
            &format!("{name}.pvalues"),
        );
        let fp = [fit.f_pvalue];
        assert_close(
            &fp,
            &[num(&c["f_pvalue"])],
            P_ATOL,
            0.0,
            &format!("{name}.f_pvalue"),
        );
        worst_p = worst_p
            .max(max_abs_diff(&pv, &vec1(&c["pvalues"])))
            .max(max_abs_diff(&fp, &[num(&c["f_pvalue"])]));
        assert_eq!(fit.nobs as f64, num(&c["nobs"]), "{name}.nobs");
        assert_eq!(fit.df_model as f64, num(&c["df_model"]), "{name}.df_model");
        assert_eq!(fit.df_resid as f64, num(&c["df_resid"]), "{name}.df_resid");
    }
    eprintln!("OLS vs statsmodels: max relative {worst_rel:.2e}, max p-value abs {worst_p:.2e}");
}

#[test]
fn ols_diagnostics_match_statsmodels() {
    let mut worst = 0.0f64;
    for (name, c) in ols_cases() {
        let fit = fit_case(&c);
        let d = fit
            .diagnostics
            .as_ref()
            .expect("noisy data has diagnostics");
        let pairs = [
            ("skew", d.skew),
            ("kurtosis", d.kurtosis),
            ("jarque_bera", d.jarque_bera),
            ("jb_pvalue", d.jb_pvalue),
            ("durbin_watson", d.durbin_watson),
        ];
        for (key, ours) in pairs {
            let want = num(&c[key]);
            assert_close(&[ours], &[want], 1e-12, OLS_RTOL, &format!("{name}.{key}"));
            worst = worst.max(rel_err(&[ours], &[want]));
        }
        match (d.omnibus, &c["omnibus"]) {
            (None, Value::Null) => assert!(d.omnibus_pvalue.is_none(), "{name}"),
            (Some(k2), want) => {
                let p = d.omnibus_pvalue.expect("p with statistic");
                assert_close(
                    &[k2],
                    &[num(want)],
                    0.0,
                    OLS_RTOL,
                    &format!("{name}.omnibus"),
                );
                let wp = [num(&c["omnibus_pvalue"])];
                assert_close(&[p], &wp, P_ATOL, 0.0, &format!("{name}.omnibus_pvalue"));
                worst = worst.max(rel_err(&[k2], &[num(want)]));
            }
            (None, want) => panic!("{name}: omnibus missing, statsmodels has {want}"),
        }
        // Both sides take the eigenvalues of XᵀX (statsmodels: eigvalsh), so even the
        // badly scaled case (λmin ≈ 5e-11 next to λmax ≈ 5e11) agrees closely.
        for (key, ours) in [
            ("condition_number", fit.condition_number),
            ("min_eigenvalue", fit.min_eigenvalue),
        ] {
            let want = num(&c[key]);
            assert_close(&[ours], &[want], 0.0, OLS_RTOL, &format!("{name}.{key}"));
            worst = worst.max(rel_err(&[ours], &[want]));
        }
    }
    eprintln!("OLS diagnostics vs statsmodels: max relative {worst:.2e}");
}

#[test]
fn ols_summary_text_matches_statsmodels() {
    let all = cases("regression");
    let when = num(&all["summary_unix_time"]) as u64;
    for (name, c) in ols_cases() {
        let fit = fit_case(&c);
        let ours = fit.summary_with(None, None, Some(when)).unwrap();
        let want = c["summary"].as_str().unwrap();
        for (i, (a, b)) in ours.lines().zip(want.lines()).enumerate() {
            assert_eq!(a, b, "{name}: summary line {i} differs");
        }
        assert_eq!(ours, want, "{name}: summary differs");
        if let Some(named) = c.get("summary_named") {
            let xname: Vec<&str> = c["xname"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let ours = fit
                .summary_with(c["yname"].as_str(), Some(&xname), Some(when))
                .unwrap();
            assert_eq!(
                ours,
                named.as_str().unwrap(),
                "{name}: named summary differs"
            );
        }
    }
    // The default summary carries the same tables (only Date/Time differ).
    let (_, c) = &ols_cases()[0];
    let text = fit_case(c).summary();
    let want = c["summary"].as_str().unwrap();
    let keep = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("Date:") && !l.starts_with("Time:"))
            .map(|l| l[l.len().min(40)..].to_string())
            .collect()
    };
    assert_eq!(keep(&text), keep(want));
}

/// Spec p21 offline check 1: y = 2 − 0.5x + ε recovers the line within a few standard
/// errors; with ε = 0, R² = 1 and the residuals vanish.
#[test]
fn ols_exact_and_noisy_line() {
    let n = 1000;
    let x = Array1::from_iter((0..n).map(|i| -3.0 + 6.0 * ((i * 7919) % n) as f64 / n as f64));
    let exact = x.mapv(|v| 2.0 - 0.5 * v);
    let fit = ols1(x.view(), exact.view()).unwrap();
    assert!((fit.params[0] - 2.0).abs() < 1e-12, "{}", fit.params[0]);
    assert!((fit.params[1] + 0.5).abs() < 1e-12, "{}", fit.params[1]);
    assert!((fit.rsquared - 1.0).abs() < 1e-12, "R² {}", fit.rsquared);
    let worst = fit.resid.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(worst < 1e-12, "largest residual {worst}");

    // Deterministic pseudo-noise of known size (a Weyl sequence mapped to ±0.5).
    let noise = Array1::from_iter((0..n).map(|i| ((i as f64 * 0.618_034) % 1.0) - 0.5));
    let noisy = &exact + &noise;
    let fit = ols1(x.view(), noisy.view()).unwrap();
    for (j, truth) in [2.0, -0.5].into_iter().enumerate() {
        let z = (fit.params[j] - truth) / fit.bse[j];
        assert!(
            z.abs() < 4.0,
            "coefficient {j}: {} is {z} SEs from {truth}",
            fit.params[j]
        );
    }
    assert!(fit.rsquared < 1.0 - 1e-3);
}

/// Spec p31 check 5 and p36 check 3: exact data generated by the model give the
/// coefficients back.
#[test]
fn ols_recovers_exact_coefficients() {
    let k = Array1::from_iter((0..25).map(|v| v as f64));
    let y = k.mapv(|v| -10.0 + 2.0 * v.sqrt());
    let fit = ols1(k.mapv(f64::sqrt).view(), y.view()).unwrap();
    assert!((fit.params[0] + 10.0).abs() < 1e-9 && (fit.params[1] - 2.0).abs() < 1e-9);

    let p = Array1::from_iter((1..60).map(|v| v as f64));
    let fit = ols1(p.view(), p.mapv(|v| 2.0 + 0.5 * v).view()).unwrap();
    assert!((fit.params[0] - 2.0).abs() < 1e-9 && (fit.params[1] - 0.5).abs() < 1e-9);

    // Exact AR(2) rule z_t = 0.3 + 0.5 z_{t-1} − 0.9 z_{t-2} (complex roots of modulus
    // 0.95, so both modes stay visible and the lags are not collinear), fitted on the lags.
    let mut z = vec![1.0, -0.7];
    for t in 2..62 {
        z.push(0.3 + 0.5 * z[t - 1] - 0.9 * z[t - 2]);
    }
    let x = Array2::from_shape_fn((60, 2), |(i, j)| z[i + 1 - j]);
    let y = Array1::from_iter(z[2..].iter().copied());
    let fit = ols(x.view(), y.view()).unwrap();
    let want = [0.3, 0.5, -0.9];
    assert_close(&fit.params.to_vec(), &want, 1e-9, 0.0, "AR(2) coefficients");
}

/// R² equals the squared Pearson correlation for one predictor, and the slope's t
/// statistic equals b / sqrt(σ̂² / Σ(x − x̄)²) worked out by hand.
#[test]
fn ols_one_predictor_closed_forms() {
    let (_, c) = ols_cases()
        .into_iter()
        .find(|(n, _)| n == "p21_one_predictor")
        .unwrap();
    let x = arr2(&c["x"]).column(0).to_owned();
    let y = arr1(&c["y"]);
    let fit = ols1(x.view(), y.view()).unwrap();
    let n = x.len() as f64;
    let (mx, my) = (x.sum() / n, y.sum() / n);
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let syy: f64 = y.iter().map(|b| (b - my) * (b - my)).sum();
    let r = sxy / (sxx * syy).sqrt();
    assert!(
        (fit.rsquared - r * r).abs() < 1e-12,
        "R² {} vs r² {}",
        fit.rsquared,
        r * r
    );
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    assert!((fit.params[1] - slope).abs() < 1e-12 * slope.abs());
    assert!((fit.params[0] - intercept).abs() < 1e-12 * intercept.abs());
    let resid: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(a, b)| b - intercept - slope * a)
        .collect();
    let s2 = resid.iter().map(|e| e * e).sum::<f64>() / (n - 2.0);
    let t = slope / (s2 / sxx).sqrt();
    assert!(
        (fit.tvalues[1] - t).abs() < 1e-10 * t.abs(),
        "t {} vs {t}",
        fit.tvalues[1]
    );
    // F = t² for a single predictor.
    assert!((fit.fvalue - t * t).abs() < 1e-9 * t * t);
    assert!((fit.pvalues[1] - fit.f_pvalue).abs() < 1e-12);
}

/// Normal equations: the residuals are orthogonal to every column of [1, X]; predict
/// reproduces the fitted values.
#[test]
fn ols_residuals_orthogonal_to_design() {
    let (_, c) = ols_cases()
        .into_iter()
        .find(|(n, _)| n == "three_predictors")
        .unwrap();
    let x = arr2(&c["x"]);
    let fit = fit_case(&c);
    let scale = fit.resid.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(fit.resid.sum().abs() < 1e-10 * scale * x.nrows() as f64);
    for (j, col) in x.axis_iter(Axis(1)).enumerate() {
        let dot = col.dot(&fit.resid);
        let norm = col.dot(&col).sqrt() * fit.resid.dot(&fit.resid).sqrt();
        assert!(dot.abs() < 1e-12 * norm, "column {j}: xᵀe = {dot}");
    }
    let pred = fit.predict(x.view()).unwrap();
    assert_close(
        &pred.to_vec(),
        &fit.fittedvalues.to_vec(),
        1e-12,
        1e-12,
        "predict",
    );
    assert!(fit.predict(x.slice(ndarray::s![.., ..2])).is_err());
}

fn err_of(r: anyhow::Result<Ols>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn ols_rejects_bad_input() {
    let n = 12;
    let a = Array1::from_iter((0..n).map(|i| (i as f64 * 1.7).sin()));
    let b = Array1::from_iter((0..n).map(|i| (i as f64 * 0.9).cos()));
    let y = Array1::from_iter((0..n).map(|i| i as f64 + (i as f64).sqrt()));
    let with = |cols: &[&Array1<f64>]| Array2::from_shape_fn((n, cols.len()), |(i, j)| cols[j][i]);

    let constant = Array1::from_elem(n, 3.0);
    let e = err_of(ols(with(&[&a, &constant]).view(), y.view()));
    assert!(e.contains("column 1") && e.contains("constant"), "{e}");

    let e = err_of(ols(with(&[&a, &b, &a]).view(), y.view()));
    assert!(
        e.contains("column 2") && e.contains("linear combination"),
        "{e}"
    );
    assert!(e.contains("column 0") && !e.contains("column 1,"), "{e}");

    let affine = a.mapv(|v| 2.0 * v + 3.0);
    let e = err_of(ols(with(&[&a, &affine]).view(), y.view()));
    assert!(
        e.contains("column 1") && e.contains("intercept") && e.contains("column 0"),
        "{e}"
    );

    let e = err_of(ols(
        with(&[&a, &b]).slice(ndarray::s![..3, ..]),
        y.slice(ndarray::s![..3]),
    ));
    assert!(
        e.contains("at least 4 samples") && e.contains("got 3"),
        "{e}"
    );

    let mut xnan = with(&[&a, &b]);
    xnan[[4, 1]] = f64::NAN;
    let e = err_of(ols(xnan.view(), y.view()));
    assert!(
        e.contains("non-finite") && e.contains("row 4, column 1"),
        "{e}"
    );

    let mut ynan = y.clone();
    ynan[7] = f64::INFINITY;
    let e = err_of(ols1(a.view(), ynan.view()));
    assert!(
        e.contains("y holds a non-finite") && e.contains("index 7"),
        "{e}"
    );

    let e = err_of(ols1(a.view(), Array1::from_elem(n, 1.5).view()));
    assert!(e.contains("y is constant"), "{e}");

    let e = err_of(ols1(a.view(), y.slice(ndarray::s![..n - 1])));
    assert!(e.contains("12 rows") && e.contains("11 entries"), "{e}");

    let e = err_of(ols(Array2::zeros((n, 0)).view(), y.view()));
    assert!(e.contains("no columns"), "{e}");

    let fit = ols1(a.view(), y.view()).unwrap();
    let e = fit
        .summary_with(None, Some(&["const"]), Some(0))
        .unwrap_err();
    assert!(
        e.to_string().contains("1 parameter names given for 2"),
        "{e}"
    );
}

fn sigmoid_cases() -> Vec<(String, Value)> {
    let all = cases("regression");
    all["sigmoid"]
        .as_object()
        .expect("sigmoid cases")
        .clone()
        .into_iter()
        .collect()
}

#[test]
fn fit_sigmoid_matches_scipy() {
    let (mut worst_p, mut worst_c) = (0.0f64, 0.0f64);
    for (name, c) in sigmoid_cases() {
        let (x, y) = (arr1(&c["x"]), arr1(&c["y"]));
        let p0 = vec1(&c["p0"]);
        let fit = fit_sigmoid(x.view(), y.view(), Some([p0[0], p0[1], p0[2], p0[3]]))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let popt = vec1(&c["popt"]);
        let scale = popt.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // Parameters at 0 (the noiseless midpoint) are compared on the vector's scale.
        let ours = fit.params.to_vec();
        assert_close(
            &ours,
            &popt,
            POPT_RTOL * scale * 1e-2,
            POPT_RTOL,
            &format!("{name}.popt"),
        );
        worst_p = worst_p.max(
            ours.iter()
                .zip(&popt)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1e-2 * scale))
                .fold(0.0, f64::max),
        );
        if c["pcov"].is_null() {
            // scipy: all-inf (MINPACK's R factor came out exactly singular on exact data).
            continue;
        }
        let pcov = flat(&arr2(&c["pcov"]));
        let ours_c = flat(fit.pcov.as_ref().expect("pcov"));
        let cscale = pcov.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_close(
            &ours_c,
            &pcov,
            PCOV_RTOL * cscale,
            PCOV_RTOL,
            &format!("{name}.pcov"),
        );
        worst_c = worst_c.max(rel_err(&ours_c, &pcov));
        assert_eq!(fit.convergence.ier() as f64, num(&c["ier"]), "{name}: ier");
        assert_eq!(fit.nfev as f64, num(&c["nfev"]), "{name}: nfev");
    }
    eprintln!("sigmoid vs scipy: popt max relative {worst_p:.2e}, pcov max relative {worst_c:.2e}");
}

#[test]
fn sigmoid_initial_guess_is_numpys() {
    let all = cases("regression");
    for key in ["p32_noisy", "decreasing"] {
        let c = &all["sigmoid"][key];
        let g = sigmoid_initial_guess(arr1(&c["x"]).view(), arr1(&c["y"]).view()).unwrap();
        assert_eq!(g.to_vec(), vec1(&c["p0"]), "{key}");
    }
    // None uses that guess: the same fit as passing it explicitly.
    let c = &all["sigmoid"]["p32_noisy"];
    let (x, y) = (arr1(&c["x"]), arr1(&c["y"]));
    let a = fit_sigmoid(x.view(), y.view(), None).unwrap();
    let p0 = vec1(&c["p0"]);
    let b = fit_sigmoid(x.view(), y.view(), Some([p0[0], p0[1], p0[2], p0[3]])).unwrap();
    assert_eq!(a.params, b.params);
}

#[test]
fn general_curve_fit_matches_scipy_with_and_without_jacobian() {
    let all = cases("regression");
    let c = &all["expdecay"];
    let (x, y, p0) = (arr1(&c["x"]), arr1(&c["y"]), vec1(&c["p0"]));
    let model = |x: f64, p: &[f64]| p[0] * (-p[1] * x).exp() + p[2];
    let grad = |x: f64, p: &[f64], out: &mut [f64]| {
        let e = (-p[1] * x).exp();
        out[0] = e;
        out[1] = -p[0] * x * e;
        out[2] = 1.0;
    };
    let numeric = curve_fit(model, x.view(), y.view(), &p0).unwrap();
    let analytic = curve_fit_with(
        &model,
        Some(&grad),
        x.view(),
        y.view(),
        &p0,
        &CurveFitOptions::default(),
    )
    .unwrap();
    for (fit, suffix) in [(&numeric, ""), (&analytic, "_jac")] {
        let popt = vec1(&c[format!("popt{suffix}").as_str()]);
        assert_close(
            &fit.params.to_vec(),
            &popt,
            0.0,
            POPT_RTOL,
            &format!("popt{suffix}"),
        );
        let pcov = flat(&arr2(&c[format!("pcov{suffix}").as_str()]));
        let ours = flat(fit.pcov.as_ref().unwrap());
        let cscale = pcov.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert_close(
            &ours,
            &pcov,
            PCOV_RTOL * cscale,
            PCOV_RTOL,
            &format!("pcov{suffix}"),
        );
        let nfev = num(&c[format!("nfev{suffix}").as_str()]);
        assert_eq!(fit.nfev as f64, nfev, "nfev{suffix}");
        eprintln!(
            "expdecay{suffix}: popt rel {:.2e}, pcov rel {:.2e}",
            rel_err(&fit.params.to_vec(), &popt),
            rel_err(&ours, &pcov)
        );
    }
    let perr = analytic.perr().unwrap();
    let pcov = analytic.pcov.as_ref().unwrap();
    assert!((perr[1] - pcov[[1, 1]].sqrt()).abs() < 1e-15);
}

/// Spec p32 offline check 5: noiseless (10, 0, 1, 2) comes back to < 1e-4; a noiseless
/// decreasing curve (k = −0.5) is matched with R² ≈ 1.
#[test]
fn noiseless_sigmoids_are_recovered() {
    let x = Array1::linspace(-10.0, 10.0, 50);
    let truth = [10.0, 0.0, 1.0, 2.0];
    let y = x.mapv(|v| sigmoid(v, &truth));
    let fit = fit_sigmoid(x.view(), y.view(), None).unwrap();
    let err = max_abs_diff(&fit.params.to_vec(), &truth);
    assert!(err < 1e-4, "params {:?}, max error {err:.2e}", fit.params);

    let layers = Array1::from_iter((0..47).map(|v| v as f64));
    let down = layers.mapv(|v| sigmoid(v, &[6.0, 30.0, -0.5, -3.0]));
    let fit = fit_sigmoid(layers.view(), down.view(), None).unwrap();
    let r2 = fit.r_squared(down.view()).unwrap();
    assert!(r2 > 1.0 - 1e-10, "R² {r2}, params {:?}", fit.params);
    let curve = layers.mapv(|v| sigmoid(v, &fit.params.to_vec().try_into().unwrap()));
    assert!(max_abs_diff(&curve.to_vec(), &down.to_vec()) < 1e-6);
}

#[test]
fn curve_fit_fails_as_scipy_does() {
    let all = cases("regression");
    assert_eq!(
        all["maxfev12_fails"],
        Value::Bool(true),
        "scipy fails with maxfev = 12"
    );
    let c = &all["sigmoid"]["p32_noisy"];
    let (x, y) = (arr1(&c["x"]), arr1(&c["y"]));
    let ymax = y.iter().copied().fold(f64::MIN, f64::max);
    let ymin = y.iter().copied().fold(f64::MAX, f64::min);
    let opts = CurveFitOptions {
        maxfev: Some(12),
        ..CurveFitOptions::default()
    };
    let model = |x: f64, p: &[f64]| sigmoid(x, &[p[0], p[1], p[2], p[3]]);
    let e = curve_fit_with(
        &model,
        None,
        x.view(),
        y.view(),
        &[ymax, 0.0, 1.0, ymin],
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("maxfev = 12") && e.contains("did not converge"),
        "{e}"
    );

    // More parameters than points.
    let e = fit_sigmoid(x.slice(ndarray::s![..3]), y.slice(ndarray::s![..3]), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("4 parameters cannot be fitted to 3 data points"),
        "{e}"
    );

    // NaN in the data.
    let mut ynan = y.clone();
    ynan[5] = f64::NAN;
    let e = fit_sigmoid(x.view(), ynan.view(), Some([1.0, 0.0, 1.0, 0.0])).unwrap_err();
    assert!(
        e.to_string()
            .contains("y holds a non-finite value (NaN) at index 5"),
        "{e}"
    );

    // A model that is not finite at p0.
    let e = curve_fit(
        |x: f64, p: &[f64]| (p[0] * x).ln(),
        x.view(),
        y.view(),
        &[1.0],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not finite at p0") && e.contains("x[0]"), "{e}");

    // As many points as parameters: a fit, but no covariance (scipy: inf + warning).
    let x4 = ndarray::array![-3.0, -1.0, 1.0, 3.0];
    let y4 = x4.mapv(|v| sigmoid(v, &[4.0, 0.5, 1.2, 1.0]));
    let fit = fit_sigmoid(x4.view(), y4.view(), Some([4.5, 0.0, 1.0, 0.5])).unwrap();
    assert!(fit.pcov.is_none() && fit.perr().is_none());
    assert!(fit.rss < 1e-12, "rss {}", fit.rss);
}
/// Exact fits with integer data can give RSS = 0 exactly: t = ±inf is allowed, 0/0 is
/// refused with an error, and nothing panics (statrs panics on NaN arguments).
#[test]
fn ols_exact_integer_fits_never_nan_or_panic() {
    for n in 3usize..20 {
        let x = Array1::from_iter((0..n).map(|i| i as f64));
        let y = x.mapv(|v| 2.0 * v);
        match ols1(x.view(), y.view()) {
            Ok(f) => {
                assert!((f.params[1] - 2.0).abs() < 1e-12, "n={n}: {}", f.params[1]);
                let all = f
                    .params
                    .iter()
                    .chain(&f.bse)
                    .chain(&f.tvalues)
                    .chain(&f.pvalues);
                assert!(
                    all.chain(&f.conf_int).all(|v| !v.is_nan()),
                    "n={n}: NaN in {f:?}"
                );
                assert!(!f.fvalue.is_nan() && !f.f_pvalue.is_nan() && !f.llf.is_nan());
            }
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.contains("exact (RSS = 0)") && e.contains("0/0"),
                    "n={n}: {e}"
                );
            }
        }
    }
}
