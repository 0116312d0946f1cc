//! The project's bookkeeping, free of the model: token counting up to a target, the
//! batch builder, the pair log-probability matrix and equal-count (percentile) binning.

use anyhow::{bail, ensure, Result};
use common::ml::descriptive::{binned_statistic, percentiles, Bins, Statistic};

/// Token counts over the first rows of a corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    /// `[vocab]`: occurrences of each token id.
    pub counts: Vec<u64>,
    /// Tokens counted (= the sum of `counts`).
    pub total: u64,
    /// Rows read: rows `0..rows` were counted, and row `rows - 1` is the first at which the
    /// cumulative count reached the target.
    pub rows: usize,
}

impl Counts {
    /// `counts / total`.
    pub fn proportions(&self) -> Vec<f64> {
        let t = self.total as f64;
        self.counts.iter().map(|&c| c as f64 / t).collect()
    }
}

/// Count the tokens of rows 0, 1, 2, ... (each encoded by `encode`, without special tokens
/// or truncation) into a vector of length `vocab`, stopping after the first row at which the
/// cumulative count is at least `target`. `progress(rows, total)` is called after every row.
/// An error when the rows run out first or an id is outside the vocabulary.
pub fn count_tokens<I, F>(
    rows: I,
    vocab: usize,
    target: u64,
    mut encode: F,
    mut progress: impl FnMut(usize, u64),
) -> Result<Counts>
where
    I: IntoIterator<Item = Result<String>>,
    F: FnMut(&str) -> Result<Vec<u32>>,
{
    ensure!(target >= 1, "the token target must be at least 1");
    let mut counts = vec![0u64; vocab];
    let (mut total, mut n) = (0u64, 0usize);
    for row in rows {
        let ids = encode(&row?)?;
        for &id in &ids {
            let slot = counts.get_mut(id as usize).ok_or_else(|| {
                anyhow::anyhow!("row {n}: token id {id} is outside the vocabulary of {vocab}")
            })?;
            *slot += 1;
        }
        total += ids.len() as u64;
        n += 1;
        progress(n, total);
        if total >= target {
            return Ok(Counts {
                counts,
                total,
                rows: n,
            });
        }
    }
    bail!(
        "the corpus ended after {n} rows and {total} tokens, before the target of {target} \
         tokens (pass a smaller --target-tokens)"
    )
}

/// The batch: rows in order, each encoded; a row is kept when it has at least `seq_len`
/// tokens, truncated to its first `seq_len`; stop at `n_seqs` rows. Returns the kept rows'
/// indices and their ids `[n_seqs][seq_len]`; an error when the rows run out first.
pub fn build_batch<I, F>(
    rows: I,
    n_seqs: usize,
    seq_len: usize,
    mut encode: F,
) -> Result<(Vec<usize>, Vec<Vec<u32>>)>
where
    I: IntoIterator<Item = Result<String>>,
    F: FnMut(&str) -> Result<Vec<u32>>,
{
    ensure!(
        n_seqs >= 1 && seq_len >= 1,
        "the batch needs at least one token"
    );
    let (mut idx, mut seqs) = (vec![], vec![]);
    let mut seen = 0usize;
    for (i, row) in rows.into_iter().enumerate() {
        seen = i + 1;
        let mut ids = encode(&row?)?;
        if ids.len() >= seq_len {
            ids.truncate(seq_len);
            idx.push(i);
            seqs.push(ids);
            if seqs.len() == n_seqs {
                return Ok((idx, seqs));
            }
        }
    }
    bail!(
        "only {} of {seen} rows have at least {seq_len} tokens, fewer than the {n_seqs} the \
         batch needs (pass a smaller --n-seqs or --seq-len)",
        seqs.len()
    )
}

/// `[n][n]` row-major: `Pmat[i, j] = p[i] + p[j]` (the log-probability of the pair when `p`
/// holds log proportions).
pub fn pair_matrix(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut m = Vec::with_capacity(n * n);
    for &pi in p {
        for &pj in p {
            m.push(pi + pj);
        }
    }
    m
}

