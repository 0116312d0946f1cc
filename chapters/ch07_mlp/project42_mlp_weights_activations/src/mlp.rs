//! The closed forms and small numerical helpers of project 42: the two GELUs, the area
//! under a density histogram (the histograms are `common::plot`'s), the MLP's parameter count, the two-rings demo data, the four
//! stages of a GPT-2 MLP recomputed from its input, and an orthographic 3-D view for
//! the separability demo (the plotting API is 2-D only).

use anyhow::{ensure, Result};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use tch::Tensor;

/// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))` (PyTorch's default `gelu`).
pub fn gelu_exact(x: f64) -> f64 {
    0.5 * x * (1.0 + statrs::function::erf::erf(x / std::f64::consts::SQRT_2))
}

/// GPT-2's `gelu_new`: `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
pub fn gelu_tanh(x: f64) -> f64 {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
}

/// Σ density x bin width (1 whenever some value was in range).
pub fn integral(density: &[f64], edges: &[f64]) -> f64 {
    density
        .iter()
        .zip(edges.windows(2))
        .map(|(d, w)| d * (w[1] - w[0]))
        .sum()
}

/// One MLP tensor of the parameter table.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRow {
    pub name: &'static str,
    pub kind: &'static str,
    pub shape: Vec<i64>,
    pub numel: i64,
}

/// The four MLP tensors of a block from the config alone: c_fc weight `[d, d_mlp]` and
/// bias `[d_mlp]`, c_proj weight `[d_mlp, d]` and bias `[d]` (Conv1D layout).
pub fn mlp_param_rows(d: i64, d_mlp: i64) -> Vec<ParamRow> {
    let row = |name, kind, shape: Vec<i64>| ParamRow {
        name,
        kind,
        numel: shape.iter().product(),
        shape,
    };
    vec![
        row("W1 (c_fc.weight)", "weight", vec![d, d_mlp]),
        row("b1 (c_fc.bias)", "bias", vec![d_mlp]),
        row("W2 (c_proj.weight)", "weight", vec![d_mlp, d]),
        row("b2 (c_proj.bias)", "bias", vec![d]),
    ]
}

/// Percentages of the total, one per row.
pub fn percentages(rows: &[ParamRow]) -> Vec<f64> {
    let total: i64 = rows.iter().map(|r| r.numel).sum();
    rows.iter()
        .map(|r| 100.0 * r.numel as f64 / total as f64)
        .collect()
}

/// The points of one ring: `(x, y, z = sqrt(x^2 + y^2))`.
pub type Ring = Vec<(f64, f64, f64)>;

/// The two rings of Part 0b: `n` angles `linspace(0, 2 pi - 1/n, n)`; inner ring
/// `(cos t + e, sin t + e)`, outer `(2 cos t + e, 2 sin t + e)`, each `e` an independent
/// `N(0, noise^2)` draw. Returns `(inner, outer)`.
pub fn two_rings(n: usize, noise: f64, rng: &mut impl Rng) -> Result<(Ring, Ring)> {
    ensure!(n >= 2, "the rings need at least 2 points");
    let normal = Normal::new(0.0, noise)?;
    let theta = common::stats::linspace(0.0, 2.0 * std::f64::consts::PI - 1.0 / n as f64, n);
    let mut ring = |r: f64| -> Ring {
        theta
            .iter()
            .map(|t| {
                let x = r * t.cos() + normal.sample(rng);
                let y = r * t.sin() + normal.sample(rng);
                (x, y, x.hypot(y))
            })
            .collect()
    };
    let inner = ring(1.0);
    let outer = ring(2.0);
    Ok((inner, outer))
}

/// The four stages of one GPT-2 MLP from its input `x1` `[.., d]` (ln_2's output):
/// `x2 = x1 W1 + b1`, `x3 = gelu_new(x2)`, `x4 = x3 W2 + b2` with Conv1D weights
/// `W1 [d, d_mlp]`, `W2 [d_mlp, d]`.
pub fn mlp_stages(x1: &Tensor, w1: &Tensor, b1: &Tensor, w2: &Tensor, b2: &Tensor) -> [Tensor; 4] {
    let x2 = x1.matmul(w1) + b1;
    let x3 = x2.gelu("tanh");
    let x4 = x3.matmul(w2) + b2;
    [x1.shallow_clone(), x2, x3, x4]
}

