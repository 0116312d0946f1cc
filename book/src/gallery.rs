//! The gallery: static pages over the output folder, readable from `file://` with no
//! server, no script and no network. `<out>/index.html` lists every project of the
//! workspace by chapter (question, status, wall time, first figure); each project has a
//! page `<out>/book/<project>.html` with every figure, the links to its CSVs, its
//! `summary.txt` and its log. Pages come from the minijinja templates in
//! `book/templates/` (auto-escaped HTML), filled from what is on disk and the runner's
//! records (`<out>/book/runs.json`).

use crate::projects::{Project, ProjectDoc};
use crate::runner::{fmt_wall, Record, Records};
use anyhow::{Context, Result};
use minijinja::value::{Serde, Value};
use minijinja::Environment;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The folder, inside the output folder, that holds the project pages, the logs and the
/// records.
pub const BOOK_DIR: &str = "book";

/// At most this much of a `summary.txt` is shown on a page (the file is linked).
const SUMMARY_MAX_BYTES: usize = 60_000;

/// A piece of inline text: `kind` is text, code, em or strong.
#[derive(Serialize, Debug, PartialEq)]
struct Seg {
    kind: &'static str,
    text: String,
}

/// The doc comment's light Markdown as segments: backticks make code spans, `**...**`
/// strong and `*...*` emphasis (a lone `*`, as in `a * b`, stays). Everything is escaped
/// by the template.
fn inline(s: &str) -> Vec<Seg> {
    /// Split `t` on `mark` into alternating plain / marked pieces when the marks pair
    /// up around non-blank text; `None` otherwise.
    fn pairs<'a>(t: &'a str, mark: &str) -> Option<Vec<&'a str>> {
        let parts: Vec<&str> = t.split(mark).collect();
        let ok = parts.len() > 1
            && parts.len() % 2 == 1
            && parts.iter().skip(1).step_by(2).all(|p| {
                !p.is_empty() && p.trim() == *p && !p.starts_with('*') && !p.ends_with('*')
            });
        ok.then_some(parts)
    }
    let mut out = Vec::new();
    let mut push = |kind: &'static str, text: &str| {
        if !text.is_empty() {
            out.push(Seg {
                kind,
                text: text.to_string(),
            });
        }
    };
    for (i, t) in s.split('`').enumerate() {
        if i % 2 == 1 {
            push("code", t);
            continue;
        }
        let strong = pairs(t, "**").unwrap_or_else(|| vec![t]);
        for (j, piece) in strong.iter().enumerate() {
            if j % 2 == 1 {
                push("strong", piece);
                continue;
            }
            match pairs(piece, "*") {
                Some(em) => {
                    for (k, e) in em.iter().enumerate() {
                        push(if k % 2 == 1 { "em" } else { "text" }, e);
                    }
                }
                None => push("text", piece),
            }
        }
    }
    out
}

/// A relative URL from path segments (each percent-encoded but for unreserved chars).
fn url(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| {
            p.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Serialize)]
struct Figure {
    name: String,
    png: String,
    csv: Option<String>,
}

#[derive(Serialize)]
struct Link {
    name: String,
    url: String,
}

/// Everything the templates show of one project. URLs are relative to the project page
/// (`book/`); the index adds `book/` or strips `../` itself through `index_*` fields.
#[derive(Serialize)]
struct ProjectView {
    name: String,
    number: u32,
    title: String,
    /// The question's paragraphs.
    question: Vec<Vec<Seg>>,
    look_for: Vec<Vec<Seg>>,
    source: String,
    /// ok, failed, skipped, by hand (an output folder the runner did not make), not run
    status: String,
    reason: String,
    wall: String,
    /// The figures and numbers shown come from a --quick run on the tiny random models.
    quick: bool,
    figures: Vec<Figure>,
    tables: Vec<Link>,
    summary: Option<String>,
    summary_cut: bool,
    summary_url: Option<String>,
    log_url: Option<String>,
    /// From the index: the project page, and the first figure.
    index_page: String,
    index_thumb: Option<String>,
}

#[derive(Serialize)]
struct Chapter {
    number: u32,
    title: String,
    projects: Vec<ProjectView>,
}

#[derive(Serialize)]
struct Counts {
    ok: usize,
    failed: usize,
    skipped: usize,
    other: usize,
}

