//! The fused QKV matrix of a GPT-2 block and the statistics the parts compute on it.
//!
//! GPT-2 stores a block's query, key and value projections as one `Conv1D` weight,
//! `attn.c_attn.weight` `[d, 3d]`: input dimension x output dimension (the transpose of
//! a `Linear` layer's `[out, in]`), so that `x @ W + b` gives `q | k | v` side by side.
//! Output columns `0..d` are W_Q, `d..2d` W_K, `2d..3d` W_V, and inside each of them head
//! `h` owns the `d_head` columns `h * d_head ..`. A "column" is one output unit's weights
//! over the `d` embedding dimensions.

use anyhow::{ensure, Result};
use common::model::AttnWeights;
use tch::{Kind, Tensor};

/// The three projections, in the order the fused matrix holds them.
pub const MATRICES: [&str; 3] = ["W_Q", "W_K", "W_V"];

/// The fused `c_attn.weight` `[d, 3d]` (Conv1D layout) of one block, rebuilt from common's
/// per-head weights (`w_q`, `w_k`, `w_v` `[heads, d, d_head]`, so that head `h`'s queries
/// are `x @ w_q[h]`): head `h` goes to columns `h * d_head ..` of its block of `d`.
pub fn fused_c_attn(a: &AttnWeights) -> Tensor {
    let block = |w: &Tensor| {
        let s = w.size(); // [heads, d, d_head]
        w.permute([1, 0, 2]).reshape([s[1], s[0] * s[2]]) // [d, heads * d_head]
    };
    Tensor::cat(&[block(&a.w_q), block(&a.w_k), block(&a.w_v)], 1)
}

/// W_Q, W_K, W_V `[d, d]` each: the three column blocks of width `d` of a fused `[d, 3d]`.
pub fn split_qkv(fused: &Tensor) -> Result<[Tensor; 3]> {
    let s = fused.size();
    ensure!(
        s.len() == 2 && s[1] == 3 * s[0],
        "a fused QKV matrix is [d, 3d], got {s:?}"
    );
    let d = s[0];
    Ok([0, 1, 2].map(|i| fused.narrow(1, i * d, d)))
}

/// The heads of one projection `[d, d]`: column blocks `[d, d_head]`, head `h` = columns
/// `h * d_head .. (h + 1) * d_head`.
pub fn split_heads(w: &Tensor, d_head: i64) -> Result<Vec<Tensor>> {
    let cols = w.size()[1];
    ensure!(
        d_head > 0 && cols % d_head == 0,
        "{cols} columns do not split into heads of {d_head}"
    );
    Ok((0..cols / d_head)
        .map(|h| w.narrow(1, h * d_head, d_head))
        .collect())
}

/// Cosine similarity of every column of `a` `[d, m]` with every column of `b` `[d, n]`:
/// each column divided by its L2 norm, then `N_a^T N_b` `[m, n]` (float64).
pub fn column_cosines(a: &Tensor, b: &Tensor) -> Tensor {
    let unit = |w: &Tensor| {
        let w = w.to_kind(Kind::Double);
        let norm = w
            .linalg_norm(2.0, [0i64].as_slice(), true, Kind::Double)
            .clamp_min(1e-300);
        w / norm
    };
    unit(a).tr().matmul(&unit(b))
}

/// The strictly upper triangle (offset 1) of a square matrix, row-major: `n(n-1)/2`
/// values without the diagonal and without the mirrored duplicates.
pub fn upper_triangle(m: &Tensor) -> Tensor {
    let n = m.size()[0];
    let keep = Tensor::ones([n, n], (Kind::Bool, m.device())).triu(1);
    m.masked_select(&keep)
}

/// Mean and standard deviation of every value of `t`, in float64; `unbiased` divides
/// by N - 1 (Parts 2, 3 and 6), else by N (Part 5).
pub fn mean_std(t: &Tensor, unbiased: bool) -> (f64, f64) {
    let t = t.to_kind(Kind::Double);
    (
        t.mean(Kind::Double).double_value(&[]),
        t.std(unbiased).double_value(&[]),
    )
}

