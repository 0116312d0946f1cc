//! A bounded, seeded mutation test of the data layer's parsers where they read
//! downloaded files: parquet shards (hellaswag, SST-2, wikitext and Wikipedia layouts,
//! read from a file, from the Hugging Face cache layout, and from a partial copy),
//! JSON lines and `json.gz` (C4, hellaswag's original release), Gutenberg books and
//! cached Wikipedia pages. Each file is truncated or garbled at random; every case must
//! end in `Ok` or in an `Err` whose message names the file — never a panic (counted,
//! and the test fails on any). Everything lives in one temporary folder per test.
//!
//! The seed is fixed (`MUTATION_SEED` overrides it); the summary printed at the end
//! gives the cases per kind and how many were errors.

use common::data::hf_datasets::{
    articles_from_file, c4_en_file, hellaswag_file, hellaswag_from_file, json_docs_from_file,
    labeled_texts_from_file, parquet_strings, sst2_file, wikipedia_en_file, HfFile,
};
use common::data::DataCache;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

fn seed() -> u64 {
    std::env::var("MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        // Seed 1: among its cases are some that tripped the parquet decoder's assertions
        // before the reader checked footers and caught decoder panics.
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------------------
// Counting outcomes, panics included (as in mutation_loaders.rs).

thread_local! {
    static IN_CASE: RefCell<bool> = const { RefCell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn quiet_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(|c| *c.borrow()) {
                LAST_PANIC.with(|p| p.borrow_mut().replace(format!("{info}")));
            } else {
                default(info);
            }
        }));
    });
}

#[derive(Default)]
struct Tally {
    kind: &'static str,
    cases: usize,
    ok: usize,
    err: usize,
    panics: Vec<String>,
    unnamed: Vec<String>,
}

impl Tally {
    fn new(kind: &'static str) -> Self {
        quiet_panics();
        Tally {
            kind,
            ..Default::default()
        }
    }

    /// Run one case; an error must name `file` (its full path, or `names` when given).
    fn run<T>(&mut self, describe: &str, names: &str, case: impl FnOnce() -> anyhow::Result<T>) {
        self.cases += 1;
        LAST_PANIC.with(|p| p.borrow_mut().take());
        IN_CASE.with(|c| *c.borrow_mut() = true);
        let outcome = catch_unwind(AssertUnwindSafe(case));
        IN_CASE.with(|c| *c.borrow_mut() = false);
        match outcome {
            Ok(Ok(_)) => self.ok += 1,
            Ok(Err(e)) => {
                self.err += 1;
                let msg = format!("{e:#}");
                if !msg.contains(names) {
                    self.unnamed.push(format!("{describe}: {msg}"));
                }
            }
            Err(_) => {
                let what = LAST_PANIC
                    .with(|p| p.borrow_mut().take())
                    .unwrap_or_else(|| "a panic".into());
                self.panics.push(format!("{describe}: {what}"));
            }
        }
    }

    fn check(&self, want_cases: usize) {
        println!(
            "mutation {}: {} cases, {} ok, {} errors, {} panics",
            self.kind,
            self.cases,
            self.ok,
            self.err,
            self.panics.len()
        );
        let show = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join("\n");
        assert!(
            self.panics.is_empty(),
            "{} of {} {} cases panicked, e.g.:\n{}",
            self.panics.len(),
            self.cases,
            self.kind,
            show(&self.panics)
        );
        assert!(
            self.unnamed.is_empty(),
            "{} {} errors do not name the file, e.g.:\n{}",
            self.unnamed.len(),
            self.kind,
            show(&self.unnamed)
        );
        assert_eq!(self.cases, want_cases);
        assert!(
            self.ok > 0 && self.err > 0,
            "ok {} err {}",
            self.ok,
            self.err
        );
    }
}

// ---------------------------------------------------------------------------------------
// Damage.

