//! Progress on a terminal for long commands (`fim baseline`, `fim check`, `rules import-sca`).
//!
//! Bars draw on stderr only when it is a terminal, so pipes, files and `--json` runs stay clean.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

/// A bar over `len` items (`unit` names them), or a spinner when `len` is `None`; hidden unless
/// `on` (which defaults to "stderr is a terminal").
pub(crate) fn bar(len: Option<u64>, unit: &str, on: Option<bool>) -> ProgressBar {
    use std::io::IsTerminal;
    if !on.unwrap_or_else(|| std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let (pb, template) = match len {
        Some(n) => (
            ProgressBar::new(n),
            format!("{{bar:30}} {{pos}}/{{len}} {unit} {{elapsed}} {{wide_msg}}"),
        ),
        None => (
            ProgressBar::new_spinner(),
            "{spinner} {elapsed} {wide_msg}".to_owned(),
        ),
    };
    // The templates above are constants of this file; a bad one is a bug caught by the tests.
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style);
    }
    pb.set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
    // Dropped on an early error return, it clears its line so the error starts on a clean one.
    pb.with_finish(ProgressFinish::AndClear)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_off_means_hidden() {
        for len in [Some(3), None] {
            assert!(bar(len, "files", Some(false)).is_hidden());
            // Forced on: the style must have parsed (a failed parse leaves the default style,
            // which has no `{pos}`); drawing to a non-terminal stays harmless.
            let pb = bar(len, "files", Some(true));
            pb.inc(1);
            pb.finish_and_clear();
        }
        for t in [
            "{bar:30} {pos}/{len} files {elapsed} {wide_msg}",
            "{spinner} {elapsed} {wide_msg}",
        ] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
