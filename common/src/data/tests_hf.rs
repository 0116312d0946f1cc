//! Tests of the hub datasets on small files written here: parquet (written with the
//! parquet crate's own writer, in the hub's column layouts), JSON lines and `json.gz`,
//! placed in a Hugging Face-layout cache or served by a local test server.

use super::cache::DataCache;
use super::hf_datasets::*;
use super::testserver::{Route, TestServer};
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One column of one row group.
enum Col {
    Strs(Vec<String>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    StrLists(Vec<Vec<String>>),
}

fn strs<S: AsRef<str>>(v: &[S]) -> Col {
    Col::Strs(v.iter().map(|s| s.as_ref().to_string()).collect())
}

/// Write a parquet file: `schema` in parquet's message syntax (optional leaves, lists in
/// the 3-level `LIST` layout pyarrow writes), one `Vec<Col>` per row group.
fn write_parquet(path: &Path, schema: &str, groups: Vec<Vec<Col>>, compression: Compression) {
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(compression)
            .build(),
    );
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
    for cols in groups {
        let mut rg = w.next_row_group().unwrap();
        for col in cols {
            let mut cw = rg
                .next_column()
                .unwrap()
                .expect("as many columns as the schema");
            match col {
                Col::Strs(v) => {
                    let vals: Vec<ByteArray> =
                        v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    let def = vec![1i16; vals.len()];
                    cw.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&def), None)
                        .unwrap();
                }
                Col::I64(v) => {
                    let def = vec![1i16; v.len()];
                    cw.typed::<Int64Type>()
                        .write_batch(&v, Some(&def), None)
                        .unwrap();
                }
                Col::I32(v) => {
                    let def = vec![1i16; v.len()];
                    cw.typed::<Int32Type>()
                        .write_batch(&v, Some(&def), None)
                        .unwrap();
                }
                Col::StrLists(rows) => {
                    let (mut vals, mut def, mut rep) = (vec![], vec![], vec![]);
                    for row in rows {
                        for (j, s) in row.iter().enumerate() {
                            vals.push(ByteArray::from(s.as_str()));
                            def.push(3i16);
                            rep.push(i16::from(j > 0));
                        }
                    }
                    cw.typed::<ByteArrayType>()
                        .write_batch(&vals, Some(&def), Some(&rep))
                        .unwrap();
                }
            }
            cw.close().unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
}

/// Where a hub file goes in a Hugging Face-layout cache (`refs/main` → `snapshots/<commit>`).
fn hub_path(cache: &DataCache, f: &HfFile) -> PathBuf {
    let root = cache.hub_cache.clone().unwrap();
    let repo = root.join(format!("datasets--{}", f.repo.replace('/', "--")));
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "c0ffee").unwrap();
    repo.join("snapshots/c0ffee").join(&f.path)
}

const HELLASWAG_SCHEMA: &str = "message schema {
    optional int64 ind;
    optional binary activity_label (UTF8);
    optional binary ctx_a (UTF8);
    optional binary ctx_b (UTF8);
    optional binary ctx (UTF8);
    optional group endings (LIST) { repeated group list { optional binary element (UTF8); } }
    optional binary source_id (UTF8);
    optional binary split (UTF8);
    optional binary split_type (UTF8);
    optional binary label (UTF8);
}";