/// `bytes` truncated, garbled or extended at random; the description says how.
fn damage(rng: &mut StdRng, bytes: &[u8]) -> (String, Vec<u8>) {
    let mut b = bytes.to_vec();
    let n = b.len().max(1);
    match rng.random_range(0..12) {
        0 => {
            let cut = rng.random_range(0..n);
            b.truncate(cut);
            (format!("cut at {cut}"), b)
        }
        1 => {
            // the end: a parquet footer, a gzip trailer
            let cut = n.saturating_sub(rng.random_range(1..64.min(n) + 1));
            b.truncate(cut);
            (format!("cut at {cut} (near the end)"), b)
        }
        2..=4 => {
            let k = rng.random_range(1..=4);
            for _ in 0..k {
                if !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
            }
            (format!("{k} random bytes changed"), b)
        }
        5 => {
            // the last 40 bytes: footer lengths, magic, checksums
            let len = b.len();
            for _ in 0..rng.random_range(1..=3) {
                if len > 0 {
                    let i = len - 1 - rng.random_range(0..40.min(len));
                    b[i] = rng.random();
                }
            }
            ("bytes near the end changed".into(), b)
        }
        6 => {
            let a = rng.random_range(0..n);
            let z = (a + rng.random_range(1..256)).min(b.len());
            for x in &mut b[a.min(z)..z] {
                *x = 0;
            }
            (format!("zeros over {a}..{z}"), b)
        }
        7 => {
            let extra: Vec<u8> = (0..rng.random_range(1..100))
                .map(|_| rng.random())
                .collect();
            b.extend(extra);
            ("junk appended".into(), b)
        }
        8 => ("empty".into(), Vec::new()),
        9 if b.ends_with(b"PAR1") && b.len() > 12 => {
            // inside a parquet footer (its Thrift lists, lengths and offsets)
            let len = b.len();
            let meta = u32::from_le_bytes(b[len - 8..len - 4].try_into().unwrap()) as usize;
            let start = len.saturating_sub(8 + meta);
            let k = rng.random_range(1..=3);
            for _ in 0..k {
                let i = rng.random_range(start..len - 8);
                b[i] = rng.random();
            }
            (format!("{k} footer bytes changed"), b)
        }
        _ => {
            // a 4-byte little-endian length somewhere set to a huge value
            if b.len() >= 8 {
                let i = rng.random_range(0..b.len() - 4);
                b[i..i + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            }
            ("a huge length written".into(), b)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parquet files in the hub's layouts (written with the parquet crate).

enum Col {
    Strs(Vec<String>),
    I64(Vec<i64>),
    StrLists(Vec<Vec<String>>),
}

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
            let mut cw = rg.next_column().unwrap().unwrap();
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

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix} {i}: the kettle sang while the cat counted {i} tiles"))
        .collect()
}

/// The four layouts, each as the bytes of a file with two row groups.
fn layouts(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let compressions = [
        Compression::SNAPPY,
        Compression::ZSTD(Default::default()),
        Compression::UNCOMPRESSED,
    ];
    let mut out = Vec::new();
    let p = dir.join("layout.parquet");
    for (k, c) in compressions.iter().enumerate() {
        let n = 6;
        // hellaswag
        let groups = (0..2)
            .map(|g| {
                vec![
                    Col::I64((0..n as i64).map(|i| i + 10 * g).collect()),
                    Col::Strs(vec!["Making tea".into(); n]),
                    Col::Strs(texts("a", n)),
                    Col::Strs(vec!["they".into(); n]),
                    Col::Strs(texts("ctx", n)),
                    Col::StrLists(
                        (0..n)
                            .map(|i| (0..4).map(|e| format!("end {e} of {i}")).collect())
                            .collect(),
                    ),
                    Col::Strs((0..n).map(|i| (i % 4).to_string()).collect()),
                ]
            })
            .collect();
        write_parquet(
            &p,
            "message schema { optional int64 ind; optional binary activity_label (UTF8);
             optional binary ctx_a (UTF8); optional binary ctx_b (UTF8); optional binary ctx (UTF8);
             optional group endings (LIST) { repeated group list { optional binary element (UTF8); } }
             optional binary label (UTF8); }",
            groups,
            *c,
        );
        out.push(("hellaswag", std::fs::read(&p).unwrap()));
        // SST-2
        let groups = (0..2)
            .map(|_| {
                vec![
                    Col::Strs(texts("s", n)),
                    Col::I64((0..n as i64).map(|i| i % 2).collect()),
                ]
            })
            .collect();
        write_parquet(
            &p,
            "message schema { optional binary sentence (UTF8); optional int64 label; }",
            groups,
            *c,
        );
        out.push(("sst2", std::fs::read(&p).unwrap()));
        // wikitext
        let groups = (0..2).map(|_| vec![Col::Strs(texts("w", n))]).collect();
        write_parquet(
            &p,
            "message schema { optional binary text (UTF8); }",
            groups,
            *c,
        );
        out.push(("wikitext", std::fs::read(&p).unwrap()));
        // Wikipedia
        let groups = (0..2)
            .map(|g| {
                vec![
                    Col::Strs((0..n).map(|i| format!("{g}{i}")).collect()),
                    Col::Strs((0..n).map(|i| format!("https://x.org/{i}")).collect()),
                    Col::Strs(texts("Title", n)),
                    Col::Strs(texts("body", n)),
                ]
            })
            .collect();
        write_parquet(
            &p,
            "message schema { optional binary id (UTF8); optional binary url (UTF8);
             optional binary title (UTF8); optional binary text (UTF8); }",
            groups,
            *c,
        );
        out.push(("wikipedia", std::fs::read(&p).unwrap()));
        let _ = k;
    }
    std::fs::remove_file(&p).unwrap();
    out
}

