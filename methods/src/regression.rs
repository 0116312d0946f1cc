//! Ordinary least squares with an intercept, as statsmodels computes it:
//! `sm.OLS(y, sm.add_constant(X)).fit()`, its statistics and its `summary()` text.
//!
//! No Rust crate computes statsmodels' result set (linfa-linear gives coefficients only),
//! so the statistics are written out here from statsmodels' formulas; the linear algebra
//! is nalgebra's: a Householder QR of the design `[1, X]` solves the least-squares
//! problem (β = R⁻¹Qᵀy, (XᵀX)⁻¹ = R⁻¹R⁻ᵀ) without forming the normal equations, and
//! nalgebra's symmetric eigen-decomposition of XᵀX gives the condition number exactly
//! as statsmodels takes it (`sqrt(λmax / λmin)` of `eigvalsh(XᵀX)`). Distribution tails
//! come from statrs. Where statsmodels silently returns a minimum-norm solution
//! (`pinv`) for a rank-deficient design, this module refuses and names the column.
//!
//! ```
//! use methods::regression::ols1;
//! use ndarray::array;
//! let x = array![0.0, 1.0, 2.0, 3.0, 4.0];
//! let y = array![2.1, 1.4, 1.1, 0.4, 0.1];
//! let fit = ols1(x.view(), y.view()).unwrap();
//! assert!((fit.params[1] + 0.5).abs() < 0.05); // slope
//! println!("{}", fit.summary());
//! ```

use crate::check;
use anyhow::{bail, Context, Result};
use nalgebra::{DMatrix, DVector};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use statrs::distribution::{ContinuousCDF, FisherSnedecor, StudentsT};

/// An OLS fit with intercept. Vectors over parameters are ordered `[const, x1, …, xp]`
/// (statsmodels' order after `add_constant`); field names follow statsmodels'
/// `RegressionResults`.
#[derive(Clone, Debug)]
pub struct Ols {
    /// Coefficients, intercept first.
    pub params: Array1<f64>,
    /// Standard errors `sqrt(diag(σ̂² (XᵀX)⁻¹))`.
    pub bse: Array1<f64>,
    /// t statistics `params / bse`.
    pub tvalues: Array1<f64>,
    /// Two-sided p values from the t distribution with `df_resid` degrees of freedom.
    pub pvalues: Array1<f64>,
    /// 95% confidence intervals, `[p + 1, 2]`: `params ∓ t₀.₉₇₅(df_resid) · bse`.
    pub conf_int: Array2<f64>,
    /// `σ̂² (XᵀX)⁻¹`, `[p + 1, p + 1]`.
    pub cov_params: Array2<f64>,
    /// R² = 1 − RSS / TSS (centred).
    pub rsquared: f64,
    /// 1 − (n − 1) / (n − p − 1) · (1 − R²).
    pub rsquared_adj: f64,
    /// F statistic of all slopes being zero: (ESS / p) / (RSS / (n − p − 1)).
    pub fvalue: f64,
    /// Its p value (upper tail of F(p, n − p − 1)).
    pub f_pvalue: f64,
    /// Gaussian log-likelihood at the fit, −n/2 · (ln 2π + ln(RSS / n) + 1).
    pub llf: f64,
    /// −2 llf + 2 (p + 1).
    pub aic: f64,
    /// −2 llf + ln(n) (p + 1).
    pub bic: f64,
    /// Residual sum of squares.
    pub ssr: f64,
    /// Explained sum of squares, TSS − RSS.
    pub ess: f64,
    /// Centred total sum of squares Σ(y − ȳ)².
    pub centered_tss: f64,
    /// σ̂² = RSS / (n − p − 1).
    pub scale: f64,
    /// y − ŷ.
    pub resid: Array1<f64>,
    /// ŷ = [1, X] β.
    pub fittedvalues: Array1<f64>,
    /// Number of observations n.
    pub nobs: usize,
    /// p, the number of predictors (the intercept not counted).
    pub df_model: usize,
    /// n − p − 1.
    pub df_resid: usize,
    /// Residual diagnostics of the summary's bottom table; `None` for an exact fit
    /// (RSS = 0), where skewness, kurtosis and Durbin–Watson are 0/0.
    pub diagnostics: Option<Diagnostics>,
    /// `sqrt(λmax / λmin)` of the eigenvalues of XᵀX (statsmodels' `condition_number`).
    pub condition_number: f64,
    /// The smallest eigenvalue of XᵀX (statsmodels' `eigenvals[-1]`).
    pub min_eigenvalue: f64,
}

