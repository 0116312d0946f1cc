//! Figure helpers of project 24: layer tick labels, the plasma colour of a layer, heatmaps
//! drawn with matplotlib's `origin='lower'`, and the layer colorbar of Part 5.

use common::model::hidden::layer_label;
use common::plot::{rainbow, Colormap, Heatmap, Panel, Rgb, Series};

/// x ticks at hidden states `from, from + step, ...` labelled `Emb`, `L0`, ...
pub fn layer_ticks(n: usize, from: usize, step: usize) -> Vec<(f64, String)> {
    (from..n)
        .step_by(step)
        .map(|k| (k as f64, layer_label(k)))
        .collect()
}

/// The plasma colour of hidden state `k` of `n`: `plasma((k + 1) / n)`.
pub fn plasma(k: usize, n: usize) -> Rgb {
    Colormap::Plasma.color((k + 1) as f64 / n as f64)
}

/// Token tick labels `(i, label)`.
pub fn token_ticks(labels: &[String]) -> Vec<(f64, String)> {
    labels
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64, s.clone()))
        .collect()
}

/// A heatmap panel drawn with `origin='lower'`: row 0 at the bottom.
pub fn lower_heatmap(title: &str, m: Vec<Vec<f64>>, h: Heatmap) -> Panel {
    let n = m.len() as f64;
    Panel::new(title)
        .heatmap(Heatmap { values: m, ..h })
        .ylim(-0.5, n - 0.5)
}

/// A colorbar for the layer colours `rainbow(k / n)`, drawn as a narrow panel: the band
/// from `k` to `k + 1` has layer `k`'s colour. (belongs in common: a `Rainbow` colormap,
/// so that `Series::scatter_colored` draws this colorbar itself.)
pub fn layer_colorbar(n: usize) -> Panel {
    // a blank title keeps the bar level with panel D's plot area
    let step = n.div_ceil(9).max(1);
    let mut p = Panel::new(" ")
        .xlim(-0.5, 0.5)
        .ylim(0.0, n as f64)
        .x_ticks(vec![])
        .y_ticks(vec![])
        .y2_ticks(
            (0..n)
                .step_by(step)
                .map(|k| (k as f64 + 0.5, layer_label(k)))
                .collect(),
        )
        .y2_label("Hidden layer");
    // Bars start at 0: draw the tallest first, each shorter one over it.
    for k in (0..n).rev() {
        p = p.add(Series::bars_width(
            vec![0.0],
            vec![(k + 1) as f64],
            1.0,
            vec![rainbow(k as f64 / n as f64)],
        ));
    }
    p
}

/// Numbers to three decimals, as a list.
pub fn fmt_list(v: &[f64]) -> String {
    let s: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    format!("[{}]", s.join(", "))
}