/// The two pools of column cosine similarities of one projection `[d, d]`:
/// - within: for each head, the strict upper triangle of its own `[d_head, d_head]`
///   cosine matrix (`heads * d_head (d_head - 1) / 2` values);
/// - across: for each pair of heads `i < j`, every value of `N_i^T N_j`
///   (`C(heads, 2) * d_head^2` values).
///
/// Both are blocks of the one `[d, d]` cosine matrix of all columns (`gram`), so they are
/// cut out of it by head index instead of recomputing each pair.
pub struct Pools {
    pub within: Tensor,
    pub across: Tensor,
}

pub fn head_pools(gram: &Tensor, d_head: i64) -> Pools {
    let n = gram.size()[0];
    let opts = (Kind::Int64, gram.device());
    let head = Tensor::arange(n, opts).divide_scalar_mode(d_head, "floor"); // [n]
    let (row_head, col_head) = (head.unsqueeze(1), head.unsqueeze(0)); // [n, 1], [1, n]
    let idx = Tensor::arange(n, opts);
    let upper = idx.unsqueeze(0).gt_tensor(&idx.unsqueeze(1)); // column > row
    let within = row_head.eq_tensor(&col_head).logical_and(&upper);
    let across = row_head.lt_tensor(&col_head);
    Pools {
        within: gram.masked_select(&within),
        across: gram.masked_select(&across),
    }
}

/// Attention parameters of one GPT-2 block from its width alone: `c_attn` (`[d, 3d]` +
/// `[3d]`) and `c_proj` (`[d, d]` + `[d]`) = `4d^2 + 4d`.
pub fn attention_params_per_block(d: i64) -> i64 {
    4 * d * d + 4 * d
}

