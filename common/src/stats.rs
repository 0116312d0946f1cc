//! Small numerical helpers the projects share: softmax and friends, information
//! measures, similarity and correlation, top-k and sampling.
//!
//! These are written out here because each is a few lines over plain slices, and the
//! crates that have them (ndarray-stats, statrs) do not cover the set (no Spearman with
//! tie handling in statrs, no softmax with temperature anywhere); bigger statistics use
//! statrs where projects need it.

use anyhow::{bail, Result};
use rand::Rng;

/// Numerically stable softmax (the maximum is subtracted before exponentiating).
pub fn softmax(z: &[f64]) -> Vec<f64> {
    softmax_t(z, 1.0)
}

/// Softmax of `z / temperature` (stable). `temperature` must be > 0.
pub fn softmax_t(z: &[f64], temperature: f64) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|&x| ((x - m) / temperature).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// Softmax in float32 exactly as written in a textbook, `exp(z) / sum(exp(z))`, with no
/// max subtraction: it under/overflows on real LLM logits (project 16 shows why).
pub fn naive_softmax_f32(z: &[f32]) -> Vec<f32> {
    let e: Vec<f32> = z.iter().map(|&x| x.exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// Stable log-softmax.
pub fn log_softmax(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + z.iter().map(|&x| (x - m).exp()).sum::<f64>().ln();
    z.iter().map(|&x| x - lse).collect()
}

/// Shannon entropy in nats of a probability vector (0 log 0 = 0).
pub fn entropy(p: &[f64]) -> f64 {
    -p.iter()
        .filter(|&&x| x > 0.0)
        .map(|&x| x * x.ln())
        .sum::<f64>()
}

/// KL(p || q) in nats. Terms with p = 0 contribute 0; q = 0 where p > 0 gives +inf.
pub fn kl_divergence(p: &[f64], q: &[f64]) -> Result<f64> {
    if p.len() != q.len() {
        bail!(
            "KL divergence of vectors of different lengths ({} and {})",
            p.len(),
            q.len()
        );
    }
    Ok(p.iter()
        .zip(q)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| a * (a / b).ln())
        .sum())
}

/// Index of the largest value (first one on ties; NaN never wins).
pub fn argmax<T: Into<f64> + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    let mut bv = f64::NEG_INFINITY;
    for (i, &x) in v.iter().enumerate() {
        let x: f64 = x.into();
        if x > bv {
            bv = x;
            best = i;
        }
    }
    best
}

/// The `k` largest values with their indices, largest first (ties: lower index first).
pub fn top_k<T: Into<f64> + Copy>(v: &[T], k: usize) -> Vec<(usize, f64)> {
    let mut idx: Vec<(usize, f64)> = v
        .iter()
        .map(|&x| x.into())
        .enumerate()
        .filter(|(_, x)| !x.is_nan())
        .collect();
    idx.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    idx.truncate(k);
    idx
}

/// Sample a token index from logits: divide by `temperature` (> 0), keep the `top_k`
/// most likely and/or the smallest set whose probability reaches `top_p`, renormalise,
/// draw one.
pub fn sample_token<T: Into<f64> + Copy>(
    logits: &[T],
    temperature: f64,
    top_k: Option<usize>,
    top_p: Option<f64>,
    rng: &mut impl Rng,
) -> Result<usize> {
    if logits.is_empty() {
        bail!("cannot sample from an empty logit vector");
    }
    if temperature <= 0.0 || !temperature.is_finite() {
        bail!("temperature must be a positive number, got {temperature}");
    }
    let z: Vec<f64> = logits.iter().map(|&x| x.into()).collect();
    let p = softmax_t(&z, temperature);
    let mut order = top_k_all(&p);
    if let Some(k) = top_k {
        if k == 0 {
            bail!("top_k must be at least 1");
        }
        order.truncate(k);
    }
    if let Some(tp) = top_p {
        if !(tp > 0.0 && tp <= 1.0) {
            bail!("top_p must be in (0, 1], got {tp}");
        }
        let mut acc = 0.0;
        let mut keep = 0;
        for &(_, pi) in &order {
            acc += pi;
            keep += 1;
            if acc >= tp {
                break;
            }
        }
        order.truncate(keep);
    }
    let total: f64 = order.iter().map(|x| x.1).sum();
    let mut u = rng.random::<f64>() * total;
    for &(i, pi) in &order {
        if u < pi {
            return Ok(i);
        }
        u -= pi;
    }
    Ok(order.last().map(|x| x.0).unwrap_or(0))
}

