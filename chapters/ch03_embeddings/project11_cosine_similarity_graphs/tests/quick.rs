//! Runs the project in --quick mode (real all-MiniLM-L6-v2 embeddings, BERT's vocabulary,
//! offline) and checks the spec's offline checks on what it wrote.

use common::testing::{figure_series, read_csv, run_project};

#[test]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
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
    assert_eq!(
        ids,
        [
            2004, 16973, 3520, 3736, 19179, 2028, 2851, 2013, 15491, 5544, 2002, 2179, 2370, 8590,
            1999, 2010, 2793, 2046, 1037, 20193, 11829
        ]
    );
    assert_eq!(rows[3][2], "##sa");
    let (_, rows) = read_csv(&run.file("part3_ids.csv")).unwrap();
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let mut want: Vec<u32> = (1014..1024).collect();
    want.extend([2184, 2322, 2382, 2871, 2753, 3438, 3963, 3770, 3938, 2531]);
    assert_eq!(ids, want);

    // Check 2: the matrix (from the heatmap's CSV) is symmetric with unit diagonal.
    let (_, cells) = read_csv(&run.file("ch3_proj11_part1.csv")).unwrap();
    let mut c = vec![vec![f64::NAN; 21]; 21];
    for r in cells.iter().filter(|r| r[2] == "heatmap") {
        let (x, y): (usize, usize) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        c[y][x] = r[5].parse().unwrap();
    }
    for i in 0..21 {
        assert!((c[i][i] - 1.0).abs() < 1e-6);
        for j in 0..21 {
            assert!((c[i][j] - c[j][i]).abs() < 1e-6 && c[i][j].abs() <= 1.0 + 1e-6);
        }
    }
    // The threshold line and check 4: one drawn edge per upper-triangle value above it.
    let f1 = figure_series(&run.file("ch3_proj11_part1.csv")).unwrap();
    let th = f1
        .iter()
        .find(|((_, s), _)| s == "Threshold (median + std)")
        .unwrap()
        .1[0]
        .0;
    let above = (0..21)
        .flat_map(|i| (i + 1..21).map(move |j| (i, j)))
        .filter(|&(i, j)| c[i][j] > th)
        .count();
    let f2 = figure_series(&run.file("ch3_proj11_part2.csv")).unwrap();
    let drawn = f2.keys().filter(|(_, s)| s.starts_with("edge ")).count();
    assert_eq!(drawn, above);
    assert_eq!(
        f2.keys().filter(|(_, s)| s.starts_with("node ")).count(),
        21
    );
    let (_, edges) = read_csv(&run.file("part2_edges.csv")).unwrap();
    assert_eq!(edges.len(), above);
    for e in &edges {
        let t: f64 = e[5].parse().unwrap();
        assert!((0.0..=1.0).contains(&t), "{e:?}");
    }
    // Node sizes: 5·sqrt(count), count includes the diagonal; alignment follows cos/sin.
    let (_, nodes) = read_csv(&run.file("part2_nodes.csv")).unwrap();
    for n in &nodes {
        let k: f64 = n[4].parse().unwrap();
        let size: f64 = n[5].parse().unwrap();
        assert!(k >= 1.0 && (size - 5.0 * k.sqrt()).abs() < 1e-3);
        let (x, y): (f64, f64) = (n[2].parse().unwrap(), n[3].parse().unwrap());
        assert_eq!(n[6] == "right", x <= 0.0);
        assert_eq!(n[7] == "top", y <= 0.0);
    }
    // Part 3: every pair drawn.
    let f3 = figure_series(&run.file("ch3_proj11_part3.csv")).unwrap();
    assert_eq!(
        f3.keys().filter(|(_, s)| s.starts_with("edge ")).count(),
        190
    );
}
