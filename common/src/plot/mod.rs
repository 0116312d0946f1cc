//! A small declarative figure API on top of `plotters`, rendering matplotlib-like PNGs.
//!
//! Build a [`Figure`] of [`Panel`]s, each holding [`Series`] (lines, scatters, bars,
//! error bars, reference lines, text) and/or a [`Heatmap`], then call
//! [`Figure::save_png`]. [`Figure::write_csv`] dumps the data behind the figure.
//!
//! ```no_run
//! use common::plot::*;
//! let x: Vec<f64> = (0..50).map(|i| i as f64 / 10.0).collect();
//! let y: Vec<f64> = x.iter().map(|v| v.sin()).collect();
//! Figure::new(6.0, 4.0)
//!     .panel(
//!         Panel::new("sine")
//!             .xlabel("x")
//!             .ylabel("sin x")
//!             .add(Series::line(x, y, Style::line(cycle_color(0)).label("sin")))
//!             .legend(),
//!     )
//!     .save_png(std::path::Path::new("sine.png"))
//!     .unwrap();
//! ```
//!
//! Text uses DejaVu Sans from `assets/fonts/` (embedded at compile time; a copy under
//! `$ML4LLM_ASSETS/fonts/DejaVuSans.ttf` takes precedence when that variable is set).

mod canvas;
mod color;
mod extras;
mod glyphs;
mod hist;
mod legend;
mod network;
mod pairplot;
mod render;
mod ticks;
mod violin;

#[cfg(test)]
mod tests;

use std::path::Path;

use anyhow::{bail, Context, Result};

/// The columns of every figure's CSV (long format, one row per point or bar).
pub const FIGURE_CSV_COLUMNS: [&str; 6] = ["panel", "series", "kind", "x", "y", "extra"];

pub use color::{cycle_color, rgb_f, tab, Colormap, Rgb, BLACK, GREY, WHITE};
pub use extras::{
    bar_edges, dark2, markersize_px, rainbow, scatter_size_px, sci_axis, sci_ticks,
    vocabulary_panel, MarkedToken,
};
pub use hist::{
    counts_to_density, density_histogram, fd_curve, freedman_diaconis_width, histogram_counts, Bins,
};
pub use network::{circular_layout, network_panel, LabelPlacement, NetworkStyle};
pub use pairplot::{ols_line, pairplot};
pub use violin::{band, violin, VIOLIN_HALF_WIDTH};

/// Marker shapes drawn at data points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Marker {
    /// No marker.
    None,
    /// Filled circle (`'o'`).
    Circle,
    /// Filled square (`'s'`).
    Square,
    /// Triangle pointing up (`'^'`).
    TriangleUp,
    /// Triangle pointing down (`'v'`).
    TriangleDown,
    /// Diamond (`'D'`).
    Diamond,
    /// Hexagon (`'h'`).
    Hexagon,
    /// Pentagon (`'p'`).
    Pentagon,
    /// Five-pointed star (`'*'`).
    Star,
    /// Diagonal cross (`'x'`).
    Cross,
    /// Plus sign (`'+'`).
    Plus,
    /// Small filled circle (`'.'`).
    Dot,
}

/// How the line through a series' points is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LineKind {
    /// No connecting line.
    None,
    /// Solid line (`'-'`).
    Solid,
    /// Dashed line (`'--'`).
    Dashed,
    /// Dotted line (`':'`).
    Dotted,
}

/// Visual style of a series: colour, line, marker, transparency and legend label.
#[derive(Clone, Debug)]
pub struct Style {
    /// Line colour, and marker colour unless `marker_fill` is set.
    pub color: Rgb,
    /// Line kind.
    pub line: LineKind,
    /// Line width in pixels.
    pub line_width: u32,
    /// Marker shape.
    pub marker: Marker,
    /// Marker size in pixels (roughly the radius).
    pub marker_size: u32,
    /// Marker fill colour; `None` means `color`.
    pub marker_fill: Option<Rgb>,
    /// Marker edge colour (1 px outline); `None` means no separate edge.
    pub marker_edge: Option<Rgb>,
    /// Opacity in 0..1 of lines and markers.
    pub alpha: f64,
    /// Legend label; unlabelled series are left out of the legend.
    pub label: Option<String>,
}

