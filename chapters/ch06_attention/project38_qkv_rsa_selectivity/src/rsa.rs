//! The word list, the pair masks and the statistics the parts compute on the Q, K and V
//! activations: cosine matrices, RSA, and within- vs across-category selectivity.

use anyhow::{ensure, Context, Result};
use common::ml::hypothesis::{fisher_z_all, ttest_ind, Alternative};
use common::stats::{pearson, rsa, upper_triangle_indices};

/// The three matrices, in the order `attn.c_attn` outputs them.
pub const MATRICES: [&str; 3] = ["Q", "K", "V"];
/// The three pairs of matrices that Parts 2-4 correlate.
pub const PAIRS: [(usize, usize); 3] = [(0, 1), (0, 2), (1, 2)];
/// The category names, in the order of [`WORDS`].
pub const CATEGORIES: [&str; 3] = ["space", "furniture", "fruit"];
/// The 34 words (spec order), by category.
pub const WORDS: [&[&str]; 3] = [
    &[
        "galaxy", "asteroid", "comet", "cosmos", "space", "sun", "planet", "moon", "star", "orbit",
    ],
    &[
        "ceiling", "sofa", "couch", "carpet", "door", "window", "lamp", "chair", "table", "rug",
        "bed", "floor", "wall",
    ],
    &[
        "pear", "grape", "banana", "cherry", "peach", "apple", "seed", "jelly", "orange", "lime",
        "fruit",
    ],
];
/// Every prompt is this text followed by " <word>".
pub const PROMPT: &str = "The next word is";

/// The 34 words in order, each with its category index (0, 1, 2).
pub fn words() -> Vec<(&'static str, usize)> {
    WORDS
        .iter()
        .enumerate()
        .flat_map(|(c, ws)| ws.iter().map(move |w| (*w, c)))
        .collect()
}

/// The four boolean masks over word pairs `[n][n]`: same category, strictly upper
/// triangle, within (same ∧ upper) and across (¬same ∧ upper).
pub struct Masks {
    pub same: Vec<Vec<bool>>,
    pub upper: Vec<Vec<bool>>,
    pub within: Vec<Vec<bool>>,
    pub across: Vec<Vec<bool>>,
}

impl Masks {
    pub fn new(labels: &[usize]) -> Self {
        let n = labels.len();
        let grid = |f: &dyn Fn(usize, usize) -> bool| -> Vec<Vec<bool>> {
            (0..n).map(|i| (0..n).map(|j| f(i, j)).collect()).collect()
        };
        Masks {
            same: grid(&|i, j| labels[i] == labels[j]),
            upper: grid(&|i, j| j > i),
            within: grid(&|i, j| j > i && labels[i] == labels[j]),
            across: grid(&|i, j| j > i && labels[i] != labels[j]),
        }
    }

    /// The four masks as 0/1 images, with their figure titles.
    pub fn images(&self) -> [(&'static str, Vec<Vec<f64>>); 4] {
        let img = |m: &[Vec<bool>]| -> Vec<Vec<f64>> {
            m.iter()
                .map(|r| r.iter().map(|&b| f64::from(u8::from(b))).collect())
                .collect()
        };
        [
            ("A) Same-category mask", img(&self.same)),
            ("B) Upper-triangular mask", img(&self.upper)),
            ("C) Within-category mask", img(&self.within)),
            ("D) Across-category mask", img(&self.across)),
        ]
    }
}

/// Number of `true` cells of a mask.
pub fn count(mask: &[Vec<bool>]) -> usize {
    mask.iter().flatten().filter(|&&b| b).count()
}

/// The values of `m` where `mask` is true, in row-major order (numpy's `m[mask]`).
pub fn masked(m: &[Vec<f64>], mask: &[Vec<bool>]) -> Vec<f64> {
    m.iter()
        .zip(mask)
        .flat_map(|(r, k)| r.iter().zip(k).filter(|(_, &b)| b).map(|(v, _)| *v))
        .collect()
}

/// The positions between categories (`9.5`, `22.5` for the spec's list): the last index
/// of each category but the last, plus ½.
pub fn boundaries(labels: &[usize]) -> Vec<f64> {
    labels
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] != w[1])
        .map(|(i, _)| i as f64 + 0.5)
        .collect()
}

