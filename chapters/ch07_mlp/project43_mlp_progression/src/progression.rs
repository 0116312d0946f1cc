//! The token batches and the statistics Parts 2-6 compute on the four MLP stages:
//! cosine-similarity matrices, RSA between stages, participation ratio and effective
//! dimensionality, Freedman–Diaconis density curves.

use anyhow::{ensure, Result};
use common::device::{to_rows_f64, to_vec_f64};
use common::ml::decomposition::Spectrum;
use common::stats::rsa;
use ndarray::Array1;
use tch::{Kind, Tensor};

/// The four MLP stages, as the book labels them.
pub const STAGES: [&str; 4] = ["Inpu", "Expa", "GELU", "Proj"];
/// The six stage pairs (i < j), in the book's order.
pub const PAIRS: [(usize, usize); 6] = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];
/// Length of every row of the many-sequence batch (the target and the 9 tokens before).
pub const WINDOW: usize = 10;
/// The cumulative-variance threshold (percent) of the effective dimensionality.
pub const ED_THRESHOLD: f64 = 95.0;

/// "I.v.E", "I.v.G", ... for the six pairs.
pub fn pair_labels() -> Vec<String> {
    PAIRS
        .iter()
        .map(|&(a, b)| format!("{}.v.{}", &STAGES[a][..1], &STAGES[b][..1]))
        .collect()
}

/// The two token sets built from the page tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Batches {
    /// All positions of the target id in the page tokens.
    pub target_idx: Vec<usize>,
    /// `[1, ntargets + 1]`: the first ntargets + 1 page tokens.
    pub one_seq: Vec<u32>,
    /// `[ntargets, WINDOW]`: row b = `tokens[idx[b] - 9 ..= idx[b]]`.
    pub many_seq: Vec<Vec<u32>>,
}

/// Builds the one-sequence and many-sequence batches (spec "Data"). Errors when the
/// target does not occur at least twice, when its first occurrence is before position 9
/// (a window would start before the page), or when the page is shorter than ntargets+1.
pub fn build_batches(tokens: &[u32], target: u32) -> Result<Batches> {
    let target_idx: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == target)
        .map(|(i, _)| i)
        .collect();
    let n = target_idx.len();
    ensure!(
        n >= 3,
        "the target token {target} occurs {n} times in the text: the project needs at least 3 \
         (cosine matrices of fewer tokens have no RSA)"
    );
    ensure!(
        target_idx[0] + 1 >= WINDOW,
        "the first target is at position {}: the many-sequence windows of {WINDOW} tokens \
         need it at position {} or later",
        target_idx[0],
        WINDOW - 1
    );
    ensure!(
        tokens.len() > n,
        "the text has {} tokens, fewer than ntargets + 1 = {}",
        tokens.len(),
        n + 1
    );
    let many_seq = target_idx
        .iter()
        .map(|&i| tokens[i + 1 - WINDOW..=i].to_vec())
        .collect();
    Ok(Batches {
        one_seq: tokens[..=n].to_vec(),
        many_seq,
        target_idx,
    })
}

/// Rows of `x` `[n, d]` scaled to unit L2 norm (float64); a zero row is an error.
fn unit_rows(x: &Tensor) -> Result<Tensor> {
    let size = x.size();
    ensure!(size.len() == 2, "expected a 2-D tensor, got shape {size:?}");
    let x = x.to_kind(Kind::Double);
    let norms = x.linalg_norm(2.0, [-1i64].as_slice(), true, Kind::Double);
    let smallest = f64::try_from(norms.min())?;
    ensure!(
        smallest > 0.0,
        "a row is all zeros: its cosine similarity is undefined"
    );
    Ok(x / norms)
}

/// All-to-all cosine similarities of the rows of `x` `[n, d]` (sklearn's
/// `cosine_similarity`: rows scaled to unit L2 norm, then `X Xᵀ`), float64, made exactly
/// symmetric and clipped to [-1, 1] (rounding leaves the diagonal at 1 ± 2e-16).
pub fn cosine_rows(x: &Tensor) -> Result<Vec<Vec<f64>>> {
    let u = unit_rows(x)?;
    let c = u.matmul(&u.tr());
    to_rows_f64(&((&c + c.tr()) * 0.5).clamp(-1.0, 1.0))
}

