//! The book's projects: which exist, in which chapter, and what each asks.
//!
//! **Where the list comes from.** The root `Cargo.toml`'s `members` list, read when the
//! runner is compiled (`include_str!`, so cargo rebuilds the runner whenever the list
//! changes). A project is what cargo can build: a folder under `chapters/` that is not a
//! member yet has no binary to run, and a member always has one. A test checks that the
//! list and the `chapters/` folders agree, so a project added to one and not the other
//! is caught. The question and the title are read from each project's `src/main.rs` at
//! run time, so the gallery shows the text as it is now.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// The root manifest, as the runner was compiled against it.
const ROOT_MANIFEST: &str = include_str!("../../Cargo.toml");

/// The workspace root (the folder holding the root `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// One project of the book.
#[derive(Debug, Clone)]
pub struct Project {
    /// The package and binary name, e.g. `project16_softmax_distributions`.
    pub name: String,
    /// The project's number in the book (16).
    pub number: u32,
    /// The chapter number (4).
    pub chapter: u32,
    /// The chapter's title, from its folder name (`ch04_output_logits` → "Output logits").
    pub chapter_title: String,
    /// The project folder relative to the workspace root.
    pub rel_dir: String,
}

impl Project {
    /// From a `members` entry `chapters/chNN_<topic>/projectNN_<slug>`; `None` for
    /// members that are not book projects (`common`, `tests`, ...).
    pub fn from_member(member: &str) -> Option<Project> {
        let mut parts = member.trim_end_matches('/').split('/');
        let (root, ch, proj) = (parts.next()?, parts.next()?, parts.next()?);
        if root != "chapters" || parts.next().is_some() {
            return None;
        }
        let (ch_num, ch_topic) = ch.strip_prefix("ch")?.split_once('_')?;
        let (p_num, _slug) = proj.strip_prefix("project")?.split_once('_')?;
        // "output_logits" → "Output logits"; acronyms stay capitals ("mlp" → "MLP")
        let words: Vec<String> = ch_topic
            .split('_')
            .enumerate()
            .map(|(i, w)| match w {
                "mlp" | "llm" | "llms" | "gpt" => w.to_uppercase().replace("LLMS", "LLMs"),
                _ if i == 0 => w.get(0..1).unwrap_or("").to_uppercase() + w.get(1..).unwrap_or(""),
                _ => w.to_string(),
            })
            .collect();
        let title = words.join(" ");
        Some(Project {
            name: proj.to_string(),
            number: p_num.parse().ok()?,
            chapter: ch_num.parse().ok()?,
            chapter_title: title,
            rel_dir: member.trim_end_matches('/').to_string(),
        })
    }

    /// `src/main.rs` of the project.
    pub fn main_rs(&self, root: &Path) -> PathBuf {
        root.join(&self.rel_dir).join("src").join("main.rs")
    }

    /// The title and question from the doc comment of the project's `main.rs`.
    pub fn doc(&self, root: &Path) -> Result<ProjectDoc> {
        let path = self.main_rs(root);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the doc comment of {}", path.display()))?;
        Ok(ProjectDoc::parse(&text))
    }
}

/// The `members` entries of a `Cargo.toml` (the `[workspace]` table's list).
pub fn members(manifest: &str) -> Result<Vec<String>> {
    // the line `members = [` (not a comment or a key that only contains the word)
    let mut offset = 0;
    let mut start = None;
    for line in manifest.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("members") && t["members".len()..].trim_start().starts_with('=') {
            start = Some(offset);
            break;
        }
        offset += line.len();
    }
    let Some(start) = start else {
        bail!("the root Cargo.toml has no members list");
    };
    let rest = &manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        bail!("the root Cargo.toml's members list is not a [ ... ] list");
    };
    if close < open {
        bail!("the root Cargo.toml's members list is not a [ ... ] list");
    }
    let mut out = Vec::new();
    for line in rest[open + 1..close].lines() {
        // drop comments, then take every quoted string on the line
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split('"');
        it.next();
        while let (Some(s), Some(_)) = (it.next(), it.next()) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Every book project in the workspace, in book order (by project number).
pub fn all() -> Vec<Project> {
    let mut v: Vec<Project> = members(ROOT_MANIFEST)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| Project::from_member(m))
        .collect();
    v.sort_by_key(|p| p.number);
    v
}

