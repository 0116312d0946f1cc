//! Pixel-space drawing primitives: the font, text layout, crisp lines and rectangles, and
//! anti-aliased coverage masks for data lines and markers.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontDesc, FontFamily, FontStyle, FontTransform, RGBAColor};

use super::glyphs::FontMetrics;
use super::Rgb;

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// DejaVu Sans, embedded so that binaries work from any directory.
static EMBEDDED_FONT: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../assets/fonts/DejaVuSans.ttf"
));

/// DejaVu Sans Bold, for bold titles and text.
static EMBEDDED_BOLD: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../assets/fonts/DejaVuSans-Bold.ttf"
));

static FONT: OnceLock<Result<FontMetrics, String>> = OnceLock::new();
static BOLD: OnceLock<Result<FontMetrics, String>> = OnceLock::new();
static FONT_BYTES: OnceLock<&'static [u8]> = OnceLock::new();

/// The font file in use: `$ML4LLM_ASSETS/fonts/DejaVuSans.ttf` when present, else the
/// embedded copy.
fn font_bytes() -> &'static [u8] {
    FONT_BYTES.get_or_init(|| {
        let from_env = std::env::var_os("ML4LLM_ASSETS")
            .map(|dir| Path::new(&dir).join("fonts").join("DejaVuSans.ttf"))
            .and_then(|p| std::fs::read(p).ok());
        match from_env {
            Some(b) => Box::leak(b.into_boxed_slice()),
            None => EMBEDDED_FONT,
        }
    })
}

/// Registers the `sans-serif` font with plotters' ab_glyph backend (once per process) and
/// returns its metrics. `$ML4LLM_ASSETS/fonts/DejaVuSans.ttf` is used instead of the
/// embedded copy when present.
pub(super) fn font() -> Result<&'static FontMetrics> {
    FONT.get_or_init(|| {
        let bytes = font_bytes();
        register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "DejaVuSans.ttf is not a valid font".to_string())?;
        FontMetrics::parse(bytes).ok_or_else(|| "cannot read DejaVuSans.ttf metrics".to_string())
    })
    .as_ref()
    .map_err(|e| anyhow!("{e}"))
}

/// Registers the bold `sans-serif` face with plotters (once per process) and returns its
/// metrics.
pub(super) fn bold_font() -> Result<&'static FontMetrics> {
    BOLD.get_or_init(|| {
        register_font("sans-serif", FontStyle::Bold, EMBEDDED_BOLD)
            .map_err(|_| "DejaVuSans-Bold.ttf is not a valid font".to_string())?;
        FontMetrics::parse(EMBEDDED_BOLD)
            .ok_or_else(|| "cannot read DejaVuSans-Bold.ttf metrics".to_string())
    })
    .as_ref()
    .map_err(|e| anyhow!("{e}"))
}

/// Converts a plotters error into anyhow.
pub(super) fn de<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plotters: {e:?}")
}

// Font sizes in points (matplotlib defaults) and the ratio between plotters' ab_glyph
// pixel size (ascent - descent) and the em size for DejaVu Sans.
pub(super) const SUPTITLE_PT: f64 = 13.0;
pub(super) const TITLE_PT: f64 = 12.0;
pub(super) const LABEL_PT: f64 = 10.0;
pub(super) const TICK_PT: f64 = 9.0;
pub(super) const LEGEND_PT: f64 = 9.0;
pub(super) const FONT_SCALE: f64 = 1.164;
// DejaVu Sans metrics as fractions of the ab_glyph pixel size.
pub(super) const CAP: f64 = 0.626;
pub(super) const DESC: f64 = 0.203;
/// Distance between the baselines of multi-line text, in ab_glyph pixel sizes
/// (matplotlib's linespacing 1.2 in ems).
pub(super) const LINE_SPACING: f64 = 1.2 / FONT_SCALE;

pub(super) const BLACK_RGB: Rgb = (0, 0, 0);
pub(super) const SPINE: Rgb = (0, 0, 0);
pub(super) const GRID: Rgb = (222, 222, 222);
pub(super) const GRID_DASHED: Rgb = (190, 190, 190);

/// Vertical text alignment (across the reading direction for rotated text).
#[derive(Clone, Copy)]
pub(super) enum VAlign {
    /// Cap height at the anchor (for rotated text: the glyph tops, i.e. its left side).
    Top,
    /// Middle of the cap height at the anchor.
    Center,
    /// Descender line at the anchor (for rotated text: its right side).
    Bottom,
}

