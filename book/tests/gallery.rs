//! The runner end to end, and its gallery in a real browser.
//!
//! `quick_run_and_gallery_in_chromium` runs the book's runner (`CARGO_BIN_EXE_book`) in
//! `--quick` mode over three fast projects of three chapters, with the project binaries
//! of this test's own profile (`--bin-dir target/<profile>`), into
//! `target/book-gallery-test/`, which it leaves there to look at. It checks the final
//! table, the records and the logs against the files the projects wrote, then opens
//! every page of the gallery in headless Chromium: every `<img>` must have loaded
//! (natural width > 0), every figure of a project must be on its page, and every link
//! must point to a file that exists. It writes screenshots of the index and of a project
//! page (`gallery.png`, `gallery-project.png`) beside the gallery.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Where it is absent
//! the browser half is skipped with a message; under CI (`CI` set) it is a failure.
//!
//! `failed_and_skipped_runs_are_told_apart` checks the other two ends of a run: a
//! project whose model is not available offline is skipped (exit code 0), a project
//! given a bad flag fails (exit code ≠ 0, its error in the table and its log).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Three projects whose --quick runs take about a second each in debug builds, one per
/// chapter.
const PROJECTS: [&str; 3] = [
    "project01_tokenization_schemes",
    "project10_sequential_number_cosine_similarity",
    "project31_logit_lens",
];

/// `target/<profile>`: this test binary lives in its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps")
        .to_path_buf()
}

/// Build the projects' binaries of this profile (a no-op after `cargo test --workspace`,
/// which builds every binary) and return their folder.
fn project_binaries(names: &[&str]) -> PathBuf {
    let dir = profile_dir();
    if names.iter().all(|n| dir.join(n).is_file()) {
        return dir;
    }
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(p) => p.to_string(),
        None => panic!("no profile folder above {}", dir.display()),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["build", "--profile", &profile]);
    for n in names {
        cmd.args(["-p", n]);
    }
    let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
    assert!(
        ok && names.iter().all(|n| dir.join(n).is_file()),
        "the project binaries {names:?} are not in {} and `{cargo} build` could not make them: \
         run `cargo test --workspace` (it builds every binary) or `cargo build -p {}`",
        dir.display(),
        names.join(" -p ")
    );
    dir
}

/// Run the runner with `args`; its environment gets `env` too.
fn book(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_book"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running the book runner")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The table row of `project` in the runner's stdout.
fn row<'a>(stdout: &'a str, project: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{project} ")))
        .unwrap_or_else(|| panic!("no table row for {project} in:\n{stdout}"))
}

/// PNG file names in `dir`.
fn pngs(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| n.ends_with(".png"))
        .collect()
}

/// The title in the first line of a project's main.rs (`//! # Project 1 — Title`).
fn title_of(project: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../chapters");
    for ch in std::fs::read_dir(&root).unwrap().flatten() {
        let main = ch.path().join(project).join("src/main.rs");
        if let Ok(src) = std::fs::read_to_string(&main) {
            let first = src.lines().next().unwrap_or("");
            return first.split('—').nth(1).unwrap_or("").trim().to_string();
        }
    }
    panic!("no main.rs for {project}");
}

