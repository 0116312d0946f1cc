use super::ticks::{auto_range, linear_ticks, log_ticks};
use super::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn near(c: Rgb, want: Rgb) -> bool {
    let d = |a: u8, b: u8| (i16::from(a) - i16::from(b)).abs();
    d(c.0, want.0) <= 1 && d(c.1, want.1) <= 1 && d(c.2, want.2) <= 1
}

/// Decodes a PNG and returns its size and number of distinct colours.
fn png_stats(path: &Path) -> (u32, u32, usize) {
    let img = image::open(path).expect("readable png").to_rgb8();
    let colors: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    (img.width(), img.height(), colors.len())
}

#[test]
fn histogram_counts_sum_to_n() {
    let values: Vec<f64> = (0..1000).map(|i| ((i * 37) % 101) as f64 * 0.3).collect();
    for bins in [Bins::Count(7), Bins::FreedmanDiaconis, Bins::Count(1)] {
        let (edges, counts) = histogram_counts(&values, &bins);
        assert_eq!(edges.len(), counts.len() + 1, "{bins:?}");
        assert_eq!(counts.iter().sum::<f64>(), 1000.0, "{bins:?}");
    }
}

#[test]
fn histogram_counts_known_edges() {
    let values = [0.0, 1.0, 1.5, 2.0, 3.9, 4.0, f64::NAN, f64::INFINITY];
    let (edges, counts) = histogram_counts(&values, &Bins::Count(4));
    assert_eq!(edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
    // numpy: half-open bins, the last one closed; non-finite values ignored
    assert_eq!(counts, vec![1.0, 2.0, 1.0, 2.0]);

    let (edges, counts) = histogram_counts(&values, &Bins::Edges(vec![1.0, 2.0, 3.0]));
    assert_eq!(edges, vec![1.0, 2.0, 3.0]);
    assert_eq!(counts, vec![2.0, 1.0]);
}

/// The bin of `v` by the definition: `edges[i] <= v < edges[i + 1]`, the last bin also
/// holding its right edge; `None` outside.
fn bin_by_scan(edges: &[f64], v: f64) -> Option<usize> {
    let n = edges.len() - 1;
    (0..n).find(|&i| edges[i] <= v && (v < edges[i + 1] || (i == n - 1 && v == edges[n])))
}

#[test]
fn equal_width_bins_put_values_on_edges_where_the_definition_does() {
    // Values exactly on the edges of 0.1-wide bins (where (v - lo) / width rounds either
    // way) and between them; the counts must match a scan of the edges.
    let mut values: Vec<f64> = (0..=30).map(|i| -0.7 + 0.1 * i as f64).collect();
    values.extend((0..500).map(|i| -0.7 + 3.0 * ((i * 7919) % 1000) as f64 / 1000.0));
    for bins in [Bins::Count(30), Bins::Count(7), Bins::FreedmanDiaconis] {
        let (edges, counts) = histogram_counts(&values, &bins);
        let mut expect = vec![0.0; counts.len()];
        for &v in &values {
            if let Some(i) = bin_by_scan(&edges, v) {
                expect[i] += 1.0;
            }
        }
        assert_eq!(counts, expect, "{bins:?}");
        // explicit (searched) edges give the same counts as the equal-width path
        let (_, searched) = histogram_counts(&values, &Bins::Edges(edges.clone()));
        assert_eq!(searched, expect, "{bins:?} as explicit edges");
    }
}

#[test]
fn density_histogram_as_numpy_normalises() {
    // np.histogram([0, .5, 1, 1.5, 2, 9], bins=[0, 1, 2, 4], density=True): counts
    // [2, 2, 1] (9 is outside), normalised by the 5 counted: [2/5, 2/5, 1/(5*2)].
    let (edges, d) = density_histogram(
        &[0.0, 0.5, 1.0, 1.5, 2.0, 9.0],
        &Bins::Edges(vec![0.0, 1.0, 2.0, 4.0]),
    );
    assert_eq!(edges, vec![0.0, 1.0, 2.0, 4.0]);
    let expect = [0.4, 0.4, 0.1];
    assert!(d.iter().zip(expect).all(|(a, b)| close(*a, b)), "{d:?}");
    // nothing inside: zeros, not NaN
    let (_, d) = density_histogram(&[9.0], &Bins::Edges(vec![0.0, 1.0, 2.0]));
    assert_eq!(d, vec![0.0, 0.0]);
    // Count bins: every finite value counted, areas sum to 1
    let (edges, d) = density_histogram(&[1.0, 2.0, 2.5, 7.0, f64::NAN], &Bins::Count(3));
    assert_eq!(edges, vec![1.0, 3.0, 5.0, 7.0]);
    let expect = [3.0 / (4.0 * 2.0), 0.0, 1.0 / (4.0 * 2.0)];
    assert!(d.iter().zip(expect).all(|(a, b)| close(*a, b)), "{d:?}");
}

#[test]
fn histogram_degenerate_inputs() {
    let (edges, counts) = histogram_counts(&[], &Bins::FreedmanDiaconis);
    assert_eq!(edges.len(), counts.len() + 1);
    assert_eq!(counts.iter().sum::<f64>(), 0.0);
    let (edges, counts) = histogram_counts(&[2.0, 2.0, 2.0], &Bins::Count(0));
    assert_eq!(edges, vec![1.5, 2.5]);
    assert_eq!(counts, vec![3.0]);
    let (_, counts) = histogram_counts(&[1.0], &Bins::Edges(vec![1.0]));
    assert!(counts.is_empty());
}

#[test]
fn freedman_diaconis_known_sample() {
    // 1..=8: quartiles 2.75 and 6.25 (linear interpolation), IQR 3.5, n^(1/3) = 2.
    let values: Vec<f64> = (1..=8).map(f64::from).collect();
    let w = freedman_diaconis_width(&values).expect("positive width");
    assert!(close(w, 3.5), "width {w}");
    let (edges, counts) = histogram_counts(&values, &Bins::FreedmanDiaconis);
    assert_eq!(edges, vec![1.0, 4.5, 8.0]);
    assert_eq!(counts, vec![4.0, 4.0]);
    // zero IQR falls back to ceil(sqrt(n)) bins
    let flat = [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 9.0];
    assert_eq!(freedman_diaconis_width(&flat), None);
    let (_, counts) = histogram_counts(&flat, &Bins::FreedmanDiaconis);
    assert_eq!(counts.len(), 4);
}

#[test]
fn colormap_endpoints() {
    assert!(near(Colormap::Viridis.color(0.0), (68, 1, 84)));
    assert!(near(Colormap::Viridis.color(1.0), (253, 231, 37)));
    assert!(near(Colormap::Viridis.color(-3.0), (68, 1, 84)), "clamped");
    assert!(near(Colormap::Viridis.color(0.5), (33, 145, 140)));
    assert!(near(Colormap::Magma.color(1.0), (252, 253, 191)));
    assert!(near(Colormap::Plasma.color(0.0), (13, 8, 135)));
    assert_eq!(Colormap::Gray.color(1.0), (255, 255, 255));
    // afmhot_r: afmhot(x) = (2x, 2x - 1/2, 2x - 1) clipped, at x = 1 - t
    assert_eq!(Colormap::AfmHotR.color(0.0), (255, 255, 255));
    assert_eq!(Colormap::AfmHotR.color(0.25), (255, 255, 128));
    assert_eq!(Colormap::AfmHotR.color(0.75), (128, 0, 0));
    assert_eq!(Colormap::AfmHotR.color(1.0), (0, 0, 0));
    let (lo, mid, hi) = (
        Colormap::RdBu.color(0.0),
        Colormap::RdBu.color(0.5),
        Colormap::RdBu.color(1.0),
    );
    assert!(lo.2 > lo.0, "low end is blue: {lo:?}");
    assert!(hi.0 > hi.2, "high end is red: {hi:?}");
    assert_eq!(mid, (247, 247, 247));
    assert_eq!(cycle_color(0), (31, 119, 180));
    assert_eq!(cycle_color(13), (214, 39, 40));
    assert_eq!(rgb_f(1.0, 0.5, 2.0), (255, 128, 255));
}

#[test]
fn ticks_and_ranges() {
    let t = linear_ticks(0.0, 1.0, 5, false);
    let pos: Vec<f64> = t.iter().map(|t| t.pos).collect();
    assert_eq!(pos, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    assert_eq!(t[1].label, "0.2");
    let t = linear_ticks(-0.5, 9.5, 10, true);
    assert!(t.iter().all(|t| t.pos.fract() == 0.0));
    let (major, minor) = log_ticks(1e-3, 10.0, 8);
    assert_eq!(major.len(), 5);
    assert_eq!(major[0].label, "10⁻³");
    assert!(!minor.is_empty());
    let (lo, hi) = auto_range([1.0, 3.0, f64::NAN, f64::INFINITY], false, 0.05, false);
    assert!(close(lo, 0.9) && close(hi, 3.1), "{lo} {hi}");
    let (lo, hi) = auto_range([0.0, -1.0, 10.0, 100.0], true, 0.0, false);
    assert!(
        close(lo, 10.0) && close(hi, 100.0),
        "log skips non-positive: {lo} {hi}"
    );
    assert_eq!(auto_range([], false, 0.05, false), (0.0, 1.0));
    let (lo, _) = auto_range([0.0, 5.0], false, 0.05, true);
    assert_eq!(lo, 0.0, "bars stick to zero");
}

#[test]
fn font_metrics_from_dejavu() {
    static BYTES: &[u8] = include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../assets/fonts/DejaVuSans.ttf"
    ));
    let m = super::glyphs::FontMetrics::parse(BYTES).expect("metrics");
    // ab_glyph pixel size = ascent - descent = 1901 + 483 font units (hhea)
    let size = 2384.0;
    assert!(close(m.px_per_unit(size), 1.0));
    let (glyphs, width) = m.layout("lr", size);
    // hmtx: 'l' advance 569, lsb 193; 'r' advance 842, lsb 186 (no kerning for this pair)
    assert_eq!(glyphs.len(), 2);
    assert!(close(glyphs[0].1, 193.0) && close(glyphs[1].0, 569.0) && close(glyphs[1].1, 186.0));
    assert!(close(width, 569.0 + 842.0), "{width}");
    let (_, w_t) = m.layout("T", size);
    assert!(close(w_t, 1251.0));
    // legacy kern table: the second glyph of a kerned pair moves by the pair's value
    let (_, w_a) = m.layout("A", size);
    let (_, w_v) = m.layout("V", size);
    let (av, w_av) = m.layout("AV", size);
    // DejaVu Sans: 'A' and 'V' advance 1401 each, kern(A, V) = -131
    assert!(close(w_a, 1401.0) && close(w_v, 1401.0), "{w_a} {w_v}");
    assert!(close(av[1].0, 1401.0 - 131.0), "{}", av[1].0);
    assert!(close(w_av, 2.0 * 1401.0 - 131.0), "{w_av}");
    // characters outside the font fall back to glyph 0 instead of failing
    assert!(m.layout("\u{10FFFF}", 10.0).1 >= 0.0);
}

