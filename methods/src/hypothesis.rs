//! Hypothesis tests, multiple-comparison corrections and effect sizes, as the book's
//! notebooks compute them with scipy and statsmodels.
//!
//! | function | reference | used by |
//! |---|---|---|
//! | [`ttest_1samp`] | `scipy.stats.ttest_1samp` | p23 |
//! | [`ttest_ind`] | `scipy.stats.ttest_ind` (`equal_var=True` pooled, `False` Welch) | p23, p25, p30, p38, p44 |
//! | [`ttest_ind_columns`] | `scipy.stats.ttest_ind(x, y, axis=0)`, every column at once | p44, p46 |
//! | [`t_pvalue`] | the Student-t tail scipy's t-tests use | p23 |
//! | [`cohens_d`], [`cohens_d_columns`] | p44's formula: mean difference over the pooled SD | p44 |
//! | [`mcnemar`], [`mcnemar_paired`] | statsmodels `mcnemar(table, exact=False, correction=True)` | p22 |
//! | [`bonferroni`], [`bonferroni_significant`] | statsmodels `multipletests(method="bonferroni")`, `p < α/m` | p22, p44 |
//! | [`benjamini_hochberg`], [`bh_significant`] | scipy `false_discovery_control(ps, method="bh")`, adjusted `p < q` | p44, p46 |
//! | [`fisher_z`], [`fisher_z_all`] | `numpy.arctanh` | p38 |
//! | [`permutation_test`] | p37's label-permutation test (seeded) | p37 |
//!
//! The Student-t tail is statrs's regularised incomplete beta function (called on the
//! precise side, see [`t_pvalue`]); the chi-square tail is statrs's `ChiSquared::sf`.
//! The tests themselves are a few lines of arithmetic that no crate offers with scipy's
//! conventions (degrees of freedom, `alternative=`, Welch's df, statsmodels' McNemar
//! without clipping of `|b − c| − 1`, scipy's BH rounding), so they are written here.
//!
//! Errors instead of NaN: fewer than two values in a group, zero variance where the t
//! statistic is undefined, non-finite input and p values outside [0, 1] give an `Err`
//! that names the problem. The vectorised t-test reports degenerate columns as `None`
//! instead of failing the whole call.

use anyhow::{bail, Context, Result};
use ndarray::{Array1, ArrayView2, Zip};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::beta::checked_beta_reg;

use crate::check;

/// The alternative hypothesis, as scipy's `alternative=` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alternative {
    /// `"two-sided"`: the means differ; p = P(|T| ≥ |t|).
    #[default]
    TwoSided,
    /// `"less"`: the (first) mean is smaller; p = P(T ≤ t).
    Less,
    /// `"greater"`: the (first) mean is larger; p = P(T ≥ t).
    Greater,
}

/// A t statistic, its p value and its degrees of freedom (scipy's `TtestResult`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TTest {
    pub statistic: f64,
    pub pvalue: f64,
    pub df: f64,
}

/// The p value of a Student-t statistic `t` with `df` degrees of freedom (df may be
/// fractional, as Welch's is), as scipy's `stats.t.sf` / `cdf` / `2·sf(|t|)`.
///
/// By hand on statrs's regularised incomplete beta function rather than through
/// `StudentsT::sf`: statrs evaluates I_x(df/2, 1/2) at x = df/(df + t²) and, for small
/// |t|, through its symmetry I_x(a, b) = 1 − I_{1−x}(b, a) with 1 − x formed from x,
/// which loses digits when x is close to 1 (e.g. t = 1e-4, df = 8: 1.6e-12 off scipy,
/// and more for larger df). Here the complement t²/(df + t²) is formed directly, so p
/// values near 1 are good to ~1e-16 absolute, and tail p values keep their relative
/// precision (both are measured against scipy in the tests).
pub fn t_pvalue(t: f64, df: f64, alternative: Alternative) -> Result<f64> {
    if !t.is_finite() {
        bail!("t_pvalue: the t statistic is {t}; it must be finite");
    }
    check_df(df)?;
    tail(t, df, alternative)
}

