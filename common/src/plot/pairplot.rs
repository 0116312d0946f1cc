//! A seaborn-`pairplot`-like scatter matrix: off-diagonal scatter plots with their
//! least-squares line, a histogram of each variable on the diagonal.

use super::{Bins, Figure, Panel, Series, Style};
use anyhow::{bail, Result};

/// Least-squares line `y = slope·x + intercept` (closed form: slope = cov(x, y) / var(x)),
/// or `None` when x has no spread or fewer than two points.
pub fn ols_line(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
    }
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// A `k × k` scatter matrix over `columns` (k variables of equal length), `cell_in`
/// inches per cell. Panel (row i, column j ≠ i): variable j (x) against variable i (y),
/// light-blue translucent points and the OLS line in red. Diagonal panel i: histogram of
/// variable i (Freedman–Diaconis bins) in light pink. Every panel in a column shares its
/// x range and every off-diagonal panel in a row its y range; names label the bottom
/// row's x axes and the left column's y axes.
pub fn pairplot(names: &[String], columns: &[Vec<f64>], cell_in: f64) -> Result<Figure> {
    let k = columns.len();
    if k == 0 || names.len() != k {
        bail!(
            "pairplot needs one name per column (got {} names for {k} columns)",
            names.len()
        );
    }
    let n = columns[0].len();
    if columns.iter().any(|c| c.len() != n) || n < 2 {
        bail!("pairplot needs columns of one common length >= 2");
    }
    // Shared ranges, padded by 5 % like matplotlib's autoscale.
    let ranges: Vec<(f64, f64)> = columns
        .iter()
        .map(|c| {
            let lo = c.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let pad = ((hi - lo) * 0.05).max(1e-12);
            (lo - pad, hi + pad)
        })
        .collect();
    let point = Style::markers((173, 216, 230), super::Marker::Circle)
        .size(3)
        .alpha(0.5)
        .edge((120, 170, 200));
    let mut fig = Figure::grid(cell_in * k as f64, cell_in * k as f64, k, k);
    for i in 0..k {
        for j in 0..k {
            let mut p = Panel::new("").xlim(ranges[j].0, ranges[j].1);
            if i == j {
                p = p.add(Series::histogram(
                    &columns[i],
                    Bins::FreedmanDiaconis,
                    (255, 182, 193),
                ));
            } else {
                p = p.ylim(ranges[i].0, ranges[i].1).add(Series::scatter(
                    columns[j].clone(),
                    columns[i].clone(),
                    point.clone(),
                ));
                if let Some((slope, icept)) = ols_line(&columns[j], &columns[i]) {
                    let (a, b) = ranges[j];
                    p = p.add(Series::line(
                        vec![a, b],
                        vec![slope * a + icept, slope * b + icept],
                        Style::line((214, 39, 40)).width(2).label("OLS fit"),
                    ));
                }
            }
            if i + 1 == k {
                p = p.xlabel(&names[j]);
            }
            if j == 0 {
                p = p.ylabel(&names[i]);
            }
            fig = fig.panel_at(p, i, j, 1, 1);
        }
    }
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ols_recovers_an_exact_line_and_the_grid_is_complete() {
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 * v - 2.0).collect();
        let (s, c) = ols_line(&x, &y).unwrap();
        assert!((s - 3.0).abs() < 1e-12 && (c + 2.0).abs() < 1e-12);
        assert!(ols_line(&[1.0, 1.0], &[0.0, 1.0]).is_none());
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let fig = pairplot(&names, &[x.clone(), y.clone(), x.clone()], 2.0).unwrap();
        assert_eq!(fig.panels.len(), 9);
        assert!(pairplot(&names[..2], &[x], 2.0).is_err());
    }
}
