//! Runs the project in --quick mode (tiny GPT-2 standing in for RoBERTa-large, offline)
//! and checks the spec's offline checks on what it wrote.

use common::testing::reference::{self, RawMatrix};
use common::testing::{assert_close, csv_column_f64, read_csv, run_project};

// GPT-2 ids (Hugging Face `tokenizers` on GPT-2's tokenizer.json): " king", " man",
// " woman", " queen".
const KING: u32 = 5822;
const MAN: u32 = 582;
const WOMAN: u32 = 2415;
const QUEEN: u32 = 16599;

/// count, mean, sample SD, min, 25 %, 50 %, 75 %, max (pandas' describe()).
fn describe(v: &[f64]) -> Vec<f64> {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    // numpy's default percentile: linear between the order statistics at q·(n − 1)
    let q = |q: f64| {
        let pos = q * (n - 1.0);
        let (i, f) = (pos.floor() as usize, pos.fract());
        s[i] + f * (s[(i + 1).min(s.len() - 1)] - s[i])
    };
    vec![n, m, sd, s[0], q(0.25), q(0.5), q(0.75), s[s.len() - 1]]
}

/// A top-10 table (rank, token_id, cosine, r2_percent, token) against the analogy vector
/// start − sub + add, recomputed over every row of `e`. Compared by value at each rank
/// (f32 in the program, f64 here: a near tie may swap two ids, never their values).
fn check_top10(e: &RawMatrix, [start, sub, add]: [u32; 3], rows: &[Vec<String>], what: &str) {
    let r = |i: u32| e.row(i as usize);
    let a: Vec<f64> = (0..e.cols)
        .map(|k| r(start)[k] - r(sub)[k] + r(add)[k])
        .collect();
    let cos: Vec<f64> = (0..e.rows)
        .map(|t| reference::cosine(&e.row(t), &a))
        .collect();
    let best = reference::extreme_indices(&cos, 10, true);
    assert_eq!(rows.len(), 10, "{what}");
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (k + 1).to_string(), "{what} rank");
        let id: usize = row[1].parse().unwrap();
        let (c, r2): (f64, f64) = (row[2].parse().unwrap(), row[3].parse().unwrap());
        assert!(
            (c - cos[best[k]]).abs() < 1e-5,
            "{what} rank {}: {c} vs {}",
            k + 1,
            cos[best[k]]
        );
        assert!(
            (c - cos[id]).abs() < 1e-5,
            "{what}: id {id} has cosine {}, table {c}",
            cos[id]
        );
        let p = reference::pearson(&a, &e.row(id));
        assert!(
            (r2 - 100.0 * p * p).abs() < 1e-3,
            "{what}: R² of {id}: {r2}"
        );
    }
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project15_analogy_vectors"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in ["part3", "part4", "part5"] {
        run.check_figure(&format!("ch3_proj15_{f}")).unwrap();
    }
    let s = run.summary();

    // Check 6 (GPT-2's BPE = RoBERTa's merges): single tokens, "spaceship" three pieces.
    assert!(
        s.contains("pieces without special tokens: \"spaceship\" 3, \" spaceship\" 1"),
        "{s}"
    );
    for w in ["list", "computer", "apple"] {
        assert!(s.contains(&format!(
            "pieces without special tokens: \"{w}\" 1, \" {w}\" 1"
        )));
    }
    for (w, id) in [
        (" king", 5822),
        (" man", 582),
        (" woman", 2415),
        (" queen", 16599),
    ] {
        assert!(s.contains(&format!("{w:?}: {id}")), "{w}");
    }
    // Check 4: the token string " king" is not in the vocabulary ("Ġking" is); GPT-2's BPE
    // has no <unk> to fall back on (RoBERTa's, id 3, is a unit test on tiny-roberta). Text
    // encoding gives the one real id.
    assert!(
        s.contains(
            "token-string lookup of \" king\": none (\" king\" is not in the vocabulary: \
             this tokenizer has no <unk> token)   text encoding of \" king\": [5822]"
        ),
        "{s}"
    );

    // The four vectors, read here straight from model.safetensors.
    let e = reference::token_embeddings(&reference::tiny_gpt2_dir()).unwrap();
    let e4 = e.rows(&[KING, MAN, WOMAN, QUEEN]).unwrap();

    // Part 2: describe() (pandas: sample SD, numpy's linear quartiles) of each vector.
    let (header, rows) = read_csv(&run.file("part2_describe.csv")).unwrap();
    assert_eq!(header, ["stat", "king", "man", "woman", "queen"]);
    let stats: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        stats,
        ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
    );
    for (w, v) in e4.iter().enumerate() {
        let got = csv_column_f64(&rows, w + 1).unwrap();
        assert_close(&got, &describe(v), 1e-9, &format!("describe column {w}")).unwrap();
    }

    // Check 2: the 4×4 cosine matrix of the same vectors.
    let (header, rows) = read_csv(&run.file("part4_cosine.csv")).unwrap();
    assert_eq!(header, ["word_i", "word_j", "cosine"]);
    let want: Vec<f64> = reference::cosine_matrix(&e4).concat();
    assert_close(
        &csv_column_f64(&rows, 2).unwrap(),
        &want,
        1e-9,
        "4×4 cosines",
    )
    .unwrap();

    // Part 5 and Part 6's successful calls: the top 10 of cos(E[t], start − sub + add)
    // over the whole vocabulary, recomputed here, with R² = 100·r(a, E[t])².
    let (header, p5) = read_csv(&run.file("part5_top10.csv")).unwrap();
    assert_eq!(
        header,
        ["rank", "token_id", "cosine", "r2_percent", "token"]
    );
    check_top10(&e, [KING, MAN, WOMAN], &p5, "part5");
    for (n, ids) in [
        (1, [KING, MAN, WOMAN]),
        (2, [1021, 29144, 17292]),  // " hand" − " glove" + " shoe"
        (5, [33201, 21048, 25547]), // "leaf" − "tree" + "flower"
        (7, [35461, 4993, 5898]),   // "finger" − "hand" + "foot"
        (8, [17292, 2366, 1021]),   // " shoe" − " foot" + " hand"
    ] {
        let (_, rows) = read_csv(&run.file(&format!("part6_analogy{n}.csv"))).unwrap();
        check_top10(&e, ids, &rows, &format!("part6_analogy{n}"));
    }

    // Check 4: the multi-token calls fail with the too-many-tokens error.
    assert_eq!(s.matches("Error: too many tokens").count(), 5, "{s}");
    for bad in [3, 4, 6, 9, 10] {
        assert!(!run.file(&format!("part6_analogy{bad}.csv")).exists());
    }
}