fn check_df(df: f64) -> Result<()> {
    if !(df.is_finite() && df > 0.0) {
        bail!("Student-t distribution: degrees of freedom must be positive and finite, got {df}");
    }
    Ok(())
}

/// P(|T| ≥ |t|) = I_x(df/2, 1/2), x = df/(df + t²), evaluated on the side where the
/// continued fraction converges without forming 1 − x (statrs's own switch point,
/// x ≥ (a + 1)/(a + b + 2), is used to pick the side).
fn two_sided(t: f64, df: f64) -> Result<f64> {
    let t2 = t * t;
    // written so that t² = inf gives x = 0, y = 1 and t = 0 gives x = 1, y = 0
    let x = 1.0 / (1.0 + t2 / df);
    let y = 1.0 / (1.0 + df / t2);
    let a = df / 2.0;
    let p = if x >= (a + 1.0) / (a + 2.5) {
        1.0 - checked_beta_reg(0.5, a, y).context("Student-t tail")?
    } else {
        checked_beta_reg(a, 0.5, x).context("Student-t tail")?
    };
    Ok(p.clamp(0.0, 1.0))
}

fn tail(t: f64, df: f64, alternative: Alternative) -> Result<f64> {
    let two = two_sided(t, df)?;
    // P(T ≥ t) for t ≥ 0 is half the two-sided p; for t < 0 it is 1 − half of it
    let upper = |t: f64| if t >= 0.0 { two / 2.0 } else { 1.0 - two / 2.0 };
    Ok(match alternative {
        Alternative::TwoSided => two,
        Alternative::Less => upper(-t),
        Alternative::Greater => upper(t),
    })
}

/// Mean and sum of squared deviations from it, by two passes (numpy's `var` does the
/// same), with the sum forced to exactly 0 when every value is equal: a constant sample
/// whose mean rounds away from its value would otherwise get a spurious tiny variance.
fn moments(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.iter().all(|&x| x == v[0]) {
        return (mean, 0.0);
    }
    let ss = v.iter().map(|&x| (x - mean) * (x - mean)).sum();
    (mean, ss)
}

/// One-sample t-test of `mean(x) = popmean`, as `scipy.stats.ttest_1samp(x, popmean,
/// alternative=...)`: t = (mean − popmean) / (s/√n) with the ddof=1 SD, df = n − 1.
///
/// Errors: fewer than 2 values, non-finite values, or all values equal (zero variance:
/// scipy would give ±inf or NaN).
pub fn ttest_1samp(x: &[f64], popmean: f64, alternative: Alternative) -> Result<TTest> {
    check::at_least(x.len(), 2, "ttest_1samp")?;
    check::finite(x, "ttest_1samp: the sample")?;
    if !popmean.is_finite() {
        bail!("ttest_1samp: the population mean is {popmean}; it must be finite");
    }
    let n = x.len() as f64;
    let (mean, ss) = moments(x);
    if ss == 0.0 {
        bail!(
            "ttest_1samp: all {} values equal {}: zero variance, the t statistic is undefined",
            x.len(),
            x[0]
        );
    }
    let df = n - 1.0;
    let se = (ss / df / n).sqrt();
    let statistic = (mean - popmean) / se;
    let pvalue = tail(statistic, df, alternative)?;
    Ok(TTest {
        statistic,
        pvalue,
        df,
    })
}

