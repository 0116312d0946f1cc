//! Runs the project in --quick mode (real MiniLM embeddings for BERT, the tiny random
//! GPT-2 for GPT-2, offline) and checks the spec's offline checks on what it wrote.

use common::testing::{read_csv, run_project};

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
        "ch3_proj12_part2",
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

    // Checks 1 and 3: symmetric matrices with unit diagonal, 153 pairs, RSA printed.
    let (header, rows) = read_csv(&run.file("ch3_proj12_part3_matrices.csv")).unwrap();
    assert_eq!(header, ["word_i", "word_j", "bert_cos", "gpt2_cos"]);
    assert_eq!(rows.len(), 18 * 18);
    let v = |i: usize, j: usize, c: usize| -> f64 { rows[i * 18 + j][c].parse().unwrap() };
    for c in [2, 3] {
        for i in 0..18 {
            assert!((v(i, i, c) - 1.0).abs() < 1e-5);
            for j in 0..18 {
                assert!((v(i, j, c) - v(j, i, c)).abs() < 1e-6);
            }
        }
    }
    let s = run.summary();
    assert!(s.contains("18x18, 153 non-redundant elements"), "{s}");
    let rsa_line = s.lines().find(|l| l.starts_with("RSA r = ")).unwrap();
    let r: f64 = rsa_line["RSA r = ".len()..].parse().unwrap();
    assert!((-1.0..=1.0).contains(&r));
    assert!(s.contains("Part 4 RSA (gpt2_vs_bert-large)"), "{s}");
    assert!(s.contains("not applicable"), "{s}");
}