fn full_figure() -> Figure {
    let x: Vec<f64> = (0..40).map(|i| f64::from(i) * 0.25).collect();
    let y: Vec<f64> = x.iter().map(|v| v.sin()).collect();
    let y2: Vec<f64> = x.iter().map(|v| (0.7 * v).cos()).collect();
    let p1 = Panel::new("lines, markers, error bars")
        .xlabel("x")
        .ylabel("value")
        .add(Series::line(
            x.clone(),
            y.clone(),
            Style::line(cycle_color(0)).label("sin"),
        ))
        .add(Series::line(
            x.clone(),
            y2,
            Style::line(cycle_color(1))
                .dashed()
                .marker(Marker::Square)
                .fill((255, 255, 255))
                .edge((0, 0, 0))
                .label("cos"),
        ))
        .add(Series::scatter(
            vec![1.0, 2.0, 3.0],
            vec![0.5, -0.5, 0.0],
            Style::markers(cycle_color(2), Marker::TriangleUp)
                .size(6)
                .label("scatter"),
        ))
        .add(Series::error_bars(
            vec![4.0, 5.0, 6.0],
            vec![0.2, 0.4, 0.1],
            vec![0.1, 0.3, 0.2],
            Style::markers(cycle_color(3), Marker::Diamond).label("errors"),
        ))
        .add(Series::hline(0.0, Style::line((128, 128, 128)).dotted()))
        .add(Series::vline(
            5.0,
            Style::line(cycle_color(4)).width(1).label("x = 5"),
        ))
        .add(Series::text(8.0, 0.8, "note", 10, (0, 0, 0)))
        .legend()
        .grid();
    let p2 = Panel::new("bars and histogram (log y)")
        .xlabel("bin")
        .ylabel("count")
        .add(Series::histogram(
            &x.iter().map(|v| v * v).collect::<Vec<_>>(),
            Bins::Count(8),
            cycle_color(0),
        ))
        .add(
            Series::bars(vec![20.0, 40.0], vec![3.0, 0.0], vec![cycle_color(1)]).with_label("bars"),
        )
        .log_y()
        .legend_at(LegendPos::Best);
    let values: Vec<Vec<f64>> = (0..6)
        .map(|r| (0..8).map(|c| f64::from(r * c) - 10.0).collect())
        .collect();
    let p3 = Panel::new("heatmap")
        .heatmap(Heatmap::new(values, Colormap::RdBu).label("r·c − 10"))
        .x_ticks((0..8).map(|c| (f64::from(c), format!("tok{c}"))).collect());
    let p4 = Panel::new("colour-by scatter + twin labels")
        .xlabel("x")
        .ylabel("y")
        .add(Series::scatter_colored(
            x.clone(),
            y.clone(),
            Style::markers((0, 0, 0), Marker::Hexagon),
            x.clone(),
            Colormap::Viridis,
        ))
        .y2_ticks(vec![(-1.0, "low".into()), (1.0, "high".into())])
        .y2_label("level")
        .grid_dashed_y();
    Figure::grid(12.0, 8.0, 2, 2)
        .panel(p1)
        .panel(p2)
        .panel(p3)
        .panel(p4)
        .suptitle("every series kind")
}