impl Default for Style {
    fn default() -> Self {
        Style::line(cycle_color(0))
    }
}

impl Style {
    /// A solid 2 px line without markers.
    pub fn line(color: Rgb) -> Self {
        Style {
            color,
            line: LineKind::Solid,
            line_width: 2,
            marker: Marker::None,
            marker_size: 4,
            marker_fill: None,
            marker_edge: None,
            alpha: 1.0,
            label: None,
        }
    }

    /// Markers only, no connecting line.
    pub fn markers(color: Rgb, marker: Marker) -> Self {
        Style {
            line: LineKind::None,
            marker,
            ..Style::line(color)
        }
    }

    /// Sets the legend label.
    pub fn label(mut self, s: &str) -> Self {
        self.label = Some(s.to_string());
        self
    }

    /// Sets the marker shape.
    pub fn marker(mut self, m: Marker) -> Self {
        self.marker = m;
        self
    }

    /// Sets the marker size in pixels.
    pub fn size(mut self, n: u32) -> Self {
        self.marker_size = n;
        self
    }

    /// Sets the marker fill colour.
    pub fn fill(mut self, rgb: Rgb) -> Self {
        self.marker_fill = Some(rgb);
        self
    }

    /// Sets the marker edge colour (1 px outline).
    pub fn edge(mut self, rgb: Rgb) -> Self {
        self.marker_edge = Some(rgb);
        self
    }

    /// Sets the opacity (0..1) of lines and markers.
    pub fn alpha(mut self, a: f64) -> Self {
        self.alpha = a;
        self
    }

    /// Sets the line width in pixels.
    pub fn width(mut self, w: u32) -> Self {
        self.line_width = w;
        self
    }

    /// Draws the line solid.
    pub fn solid(mut self) -> Self {
        self.line = LineKind::Solid;
        self
    }

    /// Draws the line dashed.
    pub fn dashed(mut self) -> Self {
        self.line = LineKind::Dashed;
        self
    }

    /// Draws the line dotted.
    pub fn dotted(mut self) -> Self {
        self.line = LineKind::Dotted;
        self
    }

    /// Removes the connecting line (markers only).
    pub fn no_line(mut self) -> Self {
        self.line = LineKind::None;
        self
    }
}

/// One layer of a panel.
#[derive(Clone, Debug)]
pub enum Series {
    /// Points joined by a line and/or marked, per `style`.
    Line {
        x: Vec<f64>,
        y: Vec<f64>,
        style: Style,
    },
    /// Markers only (a `Marker::None` style is drawn with circles). With `color_by`, each
    /// point is coloured by its value through the colormap and the panel gets a colorbar.
    Scatter {
        x: Vec<f64>,
        y: Vec<f64>,
        style: Style,
        color_by: Option<(Vec<f64>, Colormap)>,
    },
    /// Vertical bars centred on `x`, from 0 to `heights`, `width` wide in data units.
    /// `colors` has one colour per bar or a single colour for all (empty: tab10 blue).
    Bars {
        x: Vec<f64>,
        heights: Vec<f64>,
        width: f64,
        colors: Vec<Rgb>,
        label: Option<String>,
        /// Outline colour of every bar (matplotlib's `edgecolor`), none by default. Unlike
        /// [`bar_edges`] it also works on a log y axis: each bar's outline is clipped to
        /// the plot area like its fill.
        edge: Option<Rgb>,
    },
    /// Vertical error bars `y ± err` with caps, plus line/markers per `style`.
    ErrorBars {
        x: Vec<f64>,
        y: Vec<f64>,
        err: Vec<f64>,
        style: Style,
    },
    /// A horizontal line across the panel.
    HLine { y: f64, style: Style },
    /// A vertical line across the panel.
    VLine { x: f64, style: Style },
    /// Text centred at a data position; `size` in points.
    Text {
        x: f64,
        y: f64,
        text: String,
        size: u32,
        color: Rgb,
        /// In the bold face.
        bold: bool,
    },
}