/// The residual statistics of statsmodels' summary (bottom table).
#[derive(Clone, Debug)]
pub struct Diagnostics {
    /// D'Agostino–Pearson K² of the residuals (`scipy.stats.normaltest`); `None` for
    /// fewer than 8 observations, where statsmodels prints `nan`.
    pub omnibus: Option<f64>,
    /// Its p value (χ² with 2 df).
    pub omnibus_pvalue: Option<f64>,
    /// Sample skewness of the residuals (biased, as `scipy.stats.skew`).
    pub skew: f64,
    /// Sample kurtosis (Pearson, normal = 3; biased).
    pub kurtosis: f64,
    /// Jarque–Bera statistic n/6 · (S² + (K − 3)²/4).
    pub jarque_bera: f64,
    /// Its p value (χ² with 2 df).
    pub jb_pvalue: f64,
    /// Σ(eₜ − eₜ₋₁)² / Σeₜ².
    pub durbin_watson: f64,
}

/// Fits `y = β₀ + X β + ε` by least squares. `x: [n, p]` (no constant column: the
/// intercept is added, as `sm.add_constant` does), `y: [n]`.
///
/// Errors: non-finite input; fewer than `p + 2` rows (no residual degree of freedom);
/// a constant column or one that is a linear combination of the intercept and other
/// columns (the error names it); a constant `y` (R² undefined).
pub fn ols(x: ArrayView2<f64>, y: ArrayView1<f64>) -> Result<Ols> {
    let (n, p) = x.dim();
    check::rows_match(n, y.len(), 0, "OLS")?;
    if p == 0 {
        bail!("OLS: x has no columns; pass at least one predictor (the intercept is added)");
    }
    if n < p + 2 {
        bail!(
            "OLS with an intercept and {p} predictor(s) needs at least {} samples \
             (n − p − 1 ≥ 1 residual degree of freedom), got {n}",
            p + 2
        );
    }
    check::finite_2d(x, "OLS: x")?;
    check::finite_1d(y, "OLS: y")?;
    if let Some(&j) = check::constant_columns(x).first() {
        bail!(
            "OLS: column {j} of x (x{} in the summary) is constant, so it duplicates the \
             intercept and the design is singular: drop it",
            j + 1
        );
    }
    let k = p + 1;
    let design = DMatrix::from_fn(n, k, |i, j| if j == 0 { 1.0 } else { x[[i, j - 1]] });
    let qr = design.clone().qr();
    let r = qr.r();
    check_rank(&design, &r)?;

    let mut qty = DVector::from_iterator(n, y.iter().copied());
    qr.q_tr_mul(&mut qty);
    let qty = qty.rows(0, k).into_owned();
    let beta = r
        .solve_upper_triangular(&qty)
        .context("OLS: the design matrix is singular")?;
    let r_inv = r
        .solve_upper_triangular(&DMatrix::identity(k, k))
        .context("OLS: the design matrix is singular")?;
    let normalized_cov = &r_inv * r_inv.transpose();

    let fitted_v = &design * &beta;
    let fittedvalues = Array1::from_iter(fitted_v.iter().copied());
    let resid = &y - &fittedvalues;
    let ssr = resid.dot(&resid);
    let ybar = y.sum() / n as f64;
    let centered_tss: f64 = y.iter().map(|v| (v - ybar) * (v - ybar)).sum();
    if centered_tss == 0.0 {
        bail!("OLS: y is constant ({ybar}), so R² and the F test are undefined");
    }
    let df_resid = n - k;
    let df_model = p;
    let scale = ssr / df_resid as f64;
    let ess = centered_tss - ssr;
    let rsquared = 1.0 - ssr / centered_tss;
    let rsquared_adj = 1.0 - (n - 1) as f64 / df_resid as f64 * (1.0 - rsquared);
    let fvalue = (ess / df_model as f64) / (ssr / df_resid as f64);
    let f_pvalue = FisherSnedecor::new(df_model as f64, df_resid as f64)
        .context("OLS: F distribution")?
        .sf(fvalue);
    let nobs2 = n as f64 / 2.0;
    let llf = -ssr.ln() * nobs2 - (1.0 + (std::f64::consts::PI / nobs2).ln()) * nobs2;
    let aic = -2.0 * llf + 2.0 * k as f64;
    let bic = -2.0 * llf + (n as f64).ln() * k as f64;

    let params = Array1::from_iter(beta.iter().copied());
    let cov_params = Array2::from_shape_fn((k, k), |(i, j)| normalized_cov[(i, j)] * scale);
    let bse = cov_params.diag().mapv(f64::sqrt);
    let tvalues = &params / &bse;
    // An exact fit (RSS = 0) makes bse 0: t = ±inf is a limit, but 0/0 has no value
    // (and statrs' incomplete beta panics on NaN).
    if let Some(j) = tvalues.iter().position(|t| t.is_nan()) {
        bail!(
            "OLS: the fit is exact (RSS = {ssr}) and coefficient {j} is {}, so its t \
             statistic is 0/0; the statistics need data with noise (or drop that predictor)",
            params[j]
        );
    }
    let tdist = StudentsT::new(0.0, 1.0, df_resid as f64).context("OLS: t distribution")?;
    let pvalues = tvalues.mapv(|t| 2.0 * tdist.sf(t.abs()));
    // statrs' quantile is within ~3e-13 of scipy's t.ppf here (checked for 1..2498 df).
    let q = tdist.inverse_cdf(0.975);
    let mut conf_int = Array2::zeros((k, 2));
    for i in 0..k {
        conf_int[[i, 0]] = params[i] - q * bse[i];
        conf_int[[i, 1]] = params[i] + q * bse[i];
    }

    let xtx = design.transpose() * &design;
    let eig = xtx.symmetric_eigenvalues();
    let (lmax, lmin) = eig
        .iter()
        .fold((f64::NEG_INFINITY, f64::INFINITY), |(a, b), &v| {
            (a.max(v), b.min(v))
        });
    let condition_number = (lmax / lmin).sqrt();
    let diagnostics = (ssr > 0.0).then(|| diagnostics(resid.view()));

    let fit = Ols {
        params,
        bse,
        tvalues,
        pvalues,
        conf_int,
        cov_params,
        rsquared,
        rsquared_adj,
        fvalue,
        f_pvalue,
        llf,
        aic,
        bic,
        ssr,
        ess,
        centered_tss,
        scale,
        resid,
        fittedvalues,
        nobs: n,
        df_model,
        df_resid,
        diagnostics,
        condition_number,
        min_eigenvalue: lmin,
    };
    Ok(fit)
}

