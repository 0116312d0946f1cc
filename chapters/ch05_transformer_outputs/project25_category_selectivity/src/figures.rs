//! Figure helpers of project 25: a matrix drawn as a discrete-colour image with its own
//! colorbar (ticks at chosen values), density curves and layer ticks.
//! (belongs in common: a discrete colormap — `plt.get_cmap('rainbow', n)` — and colorbar
//! tick positions for `Heatmap`, and a horizontal colorbar; until then the image is drawn
//! here from bars, and part 6's colorbars stand at the right of each panel.)

use common::model::hidden::layer_label;
use common::plot::{rainbow, Panel, Rgb, Series, Style};

/// The colour of `v` in an `levels`-colour rainbow over `[0, vmax]` (matplotlib's
/// `get_cmap('rainbow', levels)` with `vmin = 0`): level `floor(v / vmax · levels)`,
/// clipped to the last, coloured `rainbow(level / (levels − 1))`.
pub fn discrete_color(v: f64, levels: usize, vmax: f64) -> Rgb {
    let level = ((v / vmax * levels as f64).floor().max(0.0) as usize).min(levels - 1);
    rainbow(level as f64 / (levels - 1) as f64)
}

/// The matrix `m` (row 0 at the top) as an image in a discrete rainbow. Each column is a
/// stack of unit bars drawn from the bottom row's top edge down, tallest first, so that
/// cell `(r, j)` covers x ∈ [j − ½, j + ½], y ∈ [n − 1 − r, n − r].
pub fn discrete_image(title: &str, m: &[Vec<u32>], levels: usize, vmax: f64) -> Panel {
    let n = m.len();
    let cols = m.first().map_or(0, Vec::len);
    let mut p = Panel::new(title)
        .xlim(-0.5, cols as f64 - 0.5)
        .ylim(0.0, n as f64);
    for (r, row) in m.iter().enumerate() {
        p = p.add(Series::bars_width(
            (0..cols).map(|j| j as f64).collect(),
            vec![(n - r) as f64; cols],
            1.0,
            row.iter()
                .map(|&v| discrete_color(v as f64, levels, vmax))
                .collect(),
        ));
    }
    p
}

/// A vertical colorbar for [`discrete_color`], drawn as a narrow panel: band `i` spans
/// values `[i·vmax/levels, (i+1)·vmax/levels]`; ticks at `ticks`.
pub fn discrete_colorbar(levels: usize, vmax: f64, ticks: &[u32], label: &str) -> Panel {
    let w = vmax / levels as f64;
    let mut p = Panel::new(" ")
        .xlim(-0.5, 0.5)
        .ylim(0.0, vmax)
        .x_ticks(vec![])
        .y_ticks(vec![])
        .y2_ticks(ticks.iter().map(|&v| (v as f64, v.to_string())).collect())
        .y2_label(label);
    // Bars start at 0: draw the tallest first, each shorter one over it.
    for i in (0..levels).rev() {
        p = p.add(Series::bars_width(
            vec![0.0],
            vec![(i + 1) as f64 * w],
            1.0,
            vec![rainbow(i as f64 / (levels - 1) as f64)],
        ));
    }
    p
}

/// A density curve: x = left bin edges, y = density.
pub fn density_curve(edges: &[f64], density: Vec<f64>, color: Rgb, label: &str) -> Series {
    Series::line(
        edges[..density.len()].to_vec(),
        density,
        Style::line(color).width(2).label(label),
    )
}

/// x ticks `Emb, L0, L1, ...` at every hidden state.
pub fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    (0..n).map(|k| (k as f64, layer_label(k))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_level_rainbow() {
        // 0 -> first colour, 9 (= vmax) -> the last, 4 -> level 4 of 9
        assert_eq!(discrete_color(0.0, 9, 9.0), rainbow(0.0));
        assert_eq!(discrete_color(9.0, 9, 9.0), rainbow(1.0));
        assert_eq!(discrete_color(4.0, 9, 9.0), rainbow(0.5));
        assert_ne!(discrete_color(1.0, 9, 9.0), discrete_color(2.0, 9, 9.0));
    }
}
