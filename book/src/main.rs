//! # The book in one command
//!
//! `cargo run --release -p book -- [--quick] [--chapter N] [--projects 16,31] [--device D]`
//! builds the chosen projects' release binaries (one `cargo build --release`), runs them
//! one after another with a progress bar, goes on past a project that fails, and ends
//! with a table: project, status (ok / failed and why / skipped because a model or data
//! set is not available offline), wall time, figures written. It exits non-zero when a
//! project failed (a skip is not a failure).
//!
//! Each project writes its usual output folder (`outputs/<project>/`); the runner keeps
//! each run's stdout and stderr in `outputs/book/logs/<project>.log` (nothing of theirs
//! is printed over the bar) and its status in `outputs/book/runs.json`, and after every
//! project it rewrites the gallery: `outputs/index.html` and a page per project in
//! `outputs/book/`, static HTML that works from `file://`.
//!
//! `--bin-dir DIR` runs binaries already built (e.g. `target/debug` after
//! `cargo test --workspace`) instead of building; `--gallery` only rewrites the pages.

mod gallery;
mod projects;
mod runner;

use anyhow::{Context, Result};
use clap::Parser;
use runner::{RunOptions, RunResult, Status};
use std::path::PathBuf;
use std::time::Instant;

/// Run the book's projects one after another and browse their figures in
/// outputs/index.html.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Run every project in --quick mode: the tiny random test models, offline
    /// (HF_HUB_OFFLINE=1), seconds each. Their numbers mean nothing.
    #[arg(long)]
    quick: bool,

    /// Only the projects of this chapter (2 = tokenization, 3 = embeddings, ...).
    #[arg(long, conflicts_with = "projects")]
    chapter: Option<u32>,

    /// Only these projects: numbers or names, comma-separated (16,31).
    #[arg(long)]
    projects: Option<String>,

    /// Passed to every project: auto, cpu, cuda or cuda:N (default: each project's auto).
    #[arg(long)]
    device: Option<String>,

    /// Folder of the outputs and the gallery.
    #[arg(long, default_value = "outputs")]
    out_dir: PathBuf,

    /// Run the binaries in this folder (named after the projects) instead of building
    /// release binaries with cargo.
    #[arg(long)]
    bin_dir: Option<PathBuf>,

    /// Only rewrite the gallery from what is in --out-dir; run nothing.
    #[arg(long)]
    gallery: bool,

    /// List the projects in the workspace and exit.
    #[arg(long)]
    list: bool,

    /// Flags after `--` go to every project (e.g. `-- --seed 1`).
    #[arg(last = true)]
    extra: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let root = projects::workspace_root();
    let all = projects::all();
    if args.list {
        for p in &all {
            let title = p.doc(&root).map(|d| d.title).unwrap_or_default();
            println!("{:>2}  ch{}  {:<45} {title}", p.number, p.chapter, p.name);
        }
        return Ok(());
    }
    let chosen = projects::select(&all, args.chapter, args.projects.as_deref())?;
    let out_root = args.out_dir.clone();
    let book = out_root.join(gallery::BOOK_DIR);
    let logs = book.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| {
        format!(
            "cannot create {}: pass --out-dir a folder you can write to",
            logs.display()
        )
    })?;
    let records_path = book.join("runs.json");
    let mut records = runner::load_records(&records_path);
    if args.gallery {
        let index = gallery::write(&root, &out_root, &all, &records)?;
        println!("gallery: {}", index.display());
        return Ok(());
    }

    let bins = match &args.bin_dir {
        Some(dir) => runner::prebuilt(dir, &chosen)?,
        None => runner::build_release(&root, &chosen)?,
    };
    let opts = RunOptions {
        quick: args.quick,
        device: args.device.clone(),
        extra: args.extra.clone(),
    };
    let start = Instant::now();
    let pb = common::progress::bar(chosen.len() as u64, "the book");
    let mut results: Vec<RunResult> = Vec::new();
    for (i, p) in chosen.iter().enumerate() {
        pb.set_message(format!("project{:02}", p.number));
        let r = runner::run_one(
            p,
            bins.get(&p.name).map(PathBuf::as_path),
            &opts,
            &out_root,
            &logs,
        )?;
        runner::record(&mut records, &r, args.quick);
        runner::save_records(&records_path, &records)?;
        gallery::write(&root, &out_root, &all, &records)?;
        let line = format!(
            "[{}/{}] {}: {} in {}{}",
            i + 1,
            chosen.len(),
            p.name,
            r.status.word(),
            runner::fmt_wall(r.wall),
            match &r.status {
                Status::Ok => format!(
                    ", {} figure{}",
                    r.figures,
                    if r.figures == 1 { "" } else { "s" }
                ),
                s => format!(": {}", runner::shorten(s.reason(), 100)),
            }
        );
        if pb.is_hidden() {
            eprintln!("{line}");
        } else {
            pb.println(line);
        }
        pb.inc(1);
        results.push(r);
    }
    pb.finish_and_clear();
    let index = gallery::write(&root, &out_root, &all, &records)?;

    println!("\n{}\n", runner::table(&results));
    let count = |w: &str| results.iter().filter(|r| r.status.word() == w).count();
    let failed: Vec<&RunResult> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Failed(_)))
        .collect();
    println!(
        "{} ok, {} failed, {} skipped; {} figures; total wall time {}{}",
        count("ok"),
        failed.len(),
        count("skipped"),
        results.iter().map(|r| r.figures).sum::<usize>(),
        runner::fmt_wall(start.elapsed()),
        if args.quick {
            " (--quick: tiny random models, the numbers mean nothing)"
        } else {
            ""
        }
    );
    for r in &failed {
        println!(
            "\n{} failed; the end of its log ({}):",
            r.project,
            r.log.display()
        );
        for l in &r.stderr_tail {
            println!("    {l}");
        }
    }
    println!("\ngallery: {}", index.display());
    if !failed.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