fn write_hellaswag(path: &Path, labels: &[&str]) {
    let n = labels.len();
    let idx: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let ctx_a: Vec<String> = idx
        .iter()
        .map(|i| format!("A person fills kettle {i}."))
        .collect();
    let ctx_b: Vec<String> = (0..n).map(|_| "they".to_string()).collect();
    let ctx: Vec<String> = ctx_a
        .iter()
        .zip(&ctx_b)
        .map(|(a, b)| format!("{a} {b}"))
        .collect();
    let endings: Vec<Vec<String>> = idx
        .iter()
        .map(|i| {
            (0..4)
                .map(|k| format!("pour cup {k} of pot {i}."))
                .collect()
        })
        .collect();
    write_parquet(
        path,
        HELLASWAG_SCHEMA,
        vec![vec![
            Col::I64((0..n as i64).map(|i| i + 100).collect()),
            strs(&vec!["Making tea"; n]),
            Col::Strs(ctx_a),
            Col::Strs(ctx_b),
            Col::Strs(ctx),
            Col::StrLists(endings),
            strs(&vec!["src~1"; n]),
            strs(&vec!["val"; n]),
            strs(&vec!["indomain"; n]),
            strs(labels),
        ]],
        Compression::SNAPPY,
    );
}

#[test]
fn hellaswag_from_hub_parquet_and_from_jsonl() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DataCache::isolated(tmp.path());
    write_hellaswag(
        &hub_path(&c, &hellaswag_file("validation").unwrap()),
        &["2", "0", "3"],
    );
    let items = c.hellaswag("validation").unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].ind, 100);
    assert_eq!(items[0].label, 2);
    assert_eq!(items[2].label, 3);
    assert_eq!(items[1].activity_label, "Making tea");
    assert_eq!(
        items[1].ctx,
        format!("{} {}", items[1].ctx_a, items[1].ctx_b)
    );
    assert_eq!(items[1].endings.len(), 4);
    assert_eq!(items[1].endings[3], "pour cup 3 of pot 1.");

    // The original release's JSON lines give the same records (label as an integer).
    let jsonl = tmp.path().join("hellaswag_val.jsonl");
    let mut f = std::fs::File::create(&jsonl).unwrap();
    for it in &items {
        let v = serde_json::json!({"ind": it.ind, "activity_label": it.activity_label, "ctx_a": it.ctx_a,
            "ctx_b": it.ctx_b, "ctx": it.ctx, "endings": it.endings, "label": it.label, "split": "val"});
        writeln!(f, "{v}").unwrap();
    }
    drop(f);
    assert_eq!(hellaswag_from_file(&jsonl).unwrap(), items);

    assert!(c
        .hellaswag("test")
        .unwrap_err()
        .to_string()
        .contains("no labels"));
    assert!(c.hellaswag("dev").is_err());
}

#[test]
fn a_label_out_of_range_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("h.parquet");
    write_hellaswag(&p, &["1", "7"]);
    let e = format!("{:#}", hellaswag_from_file(&p).unwrap_err());
    assert!(e.contains("row 1") && e.contains("label 7"), "{e}");
}

#[test]
fn wikitext_reads_every_shard_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DataCache::isolated(tmp.path());
    let files = wikitext_files("wikitext-103-raw-v1", "train").unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(
        files[1].path,
        "wikitext-103-raw-v1/train-00001-of-00002.parquet"
    );
    let schema = "message schema { optional binary text (UTF8); }";
    write_parquet(
        &hub_path(&c, &files[0]),
        schema,
        vec![
            vec![strs(&["", " = Title = \n", " Line one .\n"])],
            vec![strs(&[" Line two .\n"])],
        ],
        Compression::SNAPPY,
    );
    write_parquet(
        &hub_path(&c, &files[1]),
        schema,
        vec![vec![strs(&[" Last .\n"])]],
        Compression::UNCOMPRESSED,
    );
    let rows = c.wikitext("wikitext-103-raw-v1", "train").unwrap();
    assert_eq!(
        rows,
        vec![
            "",
            " = Title = \n",
            " Line one .\n",
            " Line two .\n",
            " Last .\n"
        ]
    );

    let one = wikitext_files("wikitext-2-raw-v1", "test").unwrap();
    assert_eq!(
        one,
        vec![HfFile::new(
            "Salesforce/wikitext",
            "wikitext-2-raw-v1/test-00000-of-00001.parquet"
        )]
    );
    let e = wikitext_files("wikitext-3", "test")
        .unwrap_err()
        .to_string();
    assert!(e.contains("wikitext-2-raw-v1"), "{e}");
    assert!(wikitext_files("wikitext-2-raw-v1", "dev").is_err());
}

