mod fixture;

use fixture::{arr2, assert_close, cases, max_abs_diff, num, vec1};
use methods::hypothesis::*;
use ndarray::{array, Array2};
use serde_json::Value;

/// Relative tolerance on statistics, absolute tolerance on p values.
const STAT_RTOL: f64 = 1e-10;
const STAT_ATOL: f64 = 1e-12;
const P_ATOL: f64 = 1e-12;

const ALTS: [(&str, Alternative); 3] = [
    ("two-sided", Alternative::TwoSided),
    ("less", Alternative::Less),
    ("greater", Alternative::Greater),
];

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

/// Compares one TTest with a fixture entry {statistic, pvalue, df}; returns
/// (statistic relative error, p absolute error, p relative error).
fn compare(ours: TTest, want: &Value, what: &str) -> (f64, f64, f64) {
    let (t, p, df) = (
        num(&want["statistic"]),
        num(&want["pvalue"]),
        num(&want["df"]),
    );
    assert_close(
        &[ours.statistic],
        &[t],
        STAT_ATOL,
        STAT_RTOL,
        &format!("{what} t"),
    );
    assert_close(&[ours.df], &[df], 0.0, 1e-12, &format!("{what} df"));
    assert_close(&[ours.pvalue], &[p], P_ATOL, 0.0, &format!("{what} p"));
    let t_err = if t == 0.0 {
        ours.statistic.abs()
    } else {
        rel(ours.statistic, t)
    };
    (t_err, (ours.pvalue - p).abs(), rel(ours.pvalue, p))
}

#[test]
fn ttest_1samp_matches_scipy() {
    let (mut t_err, mut p_err, mut p_rel) = (0.0f64, 0.0f64, 0.0f64);
    let mut n = 0;
    for case in cases("hypothesis")["ttest_1samp"].as_array().unwrap() {
        let x = vec1(&case["x"]);
        let mu = num(&case["popmean"]);
        for (key, alt) in ALTS {
            let what = format!("ttest_1samp {} {key}", case["name"]);
            let r = ttest_1samp(&x, mu, alt).unwrap();
            let (a, b, c) = compare(r, &case[key], &what);
            t_err = t_err.max(a);
            p_err = p_err.max(b);
            p_rel = p_rel.max(c);
            n += 1;
        }
    }
    assert_eq!(n, 21);
    println!(
        "ttest_1samp: max rel t err {t_err:e}, max abs p err {p_err:e}, max rel p err {p_rel:e}"
    );
}

#[test]
fn ttest_ind_matches_scipy_pooled_and_welch() {
    let mut worst = [(0.0f64, 0.0f64, 0.0f64); 2];
    let mut n = 0;
    for case in cases("hypothesis")["ttest_ind"].as_array().unwrap() {
        let (x, y) = (vec1(&case["x"]), vec1(&case["y"]));
        for (w, (kind, equal_var)) in [("pooled", true), ("welch", false)].into_iter().enumerate() {
            for (key, alt) in ALTS {
                let what = format!("ttest_ind {} {kind} {key}", case["name"]);
                let r = ttest_ind(&x, &y, equal_var, alt).unwrap();
                let (a, b, c) = compare(r, &case[kind][key], &what);
                worst[w].0 = worst[w].0.max(a);
                worst[w].1 = worst[w].1.max(b);
                worst[w].2 = worst[w].2.max(c);
                n += 1;
            }
        }
    }
    assert_eq!(n, 48);
    println!(
        "ttest_ind (rel t, abs p, rel p): pooled {:?}, welch {:?}",
        worst[0], worst[1]
    );
}

