//! Axis scales, automatic ranges, tick positions and tick-label formatting.

/// A data interval (`lo` at pixel `p0`, `hi` at pixel `p1`) on a linear or log10 scale.
/// `lo > hi` is allowed and gives an inverted axis.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub p0: f64,
    pub p1: f64,
}

impl Axis {
    /// Scale transform: identity or log10 (NaN for non-positive values on a log axis).
    pub fn tf(&self, v: f64) -> f64 {
        if self.log {
            if v > 0.0 {
                v.log10()
            } else {
                f64::NAN
            }
        } else {
            v
        }
    }

    /// Pixel position of a data value, `None` for values the scale cannot show.
    pub fn pixel(self, v: f64) -> Option<f64> {
        let t = self.tf(v);
        if !t.is_finite() {
            return None;
        }
        let (a, b) = (self.tf(self.lo), self.tf(self.hi));
        let p = self.p0 + (t - a) / (b - a) * (self.p1 - self.p0);
        p.is_finite().then_some(p)
    }

    /// Data value at a pixel position.
    pub fn value_at(self, p: f64) -> f64 {
        let (a, b) = (self.tf(self.lo), self.tf(self.hi));
        let t = a + (p - self.p0) / (self.p1 - self.p0) * (b - a);
        if self.log {
            10f64.powf(t)
        } else {
            t
        }
    }

    /// The smaller and larger data bound.
    pub fn bounds(&self) -> (f64, f64) {
        (self.lo.min(self.hi), self.lo.max(self.hi))
    }

    /// Whether a data value lies within the axis range (with a tiny tolerance).
    pub fn contains(&self, v: f64) -> bool {
        let (a, b) = (self.tf(self.lo), self.tf(self.hi));
        let (a, b) = (a.min(b), a.max(b));
        let t = self.tf(v);
        let eps = (b - a).abs() * 1e-9;
        t.is_finite() && t >= a - eps && t <= b + eps
    }
}

/// A valid `(lo, hi)` range from data values: non-finite (and, for log scales,
/// non-positive) values are ignored, the span is padded by `pad` (a fraction, in scale
/// space) on each side, and degenerate spans are widened. `sticky_zero` keeps 0 as a
/// hard bound when it is the data minimum or maximum (bars start at 0, like matplotlib).
pub(crate) fn auto_range(
    values: impl IntoIterator<Item = f64>,
    log: bool,
    pad: f64,
    sticky_zero: bool,
) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values {
        let t = if log {
            if v > 0.0 {
                v.log10()
            } else {
                continue;
            }
        } else {
            v
        };
        if t.is_finite() {
            lo = lo.min(t);
            hi = hi.max(t);
        }
    }
    if lo > hi {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    let (mut a, mut b) = if lo == hi {
        let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        (lo - d, hi + d)
    } else {
        let d = (hi - lo) * pad;
        (lo - d, hi + d)
    };
    if !log && sticky_zero {
        if lo == 0.0 {
            a = 0.0;
        }
        if hi == 0.0 {
            b = 0.0;
        }
    }
    if log {
        (10f64.powf(a), 10f64.powf(b))
    } else if !(a.is_finite() && b.is_finite()) || a == b {
        (lo.max(-f64::MAX / 4.0), hi.min(f64::MAX / 4.0) + 1.0)
    } else {
        (a, b)
    }
}

/// Makes a user-supplied limit pair usable: non-finite or equal limits fall back to
/// `fallback`; log axes need both limits positive.
pub(crate) fn sanitize_limits(lim: (f64, f64), log: bool, fallback: (f64, f64)) -> (f64, f64) {
    let (a, b) = lim;
    let ok = a.is_finite() && b.is_finite() && a != b && (!log || (a > 0.0 && b > 0.0));
    if ok {
        (a, b)
    } else {
        fallback
    }
}

/// A labelled tick at a data position.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Tick {
    pub pos: f64,
    pub label: String,
}