/// Independent two-sample t-test of `mean(x) = mean(y)`, as `scipy.stats.ttest_ind(x,
/// y, equal_var=..., alternative=...)`. Positive t means `x` has the larger mean.
///
/// * `equal_var = true` (Student, scipy's default, the specs' "pooled variance"):
///   s_p² = ((n1−1)s1² + (n2−1)s2²)/(n1+n2−2), t = (m1 − m2)/(s_p √(1/n1 + 1/n2)),
///   df = n1 + n2 − 2.
/// * `equal_var = false` (Welch): t = (m1 − m2)/√(s1²/n1 + s2²/n2) with the
///   Welch–Satterthwaite df (fractional).
///
/// Errors: a group with fewer than 2 values, non-finite values, or both groups constant
/// (zero variance in both: t is 0/0 or ±inf).
pub fn ttest_ind(x: &[f64], y: &[f64], equal_var: bool, alternative: Alternative) -> Result<TTest> {
    check::at_least(x.len(), 2, "ttest_ind: the first group")?;
    check::at_least(y.len(), 2, "ttest_ind: the second group")?;
    check::finite(x, "ttest_ind: the first group")?;
    check::finite(y, "ttest_ind: the second group")?;
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let (m1, ss1) = moments(x);
    let (m2, ss2) = moments(y);
    if ss1 == 0.0 && ss2 == 0.0 {
        bail!(
            "ttest_ind: both groups are constant ({} and {}): zero variance, the t statistic is undefined",
            x[0],
            y[0]
        );
    }
    let (statistic, df) = if equal_var {
        let df = n1 + n2 - 2.0;
        let sp2 = (ss1 + ss2) / df;
        ((m1 - m2) / (sp2 * (1.0 / n1 + 1.0 / n2)).sqrt(), df)
    } else {
        let (a, b) = (ss1 / (n1 - 1.0) / n1, ss2 / (n2 - 1.0) / n2);
        let df = (a + b) * (a + b) / (a * a / (n1 - 1.0) + b * b / (n2 - 1.0));
        ((m1 - m2) / (a + b).sqrt(), df)
    };
    let pvalue = tail(statistic, df, alternative)?;
    Ok(TTest {
        statistic,
        pvalue,
        df,
    })
}

/// Per-column results of [`ttest_ind_columns`].
///
/// A column is *degenerate* when both groups are constant in it (zero pooled variance,
/// where scipy returns NaN or ±inf): its entries are `None`. Every other entry is a
/// finite t and a p value in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnTTests {
    /// t per column (`None` where degenerate); positive means the first group's mean is larger.
    pub statistic: Vec<Option<f64>>,
    /// p value per column (`None` where degenerate).
    pub pvalue: Vec<Option<f64>>,
    /// n1 + n2 − 2, the same for every column.
    pub df: f64,
}

impl ColumnTTests {
    /// The degenerate columns (both groups constant), ascending.
    pub fn degenerate(&self) -> Vec<usize> {
        self.statistic
            .iter()
            .enumerate()
            .filter_map(|(j, t)| t.is_none().then_some(j))
            .collect()
    }

    /// t and p as plain arrays, or an error naming the degenerate columns (drop or
    /// handle them first, e.g. by selecting the columns with `Some`).
    pub fn complete(&self) -> Result<(Array1<f64>, Array1<f64>)> {
        let bad = self.degenerate();
        if !bad.is_empty() {
            let shown: Vec<String> = bad.iter().take(10).map(|j| j.to_string()).collect();
            bail!(
                "{} column(s) are constant in both groups, so their t statistic is undefined: {}{}",
                bad.len(),
                shown.join(", "),
                if bad.len() > 10 { ", ..." } else { "" }
            );
        }
        let t = self.statistic.iter().map(|v| v.unwrap_or(0.0)).collect();
        let p = self.pvalue.iter().map(|v| v.unwrap_or(1.0)).collect();
        Ok((t, p))
    }
}