/// An orthographic view of 3-D points as matplotlib's `view_init(elev, azim)` looks at
/// them: the viewer sits in direction (cos e cos a, cos e sin a, sin e); screen right is
/// (-sin a, cos a, 0) and screen up (-sin e cos a, -sin e sin a, cos e). Returns screen
/// `(x, y)`. (matplotlib adds a mild perspective; this view has none.)
pub fn view(p: (f64, f64, f64), elev_deg: f64, azim_deg: f64) -> (f64, f64) {
    let (e, a) = (elev_deg.to_radians(), azim_deg.to_radians());
    let (x, y, z) = p;
    let sx = -a.sin() * x + a.cos() * y;
    let sy = -e.sin() * a.cos() * x - e.sin() * a.sin() * y + e.cos() * z;
    (sx, sy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::plot::{density_histogram, Bins};
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn parameter_counts_of_gpt2_small() {
        // Offline check 2 with the spec's numbers (d = 768, 4d = 3072).
        let rows = mlp_param_rows(768, 3072);
        let n: Vec<i64> = rows.iter().map(|r| r.numel).collect();
        assert_eq!(n, [2_359_296, 3_072, 2_359_296, 768]);
        assert_eq!(n.iter().sum::<i64>(), 4_722_432);
        let p = percentages(&rows);
        let rounded: Vec<String> = p.iter().map(|v| format!("{v:.3}")).collect();
        assert_eq!(rounded, ["49.959", "0.065", "49.959", "0.016"]);
        assert!((p.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert_eq!(rows[0].shape, [768, 3072]);
        assert_eq!(rows[2].shape, [3072, 768]);
    }

    #[test]
    fn density_integrates_to_one_and_ignores_out_of_range() {
        // Offline check 3.
        let edges = common::stats::linspace(-0.8, 0.8, 201);
        let mut rng = StdRng::seed_from_u64(3);
        let normal = Normal::new(0.0, 0.1).unwrap();
        let inside: Vec<f64> = (0..5000)
            .map(|_| normal.sample(&mut rng))
            .filter(|v: &f64| v.abs() < 0.8)
            .collect();
        let density = |v: &[f64], e: &[f64]| density_histogram(v, &Bins::Edges(e.to_vec())).1;
        let d = density(&inside, &edges);
        assert!((integral(&d, &edges) - 1.0).abs() < 1e-12);
        // adding values outside the range leaves every density unchanged
        let mut with_outliers = inside.clone();
        with_outliers.extend([-5.0, 3.0, 0.81, -0.8000001, f64::NAN]);
        let d2 = density(&with_outliers, &edges);
        assert_eq!(d, d2);
        // one value per bin by hand: 4 values in 2 bins of width 0.5
        let d3 = density(&[0.1, 0.2, 0.6, 1.0], &[0.0, 0.5, 1.0]);
        assert_eq!(d3, [1.0, 1.0]); // 2 / (4 x 0.5) each; 1.0 falls in the closed last bin
    }

    #[test]
    fn gelu_closed_forms() {
        // Offline check 4.
        assert_eq!(gelu_exact(0.0), 0.0);
        assert_eq!(gelu_tanh(0.0), 0.0);
        assert!((gelu_exact(4.0) - 4.0).abs() < 1e-3);
        let grid = common::stats::linspace(-4.0, 4.0, 51);
        let min = grid
            .iter()
            .map(|&x| gelu_exact(x))
            .fold(f64::INFINITY, f64::min);
        assert!((min - (-0.17)).abs() < 0.005, "{min}");
        let fine = common::stats::linspace(-4.0, 4.0, 8001);
        let worst = fine
            .iter()
            .map(|&x| (gelu_exact(x) - gelu_tanh(x)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "{worst}");
        // the continuous minimum of the exact GELU (scipy: -0.16997120748 at x = -0.75179153)
        let xm = -0.751_791_525_658_663_9;
        assert!((gelu_exact(xm) + 0.169_971_207_479_903_7).abs() < 1e-10);
        assert!(gelu_exact(xm - 1e-4) > gelu_exact(xm) && gelu_exact(xm + 1e-4) > gelu_exact(xm));
    }

    #[test]
    fn rings_are_separated_by_a_plane() {
        // Offline check 5 with a fixed seed.
        let mut rng = StdRng::seed_from_u64(42);
        let (inner, outer) = two_rings(100, 0.1, &mut rng).unwrap();
        let mean = |r: &Ring| r.iter().map(|p| p.2).sum::<f64>() / r.len() as f64;
        assert!((mean(&inner) - 1.0).abs() < 0.05);
        assert!((mean(&outer) - 2.0).abs() < 0.05);
        assert!(inner.iter().all(|p| p.2 < 1.5));
        assert!(outer.iter().all(|p| p.2 > 1.5));
    }

    #[test]
    fn view_axes() {
        // azimuth 0, elevation 0: looking along -x, y to the right, z up
        let (x, y) = view((0.0, 1.0, 2.0), 0.0, 0.0);
        assert!((x - 1.0).abs() < 1e-12 && (y - 2.0).abs() < 1e-12);
        // the viewing direction itself projects to the origin
        let (e, a) = (20f64.to_radians(), 20f64.to_radians());
        let d = (e.cos() * a.cos(), e.cos() * a.sin(), e.sin());
        let (x, y) = view(d, 20.0, 20.0);
        assert!(x.abs() < 1e-12 && y.abs() < 1e-12);
    }
}
