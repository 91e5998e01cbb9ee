//! Progress bars for commands that may run for more than a few seconds.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps on standard error; hidden when the command prints
/// JSON (`quiet`), so scripts read clean output.
pub fn bar(len: u64, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A spinner for work of unknown length; hidden when `quiet`.
pub fn spinner(quiet: bool) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    if quiet {
        spinner.set_draw_target(ProgressDrawTarget::hidden());
    }
    spinner
}
