//! Runs the project in --quick mode (real all-MiniLM-L6-v2 embeddings, BERT's vocabulary,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{assert_close, figure_series, read_csv, reference, run_project};

/// The spec's BERT ids of the Kafka sentence.
const TEXT_IDS: [u32; 21] = [
    2004, 16973, 3520, 3736, 19179, 2028, 2851, 2013, 15491, 5544, 2002, 2179, 2370, 8590, 1999,
    2010, 2793, 2046, 1037, 20193, 11829,
];
/// The spec's BERT ids of "0".."9", "10", "20", …, "100".
const NUMBER_IDS: [u32; 20] = [
    1014, 1015, 1016, 1017, 1018, 1019, 1020, 1021, 1022, 1023, 2184, 2322, 2382, 2871, 2753, 3438,
    3963, 3770, 3938, 2531,
];

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project11_cosine_similarity_graphs"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part1", "part2", "part3"] {
        run.check_figure(&format!("ch3_proj11_{f}")).unwrap();
    }
    let s = run.summary();
    assert!(
        s.contains("There are 21 tokens in the text, 21 of which are unique"),
        "{s}"
    );
    assert!(s.contains("210 unique similarity values"), "{s}");

    // Check 1: exact ids.
    let (header, rows) = read_csv(&run.file("part1_tokens.csv")).unwrap();
    assert_eq!(header, ["position", "token_id", "token"]);
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(ids, TEXT_IDS);
    assert_eq!(rows[3][2], "##sa");
    let (_, rows) = read_csv(&run.file("part3_ids.csv")).unwrap();
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert_eq!(ids, NUMBER_IDS);

    // The similarity matrix, recomputed here from the raw embedding rows (read straight
    // from model.safetensors, plain f64), against the heatmap's CSV.
    let e = reference::token_embeddings(&common::embeddings::minilm_dir().unwrap()).unwrap();
    let c = reference::cosine_matrix(&e.rows(&TEXT_IDS).unwrap());
    let (_, cells) = read_csv(&run.file("ch3_proj11_part1.csv")).unwrap();
    let mut got = vec![vec![f64::NAN; 21]; 21];
    let heat: Vec<&Vec<String>> = cells.iter().filter(|r| r[2] == "heatmap").collect();
    assert_eq!(heat.len(), 21 * 21);
    for r in heat {
        let (x, y): (usize, usize) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        got[y][x] = r[5].parse().unwrap();
    }
    assert_close(&got.concat(), &c.concat(), 1e-6, "cosine matrix").unwrap();

    // Check 3: threshold = median + population SD of the 210 upper-triangle values.
    let u = reference::upper_triangle(&c);
    assert_eq!(u.len(), 210);
    let th = reference::median(&u) + reference::population_sd(&u);
    let f1 = figure_series(&run.file("ch3_proj11_part1.csv")).unwrap();
    let drawn_th = f1
        .iter()
        .find(|((_, s), _)| s == "Threshold (median + std)")
        .unwrap()
        .1[0]
        .0;
    assert!((drawn_th - th).abs() < 1e-6, "threshold {drawn_th} vs {th}");

    // Check 4: the edges are exactly the pairs i < j above the threshold, coloured at
    // (C − θ) / (maxcs − θ) with maxcs the largest entry below 0.99.
    let want_edges: Vec<(usize, usize)> = (0..21)
        .flat_map(|i| (i + 1..21).map(move |j| (i, j)))
        .filter(|&(i, j)| c[i][j] > th)
        .collect();
    assert!(!want_edges.is_empty());
    let maxcs = c
        .concat()
        .into_iter()
        .filter(|&v| v < 0.99)
        .fold(f64::NEG_INFINITY, f64::max);
    let (_, edges) = read_csv(&run.file("part2_edges.csv")).unwrap();
    let got_edges: Vec<(usize, usize)> = edges
        .iter()
        .map(|e| (e[0].parse().unwrap(), e[1].parse().unwrap()))
        .collect();
    assert_eq!(got_edges, want_edges);
    for (e, &(i, j)) in edges.iter().zip(&want_edges) {
        let (w, t): (f64, f64) = (e[4].parse().unwrap(), e[5].parse().unwrap());
        assert!((w - c[i][j]).abs() < 1e-5, "{e:?}");
        assert!((t - (c[i][j] - th) / (maxcs - th)).abs() < 1e-5, "{e:?}");
    }
    let f2 = figure_series(&run.file("ch3_proj11_part2.csv")).unwrap();
    let mut drawn: Vec<String> = f2
        .keys()
        .filter(|(_, s)| s.starts_with("edge "))
        .map(|(_, s)| s.clone())
        .collect();
    drawn.sort();
    let mut want_names: Vec<String> = want_edges
        .iter()
        .map(|(i, j)| format!("edge {i}-{j}"))
        .collect();
    want_names.sort();
    assert_eq!(drawn, want_names);
    assert_eq!(
        f2.keys().filter(|(_, s)| s.starts_with("node ")).count(),
        21
    );

    // Nodes: evenly spaced from angle 0; size 5·sqrt(row entries above θ, diagonal
    // included); labels right of the centre left-aligned, below it top-aligned.
    let (_, nodes) = read_csv(&run.file("part2_nodes.csv")).unwrap();
    assert_eq!(nodes.len(), 21);
    for (i, n) in nodes.iter().enumerate() {
        let a = i as f64 * std::f64::consts::TAU / 21.0;
        let (x, y): (f64, f64) = (n[2].parse().unwrap(), n[3].parse().unwrap());
        assert!(
            (x - a.cos()).abs() < 1e-6 && (y - a.sin()).abs() < 1e-6,
            "{n:?}"
        );
        let k = c[i].iter().filter(|&&v| v > th).count();
        assert_eq!(n[4], k.to_string(), "{n:?}");
        let size: f64 = n[5].parse().unwrap();
        assert!((size - 5.0 * (k as f64).sqrt()).abs() < 1e-4, "{n:?}");
        assert_eq!(n[6], if a.cos() <= 0.0 { "right" } else { "left" }, "{n:?}");
        assert_eq!(n[7], if a.sin() <= 0.0 { "top" } else { "bottom" }, "{n:?}");
    }

    // Part 3: every pair of the 20 numbers is drawn; the colour range is
    // [min C20, largest entry below 0.99].
    let f3 = figure_series(&run.file("ch3_proj11_part3.csv")).unwrap();
    assert_eq!(
        f3.keys().filter(|(_, s)| s.starts_with("edge ")).count(),
        190
    );
    let c20 = reference::cosine_matrix(&e.rows(&NUMBER_IDS).unwrap()).concat();
    let lo = c20.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = c20
        .iter()
        .copied()
        .filter(|&v| v < 0.99)
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(
        s.contains(&format!(
            "similarities from {lo:.4} to {hi:.4} (largest below 0.99)"
        )),
        "{lo} {hi}\n{s}"
    );
}