/// [`ols`] with a single predictor `x: [n]`.
pub fn ols1(x: ArrayView1<f64>, y: ArrayView1<f64>) -> Result<Ols> {
    ols(x.insert_axis(Axis(1)), y)
}

/// Refuses a design whose column j (of `[1, X]`) lies in the span of the columns
/// before it: |R_jj| is that column's distance from the span, compared with its norm.
fn check_rank(design: &DMatrix<f64>, r: &DMatrix<f64>) -> Result<()> {
    let (n, k) = design.shape();
    let tol = 10.0 * n.max(k) as f64 * f64::EPSILON;
    let norms: Vec<f64> = (0..k).map(|j| design.column(j).norm()).collect();
    for j in 1..k {
        if r[(j, j)].abs() > tol * norms[j] {
            continue;
        }
        // x_j ≈ [1, X]_{<j} c with c = R_{<j,<j}⁻¹ R_{<j,j}: name the columns that take part.
        let head = r.view((0, 0), (j, j)).into_owned();
        let rhs = r.view((0, j), (j, 1)).into_owned();
        let c = head.solve_upper_triangular(&rhs).unwrap_or(rhs);
        let parts: Vec<String> = (0..j)
            .filter(|&i| (c[i] * norms[i]).abs() > 1e-8 * norms[j])
            .map(|i| {
                if i == 0 {
                    "the intercept".to_string()
                } else {
                    format!("column {}", i - 1)
                }
            })
            .collect();
        let with = if parts.is_empty() {
            "the columns before it".to_string()
        } else {
            parts.join(", ")
        };
        bail!(
            "OLS: column {} of x (x{j} in the summary) is a linear combination of {with}, so \
             the design is rank-deficient (singular XᵀX): drop or combine it",
            j - 1
        );
    }
    Ok(())
}

