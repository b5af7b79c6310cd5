//! A progress line on the terminal while a run goes (hidden when stderr is not a TTY), and a counter
//! of finished items other tasks can read.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Progress {
    bar: ProgressBar,
    done: AtomicU64,
}

impl Progress {
    /// A bar of `len` items titled `what`; invisible unless stderr is a terminal and `show` is set.
    pub fn new(what: &str, len: u64, show: bool) -> Progress {
        let bar = if show && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {per_sec} {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_prefix(what.to_owned());
        Progress {
            bar,
            done: AtomicU64::new(0),
        }
    }

    pub fn inc(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.bar.inc(1);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    pub fn message(&self, text: String) {
        self.bar.set_message(text);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