fn top_k_all(p: &[f64]) -> Vec<(usize, f64)> {
    top_k(p, p.len())
}

/// Cosine similarity of two vectors (0 when either is all zeros).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// All-to-all cosine similarities of the rows of `x` `[n, d]` -> `[n, n]`, on the
/// tensor's device. Exactly symmetric: a matrix product need not give `s[i][j]` and
/// `s[j][i]` bit for bit (they can come from differently blocked or threaded kernels), so
/// the result is `(S + Sᵀ) / 2`.
pub fn cosine_matrix(x: &tch::Tensor) -> tch::Tensor {
    let n = x
        .linalg_norm(2.0, [-1i64].as_slice(), true, x.kind())
        .clamp_min(1e-12);
    let u = x / n;
    let s = u.matmul(&u.tr());
    (&s + s.tr()) * 0.5
}

/// Arithmetic mean (NaN for an empty slice).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n - 1 in the denominator).
pub fn std_dev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

/// Pearson correlation of two equally long samples.
pub fn pearson(a: &[f64], b: &[f64]) -> Result<f64> {
    if a.len() != b.len() || a.len() < 2 {
        bail!(
            "Pearson correlation needs two samples of the same length >= 2 (got {} and {})",
            a.len(),
            b.len()
        );
    }
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    Ok(sab / (saa * sbb).sqrt())
}

/// Ranks 1..n, ties given their average rank.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation (Pearson correlation of the tie-averaged ranks).
pub fn spearman(a: &[f64], b: &[f64]) -> Result<f64> {
    pearson(&ranks(a), &ranks(b))
}

/// Cosine similarity of each row with the row before it: `s[0] = NaN` (no
/// predecessor), `s[i] = cos(rows[i], rows[i-1])`. Chapter 3's "sequential" similarity.
pub fn successive_cosine(rows: &[Vec<f64>]) -> Vec<f64> {
    (0..rows.len())
        .map(|i| {
            if i == 0 {
                f64::NAN
            } else {
                cosine(&rows[i], &rows[i - 1])
            }
        })
        .collect()
}

/// The strictly-upper-triangle entries (`i < j`) of a square matrix, in row-major order:
/// `n(n-1)/2` values (numpy's `m[np.triu_indices(n, k=1)]`).
pub fn upper_triangle(m: &[Vec<f64>]) -> Vec<f64> {
    let mut out = Vec::with_capacity(m.len() * m.len().saturating_sub(1) / 2);
    for (i, row) in m.iter().enumerate() {
        out.extend(row.iter().skip(i + 1));
    }
    out
}

/// `n` evenly spaced values from `a` to `b` inclusive (numpy's linspace).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