#[test]
fn spec_checks_t_tests() {
    // p23 check 3
    let r = ttest_1samp(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.0, Alternative::TwoSided).unwrap();
    assert!(
        (r.statistic - 4.2426).abs() < 1e-4 && r.df == 4.0 && (r.pvalue - 0.01324).abs() < 1e-5
    );
    let r = ttest_ind(
        &[3.0, 4.0, 5.0, 6.0, 7.0],
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        true,
        Alternative::TwoSided,
    )
    .unwrap();
    assert!((r.statistic - 2.0).abs() < 1e-12 && r.df == 8.0 && (r.pvalue - 0.0805).abs() < 1e-4);
    // p25 check 5 / p44 check 1
    let r = ttest_ind(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[2.0, 4.0, 6.0, 8.0, 10.0],
        true,
        Alternative::TwoSided,
    )
    .unwrap();
    assert!((r.statistic + 1.8974).abs() < 1e-4 && r.df == 8.0 && (r.pvalue - 0.0943).abs() < 1e-4);
    let same = [1.5, 2.0, 7.0];
    assert_eq!(
        ttest_ind(&same, &same, true, Alternative::TwoSided)
            .unwrap()
            .statistic,
        0.0
    );
    // p38 check 5
    let r = ttest_ind(
        &[1.0, 2.0, 3.0, 4.0, 5.0],
        &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        true,
        Alternative::TwoSided,
    )
    .unwrap();
    assert!((r.statistic + 2.3619).abs() < 1e-4);
    assert!((fisher_z(0.5).unwrap() - 0.549306).abs() < 1e-6);
}

#[test]
fn t_statistics_by_hand() {
    // x = [2, 4, 9], y = [1, 3, 5, 7]: m1 = 5, m2 = 4, ss1 = 9+1+16 = 26, ss2 = 9+1+1+9 = 20
    let (x, y) = ([2.0, 4.0, 9.0], [1.0, 3.0, 5.0, 7.0]);
    let sp2: f64 = (26.0 + 20.0) / 5.0;
    let t_pooled = 1.0 / (sp2 * (1.0 / 3.0 + 1.0 / 4.0)).sqrt();
    let r = ttest_ind(&x, &y, true, Alternative::TwoSided).unwrap();
    assert!(
        rel(r.statistic, t_pooled) < 1e-14 && r.df == 5.0,
        "{r:?} vs {t_pooled}"
    );
    let (a, b): (f64, f64) = (13.0 / 3.0, 20.0 / 3.0 / 4.0);
    let t_welch = 1.0 / (a + b).sqrt();
    let df_welch = (a + b).powi(2) / (a * a / 2.0 + b * b / 3.0);
    let r = ttest_ind(&x, &y, false, Alternative::TwoSided).unwrap();
    assert!(
        rel(r.statistic, t_welch) < 1e-14 && rel(r.df, df_welch) < 1e-14,
        "{r:?}"
    );
    // one-sample: [2, 4, 9] vs 3: (5 − 3)/(√13/√3)
    let r = ttest_1samp(&x, 3.0, Alternative::Greater).unwrap();
    assert!(rel(r.statistic, 2.0 / (13.0f64 / 3.0).sqrt()) < 1e-14);
    // Student t with 1 df is Cauchy: P(T > t) = 1/2 − atan(t)/π
    let p = t_pvalue(2.5, 1.0, Alternative::Greater).unwrap();
    assert!(
        (p - (0.5 - 2.5f64.atan() / std::f64::consts::PI)).abs() < 1e-15,
        "{p}"
    );
    // tails add up: less + greater = 1, two-sided = 2·min
    let (l, g) = (
        t_pvalue(-1.3, 7.5, Alternative::Less).unwrap(),
        t_pvalue(-1.3, 7.5, Alternative::Greater).unwrap(),
    );
    let two = t_pvalue(-1.3, 7.5, Alternative::TwoSided).unwrap();
    assert!((l + g - 1.0).abs() < 1e-15 && (two - 2.0 * l).abs() < 1e-15);
}