/// Percentile edges `0, 100/(n_edges-1), ..., 100` of `x` (numpy linear interpolation);
/// an error when two edges coincide (tied data: scipy's binned_statistic would fail too).
pub fn percentile_edges(x: &[f64], n_edges: usize) -> Result<Vec<f64>> {
    ensure!(n_edges >= 2, "at least two edges are needed, got {n_edges}");
    let qs: Vec<f64> = (0..n_edges)
        .map(|k| 100.0 * k as f64 / (n_edges - 1) as f64)
        .collect();
    let e = percentiles(x, &qs)?;
    if let Some(k) = (1..e.len()).find(|&k| e[k] <= e[k - 1]) {
        bail!(
            "percentile edges {} and {k} are equal ({}): the values are tied, so equal-count \
             bins do not exist; use fewer --n-edges",
            k - 1,
            e[k]
        );
    }
    Ok(e)
}

/// Binned mean and population standard deviation of `values` over `x` in the bins of `edges`
/// (scipy binned_statistic: `[e_k, e_{k+1})`, last bin closed; empty bin: NaN), and the bin
/// centres (edge midpoints).
pub struct Binned {
    pub centres: Vec<f64>,
    pub means: Vec<f64>,
    pub stds: Vec<f64>,
}

pub fn binned_mean_std(x: &[f64], values: &[f64], edges: &[f64]) -> Result<Binned> {
    let nan = |v: Vec<Option<f64>>| v.into_iter().map(|s| s.unwrap_or(f64::NAN)).collect();
    let means = binned_statistic(x, values, Statistic::Mean, Bins::Edges(edges.to_vec()))?;
    let stds = binned_statistic(x, values, Statistic::Std, Bins::Edges(edges.to_vec()))?;
    Ok(Binned {
        centres: edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect(),
        means: nan(means.statistic),
        stds: nan(stds.statistic),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lens: &[usize]) -> Vec<Result<String>> {
        // row i: `len` copies of the word "w{i}" (one token each in the fake encoder)
        lens.iter()
            .enumerate()
            .map(|(i, &l)| Ok(vec![format!("{}", i % 7); l].join(" ")))
            .collect()
    }

    fn fake_encode(s: &str) -> Result<Vec<u32>> {
        Ok(s.split_whitespace()
            .map(|w| w.parse::<u32>().unwrap())
            .collect())
    }

    /// Offline check 2: counts sum to the tokens processed, proportions sum to 1, and the
    /// loop stops at the first row where the cumulative count reaches the target.
    #[test]
    fn counting_stops_at_the_first_row_reaching_the_target() {
        let lens = [3, 4, 5, 6, 7, 8];
        // cumulative: 3, 7, 12, 18, 25, 33 -> target 12 stops after row 2 (3 rows), and
        // target 13 after row 3 (4 rows)
        let c = count_tokens(rows(&lens), 10, 12, fake_encode, |_, _| {}).unwrap();
        assert_eq!((c.rows, c.total), (3, 12));
        assert_eq!(c.counts.iter().sum::<u64>(), 12);
        assert_eq!(&c.counts[..4], &[3, 4, 5, 0]);
        let c = count_tokens(rows(&lens), 10, 13, fake_encode, |_, _| {}).unwrap();
        assert_eq!((c.rows, c.total), (4, 18));
        assert!((c.proportions().iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(c.proportions()[3], 6.0 / 18.0);
        let mut calls = vec![];
        count_tokens(rows(&lens), 10, 1, fake_encode, |r, t| calls.push((r, t))).unwrap();
        assert_eq!(calls, vec![(1, 3)]);
        let e = count_tokens(rows(&lens), 10, 34, fake_encode, |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("33 tokens"), "{e}");
        let e = count_tokens(rows(&[2]), 3, 1, |_| Ok(vec![5]), |_, _| {}).unwrap_err();
        assert!(e.to_string().contains("outside the vocabulary"), "{e}");
    }

    /// Offline check 5: only rows with >= seq_len tokens are kept, truncated, in dataset
    /// order, exactly n_seqs of them.
    #[test]
    fn batch_builder_keeps_long_rows_in_order() {
        let lens = [5, 2, 9, 4, 3, 6, 8, 1, 7];
        let (idx, seqs) = build_batch(rows(&lens), 3, 4, fake_encode).unwrap();
        assert_eq!(idx, vec![0, 2, 3]);
        assert_eq!(seqs, vec![vec![0; 4], vec![2; 4], vec![3; 4]]);
        let (idx, seqs) = build_batch(rows(&lens), 4, 6, fake_encode).unwrap();
        assert_eq!(idx, vec![2, 5, 6, 8]);
        assert!(seqs.iter().all(|s| s.len() == 6));
        let e = build_batch(rows(&lens), 5, 6, fake_encode).unwrap_err();
        assert!(e.to_string().contains("only 4 of 9 rows"), "{e}");
    }

    /// Offline check 3: Pmat is symmetric and Pmat[i, j] = log p_i + log p_j.
    #[test]
    fn pair_matrix_is_the_symmetric_sum() {
        let p: Vec<f64> = [0.5f64, 0.25, 0.125, 0.0625]
            .iter()
            .map(|v| v.ln())
            .collect();
        let m = pair_matrix(&p);
        assert_eq!(m.len(), 16);
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(m[i * 4 + j], m[j * 4 + i]);
                let want = (0.5f64.powi(i as i32 + 1) * 0.5f64.powi(j as i32 + 1)).ln();
                assert!((m[i * 4 + j] - want).abs() < 1e-12);
            }
        }
    }

    /// Offline check 4, closed form: x = 0..7, y = x², 4 percentile bins.
    #[test]
    fn four_percentile_bins_of_squares() {
        let x: Vec<f64> = (0..8).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        let e = percentile_edges(&x, 5).unwrap();
        assert_eq!(e, vec![0.0, 1.75, 3.5, 5.25, 7.0]);
        let b = binned_mean_std(&x, &y, &e).unwrap();
        assert_eq!(b.means, vec![0.5, 6.5, 20.5, 42.5]);
        assert_eq!(b.stds, vec![0.5, 2.5, 4.5, 6.5]);
        assert_eq!(b.centres, vec![0.875, 2.625, 4.375, 6.125]);
        let tied = [1.0, 1.0, 1.0, 1.0, 2.0];
        let err = percentile_edges(&tied, 5).unwrap_err();
        assert!(err.to_string().contains("tied"), "{err}");
    }

    /// Offline check 4 on 10,000 continuous values: 40 equal-count bins (250 each), and
    /// the binned means/stds equal a direct computation over each bin's members.
    #[test]
    fn forty_equal_count_bins() {
        // a deterministic, continuous-looking sequence (no ties): a logistic map
        let mut v = 0.123_456_789f64;
        let x: Vec<f64> = (0..10_000)
            .map(|_| {
                v = 3.999 * v * (1.0 - v);
                v
            })
            .collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, a)| a.sin() + i as f64 * 1e-4)
            .collect();
        let e = percentile_edges(&x, 41).unwrap();
        let b = binned_mean_std(&x, &y, &e).unwrap();
        for k in 0..40 {
            let last = k == 39;
            let members: Vec<f64> = x
                .iter()
                .zip(&y)
                .filter(|(a, _)| **a >= e[k] && (**a < e[k + 1] || (last && **a <= e[k + 1])))
                .map(|(_, b)| *b)
                .collect();
            assert!(
                (249..=251).contains(&members.len()),
                "bin {k}: {} members",
                members.len()
            );
            let n = members.len() as f64;
            let m = members.iter().sum::<f64>() / n;
            let sd = (members.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
            assert!((b.means[k] - m).abs() < 1e-12, "bin {k} mean");
            assert!((b.stds[k] - sd).abs() < 1e-12, "bin {k} std");
        }
    }
}