#[test]
fn quick_run_and_gallery_in_chromium() {
    let t0 = Instant::now();
    let bins = project_binaries(&PROJECTS);
    let out = profile_dir()
        .parent()
        .expect("target/ above the profile folder")
        .join("book-gallery-test");
    let _ = std::fs::remove_dir_all(&out);
    let o = book(
        &[
            "--quick",
            "--projects",
            "1,10,31",
            "--device",
            "cpu",
            "--bin-dir",
            bins.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = text(&o.stdout);
    assert!(
        o.status.success(),
        "the runner failed:\n{stdout}\n{}",
        text(&o.stderr)
    );

    // The table: each project ok with as many figures as PNGs in its output folder.
    let records: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("book/runs.json")).unwrap())
            .unwrap();
    for p in PROJECTS {
        let figures = pngs(&out.join(p));
        assert!(!figures.is_empty(), "{p} wrote no PNG");
        let r = row(&stdout, p);
        let cells: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(cells[1], "ok", "{r}");
        assert_eq!(
            cells.last().unwrap().parse::<usize>().unwrap(),
            figures.len(),
            "{r}"
        );
        assert!(r.contains(" s "), "no wall time in {r}");
        let rec = &records[p];
        assert_eq!(rec["status"], "ok", "{rec}");
        assert_eq!(rec["figures_quick"], true, "{rec}");
        assert!(rec["wall_s"].as_f64().unwrap() > 0.0, "{rec}");
        // the project's stdout went to its log, not over the bar
        let log = std::fs::read_to_string(out.join(format!("book/logs/{p}.log"))).unwrap();
        assert!(
            log.contains("wrote ") && log.contains("exit code 0"),
            "{log}"
        );
        assert!(
            !stdout.contains("wrote "),
            "a project's output reached the runner's stdout"
        );
    }
    assert!(stdout.contains("3 ok, 0 failed, 0 skipped"), "{stdout}");

    // The pages, as files: every chosen project's title, the --quick note.
    let index = out.join("index.html");
    let html = std::fs::read_to_string(&index).unwrap();
    for p in PROJECTS {
        let title = title_of(p);
        assert!(
            !title.is_empty() && html.contains(&title),
            "{title:?} not on the index"
        );
        let page = std::fs::read_to_string(out.join(format!("book/{p}.html"))).unwrap();
        assert!(page.contains("from a --quick run"), "{p}: no --quick note");
        assert!(page.contains("summary.txt"), "{p}: no summary");
    }

    // The browser.
    let Some(chromium) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("CI: chromium is not installed (.ci/run installs Debian's chromium package)");
        }
        eprintln!(
            "skipped: chromium not installed (apt-get install chromium); the gallery is in {}",
            out.display()
        );
        return;
    };
    let mut pages = vec![index.clone()];
    pages.extend(PROJECTS.iter().map(|p| out.join(format!("book/{p}.html"))));
    for page in &pages {
        let (imgs, links) = check_in_browser(&chromium, page);
        let source = std::fs::read_to_string(page).unwrap();
        let n_img = source.matches("<img ").count();
        assert!(n_img > 0, "{} has no image", page.display());
        assert_eq!(
            imgs.len(),
            n_img,
            "{}: the browser saw {imgs:?}",
            page.display()
        );
        for (width, src) in &imgs {
            assert!(*width > 0, "{}: {src} did not load", page.display());
        }
        assert!(!links.is_empty(), "{} has no link", page.display());
        for l in &links {
            let path = file_path(l)
                .unwrap_or_else(|| panic!("{}: link {l} leaves the folder", page.display()));
            assert!(
                path.exists(),
                "{}: link {l} points to nothing",
                page.display()
            );
        }
        // a project page shows every figure its project wrote
        if let Some(p) = PROJECTS
            .iter()
            .find(|p| page.ends_with(format!("{p}.html")))
        {
            let shown: BTreeSet<String> = imgs
                .iter()
                .filter_map(|(_, s)| s.rsplit('/').next().map(String::from))
                .collect();
            assert_eq!(shown, pngs(&out.join(p)), "{p}: figures on its page");
        }
    }
    let shot = out.join("gallery.png");
    screenshot(&chromium, &index, &shot, "1280,2400");
    let page_shot = out.join("gallery-project.png");
    screenshot(
        &chromium,
        &out.join(format!("book/{}.html", PROJECTS[2])),
        &page_shot,
        "1280,2000",
    );
    for s in [&shot, &page_shot] {
        let (w, _) = common::testing::assert_png(s).unwrap();
        assert_eq!(w, 1280, "{}", s.display());
    }
    eprintln!(
        "gallery {} checked in {} ({:.1} s); screenshots {} and {}",
        index.display(),
        chromium.display(),
        t0.elapsed().as_secs_f64(),
        shot.display(),
        page_shot.display()
    );
}

