//! Rendering of a [`Figure`] onto a plotters bitmap.
//!
//! All geometry is computed here in pixel space (layout, scales, clipping, dashes,
//! markers); plotters is used only for rasterising primitives and text.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;

use super::canvas::{convex_sdf, de, font, rgba, Canvas, Mask, Rect, VAlign};
use super::canvas::{BLACK_RGB, CAP, DESC, GRID, GRID_DASHED, SPINE};
use super::canvas::{LABEL_PT, LEGEND_PT, SUPTITLE_PT, TICK_PT, TITLE_PT};
use super::ticks::{auto_range, fmt_in_span, linear_ticks, log_ticks, sanitize_limits};
use super::ticks::{Axis, Tick};
use super::{Colormap, Figure, Heatmap, LineKind, Marker, Panel, Rgb, Series, Style};

/// Entry point used by [`Figure::save_png`] (the figure is already validated).
pub(crate) fn render_png(fig: &Figure, path: &Path) -> Result<()> {
    let font = font()?;
    let (w, h) = fig.pixel_size()?;
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(de)?;
    let cv = Canvas {
        area: &root,
        dpi: fig.dpi,
        font,
        bold: super::canvas::bold_font()?,
    };
    let (w, h) = (f64::from(w), f64::from(h));
    let mut top = 0.0;
    if let Some(s) = fig.suptitle.as_deref().filter(|s| !s.is_empty()) {
        let size = cv.font(SUPTITLE_PT);
        let y = cv.px(8.0);
        cv.text(
            s,
            (w / 2.0, y),
            size,
            BLACK_RGB,
            HPos::Center,
            VAlign::Top,
            false,
        )?;
        top = y + size * 1.1;
    }
    let (rows, cols) = (fig.rows as f64, fig.cols as f64);
    let (cw, ch) = (w / cols, (h - top) / rows);
    for (i, panel) in fig.panels.iter().enumerate() {
        let slot = fig.slots.get(i).copied().unwrap_or(crate::plot::Slot {
            row: i / fig.cols,
            col: i % fig.cols,
            rowspan: 1,
            colspan: 1,
        });
        let (r, c) = (slot.row as f64, slot.col as f64);
        let cell = Rect {
            x0: (c * cw).round(),
            y0: (top + r * ch).round(),
            x1: ((c + slot.colspan as f64) * cw).round(),
            y1: (top + (r + slot.rowspan as f64) * ch).round(),
        };
        draw_panel(&cv, panel, cell)?;
    }
    root.present().map_err(de)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------------------

fn heatmap_shape(h: &Heatmap) -> (usize, usize) {
    (h.values.len(), h.values.first().map_or(0, Vec::len))
}

/// The heatmap, if it has at least one cell.
fn nonempty_heatmap(p: &Panel) -> Option<&Heatmap> {
    p.heatmap
        .as_ref()
        .filter(|h| heatmap_shape(h).0 > 0 && heatmap_shape(h).1 > 0)
}

fn x_values(p: &Panel) -> Vec<f64> {
    let mut v = Vec::new();
    for s in &p.series {
        match s {
            Series::Line { x, .. } | Series::Scatter { x, .. } | Series::ErrorBars { x, .. } => {
                v.extend(x.iter().copied())
            }
            Series::Bars { x, width, .. } => {
                for xi in x {
                    v.push(xi - width / 2.0);
                    v.push(xi + width / 2.0);
                }
            }
            Series::VLine { x, .. } => v.push(*x),
            Series::HLine { .. } | Series::Text { .. } => {}
        }
    }
    v
}

fn y_values(p: &Panel) -> Vec<f64> {
    let mut v = Vec::new();
    for s in &p.series {
        match s {
            Series::Line { y, .. } | Series::Scatter { y, .. } => v.extend(y.iter().copied()),
            Series::ErrorBars { y, err, .. } => {
                for (yi, e) in y.iter().zip(err) {
                    let e = if e.is_finite() { e.abs() } else { 0.0 };
                    v.push(yi - e);
                    v.push(yi + e);
                }
            }
            Series::Bars { heights, .. } => {
                v.extend(heights.iter().copied());
                if !heights.is_empty() {
                    v.push(0.0);
                }
            }
            Series::HLine { y, .. } => v.push(*y),
            Series::VLine { .. } | Series::Text { .. } => {}
        }
    }
    v
}

fn has_bars(p: &Panel) -> bool {
    p.series.iter().any(|s| matches!(s, Series::Bars { .. }))
}

/// Data ranges `(x, y)` of a panel (each `(at left/bottom, at right/top)`).
fn panel_ranges(p: &Panel) -> ((f64, f64), (f64, f64)) {
    let hm = nonempty_heatmap(p);
    let auto_x = || {
        if let Some(h) = hm {
            let nc = heatmap_shape(h).1 as f64;
            let ext = h.x_extent.unwrap_or((-0.5, nc - 0.5));
            let fallback = auto_range(x_values(p), p.log_x, 0.05, false);
            sanitize_limits(ext, p.log_x, fallback)
        } else {
            auto_range(x_values(p), p.log_x, 0.05, false)
        }
    };
    let auto_y = || {
        if let Some(h) = hm {
            let nr = heatmap_shape(h).0 as f64;
            let ext = h.y_extent.unwrap_or((nr - 0.5, -0.5));
            let fallback = auto_range(y_values(p), p.log_y, 0.05, has_bars(p));
            sanitize_limits(ext, p.log_y, fallback)
        } else {
            auto_range(y_values(p), p.log_y, 0.05, has_bars(p))
        }
    };
    let x = match p.xlim {
        Some(l) => sanitize_limits(l, p.log_x, auto_x()),
        None => auto_x(),
    };
    let y = match p.ylim {
        Some(l) => sanitize_limits(l, p.log_y, auto_y()),
        None => auto_y(),
    };
    (x, y)
}

// ---------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------

/// What a colorbar shows.
struct ColorbarSpec {
    cmap: Colormap,
    vmin: f64,
    vmax: f64,
    label: String,
}

fn finite_min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

/// Colour range `(vmin, vmax)` from optional overrides and the data.
fn color_range(vmin: Option<f64>, vmax: Option<f64>, data: &[f64]) -> (f64, f64) {
    let (lo, hi) = finite_min_max(data.iter().copied()).unwrap_or((0.0, 1.0));
    let lo = vmin.filter(|v| v.is_finite()).unwrap_or(lo);
    let hi = vmax.filter(|v| v.is_finite()).unwrap_or(hi);
    (lo, hi)
}

fn colorbar_spec(p: &Panel) -> Option<ColorbarSpec> {
    if let Some(h) = nonempty_heatmap(p) {
        let flat: Vec<f64> = h.values.iter().flatten().copied().collect();
        let (vmin, vmax) = color_range(h.vmin, h.vmax, &flat);
        return Some(ColorbarSpec {
            cmap: h.colormap,
            vmin,
            vmax,
            label: h.colorbar_label.clone().unwrap_or_default(),
        });
    }
    p.series.iter().find_map(|s| match s {
        Series::Scatter {
            color_by: Some((vals, cmap)),
            style,
            ..
        } => {
            let (vmin, vmax) = color_range(None, None, vals);
            Some(ColorbarSpec {
                cmap: *cmap,
                vmin,
                vmax,
                label: style.label.clone().unwrap_or_default(),
            })
        }
        _ => None,
    })
}

/// Position `t` in 0..1 of a value within a colour range (0.5 for an empty range).
fn normalize(v: f64, vmin: f64, vmax: f64) -> f64 {
    if vmax > vmin {
        (v - vmin) / (vmax - vmin)
    } else {
        0.5
    }
}

/// Text sizes and spacing of a panel, in pixels.
pub(super) struct Metrics {
    pub title: f64,
    pub label: f64,
    pub tick: f64,
    pub legend: f64,
    pub pad: f64,
    pub tick_len: f64,
    pub tick_pad: f64,
}

impl Metrics {
    fn new(cv: &Canvas) -> Self {
        Metrics {
            title: cv.font(TITLE_PT),
            label: cv.font(LABEL_PT),
            tick: cv.font(TICK_PT),
            legend: cv.font(LEGEND_PT),
            pad: cv.px(8.0),
            tick_len: cv.px(5.0),
            tick_pad: cv.px(4.0),
        }
    }
}

/// Final geometry and ticks of a panel.
struct Layout {
    plot: Rect,
    xa: Axis,
    ya: Axis,
    xt: Vec<Tick>,
    yt: Vec<Tick>,
    x_minor: Vec<f64>,
    y_minor: Vec<f64>,
    x_rotated: bool,
    /// x tick labels turned by this many degrees (set by the panel; wins over `x_rotated`).
    x_angle: Option<f64>,
    /// Left edge of the colorbar, when there is one.
    cbar_x: Option<f64>,
}

fn explicit_ticks(v: &[(f64, String)], axis: &Axis) -> Vec<Tick> {
    v.iter()
        .filter(|(p, _)| axis.contains(*p))
        .map(|(p, l)| Tick {
            pos: *p,
            label: l.clone(),
        })
        .collect()
}

/// Ticks of one axis: explicit, log or linear, at most about `max_n`.
fn axis_ticks(
    explicit: Option<&Vec<(f64, String)>>,
    axis: &Axis,
    max_n: usize,
    integer: bool,
) -> (Vec<Tick>, Vec<f64>) {
    if let Some(v) = explicit {
        return (explicit_ticks(v, axis), Vec::new());
    }
    let (a, b) = axis.bounds();
    if axis.log {
        log_ticks(a, b, max_n)
    } else {
        (linear_ticks(a, b, max_n, integer), Vec::new())
    }
}

/// Whether horizontal labels at these pixel positions would overlap.
fn labels_overlap(cv: &Canvas, ticks: &[Tick], axis: &Axis, size: f64) -> bool {
    let mut spans: Vec<(f64, f64)> = ticks
        .iter()
        .filter_map(|t| {
            let c = axis.pixel(t.pos)?;
            let w = cv.text_w(&t.label, size);
            Some((c - w / 2.0, c + w / 2.0))
        })
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let gap = size * 0.4;
    spans.windows(2).any(|w| w[0].1 + gap > w[1].0)
}

fn layout(cv: &Canvas, p: &Panel, cell: Rect, m: &Metrics) -> Layout {
    let ((x_lo, x_hi), (y_lo, y_hi)) = panel_ranges(p);
    let hm = nonempty_heatmap(p);
    let x_int = hm.is_some_and(|h| h.x_extent.is_none());
    let y_int = hm.is_some_and(|h| h.y_extent.is_none());
    let cbar = colorbar_spec(p);

    // Right margin: twin axis labels and colorbar do not depend on the plot size.
    let mut right_fixed = 0.0;
    if let Some(v) = &p.y2_ticks {
        let w = v
            .iter()
            .map(|(_, l)| cv.text_w(l, m.tick))
            .fold(0.0, f64::max);
        right_fixed += m.tick_len + m.tick_pad + w;
        if p.y2_label.as_deref().is_some_and(|s| !s.is_empty()) {
            right_fixed += cv.px(6.0) + m.label;
        }
    }
    let mut cbar_offset = None;
    if let Some(cb) = &cbar {
        cbar_offset = Some(right_fixed + cv.px(14.0));
        let labels = [cb.vmin, 0.5 * (cb.vmin + cb.vmax), cb.vmax];
        let w = labels
            .iter()
            .map(|v| cv.text_w(&fmt_in_span(*v, cb.vmax - cb.vmin), m.tick))
            .fold(0.0, f64::max);
        right_fixed += cv.px(14.0) + colorbar_width(cv) + m.tick_len * 0.7 + m.tick_pad + w;
        if !cb.label.is_empty() {
            right_fixed += cv.px(6.0) + m.label;
        }
    }

    let top = m.pad
        + if p.title.is_empty() {
            m.tick * 0.5
        } else {
            m.title + cv.px(6.0)
        };
    let ylabel_w = if p.ylabel.is_empty() {
        0.0
    } else {
        m.label + cv.px(6.0)
    };
    let xlabel_h = if p.xlabel.is_empty() {
        0.0
    } else {
        m.label + cv.px(6.0)
    };

    // Ticks for a given plot rectangle.
    let ticks_for = |plot: Rect| {
        let xa = Axis {
            lo: x_lo,
            hi: x_hi,
            log: p.log_x,
            p0: plot.x0,
            p1: plot.x1,
        };
        let ya = Axis {
            lo: y_lo,
            hi: y_hi,
            log: p.log_y,
            p0: plot.y1,
            p1: plot.y0,
        };
        // about matplotlib's MaxNLocator(nbins="auto"): one interval per 2 (y) or 3 (x) ems
        let y_max_n = ((plot.h() / (m.tick * 1.7)) as usize).clamp(2, 9);
        let (yt, y_minor) = axis_ticks(p.y_ticks.as_ref(), &ya, y_max_n, y_int);
        let mut x_max_n = ((plot.w() / (m.tick * 2.6)) as usize).clamp(2, 9);
        let (mut xt, mut x_minor) = axis_ticks(p.x_ticks.as_ref(), &xa, x_max_n, x_int);
        while p.x_ticks.is_none() && x_max_n > 2 && labels_overlap(cv, &xt, &xa, m.tick) {
            x_max_n -= 1;
            (xt, x_minor) = axis_ticks(None, &xa, x_max_n, x_int);
        }
        let x_angle = p.x_tick_angle;
        let x_rotated =
            x_angle.is_none() && p.x_ticks.is_some() && labels_overlap(cv, &xt, &xa, m.tick);
        Layout {
            plot,
            xa,
            ya,
            xt,
            yt,
            x_minor,
            y_minor,
            x_rotated,
            x_angle,
            cbar_x: cbar_offset.map(|o| plot.x1 + o),
        }
    };

    // Start from a guess and iterate: ticks depend on the plot size, margins on the ticks.
    let mut plot = Rect {
        x0: cell.x0 + cv.px(60.0),
        y0: cell.y0 + top,
        x1: cell.x1 - m.pad - right_fixed,
        y1: cell.y1 - cv.px(45.0),
    };
    if p.hide_axes {
        // no ticks or labels to make room for
        let plot = Rect {
            x0: (cell.x0 + m.pad).round(),
            y0: (cell.y0 + top).round(),
            x1: (cell.x1 - m.pad - right_fixed).round(),
            y1: (cell.y1 - m.pad).round(),
        };
        return ticks_for(plot);
    }
    for _ in 0..3 {
        let l = ticks_for(plot);
        let max_w = |ticks: &[Tick]| {
            ticks
                .iter()
                .map(|t| cv.text_w(&t.label, m.tick))
                .fold(0.0, f64::max)
        };
        let left = m.pad + ylabel_w + max_w(&l.yt) + m.tick_pad + m.tick_len;
        let xt_h = x_labels_height(cv, &l, m.tick);
        let bottom = m.pad + m.tick_len + m.tick_pad + xt_h + xlabel_h;
        // Room for half of the last x tick label beyond the right spine.
        let last_half = match (l.x_rotated, l.x_angle, l.xt.last()) {
            (false, Some(a), Some(t)) if right_fixed == 0.0 => {
                cv.text_box_at_angle(&t.label, m.tick, a).0 / 2.0
            }
            (false, None, Some(t)) if right_fixed == 0.0 => cv.text_w(&t.label, m.tick) / 2.0,
            _ => 0.0,
        };
        let right = m.pad.max(last_half) + right_fixed;
        plot = Rect {
            x0: (cell.x0 + left).round(),
            y0: (cell.y0 + top).round(),
            x1: (cell.x1 - right).round(),
            y1: (cell.y1 - bottom).round(),
        };
    }
    ticks_for(plot)
}

fn colorbar_width(cv: &Canvas) -> f64 {
    cv.px(16.0).round()
}

// ---------------------------------------------------------------------------------------
// Panel drawing
// ---------------------------------------------------------------------------------------

fn draw_panel(cv: &Canvas, p: &Panel, cell: Rect) -> Result<()> {
    let m = Metrics::new(cv);
    let l = layout(cv, p, cell, &m);
    let plot = l.plot;
    if plot.w() < 4.0 || plot.h() < 4.0 {
        // Too small to hold axes: only the title.
        let c = ((cell.x0 + cell.x1) / 2.0, cell.y0 + m.pad);
        return panel_title(cv, p, c, m.title, VAlign::Top);
    }
    let (xa, ya) = (&l.xa, &l.ya);

    if let Some(h) = nonempty_heatmap(p) {
        draw_heatmap(cv, h, xa, ya, plot)?;
    }
    // matplotlib z-order: patches (bars), then grid, then lines/markers, then text.
    for s in &p.series {
        if let Series::Bars { .. } = s {
            draw_series(cv, s, xa, ya, plot)?;
        }
    }
    draw_grid(cv, p, &l)?;
    for s in &p.series {
        if !matches!(s, Series::Bars { .. } | Series::Text { .. }) {
            draw_series(cv, s, xa, ya, plot)?;
        }
    }
    for s in &p.series {
        if let Series::Text { .. } = s {
            draw_series(cv, s, xa, ya, plot)?;
        }
    }
    if p.hide_axes {
        let title = ((plot.x0 + plot.x1) / 2.0, plot.y0 - cv.px(7.0));
        panel_title(cv, p, title, m.title, VAlign::Bottom)?;
    } else {
        draw_axes(cv, p, &l, &m)?;
    }
    if p.legend {
        super::legend::draw_legend(cv, p, xa, ya, plot, &m)?;
    }
    if let (Some(cb), Some(x)) = (colorbar_spec(p), l.cbar_x) {
        draw_colorbar(cv, &cb, x, plot, &m)?;
    }
    Ok(())
}

fn draw_grid(cv: &Canvas, p: &Panel, l: &Layout) -> Result<()> {
    let plot = l.plot;
    let inside = |v: f64, a: f64, b: f64| v > a.min(b) + 1.0 && v < a.max(b) - 1.0;
    if p.grid {
        let c = rgba(GRID, 1.0);
        for t in &l.xt {
            if let Some(x) = l.xa.pixel(t.pos).filter(|x| inside(*x, plot.x0, plot.x1)) {
                cv.path(&[(x, plot.y0), (x, plot.y1)], c, 1)?;
            }
        }
        if !p.grid_dashed_y {
            for t in &l.yt {
                if let Some(y) = l.ya.pixel(t.pos).filter(|y| inside(*y, plot.y0, plot.y1)) {
                    cv.path(&[(plot.x0, y), (plot.x1, y)], c, 1)?;
                }
            }
        }
    }
    if p.grid_dashed_y {
        let c = rgba(GRID_DASHED, 1.0);
        for t in &l.yt {
            if let Some(y) = l.ya.pixel(t.pos).filter(|y| inside(*y, plot.y0, plot.y1)) {
                let line = [(plot.x0, y), (plot.x1, y)];
                for piece in dash(&line, cv.px(5.0), cv.px(4.0)) {
                    cv.path(&piece, c, 1)?;
                }
            }
        }
    }
    Ok(())
}

/// Spines, ticks, tick labels, axis labels, title and the twin y axis.
fn draw_axes(cv: &Canvas, p: &Panel, l: &Layout, m: &Metrics) -> Result<()> {
    let plot = l.plot;
    let spine = rgba(SPINE, 1.0);
    let corners = [
        (plot.x0, plot.y0),
        (plot.x1, plot.y0),
        (plot.x1, plot.y1),
        (plot.x0, plot.y1),
    ];
    cv.closed_outline(&corners, spine)?;

    // x ticks
    let label_y = plot.y1 + m.tick_len + m.tick_pad;
    for t in &l.xt {
        let Some(x) = l.xa.pixel(t.pos) else { continue };
        cv.path(&[(x, plot.y1), (x, plot.y1 + m.tick_len)], spine, 1)?;
        if let Some(a) = l.x_angle {
            cv.text_at_angle(&t.label, (x, label_y), m.tick, BLACK_RGB, a)?;
        } else if l.x_rotated {
            cv.text(
                &t.label,
                (x, label_y),
                m.tick,
                BLACK_RGB,
                HPos::Right,
                VAlign::Center,
                true,
            )?;
        } else {
            cv.text(
                &t.label,
                (x, label_y),
                m.tick,
                BLACK_RGB,
                HPos::Center,
                VAlign::Top,
                false,
            )?;
        }
    }
    for v in &l.x_minor {
        if let Some(x) = l.xa.pixel(*v) {
            cv.path(&[(x, plot.y1), (x, plot.y1 + m.tick_len * 0.6)], spine, 1)?;
        }
    }
    // y ticks
    let mut yt_w: f64 = 0.0;
    for t in &l.yt {
        let Some(y) = l.ya.pixel(t.pos) else { continue };
        cv.path(&[(plot.x0 - m.tick_len, y), (plot.x0, y)], spine, 1)?;
        let pos = (plot.x0 - m.tick_len - m.tick_pad, y);
        cv.text(
            &t.label,
            pos,
            m.tick,
            BLACK_RGB,
            HPos::Right,
            VAlign::Center,
            false,
        )?;
        yt_w = yt_w.max(cv.text_w(&t.label, m.tick));
    }
    for v in &l.y_minor {
        if let Some(y) = l.ya.pixel(*v) {
            cv.path(&[(plot.x0 - m.tick_len * 0.6, y), (plot.x0, y)], spine, 1)?;
        }
    }
    // twin y axis (labels only)
    if let Some(v) = &p.y2_ticks {
        let mut w: f64 = 0.0;
        for t in explicit_ticks(v, &l.ya) {
            let Some(y) = l.ya.pixel(t.pos) else { continue };
            cv.path(&[(plot.x1, y), (plot.x1 + m.tick_len, y)], spine, 1)?;
            let pos = (plot.x1 + m.tick_len + m.tick_pad, y);
            cv.text(
                &t.label,
                pos,
                m.tick,
                BLACK_RGB,
                HPos::Left,
                VAlign::Center,
                false,
            )?;
            w = w.max(cv.text_w(&t.label, m.tick));
        }
        if let Some(s) = &p.y2_label {
            let x = plot.x1 + m.tick_len + m.tick_pad + w + cv.px(6.0);
            let c = (x, (plot.y0 + plot.y1) / 2.0);
            cv.text(s, c, m.label, BLACK_RGB, HPos::Center, VAlign::Top, true)?;
        }
    }
    // labels and title
    let xt_h = x_labels_height(cv, l, m.tick);
    let cx = (plot.x0 + plot.x1) / 2.0;
    let xl_y = label_y + xt_h + cv.px(5.0);
    cv.text(
        &p.xlabel,
        (cx, xl_y),
        m.label,
        BLACK_RGB,
        HPos::Center,
        VAlign::Top,
        false,
    )?;
    let yl_x = plot.x0 - m.tick_len - m.tick_pad - yt_w - cv.px(6.0);
    let yl = (yl_x, (plot.y0 + plot.y1) / 2.0);
    cv.text(
        &p.ylabel,
        yl,
        m.label,
        BLACK_RGB,
        HPos::Center,
        VAlign::Bottom,
        true,
    )?;
    let title = (cx, plot.y0 - cv.px(7.0));
    panel_title(cv, p, title, m.title, VAlign::Bottom)
}

/// The panel's title centred at `at`, bold when the panel asks for it.
fn panel_title(cv: &Canvas, p: &Panel, at: (f64, f64), size: f64, va: VAlign) -> Result<()> {
    if p.title_bold {
        cv.text_bold(&p.title, at, size, BLACK_RGB, HPos::Center, va)
    } else {
        cv.text(&p.title, at, size, BLACK_RGB, HPos::Center, va, false)
    }
}

fn draw_colorbar(cv: &Canvas, cb: &ColorbarSpec, x0: f64, plot: Rect, m: &Metrics) -> Result<()> {
    let x0 = x0.round();
    let x1 = x0 + colorbar_width(cv);
    let (y0, y1) = (plot.y0, plot.y1);
    let h = (y1 - y0).max(1.0);
    let mut y = y0;
    while y < y1 {
        let t = 1.0 - (y + 0.5 - y0) / h;
        cv.fill_rect(x0, y, x1, y + 1.0, rgba(cb.cmap.color(t), 1.0))?;
        y += 1.0;
    }
    let spine = rgba(SPINE, 1.0);
    cv.closed_outline(&[(x0, y0), (x1, y0), (x1, y1), (x0, y1)], spine)?;
    let ticks = [
        (cb.vmin, y1),
        (0.5 * (cb.vmin + cb.vmax), (y0 + y1) / 2.0),
        (cb.vmax, y0),
    ];
    let tick_len = m.tick_len * 0.7;
    let mut w: f64 = 0.0;
    for (v, y) in ticks {
        cv.path(&[(x1, y), (x1 + tick_len, y)], spine, 1)?;
        let label = fmt_in_span(v, cb.vmax - cb.vmin);
        let pos = (x1 + tick_len + m.tick_pad, y);
        cv.text(
            &label,
            pos,
            m.tick,
            BLACK_RGB,
            HPos::Left,
            VAlign::Center,
            false,
        )?;
        w = w.max(cv.text_w(&label, m.tick));
    }
    if !cb.label.is_empty() {
        let x = x1 + tick_len + m.tick_pad + w + cv.px(6.0);
        let c = (x, (y0 + y1) / 2.0);
        cv.text(
            &cb.label,
            c,
            m.label,
            BLACK_RGB,
            HPos::Center,
            VAlign::Top,
            true,
        )?;
    }
    Ok(())
}

/// Fills the plot area with heatmap cells, one rectangle per (row run, column run) of
/// pixels mapping to the same cell, so both huge and tiny matrices render exactly.
fn draw_heatmap(cv: &Canvas, h: &Heatmap, xa: &Axis, ya: &Axis, plot: Rect) -> Result<()> {
    let (nr, nc) = heatmap_shape(h);
    let (x_left, x_right) = h.x_extent.unwrap_or((-0.5, nc as f64 - 0.5));
    let (y_bottom, y_top) = h.y_extent.unwrap_or((nr as f64 - 0.5, -0.5));
    let cell_index = |v: f64, start: f64, end: f64, n: usize| -> Option<usize> {
        let f = (v - start) / (end - start);
        (f.is_finite() && (0.0..1.0).contains(&f)).then(|| ((f * n as f64) as usize).min(n - 1))
    };
    let runs = |from: f64, to: f64, idx: &dyn Fn(f64) -> Option<usize>| {
        let mut out: Vec<(f64, f64, usize)> = Vec::new();
        let mut p = from;
        while p < to {
            if let Some(i) = idx(p + 0.5) {
                match out.last_mut() {
                    Some(last) if last.2 == i && last.1 == p => last.1 = p + 1.0,
                    _ => out.push((p, p + 1.0, i)),
                }
            }
            p += 1.0;
        }
        out
    };
    let col_runs = runs(plot.x0, plot.x1, &|px| {
        cell_index(xa.value_at(px), x_left, x_right, nc)
    });
    let row_runs = runs(plot.y0, plot.y1, &|py| {
        cell_index(ya.value_at(py), y_top, y_bottom, nr)
    });
    let flat: Vec<f64> = h.values.iter().flatten().copied().collect();
    let (vmin, vmax) = color_range(h.vmin, h.vmax, &flat);
    for &(y0, y1, r) in &row_runs {
        for &(x0, x1, c) in &col_runs {
            let v = h.values[r][c];
            if v.is_finite() {
                let color = h.colormap.color(normalize(v, vmin, vmax));
                cv.fill_rect(x0, y0, x1, y1, rgba(color, 1.0))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Series
// ---------------------------------------------------------------------------------------

/// Pixel positions of the points (None where a coordinate is not drawable).
pub(super) fn project(x: &[f64], y: &[f64], xa: &Axis, ya: &Axis) -> Vec<Option<(f64, f64)>> {
    x.iter()
        .zip(y)
        .map(|(a, b)| Some((xa.pixel(*a)?, ya.pixel(*b)?)))
        .collect()
}

fn draw_series(cv: &Canvas, s: &Series, xa: &Axis, ya: &Axis, plot: Rect) -> Result<()> {
    match s {
        Series::Line { x, y, style } => {
            let pts = project(x, y, xa, ya);
            draw_line(cv, &pts, style, plot)?;
            draw_markers(cv, &pts, style, None, plot)
        }
        Series::Scatter {
            x,
            y,
            style,
            color_by,
        } => {
            let pts = project(x, y, xa, ya);
            let mut st = style.clone();
            if st.marker == Marker::None {
                st.marker = Marker::Circle;
            }
            let colors = color_by.as_ref().map(|(vals, cmap)| {
                let (vmin, vmax) = color_range(None, None, vals);
                vals.iter()
                    .map(|v| cmap.color(normalize(*v, vmin, vmax)))
                    .collect::<Vec<_>>()
            });
            draw_markers(cv, &pts, &st, colors.as_deref(), plot)
        }
        Series::Bars {
            x,
            heights,
            width,
            colors,
            edge,
            ..
        } => {
            for (i, (xi, hi)) in x.iter().zip(heights).enumerate() {
                let color = colors
                    .get(i)
                    .or(colors.first())
                    .copied()
                    .unwrap_or(super::cycle_color(0));
                let (Some(l), Some(r), Some(top)) = (
                    xa.pixel(xi - width / 2.0),
                    xa.pixel(xi + width / 2.0),
                    ya.pixel(*hi),
                ) else {
                    continue;
                };
                let base = ya.pixel(0.0).unwrap_or(ya.p0);
                let (x0, x1) = (l.min(r).max(plot.x0), l.max(r).min(plot.x1));
                let (y0, y1) = (top.min(base).max(plot.y0), top.max(base).min(plot.y1));
                cv.fill_rect(x0, y0, x1, y1, rgba(color, 1.0))?;
                if let Some(ec) = edge {
                    // The four sides, each clipped to the plot area (a base below a log
                    // axis is not drawn).
                    let (xl, xr, yt, yb) = (l.min(r), l.max(r), top.min(base), top.max(base));
                    let sides = [
                        [(xl, yt), (xl, yb)],
                        [(xr, yt), (xr, yb)],
                        [(xl, yt), (xr, yt)],
                        [(xl, yb), (xr, yb)],
                    ];
                    for [a, b] in sides {
                        if let Some((a, b)) = clip_segment(a, b, plot) {
                            cv.path(&[a, b], rgba(*ec, 1.0), 1)?;
                        }
                    }
                }
            }
            Ok(())
        }
        Series::ErrorBars { x, y, err, style } => {
            let color = rgba(style.color, style.alpha);
            let w = style.line_width.clamp(1, 2);
            let cap = cv.px(3.0);
            for ((xi, yi), e) in x.iter().zip(y).zip(err) {
                let (Some(px), Some(lo), Some(hi)) = (
                    xa.pixel(*xi),
                    ya.pixel(yi - e.abs()),
                    ya.pixel(yi + e.abs()),
                ) else {
                    continue;
                };
                let segs = [
                    [(px, lo), (px, hi)],
                    [(px - cap, lo), (px + cap, lo)],
                    [(px - cap, hi), (px + cap, hi)],
                ];
                for seg in segs {
                    if let Some((a, b)) = clip_segment(seg[0], seg[1], plot) {
                        cv.path(&[a, b], color, w)?;
                    }
                }
            }
            let pts = project(x, y, xa, ya);
            draw_line(cv, &pts, style, plot)?;
            draw_markers(cv, &pts, style, None, plot)
        }
        Series::HLine { y, style } => match ya.pixel(*y) {
            Some(py) => {
                let py = snap(py, style.line_width);
                draw_line(cv, &[Some((plot.x0, py)), Some((plot.x1, py))], style, plot)
            }
            None => Ok(()),
        },
        Series::VLine { x, style } => match xa.pixel(*x) {
            Some(px) => {
                let px = snap(px, style.line_width);
                draw_line(cv, &[Some((px, plot.y0)), Some((px, plot.y1))], style, plot)
            }
            None => Ok(()),
        },
        Series::Text {
            x,
            y,
            text,
            size,
            color,
            bold,
        } => match (xa.pixel(*x), ya.pixel(*y)) {
            (Some(px), Some(py)) if plot.contains((px, py)) => {
                let size = cv.font(f64::from(*size));
                let (ha, va) = (HPos::Center, VAlign::Center);
                if *bold {
                    cv.text_bold(text, (px, py), size, *color, ha, va)
                } else {
                    cv.text(text, (px, py), size, *color, ha, va, false)
                }
            }
            _ => Ok(()),
        },
    }
}

/// Dash pattern `(on, off)` in pixels, `None` for solid lines.
fn dash_pattern(cv: &Canvas, kind: LineKind, width: u32) -> Option<(f64, f64)> {
    let w = f64::from(width.max(1));
    match kind {
        LineKind::Dashed => Some(((3.7 * w).max(cv.px(5.0)), (1.6 * w).max(cv.px(3.0)))),
        LineKind::Dotted => Some((w.max(1.5), (1.65 * w).max(2.5))),
        LineKind::Solid | LineKind::None => None,
    }
}

/// Draws the connecting line of a series: broken at missing points, clipped to `clip`,
/// anti-aliased and blended once (so transparent lines do not darken where they overlap).
pub(super) fn draw_line(
    cv: &Canvas,
    pts: &[Option<(f64, f64)>],
    style: &Style,
    clip: Rect,
) -> Result<()> {
    if style.line == LineKind::None || style.line_width == 0 {
        return Ok(());
    }
    let pattern = dash_pattern(cv, style.line, style.line_width);
    let mut pieces = Vec::new();
    for run in clipped_runs(pts, clip) {
        match pattern {
            None => pieces.push(run),
            Some((on, off)) => pieces.extend(dash(&run, on, off)),
        }
    }
    let all: Vec<(f64, f64)> = pieces.iter().flatten().copied().collect();
    if all.is_empty() {
        return Ok(());
    }
    let hw = f64::from(style.line_width) / 2.0;
    let Some(mut mask) = Mask::new(clip, Mask::bbox(&all), hw + 2.0) else {
        return Ok(());
    };
    for piece in &pieces {
        for w in piece.windows(2) {
            mask.segment(w[0], w[1], hw);
        }
    }
    mask.draw(cv, style.color, style.alpha)
}

/// Moves a coordinate of a horizontal/vertical line so that it covers whole pixels.
fn snap(v: f64, width: u32) -> f64 {
    if width % 2 == 1 {
        v.floor() + 0.5
    } else {
        v.round()
    }
}

/// Splits a polyline with gaps (`None`) into continuous runs clipped to `rect`.
fn clipped_runs(pts: &[Option<(f64, f64)>], rect: Rect) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for w in pts.windows(2) {
        let (Some(a), Some(b)) = (w[0], w[1]) else {
            if cur.len() >= 2 {
                runs.push(std::mem::take(&mut cur));
            }
            cur.clear();
            continue;
        };
        match clip_segment(a, b, rect) {
            Some((ca, cb)) => {
                let continues = cur
                    .last()
                    .is_some_and(|l| (l.0 - ca.0).abs() < 1e-6 && (l.1 - ca.1).abs() < 1e-6);
                if !continues {
                    if cur.len() >= 2 {
                        runs.push(std::mem::take(&mut cur));
                    }
                    cur = vec![ca];
                }
                cur.push(cb);
            }
            None => {
                if cur.len() >= 2 {
                    runs.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() >= 2 {
        runs.push(cur);
    }
    runs
}

/// Liang–Barsky clipping of the segment `a-b` to `r`.
fn clip_segment(a: (f64, f64), b: (f64, f64), r: Rect) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0: f64 = 0.0;
    let mut t1: f64 = 1.0;
    for (p, q) in [
        (-dx, a.0 - r.x0),
        (dx, r.x1 - a.0),
        (-dy, a.1 - r.y0),
        (dy, r.y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

/// Cuts a polyline into dashes of length `on` separated by gaps of length `off`.
fn dash(run: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let Some(&first) = run.first() else {
        return out;
    };
    let (on, off) = (on.max(0.5), off.max(0.5));
    let mut drawing = true;
    let mut left = on;
    let mut cur = vec![first];
    for w in run.windows(2) {
        let (mut a, b) = (w[0], w[1]);
        let mut len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        while len > left {
            let t = left / len;
            let p = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            if drawing {
                cur.push(p);
                out.push(std::mem::take(&mut cur));
            } else {
                cur = vec![p];
            }
            drawing = !drawing;
            len -= left;
            a = p;
            left = if drawing { on } else { off };
        }
        left -= len;
        if drawing {
            cur.push(b);
        }
    }
    if drawing && cur.len() >= 2 {
        out.push(cur);
    }
    out
}

/// Draws the markers of a series (per-point colours override the fill colour).
pub(super) fn draw_markers(
    cv: &Canvas,
    pts: &[Option<(f64, f64)>],
    style: &Style,
    colors: Option<&[Rgb]>,
    plot: Rect,
) -> Result<()> {
    if style.marker == Marker::None {
        return Ok(());
    }
    let fill = style.marker_fill.unwrap_or(style.color);
    for (i, p) in pts.iter().enumerate() {
        let Some(c) = p.filter(|c| plot.contains(*c)) else {
            continue;
        };
        let f = colors.and_then(|cs| cs.get(i)).copied().unwrap_or(fill);
        draw_marker(cv, style.marker, c, style, f)?;
    }
    Ok(())
}

/// One marker centred at `c` with fill colour `fill` (anti-aliased except squares,
/// which stay pixel-aligned for matplotlib's crisp black-edged squares).
pub(super) fn draw_marker(
    cv: &Canvas,
    marker: Marker,
    c: (f64, f64),
    style: &Style,
    fill: Rgb,
) -> Result<()> {
    let r = f64::from(style.marker_size.max(1));
    let (x, y) = c;
    let edge = style.marker_edge;
    let everywhere = Rect {
        x0: f64::MIN / 4.0,
        y0: f64::MIN / 4.0,
        x1: f64::MAX / 4.0,
        y1: f64::MAX / 4.0,
    };
    let around = Rect {
        x0: x - 2.0 * r,
        y0: y - 2.0 * r,
        x1: x + 2.0 * r,
        y1: y + 2.0 * r,
    };
    let new_mask = || Mask::new(everywhere, around, 2.0);
    // Draws a shape given by its signed distance function, with an optional 1 px edge.
    let shape = |sdf: &dyn Fn(f64, f64) -> f64| -> Result<()> {
        if let Some(mut m) = new_mask() {
            m.fill_sdf(around, sdf);
            m.draw(cv, fill, style.alpha)?;
        }
        if let (Some(e), Some(mut m)) = (edge, new_mask()) {
            m.fill_sdf(around, |px, py| (sdf(px, py) + 0.5).abs() - 0.5);
            m.draw(cv, e, style.alpha)?;
        }
        Ok(())
    };
    let regular = |n: usize, radius: f64, start_deg: f64| -> Vec<(f64, f64)> {
        (0..n)
            .map(|k| {
                let a = (start_deg + 360.0 * k as f64 / n as f64).to_radians();
                (x + radius * a.cos(), y + radius * a.sin())
            })
            .collect()
    };
    match marker {
        Marker::None => Ok(()),
        Marker::Circle | Marker::Dot => {
            let rr = if marker == Marker::Dot {
                (r * 0.5).max(1.5)
            } else {
                r
            };
            shape(&|px, py| ((px - x).powi(2) + (py - y).powi(2)).sqrt() - rr)
        }
        Marker::Square => {
            let h = (r * 0.9).max(1.0);
            let (x0, y0) = ((x - h).round(), (y - h).round());
            let (x1, y1) = ((x + h).round() + 1.0, (y + h).round() + 1.0);
            cv.fill_rect(x0, y0, x1, y1, rgba(fill, style.alpha))?;
            match edge {
                Some(e) => cv.closed_outline(
                    &[
                        (x0, y0),
                        (x1 - 1.0, y0),
                        (x1 - 1.0, y1 - 1.0),
                        (x0, y1 - 1.0),
                    ],
                    rgba(e, style.alpha),
                ),
                None => Ok(()),
            }
        }
        Marker::TriangleUp | Marker::TriangleDown | Marker::Diamond | Marker::Hexagon => {
            let pts = match marker {
                Marker::TriangleUp => regular(3, r * 1.25, -90.0),
                Marker::TriangleDown => regular(3, r * 1.25, 90.0),
                Marker::Diamond => regular(4, r * 1.2, -90.0),
                _ => regular(6, r * 1.1, -90.0),
            };
            let sdf = convex_sdf(&pts);
            shape(&sdf)
        }
        Marker::Pentagon => {
            let pts = regular(5, r * 1.15, -90.0);
            let sdf = convex_sdf(&pts);
            shape(&sdf)
        }
        Marker::Star => {
            // A non-convex star as the union (min of distances) of five convex kites:
            // centre, inner vertex, outer tip, next inner vertex.
            let outer = regular(5, r * 1.35, -90.0);
            let inner = regular(5, r * 0.55, -54.0);
            let kites: Vec<[(f64, f64); 4]> = (0..5)
                .map(|k| [(x, y), inner[(k + 4) % 5], outer[k], inner[k]])
                .collect();
            shape(&|px, py| {
                kites
                    .iter()
                    .map(|kite| convex_sdf(kite)(px, py))
                    .fold(f64::INFINITY, f64::min)
            })
        }
        Marker::Cross | Marker::Plus => {
            let hw = if r >= 3.0 { 1.0 } else { 0.5 };
            let (a, b) = if marker == Marker::Cross {
                let d = r * 0.85;
                (
                    [(x - d, y - d), (x + d, y + d)],
                    [(x - d, y + d), (x + d, y - d)],
                )
            } else {
                let d = r * 1.1;
                ([(x - d, y), (x + d, y)], [(x, y - d), (x, y + d)])
            };
            if let Some(mut m) = new_mask() {
                m.segment(a[0], a[1], hw);
                m.segment(b[0], b[1], hw);
                m.draw(cv, fill, style.alpha)?;
            }
            Ok(())
        }
    }
}

/// Height of the x tick labels' row: one line, the longest label when vertical, or the
/// tallest turned box.
fn x_labels_height(cv: &Canvas, l: &Layout, size: f64) -> f64 {
    let widest = |f: &dyn Fn(&str) -> f64| l.xt.iter().map(|t| f(&t.label)).fold(0.0, f64::max);
    if l.xt.is_empty() {
        0.0
    } else if let Some(a) = l.x_angle {
        widest(&|s| cv.text_box_at_angle(s, size, a).1)
    } else if l.x_rotated {
        widest(&|s| cv.text_w(s, size))
    } else {
        size * (CAP + DESC)
    }
}