impl Series {
    /// A line (and/or markers) series.
    pub fn line(x: Vec<f64>, y: Vec<f64>, style: Style) -> Self {
        Series::Line { x, y, style }
    }

    /// A scatter series with uniform colour.
    pub fn scatter(x: Vec<f64>, y: Vec<f64>, style: Style) -> Self {
        Series::Scatter {
            x,
            y,
            style,
            color_by: None,
        }
    }

    /// A scatter series whose points are coloured by `values` through `cmap`
    /// (a colorbar is drawn at the panel's right).
    pub fn scatter_colored(
        x: Vec<f64>,
        y: Vec<f64>,
        style: Style,
        values: Vec<f64>,
        cmap: Colormap,
    ) -> Self {
        Series::Scatter {
            x,
            y,
            style,
            color_by: Some((values, cmap)),
        }
    }

    /// Bars of width 0.8 (matplotlib's default) centred on `x`.
    pub fn bars(x: Vec<f64>, heights: Vec<f64>, colors: Vec<Rgb>) -> Self {
        Series::bars_width(x, heights, 0.8, colors)
    }

    /// Bars of the given width centred on `x`.
    pub fn bars_width(x: Vec<f64>, heights: Vec<f64>, width: f64, colors: Vec<Rgb>) -> Self {
        Series::Bars {
            x,
            heights,
            width,
            colors,
            label: None,
            edge: None,
        }
    }

    /// A histogram of `values` as touching bars (counts per bin, see [`histogram_counts`]).
    /// With uneven explicit edges the bars share the narrowest bin's width.
    pub fn histogram(values: &[f64], bins: Bins, color: Rgb) -> Self {
        let (edges, counts) = histogram_counts(values, &bins);
        let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        let width = edges
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(f64::INFINITY, f64::min);
        Series::Bars {
            x: centres,
            heights: counts,
            width: if width.is_finite() && width > 0.0 {
                width
            } else {
                1.0
            },
            colors: vec![color],
            label: None,
            edge: None,
        }
    }

    /// Vertical error bars `y ± err`.
    pub fn error_bars(x: Vec<f64>, y: Vec<f64>, err: Vec<f64>, style: Style) -> Self {
        Series::ErrorBars { x, y, err, style }
    }

    /// A horizontal reference line at `y`.
    pub fn hline(y: f64, style: Style) -> Self {
        Series::HLine { y, style }
    }

    /// A vertical reference line at `x`.
    pub fn vline(x: f64, style: Style) -> Self {
        Series::VLine { x, style }
    }

    /// Text centred at `(x, y)` in data coordinates; `size` in points.
    pub fn text(x: f64, y: f64, text: &str, size: u32, color: Rgb) -> Self {
        Series::Text {
            x,
            y,
            text: text.to_string(),
            size,
            color,
            bold: false,
        }
    }

    /// Text series in the bold face (other kinds are unchanged).
    pub fn bold(mut self) -> Self {
        if let Series::Text { bold, .. } = &mut self {
            *bold = true;
        }
        self
    }

    /// Sets the legend label (for every kind except `Text`, which has none).
    pub fn with_label(mut self, s: &str) -> Self {
        match &mut self {
            Series::Line { style, .. }
            | Series::Scatter { style, .. }
            | Series::ErrorBars { style, .. }
            | Series::HLine { style, .. }
            | Series::VLine { style, .. } => style.label = Some(s.to_string()),
            Series::Bars { label, .. } => *label = Some(s.to_string()),
            Series::Text { .. } => {}
        }
        self
    }

