//! Filled bands and matplotlib-style violins, composed of line series: the renderer has
//! no polygon fill, so a filled area is one zigzag line between its two edges, sub-sampled
//! densely enough that neighbouring strokes touch at figure resolution.

use super::{Rgb, Series, Style};
use crate::ml::descriptive::{violin_stats, Bandwidth};
use anyhow::{ensure, Result};

/// Strokes per interval of `pos` in [`band`]: 8 keeps a 100-point violin solid at the
/// figure sizes the projects use.
const SUB_STEPS: usize = 8;

/// A filled band between `lo[i]` and `hi[i]` at each `pos[i]` (vertical strokes when
/// `along_x`, so `pos` is x; horizontal ones otherwise), drawn as one zigzag line through
/// linearly interpolated sub-steps. The three slices must have the same length.
pub fn band(pos: &[f64], lo: &[f64], hi: &[f64], along_x: bool, style: Style) -> Result<Series> {
    ensure!(
        pos.len() == lo.len() && pos.len() == hi.len(),
        "a band needs as many lower ({}) and upper ({}) values as positions ({})",
        lo.len(),
        hi.len(),
        pos.len()
    );
    let (mut a, mut b) = (vec![], vec![]);
    let mut flip = false;
    for i in 0..pos.len() {
        let j = (i + 1).min(pos.len() - 1);
        let steps = if i + 1 < pos.len() { SUB_STEPS } else { 1 };
        for s in 0..steps {
            let f = s as f64 / SUB_STEPS as f64;
            let p = pos[i] + f * (pos[j] - pos[i]);
            let l = lo[i] + f * (lo[j] - lo[i]);
            let h = hi[i] + f * (hi[j] - hi[i]);
            let ends = if flip { [h, l] } else { [l, h] };
            flip = !flip;
            for v in ends {
                let (x, y) = if along_x { (p, v) } else { (v, p) };
                a.push(x);
                b.push(y);
            }
        }
    }
    Ok(Series::line(a, b, style))
}

/// Half the width of a violin at its widest, in x units (violins sit at x = 0, 1, 2, …).
pub const VIOLIN_HALF_WIDTH: f64 = 0.4;

/// A violin at `x` as matplotlib's `violinplot(vals, [x], widths=0.8)` draws it: the
/// Gaussian KDE (Scott's bandwidth) on 100 points from the minimum to the maximum, scaled
/// to [`VIOLIN_HALF_WIDTH`] at its peak, filled with `color` at `alpha` and outlined in
/// it, and a black vertical min–max bar with caps. Returns the series to add to a panel;
/// the first is the body (label it with [`Series::with_label`] for a legend entry). An
/// empty or non-finite sample is an error.
pub fn violin(x: f64, vals: &[f64], color: Rgb, alpha: f64) -> Result<Vec<Series>> {
    let v = violin_stats(vals, 100, Bandwidth::Scott)?;
    let peak = v
        .vals
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let half: Vec<f64> = v
        .vals
        .iter()
        .map(|d| VIOLIN_HALF_WIDTH * d / peak)
        .collect();
    let left: Vec<f64> = half.iter().map(|h| x - h).collect();
    let right: Vec<f64> = half.iter().map(|h| x + h).collect();
    let mut ox = left.clone();
    ox.extend(right.iter().rev());
    ox.push(left[0]);
    let mut oy = v.coords.clone();
    oy.extend(v.coords.iter().rev());
    oy.push(v.coords[0]);
    let bar = Style::line((0, 0, 0)).width(1);
    let cap = 0.2 * VIOLIN_HALF_WIDTH;
    Ok(vec![
        band(
            &v.coords,
            &left,
            &right,
            false,
            Style::line(color).alpha(alpha),
        )?,
        Series::line(ox, oy, Style::line(color).width(1)),
        Series::line(vec![x, x], vec![v.min, v.max], bar.clone()),
        Series::line(vec![x - cap, x + cap], vec![v.min, v.min], bar.clone()),
        Series::line(vec![x - cap, x + cap], vec![v.max, v.max], bar),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(s: &Series) -> (&[f64], &[f64]) {
        match s {
            Series::Line { x, y, .. } => (x, y),
            other => panic!("expected a line, got {}", other.kind()),
        }
    }

    #[test]
    fn a_band_zigzags_between_its_edges_at_every_sub_step() {
        // pos 0..2, lo = 0, hi = 1 then 3: 8 sub-steps on [0, 1], then the last position.
        let s = band(
            &[0.0, 1.0],
            &[0.0, 0.0],
            &[1.0, 3.0],
            true,
            Style::line((0, 0, 0)),
        )
        .unwrap();
        let (x, y) = points(&s);
        assert_eq!(x.len(), 2 * (SUB_STEPS + 1));
        for k in 0..=SUB_STEPS {
            let f = k as f64 / SUB_STEPS as f64;
            // vertical strokes: both ends at the same x
            assert_eq!((x[2 * k], x[2 * k + 1]), (f, f));
            // alternating direction (lo then hi, then hi then lo), so that consecutive
            // strokes join at one edge
            let hi = 1.0 + 2.0 * f;
            let expect = if k % 2 == 0 { [0.0, hi] } else { [hi, 0.0] };
            assert!(
                (y[2 * k] - expect[0]).abs() < 1e-12,
                "{k}: {:?}",
                &y[2 * k..]
            );
            assert!((y[2 * k + 1] - expect[1]).abs() < 1e-12, "{k}");
        }
        assert!(band(
            &[0.0, 1.0],
            &[0.0],
            &[1.0, 2.0],
            true,
            Style::line((0, 0, 0))
        )
        .is_err());
    }

    #[test]
    fn a_violin_is_the_scaled_kde_between_the_samples_extremes() {
        let vals = [1.0, 2.0, 2.5, 3.0, 7.0];
        let s = violin(5.0, &vals, (10, 20, 30), 0.3).unwrap();
        assert_eq!(s.len(), 5);
        let kde = violin_stats(&vals, 100, Bandwidth::Scott).unwrap();
        let peak = kde.vals.iter().copied().fold(0.0, f64::max);
        // the outline: left edge up, right edge down, closed
        let (ox, oy) = points(&s[1]);
        assert_eq!(ox.len(), 201);
        for i in 0..100 {
            let h = VIOLIN_HALF_WIDTH * kde.vals[i] / peak;
            assert!((ox[i] - (5.0 - h)).abs() < 1e-12 && oy[i] == kde.coords[i]);
            assert!((ox[199 - i] - (5.0 + h)).abs() < 1e-12);
        }
        assert_eq!((ox[200], oy[200]), (ox[0], oy[0]));
        // the widest point is 0.4 either side of x, the body spans min..max
        let widest = ox.iter().map(|v| (v - 5.0).abs()).fold(0.0, f64::max);
        assert!((widest - VIOLIN_HALF_WIDTH).abs() < 1e-12);
        let (_, by) = points(&s[0]);
        let lo = by.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = by.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((lo, hi), (1.0, 7.0));
        // the min-max bar
        assert_eq!(points(&s[2]), (&[5.0, 5.0][..], &[1.0, 7.0][..]));
        assert!(violin(0.0, &[], (0, 0, 0), 0.3).is_err());
    }
}