#[test]
fn ttest_ind_columns_matches_scipy_column_by_column() {
    let c = &cases("hypothesis")["ttest_ind_columns"];
    let (x, y) = (arr2(&c["x"]), arr2(&c["y"]));
    assert_eq!((x.dim(), y.dim()), ((30, 200), (25, 200)));
    let r = ttest_ind_columns(x.view(), y.view(), Alternative::TwoSided).unwrap();
    assert_eq!(r.df, num(&c["df"]));
    let degenerate: Vec<usize> = fixture::usizes(&c["degenerate"]);
    assert_eq!(r.degenerate(), degenerate);
    let want_t = c["statistic"].as_array().unwrap();
    let want_p = c["pvalue"].as_array().unwrap();
    let (mut t_err, mut p_err) = (0.0f64, 0.0f64);
    for j in 0..200 {
        match (r.statistic[j], r.pvalue[j]) {
            (Some(t), Some(p)) => {
                let (wt, wp) = (num(&want_t[j]), num(&want_p[j]));
                assert_close(&[t], &[wt], STAT_ATOL, STAT_RTOL, &format!("column {j} t"));
                assert_close(&[p], &[wp], P_ATOL, 0.0, &format!("column {j} p"));
                t_err = t_err.max(rel(t, wt));
                p_err = p_err.max((p - wp).abs());
                // the vectorised form gives what the scalar test gives on the column
                let xs: Vec<f64> = x.column(j).to_vec();
                let ys: Vec<f64> = y.column(j).to_vec();
                let s = ttest_ind(&xs, &ys, true, Alternative::TwoSided).unwrap();
                assert!(
                    rel(t, s.statistic) < 1e-12 && (p - s.pvalue).abs() < 1e-14,
                    "column {j}"
                );
            }
            (None, None) => assert!(want_t[j].is_null(), "column {j} reported degenerate"),
            other => panic!("column {j}: t and p disagree on degeneracy: {other:?}"),
        }
    }
    println!("ttest_ind_columns: max rel t err {t_err:e}, max abs p err {p_err:e}");
    assert!(r.complete().unwrap_err().to_string().contains("7, 11"));
    // one-sided columns agree with the scalar one-sided test
    let g = ttest_ind_columns(x.view(), y.view(), Alternative::Greater).unwrap();
    let s = ttest_ind(
        &x.column(0).to_vec(),
        &y.column(0).to_vec(),
        true,
        Alternative::Greater,
    )
    .unwrap();
    assert!((g.pvalue[0].unwrap() - s.pvalue).abs() < 1e-15);
}

#[test]
fn ttest_ind_columns_is_fast_on_mlp_sized_input() {
    // p44: 1000 × 3072 vs 1000 × 3072
    let x = Array2::from_shape_fn((1000, 3072), |(i, j)| {
        ((i * 31 + j * 17) % 97) as f64 / 97.0
    });
    let y = Array2::from_shape_fn((1000, 3072), |(i, j)| ((i * 13 + j * 7) % 89) as f64 / 89.0);
    let start = std::time::Instant::now();
    let r = ttest_ind_columns(x.view(), y.view(), Alternative::TwoSided).unwrap();
    let took = start.elapsed();
    assert!(r.degenerate().is_empty());
    println!("ttest_ind_columns 1000x3072 twice: {took:?}");
    assert!(took.as_secs_f64() < 5.0, "{took:?}");
}

#[test]
fn cohens_d_matches_definition() {
    let all = cases("hypothesis");
    let want = all["cohens_d"].as_object().unwrap();
    let mut worst = 0.0f64;
    for case in all["ttest_ind"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Some(d_ref) = want.get(name) else {
            continue;
        };
        let (x, y) = (vec1(&case["x"]), vec1(&case["y"]));
        let d = cohens_d(&x, &y).unwrap();
        assert_close(
            &[d],
            &[num(d_ref)],
            STAT_ATOL,
            STAT_RTOL,
            &format!("cohens_d {name}"),
        );
        worst = worst.max(rel(d, num(d_ref)));
        // t = d·√(n1 n2 / (n1 + n2)) for the pooled test
        let (n1, n2) = (x.len() as f64, y.len() as f64);
        let t = ttest_ind(&x, &y, true, Alternative::TwoSided)
            .unwrap()
            .statistic;
        assert!(rel(t, d * (n1 * n2 / (n1 + n2)).sqrt()) < 1e-12, "{name}");
    }
    println!("cohens_d: max rel err {worst:e}");
    // equal sizes: t = d·√(n/2)
    let (x, y) = ([0.3, 1.9, 2.2, 4.0], [1.0, 1.1, 0.2, -0.5]);
    let d = cohens_d(&x, &y).unwrap();
    let t = ttest_ind(&x, &y, true, Alternative::TwoSided)
        .unwrap()
        .statistic;
    assert!(rel(t, d * 2.0f64.sqrt()) < 1e-13);

    let c = &all["ttest_ind_columns"];
    let dc = cohens_d_columns(arr2(&c["x"]).view(), arr2(&c["y"]).view()).unwrap();
    let want_cols = all["cohens_d_columns"].as_array().unwrap();
    for (j, (ours, w)) in dc.iter().zip(want_cols).enumerate() {
        match ours {
            Some(v) => assert_close(
                &[*v],
                &[num(w)],
                STAT_ATOL,
                STAT_RTOL,
                &format!("d column {j}"),
            ),
            None => assert!(w.is_null(), "d column {j} degenerate"),
        }
    }
}

