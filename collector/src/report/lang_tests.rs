//! The language walk of the report: a Vietnamese report shows no phrase of the English texts and
//! an English one none of the Vietnamese, in HTML and in the PDF's extracted text.
//!
//! The phrase lists are read from this module's own sources: every `t("vi", "en")` pair the
//! renderers use, so a text added later is checked without touching this test.

use super::tests::{font, pdftotext, sample};
use super::{Lang, html, pdf};

/// The sources whose `t(…)` pairs make the report's texts.
const SOURCES: &[&str] = &[
    include_str!("mod.rs"),
    include_str!("doc.rs"),
    include_str!("html.rs"),
    include_str!("pdf.rs"),
    include_str!("csv.rs"),
];

/// Reads a Rust string literal at the start of `s` (after whitespace): its text and the rest.
fn literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                '\n' => {
                    // A line continuation: the next line's leading blanks are not in the string.
                    let rest = &s[i + 2..];
                    let skip = rest.len() - rest.trim_start().len();
                    for _ in 0..skip {
                        chars.next();
                    }
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Every `t("vi", "en")` pair in `src`.
fn pairs(src: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("t(") {
        let after = &rest[at + 2..];
        rest = after;
        // `t(` must be the call itself, not the end of a longer name (`split(`, `format(`).
        let before = src.len() - after.len() - 3;
        if src[..=before]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let Some((vi, tail)) = literal(after) else {
            continue;
        };
        let Some(tail) = tail.trim_start().strip_prefix(',') else {
            continue;
        };
        if let Some((en, _)) = literal(tail) {
            out.push((vi, en));
        }
    }
    out
}

/// Phrases worth looking for: several words, no placeholder, different in the two languages.
fn phrases(lang: Lang) -> Vec<String> {
    SOURCES
        .iter()
        .flat_map(|s| pairs(s))
        .filter(|(vi, en)| vi != en)
        .map(|(vi, en)| match lang {
            Lang::Vi => vi,
            Lang::En => en,
        })
        .filter(|p| p.contains(' ') && !p.contains('{') && p.chars().count() >= 8)
        .collect()
}

fn check(text: &str, lang: Lang, what: &str) {
    let (own, other) = match lang {
        Lang::Vi => (Lang::Vi, Lang::En),
        Lang::En => (Lang::En, Lang::Vi),
    };
    for p in phrases(other) {
        assert!(
            !text.contains(&p),
            "the {what} in {} shows {p:?} of the other language:\n{text}",
            own.code()
        );
    }
    let shown = phrases(own)
        .iter()
        .filter(|p| text.contains(p.as_str()))
        .count();
    assert!(
        shown >= 10,
        "only {shown} phrases of its own language in the {what}: the walk would prove nothing"
    );
}

#[test]
fn the_pair_reader_reads_what_the_renderers_write() {
    let src = "let a = lang.t(\"Điểm\", \"Score\");\nx.split(\"a\", \"b\");\n\
               t(\n    \"Dòng \\\n     tiếp\",\n    \"Line \\\"q\\\"\",\n)";
    assert_eq!(
        pairs(src),
        [
            ("Điểm".to_string(), "Score".to_string()),
            ("Dòng tiếp".to_string(), "Line \"q\"".to_string())
        ]
    );
    assert!(phrases(Lang::En).len() >= 20, "{:?}", phrases(Lang::En));
}

#[test]
fn each_report_speaks_one_language() {
    let r = sample();
    for lang in [Lang::Vi, Lang::En] {
        check(&html::render(&r, lang), lang, "HTML report");
    }
    let Some(font) = font() else { return };
    for lang in [Lang::Vi, Lang::En] {
        let pdf = pdf::render(&r, lang, &font).expect("pdf");
        if let Some(text) = pdftotext(&pdf) {
            // pdftotext breaks long lines; rejoin them so a phrase is found across a break.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            check(&text, lang, "PDF report");
        }
    }
}
