mod fixture;

use fixture::{arr2, assert_close, cases, max_abs_diff, num, usizes, vec1};
use methods::decomposition::{
    effective_dimensionality, low_rank, low_rank_at_threshold, matrix_rank, participation_ratio,
    participation_ratio_of_eigenvalues, Centred, Centring, NComponents, Pca, Spectrum, EPS_F32,
    EPS_F64,
};
use methods::descriptive::{
    binned_statistic, linspace, median, percentile, percentiles, quantiles, violin_stats,
    Bandwidth, Bins, GaussianKde, Statistic,
};
use ndarray::{Array1, Array2};
use serde_json::Value;

fn flat(a: &Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// Largest relative difference |a − b| / |b|.
fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs())
        .fold(0.0, f64::max)
}

/// Options from the fixture (null = scipy's NaN = empty bin).
fn options(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64())
        .collect()
}

fn assert_options(ours: &[Option<f64>], reference: &[Option<f64>], tol: f64, what: &str) {
    assert_eq!(ours.len(), reference.len(), "{what}: lengths differ");
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        match (a, b) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= tol * (1.0 + b.abs()),
                "{what}[{i}]: ours {a} vs scipy {b}"
            ),
            (None, None) => {}
            _ => panic!("{what}[{i}]: ours {a:?} vs scipy {b:?}"),
        }
    }
}

/// Sylvester Hadamard matrix of order 2^p: ±1 entries, orthogonal columns, and every
/// column but the first has mean 0.
fn hadamard(p: u32) -> Array2<f64> {
    let mut h = Array2::from_elem((1, 1), 1.0);
    for _ in 0..p {
        let n = h.nrows();
        let mut g = Array2::zeros((2 * n, 2 * n));
        for i in 0..n {
            for j in 0..n {
                let v = h[[i, j]];
                g[[i, j]] = v;
                g[[i, j + n]] = v;
                g[[i + n, j]] = v;
                g[[i + n, j + n]] = -v;
            }
        }
        h = g;
    }
    h
}

/// A reproducible uniform(−0.5, 0.5) matrix (generic: full rank).
fn lcg_matrix(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut s = seed;
    Array2::from_shape_fn((n, d), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    })
}

fn pca_kind(f: &Value) -> NComponents {
    match f["kind"].as_str().unwrap() {
        "int" => NComponents::Count(f["value"].as_u64().unwrap() as usize),
        "float" => NComponents::VarianceFraction(num(&f["value"])),
        _ => NComponents::All,
    }
}

#[test]
fn pca_matches_sklearn() {
    let c = cases("decomposition");
    let x = arr2(&c["pca"]["x_train"]);
    let xt = arr2(&c["pca"]["x_test"]);
    let mut worst = [0.0f64; 4];
    for f in c["pca"]["fits"].as_array().unwrap() {
        let label = f["label"].as_str().unwrap();
        let p = Pca::fit(x.view(), pca_kind(f)).unwrap();
        assert_eq!(
            p.n_components,
            f["n_components"].as_u64().unwrap() as usize,
            "{label}"
        );
        assert_close(&p.mean.to_vec(), &vec1(&f["mean"]), 1e-12, 1e-12, "mean");
        let comp = arr2(&f["components"]);
        assert_close(&flat(&p.components), &flat(&comp), 1e-10, 0.0, label);
        for (ours, key) in [
            (&p.explained_variance, "explained_variance"),
            (&p.explained_variance_ratio, "explained_variance_ratio"),
            (&p.singular_values, "singular_values"),
        ] {
            assert_close(&ours.to_vec(), &vec1(&f[key]), 0.0, 1e-10, key);
            worst[1] = worst[1].max(max_rel_diff(&ours.to_vec(), &vec1(&f[key])));
        }
        assert_close(
            &[p.noise_variance],
            &[num(&f["noise_variance"])],
            1e-14,
            1e-10,
            "noise",
        );
        let z = p.transform(xt.view()).unwrap();
        assert_close(
            &flat(&z),
            &flat(&arr2(&f["test_scores"])),
            1e-9,
            0.0,
            "test scores",
        );
        let back = p.inverse_transform(z.view()).unwrap();
        assert_close(
            &flat(&back),
            &flat(&arr2(&f["test_inverse"])),
            1e-9,
            0.0,
            "inverse",
        );
        worst[0] = worst[0].max(max_abs_diff(&flat(&p.components), &flat(&comp)));
        worst[2] = worst[2].max(max_abs_diff(&flat(&z), &flat(&arr2(&f["test_scores"]))));
        worst[3] = worst[3].max(max_abs_diff(&flat(&back), &flat(&arr2(&f["test_inverse"]))));
    }
    eprintln!(
        "PCA max diff: components {:.1e}, variances (rel) {:.1e}, test scores {:.1e}, inverse {:.1e}",
        worst[0], worst[1], worst[2], worst[3]
    );
}

