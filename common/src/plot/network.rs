//! Network (graph) drawings built from ordinary series: edges are two-point lines,
//! nodes are outlined circle markers, labels are text. The graph structure itself
//! (which edges exist) is the caller's business, e.g. a `petgraph` graph.
//!
//! ```no_run
//! use common::plot::*;
//! let pos = circular_layout(4);
//! let labels: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
//! let edges = [(0, 1, 0.9), (1, 2, 0.5)];
//! let panel = network_panel("a graph", &pos, &labels, &edges, &NetworkStyle::default());
//! Figure::new(6.0, 6.0).panel(panel).save_png(std::path::Path::new("g.png")).unwrap();
//! ```

use super::color::{Colormap, Rgb};
use super::{Marker, Panel, Series, Style};

/// Where node labels go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelPlacement {
    /// Centred on the node.
    Center,
    /// Beside the node, away from the origin: right of it when `x > 0` (left-aligned),
    /// left of it when `x <= 0` (right-aligned); above when `y > 0`, below when `y <= 0`
    /// — the usual placement for a circular layout.
    Outside,
}

/// How [`network_panel`] draws nodes, edges and labels.
#[derive(Clone, Debug)]
pub struct NetworkStyle {
    /// Edge colour: `colormap` at `(w - lo) / (hi - lo)` for an edge of weight `w`.
    pub colormap: Colormap,
    /// `(lo, hi)` of the colour scaling (default: the edges' own min and max).
    pub color_range: Option<(f64, f64)>,
    /// Edge width in pixels: `Some(k)` gives `max(1, round(k * w))`; `None` uses
    /// `edge_width` for every edge.
    pub width_per_weight: Option<f64>,
    /// Default edge width in pixels when `width_per_weight` is `None`.
    pub edge_width: u32,
    /// Node marker radius in pixels, one per node, or one for all (empty: 6 px).
    pub node_sizes: Vec<u32>,
    /// Node fill colour.
    pub node_fill: Rgb,
    /// Node outline colour.
    pub node_edge: Rgb,
    /// Label font size in points.
    pub label_size: u32,
    /// Labels in the bold face.
    pub label_bold: bool,
    /// Label colour.
    pub label_color: Rgb,
    /// Label placement.
    pub labels: LabelPlacement,
    /// Draw the unit circle (100 points) behind everything, in this colour.
    pub circle: Option<Rgb>,
    /// Half-width of the square data range shown (node positions should lie within ±1).
    pub lim: f64,
    /// Approximate side of the plot area in pixels and the figure's dpi: used only to
    /// turn label sizes into data units for [`LabelPlacement::Outside`].
    pub plot_px: f64,
    pub dpi: f64,
}

impl Default for NetworkStyle {
    fn default() -> Self {
        NetworkStyle {
            colormap: Colormap::Plasma,
            color_range: None,
            width_per_weight: None,
            edge_width: 2,
            node_sizes: Vec::new(),
            node_fill: (211, 211, 211),
            node_edge: (0, 0, 0),
            label_size: 12,
            label_bold: false,
            label_color: (0, 0, 0),
            labels: LabelPlacement::Outside,
            circle: Some((64, 64, 64)),
            lim: 1.45,
            plot_px: 700.0,
            dpi: 100.0,
        }
    }
}

/// `n` points evenly spaced on the unit circle, counter-clockwise from angle 0:
/// angles `linspace(0, 2π − 2π/n, n)` (the last point is not back at 2π).
pub fn circular_layout(n: usize) -> Vec<(f64, f64)> {
    let step = std::f64::consts::TAU / n.max(1) as f64;
    (0..n)
        .map(|i| {
            let a = i as f64 * step;
            (a.cos(), a.sin())
        })
        .collect()
}

/// The horizontal / vertical offset (data units) that makes a centred label of `text`
/// read as aligned away from the origin at `(x, y)`.
fn outside_offset(text: &str, (x, y): (f64, f64), s: &NetworkStyle) -> (f64, f64) {
    let px_per_unit = s.plot_px / (2.0 * s.lim);
    let font_px = f64::from(s.label_size) * s.dpi / 72.0;
    // DejaVu Sans: about 0.62 em per character on average; cap height about 0.73 em.
    let half_w = 0.31 * font_px * text.chars().count() as f64 / px_per_unit;
    let half_h = 0.45 * font_px / px_per_unit;
    let gap = 3.0 / px_per_unit;
    let dx = if x <= 0.0 {
        -half_w - gap
    } else {
        half_w + gap
    };
    let dy = if y <= 0.0 {
        -half_h - gap
    } else {
        half_h + gap
    };
    (dx, dy)
}

