//! Median replacement at the last position: the book's forward hook, which replaces the
//! `k` most active units of `output[0, -1, :]` by the lower median of that vector, in
//! the run that is going on (the median and the top units are those of the perturbed
//! run, not of the clean one: earlier layers' replacements change them).

use anyhow::{bail, Result};
use common::Hook;
use tch::{Kind, Tensor};

/// The three intervention sites: common's hook point suffix for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// `mlp.c_fc` output, before the GELU (`blocks.{l}.mlp.hook_pre`).
    PreGelu,
    /// `mlp.act` output, after the GELU (`blocks.{l}.mlp.hook_post`).
    PostGelu,
    /// `mlp.c_proj` output, before the residual add (`blocks.{l}.hook_mlp_out`).
    Projection,
}

impl Site {
    pub const ALL: [Site; 3] = [Site::PreGelu, Site::PostGelu, Site::Projection];

    /// The hook point suffix after `blocks.{l}.`.
    pub fn suffix(self) -> &'static str {
        match self {
            Site::PreGelu => "mlp.hook_pre",
            Site::PostGelu => "mlp.hook_post",
            Site::Projection => "hook_mlp_out",
        }
    }

    /// The hook point in block `l`.
    pub fn point(self, l: usize) -> String {
        format!("blocks.{l}.{}", self.suffix())
    }

    /// The pattern matching this site in every block.
    pub fn every_block(self) -> String {
        format!("blocks.*.{}", self.suffix())
    }

    /// Whether the units replaced are those of largest absolute value (the projection)
    /// rather than the largest signed values (the expansion sites).
    pub fn by_abs(self) -> bool {
        self == Site::Projection
    }

    /// A file-name key.
    pub fn key(self) -> &'static str {
        match self {
            Site::PreGelu => "pre_gelu",
            Site::PostGelu => "post_gelu",
            Site::Projection => "projection",
        }
    }

    /// A name for people.
    pub fn label(self) -> &'static str {
        match self {
            Site::PreGelu => "pre-GELU expansion (c_fc)",
            Site::PostGelu => "post-GELU expansion (act)",
            Site::Projection => "MLP projection (c_proj)",
        }
    }
}

/// numpy's `linspace(start, stop, n)`: `i * step + start` with `step = (stop - start) /
/// (n - 1)`, and the last value set to `stop` (the same float64 operations, so `int(p *
/// N)` floors the same way).
pub fn np_linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (stop - start) / (n - 1) as f64;
            let mut v: Vec<f64> = (0..n).map(|i| i as f64 * step + start).collect();
            v[n - 1] = stop;
            v
        }
    }
}

/// The book's replacement fractions: `linspace(0.01, 0.99, 21)`.
pub fn fractions() -> Vec<f64> {
    np_linspace(0.01, 0.99, 21)
}

/// `int(p * n)`: the number of units replaced at fraction `p` of `n`.
pub fn n_replaced(p: f64, n: usize) -> usize {
    (p * n as f64).floor().max(0.0) as usize
}

/// The lower median of a 1-d tensor (torch.median: for an even count the lower of the
/// two middle values).
pub fn lower_median(v: &Tensor) -> f64 {
    v.to_kind(Kind::Double).median().double_value(&[])
}

/// The indices of the `k` largest entries of the 1-d `v` (by absolute value when
/// `by_abs`).
pub fn top_units(v: &Tensor, k: usize, by_abs: bool) -> Result<Vec<i64>> {
    let n = v.size()[0] as usize;
    if k > n {
        bail!("cannot replace {k} units of a vector of {n}");
    }
    if k == 0 {
        return Ok(vec![]);
    }
    let score = if by_abs { v.abs() } else { v.shallow_clone() };
    let (_, idx) = score.topk(k as i64, -1, true, true);
    common::device::to_vec_i64(&idx)
}

/// The tensor `x` (`[1, T, N]`, at hook point `name`) with the `k` most active units of
/// its last position replaced by the lower median of that position's `N` values: a
/// per-unit value vector (the median in every entry) given to
/// `Hook::replace(name, medians).positions(&[-1]).features(&top_units)`.
pub fn replace_last(x: &Tensor, name: &str, k: usize, by_abs: bool) -> Result<Tensor> {
    let shape = x.size();
    if shape.len() != 3 || shape[0] != 1 {
        bail!("hook at {name}: median replacement expects [1, T, N], got {shape:?}");
    }
    if k == 0 {
        return Ok(x.shallow_clone());
    }
    let v = x.get(0).get(shape[1] - 1);
    let med = v.median(); // torch's lower median, in x's dtype
    let units = top_units(&v, k, by_abs)?;
    let medians = med.expand([shape[2]], false);
    Hook::replace(name, medians)
        .positions(&[-1])
        .features(&units)
        .run(x, name)
}