/// Representational similarity analysis: the Pearson correlation of the strictly-upper
/// triangles (`i < j`, row-major, see [`upper_triangle`]) of two `n × n` similarity
/// matrices. The matrices need the same `n`, not the same embedding width.
pub fn rsa(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64> {
    check_square_pair(a, b)?;
    pearson(&upper_triangle(a), &upper_triangle(b))
}

/// [`rsa`] with Spearman's rank correlation instead of Pearson's.
pub fn rsa_spearman(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<f64> {
    check_square_pair(a, b)?;
    spearman(&upper_triangle(a), &upper_triangle(b))
}

fn check_square_pair(a: &[Vec<f64>], b: &[Vec<f64>]) -> Result<()> {
    let square = |m: &[Vec<f64>]| m.iter().all(|r| r.len() == m.len());
    if !square(a) || !square(b) || a.len() != b.len() || a.len() < 3 {
        bail!(
            "RSA needs two square similarity matrices of the same size n >= 3 (got {} and {} rows)",
            a.len(),
            b.len()
        );
    }
    Ok(())
}

/// Indices `(i, j)` of the strictly-upper triangle of an `n × n` matrix, in the order
/// [`upper_triangle`] returns its values.
pub fn upper_triangle_indices(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn softmax_known_values_and_shift_invariance() {
        let z = [1.0, 1.1, 2.0, 3.0, 5.0, 6.0, 6.1];
        let p = softmax(&z);
        let want = [
            0.00264, 0.00291, 0.00717, 0.01948, 0.14397, 0.39134, 0.43250,
        ];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let shifted: Vec<f64> = z.iter().map(|x| x + 1000.0).collect();
        for (a, b) in softmax(&shifted).iter().zip(&p) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn naive_softmax_breaks_where_the_stable_one_does_not() {
        assert!(naive_softmax_f32(&[-200.0, -201.0])
            .iter()
            .all(|x| x.is_nan()));
        assert!(naive_softmax_f32(&[100.0, 0.0])[0].is_nan());
        let s = softmax(&[-200.0, -201.0]);
        assert!((s[0] - 0.7311).abs() < 1e-4 && (s[1] - 0.2689).abs() < 1e-4);
    }

    #[test]
    fn entropy_kl_and_correlations() {
        assert!((entropy(&[0.5, 0.5]) - 2f64.ln()).abs() < 1e-12);
        assert_eq!(kl_divergence(&[0.3, 0.7], &[0.3, 0.7]).unwrap(), 0.0);
        assert!(kl_divergence(&[0.5, 0.5], &[0.9, 0.1]).unwrap() > 0.0);
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&a, &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[1.0, 4.0, 9.0, 16.0]).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[10.0, 20.0, 10.0]), vec![1.5, 3.0, 1.5]);
        assert!(pearson(&a, &[1.0]).is_err());
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn top_k_and_sampling() {
        let v = [0.1f32, 3.0, 2.0, 3.0];
        let t = top_k(&v, 3);
        assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert_eq!(argmax(&v), 1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        // top_k = 1 is greedy
        for _ in 0..20 {
            assert_eq!(
                sample_token(&[0.0f64, 5.0, 1.0], 1.0, Some(1), None, &mut rng).unwrap(),
                1
            );
        }
        // top_p small enough to keep only the most likely token
        assert_eq!(
            sample_token(&[0.0f64, 5.0, 1.0], 1.0, None, Some(0.5), &mut rng).unwrap(),
            1
        );
        assert!(sample_token(&[0.0f64], 0.0, None, None, &mut rng).is_err());
        assert_eq!(linspace(-5.0, 5.0, 55).len(), 55);
        assert_eq!(linspace(-5.0, 5.0, 3), vec![-5.0, 0.0, 5.0]);
    }
    #[test]
    fn successive_and_upper_triangle() {
        let rows = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.0, 2.0]];
        let s = successive_cosine(&rows);
        assert!(s[0].is_nan());
        assert_eq!(&s[1..], &[0.0, 1.0]);
        let m: Vec<Vec<f64>> = (0..4)
            .map(|i| (0..4).map(|j| (10 * i + j) as f64).collect())
            .collect();
        assert_eq!(upper_triangle(&m), vec![1.0, 2.0, 3.0, 12.0, 13.0, 23.0]);
    }

    #[test]
    fn rsa_of_a_matrix_with_itself_is_one() {
        let m: Vec<Vec<f64>> = (0..5)
            .map(|i| {
                (0..5)
                    .map(|j| ((i * j) as f64).sin() + (i + j) as f64)
                    .collect()
            })
            .collect();
        assert!((rsa(&m, &m).unwrap() - 1.0).abs() < 1e-12);
        assert!((rsa_spearman(&m, &m).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(upper_triangle_indices(18).len(), 153);
        assert_eq!(upper_triangle_indices(3), vec![(0, 1), (0, 2), (1, 2)]);
        assert!(rsa(&m, &m[..4]).is_err());
    }
}