/// A pixel rectangle `[x0, x1) x [y0, y1)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn w(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn h(&self) -> f64 {
        self.y1 - self.y0
    }
    pub fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x0 - 0.5 && x <= self.x1 + 0.5 && y >= self.y0 - 0.5 && y <= self.y1 + 0.5
    }
}

pub(super) fn rgba(c: Rgb, alpha: f64) -> RGBAColor {
    let a = if alpha.is_nan() {
        1.0
    } else {
        alpha.clamp(0.0, 1.0)
    };
    RGBAColor(c.0, c.1, c.2, a)
}

fn ip((x, y): (f64, f64)) -> (i32, i32) {
    (x.round() as i32, y.round() as i32)
}

/// Thin wrapper around the drawing area with dpi-aware sizes and pixel-space primitives.
pub(super) struct Canvas<'a, 'b> {
    pub area: &'b Area<'a>,
    pub dpi: f64,
    pub font: &'static FontMetrics,
    /// Metrics of the bold face ([`Canvas::text_bold`]).
    pub bold: &'static FontMetrics,
}

impl Canvas<'_, '_> {
    /// Pixel size for a font size in points.
    pub fn font(&self, pt: f64) -> f64 {
        pt * self.dpi / 72.0 * FONT_SCALE
    }

    /// Pixels for a length given in "pixels at 100 dpi".
    pub fn px(&self, v: f64) -> f64 {
        v * self.dpi / 100.0
    }

