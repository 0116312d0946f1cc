//! Histogram binning (numpy-compatible conventions).

/// How [`histogram_counts`] chooses its bins.
#[derive(Clone, Debug, PartialEq)]
pub enum Bins {
    /// This many equal-width bins spanning the finite values' min..max.
    Count(usize),
    /// Freedman–Diaconis rule: bin width `2 * IQR / n^(1/3)`; falls back to `ceil(sqrt(n))`
    /// bins when the IQR is 0.
    FreedmanDiaconis,
    /// Explicit bin edges (ascending); values outside them are not counted.
    Edges(Vec<f64>),
}

/// Upper bound on the number of bins an automatic rule may produce.
const MAX_AUTO_BINS: usize = 10_000;

/// Bins the finite entries of `values` (NaN and ±inf are ignored) and returns
/// `(edges, counts)` with `edges.len() == counts.len() + 1`. Like numpy, every bin is
/// half-open `[a, b)` except the last, which also includes its right edge.
/// Degenerate inputs never panic: no finite values give edges over `0..1`, a constant
/// sample gets the range `v-0.5..v+0.5`, `Count(0)` means one bin, and fewer than two
/// usable explicit edges give empty counts.
pub fn histogram_counts(values: &[f64], bins: &Bins) -> (Vec<f64>, Vec<f64>) {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let edges = match bins {
        Bins::Edges(e) => {
            let mut e: Vec<f64> = e.iter().copied().filter(|v| v.is_finite()).collect();
            e.sort_by(f64::total_cmp);
            e.dedup();
            e
        }
        Bins::Count(k) => {
            let (lo, hi) = data_range(finite());
            uniform_edges(lo, hi, (*k).max(1))
        }
        Bins::FreedmanDiaconis => {
            let (lo, hi) = data_range(finite());
            let k = match freedman_diaconis_width(values) {
                Some(w) => ((hi - lo) / w).ceil().max(1.0),
                None => (finite().count() as f64).sqrt().ceil().max(1.0),
            };
            uniform_edges(lo, hi, (k as usize).clamp(1, MAX_AUTO_BINS))
        }
    };
    if edges.len() < 2 {
        return (edges, Vec::new());
    }
    let nbins = edges.len() - 1;
    let mut counts = vec![0.0; nbins];
    let (first, last) = (edges[0], edges[nbins]);
    // Equal-width edges (all that Count and FreedmanDiaconis make): the bin follows from
    // the value, then is corrected against the edges themselves for rounding, as numpy
    // does; other edges are searched.
    let step = (last - first) / nbins as f64;
    let uniform = edges
        .iter()
        .enumerate()
        .all(|(i, &e)| (e - (first + step * i as f64)).abs() <= 1e-9 * step.max(f64::MIN_POSITIVE));
    for v in finite() {
        if v < first || v > last {
            continue;
        }
        let i = if uniform {
            let mut i = (((v - first) / step) as usize).min(nbins - 1);
            while i > 0 && v < edges[i] {
                i -= 1;
            }
            while i + 1 < nbins && v >= edges[i + 1] {
                i += 1;
            }
            i
        } else {
            // Index of the last edge <= v, clamped so that v == last lands in the final bin.
            edges
                .partition_point(|&e| e <= v)
                .saturating_sub(1)
                .min(nbins - 1)
        };
        counts[i] += 1.0;
    }
    (edges, counts)
}

/// Per-bin counts as numpy's `density=True` gives them: count / (total count · bin
/// width), so that the bars' areas sum to 1 (the total is what fell inside the edges,
/// as numpy normalises); all zeros when nothing was counted.
pub fn counts_to_density(edges: &[f64], counts: &[f64]) -> Vec<f64> {
    let total: f64 = counts.iter().sum();
    counts
        .iter()
        .zip(edges.windows(2))
        .map(|(c, e)| {
            if total > 0.0 {
                c / (total * (e[1] - e[0]))
            } else {
                0.0
            }
        })
        .collect()
}

/// `numpy.histogram(values, bins, density=True)`: the edges and each bin's density
/// (see [`histogram_counts`] for the bins, [`counts_to_density`] for the scaling).
pub fn density_histogram(values: &[f64], bins: &Bins) -> (Vec<f64>, Vec<f64>) {
    let (edges, counts) = histogram_counts(values, bins);
    let density = counts_to_density(&edges, &counts);
    (edges, density)
}

/// A Freedman–Diaconis histogram (numpy's `bins='fd'`) as a curve through the bin
/// centres: the counts, or with `density` count / (n · bin width) (numpy's
/// `density=True`), which integrates to 1. For histograms drawn as lines.
pub fn fd_curve(values: &[f64], density: bool) -> (Vec<f64>, Vec<f64>) {
    let (edges, counts) = histogram_counts(values, &Bins::FreedmanDiaconis);
    let centres = edges.windows(2).map(|e| 0.5 * (e[0] + e[1])).collect();
    let y = if density {
        counts_to_density(&edges, &counts)
    } else {
        counts
    };
    (centres, y)
}

/// The Freedman–Diaconis bin width `2 * IQR / n^(1/3)` of the finite values, or `None` when
/// it is not positive (fewer than two values or zero IQR). Quartiles use linear
/// interpolation (numpy's default).
pub fn freedman_diaconis_width(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.len() < 2 {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let iqr = quantile_sorted(&v, 0.75) - quantile_sorted(&v, 0.25);
    let w = 2.0 * iqr / (v.len() as f64).cbrt();
    (w > 0.0 && w.is_finite()).then_some(w)
}

/// Linear-interpolation quantile of a sorted, non-empty slice.
fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(v.len() - 1);
    v[i] + (v[j] - v[i]) * (pos - i as f64)
}

/// Min and max of finite values (`0..1` when there are none).
fn data_range(finite: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return (0.0, 1.0);
    }
    if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

fn uniform_edges(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    let w = (hi - lo) / k as f64;
    let mut e: Vec<f64> = (0..=k).map(|i| lo + w * i as f64).collect();
    e[k] = hi; // exact right edge despite rounding
    e
}