#[test]
fn renders_full_figure_and_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fig = full_figure();
    let png = dir.path().join("sub").join("full.png");
    fig.save_png(&png).expect("render");
    let (w, h, ncolors) = png_stats(&png);
    assert_eq!((w, h), (1200, 800));
    assert!(ncolors > 10, "only {ncolors} colours");

    let csv_path = dir.path().join("full.csv");
    fig.write_csv(&csv_path).expect("csv");
    let text = std::fs::read_to_string(&csv_path).expect("read csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("panel,series,kind,x,y,extra"));
    // p1: 40 + 40 + 3 + 3 + 1 + 1 + 1 text; p2: 8 + 2; p3: 48 cells; p4: 40
    assert_eq!(lines.count(), 89 + 10 + 48 + 40);
    // The text annotation (unlabelled, 7th series): anchor in x, y and the text in extra.
    assert!(text.contains("\"lines, markers, error bars\",series6,text,8,0.8,note\n"));
    assert!(text.contains("\"lines, markers, error bars\",errors,errorbar,5,0.4,0.3"));
    assert!(text.contains("heatmap,r·c − 10,heatmap,7,5,25"));
    assert!(text.contains("bars and histogram (log y),series0,bar,"));
}

#[test]
fn text_annotations_are_csv_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fig = Figure::new(4.0, 3.0).panel(
        Panel::new("labels")
            .add(Series::line(
                vec![0.0, 1.0],
                vec![0.0, 1.0],
                Style::line((0, 0, 0)),
            ))
            .add(Series::text(0.5, 0.25, "E", 12, (255, 0, 0)))
            .add(Series::text(2.0, -1.5, "a, \"b\"", 12, (0, 0, 255))),
    );
    let path = dir.path().join("text.csv");
    fig.write_csv(&path).expect("csv");
    let mut r = csv::Reader::from_path(&path).expect("read csv");
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.expect("row").iter().map(String::from).collect())
        .collect();
    let texts: Vec<&[String]> = rows
        .iter()
        .filter(|r| r[2] == "text")
        .map(|r| &r[1..])
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[0], ["series1", "text", "0.5", "0.25", "E"]);
    // Commas and quotes survive CSV quoting.
    assert_eq!(texts[1], ["series2", "text", "2", "-1.5", "a, \"b\""]);
}