#[test]
fn mcnemar_matches_statsmodels() {
    let (mut s_err, mut p_err) = (0.0f64, 0.0f64);
    for case in cases("hypothesis")["mcnemar"].as_array().unwrap() {
        let t = arr2(&case["table"]);
        let table = [
            [t[[0, 0]] as u64, t[[0, 1]] as u64],
            [t[[1, 0]] as u64, t[[1, 1]] as u64],
        ];
        let r = mcnemar(table).unwrap();
        let (s, p) = (num(&case["statistic"]), num(&case["pvalue"]));
        assert_close(
            &[r.statistic],
            &[s],
            STAT_ATOL,
            STAT_RTOL,
            &format!("mcnemar {table:?} stat"),
        );
        assert_close(
            &[r.pvalue],
            &[p],
            P_ATOL,
            0.0,
            &format!("mcnemar {table:?} p"),
        );
        s_err = s_err.max(if s == 0.0 {
            r.statistic
        } else {
            rel(r.statistic, s)
        });
        p_err = p_err.max((r.pvalue - p).abs());
        if p > 0.0 {
            println!("mcnemar {table:?}: rel p err {:e}", rel(r.pvalue, p));
        }
    }
    println!("mcnemar: max rel stat err {s_err:e}, max abs p err {p_err:e}");
    // p22 check 1
    let r = mcnemar([[0, 10], [2, 0]]).unwrap();
    assert!((r.statistic - 4.0833).abs() < 1e-4 && (r.pvalue - 0.04331).abs() < 1e-5);
    let r = mcnemar([[7, 5], [5, 7]]).unwrap();
    assert!((r.statistic - 0.1).abs() < 1e-12 && (r.pvalue - 0.7518).abs() < 1e-4);
    // b + c = 0: documented statistic 0, p 1 (statsmodels gives inf and 0)
    let r = mcnemar([[6, 0], [0, 4]]).unwrap();
    assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
    // chi-square with 1 df: p = erfc(√(x/2)); statrs's erfc is good to ~1e-10 relative
    // only, hence the looser bound (the fixture cases above hold the code to scipy)
    let r = mcnemar([[0, 31], [9, 0]]).unwrap();
    let want = statrs::function::erf::erfc((r.statistic / 2.0).sqrt());
    assert!((r.statistic - 441.0 / 40.0).abs() < 1e-12);
    assert!(rel(r.pvalue, want) < 1e-9, "{} vs erfc {want}", r.pvalue);
}

#[test]
fn mcnemar_paired_counts_discordant_items() {
    let a = [true, true, false, false, true, false, true];
    let b = [true, false, true, true, false, false, false];
    // only a right: items 1, 4, 6 → b = 3; only b right: items 2, 3 → c = 2
    let r = mcnemar_paired(&a, &b).unwrap();
    assert_eq!((r.b, r.c), (3, 2));
    assert_eq!(r, mcnemar([[1, 3], [2, 1]]).unwrap());
    let e = mcnemar_paired(&a, &b[..6]).unwrap_err().to_string();
    assert!(e.contains("7 and 6"), "{e}");
}

#[test]
fn corrections_match_scipy_and_statsmodels() {
    let mut bh_err = 0.0f64;
    for case in cases("hypothesis")["multiple"].as_array().unwrap() {
        let name = &case["name"];
        let ps = vec1(&case["ps"]);
        let bh = benjamini_hochberg(&ps).unwrap();
        let want = vec1(&case["bh"]);
        assert_close(&bh, &want, 1e-15, 0.0, &format!("bh {name}"));
        bh_err = bh_err.max(max_abs_diff(&bh, &want));
        let bools = |v: &Value| -> Vec<bool> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_bool().unwrap())
                .collect()
        };
        assert_eq!(
            bh_significant(&ps, 0.05).unwrap(),
            bools(&case["bh_significant_05"]),
            "{name}"
        );
        let bonf = bonferroni(&ps).unwrap();
        assert_close(
            &bonf,
            &vec1(&case["bonferroni"]),
            1e-15,
            0.0,
            &format!("bonferroni {name}"),
        );
        assert_eq!(
            bonferroni_significant(&ps, 0.05).unwrap(),
            bools(&case["bonferroni_significant_05"]),
            "{name}"
        );
    }
    println!("benjamini_hochberg: max abs err {bh_err:e}");
}

