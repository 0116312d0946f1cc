//! Project 44's building blocks: the single-token word filter and the alternating
//! splits, per-neuron Student t-tests with Cohen's d and BH-FDR, the inverse of a
//! permutation and Freedman–Diaconis histogram curves. Unit-tested below (offline checks
//! 1, 2, 3 and 5).

use anyhow::{ensure, Result};
use common::ml::hypothesis::{
    benjamini_hochberg, bonferroni_significant, cohens_d_columns, ttest_ind_columns, Alternative,
};
use ndarray::Array2;

/// The entries of a word list whose `" " + word` is exactly one token, in file order.
pub struct Kept {
    pub words: Vec<String>,
    pub ids: Vec<u32>,
    /// Character length of each kept word (Python's `len(word)`).
    pub lens: Vec<usize>,
    /// How many entries the list had (the empty one after the trailing newline included).
    pub total: usize,
}

/// Keep the entries of `entries` that `encode(" " + word)` maps to exactly one token.
pub fn single_token_words(
    entries: &[String],
    encode: impl Fn(&str) -> Result<Vec<u32>>,
) -> Result<Kept> {
    let mut k = Kept {
        words: vec![],
        ids: vec![],
        lens: vec![],
        total: entries.len(),
    };
    for w in entries {
        let ids = encode(&format!(" {w}"))?;
        if ids.len() == 1 {
            k.words.push(w.clone());
            k.ids.push(ids[0]);
            k.lens.push(w.chars().count());
        }
    }
    Ok(k)
}

/// split1 = even indices, split2 = odd indices of the first `n` items.
pub fn alternate_splits<T: Clone>(v: &[T], n: usize) -> (Vec<T>, Vec<T>) {
    let head = &v[..n.min(v.len())];
    let even = head.iter().step_by(2).cloned().collect();
    let odd = head.iter().skip(1).step_by(2).cloned().collect();
    (even, odd)
}

/// One Student t-test (pooled variance, two-sided) per neuron, with Cohen's d.
pub struct NeuronTests {
    pub t: Vec<f64>,
    pub p: Vec<f64>,
    pub d: Vec<f64>,
}

impl NeuronTests {
    /// BH-FDR adjusted p < q per neuron.
    pub fn fdr(&self, q: f64) -> Result<Vec<bool>> {
        Ok(benjamini_hochberg(&self.p)?
            .into_iter()
            .map(|p| p < q)
            .collect())
    }

    /// p < alpha / neurons per neuron.
    pub fn bonferroni(&self, alpha: f64) -> Result<Vec<bool>> {
        bonferroni_significant(&self.p, alpha)
    }
}

/// Column-wise tests of `x` `[n1, neurons]` against `y` `[n2, neurons]`; a neuron that
/// is constant in both groups is an error (its t is undefined).
pub fn neuron_tests(x: &Array2<f64>, y: &Array2<f64>) -> Result<NeuronTests> {
    let tt = ttest_ind_columns(x.view(), y.view(), Alternative::TwoSided)?;
    let (t, p) = tt.complete()?;
    let d: Option<Vec<f64>> = cohens_d_columns(x.view(), y.view())?.into_iter().collect();
    let d = d.ok_or_else(|| anyhow::anyhow!("a neuron is constant in both groups"))?;
    Ok(NeuronTests {
        t: t.to_vec(),
        p: p.to_vec(),
        d,
    })
}

/// `argsort(p)`: the index q with `p[q[i]] == i`, so that `x[p][q] == x`.
pub fn inverse_permutation(p: &[usize]) -> Result<Vec<usize>> {
    let mut inv = vec![usize::MAX; p.len()];
    for (i, &v) in p.iter().enumerate() {
        ensure!(
            v < p.len() && inv[v] == usize::MAX,
            "{p:?} is not a permutation"
        );
        inv[v] = i;
    }
    Ok(inv)
}

