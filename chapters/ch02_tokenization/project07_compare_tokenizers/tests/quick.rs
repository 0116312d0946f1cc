//! Runs the project as a learner would (offline: bundled GPT-2/GPT-4, BERT's vocabulary
//! from .minilm, the texts in assets/data/ch02/books) and checks the spec's offline
//! checks on what it wrote. GPT-2 and BERT counts of the books are compared with Python's
//! (Hugging Face `tokenizers`, recorded by `scripts/derive_golden_counts.py` in
//! assets/fixtures/ch02_golden_counts.json); GPT-4's (cl100k) with the spec's properties.

use common::testing::{ch02_golden_counts, read_csv, run_project};

#[test]
fn quick_run_compares_three_tokenizers() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project07_compare_tokenizers"),
        &["--quick"],
    )
    .unwrap();
    let s = run.summary();
    for line in [
        // Part 1 / 5.1
        "GPT-4 tokenizer has 100,277 tokens.",
        "GPT-2 tokenizer has 50,257 tokens.",
        "BERT tokenizer has 30,522 tokens.",
        // 1. cl100k gaps and bincount
        "GPT-4: 16 ids cannot be decoded: [100256, 100261, 100262, 100263, 100264, 100265, 100266, 100267, 100268, 100269, 100270, 100271, 100272, 100273, 100274, 100275]; 100261 lengths remain",
        "GPT-4 byte lengths: 100261 tokens, peak at 4 (15190), max 128 (id 58040",
        "mean 6.43, 1030 tokens of >= 16 bytes",
        // 2. GPT-2
        "GPT-2 byte lengths: 50257 tokens, peak at 5 (7301), max 128 (id 35496",
        "mean 6.40, 130 tokens of >= 16 bytes",
        // 3. the test sentence
        "GPT-2 ids: [28203, 45764, 389, 4030, 370, 3163, 44, 275, 56, 262, 1545, 26061, 286, 3336, 36388, 13]",
        "GPT-4 ids: [60674, 86082, 527, 8774, 468, 7098, 44, 293, 56, 279, 4333, 49958, 315, 3247, 67825, 13]",
        "GPT-2 reconstruction: Canadian winters are kept WArM bY the friendliness of THE PEOPLE.",
        "GPT-4 reconstruction: Canadian winters are kept WArM bY the friendliness of THE PEOPLE.",
        "GPT-2_to_GPT-4(GPT-2 ids) == GPT-4 ids: true; GPT-4_to_GPT-2(GPT-4 ids) == GPT-2 ids: true",
        // 4. BERT
        "\"Peanut and strawberry\" -> [101, 21443, 1998, 16876, 102]",
        "one id at a time: [\"[CLS]\", \"peanut\", \"and\", \"strawberry\", \"[SEP]\"]",
        "slicing off the first and last id: \"peanut and strawberry\"",
        "encoding with add_special_tokens=False: \"peanut and strawberry\"",
        "5828 BERT entries are ## continuation pieces",
        "BERT byte lengths: 30522 tokens, peak at 5 (5141), max 18 (id 12108, \"telecommunications\"), mean 6.58",
        "BERT ids: [3010, 12214, 2024, 2921, 4010, 2011, 1996, 2767, 20942, 1997, 1996, 2111, 1012]",
        "BERT reconstruction: canadian winters are kept warm by the friendliness of the people.",
        "GPT2_to_BERT(GPT2 ids) == BERT ids: true",
        "BERT -> GPT2 ids: [5171, 18425, 45764, 389, 4030, 5814, 416, 262, 1545, 26061, 286, 262, 661, 13]",
        "BERT round trip equals the original: false; equals it lowercased: true",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

    // Bincount tables: sums and the spec's exact BERT counts.
    let (header, rows) = read_csv(&run.file("ch2_proj7_part2_bincounts.csv")).unwrap();
    assert_eq!(header, ["tokenizer", "length", "count"]);
    let sum = |rows: &[Vec<String>], t: &str| -> usize {
        rows.iter()
            .filter(|r| r[0] == t)
            .map(|r| r[2].parse::<usize>().unwrap())
            .sum()
    };
    assert_eq!(sum(&rows, "GPT-4"), 100261);
    assert_eq!(sum(&rows, "GPT-2"), 50257);
    let (_, rows) = read_csv(&run.file("ch2_proj7b_part2_bincounts.csv")).unwrap();
    assert_eq!(sum(&rows, "BERT"), 30522);
    let bert: Vec<usize> = rows
        .iter()
        .filter(|r| r[0] == "BERT")
        .map(|r| r[2].parse().unwrap())
        .collect();
    assert_eq!(
        bert,
        [
            68, 724, 2122, 3219, 5141, 5098, 4239, 3269, 2396, 1610, 1767, 488, 244, 92, 31, 11, 2,
            1
        ]
    );

    // Book tables: GPT-2's and BERT's counts and mean token lengths as Python gives
    // them; GPT-4 needs fewer tokens than GPT-2 on every text.
    let golden = ch02_golden_counts().unwrap();
    let want = golden["p07"].as_array().unwrap();
    assert_eq!(want.len(), 4);
    let num = |v: &common::testing::JsonValue, k: &str| v[k].as_f64().unwrap();
    let (header, rows) = read_csv(&run.file("ch2_proj7_part3_books.csv")).unwrap();
    assert_eq!(
        header,
        [
            "book",
            "tokens_GPT-2",
            "tokens_GPT-4",
            "mean_len_GPT-2",
            "mean_len_GPT-4"
        ]
    );
    assert_eq!(rows.len(), 4);
    for (r, w) in rows.iter().zip(want) {
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        assert_eq!(r[0], w["label"].as_str().unwrap());
        assert_eq!(v[0], num(w, "tokens_GPT2"), "{r:?}");
        assert!((v[2] - num(w, "mean_len_GPT2")).abs() < 1e-12, "{r:?}");
        assert!(v[1] < v[0] && v[3] > v[2], "{r:?}");
    }
    let (header, rows) = read_csv(&run.file("ch2_proj7b_part3_books.csv")).unwrap();
    assert_eq!(
        header,
        [
            "book",
            "tokens_BERT",
            "tokens_GPT2",
            "mean_len_BERT",
            "mean_len_GPT2"
        ]
    );
    assert_eq!(rows.len(), 4);
    for (r, w) in rows.iter().zip(want) {
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        assert_eq!(r[0], w["label"].as_str().unwrap());
        assert_eq!(
            [v[0], v[1]],
            [num(w, "tokens_BERT"), num(w, "tokens_GPT2")],
            "{r:?}"
        );
        assert!((v[2] - num(w, "mean_len_BERT")).abs() < 1e-12, "{r:?}");
        assert!((v[3] - num(w, "mean_len_GPT2")).abs() < 1e-12, "{r:?}");
    }

    // 6. every figure
    for f in [
        "ch2_proj7_part2",
        "ch2_proj7_part3",
        "ch2_proj7b_part2",
        "ch2_proj7b_part3",
    ] {
        run.check_figure(f).unwrap();
    }
}