    /// Outlines every bar of a `Bars` series (histograms included) in `color`; other
    /// kinds are returned unchanged.
    pub fn with_edge(mut self, color: Rgb) -> Self {
        if let Series::Bars { edge, .. } = &mut self {
            *edge = Some(color);
        }
        self
    }

    /// The legend label, if any.
    pub fn label(&self) -> Option<&str> {
        match self {
            Series::Line { style, .. }
            | Series::Scatter { style, .. }
            | Series::ErrorBars { style, .. }
            | Series::HLine { style, .. }
            | Series::VLine { style, .. } => style.label.as_deref(),
            Series::Bars { label, .. } => label.as_deref(),
            Series::Text { .. } => None,
        }
    }

    /// The CSV `kind` of this series (`text` for text annotations).
    pub fn kind(&self) -> &'static str {
        match self {
            Series::Line { .. } => "line",
            Series::Scatter { .. } => "scatter",
            Series::Bars { .. } => "bar",
            Series::ErrorBars { .. } => "errorbar",
            Series::HLine { .. } => "hline",
            Series::VLine { .. } => "vline",
            Series::Text { .. } => "text",
        }
    }

    /// Checks that parallel vectors have equal lengths and parameters are usable.
    fn validate(&self) -> std::result::Result<(), String> {
        let same = |what: &str, a: usize, b: usize| {
            if a == b {
                Ok(())
            } else {
                Err(format!("x has {a} values but {what} has {b}"))
            }
        };
        match self {
            Series::Line { x, y, .. } => same("y", x.len(), y.len()),
            Series::Scatter { x, y, color_by, .. } => {
                same("y", x.len(), y.len())?;
                match color_by {
                    Some((c, _)) => same("color_by", x.len(), c.len()),
                    None => Ok(()),
                }
            }
            Series::Bars {
                x,
                heights,
                width,
                colors,
                ..
            } => {
                same("heights", x.len(), heights.len())?;
                if colors.len() > 1 && colors.len() != x.len() {
                    return Err(format!(
                        "{} colours for {} bars (give one per bar or one for all)",
                        colors.len(),
                        x.len()
                    ));
                }
                if !(width.is_finite() && *width > 0.0) {
                    return Err(format!("bar width must be positive, got {width}"));
                }
                Ok(())
            }
            Series::ErrorBars { x, y, err, .. } => {
                same("y", x.len(), y.len())?;
                same("err", x.len(), err.len())
            }
            Series::HLine { .. } | Series::VLine { .. } | Series::Text { .. } => Ok(()),
        }
    }
}

/// A colour-mapped matrix drawn like matplotlib's `imshow`, with a colorbar.
#[derive(Clone, Debug)]
pub struct Heatmap {
    /// Rows x columns; row 0 is drawn at the top.
    pub values: Vec<Vec<f64>>,
    /// Colormap for the values.
    pub colormap: Colormap,
    /// Value mapped to the colormap's start (default: finite minimum).
    pub vmin: Option<f64>,
    /// Value mapped to the colormap's end (default: finite maximum).
    pub vmax: Option<f64>,
    /// Label beside the colorbar.
    pub colorbar_label: Option<String>,
    /// Data x range `(left, right)` covered by the columns (default: `-0.5..ncols-0.5`).
    pub x_extent: Option<(f64, f64)>,
    /// Data y range `(bottom, top)` covered by the rows, row 0 at `top` (default:
    /// `nrows-0.5` at the bottom to `-0.5` at the top, i.e. an inverted row axis).
    pub y_extent: Option<(f64, f64)>,
}

impl Heatmap {
    /// A heatmap with default range, extents and no colorbar label.
    pub fn new(values: Vec<Vec<f64>>, colormap: Colormap) -> Self {
        Heatmap {
            values,
            colormap,
            vmin: None,
            vmax: None,
            colorbar_label: None,
            x_extent: None,
            y_extent: None,
        }
    }