    fn font_desc(size: f64, bold: bool) -> FontDesc<'static> {
        let style = if bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        };
        FontDesc::new(FontFamily::SansSerif, size, style)
    }

    /// Width of a text in pixels.
    pub fn text_w(&self, s: &str, size: f64) -> f64 {
        self.font.layout(s, size).1
    }

    /// Draws text; `rotated` reads bottom-to-top (matplotlib's y labels).
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &self,
        s: &str,
        at: (f64, f64),
        size: f64,
        color: Rgb,
        ha: HPos,
        va: VAlign,
        rotated: bool,
    ) -> Result<()> {
        self.text_in_face(s, at, size, color, (ha, va), rotated, false)
    }

    /// [`Self::text`] in the bold face, unrotated.
    pub fn text_bold(
        &self,
        s: &str,
        at: (f64, f64),
        size: f64,
        color: Rgb,
        ha: HPos,
        va: VAlign,
    ) -> Result<()> {
        self.text_in_face(s, at, size, color, (ha, va), false, true)
    }

    #[allow(clippy::too_many_arguments)]
    fn text_in_face(
        &self,
        s: &str,
        (x, y): (f64, f64),
        size: f64,
        color: Rgb,
        (ha, va): (HPos, VAlign),
        rotated: bool,
        bold: bool,
    ) -> Result<()> {
        if s.is_empty() || !(x.is_finite() && y.is_finite()) {
            return Ok(());
        }
        // Distance from the anchor line to the baseline, in the text's "down" direction.
        // With VPos::Top, plotters' ab_glyph backend puts the baseline at anchor + size/2.
        let base = match va {
            VAlign::Top => CAP * size,
            VAlign::Center => 0.5 * CAP * size,
            VAlign::Bottom => -DESC * size,
        };
        let color = RGBColor(color.0, color.1, color.2);
        let mut desc = Self::font_desc(size, bold);
        let metrics = if bold { self.bold } else { self.font };
        if rotated {
            desc = desc.transform(FontTransform::Rotate270);
        }
        let style = desc.color(&color).pos(Pos::new(HPos::Left, VPos::Top));
        // Glyph by glyph: plotters puts each glyph's bounding box at the given position, so
        // add the left side bearing (which its ab_glyph backend leaves out) ourselves.
        let (glyphs, total) = metrics.layout(s, size);
        let start = match ha {
            HPos::Left => 0.0,
            HPos::Center => -total / 2.0,
            HPos::Right => -total,
        };
        let across = (if rotated { x } else { y } + base - size / 2.0).round() as i32;
        let mut buf = [0u8; 4];
        for (pen, lsb, c) in glyphs {
            if c.is_whitespace() {
                continue;
            }
            let along = ((start + pen).round() + lsb.floor()) as i32;
            let pos = if rotated {
                (across, y.round() as i32 - along)
            } else {
                (x.round() as i32 + along, across)
            };
            self.area
                .draw_text(c.encode_utf8(&mut buf), &style, pos)
                .map_err(de)?;
        }
        Ok(())
    }

    /// Width and height of the unturned block of `s`'s lines (`\n` separates them;
    /// baselines `LINE_SPACING` × size apart).
    fn text_block(&self, s: &str, size: f64) -> (f64, f64) {
        let lines = s.split('\n').count().max(1) as f64;
        let w = s
            .split('\n')
            .map(|l| self.text_w(l, size))
            .fold(0.0, f64::max);
        (w, (CAP + DESC) * size + (lines - 1.0) * LINE_SPACING * size)
    }

    /// Size `(w, h)` of the box around `s` drawn at `degrees` (see [`Self::text_at_angle`]).
    pub fn text_box_at_angle(&self, s: &str, size: f64, degrees: f64) -> (f64, f64) {
        let (w, h) = self.text_block(s, size);
        let (sin, cos) = degrees.to_radians().sin_cos();
        (w * cos.abs() + h * sin.abs(), w * sin.abs() + h * cos.abs())
    }

    /// Draws `s` turned `degrees` counter-clockwise, placing the turned text's bounding
    /// box with its top centre at `(x, y)` (how matplotlib places rotated tick labels).
    /// Lines split at `\n` are centred on each other.
    /// The glyph outlines are turned and rasterised with anti-aliasing, written here
    /// because plotters turns text by quarter turns only.
    pub fn text_at_angle(
        &self,
        s: &str,
        (x, y): (f64, f64),
        size: f64,
        color: Rgb,
        degrees: f64,
    ) -> Result<()> {
        use ab_glyph::{Font, OutlineCurve};
        if s.trim().is_empty() || !(x.is_finite() && y.is_finite() && degrees.is_finite()) {
            return Ok(());
        }
        let font = self.font.font();
        let (total, block_h) = self.text_block(s, size);
        let k = self.font.px_per_unit(size);
        let (sin, cos) = degrees.to_radians().sin_cos();
        // Text frame: u along the baseline, v down across it (baseline at v = 0); in
        // pixels (y down) u runs along (cos, -sin) and v along (sin, cos).
        let turn = |u: f64, v: f64| (u * cos + v * sin, -u * sin + v * cos);
        let corners = [
            turn(0.0, -CAP * size),
            turn(total, -CAP * size),
            turn(0.0, block_h - CAP * size),
            turn(total, block_h - CAP * size),
        ];
        let bbox = Mask::bbox(&corners);
        let origin = (x - (bbox.x0 + bbox.x1) / 2.0, y - bbox.y0);
        // Rasterise over the turned box (plus a pixel of margin) in local pixels.
        let (left, top) = (
            (origin.0 + bbox.x0).floor() - 1.0,
            (origin.1 + bbox.y0).floor() - 1.0,
        );
        let (w, h) = (
            (bbox.w() + 3.0).ceil() as usize,
            (bbox.h() + 3.0).ceil() as usize,
        );
        let mut raster = ab_glyph_rasterizer::Rasterizer::new(w, h);
        let placed = s.split('\n').enumerate().flat_map(|(i, line)| {
            let (glyphs, w) = self.font.layout(line, size);
            let (indent, baseline) = ((total - w) / 2.0, i as f64 * LINE_SPACING * size);
            glyphs
                .into_iter()
                .map(move |(pen, _lsb, c)| (indent + pen, baseline, c))
        });
        for (pen, baseline, c) in placed {
            if c.is_whitespace() {
                continue;
            }
            let Some(outline) = font.outline(font.glyph_id(c)) else {
                continue;
            };
            // font units (y up) -> turned local pixels
            let at = |p: ab_glyph::Point| {
                let (dx, dy) = turn(pen + f64::from(p.x) * k, baseline - f64::from(p.y) * k);
                ab_glyph::point((origin.0 + dx - left) as f32, (origin.1 + dy - top) as f32)
            };
            for curve in &outline.curves {
                match *curve {
                    OutlineCurve::Line(a, b) => raster.draw_line(at(a), at(b)),
                    OutlineCurve::Quad(a, b, c) => raster.draw_quad(at(a), at(b), at(c)),
                    OutlineCurve::Cubic(a, b, c, d) => {
                        raster.draw_cubic(at(a), at(b), at(c), at(d))
                    }
                }
            }
        }
        let (cw, ch) = self.area.dim_in_pixel();
        let clip = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: f64::from(cw),
            y1: f64::from(ch),
        };
        let region = Rect {
            x0: left,
            y0: top,
            x1: left + w as f64,
            y1: top + h as f64,
        };
        let Some(mut mask) = Mask::new(clip, region, 0.0) else {
            return Ok(());
        };
        raster.for_each_pixel_2d(|i, j, a| {
            if a > 0.0 {
                mask.add(
                    left as i32 + i as i32,
                    top as i32 + j as i32,
                    f64::from(a.min(1.0)),
                );
            }
        });
        mask.draw(self, color, 1.0)
    }

    /// A polyline of the given width.
    pub fn path(&self, pts: &[(f64, f64)], color: RGBAColor, width: u32) -> Result<()> {
        let mut v: Vec<(i32, i32)> = Vec::with_capacity(pts.len());
        for p in pts {
            let q = ip(*p);
            if v.last() != Some(&q) {
                v.push(q);
            }
        }
        if v.len() == 1 {
            v.push(v[0]);
        }
        if v.len() < 2 || width == 0 {
            return Ok(());
        }
        let style = ShapeStyle {
            color,
            filled: false,
            stroke_width: width,
        };
        self.area.draw(&PathElement::new(v, style)).map_err(de)
    }

    /// Fills the pixels `[x0, x1) x [y0, y1)` (coordinates rounded).
    pub fn fill_rect(&self, x0: f64, y0: f64, x1: f64, y1: f64, color: RGBAColor) -> Result<()> {
        let (a, b) = (x0.min(x1).round() as i32, y0.min(y1).round() as i32);
        let (c, d) = (x0.max(x1).round() as i32, y0.max(y1).round() as i32);
        if c <= a || d <= b {
            return Ok(());
        }
        self.area
            .draw(&Rectangle::new([(a, b), (c, d)], color.filled()))
            .map_err(de)
    }

    pub fn closed_outline(&self, pts: &[(f64, f64)], color: RGBAColor) -> Result<()> {
        let mut v = pts.to_vec();
        if let Some(first) = pts.first() {
            v.push(*first);
        }
        self.path(&v, color, 1)
    }
}

