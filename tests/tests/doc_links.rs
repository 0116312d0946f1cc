//! Every relative link in README.md and docs/*.md points at a file or folder that exists
//! (reference material moved out of the README must stay reachable from it), and every
//! page in docs/ is linked from the README.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The targets of Markdown links `[text](target)` in `text`, outside code spans and fences.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop inline code spans so `a](b)` inside backticks is not read as a link.
        let mut plain = String::new();
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                plain.push(c);
            }
        }
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            match after.find(')') {
                Some(j) => {
                    out.push(after[..j].trim().to_string());
                    rest = &after[j + 1..];
                }
                None => break,
            }
        }
    }
    out
}

fn is_external(target: &str) -> bool {
    target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("mailto:")
        || target.starts_with('#')
}

#[test]
fn relative_links_resolve() {
    let root = workspace();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    assert!(!docs.is_empty(), "docs/ holds no pages");
    pages.extend(docs.iter().cloned());

    let mut checked = 0;
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let dir = page.parent().unwrap();
        for target in link_targets(&text) {
            if is_external(&target) {
                continue;
            }
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() {
                continue;
            }
            checked += 1;
            // ../shared/specs is the read-only sibling of the workspace: resolve it as
            // written, like every other link.
            if !dir.join(path).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    eprintln!("{checked} relative links checked in {} pages", pages.len());
    assert!(checked >= docs.len(), "only {checked} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    // Every docs page is reachable from the front page.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let linked = link_targets(&readme);
    for d in &docs {
        let rel = format!("docs/{}", d.file_name().unwrap().to_string_lossy());
        assert!(
            linked
                .iter()
                .any(|t| t.split('#').next() == Some(rel.as_str())),
            "README.md does not link {rel}"
        );
    }
}

#[test]
fn link_parser_finds_links_and_skips_code() {
    let t =
        "see [a](docs/a.md) and `[b](nope.md)`\n```\n[c](fenced.md)\n```\n[d](https://x) [e](#top)";
    assert_eq!(
        link_targets(t),
        vec!["docs/a.md", "https://x", "#top"],
        "links outside code, in order"
    );
}