#[test]
fn pca_of_a_wide_matrix_matches_sklearn() {
    let c = &cases("decomposition")["pca_wide"];
    let x = arr2(&c["x"]);
    let (p, z) = Pca::fit_transform(x.view(), NComponents::Count(5)).unwrap();
    let comp = arr2(&c["components"]);
    assert_close(&flat(&p.components), &flat(&comp), 1e-10, 0.0, "components");
    assert_close(
        &p.explained_variance.to_vec(),
        &vec1(&c["explained_variance"]),
        0.0,
        1e-10,
        "ev",
    );
    assert_close(
        &p.explained_variance_ratio.to_vec(),
        &vec1(&c["explained_variance_ratio"]),
        0.0,
        1e-10,
        "ratio",
    );
    assert_close(
        &p.singular_values.to_vec(),
        &vec1(&c["singular_values"]),
        0.0,
        1e-10,
        "s",
    );
    assert_close(
        &[p.noise_variance],
        &[num(&c["noise_variance"])],
        0.0,
        1e-10,
        "noise",
    );
    assert_close(&flat(&z), &flat(&arr2(&c["scores"])), 1e-9, 0.0, "scores");
    eprintln!(
        "wide PCA max diff: components {:.1e}, scores {:.1e}",
        max_abs_diff(&flat(&p.components), &flat(&comp)),
        max_abs_diff(&flat(&z), &flat(&arr2(&c["scores"])))
    );
}

#[test]
fn spectrum_helpers_match_numpy() {
    let c = cases("decomposition");
    for key in ["spectrum_tall", "spectrum_wide", "spectrum_lowrank"] {
        let f = &c[key];
        let x = arr2(&f["x"]);
        let sp = Spectrum::of(x.view(), Centring::Columns).unwrap();
        let s_ref = vec1(&f["singular_values"]);
        // zero singular values of the rank-deficient case are rounding noise: absolute
        // tolerance relative to the largest
        assert_close(
            &sp.singular_values.to_vec(),
            &s_ref,
            1e-12 * s_ref[0],
            1e-10,
            key,
        );
        assert_close(&sp.percent.to_vec(), &vec1(&f["percent"]), 1e-11, 0.0, key);
        assert_close(
            &sp.cumulative_percent.to_vec(),
            &vec1(&f["cumulative_percent"]),
            1e-11,
            0.0,
            key,
        );
        assert_eq!(
            sp.first_index_above(95.0).unwrap(),
            f["effective_dim_95"].as_u64().unwrap() as usize,
            "{key}"
        );
        assert_eq!(
            sp.first_index_above(80.0).unwrap(),
            f["effective_dim_80"].as_u64().unwrap() as usize,
            "{key}"
        );
        assert_eq!(
            effective_dimensionality(x.view(), 95.0).unwrap(),
            f["effective_dim_95"].as_u64().unwrap() as usize
        );
        let pr = participation_ratio(x.view()).unwrap();
        assert_close(&[pr], &[num(&f["participation_ratio"])], 0.0, 1e-10, key);
        assert_eq!(
            sp.rank(EPS_F64),
            f["rank_centred_f64"].as_u64().unwrap() as usize,
            "{key}"
        );
        assert_eq!(
            sp.rank(EPS_F32),
            f["rank_centred_f32eps"].as_u64().unwrap() as usize,
            "{key}"
        );
        let centred = Centred::new(x.view(), Centring::Columns).unwrap().centred;
        assert_eq!(
            matrix_rank(centred.view(), EPS_F64).unwrap(),
            f["rank_centred_f64"].as_u64().unwrap() as usize
        );
        eprintln!(
            "{key}: singular values max rel diff {:.1e}, PR diff {:.1e}",
            max_rel_diff(&sp.singular_values.to_vec()[..3], &s_ref[..3]),
            (pr - num(&f["participation_ratio"])).abs()
        );
    }
}