/// Anti-aliased coverage (0..1 per pixel) over a window, blended onto the image once per
/// pixel, so overlapping parts of one shape never double up under transparency.
pub(super) struct Mask {
    x0: i32,
    y0: i32,
    w: i32,
    h: i32,
    cov: Vec<f32>,
}

impl Mask {
    /// A mask over the pixels of `clip` that lie within `bbox` (grown by `grow`).
    pub fn new(clip: Rect, bbox: Rect, grow: f64) -> Option<Self> {
        let x0 = clip.x0.max(bbox.x0 - grow).floor();
        let y0 = clip.y0.max(bbox.y0 - grow).floor();
        let x1 = clip.x1.min(bbox.x1 + grow).ceil();
        let y1 = clip.y1.min(bbox.y1 + grow).ceil();
        if !(x1 > x0 && y1 > y0) || (x1 - x0) * (y1 - y0) > 1e8 {
            return None;
        }
        let (w, h) = ((x1 - x0) as i32, (y1 - y0) as i32);
        Some(Mask {
            x0: x0 as i32,
            y0: y0 as i32,
            w,
            h,
            cov: vec![0.0; (w as usize) * (h as usize)],
        })
    }

    /// Bounding box of points.
    pub fn bbox(pts: &[(f64, f64)]) -> Rect {
        let mut r = Rect {
            x0: f64::INFINITY,
            y0: f64::INFINITY,
            x1: f64::NEG_INFINITY,
            y1: f64::NEG_INFINITY,
        };
        for &(x, y) in pts {
            r.x0 = r.x0.min(x);
            r.y0 = r.y0.min(y);
            r.x1 = r.x1.max(x);
            r.y1 = r.y1.max(y);
        }
        r
    }

    fn add(&mut self, x: i32, y: i32, c: f64) {
        let (i, j) = (x - self.x0, y - self.y0);
        if i >= 0 && j >= 0 && i < self.w && j < self.h {
            let k = (j * self.w + i) as usize;
            self.cov[k] = self.cov[k].max(c as f32);
        }
    }