/// Column means, sums of squared deviations and constancy of a `[n, k]` matrix, reading
/// it row by row (cache-friendly for row-major data): one pass for the sums and the
/// constancy flags, one for the squared deviations. Allocates three k-vectors, nothing
/// per column. A constant column gets a sum of squares of exactly 0 (see [`moments`]).
fn column_moments(a: ArrayView2<f64>) -> (Array1<f64>, Array1<f64>) {
    let (n, k) = a.dim();
    let first = a.row(0);
    let mut sum = Array1::<f64>::zeros(k);
    let mut varies = vec![false; k];
    for row in a.rows() {
        Zip::from(&mut sum)
            .and(&row)
            .and(&first)
            .and(&mut varies[..])
            .for_each(|s, &v, &f, d| {
                *s += v;
                *d |= v != f;
            });
    }
    let mean = sum / n as f64;
    let mut ss = Array1::<f64>::zeros(k);
    for row in a.rows() {
        Zip::from(&mut ss)
            .and(&row)
            .and(&mean)
            .for_each(|s, &v, &m| *s += (v - m) * (v - m));
    }
    Zip::from(&mut ss).and(&varies[..]).for_each(|s, &d| {
        if !d {
            *s = 0.0;
        }
    });
    (mean, ss)
}

fn check_groups_2d(x: ArrayView2<f64>, y: ArrayView2<f64>, what: &str) -> Result<()> {
    if x.ncols() != y.ncols() {
        bail!(
            "{what}: the groups have {} and {} columns; they must hold the same variables",
            x.ncols(),
            y.ncols()
        );
    }
    if x.ncols() == 0 {
        bail!("{what}: the groups have no columns");
    }
    check::at_least(x.nrows(), 2, &format!("{what}: the first group (rows)"))?;
    check::at_least(y.nrows(), 2, &format!("{what}: the second group (rows)"))?;
    check::finite_2d(x, &format!("{what}: the first group"))?;
    check::finite_2d(y, &format!("{what}: the second group"))?;
    Ok(())
}

/// Student's pooled-variance two-sample t-test on every column at once, as
/// `scipy.stats.ttest_ind(x, y, axis=0)` (p44 and p46 run it over every MLP neuron):
/// `x` is `[n1, k]`, `y` is `[n2, k]`, column j of each is one variable.
///
/// Two passes over each matrix's rows, no allocation per column. Columns that are
/// constant in both groups are `None` in the result (see [`ColumnTTests`]); the call
/// itself errors only on mismatched columns, fewer than 2 rows in a group, or
/// non-finite values.
pub fn ttest_ind_columns(
    x: ArrayView2<f64>,
    y: ArrayView2<f64>,
    alternative: Alternative,
) -> Result<ColumnTTests> {
    check_groups_2d(x, y, "ttest_ind_columns")?;
    let (n1, n2) = (x.nrows() as f64, y.nrows() as f64);
    let df = n1 + n2 - 2.0;
    check_df(df)?;
    let (m1, ss1) = column_moments(x);
    let (m2, ss2) = column_moments(y);
    let scale = 1.0 / n1 + 1.0 / n2;
    let k = x.ncols();
    let mut statistic = Vec::with_capacity(k);
    let mut pvalue = Vec::with_capacity(k);
    for j in 0..k {
        let ss = ss1[j] + ss2[j];
        if ss == 0.0 {
            statistic.push(None);
            pvalue.push(None);
        } else {
            let t = (m1[j] - m2[j]) / (ss / df * scale).sqrt();
            statistic.push(Some(t));
            pvalue.push(Some(tail(t, df, alternative)?));
        }
    }
    Ok(ColumnTTests {
        statistic,
        pvalue,
        df,
    })
}

/// Cohen's d as p44 defines it: (mean(x) − mean(y)) / s_p with the pooled SD
/// s_p = √(((n1−1)s1² + (n2−1)s2²)/(n1+n2−2)) and ddof=1 variances. Then the pooled
/// t statistic is t = d·√(n1·n2/(n1+n2)).
///
/// Errors: a group with fewer than 2 values, non-finite values, or zero pooled variance.
pub fn cohens_d(x: &[f64], y: &[f64]) -> Result<f64> {
    check::at_least(x.len(), 2, "cohens_d: the first group")?;
    check::at_least(y.len(), 2, "cohens_d: the second group")?;
    check::finite(x, "cohens_d: the first group")?;
    check::finite(y, "cohens_d: the second group")?;
    let (m1, ss1) = moments(x);
    let (m2, ss2) = moments(y);
    if ss1 + ss2 == 0.0 {
        bail!(
            "cohens_d: both groups are constant ({} and {}): the pooled SD is 0, d is undefined",
            x[0],
            y[0]
        );
    }
    let df = (x.len() + y.len() - 2) as f64;
    Ok((m1 - m2) / ((ss1 + ss2) / df).sqrt())
}