#[test]
fn low_rank_reconstructions_match_numpy() {
    let c = &cases("decomposition")["low_rank"];
    let x = arr2(&c["x"]);
    let dc = Centred::new(x.view(), Centring::Double).unwrap();
    assert_close(
        &flat(&dc.centred),
        &flat(&arr2(&c["double_centred"])),
        1e-12,
        0.0,
        "D",
    );
    let r = c["r"].as_u64().unwrap() as usize;
    let lr = low_rank_at_threshold(x.view(), 95.0, Centring::Double).unwrap();
    assert_eq!(lr.k, r);
    assert_close(
        &lr.spectrum.singular_values.to_vec(),
        &vec1(&c["double_centred_singular_values"])[..lr.spectrum.singular_values.len()],
        1e-12,
        1e-10,
        "s",
    );
    let hs_r = arr2(&c["reconstruction_double"]);
    assert_close(
        &flat(&lr.reconstruction),
        &flat(&hs_r),
        1e-10,
        0.0,
        "double recon",
    );
    let k = c["k"].as_u64().unwrap() as usize;
    let plain = low_rank(x.view(), k, Centring::None).unwrap();
    let plain_ref = arr2(&c["reconstruction_plain"]);
    assert_close(
        &flat(&plain.reconstruction),
        &flat(&plain_ref),
        1e-10,
        0.0,
        "plain recon",
    );
    eprintln!(
        "low rank max diff: double {:.1e}, plain {:.1e}",
        max_abs_diff(&flat(&lr.reconstruction), &flat(&hs_r)),
        max_abs_diff(&flat(&plain.reconstruction), &flat(&plain_ref))
    );
}

#[test]
fn percentiles_match_numpy() {
    let c = &cases("decomposition")["percentile"];
    let ties = vec1(&c["ties"]);
    let q = vec1(&c["q"]);
    let p = percentiles(&ties, &q).unwrap();
    assert_close(
        &p,
        &vec1(&c["ties_percentiles"]),
        1e-12,
        0.0,
        "ties percentiles",
    );
    let qq: Vec<f64> = q.iter().map(|v| v / 100.0).collect();
    assert_close(
        &quantiles(&ties, &qq).unwrap(),
        &vec1(&c["ties_quantiles"]),
        1e-12,
        0.0,
        "quantiles",
    );
    assert_eq!(median(&ties).unwrap(), num(&c["ties_median"]));
    assert_eq!(
        median(&ties[..ties.len() - 1]).unwrap(),
        num(&c["odd_median"])
    );
    let cont = vec1(&c["cont"]);
    let pc = percentiles(&cont, &vec1(&c["q41"])).unwrap();
    assert_close(
        &pc,
        &vec1(&c["cont_percentiles"]),
        1e-12,
        0.0,
        "41 percentiles",
    );
    let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
    let p595 = [
        percentile(&hundred, 5.0).unwrap(),
        percentile(&hundred, 95.0).unwrap(),
    ];
    assert_close(
        &p595,
        &vec1(&c["one_to_hundred_5_95"]),
        1e-12,
        0.0,
        "5/95 of 1..100",
    );
    assert_close(&p595, &[5.95, 95.05], 1e-12, 0.0, "p50 spec check");
    eprintln!(
        "percentile max diff: ties {:.1e}, continuous {:.1e}",
        max_abs_diff(&p, &vec1(&c["ties_percentiles"])),
        max_abs_diff(&pc, &vec1(&c["cont_percentiles"]))
    );
}

