//! methods::mutual_info against numpy, scikit-learn and scipy
//! (assets/fixtures/methods/mutual_info.json, from scripts/method_fixtures/mutual_info.py).
mod fixture;

use fixture::{arr1, arr2, assert_close, cases, max_abs_diff, num, usizes, vec1};
use methods::mutual_info::{
    binned_mutual_info, compute_mi_cc, entropy_bits, histogram, histogram2d, minkowski,
    minkowski_cdist, mutual_info_regression, prepare_ksg_inputs, unit_variance, ENTROPY_EPS,
};
use ndarray::{array, Array1};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use serde_json::Value;

/// Seeds for our noise in the comparisons with sklearn's `random_state` sweep.
const SEEDS: std::ops::Range<u64> = 0..20;

/// An array the fixture writes as round-trip strings, read bit for bit (`str::parse` rounds
/// correctly; serde_json without its `float_roundtrip` feature may be one ulp off on 17-digit
/// numbers, which would move tied distances and bin edges).
fn exact(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array in fixture: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("not a float string: {s}"))
        })
        .collect()
}

fn exact1(v: &Value) -> Array1<f64> {
    Array1::from(exact(v))
}

fn ksg_cases() -> Vec<(String, Value)> {
    let c = cases("mutual_info");
    c["ksg"]
        .as_object()
        .expect("ksg cases")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn is_tied(name: &str) -> bool {
    name.starts_with("ties_")
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

#[test]
fn binned_mi_and_entropies_match_numpy() {
    let c = cases("mutual_info");
    let mut worst = 0.0f64;
    for (name, case) in c["binned"].as_object().unwrap() {
        let (x, y) = match case["data_from"].as_str() {
            Some(src) => (arr1(&c["ksg"][src]["x"]), arr1(&c["ksg"][src]["y"])),
            None => (arr1(&case["x"]), arr1(&case["y"])),
        };
        let kept = usizes(&case["hist_bins"]);
        for (i, bins) in usizes(&case["bins"]).into_iter().enumerate() {
            let r = binned_mutual_info(x.view(), y.view(), bins).unwrap();
            let ours = [r.mi, r.h_x, r.h_y, r.h_xy];
            let refs = ["mi", "h_x", "h_y", "h_xy"].map(|k| num(&case[k][i]));
            assert_close(&ours, &refs, 1e-12, 0.0, &format!("{name} bins {bins}"));
            worst = worst.max(max_abs_diff(&ours, &refs));
            // the entropy of the 1-D numpy.histogram of x
            let h1 = entropy_bits(&histogram(x.view(), bins).unwrap().counts).unwrap();
            let ref1 = num(&case["h_x_1d"][i]);
            assert!(
                (h1 - ref1).abs() <= 1e-12,
                "{name} bins {bins}: H(x) {h1} vs {ref1}"
            );
            worst = worst.max((h1 - ref1).abs());
            if let Some(j) = kept.iter().position(|&b| b == bins) {
                let counts = arr2(&case["counts"][j]);
                assert_eq!(r.histogram.counts, counts, "{name} bins {bins}: counts");
                assert_eq!(
                    r.histogram.x_edges,
                    exact(&case["x_edges"][j]),
                    "{name} x edges"
                );
                assert_eq!(
                    r.histogram.y_edges,
                    exact(&case["y_edges"][j]),
                    "{name} y edges"
                );
            }
        }
    }
    eprintln!("binned MI / entropies: max |ours - numpy| = {worst:.3e} bits");
}

#[test]
fn ksg_core_matches_sklearn_compute_mi_cc() {
    let mut worst = 0.0f64;
    let mut checked = 0;
    for (name, case) in ksg_cases() {
        let k = case["n_neighbors"].as_u64().unwrap() as usize;
        let mut pairs = vec![("x_noisy", "y_noisy", "core_mi")];
        if !case["x_scaled"].is_null() {
            pairs.push(("x_scaled", "y_scaled", "core_mi_no_noise"));
        }
        for (xk, yk, rk) in pairs {
            if case[xk].is_null() {
                continue;
            }
            let (xa, ya) = (exact1(&case[xk]), exact1(&case[yk]));
            let ours = compute_mi_cc(xa.view(), ya.view(), k).unwrap();
            let reference = num(&case[rk]);
            assert!(
                (ours - reference).abs() <= 1e-10,
                "{name} {rk}: ours {ours} vs sklearn _compute_mi_cc {reference}"
            );
            worst = worst.max((ours - reference).abs());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} core cases in the fixture");
    eprintln!("KSG core over {checked} arrays: max |ours - sklearn| = {worst:.3e} nats");
}

#[test]
fn unit_variance_matches_sklearn_scale() {
    for (name, case) in ksg_cases() {
        for (v, s) in [("x", "std_x"), ("y", "std_y")] {
            let raw = arr1(&case[v]);
            let ours = unit_variance(raw.view(), v).unwrap();
            let expected: Vec<f64> = raw.iter().map(|a| a / num(&case[s])).collect();
            assert_close(
                ours.as_slice().unwrap(),
                &expected,
                0.0,
                1e-14,
                &format!("{name} {v}"),
            );
        }
        if !case["x_scaled"].is_null() {
            let ours = unit_variance(arr1(&case["x"]).view(), "x").unwrap();
            let sk = exact(&case["x_scaled"]);
            assert_close(
                ours.as_slice().unwrap(),
                &sk,
                0.0,
                1e-14,
                &format!("{name} scale"),
            );
        }
    }
}

#[test]
fn ksg_public_matches_sklearn_mutual_info_regression() {
    let (mut worst, mut worst_tied) = (0.0f64, 0.0f64);
    for (name, case) in ksg_cases() {
        let k = case["n_neighbors"].as_u64().unwrap() as usize;
        let (x, y) = (arr1(&case["x"]), arr1(&case["y"]));
        let ours: Vec<f64> = SEEDS
            .map(|s| mutual_info_regression(x.view(), y.view(), k, s).unwrap())
            .collect();
        let sklearn = num(&case["sklearn_mi"]);
        let over_states = vec1(&case["sklearn_mi_over_states"]);
        if !is_tied(&name) {
            // Continuous data: the 1e-10 noise changes no neighbour, whichever generator draws it.
            let d = max_abs_diff(&ours, &vec![sklearn; ours.len()]);
            assert!(d <= 1e-3, "{name}: ours {ours:?} vs sklearn {sklearn}");
            worst = worst.max(d);
        } else {
            // Ties: the noise decides which tied sample is nearer, so the estimate depends on the
            // seed in sklearn too. Compare the averages over 20 seeds / 20 random states,
            // allowing 3 standard errors of their difference.
            let se = (sd(&ours).powi(2) / 20.0 + sd(&over_states).powi(2) / 20.0).sqrt();
            let d = (mean(&ours) - mean(&over_states)).abs();
            assert!(
                d <= 3.0 * se,
                "{name}: mean over seeds {} vs sklearn's {} (3 SE = {})",
                mean(&ours),
                mean(&over_states),
                3.0 * se
            );
            worst_tied = worst_tied.max(d);
            eprintln!(
                "{name}: ours {:.4}±{:.4} sklearn {:.4}±{:.4} (mean ± sd over 20 seeds)",
                mean(&ours),
                sd(&ours),
                mean(&over_states),
                sd(&over_states)
            );
        }
    }
    eprintln!(
        "KSG public: continuous cases max |ours - sklearn| = {worst:.3e}; tied cases max \
         |mean diff| = {worst_tied:.3e} nats"
    );
}

#[test]
fn ksg_noise_has_sklearn_scale() {
    // The jitter is 1e-10 · max(1, mean|v|) · N(0,1) on top of the unit-variance values.
    let case = &cases("mutual_info")["ksg"]["square_500"];
    let (x, y) = (arr1(&case["x"]), arr1(&case["y"]));
    let (xn, yn) = prepare_ksg_inputs(x.view(), y.view(), 5).unwrap();
    for (raw, noisy, what) in [(&x, &xn, "x"), (&y, &yn, "y")] {
        let scaled = unit_variance(raw.view(), what).unwrap();
        let mean_abs = scaled.iter().map(|v| v.abs()).sum::<f64>() / scaled.len() as f64;
        let z: Vec<f64> = noisy
            .iter()
            .zip(&scaled)
            .map(|(a, b)| (a - b) / (1e-10 * mean_abs.max(1.0)))
            .collect();
        let (m, s) = (mean(&z), sd(&z));
        assert!(
            m.abs() < 0.2 && (s - 1.0).abs() < 0.15,
            "{what}: noise mean {m} sd {s}"
        );
    }
}

#[test]
fn ksg_gaussian_close_to_closed_form_and_independent_near_zero() {
    // Offline check 3 of the spec: rho = 0.8, N = 2000 gives -0.5 ln(1 - rho^2) = 0.511 nats
    // within 0.05; independent variables give < 0.05.
    let mut rng = StdRng::seed_from_u64(2000);
    let n = 2000;
    let rho: f64 = 0.8;
    let x: Array1<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let e: Array1<f64> = (0..n).map(|_| rng.sample(StandardNormal)).collect();
    let y = &x * rho + &e * (1.0 - rho * rho).sqrt();
    let truth = -0.5 * (1.0 - rho * rho).ln();
    let mi = mutual_info_regression(x.view(), y.view(), 3, 1).unwrap();
    assert!((mi - truth).abs() < 0.05, "rho 0.8: {mi} vs {truth}");
    let mi0 = mutual_info_regression(x.view(), e.view(), 3, 1).unwrap();
    assert!(mi0 < 0.05, "independent: {mi0}");
    eprintln!("rho 0.8: {mi:.4} (truth {truth:.4}); independent: {mi0:.4}");
}

#[test]
fn ksg_invariant_to_positive_rescaling() {
    let case = &cases("mutual_info")["ksg"]["p45_part2"];
    let (x, y) = (arr1(&case["x"]), arr1(&case["y"]));
    let base = mutual_info_regression(x.view(), y.view(), 3, 9).unwrap();
    assert!(base > 0.5, "the part-2 data are strongly dependent: {base}");
    for c in [1e-3, 7.5, 1e4] {
        let xs = &x * c;
        let ys = &y * (1.0 / c);
        let mi = mutual_info_regression(xs.view(), ys.view(), 3, 9).unwrap();
        assert!((mi - base).abs() < 1e-12, "scale {c}: {mi} vs {base}");
    }
}

#[test]
fn binned_mi_of_a_variable_with_itself_is_its_entropy() {
    // Closed form: 0..7 ten times each, 8 bins -> every bin holds 1/8 of the mass, so
    // H = -log2(1/8 + 1e-13) (3 bits less a hair), and MI(x, x) = H(x).
    let x: Array1<f64> = (0..80).map(|i| (i % 8) as f64).collect();
    let r = binned_mutual_info(x.view(), x.view(), 8).unwrap();
    let h = -(0.125f64 + ENTROPY_EPS).log2();
    for (v, what) in [(r.mi, "MI"), (r.h_x, "H(x)"), (r.h_xy, "H(x,x)")] {
        assert!((v - h).abs() < 1e-12, "{what} {v} vs {h}");
    }
    // Random data, bins by hand: H(x) from the counts, and MI(x, x) = H(x).
    let mut rng = StdRng::seed_from_u64(11);
    let x: Array1<f64> = (0..333).map(|_| rng.sample(StandardNormal)).collect();
    for bins in [3, 8, 17] {
        let counts = histogram(x.view(), bins).unwrap().counts;
        let n: f64 = counts.iter().sum();
        assert_eq!(n, 333.0);
        let by_hand: f64 = -counts
            .iter()
            .map(|c| c / n * (c / n + 1e-13).log2())
            .sum::<f64>();
        let r = binned_mutual_info(x.view(), x.view(), bins).unwrap();
        assert!((r.h_x - by_hand).abs() < 1e-12, "bins {bins}");
        assert!(
            (r.mi - by_hand).abs() < 1e-12,
            "bins {bins}: MI(x,x) {} vs H {by_hand}",
            r.mi
        );
    }
}

#[test]
fn binned_mi_symmetric_nonnegative_and_small_for_independent() {
    let mut rng = StdRng::seed_from_u64(12);
    let n = 20_000;
    let x: Array1<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let y: Array1<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    for bins in [2, 4] {
        let a = binned_mutual_info(x.view(), y.view(), bins).unwrap().mi;
        let b = binned_mutual_info(y.view(), x.view(), bins).unwrap().mi;
        assert!((a - b).abs() < 1e-12, "bins {bins}: {a} vs {b}");
        // The plug-in bias for independent variables is about (b-1)^2 / (2 N ln 2) bits
        // (3e-4 at 4 bins), its spread of the same order.
        let bias = ((bins - 1) * (bins - 1)) as f64 / (2.0 * n as f64 * std::f64::consts::LN_2);
        assert!(
            a > -1e-12 && a < 6.0 * bias,
            "bins {bins}: {a} (bias {bias})"
        );
    }
    // and it sees a strong dependence
    let z = x.mapv(|v| (6.0 * v).sin());
    assert!(binned_mutual_info(x.view(), z.view(), 8).unwrap().mi > 1.0);
}

#[test]
fn histogram2d_edges_span_each_variable() {
    let x = array![0.0, 0.5, 1.0];
    let y = array![10.0, 30.0, 20.0];
    let h = histogram2d(x.view(), y.view(), 2).unwrap();
    assert_eq!(h.x_edges, vec![0.0, 0.5, 1.0]);
    assert_eq!(h.y_edges, vec![10.0, 20.0, 30.0]);
    assert_eq!(h.counts, array![[1.0, 0.0], [0.0, 2.0]]);
}

#[test]
fn minkowski_matches_scipy() {
    let m = &cases("mutual_info")["minkowski"];
    let (u, v, a, b) = (arr1(&m["u"]), arr1(&m["v"]), arr2(&m["a"]), arr2(&m["b"]));
    let mut worst = 0.0f64;
    for (i, pv) in m["p"].as_array().unwrap().iter().enumerate() {
        let p = if pv.as_str() == Some("inf") {
            f64::INFINITY
        } else {
            num(pv)
        };
        let d = minkowski(u.view(), v.view(), p).unwrap();
        let reference = num(&m["minkowski"][i]);
        assert_close(&[d], &[reference], 0.0, 1e-13, &format!("minkowski p {p}"));
        worst = worst.max((d - reference).abs() / reference);
        let ours = minkowski_cdist(a.view(), b.view(), p).unwrap();
        let refm = arr2(&m["cdist"][i]);
        assert_eq!(ours.dim(), refm.dim());
        assert_close(
            ours.as_slice().unwrap(),
            refm.as_slice().unwrap(),
            0.0,
            1e-13,
            "cdist",
        );
        for (o, r) in ours.iter().zip(refm.iter()) {
            worst = worst.max((o - r).abs() / r);
        }
    }
    eprintln!("Minkowski: max relative |ours - scipy| = {worst:.3e}");
}

#[test]
fn minkowski_by_hand() {
    // Offline check 1: x = (0, 0), y = (3, 4): L1 = 7, L2 = 5 (and L-inf = 4).
    let o = array![0.0, 0.0];
    let p = array![3.0, 4.0];
    assert_eq!(minkowski(o.view(), p.view(), 1.0).unwrap(), 7.0);
    assert_eq!(minkowski(o.view(), p.view(), 2.0).unwrap(), 5.0);
    assert_eq!(minkowski(o.view(), p.view(), f64::INFINITY).unwrap(), 4.0);
    // p = 2 is the Euclidean norm of the difference, p = 1 the sum of |differences|,
    // p = 3 the cube root of the sum of |d|^3.
    let m = &cases("mutual_info")["minkowski"];
    let (u, v) = (arr1(&m["u"]), arr1(&m["v"]));
    let diff = &u - &v;
    let l2 = diff.dot(&diff).sqrt();
    let l1: f64 = diff.iter().map(|d| d.abs()).sum();
    let l3 = diff.iter().map(|d| d.abs().powi(3)).sum::<f64>().cbrt();
    let check = |p: f64, want: f64| {
        let got = minkowski(u.view(), v.view(), p).unwrap();
        assert!((got - want).abs() <= 1e-12 * want, "p {p}: {got} vs {want}");
    };
    check(2.0, l2);
    check(1.0, l1);
    check(3.0, l3);
    // the pairwise matrix of a set with itself: zero diagonal, symmetric
    let a = arr2(&m["a"]);
    let d = minkowski_cdist(a.view(), a.view(), 2.0).unwrap();
    for i in 0..a.nrows() {
        assert_eq!(d[[i, i]], 0.0);
        for j in 0..a.nrows() {
            assert_eq!(d[[i, j]], d[[j, i]]);
        }
    }
}

fn err_text<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

#[test]
fn ksg_bad_input_is_an_error() {
    let x = array![0.1, 0.5, 0.9];
    let y = array![1.0, 0.0, 2.0];
    let e = err_text(mutual_info_regression(x.view(), y.view(), 3, 0));
    assert!(e.contains("at least n_neighbors + 1 = 4 samples"), "{e}");
    let e = err_text(compute_mi_cc(x.view(), y.view(), 3));
    assert!(e.contains("at least n_neighbors + 1 = 4 samples"), "{e}");
    let x4 = array![0.1, 0.5, 0.9, f64::NAN, 0.3];
    let y4 = array![1.0, 0.0, 2.0, 1.5, 0.2];
    let e = err_text(mutual_info_regression(x4.view(), y4.view(), 3, 0));
    assert!(e.contains("non-finite") && e.contains("index 3"), "{e}");
    let c = array![2.0, 2.0, 2.0, 2.0, 2.0];
    let e = err_text(mutual_info_regression(y4.view(), c.view(), 3, 0));
    assert!(
        e.contains("y is constant") && e.contains("zero variance"),
        "{e}"
    );
    let short = array![1.0, 2.0, 3.0, 4.0];
    let e = err_text(mutual_info_regression(y4.view(), short.view(), 3, 0));
    assert!(e.contains("5 samples but y has 4"), "{e}");
    let e = err_text(mutual_info_regression(y4.view(), y4.view(), 0, 0));
    assert!(e.contains("n_neighbors must be at least 1"), "{e}");
}

#[test]
fn binned_and_minkowski_bad_input_is_an_error() {
    let x = array![0.1, 0.5, 0.9];
    let e = err_text(binned_mutual_info(x.view(), x.view(), 0));
    assert!(e.contains("at least 1 bin"), "{e}");
    let e = err_text(binned_mutual_info(x.view(), array![1.0, 2.0].view(), 4));
    assert!(e.contains("3 rows but the target has 2"), "{e}");
    let e = err_text(histogram(array![1.0, f64::INFINITY].view(), 4));
    assert!(e.contains("non-finite"), "{e}");
    let e = err_text(entropy_bits(&[0.0, 0.0]));
    assert!(e.contains("sum to 0"), "{e}");
    let e = err_text(entropy_bits(&[1.0, -1.0, 3.0]));
    assert!(e.contains("count 1 is -1"), "{e}");
    let e = err_text(minkowski(x.view(), array![1.0, 2.0].view(), 2.0));
    assert!(e.contains("equally long"), "{e}");
    let e = err_text(minkowski(x.view(), x.view(), 0.0));
    assert!(e.contains("greater than 0"), "{e}");
    let e = err_text(minkowski(x.view(), array![1.0, f64::NAN, 0.0].view(), 1.0));
    assert!(e.contains("v holds a non-finite"), "{e}");
    let a = ndarray::Array2::<f64>::zeros((2, 3));
    let b = ndarray::Array2::<f64>::zeros((2, 4));
    let e = err_text(minkowski_cdist(a.view(), b.view(), 1.0));
    assert!(e.contains("3 coordinates but those of b have 4"), "{e}");
}
