//! Minimal TrueType metrics (advance widths, left side bearings, legacy kerning).
//!
//! plotters' ab_glyph backend draws every glyph at the pen position without its left side
//! bearing, which squeezes letter pairs such as "Tr" or "cl". The renderer therefore lays
//! text out itself, glyph by glyph, with the metrics read here from the same font file.

use std::collections::HashMap;

/// Horizontal metrics of a font, in font units.
pub(crate) struct FontMetrics {
    /// ascent - descent: ab_glyph's pixel size is this many font units.
    height_units: f64,
    glyph_of: HashMap<char, u16>,
    advance: Vec<u16>,
    lsb: Vec<i16>,
    kern: HashMap<(u16, u16), i16>,
}

fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(off)?, *d.get(off + 1)?]))
}

fn i16_at(d: &[u8], off: usize) -> Option<i16> {
    u16_at(d, off).map(|v| v as i16)
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *d.get(off)?,
        *d.get(off + 1)?,
        *d.get(off + 2)?,
        *d.get(off + 3)?,
    ]))
}

/// Offsets of the font's tables by tag.
fn tables(d: &[u8]) -> Option<HashMap<[u8; 4], usize>> {
    let n = u16_at(d, 4)? as usize;
    let mut out = HashMap::new();
    for i in 0..n {
        let rec = 12 + 16 * i;
        let tag = d.get(rec..rec + 4)?;
        out.insert(
            [tag[0], tag[1], tag[2], tag[3]],
            u32_at(d, rec + 8)? as usize,
        );
    }
    Some(out)
}

/// The Unicode BMP mapping of a (3, 1) format-4 cmap subtable.
fn parse_cmap(d: &[u8], cmap: usize) -> Option<HashMap<char, u16>> {
    let n = u16_at(d, cmap + 2)? as usize;
    let sub = (0..n).find_map(|i| {
        let rec = cmap + 4 + 8 * i;
        let (platform, encoding) = (u16_at(d, rec)?, u16_at(d, rec + 2)?);
        let off = cmap + u32_at(d, rec + 4)? as usize;
        (platform == 3 && encoding == 1 && u16_at(d, off)? == 4).then_some(off)
    })?;
    let seg_x2 = u16_at(d, sub + 6)? as usize;
    let ends = sub + 14;
    let starts = ends + seg_x2 + 2;
    let deltas = starts + seg_x2;
    let range_offsets = deltas + seg_x2;
    let mut map = HashMap::new();
    for i in 0..seg_x2 / 2 {
        let end = u16_at(d, ends + 2 * i)?;
        let start = u16_at(d, starts + 2 * i)?;
        let delta = u16_at(d, deltas + 2 * i)?;
        let ro_addr = range_offsets + 2 * i;
        let ro = u16_at(d, ro_addr)? as usize;
        if start > end || start == 0xFFFF {
            continue;
        }
        for c in start..=end {
            let gid = if ro == 0 {
                c.wrapping_add(delta)
            } else {
                let g = u16_at(d, ro_addr + ro + 2 * (c - start) as usize)?;
                if g == 0 {
                    0
                } else {
                    g.wrapping_add(delta)
                }
            };
            if let Some(ch) = char::from_u32(u32::from(c)) {
                if gid != 0 {
                    map.insert(ch, gid);
                }
            }
        }
    }
    Some(map)
}

/// Horizontal kerning pairs of a legacy `kern` table (format 0 subtables).
fn parse_kern(d: &[u8], kern: usize) -> HashMap<(u16, u16), i16> {
    let mut pairs = HashMap::new();
    let parse = |pairs: &mut HashMap<(u16, u16), i16>| -> Option<()> {
        let n_tables = u16_at(d, kern + 2)? as usize;
        let mut sub = kern + 4;
        for _ in 0..n_tables {
            let length = u16_at(d, sub + 2)? as usize;
            let coverage = u16_at(d, sub + 4)?;
            if coverage >> 8 == 0 && coverage & 1 == 1 {
                let n = u16_at(d, sub + 6)? as usize;
                for k in 0..n {
                    let rec = sub + 14 + 6 * k;
                    pairs.insert((u16_at(d, rec)?, u16_at(d, rec + 2)?), i16_at(d, rec + 4)?);
                }
            }
            sub += length.max(6);
        }
        Some(())
    };
    let _ = parse(&mut pairs);
    pairs
}

impl FontMetrics {
    /// Reads the metrics of a TrueType font; `None` if the tables are missing or malformed.
    pub fn parse(d: &[u8]) -> Option<Self> {
        let t = tables(d)?;
        let hhea = *t.get(b"hhea")?;
        let ascent = f64::from(i16_at(d, hhea + 4)?);
        let descent = f64::from(i16_at(d, hhea + 6)?);
        let n_hmetrics = u16_at(d, hhea + 34)? as usize;
        let n_glyphs = u16_at(d, *t.get(b"maxp")? + 4)? as usize;
        let hmtx = *t.get(b"hmtx")?;
        let mut advance = Vec::with_capacity(n_glyphs);
        let mut lsb = Vec::with_capacity(n_glyphs);
        for g in 0..n_glyphs {
            if g < n_hmetrics {
                advance.push(u16_at(d, hmtx + 4 * g)?);
                lsb.push(i16_at(d, hmtx + 4 * g + 2)?);
            } else {
                advance.push(*advance.last()?);
                lsb.push(i16_at(d, hmtx + 4 * n_hmetrics + 2 * (g - n_hmetrics))?);
            }
        }
        let glyph_of = parse_cmap(d, *t.get(b"cmap")?)?;
        let kern = t
            .get(b"kern")
            .map(|k| parse_kern(d, *k))
            .unwrap_or_default();
        (ascent - descent > 0.0).then_some(FontMetrics {
            height_units: ascent - descent,
            glyph_of,
            advance,
            lsb,
            kern,
        })
    }

    /// Pixels per font unit at ab_glyph pixel `size`.
    pub fn px_per_unit(&self, size: f64) -> f64 {
        size / self.height_units
    }

    fn glyph(&self, c: char) -> usize {
        self.glyph_of.get(&c).copied().unwrap_or(0) as usize
    }

    /// For ab_glyph pixel `size`: each character with its pen position and left side
    /// bearing (pixels from the start of the text), and the total advance width.
    pub fn layout(&self, s: &str, size: f64) -> (Vec<(f64, f64, char)>, f64) {
        let k = size / self.height_units;
        let mut pen = 0.0;
        let mut out = Vec::with_capacity(s.len());
        let mut prev: Option<u16> = None;
        for c in s.chars() {
            let g = self.glyph(c);
            if let Some(p) = prev {
                pen += f64::from(self.kern.get(&(p, g as u16)).copied().unwrap_or(0)) * k;
            }
            let lsb = f64::from(self.lsb.get(g).copied().unwrap_or(0)) * k;
            out.push((pen, lsb, c));
            pen += f64::from(self.advance.get(g).copied().unwrap_or(0)) * k;
            prev = Some(g as u16);
        }
        (out, pen)
    }
}
