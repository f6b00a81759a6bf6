//! Shell-style name patterns (`fnmatch` without flags), compiled once by `globset`.
//!
//! `*` matches any run of characters except `/`, `?` one character, `[abc]`, `[a-z]`, `[!a-z]` and
//! `[^a-z]` one character of (or not of) a class; a backslash escapes the next character. Braces
//! are plain characters, as in the shell's `fnmatch` (globset would read them as alternatives). An
//! unclosed `[` is a plain character. Matching is linear in the name, so a hostile pattern from a
//! rule pack cannot make it blow up.

use globset::{GlobBuilder, GlobMatcher};

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern(GlobMatcher);

impl Pattern {
    /// Compiles `pattern`.
    ///
    /// # Errors
    /// A message when globset refuses it (e.g. an invalid range such as `[z-a]`).
    pub fn new(pattern: &str) -> Result<Self, String> {
        let mut escaped = String::with_capacity(pattern.len());
        for c in pattern.chars() {
            match c {
                '{' => escaped.push_str("[{]"),
                '}' => escaped.push_str("[}]"),
                _ => escaped.push(c),
            }
        }
        GlobBuilder::new(&escaped)
            .literal_separator(true)
            .backslash_escape(true)
            .allow_unclosed_class(true)
            .build()
            .map(|g| Self(g.compile_matcher()))
            .map_err(|e| format!("{pattern}: {e}"))
    }

    /// Whether `name` matches the whole pattern.
    pub fn matches(&self, name: &str) -> bool {
        self.0.is_match(name)
    }
}

/// Compiles `pattern` and matches one `name`; a pattern that does not compile matches nothing.
/// Use [`Pattern`] to match many names.
pub fn matches(pattern: &str, name: &str) -> bool {
    Pattern::new(pattern).is_ok_and(|p| p.matches(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shell_semantics() {
        let cases = [
            ("*.conf", "99-x.conf", true),
            ("*.conf", "x.conf.bak", false),
            ("ssh_host_*_key", "ssh_host_ed25519_key", true),
            ("ssh_host_*_key", "ssh_host_ed25519_key.pub", false),
            ("[0-9]?", "1a", true),
            ("[!0-9]", "1", false),
            ("[^0-9]", "a", true),
            ("kernel-{a,b}", "kernel-a", false),
            ("kernel-{a,b}", "kernel-{a,b}", true),
            ("a[", "a[", true),
            ("*", "a/b", false),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("openssh*", "openssh-server-9.0p1-19.el9.x86_64", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(matches(p, n), want, "{p} ~ {n}");
        }
    }

    #[test]
    fn many_stars_stay_fast() {
        let p = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let name = "a".repeat(200);
        let t = std::time::Instant::now();
        assert!(!matches(p, &name));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
    }

    proptest! {
        #[test]
        fn arbitrary_patterns_never_panic(p in "\\PC{0,40}", n in "\\PC{0,40}") {
            let _ = matches(&p, &n);
        }

        #[test]
        fn a_literal_matches_itself(n in "[a-zA-Z0-9._-]{0,30}") {
            prop_assert!(matches(&n, &n));
        }
    }
}