#[test]
fn sst2_and_rotten_tomatoes() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DataCache::isolated(tmp.path());
    write_parquet(
        &hub_path(&c, &sst2_file("train").unwrap()),
        "message schema { optional binary sentence (UTF8); optional int64 label; optional int32 idx; }",
        vec![vec![strs(&["a warm , funny film ", "dull "]), Col::I64(vec![1, 0]), Col::I32(vec![0, 1])]],
        Compression::ZSTD(ZstdLevel::default()),
    );
    let s = c.sst2("train").unwrap();
    assert_eq!(
        s[0],
        LabeledText {
            text: "a warm , funny film ".into(),
            label: 1
        }
    );
    assert_eq!(s[1].label, 0);

    write_parquet(
        &hub_path(&c, &rotten_tomatoes_file("test").unwrap()),
        "message schema { optional binary text (UTF8); optional int64 label; }",
        vec![vec![
            strs(&["sharp and alive .", "a slog ."]),
            Col::I64(vec![1, 0]),
        ]],
        Compression::SNAPPY,
    );
    let r = c.rotten_tomatoes("test").unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].text, "a slog .");
}

#[test]
fn a_missing_hub_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DataCache::isolated(tmp.path());
    let e = format!("{:#}", c.sst2("validation").unwrap_err());
    assert!(
        e.contains("sst2/validation-00000-of-00001.parquet") && e.contains("nyu-mll/glue"),
        "{e}"
    );
    assert!(c
        .rotten_tomatoes("dev")
        .unwrap_err()
        .to_string()
        .contains("train, validation, test"));
}

#[test]
fn a_damaged_parquet_file_is_deleted_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DataCache::isolated(tmp.path());
    let f = rotten_tomatoes_file("test").unwrap();
    let link = hub_path(&c, &f);
    // As hf-hub lays it out: the snapshot entry is a link to a blob.
    let blob = link.parent().unwrap().join("../../blobs/deadbeef");
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::write(&blob, b"PAR1 this is not parquet PAR1").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("../../blobs/deadbeef", &link).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&blob, &link).unwrap();
    let e = format!("{:#}", c.rotten_tomatoes("test").unwrap_err());
    assert!(e.contains("damaged") && e.contains("deleted"), "{e}");
    assert!(!link.exists() && std::fs::symlink_metadata(&link).is_err());
    #[cfg(unix)]
    assert!(!blob.exists());
}

#[test]
fn a_missing_column_is_reported_and_the_file_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let c = DataCache::isolated(tmp.path());
    let p = hub_path(&c, &rotten_tomatoes_file("train").unwrap());
    write_parquet(
        &p,
        "message schema { optional binary text (UTF8); }",
        vec![vec![strs(&["x"])]],
        Compression::SNAPPY,
    );
    let e = format!("{:#}", c.rotten_tomatoes("train").unwrap_err());
    assert!(
        e.contains("no column \"label\"") && e.contains("text"),
        "{e}"
    );
    assert!(p.exists());
}

/// Deterministic filler text that does not compress away (letters from an LCG).
fn filler(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..len)
        .map(|i| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if i % 7 == 6 {
                ' '
            } else {
                (b'a' + ((x >> 33) % 26) as u8) as char
            }
        })
        .collect()
}