/// Files in `dir` with extension `ext`, sorted by name.
fn files(dir: &Path, ext: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .filter(|n| n.ends_with(&format!(".{ext}")) && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn view(p: &Project, root: &Path, out_root: &Path, record: Option<&Record>) -> ProjectView {
    let doc = p.doc(root).unwrap_or_else(|e| ProjectDoc {
        title: p.name.clone(),
        question: vec![format!("({e:#})")],
        look_for: Vec::new(),
    });
    let dir = out_root.join(&p.name);
    let has_dir = dir.is_dir();
    let pngs = files(&dir, "png");
    let csvs = files(&dir, "csv");
    let stem = |f: &str| {
        f.rsplit_once('.')
            .map(|s| s.0.to_string())
            .unwrap_or_default()
    };
    let figures: Vec<Figure> = pngs
        .iter()
        .map(|f| {
            let s = stem(f);
            let csv = format!("{s}.csv");
            Figure {
                png: url(&["..", &p.name, f]),
                csv: csvs.contains(&csv).then(|| url(&["..", &p.name, &csv])),
                name: s,
            }
        })
        .collect();
    let tables = csvs
        .iter()
        .filter(|c| !pngs.contains(&format!("{}.png", stem(c))))
        .map(|c| Link {
            name: c.clone(),
            url: url(&["..", &p.name, c]),
        })
        .collect();
    let summary_path = dir.join("summary.txt");
    let summary_text = std::fs::read_to_string(&summary_path).ok();
    let (summary, summary_cut) = match &summary_text {
        Some(s) if s.len() > SUMMARY_MAX_BYTES => {
            let mut cut = SUMMARY_MAX_BYTES;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            (Some(s[..cut].to_string()), true)
        }
        Some(s) => (Some(s.clone()), false),
        None => (None, false),
    };
    let log_name = format!("{}.log", p.name);
    let log_url = out_root
        .join(BOOK_DIR)
        .join("logs")
        .join(&log_name)
        .is_file()
        .then(|| url(&["logs", &log_name]));
    let (status, reason, wall, quick) = match record {
        Some(r) => (
            r.status.clone(),
            r.reason.clone(),
            fmt_wall(Duration::from_secs_f64(r.wall_s.max(0.0))),
            r.figures_quick.unwrap_or(false),
        ),
        None if has_dir => (
            "by hand".to_string(),
            "an output folder from a run outside the runner".to_string(),
            String::new(),
            // a run by hand: its summary says when it was a --quick run
            summary_text
                .as_deref()
                .is_some_and(|s| s.contains("--quick")),
        ),
        None => ("not run".to_string(), String::new(), String::new(), false),
    };
    ProjectView {
        index_page: url(&[BOOK_DIR, &format!("{}.html", p.name)]),
        index_thumb: pngs.first().map(|f| url(&[&p.name, f])),
        name: p.name.clone(),
        number: p.number,
        title: doc.title,
        question: doc.question.iter().map(|q| inline(q)).collect(),
        look_for: doc.look_for.iter().map(|l| inline(l)).collect(),
        source: format!("{}/src/main.rs", p.rel_dir),
        status,
        reason,
        wall,
        quick: quick && has_dir,
        figures,
        tables,
        summary,
        summary_cut,
        summary_url: summary_text
            .is_some()
            .then(|| url(&["..", &p.name, "summary.txt"])),
        log_url,
    }
}

/// The `href` filter: a URL made by [`url`] (only unreserved characters, `%` escapes
/// and `/`) goes into an attribute as it is; anything else is escaped as usual.
fn href(s: String) -> Value {
    let plain = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b));
    if plain {
        Value::from_safe_string(s)
    } else {
        Value::from(s)
    }
}

fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.add_filter("href", href);
    env.add_template("base.html", include_str!("../templates/base.html"))?;
    env.add_template("index.html", include_str!("../templates/index.html"))?;
    env.add_template("project.html", include_str!("../templates/project.html"))?;
    Ok(env)
}

/// "2026-12-01 22:57 UTC" for seconds since 1970.
fn utc(secs: u64) -> String {
    // days since 1970-01-01 to a civil date (Howard Hinnant's algorithm)
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let t = secs % 86_400;
    format!("{y}-{m:02}-{d:02} {:02}:{:02} UTC", t / 3600, t % 3600 / 60)
}

