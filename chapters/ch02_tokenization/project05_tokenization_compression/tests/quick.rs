//! Runs the project as a learner would (offline, on the texts and HTML pages in
//! assets/data/ch02) and checks the spec's offline checks on what it wrote. The fetch
//! layer's 403/redirect check is a unit test in main.rs (a local server on 127.0.0.1).

use common::testing::{read_csv, run_project};

#[test]
fn quick_run_tables_books_and_pages() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project05_tokenization_compression"),
        &["--quick"],
    )
    .unwrap();
    let s = run.summary();
    for line in [
        "Book title       |       Chars |       Words |      Tokens | Compress",
        "Lighthouse       |       1,937 |         364 |         531 | 27 / 146",
        "         Website |       Chars |       Bytes |      Tokens | Compression (%)",
        "harbourside-hall |       1,425 |       1,434 |         526 | 36.91 / 36.68",
    ] {
        assert!(s.contains(line), "summary lacks {line:?}:\n{s}");
    }

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
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        assert!((v[3] - 100.0 * v[2] / v[0]).abs() < 1e-9, "{r:?}");
        assert!((v[4] - 100.0 * v[2] / v[1]).abs() < 1e-9, "{r:?}");
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
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let n = |i: usize| r[i].parse::<f64>().unwrap();
        // tokens <= bytes, chars <= bytes, and tokens/bytes <= tokens/chars
        assert!(n(4) <= n(3) && n(2) <= n(3), "{r:?}");
        assert!(n(6) <= n(5), "{r:?}");
    }
    // The second page has non-ASCII characters: more bytes than characters.
    assert!(rows[1][3].parse::<usize>().unwrap() > rows[1][2].parse::<usize>().unwrap());

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
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let n: Vec<usize> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        // Every compressor wrote something; zlib = gzip minus 12 bytes of wrapper.
        assert!(n[2..].iter().all(|&c| c > 0), "{r:?}");
        assert_eq!(n[2], n[3] + 12, "{r:?}");
    }
    assert!(
        s.contains("ids (2 B) |    gzip |    zlib |   bzip2 |      xz"),
        "{s}"
    );
}