/// numpy's own arithmetic, so equal to the last bit; the tolerance of 1e-15 relative is
/// for serde_json (without `float_roundtrip`), which can misread the last digit.
#[test]
fn linspace_matches_numpy() {
    for f in cases("decomposition")["linspace"].as_array().unwrap() {
        let n = f["num"].as_u64().unwrap() as usize;
        let ours = linspace(num(&f["start"]), num(&f["stop"]), n);
        assert_close(&ours, &vec1(&f["out"]), 0.0, 1e-15, "linspace");
    }
}

#[test]
fn binned_statistic_matches_scipy() {
    let c = &cases("decomposition")["binned"];
    let x = vec1(&c["x"]);
    let v = vec1(&c["values"]);
    let edges = vec1(&c["edges"]);
    let stats = [
        ("mean", Statistic::Mean),
        ("median", Statistic::Median),
        ("count", Statistic::Count),
        ("sum", Statistic::Sum),
        ("std", Statistic::Std),
    ];
    for (name, st) in stats {
        let r = binned_statistic(&x, &v, st, Bins::Count(6)).unwrap();
        assert_options(&r.statistic, &options(&c["int"][name]), 1e-12, name);
        assert_close(
            &r.bin_edges,
            &vec1(&c["int_edges"]),
            0.0,
            1e-15,
            "int edges",
        );
        assert_eq!(r.binnumber, usizes(&c["int_binnumber"]));
        let r = binned_statistic(&x, &v, st, Bins::Edges(edges.clone())).unwrap();
        assert_options(&r.statistic, &options(&c["explicit"][name]), 1e-12, name);
        assert_eq!(
            r.binnumber,
            usizes(&c["explicit_binnumber"]),
            "explicit binnumber"
        );
    }
    // an empty bin is None for mean/std/median, 0 for count/sum
    let mean = binned_statistic(&x, &v, Statistic::Mean, Bins::Edges(edges.clone())).unwrap();
    assert!(
        mean.statistic.iter().any(|s| s.is_none()),
        "the fixture has an empty bin"
    );
    // p39's check: x = 0..7, y = x², 4 percentile bins
    let p = &c["p39"];
    let x8 = vec1(&p["x"]);
    let e8 = percentiles(&x8, &linspace(0.0, 100.0, 5)).unwrap();
    assert_close(&e8, &vec1(&p["edges"]), 1e-12, 0.0, "p39 edges");
    let m = binned_statistic(
        &x8,
        &vec1(&p["values"]),
        Statistic::Mean,
        Bins::Edges(e8.clone()),
    )
    .unwrap();
    let s = binned_statistic(&x8, &vec1(&p["values"]), Statistic::Std, Bins::Edges(e8)).unwrap();
    assert_options(&m.statistic, &options(&p["mean"]), 1e-12, "p39 mean");
    assert_options(&s.statistic, &options(&p["std"]), 1e-12, "p39 std");
    let m_expected = [Some(0.5), Some(6.5), Some(20.5), Some(42.5)];
    assert_options(&m.statistic, &m_expected, 1e-12, "p39 spec means");
    // constant x: scipy widens the range by ±0.5
    let k = &c["constant_x"];
    let r = binned_statistic(
        &vec1(&k["x"]),
        &vec1(&k["values"]),
        Statistic::Mean,
        Bins::Count(3),
    )
    .unwrap();
    assert_close(
        &r.bin_edges,
        &vec1(&k["edges"]),
        0.0,
        1e-15,
        "constant edges",
    );
    assert_options(&r.statistic, &options(&k["mean"]), 1e-12, "constant mean");
}