#[test]
fn bh_on_the_1995_paper_example() {
    // Benjamini & Hochberg (1995), section 4: of these 15 p values, BH at q = 0.05
    // rejects the four smallest (the largest i with p(i) ≤ i·q/m is i = 4:
    // 0.0095 ≤ 4·0.05/15 = 0.01333, while 0.0201 > 5·0.05/15 = 0.01667, ...).
    let ps = [
        0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
        0.5719, 0.6528, 0.7590, 1.0,
    ];
    let sig = bh_significant(&ps, 0.05).unwrap();
    assert_eq!(sig.iter().filter(|&&s| s).count(), 4);
    assert!(sig[..4].iter().all(|&s| s));
    // by hand: adjusted(i) = min_{j ≥ i} p(j)·m/j
    let adj = benjamini_hochberg(&ps).unwrap();
    assert!((adj[3] - 0.0095 * 15.0 / 4.0).abs() < 1e-15);
    assert!((adj[4] - 0.0201 * 3.0).abs() < 1e-15); // its own 0.0201·15/5 is the smallest from rank 5 up
    assert!((adj[5] - 0.0298 * 15.0 / 7.0).abs() < 1e-15); // 0.0278·15/6 = 0.0695 > 0.0298·15/7 = 0.0639
    for (i, (&a, &p)) in adj.iter().zip(&ps).enumerate() {
        assert!(a >= p, "adjusted below raw at {i}");
        if i > 0 {
            assert!(a >= adj[i - 1], "not monotone at {i}");
        }
    }
    // p44 check 2
    let adj = benjamini_hochberg(&[0.01, 0.02, 0.03, 0.04, 0.05]).unwrap();
    assert!(adj.iter().all(|&a| (a - 0.05).abs() < 1e-16), "{adj:?}");
    // Bonferroni threshold p22: p < 0.05/6
    let sig = bonferroni_significant(&[0.0083, 0.0084, 0.5, 0.1, 0.2, 0.3], 0.05).unwrap();
    assert_eq!(sig, [true, false, false, false, false, false]);
}

#[test]
fn fisher_z_matches_numpy() {
    let c = &cases("hypothesis")["fisher_z"];
    let z = fisher_z_all(&vec1(&c["r"])).unwrap();
    let want = vec1(&c["z"]);
    assert_close(&z, &want, 1e-15, 1e-14, "fisher_z");
    println!("fisher_z: max abs err {:e}", max_abs_diff(&z, &want));
}