/// A wikimedia/wikipedia-like shard: 8 row groups of 5 articles of ~8 kB.
fn write_wikipedia(path: &Path) {
    let groups = (0..8)
        .map(|g| {
            let ids: Vec<String> = (0..5).map(|i| (g * 5 + i).to_string()).collect();
            vec![
                Col::Strs(ids.clone()),
                Col::Strs(
                    ids.iter()
                        .map(|i| format!("https://en.wikipedia.org/wiki?curid={i}"))
                        .collect(),
                ),
                Col::Strs(ids.iter().map(|i| format!("Article {i}")).collect()),
                Col::Strs(
                    ids.iter()
                        .map(|i| filler(i.parse().unwrap(), 8_000))
                        .collect(),
                ),
            ]
        })
        .collect();
    let schema = "message schema { optional binary id (UTF8); optional binary url (UTF8);
                  optional binary title (UTF8); optional binary text (UTF8); }";
    write_parquet(path, schema, groups, Compression::UNCOMPRESSED);
}

#[test]
fn wikipedia_reads_only_the_row_groups_it_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("shard.parquet");
    write_wikipedia(&shard);
    let bytes = std::fs::read(&shard).unwrap();
    let f = wikipedia_en_file();
    let route = format!("/datasets/{}/resolve/main/{}", f.repo, f.path);
    let srv = TestServer::start(vec![Route::ok(&route, bytes.clone()).ranges()]);
    let mut c = DataCache::isolated(tmp.path().join("cache"));
    c.hf_endpoint = srv.base.clone();

    let first = c.wikipedia_articles(7).unwrap();
    assert_eq!(first.len(), 7);
    assert_eq!(first[6].title, "Article 6");
    assert_eq!(first[6].text, filler(6, 8_000));
    assert_eq!(first[0].url, "https://en.wikipedia.org/wiki?curid=0");
    let sent = srv.bytes_sent(&route);
    assert!(
        sent < bytes.len() as u64 / 2,
        "fetched {sent} of {} bytes for 7 of 40 rows",
        bytes.len()
    );

    // Offline: what was fetched still reads; more is a clear error.
    c.offline = true;
    assert_eq!(c.wikipedia_articles(7).unwrap(), first);
    let e = format!("{:#}", c.wikipedia_articles(40).unwrap_err());
    assert!(
        e.contains("only partly cached") && e.contains("wikimedia/wikipedia"),
        "{e}"
    );

    // Online again: the rest, without fetching the first part twice.
    c.offline = false;
    let all = c.wikipedia_articles(45).unwrap();
    assert_eq!(all.len(), 40);
    assert_eq!(all[..7], first[..]);
    assert_eq!(all[39].title, "Article 39");
    assert!(srv.bytes_sent(&route) <= bytes.len() as u64 + (64 << 10));
}

#[test]
fn wikipedia_uses_a_whole_shard_from_the_hub_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = DataCache::isolated(tmp.path());
    c.hf_endpoint = "http://127.0.0.1:9".into(); // nothing listens: no network use
    write_wikipedia(&hub_path(&c, &wikipedia_en_file()));
    let a = c.wikipedia_articles(12).unwrap();
    assert_eq!(a.len(), 12);
    assert_eq!(a[11].id, "11");
    assert_eq!(
        articles_from_file(&hub_path(&c, &wikipedia_en_file()), 3).unwrap()[..],
        a[..3]
    );
}

