//! Runs the project in --quick mode (real all-MiniLM-L6-v2 embeddings for BERT's
//! vocabulary, the tiny random GPT-2 for GPT-2; offline) and checks the spec's offline
//! checks on what it wrote.

use common::testing::{figure_series, read_csv, run_project};

#[test]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project08_all_to_all_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let figs = [
        "ch3_embeddingsA",
        "ch3_embeddingsB",
        "ch3_cossimA",
        "ch3_cossimB",
        "ch3_proj8_part1",
        "ch3_proj8_part2",
        "ch3_proj8_part3",
        "ch3_proj8_part4",
        "ch3_proj8_part5",
    ];
    for f in figs {
        run.check_figure(f).unwrap();
    }
    let s = run.summary();
    assert!(s.contains("mean nothing"));
    // Background: the exact BERT ids of hello and world.
    assert!(s.contains("token ids: hello 7592, world 2088"), "{s}");
    // Part 1: manual == library to 5 decimals, ids in 3000..=6000.
    let val = |prefix: &str| -> String {
        s.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        val("manual cosine similarity:"),
        val("library cosine similarity:")
    );
    for l in s.lines().filter(|l| l.starts_with("id ")) {
        let id: u32 = l[3..].split(':').next().unwrap().parse().unwrap();
        assert!((3000..=6000).contains(&id), "{l}");
    }
    // Part 2: shapes and counts.
    assert!(
        s.contains("cosine matrix shape [30522, 30522]: 931,592,484 elements"),
        "{s}"
    );
    assert!(s.contains("[10174, 10174], 103,510,276 elements; non-redundant: 51,750,051"));
    assert!(
        s.contains("subsample: 51,750,051 non-redundant values"),
        "{s}"
    );
    // Part 2 histogram is a density: area 1.
    let f2 = figure_series(&run.file("ch3_proj8_part2.csv")).unwrap();
    let bars = f2
        .iter()
        .find(|((p, _), _)| p.starts_with("(B)"))
        .unwrap()
        .1;
    let w = bars[1].0 - bars[0].0;
    assert_eq!(bars.len(), 100);
    assert!((bars.iter().map(|b| b.1).sum::<f64>() * w - 1.0).abs() < 1e-6);
    // Part 3: 994 unused tokens, 493,521 non-redundant values among them.
    assert!(s.contains("994/30522 (3.26%) \"unused\" tokens"), "{s}");
    assert!(s.contains("There are 493,521 non-redundant values"), "{s}");
    assert!(s.contains("  1: [unused0]") && s.contains("  0: [PAD]"));
    let (header, rows) = read_csv(&run.file("part3_unused_values.csv")).unwrap();
    assert_eq!(header, ["cosine_f16", "count"]);
    let total: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(total, 493_521);
    let f3 = figure_series(&run.file("ch3_proj8_part3.csv")).unwrap();
    let pts = f3.values().next().unwrap();
    assert_eq!(pts.len(), 30522);
    assert_eq!(pts.iter().filter(|p| p.1 > 0.5).count(), 994);
    assert!(pts[..99].iter().all(|p| p.1 > 0.5) || pts[1..100].iter().all(|p| p.1 > 0.5));
    // Parts 4-5: 10052 rows, 50,516,326 values each, 1,011 sampled pairs.
    assert!(s.contains("[10052, 16] in float16"), "{s}");
    assert!(s.contains("cosine: 50,516,326 non-redundant values"));
    assert!(s.contains("correlation: 50,516,326 non-redundant values"));
    assert!(s.contains("1011 pairs sampled"));
    assert!(s.contains("10 blocks of up to 1024 rows"));
    let f5 = figure_series(&run.file("ch3_proj8_part5.csv")).unwrap();
    let pairs = f5.iter().find(|((_, n), _)| n == "pairs").unwrap().1;
    assert_eq!(pairs.len(), 1011);
    assert!(pairs.iter().all(|p| p.0.abs() <= 1.0 && p.1.abs() <= 1.0));
    let means = f5
        .iter()
        .find(|((_, n), _)| n == "Arithmetic mean")
        .unwrap()
        .1;
    assert_eq!(means.len(), 80);
    assert_eq!(means.iter().map(|p| p.1).sum::<f64>(), 10052.0);
}
