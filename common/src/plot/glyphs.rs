//! Text layout metrics (advance widths, left side bearings, legacy kerning), read through
//! `ab_glyph` from the same font file plotters draws with.
//!
//! plotters' ab_glyph backend draws every glyph at the pen position without its left side
//! bearing, which squeezes letter pairs such as "Tr" or "cl". The renderer therefore lays
//! text out itself, glyph by glyph, with these metrics.

use ab_glyph::{Font, FontRef, GlyphId};

/// A parsed font and its horizontal metrics, in font units.
pub(crate) struct FontMetrics {
    font: FontRef<'static>,
    /// ascent - descent: ab_glyph's pixel size is this many font units.
    height_units: f64,
}

impl FontMetrics {
    /// Reads a TrueType/OpenType font; `None` if it does not parse or has no height.
    pub fn parse(d: &'static [u8]) -> Option<Self> {
        let font = FontRef::try_from_slice(d).ok()?;
        let height_units = f64::from(font.height_unscaled());
        (height_units > 0.0).then_some(FontMetrics { font, height_units })
    }

    /// The font itself (glyph ids and outlines).
    pub fn font(&self) -> &FontRef<'static> {
        &self.font
    }

    /// Pixels per font unit at ab_glyph pixel `size`.
    pub fn px_per_unit(&self, size: f64) -> f64 {
        size / self.height_units
    }

    /// For ab_glyph pixel `size`: each character with its pen position and left side
    /// bearing (pixels from the start of the text), and the total advance width.
    /// Characters the font lacks take its `.notdef` glyph (id 0).
    pub fn layout(&self, s: &str, size: f64) -> (Vec<(f64, f64, char)>, f64) {
        let k = self.px_per_unit(size);
        let mut pen = 0.0;
        let mut out = Vec::with_capacity(s.len());
        let mut prev: Option<GlyphId> = None;
        for c in s.chars() {
            let g = self.font.glyph_id(c);
            if let Some(p) = prev {
                pen += f64::from(self.font.kern_unscaled(p, g)) * k;
            }
            let lsb = f64::from(self.font.h_side_bearing_unscaled(g)) * k;
            out.push((pen, lsb, c));
            pen += f64::from(self.font.h_advance_unscaled(g)) * k;
            prev = Some(g);
        }
        (out, pen)
    }
}
