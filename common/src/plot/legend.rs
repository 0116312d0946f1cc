//! The legend: a white box of the labelled series' handles and labels in a corner of the
//! plot area (or the corner covering the fewest data points, for [`LegendPos::Best`]).

use anyhow::Result;
use plotters::style::text_anchor::HPos;

use super::canvas::{rgba, Canvas, Rect, VAlign, BLACK_RGB};
use super::render::{draw_line, draw_marker, draw_markers, project, Metrics};
use super::ticks::Axis;
use super::{LegendPos, Marker, Panel, Series};

// ---------------------------------------------------------------------------------------

/// Sample points (pixels) of the drawn data, used to place a `Best` legend.
fn data_samples(p: &Panel, xa: &Axis, ya: &Axis) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for s in &p.series {
        match s {
            Series::Line { x, y, .. } => {
                let pts: Vec<_> = project(x, y, xa, ya);
                for w in pts.windows(2) {
                    if let (Some(a), Some(b)) = (w[0], w[1]) {
                        for k in 0..4 {
                            let t = f64::from(k) / 4.0;
                            out.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
                        }
                    }
                }
                out.extend(pts.iter().flatten());
            }
            Series::Scatter { x, y, .. } | Series::ErrorBars { x, y, .. } => {
                out.extend(project(x, y, xa, ya).into_iter().flatten())
            }
            Series::Bars {
                x, heights, width, ..
            } => {
                for (xi, hi) in x.iter().zip(heights) {
                    for k in 0..=4 {
                        let f = f64::from(k) / 4.0;
                        let xv = xi - width / 2.0 + width * f;
                        for j in 1..=4 {
                            let yv = hi * f64::from(j) / 4.0;
                            if let (Some(a), Some(b)) = (xa.pixel(xv), ya.pixel(yv)) {
                                out.push((a, b));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A data-free copy of `s` (only what its legend handle needs) with alpha 1.
fn opaque_handle(s: &Series) -> Series {
    let solid = |style: &super::Style| super::Style {
        alpha: 1.0,
        ..style.clone()
    };
    match s {
        Series::Line { style, .. } => Series::line(vec![], vec![], solid(style)),
        Series::HLine { style, y } => Series::hline(*y, solid(style)),
        Series::VLine { style, x } => Series::vline(*x, solid(style)),
        Series::Scatter {
            style, color_by, ..
        } => Series::Scatter {
            x: vec![],
            y: vec![],
            style: solid(style),
            color_by: color_by.as_ref().map(|(_, cmap)| (vec![], *cmap)),
        },
        Series::ErrorBars { style, .. } => Series::error_bars(vec![], vec![], vec![], solid(style)),
        other => other.clone(),
    }
}

pub(super) fn draw_legend(
    cv: &Canvas,
    p: &Panel,
    xa: &Axis,
    ya: &Axis,
    plot: Rect,
    m: &Metrics,
) -> Result<()> {
    let entries: Vec<(&str, &Series)> = p
        .series
        .iter()
        .filter_map(|s| s.label().filter(|l| !l.is_empty()).map(|l| (l, s)))
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let size = m.legend;
    let pad = 0.45 * size;
    let handle = 1.7 * size;
    let gap = 0.6 * size;
    let row = 1.25 * size;
    let text_w = entries
        .iter()
        .map(|(l, _)| cv.text_w(l, size))
        .fold(0.0, f64::max);
    let (bw, bh) = (
        (2.0 * pad + handle + gap + text_w).round(),
        (2.0 * pad + row * entries.len() as f64).round(),
    );
    let inset = 0.5 * size;
    let corner = |pos: LegendPos| -> (f64, f64) {
        let left = plot.x0 + inset;
        let right = plot.x1 - inset - bw;
        let top = plot.y0 + inset;
        let bottom = plot.y1 - inset - bh;
        match pos {
            LegendPos::UpperLeft => (left, top),
            LegendPos::LowerLeft => (left, bottom),
            LegendPos::LowerRight => (right, bottom),
            LegendPos::UpperRight | LegendPos::Best => (right, top),
        }
    };
    let pos = if p.legend_pos == LegendPos::Best {
        let samples = data_samples(p, xa, ya);
        let candidates = [
            LegendPos::UpperRight,
            LegendPos::UpperLeft,
            LegendPos::LowerLeft,
            LegendPos::LowerRight,
        ];
        let score = |c: LegendPos| {
            let (x0, y0) = corner(c);
            samples
                .iter()
                .filter(|(x, y)| *x >= x0 && *x <= x0 + bw && *y >= y0 && *y <= y0 + bh)
                .count()
        };
        candidates
            .into_iter()
            .min_by_key(|c| score(*c))
            .unwrap_or(LegendPos::UpperRight)
    } else {
        p.legend_pos
    };
    let (bx, by) = corner(pos);
    let (bx, by) = (bx.round(), by.round());
    cv.fill_rect(bx, by, bx + bw, by + bh, rgba((255, 255, 255), 0.85))?;
    let frame = [(bx, by), (bx + bw, by), (bx + bw, by + bh), (bx, by + bh)];
    cv.closed_outline(&frame, rgba((204, 204, 204), 1.0))?;

    for (k, (label, s)) in entries.iter().enumerate() {
        let cy = (by + pad + row * (k as f64 + 0.5)).round();
        let (hx0, hx1) = (bx + pad, bx + pad + handle);
        let mid = ((hx0 + hx1) / 2.0, cy);
        let line = [Some((hx0, cy)), Some((hx1, cy))];
        let everywhere = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: f64::MAX / 4.0,
            y1: f64::MAX / 4.0,
        };
        let opaque;
        let s: &Series = if p.legend_opaque {
            opaque = opaque_handle(s);
            &opaque
        } else {
            s
        };
        match s {
            Series::Line { style, .. } | Series::HLine { style, .. } => {
                draw_line(cv, &line, style, everywhere)?;
                if let Series::Line { .. } = s {
                    draw_markers(cv, &[Some(mid)], style, None, everywhere)?;
                }
            }
            Series::VLine { style, .. } => draw_line(cv, &line, style, everywhere)?,
            Series::Scatter {
                style, color_by, ..
            } => {
                let mut st = style.clone();
                if st.marker == Marker::None {
                    st.marker = Marker::Circle;
                }
                let fill = match color_by {
                    Some((_, cmap)) => cmap.color(0.6),
                    None => st.marker_fill.unwrap_or(st.color),
                };
                draw_marker(cv, st.marker, mid, &st, fill)?;
            }
            Series::ErrorBars { style, .. } => {
                let half = 0.4 * size;
                let color = rgba(style.color, style.alpha);
                cv.path(&[(mid.0, cy - half), (mid.0, cy + half)], color, 1)?;
                draw_line(cv, &line, style, everywhere)?;
                draw_markers(cv, &[Some(mid)], style, None, everywhere)?;
            }
            Series::Bars { colors, edge, .. } => {
                let color = colors.first().copied().unwrap_or(super::cycle_color(0));
                let half = 0.35 * size;
                cv.fill_rect(hx0, cy - half, hx1, cy + half, rgba(color, 1.0))?;
                if let Some(ec) = edge {
                    let r = [
                        (hx0, cy - half),
                        (hx1, cy - half),
                        (hx1, cy + half),
                        (hx0, cy + half),
                    ];
                    cv.closed_outline(&r, rgba(*ec, 1.0))?;
                }
            }
            Series::Text { .. } => {}
        }
        let tpos = (hx1 + gap, cy);
        cv.text(
            label,
            tpos,
            size,
            BLACK_RGB,
            HPos::Left,
            VAlign::Center,
            false,
        )?;
    }
    Ok(())
}
