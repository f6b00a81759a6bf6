//! POSIX regular expressions of `grep` and `awk` in Rust `regex` syntax.
//!
//! GNU grep reads basic regexes (BRE) by default and extended ones (ERE) with `-E`; awk reads
//! EREs. In a BRE, `( ) { } | + ?` are literal and their backslashed forms are operators; in an
//! ERE it is the other way round. Bracket expressions (`[[:space:]]`, `[^#]`) carry over as they
//! are. A pattern that uses a back-reference has no Rust equivalent and is refused.

/// Translates `pattern` (a BRE, or an ERE when `extended`) into Rust syntax.
///
/// # Errors
/// A message when the pattern uses a back-reference or is malformed.
pub(crate) fn grep_regex(pattern: &str, extended: bool) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '[' => {
                let end = bracket_end(&chars, i)
                    .ok_or_else(|| format!("unterminated `[` in {pattern:?}"))?;
                let inner: String = chars[i..=end].iter().collect();
                // Rust treats `[[` as a nested class and `&&`/`--`/`~~` as set operators.
                out.push_str(
                    &inner
                        .replace("&&", "&\\&")
                        .replace("--", "-\\-")
                        .replace("~~", "~\\~"),
                );
                i = end + 1;
                continue;
            }
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(format!("trailing backslash in {pattern:?}"));
                };
                i += 2;
                if n.is_ascii_digit() && n != '0' {
                    return Err(format!(
                        "back-reference \\{n} in {pattern:?} has no Rust equivalent"
                    ));
                }
                let op = !extended && "(){}|+?".contains(n);
                if op {
                    out.push(n);
                } else if "wWsSbB".contains(n) || "<>".contains(n) {
                    // GNU extensions: \w \s \b; \< \> are word boundaries.
                    out.push_str(match n {
                        '<' | '>' => "\\b",
                        _ => "",
                    });
                    if !"<>".contains(n) {
                        out.push('\\');
                        out.push(n);
                    }
                } else {
                    out.push_str(&regex::escape(&n.to_string()));
                }
                continue;
            }
            '(' | ')' | '{' | '}' | '|' | '+' | '?' if !extended => {
                out.push('\\');
                out.push(c);
            }
            '*' if !extended && (i == 0 || (i == 1 && chars[0] == '^')) => out.push_str("\\*"),
            c => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

/// Index of the `]` closing the bracket expression that opens at `start`.
fn bracket_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    // A `]` right after `[` or `[^` is literal.
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '[' if matches!(chars.get(i + 1), Some(':' | '.' | '=')) => {
                let close = chars[i + 1];
                let mut j = i + 2;
                while j + 1 < chars.len() && !(chars[j] == close && chars[j + 1] == ']') {
                    j += 1;
                }
                i = j + 2;
                continue;
            }
            ']' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether Rust's engine accepts `re`.
pub(crate) fn is_valid(re: &str) -> bool {
    regex::Regex::new(re).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_extended_syntax() {
        let cases = [
            ("^gpgcheck", false, "^gpgcheck"),
            ("hard\\s+core\\s+0", true, "hard\\s+core\\s+0"),
            ("a\\(b\\)\\{2\\}", false, "a(b){2}"),
            ("a(b)+", false, "a\\(b\\)\\+"),
            ("^(000|040)", true, "^(000|040)"),
            ("[[:space:]]*#", false, "[[:space:]]*#"),
            ("*x", false, "\\*x"),
            ("[a&&b]", true, "[a&\\&b]"),
            ("\\<word\\>", false, "\\bword\\b"),
            ("x\\.y", true, "x\\.y"),
        ];
        for (p, ext, want) in cases {
            let got = grep_regex(p, ext).expect(p);
            assert_eq!(got, want, "{p}");
            assert!(is_valid(&got), "{got}");
        }
        assert!(grep_regex("(a)\\1", true).is_err());
        assert!(grep_regex("[abc", true).is_err());
        assert!(grep_regex("x\\", false).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_patterns_never_panic(p in "\\PC{0,30}", ext in proptest::bool::ANY) {
            let _ = grep_regex(&p, ext).map(|r| is_valid(&r));
        }
    }
}