/// All-to-all cosine similarities of the rows of `x` `[n][d]`: rows scaled to unit L2
/// norm, `R = X Xᵀ` `[n][n]` (float64). A zero row is an error.
pub fn cosine_matrix(x: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let unit: Vec<Vec<f64>> = x
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            ensure!(
                n > 0.0,
                "row {i} is all zeros: its cosine similarity is undefined"
            );
            Ok(r.iter().map(|v| v / n).collect())
        })
        .collect::<Result<_>>()?;
    Ok(unit
        .iter()
        .map(|a| {
            unit.iter()
                .map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum())
                .collect()
        })
        .collect())
}

/// RSA of the three pairs Q-K, Q-V, K-V of cosine matrices: Pearson r of their
/// strictly-upper-triangle values.
pub fn rsa_pairs(r: &[Vec<Vec<f64>>; 3]) -> Result<[f64; 3]> {
    let mut out = [0.0; 3];
    for (o, &(a, b)) in out.iter_mut().zip(&PAIRS) {
        *o = rsa(&r[a], &r[b])?;
    }
    Ok(out)
}

/// Pearson r of the three pairs Q-K, Q-V, K-V of flat activation vectors.
pub fn corr_pairs(v: &[Vec<f64>; 3]) -> Result<[f64; 3]> {
    let mut out = [0.0; 3];
    for (o, &(a, b)) in out.iter_mut().zip(&PAIRS) {
        *o = pearson(&v[a], &v[b])?;
    }
    Ok(out)
}

/// The strictly-upper-triangle values of `m` (row-major).
pub fn upper_values(m: &[Vec<f64>]) -> Vec<f64> {
    upper_triangle_indices(m.len())
        .into_iter()
        .map(|(i, j)| m[i][j])
        .collect()
}

/// Category selectivity of one cosine matrix: `[mean(w) − mean(a), t(w, a),
/// (mean(w) + mean(a)) / 2]` with `w`, `a` the within and across values and `t` the
/// Student two-sample statistic (pooled variance). With `fisher`, arctanh is applied to
/// `w` and `a` first.
pub fn selectivity(r: &[Vec<f64>], m: &Masks, fisher: bool) -> Result<[f64; 3]> {
    let (mut w, mut a) = (masked(r, &m.within), masked(r, &m.across));
    if fisher {
        w = fisher_z_all(&w).context("Fisher-z of the within-category similarities")?;
        a = fisher_z_all(&a).context("Fisher-z of the across-category similarities")?;
    }
    let (mw, ma) = (mean(&w), mean(&a));
    let t = ttest_ind(&w, &a, true, Alternative::TwoSided)?.statistic;
    Ok([mw - ma, t, (mw + ma) / 2.0])
}

