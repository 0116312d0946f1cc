//! The project's own pieces: finding the one target token of each padded sentence, the
//! t-test selection of "him"/"her" neurons, the least-tuned control sets, and the
//! ablation hook that zeroes chosen neurons at one (batch item, position) per row.

use anyhow::{bail, Context, Result};
use common::ml::hypothesis::{bh_significant, ttest_ind_columns, Alternative};
use common::Hook;
use ndarray::ArrayView2;
use tch::{Device, Kind, Tensor};

/// The FDR level of the neuron selection (BH-adjusted p < Q).
pub const Q: f64 = 0.05;

/// For each padded row of ids (real tokens `lengths[s]`), the single position whose id is
/// one of `targets`. An error names the sentence when it holds none or several.
pub fn target_positions(
    rows: &[Vec<i64>],
    mask: &[Vec<i64>],
    targets: &[u32],
) -> Result<Vec<usize>> {
    rows.iter()
        .zip(mask)
        .enumerate()
        .map(|(s, (ids, real))| {
            let hits: Vec<usize> = ids
                .iter()
                .zip(real)
                .enumerate()
                .filter(|(_, (&id, &m))| m != 0 && targets.iter().any(|&t| t as i64 == id))
                .map(|(p, _)| p)
                .collect();
            match hits.as_slice() {
                [p] => Ok(*p),
                [] => bail!("sentence {s} holds none of the target tokens {targets:?}"),
                _ => bail!(
                    "sentence {s} holds {} target tokens (positions {hits:?}); it must hold exactly one",
                    hits.len()
                ),
            }
        })
        .collect()
}

/// One layer's t-test selection over its neurons.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Student t (first group minus second), 0 where both groups are constant.
    pub t: Vec<f64>,
    /// Two-sided p values, 1 where both groups are constant.
    pub p: Vec<f64>,
    /// BH-FDR significant at [`Q`].
    pub sig: Vec<bool>,
    /// Significant with t > 0 ("him" > "her"), ascending neuron indices.
    pub him: Vec<i64>,
    /// Significant with t < 0 ("her" > "him").
    pub her: Vec<i64>,
    /// Neurons constant in both groups (no t statistic; counted as not significant).
    pub degenerate: usize,
}

/// Student's pooled-variance t-test of rows `0..n_first` against the rest, every column
/// (neuron) of `acts` (`[n, d]`), then BH-FDR at [`Q`]: positive t is a "him" neuron
/// (the first group, the "him" sentences, has the larger mean).
pub fn select(acts: ArrayView2<f64>, n_first: usize) -> Result<Selection> {
    let (n, d) = acts.dim();
    if n_first < 2 || n - n_first < 2 {
        bail!(
            "the t-tests need at least 2 sentences per group, got {n_first} and {}",
            n - n_first
        );
    }
    let x = acts.slice(ndarray::s![..n_first, ..]);
    let y = acts.slice(ndarray::s![n_first.., ..]);
    let tt = ttest_ind_columns(x, y, Alternative::TwoSided)?;
    let t: Vec<f64> = tt.statistic.iter().map(|v| v.unwrap_or(0.0)).collect();
    let p: Vec<f64> = tt.pvalue.iter().map(|v| v.unwrap_or(1.0)).collect();
    let sig = bh_significant(&p, Q)?;
    let pick = |pos: bool| -> Vec<i64> {
        (0..d)
            .filter(|&j| sig[j] && if pos { t[j] > 0.0 } else { t[j] < 0.0 })
            .map(|j| j as i64)
            .collect()
    };
    Ok(Selection {
        him: pick(true),
        her: pick(false),
        degenerate: tt.degenerate().len(),
        t,
        p,
        sig,
    })
}

/// The `n` neurons with the smallest |t| (ascending argsort of |t|, ties by index, the
/// first `n`): the least-tuned control set.
pub fn least_tuned(t: &[f64], n: usize) -> Vec<i64> {
    let mut order: Vec<usize> = (0..t.len()).collect();
    order.sort_by(|&a, &b| t[a].abs().total_cmp(&t[b].abs()));
    order.into_iter().take(n).map(|j| j as i64).collect()
}