/// The book's hook: median replacement of `k` units at the last position of `site` in
/// every block.
pub fn median_hook(site: Site, k: usize) -> Hook {
    let by_abs = site.by_abs();
    Hook::apply(&site.every_block(), move |x, name| {
        replace_last(x, name, k, by_abs)
    })
}

/// The same hook in block `l` only (offline check 2).
pub fn median_hook_at(site: Site, l: usize, k: usize) -> Hook {
    let by_abs = site.by_abs();
    Hook::apply(&site.point(l), move |x, name| {
        replace_last(x, name, k, by_abs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64]) -> Tensor {
        Tensor::from_slice(v)
    }

    #[test]
    fn lower_median_follows_torch() {
        assert_eq!(lower_median(&t(&[1.0, 2.0, 3.0, 4.0])), 2.0);
        assert_eq!(lower_median(&t(&[5.0, 1.0, 3.0])), 3.0);
        assert_eq!(lower_median(&t(&[4.0, -1.0, 7.0, 0.5, 2.0, 9.0])), 2.0);
    }

    #[test]
    fn linspace_and_k_match_the_spec() {
        let p = fractions();
        assert_eq!(p.len(), 21);
        let k5120: Vec<usize> = p.iter().map(|&p| n_replaced(p, 5120)).collect();
        assert_eq!(
            k5120,
            [
                51, 302, 552, 803, 1054, 1305, 1556, 1807, 2058, 2309, 2560, 2810, 3061, 3312,
                3563, 3814, 4065, 4316, 4567, 4817, 5068
            ]
        );
        let k1280: Vec<usize> = p.iter().map(|&p| n_replaced(p, 1280)).collect();
        assert_eq!(
            k1280,
            [
                12, 75, 138, 200, 263, 326, 389, 451, 514, 577, 640, 702, 765, 828, 890, 953, 1016,
                1079, 1141, 1204, 1267
            ]
        );
    }

    /// The hook's result against doing it by hand: copy x, find the k largest (signed or
    /// absolute) entries of the last row with a sort, write the median into them.
    #[test]
    fn replace_last_equals_the_hand_made_replacement() {
        let vals: Vec<f64> = (0..3 * 10)
            .map(|i| ((i * 37 % 29) as f64 - 14.3) * 0.37)
            .collect();
        let x = Tensor::from_slice(&vals).view([1, 3, 10]);
        for by_abs in [false, true] {
            for k in [0usize, 1, 3, 7, 10] {
                let got = replace_last(&x, "blocks.0.mlp.hook_pre", k, by_abs).unwrap();
                let mut want = vals.clone();
                let last: Vec<f64> = vals[20..30].to_vec();
                let mut sorted = last.clone();
                sorted.sort_by(f64::total_cmp);
                let med = sorted[(sorted.len() - 1) / 2];
                let mut order: Vec<usize> = (0..10).collect();
                let score = |i: usize| if by_abs { last[i].abs() } else { last[i] };
                order.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
                for &i in &order[..k] {
                    want[20 + i] = med;
                }
                let got: Vec<f64> = Vec::<f64>::try_from(got.flatten(0, -1)).unwrap();
                assert_eq!(got, want, "k = {k}, by_abs = {by_abs}");
            }
        }
    }

    #[test]
    fn replacement_leaves_k_medians_and_caps_the_max() {
        let vals: Vec<f64> = (0..64)
            .map(|i| ((i * 13 % 64) as f64).sin() * 3.0)
            .collect();
        let x = Tensor::from_slice(&vals).view([1, 1, 64]);
        let med = lower_median(&t(&vals));
        let mut sorted = vals.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        for k in [1usize, 6, 32, 63] {
            let y: Vec<f64> = Vec::<f64>::try_from(
                replace_last(&x, "blocks.0.mlp.hook_pre", k, false)
                    .unwrap()
                    .flatten(0, -1),
            )
            .unwrap();
            let before = vals.iter().filter(|&&v| v == med).count();
            let after = y.iter().filter(|&&v| v == med).count();
            // the median itself is among the top k only when k > N/2
            let med_in_top = sorted[..k].contains(&med);
            assert_eq!(after, before + k - usize::from(med_in_top), "k = {k}");
            let mx = y.iter().copied().fold(f64::MIN, f64::max);
            // the (k+1)-th largest value, or the median when it was among the top k
            let cap = sorted[k].max(med);
            assert!(mx <= cap, "k = {k}: {mx} > {cap}");
        }
    }

    #[test]
    fn batches_other_than_one_are_refused() {
        let x = Tensor::zeros([2, 3, 4], (Kind::Float, tch::Device::Cpu));
        assert!(replace_last(&x, "blocks.0.mlp.hook_pre", 1, false).is_err());
    }
}