    /// Sets the colour range.
    pub fn range(mut self, vmin: f64, vmax: f64) -> Self {
        self.vmin = Some(vmin);
        self.vmax = Some(vmax);
        self
    }

    /// Sets the colorbar label.
    pub fn label(mut self, s: &str) -> Self {
        self.colorbar_label = Some(s.to_string());
        self
    }

    /// Sets the data extents `(left, right)` and `(bottom, top)`.
    pub fn extent(mut self, x: (f64, f64), y: (f64, f64)) -> Self {
        self.x_extent = Some(x);
        self.y_extent = Some(y);
        self
    }

    /// Number of rows and columns; errors on ragged rows.
    fn shape(&self) -> std::result::Result<(usize, usize), String> {
        let cols = self.values.first().map_or(0, Vec::len);
        match self.values.iter().position(|r| r.len() != cols) {
            Some(i) => Err(format!(
                "heatmap row {i} has {} values but row 0 has {cols}",
                self.values[i].len()
            )),
            None => Ok((self.values.len(), cols)),
        }
    }
}

/// Where the legend sits inside the plot area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LegendPos {
    /// Upper right corner (default).
    #[default]
    UpperRight,
    /// Upper left corner.
    UpperLeft,
    /// Lower right corner.
    LowerRight,
    /// Lower left corner.
    LowerLeft,
    /// The corner covering the fewest data points (matplotlib's `loc="best"`).
    Best,
}

/// One set of axes: title, labels, series, optional heatmap, limits, ticks and legend.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Title drawn above the plot area.
    pub title: String,
    /// x axis label.
    pub xlabel: String,
    /// y axis label.
    pub ylabel: String,
    /// Layers, drawn in order (after the heatmap, if any).
    pub series: Vec<Series>,
    /// Optional heatmap filling the plot area.
    pub heatmap: Option<Heatmap>,
    /// Fixed x range (automatic with 5% padding when `None`).
    pub xlim: Option<(f64, f64)>,
    /// Fixed y range (automatic with 5% padding when `None`).
    pub ylim: Option<(f64, f64)>,
    /// Logarithmic y axis (non-positive values are skipped).
    pub log_y: bool,
    /// Logarithmic x axis (non-positive values are skipped).
    pub log_x: bool,
    /// Explicit x tick positions and labels (rotated vertically when they would overlap).
    pub x_ticks: Option<Vec<(f64, String)>>,
    /// x tick labels at this angle in degrees, counter-clockwise, whether or not they
    /// overlap (matplotlib `rotation=`; e.g. -45 reads down to the right).
    pub x_tick_angle: Option<f64>,
    /// Explicit y tick positions and labels.
    pub y_ticks: Option<Vec<(f64, String)>>,
    /// Labels on a right-hand y axis sharing the left axis' range (matplotlib `twinx`
    /// used only for labels).
    pub y2_ticks: Option<Vec<(f64, String)>>,
    /// Label of the right-hand y axis.
    pub y2_label: Option<String>,
    /// Light grid lines at the major ticks.
    pub grid: bool,
    /// Dashed horizontal lines at the y ticks.
    pub grid_dashed_y: bool,
    /// Draw a legend of the labelled series.
    pub legend: bool,
    /// Legend position.
    pub legend_pos: LegendPos,
    /// Legend handles drawn fully opaque whatever the series' alpha (matplotlib:
    /// `for h in legend.legend_handles: h.set_alpha(1)`).
    pub legend_opaque: bool,
    /// No spines, ticks or axis labels (only the title), e.g. for network drawings.
    pub hide_axes: bool,
    /// Title in the bold face (matplotlib `fontweight="bold"`).
    pub title_bold: bool,
}

impl Panel {
    /// An empty panel with a title.
    pub fn new(title: &str) -> Self {
        Panel {
            title: title.to_string(),
            ..Panel::default()
        }
    }

    /// Sets the x axis label.
    pub fn xlabel(mut self, s: &str) -> Self {
        self.xlabel = s.to_string();
        self
    }