/// What one lesion zeroes: for each entry, batch item `row`, position `pos`, these
/// neurons.
#[derive(Debug, Clone)]
pub struct Target {
    pub row: i64,
    pub pos: i64,
    pub neurons: Vec<i64>,
}

/// A `[batch, seq, d_mlp]` boolean mask, true where the lesion keeps the value.
pub fn keep_mask(shape: [i64; 3], targets: &[Target], device: Device) -> Result<Tensor> {
    let [b, t, d] = shape;
    let mut keep = vec![true; (b * t * d) as usize];
    for tg in targets {
        if !(0..b).contains(&tg.row) || !(0..t).contains(&tg.pos) {
            bail!(
                "lesion at batch item {}, position {}: outside the batch [{b}, {t}]",
                tg.row,
                tg.pos
            );
        }
        for &n in &tg.neurons {
            if !(0..d).contains(&n) {
                bail!("lesion: neuron {n} is out of range (the layer has {d})");
            }
            keep[((tg.row * t + tg.pos) * d + n) as usize] = false;
        }
    }
    Ok(Tensor::from_slice(&keep).view(shape).to_device(device))
}

/// The lesion hook at `name` (`blocks.{l}.mlp.hook_pre` or `.hook_post`): sets the
/// selected entries to exactly 0 and leaves every other value untouched.
pub fn lesion_hook(name: &str, keep: Tensor) -> Hook {
    Hook::apply(name, move |x, at| {
        if x.size() != keep.size() {
            bail!(
                "lesion at {at}: the activations are {:?}, the mask {:?}",
                x.size(),
                keep.size()
            );
        }
        let keep = keep.to_device(x.device());
        Ok(x.where_self(&keep, &x.zeros_like()))
    })
}

/// Rows `(s, pos[s])` of a `[batch, seq, d]` activation, as float64 on the CPU `[batch, d]`.
pub fn rows_at(x: &Tensor, pos: &[usize]) -> Result<Tensor> {
    let b = x.size()[0];
    if pos.len() as i64 != b {
        bail!("{} positions for a batch of {b}", pos.len());
    }
    let rows = Tensor::arange(b, (Kind::Int64, x.device()));
    let p: Vec<i64> = pos.iter().map(|&p| p as i64).collect();
    let p = Tensor::from_slice(&p).to_device(x.device());
    Ok(x.index(&[Some(rows), Some(p)])
        .to_kind(Kind::Double)
        .to_device(Device::Cpu))
}