/// Central moment of order `k` (population normalisation, as scipy's `moment`).
fn moment(e: ArrayView1<f64>, mean: f64, k: i32) -> f64 {
    e.iter().map(|v| (v - mean).powi(k)).sum::<f64>() / e.len() as f64
}

fn diagnostics(e: ArrayView1<f64>) -> Diagnostics {
    let n = e.len() as f64;
    let mean = e.sum() / n;
    let m2 = moment(e, mean, 2);
    let skew = moment(e, mean, 3) / m2.powf(1.5);
    let kurtosis = 3.0 + (moment(e, mean, 4) / (m2 * m2) - 3.0);
    let jarque_bera = n / 6.0 * (skew * skew + 0.25 * (kurtosis - 3.0).powi(2));
    let jb_pvalue = (-jarque_bera / 2.0).exp();
    let diff: f64 = e
        .windows(2)
        .into_iter()
        .map(|w| (w[1] - w[0]).powi(2))
        .sum();
    let durbin_watson = diff / e.dot(&e);
    let omnibus = (e.len() >= 8).then(|| {
        let zs = skewtest_z(skew, n);
        let zk = kurtosistest_z(kurtosis, n);
        zs * zs + zk * zk
    });
    Diagnostics {
        omnibus,
        omnibus_pvalue: omnibus.map(|k2| (-k2 / 2.0).exp()),
        skew,
        kurtosis,
        jarque_bera,
        jb_pvalue,
        durbin_watson,
    }
}

/// `scipy.stats.skewtest`'s Z from the sample skewness `b2` (D'Agostino 1970).
fn skewtest_z(b2: f64, n: f64) -> f64 {
    let mut y = b2 * (((n + 1.0) * (n + 3.0)) / (6.0 * (n - 2.0))).sqrt();
    let beta2 = 3.0 * (n * n + 27.0 * n - 70.0) * (n + 1.0) * (n + 3.0)
        / ((n - 2.0) * (n + 5.0) * (n + 7.0) * (n + 9.0));
    let w2 = -1.0 + (2.0 * (beta2 - 1.0)).sqrt();
    let delta = 1.0 / (0.5 * w2.ln()).sqrt();
    let alpha = (2.0 / (w2 - 1.0)).sqrt();
    if y == 0.0 {
        y = 1.0;
    }
    delta * (y / alpha + ((y / alpha).powi(2) + 1.0).sqrt()).ln()
}

/// `scipy.stats.kurtosistest`'s Z from the Pearson kurtosis `b2` (Anscombe–Glynn 1983).
fn kurtosistest_z(b2: f64, n: f64) -> f64 {
    let e = 3.0 * (n - 1.0) / (n + 1.0);
    let varb2 = 24.0 * n * (n - 2.0) * (n - 3.0) / ((n + 1.0) * (n + 1.0) * (n + 3.0) * (n + 5.0));
    let x = (b2 - e) / varb2.sqrt();
    let sqrtbeta1 = 6.0 * (n * n - 5.0 * n + 2.0) / ((n + 7.0) * (n + 9.0))
        * ((6.0 * (n + 3.0) * (n + 5.0)) / (n * (n - 2.0) * (n - 3.0))).sqrt();
    let a =
        6.0 + 8.0 / sqrtbeta1 * (2.0 / sqrtbeta1 + (1.0 + 4.0 / (sqrtbeta1 * sqrtbeta1)).sqrt());
    let term1 = 1.0 - 2.0 / (9.0 * a);
    let denom = 1.0 + x * (2.0 / (a - 4.0)).sqrt();
    let term2 = denom.signum() * ((1.0 - 2.0 / a) / denom.abs()).powf(1.0 / 3.0);
    (term1 - term2) / (2.0 / (9.0 * a)).sqrt()
}