/// Nice step (1, 2, 2.5, 5 x 10^k) giving at most about `max_n` intervals over `span`.
fn nice_step(span: f64, max_n: usize, integer: bool) -> f64 {
    let raw = span / max_n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let mults: &[f64] = if integer && mag < 10.0 {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    let step = mults
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    if integer {
        step.max(1.0)
    } else {
        step
    }
}

/// Evenly spaced "nice" ticks inside `[lo, hi]` (either order), at most about `max_n + 1`.
/// With `integer`, only whole numbers are used.
pub(crate) fn linear_ticks(lo: f64, hi: f64, max_n: usize, integer: bool) -> Vec<Tick> {
    let (a, b) = (lo.min(hi), lo.max(hi));
    let span = b - a;
    if !(span.is_finite() && span > 0.0) {
        return Vec::new();
    }
    let step = nice_step(span, max_n, integer);
    let k0 = (a / step - 1e-9).ceil();
    let k1 = (b / step + 1e-9).floor();
    if !(k0.is_finite() && k1.is_finite()) || k1 - k0 > 1000.0 {
        return Vec::new();
    }
    let decimals = decimals_for(step);
    let sci = a.abs().max(b.abs()) >= 1e6 || (a.abs().max(b.abs()) < 1e-3);
    let scale = 10f64.powi(decimals as i32);
    let mut out = Vec::new();
    let mut k = k0;
    while k <= k1 {
        // Round to the step's decimals (0.6, not 0.6000000000000001); `+ 0.0` turns -0 into 0.
        let exact = k * step;
        let rounded = (exact * scale).round() / scale;
        let v = if rounded.is_finite() { rounded } else { exact } + 0.0;
        let label = if sci {
            fmt_sci(v)
        } else {
            fmt_fixed(v, decimals)
        };
        out.push(Tick { pos: v, label });
        k += 1.0;
    }
    out
}

/// Major ticks at powers of ten (thinned to at most about `max_n`) and minor ticks at
/// 2..9 x 10^k, for a positive range. Ranges narrower than a decade get linear ticks.
pub(crate) fn log_ticks(lo: f64, hi: f64, max_n: usize) -> (Vec<Tick>, Vec<f64>) {
    let (a, b) = (lo.min(hi), lo.max(hi));
    if !(a > 0.0 && b.is_finite()) {
        return (Vec::new(), Vec::new());
    }
    let (la, lb) = (a.log10(), b.log10());
    let k0 = (la - 1e-9).ceil() as i64;
    let k1 = (lb + 1e-9).floor() as i64;
    if k1 < k0 || lb - la < 1.0 {
        // less than a decade: plain numbers are more informative
        return (linear_ticks(a, b, max_n.min(4), false), Vec::new());
    }
    let n = (k1 - k0 + 1) as usize;
    let stride = n.div_ceil(max_n.max(1)).max(1) as i64;
    let mut major = Vec::new();
    let mut k = k0;
    while k <= k1 {
        major.push(Tick {
            pos: 10f64.powi(k as i32),
            label: format!("10{}", superscript(k)),
        });
        k += stride;
    }
    let mut minor = Vec::new();
    if stride == 1 && lb - la <= 8.0 {
        for d in (la.floor() as i64)..=(lb.ceil() as i64) {
            for m in 2..=9 {
                let v = f64::from(m) * 10f64.powi(d as i32);
                if v >= a && v <= b {
                    minor.push(v);
                }
            }
        }
    }
    // Less than two decade ticks give little orientation: label 1, 2, 5 x 10^k instead.
    if major.len() < 2 {
        let mut labelled = Vec::new();
        let mut rest = Vec::new();
        for d in (la.floor() as i64)..=(lb.ceil() as i64) {
            for m in 1..=9 {
                let v = f64::from(m) * 10f64.powi(d as i32);
                if v >= a * (1.0 - 1e-9) && v <= b * (1.0 + 1e-9) {
                    if matches!(m, 1 | 2 | 5) {
                        labelled.push(Tick {
                            pos: v,
                            label: fmt_compact(v),
                        });
                    } else {
                        rest.push(v);
                    }
                }
            }
        }
        if labelled.len() >= 2 {
            return (labelled, rest);
        }
    }
    (major, minor)
}

fn superscript(k: i64) -> String {
    k.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect()
}

/// Number of decimals needed to print multiples of `step` exactly.
fn decimals_for(step: f64) -> usize {
    (0..=12)
        .find(|&d| {
            let s = step * 10f64.powi(d as i32);
            (s - s.round()).abs() < 1e-6 * s.abs().max(1.0)
        })
        .unwrap_or(12)
}

/// Fixed-point label with a typographic minus sign.
fn fmt_fixed(v: f64, decimals: usize) -> String {
    minus(format!("{v:.decimals$}"))
}

/// Scientific label such as `1.5e6` / `2e−4`.
fn fmt_sci(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let s = format!("{v:.3e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mant = if mant.contains('.') {
        mant.trim_end_matches('0').trim_end_matches('.')
    } else {
        mant
    };
    minus(format!("{mant}e{exp}"))
}

/// Compact label for `v` on a scale spanning `span`: rounded to three significant digits of
/// the span, so that a midpoint like 1.7e-17 of -1..1 prints as 0.
pub(crate) fn fmt_in_span(v: f64, span: f64) -> String {
    let span = span.abs();
    if span > 0.0 && span.is_finite() && v.is_finite() {
        let q = 10f64.powi(span.log10().floor() as i32 - 2);
        let r = (v / q).round() * q;
        if r.is_finite() {
            return fmt_compact(r + 0.0);
        }
    }
    fmt_compact(v)
}

/// Compact label with about three significant digits (colorbar ticks, legends).
pub(crate) fn fmt_compact(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        return fmt_sci(v);
    }
    let decimals = if a == 0.0 {
        0
    } else {
        (2 - a.log10().floor() as i64).clamp(0, 6) as usize
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    minus(if s == "-0" { "0".to_string() } else { s })
}

fn minus(s: String) -> String {
    s.replace('-', "\u{2212}")
}