/// What the gallery shows of a project's doc comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectDoc {
    /// "Softmax probability distributions" (from `# Project 16 — ...`).
    pub title: String,
    /// The `**Question.**` paragraph, without that label, and the paragraphs after it
    /// up to the next labelled one (`**What to look for.**`) or `Run:`.
    pub question: Vec<String>,
    /// The items of the `**What to look for.**` list.
    pub look_for: Vec<String>,
}

impl ProjectDoc {
    /// Read the `//!` lines at the top of a `main.rs`.
    pub fn parse(main_rs: &str) -> ProjectDoc {
        let lines: Vec<&str> = main_rs
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .map(|l| {
                let l = l.trim_start_matches("//!");
                l.strip_prefix(' ').unwrap_or(l)
            })
            .collect();
        let mut doc = ProjectDoc::default();
        if let Some(first) = lines.first().and_then(|l| l.strip_prefix("# ")) {
            // "Project 16 — Softmax ..." → "Softmax ..."
            doc.title = match first.split_once('—') {
                Some((_, t)) => t.trim().to_string(),
                None => first.trim().to_string(),
            };
        }
        // paragraphs: runs of non-blank lines
        let mut paragraphs: Vec<Vec<&str>> = vec![Vec::new()];
        for l in &lines {
            if l.trim().is_empty() {
                paragraphs.push(Vec::new());
            } else if let Some(p) = paragraphs.last_mut() {
                p.push(l);
            }
        }
        let join = |first: &str, rest: &[&str]| {
            std::iter::once(first.trim())
                .chain(rest.iter().map(|l| l.trim()))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut in_question = false;
        for p in paragraphs.iter().filter(|p| !p.is_empty()) {
            let head = p[0].trim_start();
            if head.starts_with("**") || head.starts_with("Run:") || head.starts_with('#') {
                in_question = false;
            }
            if let Some(q) = head.strip_prefix("**Question.**") {
                doc.question.push(join(q, &p[1..]));
                in_question = true;
            } else if in_question {
                doc.question.push(join(p[0], &p[1..]));
            } else if head.starts_with("**What to look for.**") {
                for l in &p[1..] {
                    let t = l.trim_start();
                    if let Some(item) = t.strip_prefix("- ") {
                        doc.look_for.push(item.trim().to_string());
                    } else if let Some(last) = doc.look_for.last_mut() {
                        last.push(' ');
                        last.push_str(t.trim());
                    }
                }
            }
        }
        doc
    }
}

/// The projects a run asks for: all of them, one chapter's, or a list of numbers or
/// names (`16,31` or `project16_softmax_distributions`).
pub fn select(all: &[Project], chapter: Option<u32>, list: Option<&str>) -> Result<Vec<Project>> {
    if let Some(ch) = chapter {
        let v: Vec<Project> = all.iter().filter(|p| p.chapter == ch).cloned().collect();
        if v.is_empty() {
            let mut chapters: Vec<u32> = all.iter().map(|p| p.chapter).collect();
            chapters.dedup();
            bail!(
                "no project of chapter {ch} is in the workspace yet; chapters with projects: {}",
                chapters
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return Ok(v);
    }
    let Some(list) = list else {
        return Ok(all.to_vec());
    };
    let mut out: Vec<Project> = Vec::new();
    for want in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let found = match want.parse::<u32>() {
            Ok(n) => all.iter().find(|p| p.number == n),
            Err(_) => all.iter().find(|p| p.name == want),
        };
        let Some(p) = found else {
            bail!(
                "--projects: no project {want:?} in the workspace (give numbers such as 16,31 or \
                 names such as project16_softmax_distributions; --list shows them)"
            );
        };
        if !out.iter().any(|o| o.name == p.name) {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        bail!("--projects is empty: give numbers such as 16,31");
    }
    out.sort_by_key(|p| p.number);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_list_is_parsed_with_comments_and_odd_spacing() {
        let m = r#"
[workspace]
resolver = "2"
members = [
    "common",  # the shared crate
    # "chapters/ch09_x/project99_commented_out",
    "chapters/ch02_tokenization/project01_tokenization_schemes", "tests",
]
[workspace.dependencies]
x = { version = "1", features = ["a"] }
"#;
        assert_eq!(
            members(m).unwrap(),
            vec![
                "common",
                "chapters/ch02_tokenization/project01_tokenization_schemes",
                "tests"
            ]
        );
        assert!(members("[workspace]\nresolver = \"2\"\n").is_err());
    }

    #[test]
    fn a_member_path_names_chapter_and_project() {
        let p =
            Project::from_member("chapters/ch05_transformer_outputs/project31_logit_lens").unwrap();
        assert_eq!(p.name, "project31_logit_lens");
        assert_eq!((p.number, p.chapter), (31, 5));
        assert_eq!(p.chapter_title, "Transformer outputs");
        let m = Project::from_member("chapters/ch07_mlp/project45_x").unwrap();
        assert_eq!(m.chapter_title, "MLP");
        assert!(Project::from_member("common").is_none());
        assert!(Project::from_member("chapters/notes").is_none());
        assert!(Project::from_member("chapters/chXX_a/project01_b").is_none());
    }

    /// The members list and the folders under chapters/ agree: every project folder is
    /// a member (else cargo cannot build it) and every member exists.
    #[test]
    fn members_and_chapter_folders_agree() {
        let root = workspace_root();
        let listed: Vec<String> = all().iter().map(|p| p.rel_dir.clone()).collect();
        assert!(listed.len() >= 3, "only {} projects found", listed.len());
        let mut on_disk = Vec::new();
        for ch in std::fs::read_dir(root.join("chapters")).unwrap().flatten() {
            for p in std::fs::read_dir(ch.path()).unwrap().flatten() {
                if p.path().join("Cargo.toml").is_file() {
                    on_disk.push(format!(
                        "chapters/{}/{}",
                        ch.file_name().to_string_lossy(),
                        p.file_name().to_string_lossy()
                    ));
                }
            }
        }
        for d in &on_disk {
            assert!(
                listed.contains(d),
                "{d} is not in the root Cargo.toml's members"
            );
        }
        for l in &listed {
            assert!(on_disk.contains(l), "member {l} has no Cargo.toml");
        }
    }

    /// Every project's doc comment has a title and a question the gallery can show.
    #[test]
    fn every_project_has_a_title_and_a_question() {
        let root = workspace_root();
        for p in all() {
            let d = p.doc(&root).unwrap();
            assert!(!d.title.is_empty(), "{}: no `# Project N — title`", p.name);
            let q = d.question.join(" ");
            assert!(
                q.len() > 20 && !q.contains("**Question"),
                "{}: question {:?}",
                p.name,
                d.question
            );
        }
    }

    #[test]
    fn doc_comment_paragraphs_are_found() {
        let src = "//! # Project 16 — Softmax probability distributions\n\
                   //!\n\
                   //! **Question.** How does softmax turn\n\
                   //! a vector into `p`:\n\
                   //!\n\
                   //! `p = softmax(z)`.\n\
                   //!\n\
                   //! **What to look for.**\n\
                   //! - Part 1: sums to one\n\
                   //!   and favours the largest.\n\
                   //! - Part 2: temperature.\n\
                   //!\n\
                   //! Run: `cargo run`.\n\
                   \n\
                   //! not part of the header\n\
                   use x;\n";
        let d = ProjectDoc::parse(src);
        assert_eq!(d.title, "Softmax probability distributions");
        assert_eq!(
            d.question,
            [
                "How does softmax turn a vector into `p`:",
                "`p = softmax(z)`."
            ]
        );
        assert_eq!(
            d.look_for,
            vec![
                "Part 1: sums to one and favours the largest.",
                "Part 2: temperature."
            ]
        );
    }

    #[test]
    fn selection_by_chapter_numbers_and_names() {
        let all: Vec<Project> = [
            "chapters/ch02_t/project01_a",
            "chapters/ch02_t/project02_b",
            "chapters/ch04_o/project16_c",
        ]
        .iter()
        .filter_map(|m| Project::from_member(m))
        .collect();
        let names = |v: Vec<Project>| v.into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(
            names(select(&all, Some(2), None).unwrap()),
            ["project01_a", "project02_b"]
        );
        assert_eq!(
            names(select(&all, None, Some("16, 1,project16_c")).unwrap()),
            ["project01_a", "project16_c"]
        );
        assert_eq!(names(select(&all, None, None).unwrap()).len(), 3);
        let e = select(&all, None, Some("7")).unwrap_err().to_string();
        assert!(e.contains("\"7\""), "{e}");
        let e = select(&all, Some(9), None).unwrap_err().to_string();
        assert!(e.contains("chapter 9") && e.contains("2, 4"), "{e}");
    }
}