impl Ols {
    /// ŷ for new rows `x: [m, p]` (same predictors as the fit, no constant column).
    pub fn predict(&self, x: ArrayView2<f64>) -> Result<Array1<f64>> {
        if x.ncols() != self.df_model {
            bail!(
                "OLS predict: x has {} columns but the model was fitted on {}",
                x.ncols(),
                self.df_model
            );
        }
        check::finite_2d(x, "OLS predict: x")?;
        Ok(x.dot(&self.params.slice(ndarray::s![1..])) + self.params[0])
    }

    /// statsmodels' `summary()` text with its default names (`y`; `const`, `x1`, …) and
    /// the current time (UTC) in the Date/Time rows.
    pub fn summary(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.render(None, None, now)
    }

    /// The summary with a dependent-variable name, parameter names (`xname`: one per
    /// parameter, intercept first, as statsmodels' `summary(xname=…)`) and, for a
    /// reproducible text, the Unix time printed in the Date/Time rows (UTC).
    pub fn summary_with(
        &self,
        yname: Option<&str>,
        xname: Option<&[&str]>,
        unix_time: Option<u64>,
    ) -> Result<String> {
        if let Some(names) = xname {
            if names.len() != self.params.len() {
                bail!(
                    "OLS summary: {} parameter names given for {} parameters (intercept first)",
                    names.len(),
                    self.params.len()
                );
            }
        }
        let when = match unix_time {
            Some(t) => t,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        Ok(self.render(yname, xname, when))
    }

    fn render(&self, yname: Option<&str>, xname: Option<&[&str]>, unix_time: u64) -> String {
        let yname = yname.unwrap_or("y");
        let names: Vec<String> = match xname {
            Some(v) => v.iter().map(|s| s.to_string()).collect(),
            None => std::iter::once("const".to_string())
                .chain((1..=self.df_model).map(|j| format!("x{j}")))
                .collect(),
        };
        let (date, time) = utc_date_time(unix_time);
        let s = |v: &str| v.to_string();
        let left = [
            (s("Dep. Variable:"), s(yname)),
            (s("Model:"), s("OLS")),
            (s("Method:"), s("Least Squares")),
            (s("Date:"), date),
            (s("Time:"), time),
            (s("No. Observations:"), format!("{:>6}", self.nobs)),
            (s("Df Residuals:"), format!("{:>6}", self.df_resid)),
            (s("Df Model:"), format!("{:>6}", self.df_model)),
            (s("Covariance Type:"), s("nonrobust")),
        ];
        let right = [
            (s("R-squared:"), fmt_f(self.rsquared, 8, 3)),
            (s("Adj. R-squared:"), fmt_f(self.rsquared_adj, 8, 3)),
            (s("F-statistic:"), fmt_g(self.fvalue, 8, 4, true)),
            (s("Prob (F-statistic):"), fmt_g(self.f_pvalue, 6, 3, true)),
            (s("Log-Likelihood:"), fmt_g(self.llf, 8, 5, true)),
            (s("AIC:"), fmt_g(self.aic, 8, 4, true)),
            (s("BIC:"), fmt_g(self.bic, 8, 4, true)),
        ];
        let top = two_column_table(&left, &right);
        let top_len = top.last().map_or(0, |l| l.chars().count());

        let header = ["", "coef", "std err", "t", "P>|t|", "[0.025", "0.975]"].map(s);
        let mut rows = vec![header];
        for (i, name) in names.iter().enumerate() {
            rows.push([
                name.clone(),
                forg(self.params[i], 4),
                forg(self.bse[i], 3),
                format!("{:>8}", forg(self.tvalues[i], 3)),
                fmt_f(self.pvalues[i], 6, 3),
                format!("{:>11}", forg(self.conf_int[[i, 0]], 3)),
                format!("{:>11}", forg(self.conf_int[[i, 1]], 3)),
            ]);
        }
        let params = simple_table(&rows, &[10; 7]);
        let params_len = params.last().map_or(0, |l| l.chars().count());

        let nan = || s("nan");
        let d = self.diagnostics.as_ref();
        let g = |f: fn(&Diagnostics) -> Option<f64>, w: usize| {
            d.and_then(f).map_or_else(nan, |v| fmt_f(v, w, 3))
        };
        let dleft = [
            (s("Omnibus:"), g(|d| d.omnibus, 6)),
            (s("Prob(Omnibus):"), g(|d| d.omnibus_pvalue, 6)),
            (s("Skew:"), g(|d| Some(d.skew), 6)),
            (s("Kurtosis:"), g(|d| Some(d.kurtosis), 6)),
        ];
        let dright = [
            (s("Durbin-Watson:"), g(|d| Some(d.durbin_watson), 8)),
            (s("Jarque-Bera (JB):"), g(|d| Some(d.jarque_bera), 8)),
            (
                s("Prob(JB):"),
                d.map_or_else(nan, |d| fmt_g(d.jb_pvalue, 8, 3, true)),
            ),
            (s("Cond. No."), fmt_g(self.condition_number, 8, 3, true)),
        ];
        let diag = two_column_table(&dleft, &dright);
        let diag_len = diag.last().map_or(0, |l| l.chars().count());

        let mut out = vec![center("OLS Regression Results", top_len)];
        out.push("=".repeat(top_len));
        out.extend(top);
        out.push("=".repeat(params_len));
        out.push(params[0].clone());
        out.push("-".repeat(params[0].chars().count()));
        out.extend(params[1..].iter().cloned());
        out.push("=".repeat(diag_len));
        out.extend(diag);
        out.push("=".repeat(diag_len));
        let mut text = out.join("\n");
        text.push_str("\n\nNotes:\n[1] Standard Errors assume that the covariance matrix of the errors is correctly specified.");
        if self.min_eigenvalue < 1e-10 {
            text.push_str(&format!(
                "\n[2] The smallest eigenvalue is {}. This might indicate that there are\n\
                 strong multicollinearity problems or that the design matrix is singular.",
                fmt_g(self.min_eigenvalue, 6, 3, false)
            ));
        } else if self.condition_number > 1000.0 {
            text.push_str(&format!(
                "\n[2] The condition number is large, {}. This might indicate that there are\n\
                 strong multicollinearity or other numerical problems.",
                fmt_g(self.condition_number, 6, 3, false)
            ));
        }
        text
    }
}

/// statsmodels' two-column header table (`fmt_2cols`): stub columns left-aligned, value
/// columns `%18s` right-aligned, right-hand stubs prefixed by two spaces and padded to
/// 21, every column at least 18 wide; the shorter side is padded with blank rows.
fn two_column_table(left: &[(String, String)], right: &[(String, String)]) -> Vec<String> {
    let rows_n = left.len().max(right.len());
    let blank = (" ".to_string(), " ".to_string());
    let mut rows = Vec::with_capacity(rows_n);
    for i in 0..rows_n {
        let (ls, lv) = left.get(i).unwrap_or(&blank);
        let (rs, rv) = right.get(i).unwrap_or(&blank);
        rows.push([
            ls.clone(),
            format!("{lv:>18}"),
            format!("{:<21}", format!("  {rs}")),
            format!("{rv:>18}"),
        ]);
    }
    simple_table(&rows, &[18; 4])
}

/// statsmodels' `SimpleTable` text rows: each column as wide as its widest cell (at
/// least `min_width`), the first column left-aligned, the others right-aligned, one
/// space between columns.
fn simple_table<const C: usize>(rows: &[[String; C]], min_width: &[usize; C]) -> Vec<String> {
    let mut width = *min_width;
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(j, cell)| {
                    if j == 0 {
                        format!("{cell:<w$}", w = width[j])
                    } else {
                        format!("{cell:>w$}", w = width[j])
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Python's `str.center` (CPython puts the odd space on the left when the width is odd).
fn center(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if len >= width {
        return s.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    format!("{}{s}{}", " ".repeat(left), " ".repeat(marg - left))
}

/// statsmodels' `forg`: fixed decimals in [1e-4, 1e4), `%g` outside, width 9 (prec 3)
/// or 10 (prec 4).
fn forg(x: f64, prec: usize) -> String {
    let width = if prec == 3 { 9 } else { 10 };
    if x.abs() >= 1e4 || x.abs() < 1e-4 {
        fmt_g(x, width, prec, false)
    } else {
        fmt_f(x, width, prec)
    }
}

/// Python's non-finite spelling.
fn non_finite(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("nan".into())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" }.into())
    } else {
        None
    }
}

/// Python's `f"{x:{width}.{prec}f}"`.
fn fmt_f(x: f64, width: usize, prec: usize) -> String {
    let body = non_finite(x).unwrap_or_else(|| format!("{x:.prec$}"));
    format!("{body:>width$}")
}

/// Python's `f"{x:{width}.{prec}g}"`, or with `alternate` the `#` form that keeps
/// trailing zeros and the decimal point. Rust has no `%g`; both round correctly.
fn fmt_g(x: f64, width: usize, prec: usize, alternate: bool) -> String {
    let body = non_finite(x).unwrap_or_else(|| {
        let p = prec.max(1);
        let sci = format!("{:.*e}", p - 1, x);
        let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let (mut digits, tail) = if exp >= -4 && exp < p as i32 {
            let decimals = (p as i32 - 1 - exp) as usize;
            (format!("{x:.decimals$}"), String::new())
        } else {
            let sign = if exp < 0 { '-' } else { '+' };
            (mant.to_string(), format!("e{sign}{:02}", exp.abs()))
        };
        if alternate {
            if !digits.contains('.') {
                digits.push('.');
            }
        } else if digits.contains('.') {
            digits = digits
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string();
        }
        digits + &tail
    });
    format!("{body:>width$}")
}

/// ("Tue, 14 Nov 2023", "22:13:20") for a Unix time, in UTC (the civil-from-days
/// algorithm of H. Hinnant).
fn utc_date_time(t: u64) -> (String, String) {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    let date = format!(
        "{weekday}, {day:02} {} {year}",
        MONTHS[(month - 1) as usize]
    );
    let time = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    (date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_number_formats() {
        assert_eq!(fmt_g(1523.7, 8, 4, true), "   1524.");
        assert_eq!(fmt_g(3.18e-20, 6, 3, true), "3.18e-20");
        assert_eq!(fmt_g(0.0567, 6, 3, true), "0.0567");
        assert_eq!(fmt_g(0.019, 6, 3, true), "0.0190");
        assert_eq!(fmt_g(-341.16, 8, 5, true), " -341.16");
        assert_eq!(fmt_g(4e5, 9, 3, false), "    4e+05");
        assert_eq!(fmt_g(1.5e5, 9, 3, false), "  1.5e+05");
        assert_eq!(fmt_g(-2.146e12, 10, 4, false), "-2.146e+12");
        assert_eq!(fmt_g(5.25e-11, 6, 3, false), "5.25e-11");
        assert_eq!(fmt_f(f64::NAN, 6, 3), "   nan");
        assert_eq!(forg(-0.32734, 4), "   -0.3273");
        assert_eq!(center("ab", 7), "   ab  ");
        assert_eq!(center("OLS Regression Results", 78).len(), 78);
    }

    #[test]
    fn utc_clock() {
        assert_eq!(
            utc_date_time(1_700_000_000),
            ("Tue, 14 Nov 2023".to_string(), "22:13:20".to_string())
        );
        assert_eq!(utc_date_time(0).0, "Thu, 01 Jan 1970");
        assert_eq!(utc_date_time(951_782_400).0, "Tue, 29 Feb 2000");
    }
}
