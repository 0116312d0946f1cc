//! Progress bars (indicatif) with one look across the projects. They draw on stderr
//! and hide themselves when stderr is not a terminal (tests, CI logs).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for a loop of `n` steps.
pub fn bar(n: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(n);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:<24} [{bar:40}] {pos}/{len} ({elapsed} elapsed, ~{eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// A spinner for a step of unknown length (loading a model).
pub fn spinner(what: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}