/// Write `<out>/index.html` and one page per project in `<out>/book/`; returns the
/// index's path.
pub fn write(
    root: &Path,
    out_root: &Path,
    projects: &[Project],
    records: &Records,
) -> Result<PathBuf> {
    let env = environment()?;
    let pages = out_root.join(BOOK_DIR);
    std::fs::create_dir_all(&pages).with_context(|| format!("creating {}", pages.display()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let generated = utc(now);
    let mut chapters: Vec<Chapter> = Vec::new();
    let mut counts = Counts {
        ok: 0,
        failed: 0,
        skipped: 0,
        other: 0,
    };
    for p in projects {
        let v = view(p, root, out_root, records.get(&p.name));
        match v.status.as_str() {
            "ok" => counts.ok += 1,
            "failed" => counts.failed += 1,
            "skipped" => counts.skipped += 1,
            _ => counts.other += 1,
        }
        let page = env
            .get_template("project.html")?
            .render(minijinja::context! {
                p => Value::from(Serde(&v)),
                generated => &generated,
                home => "../index.html",
            })?;
        let path = pages.join(format!("{}.html", p.name));
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        match chapters.iter_mut().find(|c| c.number == p.chapter) {
            Some(c) => c.projects.push(v),
            None => chapters.push(Chapter {
                number: p.chapter,
                title: p.chapter_title.clone(),
                projects: vec![v],
            }),
        }
    }
    chapters.sort_by_key(|c| c.number);
    let any_quick = chapters.iter().flat_map(|c| &c.projects).any(|p| p.quick);
    let index = env
        .get_template("index.html")?
        .render(minijinja::context! {
            chapters => Value::from(Serde(&chapters)),
            counts => Value::from(Serde(&counts)),
            any_quick => any_quick,
            generated => &generated,
            home => "index.html",
        })?;
    let path = out_root.join("index.html");
    std::fs::write(&path, index).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_becomes_code_emphasis_and_strong() {
        let seg = |kind, text: &str| Seg {
            kind,
            text: text.into(),
        };
        assert_eq!(
            inline("why does `a * b` **break** on *real* logits?"),
            vec![
                seg("text", "why does "),
                seg("code", "a * b"),
                seg("text", " "),
                seg("strong", "break"),
                seg("text", " on "),
                seg("em", "real"),
                seg("text", " logits?"),
            ]
        );
        // stars that do not pair around text are kept
        assert_eq!(inline("2 * 3 = 6"), vec![seg("text", "2 * 3 = 6")]);
        assert_eq!(inline("a *b"), vec![seg("text", "a *b")]);
    }

    #[test]
    fn urls_are_percent_encoded_per_segment() {
        assert_eq!(url(&["..", "p 1", "a&b.png"]), "../p%201/a%26b.png");
        assert_eq!(url(&["book", "x.html"]), "book/x.html");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_661), "2000-02-29 01:01 UTC");
        assert_eq!(utc(1_798_761_599), "2026-12-31 23:59 UTC");
    }

    /// A made-up output folder: figures with CSVs, a table, a summary with markup to
    /// escape, a log; the pages show them all with working relative links.
    #[test]
    fn pages_show_what_is_on_disk_escaped() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path();
        let p = Project::from_member("chapters/ch04_output_logits/project16_softmax_distributions")
            .unwrap();
        let q = Project::from_member("chapters/ch02_tokenization/project01_tokenization_schemes")
            .unwrap();
        let d = out.join(&p.name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["fig_b.png", "fig_a.png"] {
            std::fs::write(d.join(f), b"png").unwrap();
        }
        std::fs::write(d.join("fig_a.csv"), "x").unwrap();
        std::fs::write(d.join("top10.csv"), "x").unwrap();
        std::fs::write(
            d.join("summary.txt"),
            "--quick: <b>tiny</b> & random\nmax p = 0.82\n",
        )
        .unwrap();
        std::fs::create_dir_all(out.join("book/logs")).unwrap();
        std::fs::write(out.join(format!("book/logs/{}.log", p.name)), "log").unwrap();
        let mut recs = Records::new();
        recs.insert(
            p.name.clone(),
            Record {
                status: "ok".into(),
                reason: String::new(),
                wall_s: 3.25,
                quick: true,
                figures_quick: Some(true),
                finished: 0,
            },
        );
        let root = crate::projects::workspace_root();
        let index = write(&root, out, &[q.clone(), p.clone()], &recs).unwrap();
        let html = std::fs::read_to_string(&index).unwrap();
        // chapters in book order, each project's title and question, status and wall time
        let c2 = html.find("Chapter 2").unwrap();
        let c4 = html.find("Chapter 4").unwrap();
        assert!(c2 < c4);
        assert!(html.contains("Softmax probability distributions"));
        assert!(html.contains("Three tokenization schemes"));
        assert!(html.contains("3.2 s") && html.contains("not run"), "{html}");
        assert!(
            html.contains("src=\"project16_softmax_distributions/fig_a.png\""),
            "{html}"
        );
        assert!(
            html.contains("tiny random"),
            "the --quick note is on the index"
        );
        let page =
            std::fs::read_to_string(out.join("book").join(format!("{}.html", p.name))).unwrap();
        // figures in name order, each with its CSV when there is one
        let a = page
            .find("../project16_softmax_distributions/fig_a.png")
            .unwrap();
        let b = page
            .find("../project16_softmax_distributions/fig_b.png")
            .unwrap();
        assert!(a < b);
        assert!(page.contains("href=\"../project16_softmax_distributions/fig_a.csv\""));
        assert!(!page.contains("fig_b.csv"));
        assert!(page.contains("href=\"../project16_softmax_distributions/top10.csv\""));
        assert!(page.contains("href=\"logs/project16_softmax_distributions.log\""));
        // the summary is shown escaped, never as markup
        assert!(
            page.contains("&lt;b&gt;tiny&lt;&#x2f;b&gt; &amp; random"),
            "{page}"
        );
        assert!(page.contains("max p = 0.82"));
        // the doc comment's code spans
        assert!(
            page.contains("<code>exp(z) &#x2f; Σ exp(z)</code>"),
            "{page}"
        );
        assert!(
            page.contains("tiny random"),
            "the --quick note is on the page"
        );
        // no network, no script
        for h in [&html, &page] {
            assert!(!h.contains("http://") && !h.contains("https://") && !h.contains("<script"));
        }
        // the project that did not run has a page too, without figures
        let qp =
            std::fs::read_to_string(out.join("book").join(format!("{}.html", q.name))).unwrap();
        assert!(qp.contains("not run") && !qp.contains("<img"));
    }
}