#[test]
fn bar_edges_and_opaque_legend_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let values: Vec<f64> = (0..500).map(|i| f64::from((i * 37) % 97).powi(2)).collect();
    let fig = |edge: bool, opaque: bool| {
        let s = Series::histogram(&values, Bins::Count(12), (173, 216, 230)).with_label("h");
        let s = if edge {
            s.with_edge((128, 128, 128))
        } else {
            s
        };
        let p = Panel::new("log histogram")
            .log_y()
            .add(s)
            .add(Series::scatter(
                vec![100.0, 4000.0],
                vec![3.0, 5.0],
                Style::markers((255, 0, 0), Marker::Circle)
                    .size(6)
                    .alpha(0.2)
                    .label("faint"),
            ))
            .legend();
        let p = if opaque { p.legend_opaque() } else { p };
        Figure::new(4.0, 3.0).panel(p)
    };
    let png = |name: &str, f: Figure| {
        let path = dir.path().join(name);
        f.save_png(&path).expect("render");
        image::open(&path).expect("png").to_rgb8()
    };
    let count = |img: &image::RgbImage, c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
    let (edged, plain) = (
        png("e.png", fig(true, true)),
        png("p.png", fig(false, false)),
    );
    assert!(
        count(&edged, [128, 128, 128]) > count(&plain, [128, 128, 128]) + 50,
        "edges not drawn"
    );
    // Only the opaque legend handle has pure red pixels; alpha-0.2 markers never do.
    assert!(count(&edged, [255, 0, 0]) > 0);
    assert_eq!(count(&plain, [255, 0, 0]), 0);
    // Edges are styling only: the CSV is the same.
    let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    fig(true, true).write_csv(&a).expect("csv");
    fig(false, false).write_csv(&b).expect("csv");
    assert_eq!(
        std::fs::read_to_string(a).expect("a"),
        std::fs::read_to_string(b).expect("b")
    );
    let line = Series::hline(1.0, Style::default()).with_edge((0, 0, 0));
    assert_eq!(line.kind(), "hline");
}

