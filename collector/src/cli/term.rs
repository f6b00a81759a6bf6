//! Terminal safety of the CLI's output: agent-supplied text (host names, package names, paths,
//! rule ids, alert titles) must never reach a terminal raw.
//!
//! A hostile agent can name its host `pc\x1b]52;c;…\x07` (an OSC sequence that rewrites the
//! clipboard), or put `\n` and a fake row into a package name. Every line of human output goes
//! through [`escape`] (by the [`outln!`] and [`errln!`] macros): control characters (C0, DEL,
//! C1) and the invisible characters that reorder or hide text (bidi overrides and isolates,
//! line and paragraph separators) are written as visible escapes such as `\x1b` or `\u{202e}`.
//! Vietnamese and every other printable text is left as it is. `--json` output stays valid JSON:
//! [`json`] writes the same characters as `\uXXXX` escapes (serde_json already escapes C0).

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for a character that must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `s` with every control or invisible formatting character written as a visible escape
/// (`\n`, `\t`, `\x1b`, `\u{9b}`, `\u{202e}`); borrowed when there is none.
pub(crate) fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 && unsafe_char(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// JSON text of `v` in which the characters [`escape`] would rewrite are `\uXXXX` escapes, so a
/// terminal showing `--json` output is as safe as one showing the tables.
pub(crate) fn json(v: &impl serde::Serialize) -> String {
    let text = serde_json::to_string(v).unwrap_or_else(|e| {
        serde_json::json!({ "error": format!("cannot encode the output: {e}") }).to_string()
    });
    if !text.chars().any(unsafe_char) {
        return text;
    }
    // serde_json escaped every C0 character inside strings; what is left can only be inside
    // strings, where a \u escape means the same character.
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Prints one line of human output on stdout, escaped with [`escape`]. The line itself must
/// not hold `\n`: write several lines with several calls.
macro_rules! outln {
    () => { println!() };
    ($($arg:tt)*) => {
        println!("{}", $crate::cli::term::escape(&format!($($arg)*)))
    };
}

/// Like [`outln!`] on stderr.
macro_rules! errln {
    () => { eprintln!() };
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cli::term::escape(&format!($($arg)*)))
    };
}

/// Like [`outln!`] into a `std::io::Write` (a locked stdout); errors are ignored like a closed
/// pipe's.
macro_rules! wline {
    ($w:expr) => { { let _ = writeln!($w); } };
    ($w:expr, $($arg:tt)*) => {
        { let _ = writeln!($w, "{}", $crate::cli::term::escape(&format!($($arg)*))); }
    };
}

pub(crate) use {errln, outln, wline};

/// A spinner on stderr naming the phase of a long command (`report`, `assets import`, `vuln
/// import`): drawn only when stderr is a terminal, so pipes, files and `--json` stay clean. The
/// caller moves it on with `set_message` and ends it with `finish_and_clear`.
pub(crate) fn progress(phase: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    // Dropped on an early error return, it clears its line so the error starts on a clean one.
    let pb = indicatif::ProgressBar::new_spinner().with_finish(indicatif::ProgressFinish::AndClear);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}") {
        pb.set_style(style);
    }
    pb.set_message(escape(phase).into_owned());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisible_formatting_are_escaped_and_text_is_kept() {
        assert!(matches!(escape("Sở KH&CN pc-01"), Cow::Borrowed(_)));
        assert_eq!(
            escape("pc\x1b]52;c;aGk=\x07\n\tx\u{7f}"),
            "pc\\x1b]52;c;aGk=\\x07\\n\\tx\\x7f"
        );
        assert_eq!(escape("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(escape("evil\u{202e}fdp.exe"), "evil\\u{202e}fdp.exe");
        assert_eq!(escape("x\u{2028}y\u{feff}"), "x\\u{2028}y\\u{feff}");
    }

    #[test]
    fn json_stays_valid_and_carries_no_raw_control() {
        let v = serde_json::json!({"h": "a\u{9b}b\u{202e}c\x1bd\u{7f}é"});
        let text = json(&v);
        assert!(!text.chars().any(unsafe_char), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, v);
    }
}