#[test]
fn failed_and_skipped_runs_are_told_apart() {
    let bins = project_binaries(&PROJECTS[..2]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let bin_dir = bins.to_str().unwrap();
    let out_dir = out.to_str().unwrap();
    // The book's own model of project 10 (gpt2), offline with an empty cache: skipped.
    let empty = tmp.path().join("empty-cache");
    std::fs::create_dir_all(&empty).unwrap();
    let o = book(
        &[
            "--projects",
            "10",
            "--bin-dir",
            bin_dir,
            "--out-dir",
            out_dir,
        ],
        &[
            ("HF_HUB_OFFLINE", Path::new("1")),
            ("HF_HOME", &empty),
            ("HF_HUB_CACHE", &empty.join("hub")),
            ("ML4LLM_CACHE", &empty),
        ],
    );
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "a skip is not a failure:\n{stdout}");
    let r = row(&stdout, PROJECTS[1]);
    assert!(
        r.contains("skipped: model \"gpt2\" is not available offline"),
        "{r}"
    );
    assert!(stdout.contains("0 ok, 0 failed, 1 skipped"), "{stdout}");

    // A bad --device: failed, the reason in the table, the error in the log, exit ≠ 0.
    let o = book(
        &[
            "--quick",
            "--projects",
            "1",
            "--device",
            "tpu",
            "--bin-dir",
            bin_dir,
            "--out-dir",
            out_dir,
        ],
        &[],
    );
    let stdout = text(&o.stdout);
    assert!(
        !o.status.success(),
        "a failed project must fail the run:\n{stdout}"
    );
    let r = row(&stdout, PROJECTS[0]);
    assert!(
        r.contains("failed: --device \"tpu\" is not one of auto, cpu, cuda, cuda:N"),
        "{r}"
    );
    assert!(stdout.contains("0 ok, 1 failed, 0 skipped"), "{stdout}");
    let log = std::fs::read_to_string(out.join(format!("book/logs/{}.log", PROJECTS[0]))).unwrap();
    assert!(log.contains("Error: --device \"tpu\""), "{log}");
    // both runs are in the records, and the gallery shows them
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("badge skipped") && html.contains("badge failed"));
}

/// Chromium, where it is installed.
fn chromium() -> Option<PathBuf> {
    let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Run headless Chromium with `args` (a fresh profile folder each time), at most 60 s.
fn run_chromium(chromium: &Path, args: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("waiting for chromium").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("chromium's output")
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().unwrap().display())
}

/// The check the browser runs (test only, on a copy of the page): once the page has
/// loaded, one line per image (natural width, URL) and per link (resolved URL).
const CHECK: &str = r#"<script>
window.addEventListener('load', function () {
  var out = [];
  var imgs = document.images;
  for (var i = 0; i < imgs.length; i++) out.push('IMG ' + imgs[i].naturalWidth + ' ' + imgs[i].currentSrc);
  var links = document.querySelectorAll('a[href], link[href]');
  for (var j = 0; j < links.length; j++) out.push('LINK ' + links[j].href);
  var pre = document.createElement('pre');
  pre.id = 'book-check';
  pre.textContent = out.join('\n') + '\nDONE';
  document.body.appendChild(pre);
});
</script>
"#;

/// Open a copy of `page` with the check in it (beside the page, so its relative URLs
/// resolve the same) and return its images (natural width, URL) and link URLs.
fn check_in_browser(chromium: &Path, page: &Path) -> (Vec<(u32, String)>, Vec<String>) {
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("</body>"), "{}", page.display());
    let copy = page.with_file_name(format!(
        ".check-{}",
        page.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(
        &copy,
        html.replacen("</body>", &format!("{CHECK}</body>"), 1),
    )
    .unwrap();
    let o = run_chromium(
        chromium,
        &[
            "--virtual-time-budget=5000".into(),
            "--dump-dom".into(),
            file_url(&copy),
        ],
    );
    std::fs::remove_file(&copy).unwrap();
    let dom = text(&o.stdout);
    let start = dom.find("<pre id=\"book-check\">").unwrap_or_else(|| {
        panic!(
            "{}: the check did not run; chromium said:\n{}",
            page.display(),
            text(&o.stderr)
        )
    });
    let body = &dom[start + "<pre id=\"book-check\">".len()..];
    let body = &body[..body.find("</pre>").expect("end of the check")];
    let body = body
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    assert!(body.ends_with("DONE"), "{body}");
    let mut imgs = Vec::new();
    let mut links = Vec::new();
    for l in body.lines() {
        if let Some(rest) = l.strip_prefix("IMG ") {
            let (w, src) = rest.split_once(' ').unwrap_or((rest, ""));
            imgs.push((w.parse().unwrap(), src.to_string()));
        } else if let Some(rest) = l.strip_prefix("LINK ") {
            links.push(rest.to_string());
        }
    }
    (imgs, links)
}

/// The local path of a `file://` URL (fragment and query dropped, %XX decoded); `None`
/// for any other scheme.
fn file_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file://")?;
    let rest = rest.split(['#', '?']).next().unwrap_or("");
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&rest[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

fn screenshot(chromium: &Path, page: &Path, png: &Path, size: &str) {
    let _ = std::fs::remove_file(png);
    let o = run_chromium(
        chromium,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={size}"),
            file_url(page),
        ],
    );
    assert!(
        png.is_file(),
        "no screenshot {}; chromium said:\n{}",
        png.display(),
        text(&o.stderr)
    );
}