fn c4_lines(shard: u32, n: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let v = serde_json::json!({"text": format!("doc {shard}-{i} {}", filler(u64::from(shard) * 1000 + i as u64, len)),
            "timestamp": "2019-04-25T12:57:54Z", "url": format!("https://example.org/{shard}/{i}")});
        writeln!(out, "{v}").unwrap();
    }
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn c4_streams_a_shard_and_continues_into_the_next() {
    // Shard 0: ~2.4 MB of gzip (more than the first 1 MiB range); shard 1: small.
    let s0 = gz(&c4_lines(0, 300, 12_000));
    let s1 = gz(&c4_lines(1, 5, 100));
    assert!(s0.len() > 2 << 20);
    let r0 = format!("/datasets/allenai/c4/resolve/main/{}", c4_en_file(0).path);
    let r1 = format!("/datasets/allenai/c4/resolve/main/{}", c4_en_file(1).path);
    let srv = TestServer::start(vec![
        Route::ok(&r0, s0.clone()).ranges(),
        Route::ok(&r1, s1).ranges(),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = DataCache::isolated(tmp.path());
    c.hf_endpoint = srv.base.clone();

    let first = c.c4_texts(3).unwrap();
    assert_eq!(first.len(), 3);
    assert!(first[2].starts_with("doc 0-2 "));
    assert!(
        srv.bytes_sent(&r0) <= 1 << 20,
        "{} bytes fetched for 3 documents",
        srv.bytes_sent(&r0)
    );
    assert_eq!(srv.hits(&r1), 0);

    c.offline = true;
    assert_eq!(c.c4_texts(3).unwrap(), first);
    let e = format!("{:#}", c.c4_texts(200).unwrap_err());
    assert!(
        e.contains("only partly cached") && e.contains("allenai/c4"),
        "{e}"
    );

    c.offline = false;
    let docs: Vec<C4Doc> = c
        .c4_documents()
        .take(303)
        .collect::<anyhow::Result<_>>()
        .unwrap();
    assert_eq!(docs.len(), 303);
    assert!(docs[299].text.starts_with("doc 0-299 "));
    assert!(docs[302].text.starts_with("doc 1-2 "));
    assert_eq!(docs[302].url, "https://example.org/1/2");
    assert_eq!(docs[0].timestamp, "2019-04-25T12:57:54Z");
    assert_eq!(
        srv.bytes_sent(&r0),
        s0.len() as u64,
        "shard 0 fetched once, in parts"
    );
}

#[test]
fn json_lines_from_local_files() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("docs.jsonl");
    std::fs::write(&plain, c4_lines(0, 4, 10)).unwrap();
    let gzp = tmp.path().join("docs.json.gz");
    std::fs::write(&gzp, gz(&c4_lines(0, 4, 10))).unwrap();
    let a: Vec<C4Doc> = json_docs_from_file(&plain)
        .unwrap()
        .collect::<anyhow::Result<_>>()
        .unwrap();
    let b: Vec<C4Doc> = json_docs_from_file(&gzp)
        .unwrap()
        .collect::<anyhow::Result<_>>()
        .unwrap();
    assert_eq!(a.len(), 4);
    assert_eq!(a, b);

    // A whole shard in the hub cache is read without network.
    let mut c = DataCache::isolated(tmp.path().join("cache"));
    c.hf_endpoint = "http://127.0.0.1:9".into();
    let p = hub_path(&c, &c4_en_file(0));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::copy(&gzp, &p).unwrap();
    assert_eq!(
        c.c4_texts(2).unwrap(),
        vec![a[0].text.clone(), a[1].text.clone()]
    );

    // A bad line is an error naming the source and the document.
    std::fs::write(&plain, "{\"text\": \"ok\"}\nnot json\n").unwrap();
    let r: Vec<_> = json_docs_from_file(&plain).unwrap().collect();
    assert!(r[0].is_ok());
    let e = format!("{:#}", r[1].as_ref().unwrap_err());
    assert!(e.contains("document 1") && e.contains("docs.jsonl"), "{e}");
}

#[test]
fn urls_and_generic_readers() {
    let f = HfFile::new("Salesforce/wikitext", "wikitext-2-raw-v1/test/0000.parquet")
        .at_revision("refs/convert/parquet");
    assert_eq!(
        f.url("https://huggingface.co/"),
        "https://huggingface.co/datasets/Salesforce/wikitext/resolve/refs%2Fconvert%2Fparquet/wikitext-2-raw-v1/test/0000.parquet"
    );
    assert!(f.to_string().contains("refs/convert/parquet"));
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.parquet");
    write_parquet(
        &p,
        "message schema { optional binary text (UTF8); optional int64 n; }",
        vec![
            vec![strs(&["a", "b"]), Col::I64(vec![1, 2])],
            vec![strs(&["c"]), Col::I64(vec![3])],
        ],
        Compression::SNAPPY,
    );
    assert_eq!(parquet_strings(&p, "text").unwrap(), vec!["a", "b", "c"]);
    assert_eq!(parquet_rows(&p, &["n"], Some(2)).unwrap().len(), 2);
    assert_eq!(ParquetRows::open(&p, &["text"]).unwrap().total_rows(), 3);
    let e = parquet_strings(&p, "n").unwrap_err().to_string();
    assert!(e.contains("should hold text"), "{e}");
    std::fs::write(&p, b"nope").unwrap();
    assert!(parquet_strings(&p, "text")
        .unwrap_err()
        .to_string()
        .contains("not a readable parquet"));
}

#[test]
fn split_percent_rows_rounds_like_datasets() {
    // Project 30: SST-2 train has 67,349 rows; train[:5%] = 3,367.45 -> 3,367 rows.
    assert_eq!(split_percent_rows(67_349, 5.0), 3_367);
    // Project 39: English Wikipedia 20231101.en, 6,407,814 rows; train[:1%] = 64,078.
    assert_eq!(split_percent_rows(6_407_814, 1.0), 64_078);
    // Python's round: exact halves go to the even neighbour.
    assert_eq!(split_percent_rows(10, 25.0), 2); // 2.5
    assert_eq!(split_percent_rows(10, 35.0), 4); // 3.5
    assert_eq!(split_percent_rows(50, 5.0), 2); // 2.5
    assert_eq!(split_percent_rows(30, 5.0), 2); // 1.5
    assert_eq!(split_percent_rows(1_000, 33.0), 330);
    assert_eq!(split_percent_rows(7, 50.0), 4); // 3.5
                                                // Ends, and negative boundaries counted from the end (train[-5%:]).
    assert_eq!(split_percent_rows(0, 5.0), 0);
    assert_eq!(split_percent_rows(67_349, 100.0), 67_349);
    assert_eq!(split_percent_rows(67_349, 0.0), 0);
    assert_eq!(split_percent_rows(100, -5.0), 95);
    assert_eq!(split_percent_rows(10, -25.0), 8); // round(-2.5) = -2
    assert_eq!(split_percent_rows(10, -100.0), 0);
}

#[test]
#[should_panic(expected = "within -100..=100")]
fn split_percent_rows_rejects_more_than_100() {
    split_percent_rows(10, 101.0);
}

/// The partial copy of `f` in `c`, and what its sidecar says is there (`head`).
fn partial_copy(c: &DataCache, f: &HfFile) -> (PathBuf, u64) {
    let p = c.path(partial_rel(f));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.range.json", p.display())).unwrap())
            .unwrap();
    (p, meta["head"].as_u64().unwrap())
}

/// Overwrite `[from, to)` of `path` with zeros.
fn damage(path: &Path, from: u64, to: u64) {
    use std::io::{Seek, SeekFrom};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(from)).unwrap();
    f.write_all(&vec![0u8; (to - from) as usize]).unwrap();
}

