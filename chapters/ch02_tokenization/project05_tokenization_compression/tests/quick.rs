//! Runs the project as a learner would (offline, on the texts and HTML pages in
//! assets/data/ch02) and checks the spec's offline checks on what it wrote. The fetch
//! layer's 403/redirect check is a unit test in main.rs (a local server on 127.0.0.1).
//! Counts (and the bzip2 / xz sizes) are compared with Python's, recorded by
//! `scripts/derive_golden_counts.py` in assets/fixtures/ch02_golden_counts.json.

use common::testing::{ch02_golden_counts, read_csv, run_project};

#[test]
fn quick_run_tables_books_and_pages() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project05_tokenization_compression"),
        &["--quick"],
    )
    .unwrap();
    let golden = ch02_golden_counts().unwrap();
    let g = &golden["p05"];
    let n = |v: &common::testing::JsonValue, k: &str| -> f64 { v[k].as_f64().unwrap() };
    let s = run.summary();
    for line in [
        "Book title       |       Chars |       Words |      Tokens | Compress",
        "Lighthouse       |       1,937 |         364 |         531 | 27 / 146",
        "         Website |       Chars |       Bytes |      Tokens | Compression (%)",
        "harbourside-hall |       1,425 |       1,434 |         526 | 36.91 / 36.68",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

    // Part 1: chars, words, tokens as Python counts them; compression = 100·tokens/chars
    // and 100·tokens/words.
    let (header, rows) = read_csv(&run.file("ch2_proj5_part1_books.csv")).unwrap();
    assert_eq!(
        header,
        [
            "book",
            "chars",
            "words",
            "tokens",
            "compression_chars",
            "compression_words"
        ]
    );
    let books = g["books"].as_array().unwrap();
    assert_eq!((rows.len(), books.len()), (4, 4));
    for (r, b) in rows.iter().zip(books) {
        assert_eq!(r[0], b["label"].as_str().unwrap());
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        let (c, w, t) = (n(b, "chars"), n(b, "words"), n(b, "tokens"));
        assert_eq!(v[..3], [c, w, t], "{r:?}");
        assert!((v[3] - 100.0 * t / c).abs() < 1e-9, "{r:?}");
        assert!((v[4] - 100.0 * t / w).abs() < 1e-9, "{r:?}");
    }

    let (header, rows) = read_csv(&run.file("ch2_proj5_part2_websites.csv")).unwrap();
    assert_eq!(
        header,
        [
            "site",
            "url",
            "chars",
            "bytes",
            "tokens",
            "compression_chars",
            "compression_bytes",
            "fetch"
        ]
    );
    // Part 2: the two pages, counted as Python counts them.
    let pages = g["pages"].as_array().unwrap();
    assert_eq!((rows.len(), pages.len()), (2, 2));
    for (r, p) in rows.iter().zip(pages) {
        let v = |i: usize| r[i].parse::<f64>().unwrap();
        assert_eq!(r[1], p["url"].as_str().unwrap());
        let (c, b, t) = (n(p, "chars"), n(p, "bytes"), n(p, "tokens"));
        assert_eq!([v(2), v(3), v(4)], [c, b, t], "{r:?}");
        assert!((v(5) - 100.0 * t / c).abs() < 1e-9, "{r:?}");
        assert!((v(6) - 100.0 * t / b).abs() < 1e-9, "{r:?}");
    }
    // The second page has non-ASCII characters: more bytes than characters.
    assert!(n(&pages[1], "bytes") > n(&pages[1], "chars"));

    let (header, rows) = read_csv(&run.file("ch2_proj5_compressors.csv")).unwrap();
    assert_eq!(
        header,
        [
            "text",
            "bytes",
            "tokens",
            "gzip_bytes",
            "zlib_bytes",
            "bzip2_bytes",
            "xz_bytes"
        ]
    );
    // bytes, tokens, bzip2 and xz sizes as Python's bz2 (level 9) and lzma (preset 6)
    // give them; gzip and zlib (miniz_oxide here, zlib in Python: other valid streams)
    // only by their framing: the same deflate data, zlib's 6 bytes of wrapper against
    // gzip's 18.
    let want = g["compressors"].as_array().unwrap();
    assert_eq!((rows.len(), want.len()), (6, 6));
    for (r, w) in rows.iter().zip(want) {
        assert_eq!(r[0], w["text"].as_str().unwrap());
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        assert_eq!([v[0], v[1]], [n(w, "bytes"), n(w, "tokens")], "{r:?}");
        assert_eq!(
            [v[4], v[5]],
            [n(w, "bzip2_bytes"), n(w, "xz_bytes")],
            "{r:?}"
        );
        assert!(v[2] > 0.0 && v[2] == v[3] + 12.0, "{r:?}");
    }
    assert!(
        s.contains("ids (2 B) |    gzip |    zlib |   bzip2 |      xz"),
        "{s}"
    );
}
