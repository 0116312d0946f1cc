//! Small additions for figures that need per-point colours or matplotlib's sizes:
//! the `rainbow` and `Dark2` colormaps, scientific-notation tick labels, and
//! conversions from matplotlib marker sizes (points) to this crate's pixel radii.

use super::color::{rgb_f, Rgb};

/// matplotlib's `rainbow` colormap at `t` in 0..1 (clamped; NaN gives the middle):
/// red = |2t − 0.5|, green = sin(πt), blue = cos(πt/2).
pub fn rainbow(t: f64) -> Rgb {
    let t = if t.is_nan() { 0.5 } else { t.clamp(0.0, 1.0) };
    let pi = std::f64::consts::PI;
    rgb_f((2.0 * t - 0.5).abs(), (pi * t).sin(), (pi * t / 2.0).cos())
}

/// ColorBrewer's qualitative `Dark2` (8 colours), as matplotlib's `Dark2(i/8)`;
/// wraps around after 8.
pub fn dark2(i: usize) -> Rgb {
    const DARK2: [Rgb; 8] = [
        (27, 158, 119),
        (217, 95, 2),
        (117, 112, 179),
        (231, 41, 138),
        (102, 166, 30),
        (230, 171, 2),
        (166, 118, 29),
        (102, 102, 102),
    ];
    DARK2[i % DARK2.len()]
}

/// Tick positions over `lo..hi` (about `max_n` of them, at 1/2/2.5/5 × 10^k steps)
/// labelled in scientific notation with a shared exponent, like matplotlib's
/// `ticklabel_format(style='sci', scilimits=(0,0))`: `0`, `2.0e5`, `4.0e5`, ...
pub fn sci_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<(f64, String)> {
    let (a, b) = (lo.min(hi), lo.max(hi));
    let span = b - a;
    if !(span.is_finite() && span > 0.0) || max_n == 0 {
        return Vec::new();
    }
    let raw = span / max_n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let exp = a.abs().max(b.abs()).log10().floor() as i32;
    let scale = 10f64.powi(exp);
    // Decimals of the mantissa that represent the step exactly (0.25 needs 2).
    let m = step / scale;
    let decimals = (1..=6)
        .find(|&d| {
            let f = m * 10f64.powi(d);
            (f - f.round()).abs() < 1e-6
        })
        .unwrap_or(6) as usize;
    let k0 = (a / step - 1e-9).ceil() as i64;
    let k1 = (b / step + 1e-9).floor() as i64;
    (k0..=k1)
        .map(|k| {
            let v = k as f64 * step;
            let label = if v == 0.0 {
                "0".to_string()
            } else {
                format!("{:.*}e{}", decimals, v / scale, exp).replace('-', "\u{2212}")
            };
            (v, label)
        })
        .collect()
}

/// An axis range for `values` (their span padded by 5 % on each side, like the automatic
/// limits) with [`sci_ticks`] on it: pass the two to `Panel::ylim`/`y_ticks` (or the x
/// versions) for a scientific-notation axis.
pub fn sci_axis(values: &[f64]) -> ((f64, f64), Vec<(f64, String)>) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        return ((0.0, 1.0), sci_ticks(0.0, 1.0, 5));
    }
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else {
        0.05 * lo.abs().max(1.0)
    };
    let range = (lo - pad, hi + pad);
    (range, sci_ticks(range.0, range.1, 5))
}

/// Pixel radius of a marker of matplotlib `markersize` `ms` points (its diameter), at
/// `dpi` pixels per inch.
pub fn markersize_px(ms: f64, dpi: f64) -> u32 {
    ((ms / 2.0) * dpi / 72.0).round().max(1.0) as u32
}

/// Pixel radius of a matplotlib `scatter` marker of area `s` points² (`s` is the square
/// of the equivalent `markersize`), at `dpi` pixels per inch.
pub fn scatter_size_px(s: f64, dpi: f64) -> u32 {
    markersize_px(s.max(0.0).sqrt(), dpi)
}

/// Outlines of bars as drawn by [`super::Series::bars_width`] (centred on `x`, from 0 to
/// `heights`, `width` wide): one line series with breaks between bars, to draw after the
/// bars for matplotlib's `edgecolor`.
pub fn bar_edges(x: &[f64], heights: &[f64], width: f64, color: Rgb) -> super::Series {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (&xi, &h) in x.iter().zip(heights) {
        let (l, r) = (xi - width / 2.0, xi + width / 2.0);
        xs.extend([l, l, r, r, f64::NAN]);
        ys.extend([0.0, h, h, 0.0, f64::NAN]);
    }
    super::Series::line(xs, ys, super::Style::line(color).width(1))
}

/// One token the vocabulary panel of [`vocabulary_panel`] marks: its id, its legend label,
/// and how it is drawn.
pub struct MarkedToken<'a> {
    pub id: usize,
    pub label: &'a str,
    pub color: Rgb,
    pub marker: super::Marker,
}

/// A value per vocabulary entry (logits, log-softmax) against the vocabulary index: every
/// token as a faint black dot, the `marked` ones large on top with a legend (the book's
/// IOI and next-token figures).
pub fn vocabulary_panel(
    title: &str,
    values: &[f64],
    ylabel: &str,
    marked: &[MarkedToken],
) -> super::Panel {
    use super::{LegendPos, Series, Style};
    let x: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
    let mut panel = super::Panel::new(title).add(Series::scatter(
        x,
        values.to_vec(),
        Style::markers((0, 0, 0), super::Marker::Circle)
            .size(2)
            .alpha(0.2)
            .label("All tokens"),
    ));
    for m in marked {
        panel = panel.add(Series::scatter(
            vec![m.id as f64],
            vec![values.get(m.id).copied().unwrap_or(f64::NAN)],
            Style::markers(m.color, m.marker).size(7).label(m.label),
        ));
    }
    panel
        .xlim(-100.0, values.len() as f64 + 100.0)
        .xlabel("Vocabulary index")
        .ylabel(ylabel)
        .legend_at(LegendPos::LowerRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rainbow_ends_and_dark2() {
        assert_eq!(rainbow(0.0), rgb_f(0.5, 0.0, 1.0));
        assert_eq!(rainbow(1.0), rgb_f(1.0, 0.0, 0.0));
        assert_eq!(dark2(0), (27, 158, 119));
        assert_eq!(dark2(9), dark2(1));
    }

    #[test]
    fn sci_ticks_share_an_exponent() {
        let t = sci_ticks(0.0, 4.4e5, 5);
        assert_eq!(t.first().map(|x| x.1.as_str()), Some("0"));
        assert!(t.iter().any(|(v, l)| *v == 2e5 && l == "2.0e5"), "{t:?}");
        assert!(t.iter().all(|(v, _)| (0.0..=4.4e5).contains(v)));
        let t = sci_ticks(190.0, 300.0, 5);
        assert!(t.iter().any(|(_, l)| l == "2.25e2"), "{t:?}");
    }

    #[test]
    fn marker_sizes() {
        assert_eq!(markersize_px(10.0, 100.0), 7);
        assert_eq!(scatter_size_px(100.0, 100.0), 7);
    }
}