#[test]
fn a_damaged_c4_partial_copy_is_fetched_afresh() {
    let lines = c4_lines(0, 300, 12_000);
    let want: Vec<String> = lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Stored (uncompressed) deflate blocks: zeros written over them are a NUL in a JSON
    // line or a bad block header, which the reader sees at once. (In Huffman-coded data a
    // damaged stretch can decode to plausible letters; gzip's checksum only comes at the end.)
    let s0 = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
        e.write_all(&lines).unwrap();
        e.finish().unwrap()
    };
    let f = c4_en_file(0);
    let route = format!("/datasets/allenai/c4/resolve/main/{}", f.path);
    let srv = TestServer::start(vec![Route::ok(&route, s0.clone()).ranges()]);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = DataCache::isolated(tmp.path());
    c.hf_endpoint = srv.base.clone();

    assert_eq!(c.c4_texts(3).unwrap(), want[..3]);
    let (path, head) = partial_copy(&c, &f);
    assert!(head > 500_000, "{head} bytes fetched");
    damage(&path, 400_000, 404_000);

    // Offline: a clear error naming the copy, which is kept.
    c.offline = true;
    assert_eq!(
        c.c4_texts(3).unwrap(),
        want[..3],
        "the intact start still reads"
    );
    let e = format!("{:#}", c.c4_texts(100).unwrap_err());
    assert!(
        e.contains("damaged") && e.contains("offline") && e.contains(&path.display().to_string()),
        "{e}"
    );
    assert!(path.exists());

    // Online: deleted, fetched afresh, and the documents come out right.
    c.offline = false;
    let sent = srv.bytes_sent(&route);
    assert_eq!(c.c4_texts(100).unwrap(), want[..100]);
    assert!(srv.bytes_sent(&route) > sent + 400_000, "fetched afresh");
    let (path, head) = partial_copy(&c, &f);
    let local = std::fs::read(&path).unwrap();
    assert!(head > 404_000);
    assert_eq!(
        local[..head as usize],
        s0[..head as usize],
        "the cache holds the good copy"
    );
}

