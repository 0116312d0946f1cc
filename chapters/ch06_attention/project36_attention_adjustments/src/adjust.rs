//! The statistics of the parts on plain vectors: masked selection and per-position means
//! (pad entries never count), the lag triples, and the two least-squares fits. Kept apart
//! from the model so that the offline checks 2-5 can test them on synthetic inputs.

use anyhow::{bail, ensure, Result};
use common::ml::regression::ols;
use ndarray::{Array1, Array2};

/// Part 2: the entries of `norms` (`[seq][pos]`) at valid tokens (`mask`, same shape) from
/// position `from` on, row by row — what boolean-mask indexing `norms[:, from:][mask[:, from:]]`
/// returns.
pub fn select_valid(norms: &[Vec<f64>], mask: &[Vec<bool>], from: usize) -> Vec<f64> {
    norms
        .iter()
        .zip(mask)
        .flat_map(|(row, m)| {
            row.iter()
                .zip(m)
                .skip(from)
                .filter(|(_, &ok)| ok)
                .map(|(v, _)| *v)
        })
        .collect()
}

/// Part 3: for each position, the mean of `norms` over the sequences valid there, and how
/// many there are (`[pos]` each). A position no sequence reaches has mean NaN.
pub fn masked_position_means(norms: &[Vec<f64>], mask: &[Vec<bool>]) -> (Vec<f64>, Vec<usize>) {
    let width = mask.first().map_or(0, Vec::len);
    let mut sums = vec![0.0; width];
    let mut counts = vec![0usize; width];
    for (row, m) in norms.iter().zip(mask) {
        for (t, (v, &ok)) in row.iter().zip(m).enumerate() {
            if ok {
                sums[t] += v;
                counts[t] += 1;
            }
        }
    }
    let means = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| if c > 0 { s / c as f64 } else { f64::NAN })
        .collect();
    (means, counts)
}