/// [`cohens_d`] for every column of `x` `[n1, k]` against `y` `[n2, k]`; `None` where
/// both groups are constant in a column (zero pooled SD).
pub fn cohens_d_columns(x: ArrayView2<f64>, y: ArrayView2<f64>) -> Result<Vec<Option<f64>>> {
    check_groups_2d(x, y, "cohens_d_columns")?;
    let df = (x.nrows() + y.nrows() - 2) as f64;
    let (m1, ss1) = column_moments(x);
    let (m2, ss2) = column_moments(y);
    Ok((0..x.ncols())
        .map(|j| {
            let ss = ss1[j] + ss2[j];
            (ss > 0.0).then(|| (m1[j] - m2[j]) / (ss / df).sqrt())
        })
        .collect())
}

/// McNemar's test result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemar {
    /// (|b − c| − 1)² / (b + c); 0 when b + c = 0.
    pub statistic: f64,
    /// Chi-square (1 df) survival function of the statistic; 1 when b + c = 0.
    pub pvalue: f64,
    /// Discordant pairs: `table[0][1]`.
    pub b: u64,
    /// Discordant pairs: `table[1][0]`.
    pub c: u64,
}

/// McNemar's chi-square test with continuity correction on a 2×2 table of paired
/// outcomes, as statsmodels `mcnemar(table, exact=False, correction=True)` (p22):
/// statistic (|b − c| − 1)²/(b + c) with b = `table[0][1]`, c = `table[1][0]`, p from
/// the chi-square distribution with 1 df. Like statsmodels, |b − c| − 1 is not clipped
/// at 0 (b = c = 5 gives 0.1, as p22's check expects). p22 asks for the chi-square
/// version only ("no exact binomial"), so the exact test is not provided.
///
/// b + c = 0 (no discordant pairs): statsmodels divides by zero and reports statistic
/// inf and p 0, which claims a certain difference where there is no evidence of one;
/// this function returns statistic 0 and p 1 instead (p22 allows "NaN or p = 1,
/// documented").
pub fn mcnemar(table: [[u64; 2]; 2]) -> Result<McNemar> {
    let (b, c) = (table[0][1], table[1][0]);
    if b + c == 0 {
        return Ok(McNemar {
            statistic: 0.0,
            pvalue: 1.0,
            b,
            c,
        });
    }
    let diff = (b as f64 - c as f64).abs() - 1.0;
    let statistic = diff * diff / (b + c) as f64;
    // statrs's ChiSquared::sf (the upper regularised gamma function) matches scipy's
    // chi2.sf to ~1e-15 relative here; erfc(√(x/2)) through statrs's erfc is only good to
    // ~1e-10 relative, so it is not used.
    let pvalue = ChiSquared::new(1.0)
        .context("chi-square distribution with 1 df")?
        .sf(statistic);
    Ok(McNemar {
        statistic,
        pvalue,
        b,
        c,
    })
}

/// [`mcnemar`] from two classifiers' per-item correctness (p22: `acc[i]` and `acc[j]`):
/// the table is `[[both right, first right & second wrong], [first wrong & second
/// right, both wrong]]`, so b counts items only the first got right and c items only
/// the second got right.
pub fn mcnemar_paired(first: &[bool], second: &[bool]) -> Result<McNemar> {
    if first.len() != second.len() {
        bail!(
            "mcnemar_paired: the classifiers were scored on {} and {} items; they must be the same items",
            first.len(),
            second.len()
        );
    }
    check::at_least(first.len(), 1, "mcnemar_paired")?;
    let mut t = [[0u64; 2]; 2];
    for (&a, &b) in first.iter().zip(second) {
        t[usize::from(!a)][usize::from(!b)] += 1;
    }
    mcnemar(t)
}