fn mean(v: &[f64]) -> f64 {
    common::stats::mean(v)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    /// Offline check 2: 178 within + 383 across = the 561 strictly-upper pairs,
    /// disjoint; the boundaries are 9.5 and 22.5.
    #[test]
    fn masks_of_the_word_list() {
        let labels: Vec<usize> = words().iter().map(|w| w.1).collect();
        assert_eq!(labels.len(), 34);
        let m = Masks::new(&labels);
        assert_eq!(count(&m.within), 45 + 78 + 55);
        assert_eq!(count(&m.across), 383);
        assert_eq!(count(&m.upper), 34 * 33 / 2);
        assert_eq!(count(&m.same), 10 * 10 + 13 * 13 + 11 * 11);
        for i in 0..34 {
            for j in 0..34 {
                assert!(!(m.within[i][j] && m.across[i][j]));
                assert_eq!(m.within[i][j] || m.across[i][j], m.upper[i][j]);
            }
        }
        assert_eq!(boundaries(&labels), [9.5, 22.5]);
        let grid = vec![
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ];
        let up = Masks::new(&[0, 0, 1]).upper;
        assert_eq!(masked(&grid, &up), [2.0, 3.0, 6.0]);
        assert_eq!(upper_values(&grid), [2.0, 3.0, 6.0]);
    }

    /// Offline check 3: symmetric with unit diagonal; RSA of a matrix with itself is 1,
    /// and rescaling the rows changes neither the matrix nor the RSA.
    #[test]
    fn cosine_and_rsa_properties() {
        let x: Vec<Vec<f64>> = (0..7)
            .map(|i| {
                (0..5)
                    .map(|j| ((i * 31 + j * 17) % 13) as f64 - 6.0 + 0.1 * j as f64)
                    .collect()
            })
            .collect();
        let r = cosine_matrix(&x).unwrap();
        for i in 0..7 {
            assert!((r[i][i] - 1.0).abs() < 1e-14);
            for j in 0..7 {
                assert_eq!(r[i][j], r[j][i]);
            }
        }
        let scaled: Vec<Vec<f64>> = x
            .iter()
            .enumerate()
            .map(|(i, row)| row.iter().map(|v| v * (0.5 + 3.0 * i as f64)).collect())
            .collect();
        let rs = cosine_matrix(&scaled).unwrap();
        let three = [r.clone(), rs.clone(), r.clone()];
        let q = rsa_pairs(&three).unwrap();
        for v in q {
            assert!((v - 1.0).abs() < 1e-12, "{v}");
        }
        // a different similarity structure gives RSA < 1
        let y: Vec<Vec<f64>> = x.iter().rev().cloned().collect();
        let ry = cosine_matrix(&y).unwrap();
        assert!(rsa_pairs(&[r.clone(), ry, r]).unwrap()[0] < 0.99);
        assert!(cosine_matrix(&[vec![0.0, 0.0], vec![1.0, 0.0]]).is_err());
    }

    /// Offline check 5: t([1..5], [3..8]) = −2.3619 with pooled variance; arctanh(0.5).
    #[test]
    fn t_and_fisher_closed_forms() {
        let t = ttest_ind(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            true,
            Alternative::TwoSided,
        )
        .unwrap()
        .statistic;
        // by hand: means 3 and 5.5, s² 2.5 and 3.5, s_p² = (4·2.5 + 5·3.5)/9 = 27.5/9
        let want = -2.5 / (27.5f64 / 9.0 * (1.0 / 5.0 + 1.0 / 6.0)).sqrt();
        assert!((t - want).abs() < 1e-12);
        assert!((t + 2.3619).abs() < 5e-5);
        let z = fisher_z_all(&[0.5]).unwrap()[0];
        assert!((z - 0.549306).abs() < 5e-7);
        // selectivity on a 4 x 4 matrix with two categories of two
        let r = vec![
            vec![1.0, 0.9, 0.1, 0.2],
            vec![0.9, 1.0, 0.3, 0.0],
            vec![0.1, 0.3, 1.0, 0.7],
            vec![0.2, 0.0, 0.7, 1.0],
        ];
        let m = Masks::new(&[0, 0, 1, 1]);
        let s = selectivity(&r, &m, false).unwrap();
        // within 0.9, 0.7; across 0.1, 0.2, 0.3, 0.0
        assert!((s[0] - (0.8 - 0.15)).abs() < 1e-12);
        assert!((s[2] - (0.8 + 0.15) / 2.0).abs() < 1e-12);
        let sz = selectivity(&r, &m, true).unwrap();
        let zw = (0.9f64.atanh() + 0.7f64.atanh()) / 2.0;
        let za = (0.1f64.atanh() + 0.2f64.atanh() + 0.3f64.atanh()) / 4.0;
        assert!((sz[0] - (zw - za)).abs() < 1e-12);
    }
}