#[test]
fn permutation_test_p_values_and_zscore() {
    // perfectly separated groups (p37 check 3): no permutation beats the observed difference
    let values: Vec<f64> = (0..200)
        .map(|i| {
            if i < 100 {
                (i % 7) as f64 * 0.01
            } else {
                10.0 + (i % 5) as f64 * 0.01
            }
        })
        .collect();
    let labels: Vec<bool> = (0..200).map(|i| i >= 100).collect();
    let diff = |l: &[bool]| -> anyhow::Result<f64> {
        let (mut s1, mut n1, mut s0, mut n0) = (0.0, 0.0, 0.0, 0.0);
        for (&v, &g) in values.iter().zip(l) {
            if g {
                s1 += v;
                n1 += 1.0
            } else {
                s0 += v;
                n0 += 1.0
            }
        }
        Ok(s1 / n1 - s0 / n0)
    };
    let r = permutation_test(&labels, 500, 7, PermutationP::StrictlyGreater, diff).unwrap();
    assert_eq!(r.pvalue, 0.0);
    assert_eq!(r.null.len(), 500);
    let r2 = permutation_test(&labels, 500, 7, PermutationP::AtLeastPlusOne, diff).unwrap();
    assert_eq!(r2.pvalue, 1.0 / 501.0);
    assert_eq!(r.null, r2.null, "same seed, same null distribution");
    assert!(r.zscore().unwrap() > 10.0, "{:?}", r.zscore());
    let r3 = permutation_test(&labels, 500, 8, PermutationP::StrictlyGreater, diff).unwrap();
    assert_ne!(r.null, r3.null, "another seed, another null");

    // the closure sees label permutations (group sizes kept), never the same order every time
    let mut seen = Vec::new();
    let count = |l: &[bool]| -> anyhow::Result<f64> {
        seen.push(l.to_vec());
        Ok(l.iter().take(10).filter(|&&b| b).count() as f64)
    };
    let r = permutation_test(&labels, 50, 1, PermutationP::StrictlyGreater, count).unwrap();
    assert_eq!(r.observed, 0.0);
    assert!(seen[1..]
        .iter()
        .all(|l| l.iter().filter(|&&b| b).count() == 100));
    // the p value rules counted by hand on the returned null distribution
    let obs = 5.0;
    let null = &r.null;
    let strict = null.iter().filter(|&&s| s > obs).count() as f64 / 50.0;
    let plus = (null.iter().filter(|&&s| s >= obs).count() + 1) as f64 / 51.0;
    let fixed = |l: &[bool]| -> anyhow::Result<f64> {
        Ok(if l == labels.as_slice() {
            obs
        } else {
            l.iter().take(10).filter(|&&b| b).count() as f64
        })
    };
    assert_eq!(
        permutation_test(&labels, 50, 1, PermutationP::StrictlyGreater, fixed)
            .unwrap()
            .pvalue,
        strict
    );
    assert_eq!(
        permutation_test(&labels, 50, 1, PermutationP::AtLeastPlusOne, fixed)
            .unwrap()
            .pvalue,
        plus
    );
    assert!(strict > 0.0 && strict < plus, "{strict} {plus}");
    // z-score by hand (population SD)
    let m = null.iter().sum::<f64>() / 50.0;
    let sd = (null.iter().map(|s| (s - m) * (s - m)).sum::<f64>() / 50.0).sqrt();
    assert!(rel(r.zscore().unwrap(), (0.0 - m) / sd) < 1e-12);

    // independent labels: p > 0.05 in most seeds
    let noise: Vec<f64> = (0..200)
        .map(|i| ((i * 7919) % 1009) as f64 / 1009.0)
        .collect();
    let random_labels: Vec<bool> = (0..200).map(|i| (i * 31) % 17 < 8).collect();
    let nd = |l: &[bool]| -> anyhow::Result<f64> {
        let (mut s1, mut n1, mut s0, mut n0) = (0.0, 0.0, 0.0, 0.0);
        for (&v, &g) in noise.iter().zip(l) {
            if g {
                s1 += v;
                n1 += 1.0
            } else {
                s0 += v;
                n0 += 1.0
            }
        }
        Ok((s1 / n1 - s0 / n0).abs())
    };
    let above = (0..20)
        .filter(|&s| {
            permutation_test(&random_labels, 200, s, PermutationP::StrictlyGreater, nd)
                .unwrap()
                .pvalue
                > 0.05
        })
        .count();
    assert!(above >= 15, "{above}/20");
}