fn check_pvalues(ps: &[f64], what: &str) -> Result<()> {
    check::at_least(ps.len(), 1, what)?;
    if let Some((i, p)) = ps
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=1.0).contains(*p))
    {
        bail!("{what}: p value {p} at index {i} is not in [0, 1] (NaN or not a p value)");
    }
    Ok(())
}

fn check_level(alpha: f64, what: &str) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("{what}: the significance level must lie strictly between 0 and 1, got {alpha}");
    }
    Ok(())
}

/// Bonferroni-adjusted p values min(m·p, 1), as statsmodels `multipletests(ps,
/// method="bonferroni")[1]`.
pub fn bonferroni(ps: &[f64]) -> Result<Vec<f64>> {
    check_pvalues(ps, "bonferroni")?;
    let m = ps.len() as f64;
    Ok(ps.iter().map(|&p| (p * m).min(1.0)).collect())
}

/// The specs' Bonferroni rule: p < α/m, with m = `ps.len()` (p22: p < 0.05/6; p44:
/// p < 0.05/3072). Compared with the threshold, not with m·p, exactly as the specs say.
pub fn bonferroni_significant(ps: &[f64], alpha: f64) -> Result<Vec<bool>> {
    check_pvalues(ps, "bonferroni_significant")?;
    check_level(alpha, "bonferroni_significant")?;
    let threshold = alpha / ps.len() as f64;
    Ok(ps.iter().map(|&p| p < threshold).collect())
}

/// Benjamini–Hochberg adjusted p values, exactly as scipy
/// `false_discovery_control(ps, method="bh")`: sort ascending, multiply the i-th
/// smallest (1-based) by m/i, take the running minimum from the largest down, put back
/// in the input order and clip to [0, 1]. The adjusted values are ≥ the raw ones and
/// monotone in their rank; ties get equal adjusted values.
pub fn benjamini_hochberg(ps: &[f64]) -> Result<Vec<f64>> {
    check_pvalues(ps, "benjamini_hochberg")?;
    let m = ps.len();
    let mut order: Vec<usize> = (0..m).collect();
    // every value is in [0, 1], so total_cmp is the numeric order
    order.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
    let mut adjusted = vec![0.0; m];
    let mut running = f64::INFINITY;
    for (rank, &idx) in order.iter().enumerate().rev() {
        // scipy computes ps * (m / i): the same rounding
        let v = ps[idx] * (m as f64 / (rank + 1) as f64);
        running = running.min(v);
        adjusted[idx] = running.clamp(0.0, 1.0);
    }
    Ok(adjusted)
}

/// The hypotheses BH rejects at false-discovery rate `q`, with the specs' rule
/// (p44, p46): BH-adjusted p < q. (statsmodels' `multipletests(method="fdr_bh")` uses
/// ≤; the two differ only when an adjusted p equals q exactly, e.g. p44's check list
/// [0.01, …, 0.05] whose adjusted values are all 0.05.)
pub fn bh_significant(ps: &[f64], q: f64) -> Result<Vec<bool>> {
    check_level(q, "bh_significant")?;
    Ok(benjamini_hochberg(ps)?.into_iter().map(|p| p < q).collect())
}

/// Fisher's z transform arctanh(r) (p38 applies it to cosine similarities).
/// Errors for |r| ≥ 1 (infinite or undefined) and NaN: clamp similarities of identical
/// vectors first if that is what the analysis wants.
pub fn fisher_z(r: f64) -> Result<f64> {
    if !(r > -1.0 && r < 1.0) {
        bail!("fisher_z: r = {r}; arctanh needs -1 < r < 1 (±1 maps to ±inf)");
    }
    Ok(r.atanh())
}