    /// Sets the y axis label.
    pub fn ylabel(mut self, s: &str) -> Self {
        self.ylabel = s.to_string();
        self
    }

    /// Adds a series.
    #[allow(clippy::should_implement_trait)] // builder name fixed by the API
    pub fn add(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Sets the heatmap.
    pub fn heatmap(mut self, h: Heatmap) -> Self {
        self.heatmap = Some(h);
        self
    }

    /// Fixes the x range (`a > b` inverts the axis).
    pub fn xlim(mut self, a: f64, b: f64) -> Self {
        self.xlim = Some((a, b));
        self
    }

    /// Fixes the y range (`a > b` inverts the axis).
    pub fn ylim(mut self, a: f64, b: f64) -> Self {
        self.ylim = Some((a, b));
        self
    }

    /// Logarithmic y axis.
    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    /// Logarithmic x axis.
    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    /// Explicit x ticks.
    pub fn x_ticks(mut self, v: Vec<(f64, String)>) -> Self {
        self.x_ticks = Some(v);
        self
    }

    /// Sets the title in the bold face.
    pub fn bold_title(mut self) -> Self {
        self.title_bold = true;
        self
    }

    /// Draws the x tick labels at `degrees` (counter-clockwise; -45 reads down to the
    /// right), each label's rotated box centred under its tick as matplotlib does.
    pub fn x_tick_angle(mut self, degrees: f64) -> Self {
        self.x_tick_angle = Some(degrees);
        self
    }

    /// Explicit y ticks.
    pub fn y_ticks(mut self, v: Vec<(f64, String)>) -> Self {
        self.y_ticks = Some(v);
        self
    }

    /// Labels on a right-hand y axis.
    pub fn y2_ticks(mut self, v: Vec<(f64, String)>) -> Self {
        self.y2_ticks = Some(v);
        self
    }

    /// Label of the right-hand y axis.
    pub fn y2_label(mut self, s: &str) -> Self {
        self.y2_label = Some(s.to_string());
        self
    }

    /// Shows the legend (upper right unless [`Panel::legend_at`] says otherwise).
    pub fn legend(mut self) -> Self {
        self.legend = true;
        self
    }

    /// Shows the legend at the given position.
    pub fn legend_at(mut self, pos: LegendPos) -> Self {
        self.legend = true;
        self.legend_pos = pos;
        self
    }

    /// Draws the legend's handles fully opaque, even for translucent series.
    pub fn legend_opaque(mut self) -> Self {
        self.legend_opaque = true;
        self
    }

    /// Light grid at the major ticks.
    pub fn grid(mut self) -> Self {
        self.grid = true;
        self
    }

    /// Dashed horizontal lines at the y ticks.
    pub fn grid_dashed_y(mut self) -> Self {
        self.grid_dashed_y = true;
        self
    }

    /// Hides spines, ticks and axis labels (matplotlib's `axis('off')`); the title stays.
    pub fn hide_axes(mut self) -> Self {
        self.hide_axes = true;
        self
    }

    /// The panel's name in messages and CSV output: its title, or `panel{i}`.
    fn name(&self, i: usize) -> String {
        if self.title.is_empty() {
            format!("panel{i}")
        } else {
            self.title.clone()
        }
    }

    /// Checks every series and the heatmap, naming the offender on error.
    fn validate(&self, i: usize) -> Result<()> {
        for (j, s) in self.series.iter().enumerate() {
            if let Err(e) = s.validate() {
                bail!(
                    "panel '{}', {} series '{}': {e}",
                    self.name(i),
                    s.kind(),
                    series_name(s, j)
                );
            }
        }
        if let Some(h) = &self.heatmap {
            if let Err(e) = h.shape() {
                bail!("panel '{}': {e}", self.name(i));
            }
        }
        Ok(())
    }
}

/// A series' name in messages and CSV output: its label, or `series{j}`.
fn series_name(s: &Series, j: usize) -> String {
    match s.label() {
        Some(l) if !l.is_empty() => l.to_string(),
        _ => format!("series{j}"),
    }
}

/// A grid of panels saved as one PNG.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Width in inches.
    pub width_in: f64,
    /// Height in inches.
    pub height_in: f64,
    /// Grid rows.
    pub rows: usize,
    /// Grid columns.
    pub cols: usize,
    /// Panels in row-major order, at most `rows * cols`.
    pub panels: Vec<Panel>,
    /// Title above all panels.
    pub suptitle: Option<String>,
    /// Pixels per inch (default 100); the PNG is `width_in * dpi` x `height_in * dpi`.
    pub dpi: f64,
    /// Where each panel sits: `(row, col, rowspan, colspan)`, one per panel.
    pub slots: Vec<Slot>,
}