/// Part 5: every run of three consecutive values `(n[t-2], n[t-1], n[t])` of `seq`, in
/// order (`seq.len() - 2` rows, none for fewer than three values). Called with a
/// sequence's norms at positions 1..L-1, it gives L-3 rows.
pub fn triples(seq: &[f64]) -> Vec<[f64; 3]> {
    seq.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

/// Ordinary least squares of `y` on an intercept and the columns of `x` (`[n][p]`):
/// `[b0, b1, …, bp]` (methods' QR solve, as statsmodels' `OLS`).
pub fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Result<Vec<f64>> {
    ensure!(
        x.len() == y.len(),
        "least squares: {} rows of predictors for {} values",
        x.len(),
        y.len()
    );
    let p = x.first().map_or(0, Vec::len);
    if x.iter().any(|r| r.len() != p) {
        bail!("least squares: the predictor rows differ in length");
    }
    let xs = Array2::from_shape_fn((x.len(), p), |(i, j)| x[i][j]);
    let fit = ols(xs.view(), Array1::from(y.to_vec()).view())?;
    Ok(fit.params.to_vec())
}

/// Part 4: y over positions with the design `[1, p]`, `p = 0, 1, …` (so the intercept is
/// the value at the first position used): `(β0, β1)`.
pub fn position_fit(y: &[f64]) -> Result<(f64, f64)> {
    let x: Vec<Vec<f64>> = (0..y.len()).map(|p| vec![p as f64]).collect();
    let b = least_squares(&x, y)?;
    Ok((b[0], b[1]))
}

/// Part 5: `log n_t = b0 + b1 log n_{t-2} + b2 log n_{t-1}` over the given triples
/// (natural logs taken here): `[b0, b1, b2]`.
pub fn lag_fit(rows: &[[f64; 3]]) -> Result<[f64; 3]> {
    let x: Vec<Vec<f64>> = rows.iter().map(|r| vec![r[0].ln(), r[1].ln()]).collect();
    let y: Vec<f64> = rows.iter().map(|r| r[2].ln()).collect();
    let b = least_squares(&x, &y)?;
    Ok([b[0], b[1], b[2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::ml::descriptive::percentiles;

    fn mask_of(lengths: &[usize], width: usize) -> Vec<Vec<bool>> {
        lengths
            .iter()
            .map(|&l| (0..width).map(|t| t < l).collect())
            .collect()
    }

    /// Offline check 2: the selection holds exactly sum(mask[:, 1:]) values, pad entries
    /// (set to a huge number here) never appear, and the per-position means are the hand
    /// computation over the valid sequences only.
    #[test]
    fn masked_selection_and_means() {
        let lengths = [4, 2, 1, 3];
        let mask = mask_of(&lengths, 4);
        let pad = 1e9;
        let norms: Vec<Vec<f64>> = (0..4)
            .map(|i| {
                (0..4)
                    .map(|t| {
                        if t < lengths[i] {
                            (10 * i + t + 1) as f64
                        } else {
                            pad
                        }
                    })
                    .collect()
            })
            .collect();
        let sel = select_valid(&norms, &mask, 1);
        assert_eq!(sel.len(), 3 + 1 + 2);
        assert_eq!(sel, vec![2.0, 3.0, 4.0, 12.0, 32.0, 33.0]);
        let (means, counts) = masked_position_means(&norms, &mask);
        assert_eq!(counts, vec![4, 3, 2, 1]);
        // position 0: 1, 11, 21, 31; position 1: 2, 12, 32; position 2: 3, 33; 3: 4
        assert_eq!(means, vec![16.0, 46.0 / 3.0, 18.0, 4.0]);
    }

    /// Offline check 3: noise-free lines and an exact AR(2) rule are recovered.
    #[test]
    fn least_squares_recovers_known_coefficients() {
        let y: Vec<f64> = (0..30).map(|p| 2.0 + 0.5 * p as f64).collect();
        let (b0, b1) = position_fit(&y).unwrap();
        assert!(
            (b0 - 2.0).abs() < 1e-9 && (b1 - 0.5).abs() < 1e-9,
            "{b0} {b1}"
        );

        // log n_t = 0.3 + 0.2 log n_{t-2} + 0.5 log n_{t-1}, several sequences with
        // different starts so the two lags are not collinear.
        let mut rows = vec![];
        for s in 0..5 {
            let mut logs = vec![0.1 * s as f64, 1.0 - 0.3 * s as f64];
            for t in 2..12 {
                let v = 0.3 + 0.2 * logs[t - 2] + 0.5 * logs[t - 1];
                logs.push(v);
            }
            let seq: Vec<f64> = logs.iter().map(|l| l.exp()).collect();
            rows.extend(triples(&seq));
        }
        let b = lag_fit(&rows).unwrap();
        for (got, want) in b.iter().zip([0.3, 0.2, 0.5]) {
            assert!((got - want).abs() < 1e-9, "{b:?}");
        }
    }

    /// Offline check 4: a sequence of valid length L (norms at positions 1..L-1) gives
    /// L-3 rows of consecutive norms in order, none for L <= 3.
    #[test]
    fn triples_of_consecutive_norms() {
        for l in 1..8usize {
            let after_first: Vec<f64> = (1..l).map(|t| t as f64).collect();
            let rows = triples(&after_first);
            assert_eq!(rows.len(), l.saturating_sub(3), "L = {l}");
            for (k, r) in rows.iter().enumerate() {
                let t = (k + 1) as f64;
                assert_eq!(*r, [t, t + 1.0, t + 2.0]);
            }
        }
    }

    /// Offline check 5: the colour limits' percentiles interpolate linearly.
    #[test]
    fn percentile_colour_limits() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(percentiles(&v, &[5.0, 95.0]).unwrap(), vec![5.0, 95.0]);
        let w = [1.0, 2.0, 3.0, 4.0];
        assert!((percentiles(&w, &[5.0]).unwrap()[0] - 1.15).abs() < 1e-12);
    }
}