/// `C[i][j] = cos(a_i, b_j)` for two row sets `[n, d]`, `[m, d]` of the same width.
pub fn cross_cosine(a: &Tensor, b: &Tensor) -> Result<Vec<Vec<f64>>> {
    ensure!(
        a.size().last() == b.size().last(),
        "cosine similarity needs vectors of the same width ({:?} vs {:?})",
        a.size(),
        b.size()
    );
    to_rows_f64(&unit_rows(a)?.matmul(&unit_rows(b)?.tr()).clamp(-1.0, 1.0))
}

/// RSA of the six stage pairs: Pearson r of the strictly-upper triangles of the four
/// stages' cosine matrices.
pub fn rsa_pairs(cos: &[Vec<Vec<f64>>; 4]) -> Result<[f64; 6]> {
    let mut out = [0.0; 6];
    for (o, &(a, b)) in out.iter_mut().zip(&PAIRS) {
        *o = rsa(&cos[a], &cos[b])?;
    }
    Ok(out)
}

/// Participation ratio and 0-based 95% effective dimensionality of `x` `[n, d]` after
/// mean-centring the columns (spec Part 5): singular values `s` of the centred matrix,
/// `λ = s²`, PR = (Σλ)² / Σλ², ED = first index with 100·cumsum(λ)/Σλ > 95. The `λ` are
/// taken as the eigenvalues of the `n × n` Gram matrix `Xc Xcᵀ` (the squared singular
/// values of `Xc`; `n` ≤ a few hundred tokens while `d` is 3072), tiny negative rounding
/// residues set to 0.
pub fn pr_ed(x: &Tensor) -> Result<(f64, usize)> {
    let size = x.size();
    ensure!(size.len() == 2, "expected a 2-D tensor, got shape {size:?}");
    let x = x.to_kind(Kind::Double);
    let centred = &x - x.mean_dim([0i64].as_slice(), true, Kind::Double);
    let gram = centred.matmul(&centred.tr());
    let mut lam = to_vec_f64(&gram.linalg_eigvalsh("L"))?;
    lam.sort_by(|a, b| b.total_cmp(a));
    let s: Array1<f64> = lam.iter().map(|&v| v.max(0.0).sqrt()).collect();
    let sp = Spectrum::from_singular_values(s.view(), (size[0] as usize, size[1] as usize))?;
    Ok((
        sp.participation_ratio(),
        sp.first_index_above(ED_THRESHOLD)?,
    ))
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use common::plot::{fd_curve, histogram_counts, Bins};
    use common::stats::upper_triangle;

    fn tensor(x: &[Vec<f64>]) -> Tensor {
        let (n, d) = (x.len() as i64, x[0].len() as i64);
        Tensor::from_slice(&x.concat()).reshape([n, d])
    }

    fn cosine_matrix(x: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
        cosine_rows(&tensor(x))
    }

    fn pr_ed_rows(x: &[Vec<f64>]) -> Result<(f64, usize)> {
        pr_ed(&tensor(x))
    }

    fn rows(seed: u64, n: usize, d: usize) -> Vec<Vec<f64>> {
        // a small deterministic generator (no RNG crate needed)
        let mut s = seed;
        (0..n)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
                    })
                    .collect()
            })
            .collect()
    }

    /// Offline check 1: symmetric, ones on the diagonal, values in [-1, 1]; and the
    /// values equal the dot product of the normalised rows written out here.
    #[test]
    fn check1_cosine_matrix_properties() {
        let x = rows(1, 12, 7);
        let c = cosine_matrix(&x).unwrap();
        for i in 0..12 {
            assert!((c[i][i] - 1.0).abs() < 1e-15);
            for j in 0..12 {
                assert_eq!(c[i][j], c[j][i]);
                assert!((-1.0..=1.0).contains(&c[i][j]));
            }
        }
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let want: f64 =
            x[2].iter().zip(&x[5]).map(|(a, b)| a * b).sum::<f64>() / (norm(&x[2]) * norm(&x[5]));
        assert!((c[2][5] - want).abs() < 1e-15);
        // two parallel rows: cosine 1; opposite rows: -1
        let y = vec![vec![1.0, 2.0], vec![2.0, 4.0], vec![-1.0, -2.0]];
        let c = cosine_matrix(&y).unwrap();
        assert!((c[0][1] - 1.0).abs() < 1e-15 && (c[0][2] + 1.0).abs() < 1e-15);
        assert!(cosine_matrix(&[vec![0.0, 0.0], vec![1.0, 0.0]]).is_err());
    }

    /// Offline check 2: RSA of a stage with itself is exactly 1; RSA is unchanged when the
    /// activations are multiplied by a positive constant.
    #[test]
    fn check2_rsa_self_and_scale() {
        let x = rows(2, 15, 6);
        let y = rows(3, 15, 9);
        let cx = cosine_matrix(&x).unwrap();
        let cy = cosine_matrix(&y).unwrap();
        assert_eq!(rsa(&cx, &cx).unwrap(), 1.0);
        let scaled: Vec<Vec<f64>> = x
            .iter()
            .map(|r| r.iter().map(|v| 3.7 * v).collect())
            .collect();
        let cs = cosine_matrix(&scaled).unwrap();
        let r0 = rsa(&cx, &cy).unwrap();
        let r1 = rsa(&cs, &cy).unwrap();
        assert!((r0 - r1).abs() < 1e-12, "{r0} vs {r1}");
        // the pairs use the upper triangles only
        let all = rsa_pairs(&[cx.clone(), cy.clone(), cs.clone(), cx.clone()]).unwrap();
        assert!((all[1] - 1.0).abs() < 1e-12); // Inpu vs its scaled copy
        assert_eq!(all[2], 1.0); // Inpu vs Inpu
                                 // cross-stage cosines: C[i][j] = cos(a_i, b_j), written out
        let c = cross_cosine(&tensor(&x), &tensor(&scaled)).unwrap();
        let want = cx[3][7];
        assert!((c[3][7] - want).abs() < 1e-14 && (c[7][3] - want).abs() < 1e-14);
        assert!(cross_cosine(&tensor(&x), &tensor(&y)).is_err());
        assert_eq!(upper_triangle(&cx).len(), 15 * 14 / 2);
        assert_eq!(
            pair_labels(),
            ["I.v.E", "I.v.G", "I.v.P", "E.v.G", "E.v.P", "G.v.P"]
        );
    }

    /// Offline check 3: rank-1 data has PR 1 and ED 0; k orthogonal directions of equal
    /// variance give PR = k; ED is 0-based with a strict "> 95".
    #[test]
    fn check3_pr_and_ed() {
        // rank 1 after centring: rows t · v plus a constant offset
        let v = [0.3, -1.2, 2.0, 0.5];
        let x: Vec<Vec<f64>> = (0..9)
            .map(|t| v.iter().map(|a| 5.0 + t as f64 * a).collect())
            .collect();
        let (pr, ed) = pr_ed_rows(&x).unwrap();
        assert!((pr - 1.0).abs() < 1e-9, "{pr}");
        assert_eq!(ed, 0);
        // k = 3 orthogonal directions of equal variance: rows ±e_1, ±e_2, ±e_3 (mean 0)
        let mut x = vec![];
        for k in 0..3 {
            for s in [1.0, -1.0] {
                let mut r = vec![0.0; 5];
                r[k] = s;
                x.push(r);
            }
        }
        let (pr, ed) = pr_ed_rows(&x).unwrap();
        assert!((pr - 3.0).abs() < 1e-9, "{pr}");
        // cumulative 33.3, 66.7, 100: the first index above 95 is 2 (3 components - 1)
        assert_eq!(ed, 2);
        // strict ">": singular values 3 and 1 put exactly 90% on the first component
        // (900 / 10 has no rounding), so a 90% threshold needs the second one (index 1)
        let s = Spectrum::from_singular_values(ndarray::arr1(&[3.0, 1.0]).view(), (4, 2)).unwrap();
        assert_eq!(s.cumulative_percent[0], 90.0);
        assert_eq!(s.first_index_above(90.0).unwrap(), 1);
        assert_eq!(s.first_index_above(89.9).unwrap(), 0);
        let (_, ed) = pr_ed_rows(&[
            vec![3.0, 0.0],
            vec![-3.0, 0.0],
            vec![0.0, 0.5],
            vec![0.0, -0.5],
        ])
        .unwrap();
        assert_eq!(ed, 0); // 97.3% on the first component
    }

    /// Offline check 4: on a synthetic token list every many-seq row ends with the target
    /// and equals its slice; the one-seq batch is the prefix of length ntargets + 1.
    #[test]
    fn check4_batches() {
        let t = 7u32;
        let tokens: Vec<u32> = vec![
            1, 2, 3, 4, 5, 6, 8, 9, 10, 7, 11, 12, 7, 13, 14, 15, 16, 7, 17, 18, 19,
        ];
        let b = build_batches(&tokens, t).unwrap();
        assert_eq!(b.target_idx, [9, 12, 17]);
        assert_eq!(b.one_seq, [1, 2, 3, 4]);
        assert_eq!(b.many_seq.len(), 3);
        for (row, &i) in b.many_seq.iter().zip(&b.target_idx) {
            assert_eq!(row.len(), WINDOW);
            assert_eq!(*row.last().unwrap(), t);
            assert_eq!(row[..], tokens[i - 9..=i]);
        }
        assert_eq!(b.many_seq[0], [1, 2, 3, 4, 5, 6, 8, 9, 10, 7]);
        // a target before position 9 has no 10-token window
        let mut early = tokens.clone();
        early[3] = t;
        let err = build_batches(&early, t).unwrap_err().to_string();
        assert!(err.contains("position 3"), "{err}");
        assert!(build_batches(&[1, 2, 3], t).is_err());
    }

    /// Offline check 6: Freedman–Diaconis edges of known arrays equal numpy's
    /// `np.histogram_bin_edges(x, 'fd')` (numpy 2.4.6, values hard-coded here):
    /// x = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34] -> IQR = 11.75 - 1.25 = 10.5,
    /// width = 2·10.5/10^(1/3) = 9.747, bins = ceil(34 / 9.747) = 4, edges
    /// [0, 8.5, 17, 25.5, 34], counts [7, 1, 1, 1].
    #[test]
    fn check6_fd_bin_edges() {
        let x = [0.0, 1.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0];
        let (edges, counts) = histogram_counts(&x, &Bins::FreedmanDiaconis);
        let want = [0.0, 8.5, 17.0, 25.5, 34.0];
        assert_eq!(edges.len(), want.len());
        for (e, w) in edges.iter().zip(want) {
            assert!((e - w).abs() < 1e-12, "{edges:?}");
        }
        assert_eq!(counts, [7.0, 1.0, 1.0, 1.0]);
        let x = [0.5, -1.2, 3.3, 2.2, 0.0, -0.7, 1.9, 4.4, -2.5, 0.8, 1.1];
        let (edges, counts) = histogram_counts(&x, &Bins::FreedmanDiaconis);
        let want = [
            -2.5,
            -0.7749999999999999,
            0.9500000000000002,
            2.6750000000000007,
            4.4,
        ];
        assert_eq!(edges.len(), want.len());
        for (e, w) in edges.iter().zip(want) {
            assert!((e - w).abs() < 1e-12, "{edges:?}");
        }
        assert_eq!(counts, [2.0, 4.0, 3.0, 2.0]);
        // the density curve integrates to 1
        let (c, y) = fd_curve(&x, true);
        assert!((c[0] - (-2.5 - 0.7749999999999999) / 2.0).abs() < 1e-12);
        assert!((y.iter().sum::<f64>() * (6.9 / 4.0) - 1.0).abs() < 1e-12);
    }
}