/// A `[n, d]` float64 CPU tensor as an ndarray.
pub fn to_array(x: &Tensor) -> Result<ndarray::Array2<f64>> {
    let s = x.size();
    if s.len() != 2 {
        bail!("expected a matrix, got shape {s:?}");
    }
    let v = common::device::to_vec_f64(x)?;
    ndarray::Array2::from_shape_vec((s[0] as usize, s[1] as usize), v).context("shape")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Offline check 1: one target per sentence, found whatever the padding (right or
    /// left), and an error for a sentence with two or none.
    #[test]
    fn targets_found_whatever_the_padding() {
        let (him, her) = (7u32, 9u32);
        // right padding (pad id 0), the targets at 2, 1, 4
        let rows = vec![
            vec![1, 5, 7, 2, 0, 0],
            vec![1, 9, 2, 0, 0, 0],
            vec![1, 5, 5, 5, 9, 2],
        ];
        let mask = vec![vec![1, 1, 1, 1, 0, 0], vec![1, 1, 1, 0, 0, 0], vec![1; 6]];
        assert_eq!(
            target_positions(&rows, &mask, &[him, her]).unwrap(),
            [2, 1, 4]
        );
        // left padding, and a pad id that equals a target id (masked out)
        let rows = vec![vec![9, 9, 1, 5, 7, 2], vec![1, 5, 5, 5, 9, 2]];
        let mask = vec![vec![0, 0, 1, 1, 1, 1], vec![1; 6]];
        assert_eq!(target_positions(&rows, &mask, &[him, her]).unwrap(), [4, 4]);
        let two = vec![vec![1, 7, 9, 2]];
        assert!(target_positions(&two, &[vec![1; 4]], &[him, her]).is_err());
        let none = vec![vec![1, 5, 2]];
        assert!(target_positions(&none, &[vec![1; 3]], &[him, her]).is_err());
    }

    /// Offline check 4 (sign): the first 54 rows larger in neuron 2 give t > 0, a "him"
    /// neuron; larger in the second half of neuron 4 gives a "her" neuron.
    #[test]
    fn sign_convention() {
        let mut a = Array2::<f64>::zeros((108, 6));
        for i in 0..108 {
            for j in 0..6 {
                // deterministic "noise"
                a[[i, j]] = ((i * 31 + j * 17) % 13) as f64 / 13.0;
            }
            if i < 54 {
                a[[i, 2]] += 3.0;
            } else {
                a[[i, 4]] += 3.0;
            }
        }
        let s = select(a.view(), 54).unwrap();
        assert!(s.t[2] > 0.0 && s.t[4] < 0.0);
        assert!(s.him.contains(&2) && !s.her.contains(&2));
        assert!(s.her.contains(&4) && !s.him.contains(&4));
    }

    /// Offline check 5: the control set has the requested size and its |t| are ≤ every
    /// |t| outside it.
    #[test]
    fn least_tuned_is_smallest() {
        let t = [3.0, -0.5, 0.1, -2.0, 0.7, -0.05, 5.0];
        let c = least_tuned(&t, 3);
        assert_eq!(c, [5, 2, 1]);
        let inside = c.iter().map(|&j| t[j as usize].abs()).fold(0.0, f64::max);
        let outside = (0..t.len() as i64)
            .filter(|j| !c.contains(j))
            .map(|j| t[j as usize].abs())
            .fold(f64::INFINITY, f64::min);
        assert!(inside <= outside);
        assert!(least_tuned(&t, 0).is_empty());
    }

    /// The lesion hook zeroes exactly the chosen entries and nothing else; with no
    /// neurons it returns the input unchanged.
    #[test]
    fn lesion_zeroes_only_the_targets() {
        let x = Tensor::randn([3, 4, 5], (Kind::Float, Device::Cpu)) + 10.0;
        let tg = [
            Target {
                row: 1,
                pos: 2,
                neurons: vec![0, 3],
            },
            Target {
                row: 2,
                pos: 0,
                neurons: vec![4],
            },
        ];
        let keep = keep_mask([3, 4, 5], &tg, Device::Cpu).unwrap();
        let y = lesion_hook("blocks.0.mlp.hook_pre", keep)
            .run(&x, "blocks.0.mlp.hook_pre")
            .unwrap();
        let zeros = y.eq(0.0).sum(Kind::Int64).int64_value(&[]);
        assert_eq!(zeros, 3);
        for (b, p, n) in [(1, 2, 0), (1, 2, 3), (2, 0, 4)] {
            assert_eq!(y.double_value(&[b, p, n]), 0.0);
        }
        let changed = x.ne_tensor(&y).sum(Kind::Int64).int64_value(&[]);
        assert_eq!(changed, 3);
        let empty = [Target {
            row: 1,
            pos: 2,
            neurons: vec![],
        }];
        let keep = keep_mask([3, 4, 5], &empty, Device::Cpu).unwrap();
        let y = lesion_hook("h", keep).run(&x, "h").unwrap();
        assert!(x.equal(&y));
        assert!(keep_mask(
            [3, 4, 5],
            &[Target {
                row: 0,
                pos: 0,
                neurons: vec![5]
            }],
            Device::Cpu
        )
        .is_err());
    }
}