#[test]
fn gaussian_kde_matches_scipy() {
    let c = &cases("decomposition")["kde"];
    let data = vec1(&c["data"]);
    let grid = vec1(&c["grid"]);
    let mut worst = 0.0f64;
    for (key, bw) in [
        ("scott", Bandwidth::Scott),
        ("silverman", Bandwidth::Silverman),
        ("0.3", Bandwidth::Factor(0.3)),
    ] {
        let k = GaussianKde::new(&data, bw).unwrap();
        assert_close(&[k.factor], &[num(&c[key]["factor"])], 0.0, 1e-14, "factor");
        assert_close(
            &[k.covariance],
            &[num(&c[key]["covariance"])],
            0.0,
            1e-13,
            "cov",
        );
        let d = k.evaluate(&grid).unwrap();
        let d_ref = vec1(&c[key]["density"]);
        assert_close(&d, &d_ref, 0.0, 1e-12, key);
        worst = worst.max(max_rel_diff(&d, &d_ref));
    }
    let vs = violin_stats(&data, 100, Bandwidth::Scott).unwrap();
    let vr = &c["violin"];
    assert_close(
        &vs.coords,
        &vec1(&vr["coords"]),
        0.0,
        1e-15,
        "violin coords",
    );
    assert_close(&vs.vals, &vec1(&vr["vals"]), 0.0, 1e-12, "violin vals");
    assert_close(
        &[vs.mean, vs.median],
        &[num(&vr["mean"]), num(&vr["median"])],
        1e-14,
        1e-14,
        "mean/median",
    );
    eprintln!(
        "KDE max rel diff {worst:.1e}; violin {:.1e}",
        max_rel_diff(&vs.vals, &vec1(&vr["vals"]))
    );
}

// ------------------------------------------------------------------ properties

#[test]
fn all_components_reconstruct_the_data() {
    let c = cases("decomposition");
    let x = arr2(&c["pca"]["x_train"]);
    let (p, z) = Pca::fit_transform(x.view(), NComponents::All).unwrap();
    let back = p.inverse_transform(z.view()).unwrap();
    assert_close(&flat(&back), &flat(&x), 1e-10, 0.0, "reconstruction");
    let ratio_sum: f64 = p.explained_variance_ratio.sum();
    assert!((ratio_sum - 1.0).abs() < 1e-14, "{ratio_sum}");
    // components are orthonormal
    let g = p.components.dot(&p.components.t());
    let eye = Array2::<f64>::eye(p.n_components);
    assert_close(&flat(&g), &flat(&eye), 1e-12, 0.0, "CCᵀ = I");
    let lr = low_rank(x.view(), 12, Centring::Columns).unwrap();
    assert_close(
        &flat(&lr.reconstruction),
        &flat(&x),
        1e-10,
        0.0,
        "low rank, all",
    );
}

#[test]
fn fraction_rule_is_strictly_greater() {
    // variances 60/25/10/5 % along orthogonal zero-mean ±1 columns (p30 check 4)
    let h = hadamard(4);
    let sd = [60f64.sqrt(), 25f64.sqrt(), 10f64.sqrt(), 5f64.sqrt()];
    let x = Array2::from_shape_fn((16, 4), |(i, j)| h[[i, j + 1]] * sd[j]);
    let p = Pca::fit(x.view(), NComponents::VarianceFraction(0.8)).unwrap();
    assert_eq!(p.n_components, 2);
    assert_close(
        &p.explained_variance_ratio.to_vec(),
        &[0.60, 0.25],
        1e-14,
        0.0,
        "ratios",
    );
    // explained variance is s²/(n − 1): column j has variance 16·sd²/15
    assert_close(
        &[p.explained_variance[0]],
        &[60.0 * 16.0 / 15.0],
        0.0,
        1e-14,
        "ev",
    );
    let p = Pca::fit(x.view(), NComponents::VarianceFraction(0.9)).unwrap();
    assert_eq!(p.n_components, 3, "0.95 > 0.9 first at the third component");
}