/// Largest accepted image side in pixels.
const MAX_SIDE_PX: f64 = 16_384.0;

/// A panel's place in a figure's grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub row: usize,
    pub col: usize,
    pub rowspan: usize,
    pub colspan: usize,
}

impl Slot {
    /// Whether this slot covers grid cell `(r, c)`.
    pub fn covers(&self, r: usize, c: usize) -> bool {
        (self.row..self.row + self.rowspan).contains(&r)
            && (self.col..self.col + self.colspan).contains(&c)
    }
}

impl Figure {
    /// A figure with a single panel slot.
    pub fn new(width_in: f64, height_in: f64) -> Self {
        Figure::grid(width_in, height_in, 1, 1)
    }

    /// A figure with `rows x cols` panel slots.
    pub fn grid(width_in: f64, height_in: f64, rows: usize, cols: usize) -> Self {
        Figure {
            width_in,
            height_in,
            rows,
            cols,
            panels: Vec::new(),
            suptitle: None,
            dpi: 100.0,
            slots: Vec::new(),
        }
    }

    /// Appends a panel in the next free grid cell (row-major).
    pub fn panel(self, p: Panel) -> Self {
        let next = (0..self.rows * self.cols)
            .map(|i| (i / self.cols, i % self.cols))
            .find(|&(r, c)| !self.slots.iter().any(|s| s.covers(r, c)))
            .unwrap_or((self.rows, 0)); // no free cell: validate() reports it
        self.panel_at(p, next.0, next.1, 1, 1)
    }

    /// Places a panel at `(row, col)` spanning `rowspan x colspan` cells (matplotlib's
    /// `subplot2grid` / gridspec slices), e.g. a wide panel over 2 of 3 columns.
    pub fn panel_at(
        mut self,
        p: Panel,
        row: usize,
        col: usize,
        rowspan: usize,
        colspan: usize,
    ) -> Self {
        self.panels.push(p);
        self.slots.push(Slot {
            row,
            col,
            rowspan,
            colspan,
        });
        self
    }

    /// Sets the overall title.
    pub fn suptitle(mut self, s: &str) -> Self {
        self.suptitle = Some(s.to_string());
        self
    }

    /// Sets the resolution in pixels per inch.
    pub fn dpi(mut self, dpi: f64) -> Self {
        self.dpi = dpi;
        self
    }

    /// Image size in pixels (`inches * dpi`, rounded).
    pub fn pixel_size(&self) -> Result<(u32, u32)> {
        let w = (self.width_in * self.dpi).round();
        let h = (self.height_in * self.dpi).round();
        if !(w >= 1.0 && h >= 1.0 && w <= MAX_SIDE_PX && h <= MAX_SIDE_PX) {
            bail!(
                "figure size {}x{} in at {} dpi gives {w}x{h} px (must be 1..={MAX_SIDE_PX})",
                self.width_in,
                self.height_in,
                self.dpi
            );
        }
        Ok((w as u32, h as u32))
    }