/// Read `path` with the reader of `layout`.
fn read_layout(layout: &str, path: &Path) -> anyhow::Result<usize> {
    Ok(match layout {
        "hellaswag" => hellaswag_from_file(path)?.len(),
        "sst2" => labeled_texts_from_file(path, "sentence", "label")?.len(),
        "wikitext" => parquet_strings(path, "text")?.len(),
        _ => articles_from_file(path, 100)?.len(),
    })
}

#[test]
fn parquet_files_damaged() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 10);
    let tmp = tempfile::tempdir().unwrap();
    let originals = layouts(tmp.path());
    let mut tally = Tally::new("parquet file");
    let cases = 1200;
    for i in 0..cases {
        let (layout, bytes) = originals.choose(&mut rng).unwrap();
        let (how, bad) = damage(&mut rng, bytes);
        let path = tmp.path().join(format!("{layout}-{i}.parquet"));
        std::fs::write(&path, &bad).unwrap();
        let name = path.display().to_string();
        tally.run(&format!("{layout} #{i} {how}"), &name, || {
            read_layout(layout, &path)
        });
        std::fs::remove_file(&path).unwrap();
    }
    tally.check(cases);
}

/// Where a hub file goes in the Hugging Face-layout cache of `c` (an isolated cache).
fn hub_path(c: &DataCache, f: &HfFile) -> PathBuf {
    let repo = c
        .hub_cache
        .clone()
        .unwrap()
        .join(format!("datasets--{}", f.repo.replace('/', "--")));
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "c0ffee").unwrap();
    repo.join("snapshots/c0ffee").join(&f.path)
}