/// A panel drawing a network: `edges` as `(from, to, weight)` straight lines coloured by
/// weight (drawn first, beneath the nodes), then the nodes, then their labels; axes
/// hidden, square data range `±style.lim`. In the figure's CSV, edges are series
/// `edge i-j` (two points each, weight in no column: see the caller's own table) and
/// nodes are series `node i: label`.
pub fn network_panel(
    title: &str,
    positions: &[(f64, f64)],
    labels: &[String],
    edges: &[(usize, usize, f64)],
    style: &NetworkStyle,
) -> Panel {
    let mut p = Panel::new(title)
        .hide_axes()
        .xlim(-style.lim, style.lim)
        .ylim(-style.lim, style.lim);
    if let Some(c) = style.circle {
        let t: Vec<f64> = (0..100)
            .map(|i| std::f64::consts::TAU * i as f64 / 99.0)
            .collect();
        p = p.add(Series::line(
            t.iter().map(|a| a.cos()).collect(),
            t.iter().map(|a| a.sin()).collect(),
            Style::line(c).width(1),
        ));
    }
    let (lo, hi) = style.color_range.unwrap_or_else(|| {
        edges
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), e| {
                (a.min(e.2), b.max(e.2))
            })
    });
    for &(i, j, w) in edges {
        let (Some(a), Some(b)) = (positions.get(i), positions.get(j)) else {
            continue;
        };
        let t = if hi > lo { (w - lo) / (hi - lo) } else { 0.5 };
        let width = match style.width_per_weight {
            Some(k) => (k * w).round().max(1.0) as u32,
            None => style.edge_width,
        };
        p = p.add(Series::line(
            vec![a.0, b.0],
            vec![a.1, b.1],
            Style::line(style.colormap.color(t))
                .width(width)
                .label(&format!("edge {i}-{j}")),
        ));
    }
    for (i, &(x, y)) in positions.iter().enumerate() {
        let size = match style.node_sizes.len() {
            0 => 6,
            1 => style.node_sizes[0],
            _ => style.node_sizes.get(i).copied().unwrap_or(6),
        };
        let label = labels.get(i).cloned().unwrap_or_default();
        p = p.add(Series::scatter(
            vec![x],
            vec![y],
            Style::markers(style.node_fill, Marker::Circle)
                .fill(style.node_fill)
                .edge(style.node_edge)
                .size(size)
                .label(&format!("node {i}: {label}")),
        ));
    }
    for (i, &(x, y)) in positions.iter().enumerate() {
        let Some(text) = labels.get(i) else { continue };
        let (dx, dy) = match style.labels {
            LabelPlacement::Center => (0.0, 0.0),
            LabelPlacement::Outside => outside_offset(text, (x, y), style),
        };
        let t = Series::text(x + dx, y + dy, text, style.label_size, style.label_color);
        p = p.add(if style.label_bold { t.bold() } else { t });
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_is_evenly_spaced_and_open() {
        let n = 7;
        let pos = circular_layout(n);
        assert_eq!(pos.len(), n);
        assert!((pos[0].0 - 1.0).abs() < 1e-12 && pos[0].1.abs() < 1e-12);
        let angles: Vec<f64> = pos
            .iter()
            .map(|p| p.1.atan2(p.0).rem_euclid(std::f64::consts::TAU))
            .collect();
        for w in angles.windows(2) {
            assert!((w[1] - w[0] - std::f64::consts::TAU / n as f64).abs() < 1e-9);
        }
        assert!(angles[n - 1] < std::f64::consts::TAU - 1e-6);
    }

    #[test]
    fn labels_sit_away_from_the_origin() {
        let s = NetworkStyle::default();
        let (dx, dy) = outside_offset("word", (-0.5, -0.5), &s);
        assert!(dx < 0.0 && dy < 0.0);
        let (dx, dy) = outside_offset("word", (0.5, 0.5), &s);
        assert!(dx > 0.0 && dy > 0.0);
        // x == 0 counts as "left", y == 0 as "below", as in the usual matplotlib recipe
        let (dx, dy) = outside_offset("w", (0.0, 0.0), &s);
        assert!(dx < 0.0 && dy < 0.0);
    }

    #[test]
    fn panel_has_one_series_per_edge_and_node_and_renders() {
        let pos = circular_layout(3);
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let p = network_panel(
            "t",
            &pos,
            &labels,
            &[(0, 1, 0.2), (1, 2, 0.8)],
            &NetworkStyle::default(),
        );
        assert!(p.hide_axes);
        let edges = p
            .series
            .iter()
            .filter(|s| s.label().is_some_and(|l| l.starts_with("edge")))
            .count();
        let nodes = p
            .series
            .iter()
            .filter(|s| s.label().is_some_and(|l| l.starts_with("node")))
            .count();
        assert_eq!((edges, nodes), (2, 3));
        let tmp = tempfile::tempdir().unwrap();
        super::super::Figure::new(4.0, 4.0)
            .panel(p)
            .save_png(&tmp.path().join("g.png"))
            .unwrap();
    }
}