#[test]
fn size_follows_inches_and_dpi() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("wide.png");
    Figure::new(12.0, 4.0)
        .panel(Panel::new("empty"))
        .save_png(&png)
        .expect("render");
    assert_eq!(png_stats(&png).0, 1200);
    assert_eq!(png_stats(&png).1, 400);
    let png = dir.path().join("dpi.png");
    Figure::new(3.0, 2.0)
        .dpi(50.0)
        .panel(Panel::new("small"))
        .save_png(&png)
        .expect("render");
    assert_eq!((png_stats(&png).0, png_stats(&png).1), (150, 100));
}

/// Panels with NaN/inf values, only NaNs, and an all-NaN heatmap.
fn nan_figure() -> Figure {
    Figure::grid(8.0, 3.0, 1, 3)
        .panel(
            Panel::new("NaN and inf")
                .add(Series::line(
                    vec![0.0, 1.0, 2.0, f64::NAN, 4.0, 5.0],
                    vec![1.0, f64::NAN, 3.0, 4.0, f64::INFINITY, 2.0],
                    Style::line(cycle_color(0))
                        .marker(Marker::Circle)
                        .label("gappy"),
                ))
                .add(Series::scatter(
                    vec![f64::NAN],
                    vec![f64::NAN],
                    Style::default(),
                ))
                .add(Series::line(vec![], vec![], Style::default()))
                .add(Series::bars(vec![], vec![], vec![]))
                .add(Series::hline(f64::NAN, Style::default()))
                .log_y()
                .legend(),
        )
        .panel(Panel::new("all NaN").add(Series::line(
            vec![f64::NAN; 3],
            vec![f64::NAN; 3],
            Style::default(),
        )))
        .panel(Panel::default().heatmap(Heatmap::new(vec![vec![f64::NAN; 3]; 2], Colormap::Gray)))
}

#[test]
fn nan_series_and_empty_panels_render() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("nan.png");
    let fig = nan_figure();
    fig.save_png(&png).expect("render with NaNs");
    let (w, h, _) = png_stats(&png);
    assert_eq!((w, h), (800, 300));
    // a grid with unused slots and a tiny figure also work
    Figure::grid(1.0, 0.5, 3, 3)
        .panel(Panel::new("tiny").xlabel("x").ylabel("y"))
        .save_png(&dir.path().join("tiny.png"))
        .expect("tiny figure");
}

#[test]
fn mismatched_lengths_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("bad.png");
    let bad = Figure::new(4.0, 3.0).panel(Panel::new("p").add(Series::line(
        vec![1.0, 2.0],
        vec![1.0],
        Style::line(cycle_color(0)).label("broken"),
    )));
    let err = bad.save_png(&png).expect_err("mismatch");
    let msg = format!("{err:#}");
    assert!(msg.contains("broken") && msg.contains("'p'"), "{msg}");
    assert!(bad.write_csv(&dir.path().join("bad.csv")).is_err());

    let cases = [
        Series::error_bars(vec![1.0], vec![1.0], vec![], Style::default()),
        Series::scatter_colored(
            vec![1.0],
            vec![1.0],
            Style::default(),
            vec![],
            Colormap::Gray,
        ),
        Series::bars(vec![1.0, 2.0], vec![1.0, 2.0], vec![(0, 0, 0); 3]),
        Series::bars_width(vec![1.0], vec![1.0], f64::NAN, vec![]),
    ];
    for s in cases {
        let fig = Figure::new(4.0, 3.0).panel(Panel::new("p").add(s));
        assert!(fig.save_png(&png).is_err());
    }
    let ragged = Figure::new(4.0, 3.0).panel(Panel::new("h").heatmap(Heatmap::new(
        vec![vec![1.0, 2.0], vec![3.0]],
        Colormap::Viridis,
    )));
    assert!(ragged.save_png(&png).is_err());
    let too_many = Figure::new(4.0, 3.0)
        .panel(Panel::new("a"))
        .panel(Panel::new("b"));
    assert!(too_many.save_png(&png).is_err());
    assert!(Figure::new(0.0, 3.0).save_png(&png).is_err());
}

