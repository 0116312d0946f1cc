//! Runs the project in --quick mode (real MiniLM embeddings for BERT, the tiny random
//! GPT-2 for GPT-2, offline) and checks the spec's offline checks on what it wrote.

use common::testing::{
    assert_close, csv_column_f64, figure_series, read_csv, reference, run_project,
};

const BERT_IDS: [u32; 18] = [
    2686, 25516, 4774, 4231, 2732, 9088, 3242, 2795, 6411, 14708, 2723, 4624, 6207, 15212, 28253,
    4589, 18237, 14722,
];
const GPT2_IDS: [u32; 18] = [
    2272, 40663, 5440, 8824, 3491, 16161, 5118, 3084, 18507, 38753, 4314, 6915, 17180, 25996,
    25286, 10912, 47565, 30777,
];

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project12_rsa_gpt2_vs_bert_embeddings"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let figs = [
        "ch3_proj12_part3",
        "ch3_proj12_part4_bert-base_vs_gpt2-medium",
        "ch3_proj12_part4_gpt2_vs_bert-large",
    ];
    for f in figs {
        run.check_figure(f).unwrap();
    }

    // Check 4: the token table with the real vocabularies.
    let (header, rows) = read_csv(&run.file("part2_token_counts.csv")).unwrap();
    assert_eq!(
        header,
        ["word", "bert_n", "gpt2_n", "bert_s", "gpt2_s", "bert_id", "gpt2_id"]
    );
    assert_eq!(rows.len(), 18);
    let g_n_one = [
        "space", "planet", "moon", "star", "chair", "table", "floor", "apple", "orange",
    ];
    for (i, r) in rows.iter().enumerate() {
        let word = r[0].as_str();
        assert_eq!(r[1], "1", "B-n {word}");
        assert_eq!(r[3], "1", "B-s {word}");
        assert_eq!(r[4], "1", "G-s {word}");
        let want_gn = match word {
            w if g_n_one.contains(&w) => "1",
            "spaceship" => "3",
            _ => "2",
        };
        assert_eq!(r[2], want_gn, "G-n {word}");
        assert_eq!(r[5], BERT_IDS[i].to_string(), "BERT id {word}");
        assert_eq!(r[6], GPT2_IDS[i].to_string(), "GPT-2 id {word}");
    }

    // Checks 1 and 3, recomputed here from the raw embedding rows (read straight from
    // model.safetensors, plain f64): the two 18×18 cosine matrices, their 153
    // upper-triangle values (row-major, i < j) and RSA = Pearson r of those.
    let bert_dir = common::embeddings::minilm_dir().unwrap();
    let gpt2_dir = reference::tiny_gpt2_dir();
    let eb = reference::token_embeddings(&bert_dir)
        .unwrap()
        .rows(&BERT_IDS)
        .unwrap();
    let eg = reference::token_embeddings(&gpt2_dir)
        .unwrap()
        .rows(&GPT2_IDS)
        .unwrap();
    let (cb, cg) = (reference::cosine_matrix(&eb), reference::cosine_matrix(&eg));
    let (ub, ug) = (
        reference::upper_triangle(&cb),
        reference::upper_triangle(&cg),
    );
    assert_eq!((ub.len(), ug.len()), (153, 153));
    let want_r = reference::pearson(&ub, &ug);

    let (header, rows) = read_csv(&run.file("ch3_proj12_part3_matrices.csv")).unwrap();
    assert_eq!(header, ["word_i", "word_j", "bert_cos", "gpt2_cos"]);
    assert_eq!(rows.len(), 18 * 18);
    let flat = |m: &[Vec<f64>]| -> Vec<f64> { m.iter().flatten().copied().collect() };
    assert_close(
        &csv_column_f64(&rows, 2).unwrap(),
        &flat(&cb),
        1e-5,
        "BERT cosines",
    )
    .unwrap();
    assert_close(
        &csv_column_f64(&rows, 3).unwrap(),
        &flat(&cg),
        1e-5,
        "GPT-2 cosines",
    )
    .unwrap();
    let s = run.summary();
    assert!(s.contains("18x18, 153 non-redundant elements"), "{s}");
    // The RSA of Part 3 and of Part 4's two pairs (the same two models under --quick).
    let printed: Vec<f64> = s
        .lines()
        .filter_map(|l| l.strip_prefix("RSA r = "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(printed.len(), 3, "{s}");
    for r in printed {
        assert!(
            (r - want_r).abs() <= 5e-5 + 1e-9,
            "RSA r = {r}, recomputed {want_r}"
        );
    }
    for slug in ["bert-base_vs_gpt2-medium", "gpt2_vs_bert-large"] {
        let r = run
            .summary_value(&format!("Part 4 RSA ({slug}) = "))
            .unwrap();
        assert!((r - want_r).abs() <= 5e-5 + 1e-9, "{slug}: {r} vs {want_r}");
    }

    // Part 2 and Part 4's per-word correlation: defined only for equal widths. The
    // widths come from the raw matrices (384 vs 16 under --quick).
    let (db, dg) = (eb[0].len(), eg[0].len());
    if db == dg {
        let series = figure_series(&run.file("ch3_proj12_part2.csv")).unwrap();
        let got: Vec<f64> = series
            .iter()
            .find(|((p, _), _)| p.starts_with("B)"))
            .expect("panel B")
            .1
            .iter()
            .map(|p| p.1)
            .collect();
        let want: Vec<f64> = eb
            .iter()
            .zip(&eg)
            .map(|(b, g)| reference::pearson(b, g))
            .collect();
        assert_close(&got, &want, 1e-6, "per-word r").unwrap();
    } else {
        let line = format!("Part 2 per-word correlation: not applicable ({db} vs {dg} dimensions)");
        assert!(s.contains(&line), "{s}");
        assert!(!run.file("ch3_proj12_part2.png").exists());
        let na = format!("per-word correlation: not applicable: the embeddings have different widths ({db} vs {dg})");
        assert_eq!(s.matches(&na).count(), 2, "{s}");
    }
}