/// "28.3M attention weights in GPT2-small": the total in millions with one decimal.
pub fn params_line(total: i64, name: &str) -> String {
    format!(
        "{:.1}M attention weights in GPT2-{name}",
        total as f64 / 1e6
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    fn randn(rows: i64, cols: i64, seed: u64) -> Tensor {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let n = Normal::new(0.0, 1.0).unwrap();
        let v: Vec<f64> = (0..rows * cols).map(|_| n.sample(&mut rng)).collect();
        Tensor::from_slice(&v).view([rows, cols])
    }

    /// Offline check 1: 4d^2 + 4d per block times n_layer, printed as the spec's numbers,
    /// for the four GPT-2 configs (n_embd, n_layer).
    #[test]
    fn parameter_counts_of_the_four_configs() {
        for (d, layers, name, exact, line) in [
            (
                768,
                12,
                "small",
                28_348_416,
                "28.3M attention weights in GPT2-small",
            ),
            (
                1024,
                24,
                "medium",
                100_761_600,
                "100.8M attention weights in GPT2-medium",
            ),
            (
                1280,
                36,
                "large",
                236_113_920,
                "236.1M attention weights in GPT2-large",
            ),
            (
                1600,
                48,
                "xl",
                491_827_200,
                "491.8M attention weights in GPT2-xl",
            ),
        ] {
            // c_attn weight + bias + c_proj weight + bias, as shapes
            let by_shapes = d * 3 * d + 3 * d + d * d + d;
            assert_eq!(attention_params_per_block(d), by_shapes);
            let total = attention_params_per_block(d) * layers;
            assert_eq!(total, exact);
            assert_eq!(params_line(total, name), line);
        }
    }

    /// Offline check 2: split into Q/K/V and heads, concatenate back: the same matrix;
    /// head h of Q is columns h*hd..(h+1)*hd-1; Q = x @ W[:, :d].
    #[test]
    fn splitting_the_fused_matrix_round_trips() {
        let (d, heads) = (32i64, 4i64);
        let hd = d / heads;
        let fused = randn(d, 3 * d, 1); // [d, 3d]
        let [q, k, v] = split_qkv(&fused).unwrap();
        let mut parts = vec![];
        for w in [&q, &k, &v] {
            parts.extend(split_heads(w, hd).unwrap());
        }
        assert_eq!(parts.len(), 3 * heads as usize);
        let back = Tensor::cat(&parts, 1);
        assert!(back.equal(&fused), "concatenating the heads back");
        let q_heads = split_heads(&q, hd).unwrap();
        for (h, qh) in q_heads.iter().enumerate() {
            for c in 0..hd {
                let col = h as i64 * hd + c;
                assert!(
                    qh.select(1, c).equal(&fused.select(1, col)),
                    "head {h} col {c}"
                );
            }
        }
        for (i, w) in [&q, &k, &v].iter().enumerate() {
            assert!(w.equal(&fused.narrow(1, i as i64 * d, d)));
        }
        let x = randn(5, d, 2);
        let out = x.matmul(&fused); // [5, 3d]
        assert!(x
            .matmul(&q)
            .allclose(&out.narrow(1, 0, d), 1e-12, 1e-12, false));
        assert!(x
            .matmul(&v)
            .allclose(&out.narrow(1, 2 * d, d), 1e-12, 1e-12, false));
        assert!(split_qkv(&randn(4, 8, 3)).is_err());
        assert!(split_heads(&q, 5).is_err());
    }

    /// Rebuilding the fused matrix from per-head weights inverts the per-head split.
    #[test]
    fn fused_matrix_from_per_head_weights() {
        let (d, heads) = (12i64, 3i64);
        let hd = d / heads;
        let fused = randn(d, 3 * d, 4);
        let [q, k, v] = split_qkv(&fused).unwrap();
        let per_head = |w: &Tensor| w.view([d, heads, hd]).permute([1, 0, 2]).contiguous();
        let zeros = Tensor::zeros([heads, hd], (Kind::Double, tch::Device::Cpu));
        let a = AttnWeights {
            w_q: per_head(&q),
            w_k: per_head(&k),
            w_v: per_head(&v),
            b_q: zeros.shallow_clone(),
            b_k: zeros.shallow_clone(),
            b_v: zeros.shallow_clone(),
            w_o: Tensor::zeros([heads, hd, d], (Kind::Double, tch::Device::Cpu)),
            b_o: Tensor::zeros([d], (Kind::Double, tch::Device::Cpu)),
        };
        assert!(fused_c_attn(&a).equal(&fused));
    }

    /// Offline check 3: cosine matrices are symmetric, ones on the diagonal, in [-1, 1];
    /// pool sizes heads*hd*(hd-1)/2 and C(heads, 2)*hd^2; the pools equal the spec's loop.
    #[test]
    fn cosine_matrices_and_pool_sizes() {
        let w = randn(40, 24, 5); // d = 40 inputs, 24 columns = 3 heads of 8
        let g = column_cosines(&w, &w);
        assert!(g.allclose(&g.tr(), 0.0, 1e-15, false));
        let diag = Vec::<f64>::try_from(g.diagonal(0, 0, 1)).unwrap();
        assert!(diag.iter().all(|x| (x - 1.0).abs() < 1e-12), "{diag:?}");
        let max = g.abs().max().double_value(&[]);
        assert!(max <= 1.0 + 1e-12);
        let p = head_pools(&g, 8);
        assert_eq!(p.within.size(), [3 * 8 * 7 / 2]);
        assert_eq!(p.across.size(), [3 * 64]);
        assert_eq!(upper_triangle(&g).size(), [24 * 23 / 2]);
        // the spec's loop over head pairs, i <= j
        let heads = split_heads(&w, 8).unwrap();
        let (mut within, mut across) = (vec![], vec![]);
        for i in 0..3 {
            for j in i..3 {
                let c = column_cosines(&heads[i], &heads[j]);
                if i == j {
                    within.push(upper_triangle(&c));
                } else {
                    across.push(c.view(-1));
                }
            }
        }
        let sorted = |t: &Tensor| t.sort(0, false).0;
        assert!(sorted(&p.within).allclose(&sorted(&Tensor::cat(&within, 0)), 0.0, 1e-14, false));
        assert!(sorted(&p.across).allclose(&sorted(&Tensor::cat(&across, 0)), 0.0, 1e-14, false));
        // 12 heads of 64: the book's pool sizes
        let g = column_cosines(&randn(16, 768, 6), &randn(16, 768, 6));
        let p = head_pools(&g, 64);
        assert_eq!(p.within.size(), [24_192]);
        assert_eq!(p.across.size(), [270_336]);
    }

    /// Two-sample Kolmogorov–Smirnov statistic (max distance of the empirical CDFs).
    fn ks(a: &[f64], b: &[f64]) -> f64 {
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (mut i, mut j, mut d) = (0, 0, 0.0f64);
        while i < a.len() && j < b.len() {
            let x = a[i].min(b[j]);
            while i < a.len() && a[i] <= x {
                i += 1;
            }
            while j < b.len() && b[j] <= x {
                j += 1;
            }
            d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
        }
        d
    }

    /// Offline check 4: i.i.d. Gaussian weights, d = 768, 12 heads of 64: both pools have
    /// |mean| < 0.005 and std within 10% of 1/sqrt(768), and the same distribution (the
    /// KS statistic below its 0.1% critical value 1.95 sqrt((n + m) / (n m))).
    #[test]
    fn gaussian_weights_give_equal_pools() {
        let w = randn(768, 768, 7);
        let p = head_pools(&column_cosines(&w, &w), 64);
        let expected = 1.0 / 768f64.sqrt();
        for t in [&p.within, &p.across] {
            let (m, s) = mean_std(t, false);
            assert!(m.abs() < 0.005, "mean {m}");
            assert!((s / expected - 1.0).abs() < 0.1, "std {s} vs {expected}");
        }
        let a = Vec::<f64>::try_from(&p.within).unwrap();
        let b = Vec::<f64>::try_from(&p.across).unwrap();
        let (n, m) = (a.len() as f64, b.len() as f64);
        let d = ks(&a, &b);
        assert!(d < 1.95 * ((n + m) / (n * m)).sqrt(), "KS {d}");
        // ... and a pool that is not the same distribution is told apart
        let wider: Vec<f64> = a.iter().map(|x| 1.3 * x).collect();
        assert!(ks(&wider, &b) > 1.95 * ((n + m) / (n * m)).sqrt());
    }

    /// Offline check 5 (the histograms are common::plot's): fixed-edge densities integrate
    /// to 1; Freedman–Diaconis gives 5 bins for 0..99 and edges [1, 4, 7, 10] for 1..10.
    #[test]
    fn histograms() {
        use common::plot::{density_histogram, histogram_counts, Bins};
        let v: Vec<f64> = (0..1000)
            .map(|i| ((i * 37) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        let edges = common::stats::linspace(-0.8, 0.8, 81);
        let dens = density_histogram(&v, &Bins::Edges(edges)).1;
        assert_eq!(dens.len(), 80);
        let area: f64 = dens.iter().map(|x| x * 0.02).sum();
        assert!((area - 1.0).abs() < 1e-12, "{area}");
        let (e, c) = histogram_counts(
            &(0..100).map(f64::from).collect::<Vec<_>>(),
            &Bins::FreedmanDiaconis,
        );
        assert_eq!(c.len(), 5);
        assert_eq!(c.iter().sum::<f64>(), 100.0);
        assert_eq!((e[0], e[5]), (0.0, 99.0));
        let (e, c) = histogram_counts(
            &(1..=10).map(f64::from).collect::<Vec<_>>(),
            &Bins::FreedmanDiaconis,
        );
        assert_eq!(e, [1.0, 4.0, 7.0, 10.0]);
        assert_eq!(c, [3.0, 3.0, 4.0]);
    }
}