/// Writes example figures for visual inspection:
/// `cargo test -p common plot::tests::write_examples -- --ignored`
/// (into `$PLOT_EXAMPLES_DIR`, default `/tmp/plot_examples`).
#[test]
#[ignore]
fn write_examples() {
    let dir = std::env::var_os("PLOT_EXAMPLES_DIR").map_or_else(
        || std::path::PathBuf::from("/tmp/plot_examples"),
        Into::into,
    );
    full_figure().save_png(&dir.join("full.png")).expect("full");

    // every marker, line kind and alpha
    let markers = [
        Marker::Circle,
        Marker::Square,
        Marker::TriangleUp,
        Marker::TriangleDown,
        Marker::Diamond,
        Marker::Hexagon,
        Marker::Pentagon,
        Marker::Star,
        Marker::Cross,
        Marker::Plus,
        Marker::Dot,
    ];
    let mut p = Panel::new("markers and line kinds")
        .xlabel("x")
        .ylabel("marker");
    for (i, m) in markers.iter().enumerate() {
        let x: Vec<f64> = (0..8).map(f64::from).collect();
        let y = vec![i as f64; 8];
        let mut st = Style::line(cycle_color(i))
            .marker(*m)
            .size(5)
            .label(&format!("{m:?}"));
        st = match i % 3 {
            0 => st,
            1 => st.dashed(),
            _ => st.dotted(),
        };
        if *m == Marker::Square {
            st = st.fill((255, 255, 255)).edge((0, 0, 0));
        }
        p = p.add(Series::line(x, y, st));
    }
    let noisy_x: Vec<f64> = (0..2000).map(|i| f64::from(i) / 250.0).collect();
    let noisy_y: Vec<f64> = noisy_x
        .iter()
        .map(|v| 4.0 + 3.0 * (v * 1.3).sin() + ((v * 997.0).sin() * 0.8))
        .collect();
    let q = Panel::new("dense noisy line, alpha 0.5")
        .add(Series::line(
            noisy_x.clone(),
            noisy_y,
            Style::line(cycle_color(0))
                .width(2)
                .alpha(0.5)
                .label("noisy"),
        ))
        .add(Series::scatter(
            noisy_x.iter().step_by(20).copied().collect(),
            noisy_x
                .iter()
                .step_by(20)
                .map(|v| 4.0 + 3.0 * (v * 1.3).sin())
                .collect(),
            Style::markers(cycle_color(1), Marker::Circle)
                .size(6)
                .alpha(0.4)
                .label("points"),
        ))
        .legend_at(LegendPos::Best)
        .grid();
    Figure::grid(12.0, 5.0, 1, 2)
        .panel(p.legend_at(LegendPos::Best).xlim(-0.5, 12.0))
        .panel(q)
        .save_png(&dir.join("markers.png"))
        .expect("markers");

    // attention-like heatmap with word labels, and a histogram
    let words = [
        "The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", ".",
    ];
    let n = words.len();
    let att: Vec<Vec<f64>> = (0..n)
        .map(|r| {
            (0..n)
                .map(|c| {
                    if c > r {
                        f64::NAN
                    } else {
                        1.0 / (1.0 + (r - c) as f64)
                    }
                })
                .collect()
        })
        .collect();
    let ticks: Vec<(f64, String)> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (i as f64, w.to_string()))
        .collect();
    let heat = Panel::new("attention (layer 0, head 3)")
        .xlabel("key")
        .ylabel("query")
        .heatmap(Heatmap::new(att, Colormap::Viridis).label("weight"))
        .x_ticks(ticks.clone())
        .y_ticks(ticks);
    let samples: Vec<f64> = (0..5000)
        .map(|i| {
            let u = (f64::from(i) + 0.5) / 5000.0;
            // inverse-CDF-ish skewed sample
            -(1.0 - u).ln() * 2.0
        })
        .collect();
    let hist = Panel::new("histogram (Freedman–Diaconis)")
        .xlabel("value")
        .ylabel("count")
        .add(
            Series::histogram(&samples, Bins::FreedmanDiaconis, cycle_color(0))
                .with_label("exp(2)"),
        )
        .add(Series::vline(
            2.0,
            Style::line((0, 0, 0)).dashed().width(1).label("mean"),
        ))
        .legend()
        .grid_dashed_y();
    Figure::grid(12.0, 5.0, 1, 2)
        .panel(heat)
        .panel(hist)
        .suptitle("heatmap and histogram")
        .save_png(&dir.join("heatmap_hist.png"))
        .expect("heatmap");

    // log-log rank/frequency, magma heatmap with extents, large heatmap
    let rank: Vec<f64> = (1..=5000).map(f64::from).collect();
    let freq: Vec<f64> = rank.iter().map(|r| 1e5 / r.powf(1.07)).collect();
    let zipf = Panel::new("Zipf")
        .xlabel("rank")
        .ylabel("frequency")
        .add(Series::line(
            rank,
            freq,
            Style::line(cycle_color(3)).label("tokens"),
        ))
        .log_x()
        .log_y()
        .legend()
        .grid();
    let big: Vec<Vec<f64>> = (0..200)
        .map(|r| {
            (0..300)
                .map(|c| (f64::from(r) / 20.0).sin() * (f64::from(c) / 30.0).cos())
                .collect()
        })
        .collect();
    let big_panel = Panel::new("200×300 heatmap, extent")
        .xlabel("t")
        .ylabel("freq")
        .heatmap(
            Heatmap::new(big, Colormap::Magma)
                .extent((0.0, 3.0), (0.0, 2.0))
                .label("amplitude"),
        );
    let probs = [0.45, 0.25, 0.12, 0.08, 0.05, 0.03, 0.02];
    let bar_panel = Panel::new("next-token probabilities")
        .ylabel("p")
        .add(Series::bars(
            (0..probs.len()).map(|i| i as f64).collect(),
            probs.to_vec(),
            (0..probs.len()).map(cycle_color).collect(),
        ))
        .x_ticks(
            [" the", " a", " an", " this", " that", " my", " your"]
                .iter()
                .enumerate()
                .map(|(i, s)| (i as f64, s.to_string()))
                .collect(),
        )
        .y2_ticks(vec![(0.45, "top-1".into()), (0.05, "5%".into())]);
    Figure::grid(15.0, 4.5, 1, 3)
        .panel(zipf)
        .panel(big_panel)
        .panel(bar_panel)
        .save_png(&dir.join("log_big_bars.png"))
        .expect("log");

    // long token labels (rotated automatically) and a cramped 3x3 grid
    let tokens: Vec<String> = (0..24).map(|i| format!("token_{i}")).collect();
    let vals: Vec<Vec<f64>> = (0..6)
        .map(|r| {
            (0..24)
                .map(|c| f64::from(((r * 7 + c * 3) % 11) as u8))
                .collect()
        })
        .collect();
    let rot = Panel::new("rotated labels")
        .heatmap(Heatmap::new(vals, Colormap::Plasma).range(0.0, 10.0))
        .x_ticks(
            tokens
                .iter()
                .enumerate()
                .map(|(i, t)| (i as f64, t.clone()))
                .collect(),
        )
        .ylabel("row");
    Figure::new(10.0, 4.0)
        .panel(rot)
        .save_png(&dir.join("rotated.png"))
        .expect("rotated");
    let mut grid = Figure::grid(9.0, 7.0, 3, 3).suptitle("3x3 grid, 9x7 in");
    for i in 0..8 {
        let x: Vec<f64> = (0..30).map(f64::from).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|v| (v * 0.2 + f64::from(i)).sin() * 10f64.powi(i - 3))
            .collect();
        grid = grid.panel(
            Panel::new(&format!("panel {i}"))
                .xlabel("step")
                .ylabel("value")
                .add(Series::line(
                    x,
                    y,
                    Style::line(cycle_color(i as usize)).label("y"),
                ))
                .legend(),
        );
    }
    grid.save_png(&dir.join("grid3x3.png")).expect("grid");
    nan_figure().save_png(&dir.join("nan.png")).expect("nan");
}