    /// A capsule of half-width `hw` around the segment `a-b` (round caps and joins).
    pub fn segment(&mut self, a: (f64, f64), b: (f64, f64), hw: f64) {
        let reach = hw + 1.0;
        let steep = (b.1 - a.1).abs() > (b.0 - a.0).abs();
        // (u, v): major and minor axis coordinates of the segment.
        let (au, av, bu, bv) = if steep {
            (a.1, a.0, b.1, b.0)
        } else {
            (a.0, a.1, b.0, b.1)
        };
        let (du, dv) = (bu - au, bv - av);
        let len2 = du * du + dv * dv;
        let slope = if du.abs() > 1e-12 { dv / du } else { 0.0 };
        let half_span = reach * (1.0 + slope * slope).sqrt();
        let (lim_lo, lim_hi) = if steep {
            (self.y0, self.y0 + self.h)
        } else {
            (self.x0, self.x0 + self.w)
        };
        let u_lo = ((au.min(bu) - reach).floor() as i32).max(lim_lo);
        let u_hi = ((au.max(bu) + reach).ceil() as i32).min(lim_hi);
        for iu in u_lo..u_hi {
            let cu = f64::from(iu) + 0.5;
            let t = if du.abs() > 1e-12 {
                ((cu - au) / du).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let cv = av + dv * t;
            for iv in ((cv - half_span).floor() as i32)..=((cv + half_span).ceil() as i32) {
                let pv = f64::from(iv) + 0.5;
                // distance from the pixel centre to the segment
                let s = if len2 > 0.0 {
                    (((cu - au) * du + (pv - av) * dv) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let d = ((cu - au - s * du).powi(2) + (pv - av - s * dv).powi(2)).sqrt();
                let c = (hw + 0.5 - d).clamp(0.0, 1.0);
                if c > 0.0 {
                    if steep {
                        self.add(iv, iu, c);
                    } else {
                        self.add(iu, iv, c);
                    }
                }
            }
        }
    }

    /// Pixels by coverage from a signed distance function (negative inside), over a box.
    pub fn fill_sdf(&mut self, bbox: Rect, sdf: impl Fn(f64, f64) -> f64) {
        let x_lo = ((bbox.x0 - 1.0).floor() as i32).max(self.x0);
        let x_hi = ((bbox.x1 + 1.0).ceil() as i32).min(self.x0 + self.w);
        let y_lo = ((bbox.y0 - 1.0).floor() as i32).max(self.y0);
        let y_hi = ((bbox.y1 + 1.0).ceil() as i32).min(self.y0 + self.h);
        for y in y_lo..y_hi {
            for x in x_lo..x_hi {
                let c = (0.5 - sdf(f64::from(x) + 0.5, f64::from(y) + 0.5)).clamp(0.0, 1.0);
                if c > 0.0 {
                    self.add(x, y, c);
                }
            }
        }
    }

    /// Blends `color` onto the canvas with opacity `alpha * coverage`.
    pub fn draw(&self, cv: &Canvas, color: Rgb, alpha: f64) -> Result<()> {
        let alpha = if alpha.is_nan() {
            1.0
        } else {
            alpha.clamp(0.0, 1.0)
        };
        for j in 0..self.h {
            let row = &self.cov[(j * self.w) as usize..((j + 1) * self.w) as usize];
            let y = self.y0 + j;
            let mut i = 0;
            while i < self.w {
                let c = f64::from(row[i as usize]);
                if c >= 0.999 {
                    // a run of full coverage: one rectangle
                    let start = i;
                    while i < self.w && row[i as usize] >= 0.999 {
                        i += 1;
                    }
                    let (x0, x1) = (f64::from(self.x0 + start), f64::from(self.x0 + i));
                    let yf = f64::from(y);
                    cv.fill_rect(x0, yf, x1, yf + 1.0, rgba(color, alpha))?;
                    continue;
                }
                if c > 0.0 {
                    cv.area
                        .draw_pixel((self.x0 + i, y), &rgba(color, alpha * c))
                        .map_err(de)?;
                }
                i += 1;
            }
        }
        Ok(())
    }
}

/// Signed distance to a convex polygon (max over its edges' half-planes; negative inside).
pub(super) fn convex_sdf(pts: &[(f64, f64)]) -> impl Fn(f64, f64) -> f64 + '_ {
    let n = pts.len() as f64;
    let cx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p.1).sum::<f64>() / n;
    move |x, y| {
        let mut d = f64::NEG_INFINITY;
        for k in 0..pts.len() {
            let (a, b) = (pts[k], pts[(k + 1) % pts.len()]);
            let (ex, ey) = (b.0 - a.0, b.1 - a.1);
            let len = (ex * ex + ey * ey).sqrt().max(1e-12);
            let (mut nx, mut ny) = (ey / len, -ex / len);
            // orient the normal away from the centroid
            if nx * (cx - a.0) + ny * (cy - a.1) > 0.0 {
                (nx, ny) = (-nx, -ny);
            }
            d = d.max(nx * (x - a.0) + ny * (y - a.1));
        }
        d
    }
}