#[test]
fn participation_ratio_of_isotropic_data_is_d() {
    // the 2^3 factorial design: zero-mean orthogonal ±1 columns, covariance ∝ I
    let h = hadamard(3);
    let x = Array2::from_shape_fn((8, 3), |(i, j)| h[[i, [1, 2, 4][j]]]);
    let pr = participation_ratio(x.view()).unwrap();
    assert!((pr - 3.0).abs() < 1e-12, "{pr}");
    assert!((participation_ratio_of_eigenvalues(&[2.5; 7]).unwrap() - 7.0).abs() < 1e-12);
    assert!((participation_ratio_of_eigenvalues(&[4.0, 0.0, 0.0]).unwrap() - 1.0).abs() < 1e-15);
    // rank-1 data: PR 1, ED 0 (p43 check 3)
    let line = Array2::from_shape_fn((6, 4), |(i, j)| (i as f64 - 1.0) * (j as f64 + 1.0) + 3.0);
    assert!((participation_ratio(line.view()).unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(effective_dimensionality(line.view(), 95.0).unwrap(), 0);
}

#[test]
fn equal_variance_in_k_directions_gives_index_k_minus_1() {
    // p28 check 1: 10 orthogonal directions of equal variance → cum 10, 20, …, 100 %
    let h = hadamard(4);
    let x = Array2::from_shape_fn((16, 10), |(i, j)| 0.5 * h[[i, j + 1]]);
    let sp = Spectrum::of(x.view(), Centring::Columns).unwrap();
    let expected: Vec<f64> = (1..=10).map(|k| 10.0 * k as f64).collect();
    assert_close(
        &sp.cumulative_percent.to_vec(),
        &expected,
        1e-10,
        0.0,
        "cum %",
    );
    assert_eq!(sp.first_index_above(95.0).unwrap(), 9);
    assert!((sp.percent.sum() - 100.0).abs() < 1e-12);
    // p28 check 2: random wide matrix has rank n − 1 after centring
    let w = lcg_matrix(6, 9, 11);
    let c = Centred::new(w.view(), Centring::Columns).unwrap().centred;
    assert_eq!(matrix_rank(c.view(), EPS_F32).unwrap(), 5);
}

#[test]
fn double_centring_and_truncation_properties() {
    let x = lcg_matrix(7, 5, 3) + 2.0;
    let dc = Centred::new(x.view(), Centring::Double).unwrap();
    let rows: Array1<f64> = dc.centred.mean_axis(ndarray::Axis(1)).unwrap();
    let cols: Array1<f64> = dc.centred.mean_axis(ndarray::Axis(0)).unwrap();
    assert!(rows.iter().chain(cols.iter()).all(|m| m.abs() < 1e-12));
    let back = dc.restore(dc.centred.view()).unwrap();
    assert_close(&flat(&back), &flat(&x), 1e-12, 0.0, "restore");
    for k in 1..=4 {
        let lr = low_rank(x.view(), k, Centring::None).unwrap();
        assert_eq!(
            matrix_rank(lr.reconstruction.view(), EPS_F64).unwrap(),
            k,
            "rank-{k} approx"
        );
    }
}

// ------------------------------------------------------------------ bad input

#[test]
fn pca_rejects_bad_input() {
    let x = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f64 * 0.7 + (j as f64).sin());
    let mut nan = x.clone();
    nan[[2, 1]] = f64::NAN;
    let e = Pca::fit(nan.view(), NComponents::All)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("non-finite") && e.contains("row 2, column 1"),
        "{e}"
    );
    let e = Pca::fit(x.slice(ndarray::s![..1, ..]), NComponents::All)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 2 samples"), "{e}");
    let e = Pca::fit(x.view(), NComponents::Count(4))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("min(n_samples, n_features)") && e.contains("3"),
        "{e}"
    );
    for f in [0.0, 1.0, 1.5, -0.2, f64::NAN] {
        let e = Pca::fit(x.view(), NComponents::VarianceFraction(f))
            .unwrap_err()
            .to_string();
        assert!(e.contains("strictly between 0 and 1"), "{f}: {e}");
    }
    let same = Array2::from_elem((4, 3), 0.0);
    let e = Pca::fit(same.view(), NComponents::All)
        .unwrap_err()
        .to_string();
    assert!(e.contains("zero variance"), "{e}");
    let p = Pca::fit(x.view(), NComponents::Count(2)).unwrap();
    let e = p
        .transform(Array2::zeros((2, 4)).view())
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 features") && e.contains("fitted on 3"), "{e}");
    let e = Spectrum::of(same.view(), Centring::Columns)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no variance"), "{e}");
    let e = low_rank(x.view(), 4, Centring::None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 3"), "{e}");
    let sp = Spectrum::of(x.view(), Centring::Columns).unwrap();
    assert!(sp.first_index_above(100.0).is_err());
}