#[test]
fn spanning_panels_take_their_cells_and_bad_spans_are_errors() {
    let fig = Figure::grid(12.0, 3.0, 1, 3)
        .panel_at(Panel::new("wide"), 0, 0, 1, 2)
        .panel(Panel::new("narrow"));
    assert_eq!(
        fig.slots[1],
        Slot {
            row: 0,
            col: 2,
            rowspan: 1,
            colspan: 1
        }
    );
    let dir = tempfile::tempdir().unwrap();
    fig.save_png(&dir.path().join("span.png")).unwrap();
    let bad = Figure::grid(4.0, 3.0, 1, 2).panel_at(Panel::new("too wide"), 0, 1, 1, 2);
    assert!(bad.save_png(&dir.path().join("bad.png")).is_err());
}

/// What [`turned_ink`] measures: the ink's bounding box `(x0, y0, x1, y1)`, the y of
/// the leftmost and of the rightmost ink column, and the expected (turned) box size.
type Ink = ((u32, u32, u32, u32), (u32, u32), (f64, f64));

/// Draws `text` turned `degrees` with its box's top centre at (200, 120) on a white
/// 400×400 canvas and measures the ink.
fn turned_ink(text: &str, degrees: f64) -> Ink {
    use plotters::prelude::*;
    let (w, h) = (400u32, 400u32);
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let size;
    let want;
    {
        let area = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        let cv = super::canvas::Canvas {
            area: &area,
            dpi: 100.0,
            font: super::canvas::font().expect("font"),
            bold: super::canvas::bold_font().expect("bold font"),
        };
        size = cv.font(20.0);
        want = cv.text_box_at_angle(text, size, degrees);
        cv.text_at_angle(text, (200.0, 120.0), size, (0, 0, 0), degrees)
            .expect("draw");
        area.present().expect("present");
    }
    let dark = |x: u32, y: u32| buf[((y * w + x) * 3) as usize] < 128;
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    let (mut y_left, mut y_right) = (0, 0);
    for x in 0..w {
        for y in 0..h {
            if dark(x, y) {
                if x < x0 {
                    (x0, y_left) = (x, y);
                }
                if x >= x1 {
                    (x1, y_right) = (x, y);
                }
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    ((x0, y0, x1, y1), (y_left, y_right), want)
}

#[test]
fn text_at_an_angle_fills_its_turned_box_under_the_anchor() {
    for deg in [-45.0, 45.0, 30.0] {
        let ((x0, y0, x1, y1), (y_left, y_right), (bw, bh)) = turned_ink("Hello world", deg);
        assert!(x1 > x0 && y1 > y0, "{deg}°: no ink");
        let (iw, ih) = (f64::from(x1 - x0 + 1), f64::from(y1 - y0 + 1));
        // The ink fills most of the turned box (glyphs do not reach every corner) and
        // never spills out of it.
        assert!(
            iw <= bw + 2.0 && ih <= bh + 2.0,
            "{deg}°: ink {iw}x{ih} > box {bw}x{bh}"
        );
        assert!(
            iw >= 0.8 * bw && ih >= 0.8 * bh,
            "{deg}°: ink {iw}x{ih} << box {bw}x{bh}"
        );
        // Box top centre at the anchor.
        let cx = f64::from(x0 + x1) / 2.0;
        assert!(
            (cx - 200.0).abs() <= 0.1 * bw + 2.0,
            "{deg}°: centre x {cx}"
        );
        assert!(
            f64::from(y0) >= 119.0 && f64::from(y0) <= 120.0 + 0.1 * bh,
            "{deg}°: top {y0}"
        );
        // Direction: -45° reads down to the right, +45° and +30° up to the right.
        if deg < 0.0 {
            assert!(y_right > y_left, "{deg}°: does not descend");
        } else {
            assert!(y_right < y_left, "{deg}°: does not rise");
        }
    }
    // A steeper angle makes a taller box.
    let (_, _, (_, h30)) = turned_ink("Hello world", 30.0);
    let (_, _, (_, h60)) = turned_ink("Hello world", 60.0);
    assert!(h60 > h30);
    // Two lines make a box taller than one, and the ink fills it.
    let ((_, y0, _, y1), _, (_, bh)) = turned_ink("train/\norchestra", 0.0);
    let (_, _, (_, one)) = turned_ink("orchestra", 0.0);
    assert!(bh > 1.8 * one, "two-line box {bh} vs one line {one}");
    assert!(f64::from(y1 - y0 + 1) >= 0.8 * bh);
}

#[test]
fn bold_titles_and_text_use_the_bold_face() {
    let dir = tempfile::tempdir().expect("tmp");
    let ink = |bold: bool| {
        let mut p = Panel::new("A fairly long panel title").add(Series::text(
            0.5,
            0.5,
            "some words",
            14,
            (0, 0, 0),
        ));
        if bold {
            p = p.bold_title();
            p.series[0] = p.series[0].clone().bold();
        }
        let path = dir.path().join(format!("b{bold}.png"));
        Figure::new(4.0, 3.0)
            .panel(p)
            .save_png(&path)
            .expect("render");
        let img = image::open(&path).expect("png").to_rgb8();
        img.pixels().filter(|p| p.0[0] < 100).count()
    };
    let (regular, bold) = (ink(false), ink(true));
    assert!(
        bold as f64 > 1.15 * regular as f64,
        "bold {bold} vs regular {regular} dark pixels"
    );
    // Only Text series turn bold.
    let line = Series::line(vec![0.0], vec![0.0], Style::default()).bold();
    assert_eq!(line.kind(), "line");
}

/// FD curves: the density integrates to 1, the counts add up to n.
#[test]
fn fd_curve_counts_and_density() {
    let v: Vec<f64> = (0..500).map(|i| ((i * 7919) % 500) as f64 / 50.0).collect();
    let (x, c) = fd_curve(&v, false);
    assert_eq!(x.len(), c.len());
    assert_eq!(c.iter().sum::<f64>(), 500.0);
    let (x, d) = fd_curve(&v, true);
    let w = x[1] - x[0];
    assert!((d.iter().sum::<f64>() * w - 1.0).abs() < 1e-9);
}