#[test]
fn bad_inputs_are_errors_that_name_the_problem() {
    let err = |r: anyhow::Result<TTest>| r.unwrap_err().to_string();
    let e = err(ttest_1samp(&[1.0], 0.0, Alternative::TwoSided));
    assert!(e.contains("at least 2"), "{e}");
    let e = err(ttest_1samp(&[3.0, 3.0, 3.0], 1.0, Alternative::TwoSided));
    assert!(e.contains("zero variance"), "{e}");
    let e = err(ttest_1samp(
        &[1.0, f64::NAN, 2.0],
        0.0,
        Alternative::TwoSided,
    ));
    assert!(e.contains("non-finite") && e.contains("index 1"), "{e}");
    let e = err(ttest_ind(&[1.0, 2.0], &[3.0], true, Alternative::TwoSided));
    assert!(
        e.contains("second group") && e.contains("at least 2"),
        "{e}"
    );
    let e = err(ttest_ind(
        &[1.0, 1.0, 1.0],
        &[2.0, 2.0],
        false,
        Alternative::TwoSided,
    ));
    assert!(e.contains("both groups are constant"), "{e}");
    let e = err(ttest_ind(
        &[1.0, 2.0],
        &[f64::INFINITY, 2.0],
        true,
        Alternative::TwoSided,
    ));
    assert!(
        e.contains("second group") && e.contains("non-finite"),
        "{e}"
    );
    assert!(t_pvalue(1.0, 0.0, Alternative::TwoSided)
        .unwrap_err()
        .to_string()
        .contains("degrees of freedom"));
    assert!(t_pvalue(f64::NAN, 3.0, Alternative::TwoSided).is_err());

    let e = cohens_d(&[2.0, 2.0], &[2.0, 2.0, 2.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("pooled SD is 0"), "{e}");

    let x = array![[1.0, 2.0], [3.0, f64::NAN]];
    let e = ttest_ind_columns(x.view(), x.view(), Alternative::TwoSided)
        .unwrap_err()
        .to_string();
    assert!(e.contains("row 1, column 1"), "{e}");
    let y = array![[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]];
    let e = ttest_ind_columns(x.view(), y.view(), Alternative::TwoSided)
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 and 3 columns"), "{e}");
    let one_row = array![[1.0, 2.0]];
    let e = ttest_ind_columns(one_row.view(), one_row.view(), Alternative::TwoSided)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 2"), "{e}");

    let e = benjamini_hochberg(&[0.1, f64::NAN])
        .unwrap_err()
        .to_string();
    assert!(e.contains("index 1") && e.contains("[0, 1]"), "{e}");
    let e = benjamini_hochberg(&[0.1, 1.2]).unwrap_err().to_string();
    assert!(e.contains("1.2"), "{e}");
    assert!(benjamini_hochberg(&[-0.01]).is_err());
    assert!(benjamini_hochberg(&[])
        .unwrap_err()
        .to_string()
        .contains("at least 1"));
    assert!(bh_significant(&[0.1], 0.0)
        .unwrap_err()
        .to_string()
        .contains("significance level"));
    assert!(bonferroni(&[0.5, 2.0]).is_err());

    let e = fisher_z_all(&[0.2, 1.0]).unwrap_err();
    assert!(
        format!("{e:#}").contains("index 1") && format!("{e:#}").contains("-1 < r < 1"),
        "{e:#}"
    );
    assert!(fisher_z(f64::NAN).is_err());

    let e =
        permutation_test(&[true], 10, 0, PermutationP::StrictlyGreater, |_| Ok(0.0)).unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
    let e = permutation_test(&[true, false], 10, 0, PermutationP::StrictlyGreater, |_| {
        Ok(f64::NAN)
    })
    .unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    let r = permutation_test(&[true, true], 10, 0, PermutationP::StrictlyGreater, |_| {
        Ok(1.0)
    })
    .unwrap();
    assert!(r.zscore().unwrap_err().to_string().contains("SD is 0"));
}

#[test]
fn student_t_tail_matches_scipy_over_a_grid() {
    // df from 1 to 20000, t from 0 to 60: p near 1 (tiny t, large df) and far in the tail
    let (mut abs_err, mut rel_err) = (0.0f64, 0.0f64);
    for c in cases("hypothesis")["t_tail"].as_array().unwrap() {
        let (t, df) = (num(&c["t"]), num(&c["df"]));
        let (sf, two) = (num(&c["sf"]), num(&c["two_sided"]));
        let g = t_pvalue(t, df, Alternative::Greater).unwrap();
        let l = t_pvalue(-t, df, Alternative::Less).unwrap();
        let p2 = t_pvalue(t, df, Alternative::TwoSided).unwrap();
        let what = format!("t = {t}, df = {df}");
        assert_close(&[g, l, p2], &[sf, sf, two], P_ATOL, 0.0, &what);
        abs_err = abs_err.max(max_abs_diff(&[g, l, p2], &[sf, sf, two]));
        if sf > 1e-300 {
            let r = rel(g, sf).max(rel(p2, two));
            rel_err = rel_err.max(r);
        }
    }
    println!("Student-t tail: max abs err {abs_err:e}, max rel err {rel_err:e}");
}