#[test]
fn a_damaged_row_group_in_a_partial_parquet_copy_is_fetched_afresh() {
    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("shard.parquet");
    write_wikipedia(&shard);
    let bytes = std::fs::read(&shard).unwrap();
    let want = articles_from_file(&shard, 12).unwrap();
    let f = wikipedia_en_file();
    let route = format!("/datasets/{}/resolve/main/{}", f.repo, f.path);
    let srv = TestServer::start(vec![Route::ok(&route, bytes.clone()).ranges()]);
    let mut c = DataCache::isolated(tmp.path().join("cache"));
    c.hf_endpoint = srv.base.clone();

    assert_eq!(c.wikipedia_articles(7).unwrap(), want[..7]);
    // Damage row group 1 (rows 5..10) in the partial copy.
    let rg1 = {
        use parquet::file::reader::FileReader;
        let r = parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(&shard).unwrap(),
        )
        .unwrap();
        let cols = r.metadata().row_group(1).columns().to_vec();
        let start = cols.iter().map(|c| c.byte_range().0).min().unwrap();
        let end = cols
            .iter()
            .map(|c| c.byte_range().0 + c.byte_range().1)
            .max()
            .unwrap();
        (start, end)
    };
    let (path, head) = partial_copy(&c, &f);
    assert!(head >= rg1.1);
    damage(&path, rg1.0, rg1.1);

    c.offline = true;
    assert_eq!(
        c.wikipedia_articles(5).unwrap(),
        want[..5],
        "row group 0 still reads"
    );
    let e = format!("{:#}", c.wikipedia_articles(7).unwrap_err());
    assert!(
        e.contains("damaged") && e.contains("offline") && e.contains(&path.display().to_string()),
        "{e}"
    );
    assert!(path.exists());

    c.offline = false;
    assert_eq!(c.wikipedia_articles(12).unwrap(), want);
    let (path, head) = partial_copy(&c, &f);
    assert!(head >= rg1.1);
    let local = std::fs::read(&path).unwrap();
    assert_eq!(
        local[..head as usize],
        bytes[..head as usize],
        "the cache holds the good copy"
    );
    let total = bytes.len();
    assert_eq!(local[total - 1_000..], bytes[total - 1_000..]);

    // A damaged footer: offline an error, online fetched again.
    damage(&path, total as u64 - 4, total as u64);
    c.offline = true;
    let e = format!("{:#}", c.wikipedia_articles(3).unwrap_err());
    assert!(e.contains("damaged") && e.contains("footer"), "{e}");
    c.offline = false;
    assert_eq!(c.wikipedia_articles(3).unwrap(), want[..3]);
}