#[test]
fn descriptive_rejects_bad_input() {
    let e = GaussianKde::new(&[2.0; 6], Bandwidth::Scott)
        .unwrap_err()
        .to_string();
    assert!(e.contains("singular") && e.contains("constant"), "{e}");
    let e = GaussianKde::new(&[1.0], Bandwidth::Scott)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 2"), "{e}");
    let e = GaussianKde::new(&[1.0, f64::NAN, 2.0], Bandwidth::Scott)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    // matplotlib draws constant data as a spike instead of failing
    let v = violin_stats(&[2.0; 6], 100, Bandwidth::Scott).unwrap();
    assert!(v.vals.iter().all(|&d| d == 1.0) && v.coords.iter().all(|&c| c == 2.0));
    let e = percentile(&[1.0, 2.0], 101.0).unwrap_err().to_string();
    assert!(e.contains("[0, 100]"), "{e}");
    assert!(median(&[]).is_err());
    assert!(percentile(&[1.0, f64::INFINITY], 50.0).is_err());
    let x = [0.0, 1.0, 1.0, 2.0];
    let e = binned_statistic(
        &x,
        &x,
        Statistic::Mean,
        Bins::Edges(vec![0.0, 1.0, 1.0, 2.0]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("duplicate") && e.contains("strictly increasing"),
        "{e}"
    );
    let e = binned_statistic(&x, &x[..3], Statistic::Mean, Bins::Count(2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 samples") && e.contains("3"), "{e}");
    assert!(binned_statistic(&x, &x, Statistic::Mean, Bins::Count(0)).is_err());
}

/// Timing at the largest size the projects use (run with `--release -- --ignored`).
#[test]
#[ignore]
fn large_pca_runs_in_seconds() {
    let (n, d) = (2000, 1600);
    let mut s: u64 = 7;
    let x = Array2::from_shape_fn((n, d), |(_, j)| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * (1.0 + 10.0 / (1.0 + j as f64))
    });
    let t = std::time::Instant::now();
    let p = Pca::fit(x.view(), NComponents::VarianceFraction(0.95)).unwrap();
    let t_pca = t.elapsed();
    let t = std::time::Instant::now();
    let ed = effective_dimensionality(x.view(), 95.0).unwrap();
    let t_ed = t.elapsed();
    eprintln!(
        "PCA [2000, 1600]: {t_pca:?} ({} components); spectrum: {t_ed:?} (ED {ed})",
        p.n_components
    );
    assert_eq!(ed + 1, p.n_components);
    assert!(t_pca.as_secs_f64() < 20.0 && t_ed.as_secs_f64() < 10.0);
}

/// Identical rows whose column mean does not round back to the values still count as
/// having no variance (they used to give components of variance ~1e-32).
#[test]
fn identical_rows_with_rounding_residue_have_no_variance() {
    let row: Vec<f64> = (0..8).map(|j| 0.1 * j as f64 - 0.3).collect();
    let x = ndarray::Array2::from_shape_fn((7, 8), |(_, j)| row[j]);
    let e = methods::decomposition::Pca::fit(x.view(), methods::decomposition::NComponents::All)
        .unwrap_err()
        .to_string();
    assert!(e.contains("zero variance"), "{e}");
}