/// `v[idx[0]], v[idx[1]], ...`
pub fn take<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().map(|&i| v[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::ml::hypothesis::{cohens_d, ttest_ind};
    use common::plot::fd_curve;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    /// Offline check 1: scipy's ttest_ind([1..5], [2,4,..,10]) is t = -1.8974, df = 8,
    /// p = 0.0943; d is its definition; for equal n, t = d·sqrt(n/2) exactly.
    #[test]
    fn check1_student_t_and_cohens_d() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.0, 4.0, 6.0, 8.0, 10.0];
        let r = ttest_ind(&x, &y, true, Alternative::TwoSided).unwrap();
        assert!((r.statistic + 1.8974).abs() < 5e-5, "{}", r.statistic);
        assert_eq!(r.df, 8.0);
        assert!((r.pvalue - 0.0943).abs() < 5e-5, "{}", r.pvalue);
        // d by its definition: means 3 and 6, variances 2.5 and 10, pooled SD sqrt(6.25)
        let d = cohens_d(&x, &y).unwrap();
        assert!((d - (3.0 - 6.0) / 6.25f64.sqrt()).abs() < 1e-12);
        assert!((r.statistic - d * (5.0f64 / 2.0).sqrt()).abs() < 1e-12);
        // the column version over 3 neurons, n = 4 per group
        let a = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 7 + j * 3) % 5) as f64 + j as f64);
        let b = Array2::from_shape_fn((4, 3), |(i, j)| ((i * 3 + j) % 4) as f64 * 1.5);
        let nt = neuron_tests(&a, &b).unwrap();
        for j in 0..3 {
            let (ca, cb) = (a.column(j).to_vec(), b.column(j).to_vec());
            let r = ttest_ind(&ca, &cb, true, Alternative::TwoSided).unwrap();
            assert!((nt.t[j] - r.statistic).abs() < 1e-12);
            assert!((nt.p[j] - r.pvalue).abs() < 1e-12);
            assert!((nt.t[j] - nt.d[j] * 2f64.sqrt()).abs() < 1e-12);
        }
    }

    /// Offline check 2: BH as scipy: [0.01..0.05] all become 0.05 (so none is < .05);
    /// adjusted >= raw and monotone in the rank of the raw p.
    #[test]
    fn check2_benjamini_hochberg() {
        let adj = benjamini_hochberg(&[0.01, 0.02, 0.03, 0.04, 0.05]).unwrap();
        for a in &adj {
            assert!((a - 0.05).abs() < 1e-15);
        }
        let ps = [0.2, 0.001, 0.04, 0.9, 0.011, 0.03, 0.5, 0.0004];
        let adj = benjamini_hochberg(&ps).unwrap();
        // scipy.stats.false_discovery_control(ps): written out by hand
        let want = [
            0.26666666666666666,
            0.004,
            0.064,
            0.9,
            0.029333333333333333,
            0.06,
            0.5714285714285714,
            0.0032,
        ];
        for i in 0..ps.len() {
            assert!(adj[i] >= ps[i]);
            assert!((adj[i] - want[i]).abs() < 1e-12, "{i}: {}", adj[i]);
            for j in 0..ps.len() {
                if ps[i] < ps[j] {
                    assert!(adj[i] <= adj[j]);
                }
            }
        }
    }

    /// Offline check 3: scrambled[inverse] == original for random permutations.
    #[test]
    fn check3_inverse_permutation() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let orig: Vec<u32> = (0..34).map(|i| 1000 + i * 3).collect();
        for _ in 0..50 {
            let mut p: Vec<usize> = (0..34).collect();
            p.shuffle(&mut rng);
            let scrambled = take(&orig, &p);
            let inv = inverse_permutation(&p).unwrap();
            assert_eq!(take(&scrambled, &inv), orig);
        }
        assert!(inverse_permutation(&[0, 0, 1]).is_err());
    }

    /// Offline check 5: only single-token words are kept (GPT-2's real BPE from
    /// assets/models/tiny-gpt2), in file order, with their lengths; the splits alternate.
    #[test]
    fn check5_word_filter_and_splits() {
        let tok = common::tokenizer::Tokenizer::from_file(
            &common::assets_dir().join("models/tiny-gpt2/tokenizer.json"),
        )
        .unwrap();
        assert_eq!(tok.encode(" time").unwrap().len(), 1);
        assert_eq!(tok.encode(" strawberry").unwrap(), vec![41236]);
        assert!(tok.encode("-flavored").unwrap().len() > 1);
        let words: Vec<String> = [
            "time",
            "photosynthesis",
            "strawberry",
            "-flavored",
            "way",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let k = single_token_words(&words, |s| tok.encode(s)).unwrap();
        assert_eq!(k.total, 6);
        assert_eq!(k.words, ["time", "strawberry", "way", ""]);
        assert_eq!(k.ids[1], 41236);
        assert_eq!(k.ids[3], 220); // " "
        assert_eq!(k.lens, [4, 10, 3, 0]);
        let v: Vec<usize> = (0..10).collect();
        assert_eq!(alternate_splits(&v, 6), (vec![0, 2, 4], vec![1, 3, 5]));
        assert_eq!(alternate_splits(&v, 100).0.len(), 5);
    }

    #[test]
    fn density_curves_integrate_to_one() {
        let v: Vec<f64> = (0..500).map(|i| ((i * 7919) % 500) as f64 / 50.0).collect();
        let (x, c) = fd_curve(&v, false);
        assert_eq!(c.iter().sum::<f64>(), 500.0);
        let (_, d) = fd_curve(&v, true);
        assert!((d.iter().sum::<f64>() * (x[1] - x[0]) - 1.0).abs() < 1e-9);
    }
}