#[test]
fn hub_cache_parquet_damaged() {
    // Through the data cache: a damaged whole file in the Hugging Face cache is deleted
    // and, with nothing to fetch it from (an isolated cache reads only), an error that
    // names the file; the Wikipedia shard is read lazily, row group by row group.
    let mut rng = StdRng::seed_from_u64(seed() ^ 11);
    let tmp = tempfile::tempdir().unwrap();
    let originals = layouts(tmp.path());
    let mut tally = Tally::new("parquet in the hub cache");
    let cases = 400;
    for i in 0..cases {
        let (layout, bytes) = originals
            .iter()
            .filter(|(l, _)| *l != "wikitext")
            .collect::<Vec<_>>()
            .choose(&mut rng)
            .copied()
            .unwrap();
        let (how, bad) = damage(&mut rng, bytes);
        let root = tmp.path().join(format!("c{i}"));
        let mut c = DataCache::isolated(&root);
        c.offline = true;
        let f = match *layout {
            "hellaswag" => hellaswag_file("validation").unwrap(),
            "sst2" => sst2_file("validation").unwrap(),
            _ => wikipedia_en_file(),
        };
        let path = hub_path(&c, &f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bad).unwrap();
        tally.run(
            &format!("{layout} #{i} {how}"),
            &f.path,
            || -> anyhow::Result<usize> {
                Ok(match *layout {
                    "hellaswag" => c.hellaswag("validation")?.len(),
                    "sst2" => c.sst2("validation")?.len(),
                    _ => c.wikipedia_articles(20)?.len(),
                })
            },
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
    tally.check(cases);
}

/// A partial copy of `f` in `c` holding all of `bytes`, as the range reader leaves it.
fn place_partial(c: &DataCache, f: &HfFile, bytes: &[u8], total: u64) -> PathBuf {
    let mut rel = PathBuf::from("hf-partial");
    for part in f.repo.split('/') {
        rel.push(part);
    }
    rel.push("main");
    for part in f.path.split('/') {
        rel.push(part);
    }
    let path = c.path(&rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let meta = serde_json::json!({"url": f.url(&c.hf_endpoint), "total": total,
        "head": total, "tail_start": total, "updated_at": "2026-01-01T00:00:00Z"});
    std::fs::write(format!("{}.range.json", path.display()), meta.to_string()).unwrap();
    path
}

fn c4_lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let v = serde_json::json!({"text": format!("doc {i}: {}", "kettle ".repeat(i % 40)),
            "timestamp": "2019-04-25T12:57:54Z", "url": format!("https://example.org/{i}")});
        writeln!(out, "{v}").unwrap();
    }
    out
}

fn gz(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn partial_copies_damaged_offline() {
    // A partial copy (HTTP range requests) of a Wikipedia shard or a C4 shard that is
    // damaged, read offline: an error naming the copy, or the rows that still decode.
    let mut rng = StdRng::seed_from_u64(seed() ^ 12);
    let tmp = tempfile::tempdir().unwrap();
    let wiki = layouts(tmp.path())
        .into_iter()
        .filter(|(l, _)| *l == "wikipedia")
        .map(|(_, b)| b)
        .collect::<Vec<_>>();
    let c4 = [gz(&c4_lines(60), 0), gz(&c4_lines(60), 6)];
    let mut tally = Tally::new("partial copy");
    let cases = 300;
    for i in 0..cases {
        let root = tmp.path().join(format!("c{i}"));
        let mut c = DataCache::isolated(&root);
        c.offline = true;
        let wikipedia = rng.random_bool(0.5);
        let (f, original) = if wikipedia {
            (wikipedia_en_file(), wiki.choose(&mut rng).unwrap().clone())
        } else {
            (c4_en_file(0), c4.choose(&mut rng).unwrap().clone())
        };
        let (how, bad) = damage(&mut rng, &original);
        // the sidecar claims the length of what is there (or, sometimes, the original's)
        let total = if rng.random_bool(0.8) {
            bad.len() as u64
        } else {
            original.len() as u64
        };
        let path = place_partial(&c, &f, &bad, total);
        let name = path.display().to_string();
        // now and then a damaged sidecar (what the copy holds)
        let how = if rng.random_bool(0.1) {
            let sidecar = format!("{}.range.json", path.display());
            let (h, b) = damage(&mut rng, &std::fs::read(&sidecar).unwrap());
            std::fs::write(&sidecar, b).unwrap();
            format!("{how}, sidecar {h}")
        } else {
            how
        };
        let what = format!("{} #{i} {how}", f.path);
        if wikipedia {
            tally.run(&what, &name, || c.wikipedia_articles(100).map(|a| a.len()));
        } else {
            // C4 goes on into shard 1, which is not cached: stop before it.
            tally.run(&what, &name, || c.c4_texts(60).map(|t| t.len()));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
    tally.check(cases);
}

#[test]
fn json_lines_damaged() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 13);
    let tmp = tempfile::tempdir().unwrap();
    let plain = c4_lines(30);
    let mut hellaswag = Vec::new();
    for i in 0..10 {
        let v = serde_json::json!({"ind": i, "activity_label": "Tea", "ctx_a": "A", "ctx_b": "b",
            "ctx": "A b", "endings": ["w", "x", "y", "z"], "label": i % 4});
        writeln!(hellaswag, "{v}").unwrap();
    }
    let originals: Vec<(&str, Vec<u8>)> = vec![
        ("c4.jsonl", plain.clone()),
        ("c4.json.gz", gz(&plain, 6)),
        ("c4-stored.json.gz", gz(&plain, 0)),
        ("hellaswag.jsonl", hellaswag),
    ];
    let mut tally = Tally::new("json lines");
    let cases = 600;
    for i in 0..cases {
        let (name, bytes) = originals.choose(&mut rng).unwrap();
        let (how, bad) = damage(&mut rng, bytes);
        let path = tmp.path().join(format!("{i}-{name}"));
        std::fs::write(&path, &bad).unwrap();
        let shown = path.display().to_string();
        tally.run(
            &format!("{name} #{i} {how}"),
            &shown,
            || -> anyhow::Result<usize> {
                if name.starts_with("hellaswag") {
                    Ok(hellaswag_from_file(&path)?.len())
                } else {
                    let mut n = 0;
                    for d in json_docs_from_file(&path)? {
                        d?;
                        n += 1;
                    }
                    Ok(n)
                }
            },
        );
        std::fs::remove_file(&path).unwrap();
    }
    tally.check(cases);
}

fn gutenberg_sample(rng: &mut StdRng) -> Vec<u8> {
    let mut lines = vec![
        "\u{feff}The Project Gutenberg eBook of A Small Test Book\r\n".to_string(),
        "This eBook is for the use of anyone anywhere.\r\n".into(),
        "*** START OF THE PROJECT GUTENBERG EBOOK A SMALL TEST BOOK ***\r\n".into(),
        "\r\n".into(),
        "CHAPTER I\r\n".into(),
        "  The kettle sang while the cat counted tiles.\r\n".into(),
        "*** END OF THE PROJECT GUTENBERG EBOOK A SMALL TEST BOOK ***\r\n".into(),
        "Licence text follows here.\r\n".into(),
    ];
    // move, drop or wrap the markers now and then
    match rng.random_range(0..6) {
        0 => lines.swap(2, 6),
        1 => {
            lines.remove(2);
        }
        2 => {
            lines.remove(6);
        }
        3 => lines[2] = "*** START OF THIS PROJECT GUTENBERG EBOOK A VERY\r\n".into(),
        4 => lines.push("*** START OF THE PROJECT GUTENBERG EBOOK AGAIN ***".into()),
        _ => {}
    }
    lines.concat().into_bytes()
}

#[test]
fn gutenberg_and_wikipedia_files_damaged() {
    let mut rng = StdRng::seed_from_u64(seed() ^ 14);
    let tmp = tempfile::tempdir().unwrap();
    let mut c = DataCache::isolated(tmp.path());
    c.offline = true;
    let mut tally = Tally::new("gutenberg and wikipedia");
    let cases = 400;
    let page = tmp
        .path()
        .join("wikipedia/en.wikipedia.org/Kettle_drums.txt");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    for i in 0..cases {
        if rng.random_bool(0.75) {
            let id = 1000 + i as u32;
            let original = gutenberg_sample(&mut rng);
            let (how, bad) = damage(&mut rng, &original);
            let path = tmp.path().join(format!("gutenberg/pg{id}.txt"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bad).unwrap();
            // now and then a sidecar that disagrees with the file
            if rng.random_bool(0.1) {
                let meta = serde_json::json!({"url": "http://x", "fetched_at": "t",
                    "bytes": bad.len() + 1, "status": 200});
                std::fs::write(format!("{}.meta.json", path.display()), meta.to_string()).unwrap();
            }
            let name = format!("pg{id}.txt");
            tally.run(&format!("gutenberg #{i} {how}"), &name, || {
                c.gutenberg_raw(id)?;
                c.gutenberg_text(id)
            });
        } else {
            let original = "Timpani are drums.\n\n== History ==\nLong ago.".as_bytes();
            let (how, bad) = damage(&mut rng, original);
            std::fs::write(&page, &bad).unwrap();
            if rng.random_bool(0.2) {
                std::fs::write(format!("{}.meta.json", page.display()), &bad).unwrap();
            }
            tally.run(&format!("wikipedia #{i} {how}"), "Kettle_drums.txt", || {
                c.wikipedia_text("Kettle drums")
            });
            let _ = std::fs::remove_file(format!("{}.meta.json", page.display()));
        }
    }
    tally.check(cases);
}