/// [`fisher_z`] of every value; the error names the first offending index.
pub fn fisher_z_all(rs: &[f64]) -> Result<Vec<f64>> {
    rs.iter()
        .enumerate()
        .map(|(i, &r)| fisher_z(r).with_context(|| format!("fisher_z_all: value at index {i}")))
        .collect()
}

/// How [`permutation_test`] turns the null distribution into a one-sided p value
/// (large statistics are extreme; negate the statistic for the other tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermutationP {
    /// p37: (number of null values strictly greater than the observed) / n_perm. Can be 0.
    StrictlyGreater,
    /// (number of null values ≥ observed + 1) / (n_perm + 1), the observed labelling
    /// counted as one permutation (Phipson & Smyth 2010; scipy `permutation_test`'s
    /// convention). Never 0.
    AtLeastPlusOne,
}

/// The outcome of [`permutation_test`].
#[derive(Debug, Clone, PartialEq)]
pub struct PermutationTest {
    /// The statistic on the original labels.
    pub observed: f64,
    /// The statistic on each permuted labelling, in the order drawn.
    pub null: Vec<f64>,
    /// The p value by the rule asked for.
    pub pvalue: f64,
}

impl PermutationTest {
    /// (observed − mean(null)) / sd(null), with the population SD (ddof = 0, numpy's
    /// `np.std` default). Errors when the null distribution is constant.
    pub fn zscore(&self) -> Result<f64> {
        let (mean, ss) = moments(&self.null);
        if ss == 0.0 {
            bail!("permutation z-score: every permuted statistic equals {mean}, the null SD is 0");
        }
        Ok((self.observed - mean) / (ss / self.null.len() as f64).sqrt())
    }
}

/// Label-permutation test: `statistic(labels)` on the original labels, then on
/// `n_perm` random shuffles of them (each a uniform permutation, so every group keeps
/// its size), and the p value by `rule`. p37 shuffles its boolean correct/incorrect
/// vector 1,000 times and uses [`PermutationP::StrictlyGreater`].
///
/// The shuffles come from `StdRng::seed_from_u64(seed)` (rand 0.9): the same seed gives
/// the same null distribution (numpy's permutations cannot be reproduced, so values
/// match the notebooks only in distribution). The closure's errors are passed on;
/// a non-finite statistic is an error.
pub fn permutation_test<T, F>(
    labels: &[T],
    n_perm: usize,
    seed: u64,
    rule: PermutationP,
    mut statistic: F,
) -> Result<PermutationTest>
where
    T: Clone,
    F: FnMut(&[T]) -> Result<f64>,
{
    check::at_least(labels.len(), 2, "permutation_test: the labels")?;
    check::at_least(n_perm, 1, "permutation_test: the number of permutations")?;
    let observed =
        statistic(labels).context("permutation_test: statistic on the original labels")?;
    if !observed.is_finite() {
        bail!("permutation_test: the statistic on the original labels is {observed}");
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut shuffled = labels.to_vec();
    let mut null = Vec::with_capacity(n_perm);
    for i in 0..n_perm {
        shuffled.shuffle(&mut rng);
        let s = statistic(&shuffled)
            .with_context(|| format!("permutation_test: statistic on permutation {i}"))?;
        if !s.is_finite() {
            bail!("permutation_test: the statistic on permutation {i} is {s}");
        }
        null.push(s);
    }
    let pvalue = match rule {
        PermutationP::StrictlyGreater => {
            null.iter().filter(|&&s| s > observed).count() as f64 / n_perm as f64
        }
        PermutationP::AtLeastPlusOne => {
            (null.iter().filter(|&&s| s >= observed).count() + 1) as f64 / (n_perm + 1) as f64
        }
    };
    Ok(PermutationTest {
        observed,
        null,
        pvalue,
    })
}