    /// Checks the grid and every panel.
    fn validate(&self) -> Result<()> {
        if self.rows == 0 || self.cols == 0 {
            bail!(
                "figure grid must be at least 1x1, got {}x{}",
                self.rows,
                self.cols
            );
        }
        if self.panels.len() > self.rows * self.cols {
            bail!(
                "figure has {} panels but only a {}x{} grid",
                self.panels.len(),
                self.rows,
                self.cols
            );
        }
        for (i, s) in self.slots.iter().enumerate() {
            if s.rowspan == 0
                || s.colspan == 0
                || s.row + s.rowspan > self.rows
                || s.col + s.colspan > self.cols
            {
                bail!(
                    "panel {i} at row {} col {} spanning {}x{} does not fit the {}x{} grid",
                    s.row,
                    s.col,
                    s.rowspan,
                    s.colspan,
                    self.rows,
                    self.cols
                );
            }
        }
        for (i, p) in self.panels.iter().enumerate() {
            p.validate(i)?;
        }
        Ok(())
    }

    /// Renders the figure to a PNG file (parent directories are created).
    pub fn save_png(&self, path: &Path) -> Result<()> {
        self.validate()?;
        self.pixel_size()?;
        create_parent(path)?;
        render::render_png(self, path)
            .with_context(|| format!("rendering figure to {}", path.display()))
    }

    /// Writes the data behind every series as long-format CSV with columns
    /// `panel,series,kind,x,y,extra`, one row per point: `extra` is the error for error
    /// bars, the colour value for colour-by scatters and empty otherwise; `hline` rows
    /// leave x empty, `vline` rows leave y empty; heatmap cells are `kind=heatmap` with
    /// `x`=column, `y`=row, `extra`=value; text annotations are `kind=text` rows with
    /// their anchor in `x`, `y` and the text in `extra`.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        self.validate()?;
        create_parent(path)?;
        let mut w =
            csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
        w.write_record(FIGURE_CSV_COLUMNS)?;
        let num = |v: f64| v.to_string();
        for (i, p) in self.panels.iter().enumerate() {
            let pname = p.name(i);
            for (j, s) in p.series.iter().enumerate() {
                let sname = series_name(s, j);
                let kind = s.kind();
                let mut row = |x: String, y: String, extra: String| {
                    w.write_record([pname.as_str(), &sname, kind, &x, &y, &extra])
                };
                match s {
                    Series::Line { x, y, .. } => {
                        for (a, b) in x.iter().zip(y) {
                            row(num(*a), num(*b), String::new())?;
                        }
                    }
                    Series::Scatter { x, y, color_by, .. } => {
                        for (k, (a, b)) in x.iter().zip(y).enumerate() {
                            let extra = color_by
                                .as_ref()
                                .and_then(|(c, _)| c.get(k))
                                .map_or(String::new(), |v| num(*v));
                            row(num(*a), num(*b), extra)?;
                        }
                    }
                    Series::Bars { x, heights, .. } => {
                        for (a, b) in x.iter().zip(heights) {
                            row(num(*a), num(*b), String::new())?;
                        }
                    }
                    Series::ErrorBars { x, y, err, .. } => {
                        for ((a, b), e) in x.iter().zip(y).zip(err) {
                            row(num(*a), num(*b), num(*e))?;
                        }
                    }
                    Series::HLine { y, .. } => row(String::new(), num(*y), String::new())?,
                    Series::VLine { x, .. } => row(num(*x), String::new(), String::new())?,
                    Series::Text { x, y, text, .. } => row(num(*x), num(*y), text.clone())?,
                }
            }
            if let Some(h) = &p.heatmap {
                let sname = h.colorbar_label.clone().unwrap_or("heatmap".to_string());
                for (r, vals) in h.values.iter().enumerate() {
                    for (c, v) in vals.iter().enumerate() {
                        w.write_record([
                            pname.as_str(),
                            &sname,
                            "heatmap",
                            &c.to_string(),
                            &r.to_string(),
                            &num(*v),
                        ])?;
                    }
                }
            }
        }
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}
