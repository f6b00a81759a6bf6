//! The dpkg status database (`/var/lib/dpkg/status`).
//!
//! # What "installed" means
//! A package is installed when the third word of its `Status` field is `installed`, whatever the
//! first word (the *want* flag: `install`, `hold`, `deinstall`, `purge`, `unknown`) and the second
//! (the error flag). So `hold ok installed` (pinned by the admin) and `deinstall ok installed`
//! (selected for removal but not yet removed) are installed: their files are on disk and their
//! version is what runs. `half-installed`, `half-configured`, `unpacked`, `triggers-awaited`,
//! `triggers-pending`, `config-files` and `not-installed` are not: dpkg itself does not consider
//! such a package's dependencies satisfied, and a `config-files` package has only its
//! configuration left. This is the one meaning used by the agent's inventory and by the rule
//! evaluator.
//!
//! Parsing is forgiving: the file is RFC 822-style stanzas separated by blank lines; continuation
//! lines (starting with a space or tab) are skipped; field names compare case-insensitively;
//! stanzas without a `Package` are dropped. Arbitrary input never panics.

/// Where dpkg keeps its status database, relative to the root.
pub const STATUS_PATH: &str = "var/lib/dpkg/status";

/// One package stanza of the status file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// `Package:`.
    pub name: String,
    /// `Architecture:` (empty when absent).
    pub arch: String,
    /// `Version:` (empty when absent).
    pub version: String,
    /// `Status:` as written, e.g. `install ok installed` (empty when absent).
    pub status: String,
    /// The source package's name from `Source:` (`glibc` of `Source: glibc (2.36-9)`), or empty
    /// when absent (the source package then has the binary's name). Advisories name source
    /// packages.
    pub source: String,
}

impl Entry {
    /// Whether the package is installed: the third word of `Status` is `installed` (see the
    /// module documentation).
    pub fn is_installed(&self) -> bool {
        status_is_installed(&self.status)
    }
}

/// Whether a `Status` value (`want error state`) says installed: exactly three words, the third
/// `installed`.
pub fn status_is_installed(status: &str) -> bool {
    let mut words = status.split_whitespace();
    matches!(
        (words.next(), words.next(), words.next(), words.next()),
        (Some(_), Some(_), Some("installed"), None)
    )
}

/// Every stanza with a package name, in file order.
pub fn parse_status(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut cur = Fields::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            cur.finish(&mut out);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line field (Description, Conffiles)
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let slot = if key.eq_ignore_ascii_case("Package") {
            &mut cur.name
        } else if key.eq_ignore_ascii_case("Architecture") {
            &mut cur.arch
        } else if key.eq_ignore_ascii_case("Version") {
            &mut cur.version
        } else if key.eq_ignore_ascii_case("Status") {
            &mut cur.status
        } else if key.eq_ignore_ascii_case("Source") {
            // `Source: glibc (2.36-9+deb12u4)`: the name only; the version is the binary's own.
            cur.source = value.split_whitespace().next().map(str::to_string);
            continue;
        } else {
            continue;
        };
        *slot = Some(value.to_string());
    }
    cur.finish(&mut out);
    out
}

/// The installed stanzas of a status file, in file order.
pub fn installed(text: &str) -> Vec<Entry> {
    parse_status(text)
        .into_iter()
        .filter(Entry::is_installed)
        .collect()
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    arch: Option<String>,
    version: Option<String>,
    status: Option<String>,
    source: Option<String>,
}

impl Fields {
    fn finish(&mut self, out: &mut Vec<Entry>) {
        let f = std::mem::take(self);
        if let Some(name) = f.name.filter(|n| !n.is_empty()) {
            out.push(Entry {
                name,
                arch: f.arch.unwrap_or_default(),
                version: f.version.unwrap_or_default(),
                status: f.status.unwrap_or_default(),
                source: f.source.unwrap_or_default(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stanza(name: &str, status: &str) -> String {
        format!("Package: {name}\nStatus: {status}\nArchitecture: amd64\nVersion: 1.0-1\n\n")
    }

    #[test]
    fn installed_is_the_third_status_word_whatever_the_want_flag() {
        let cases = [
            ("install ok installed", true),
            ("hold ok installed", true),
            ("deinstall ok installed", true),
            ("purge ok installed", true),
            ("install reinstreq installed", true),
            ("install ok half-configured", false),
            ("install ok half-installed", false),
            ("install ok unpacked", false),
            ("install ok triggers-pending", false),
            ("deinstall ok config-files", false),
            ("purge ok not-installed", false),
            ("install ok", false),
            ("install ok installed extra", false),
            ("", false),
        ];
        let text: String = cases
            .iter()
            .enumerate()
            .map(|(i, (s, _))| stanza(&format!("p{i}"), s))
            .collect();
        let got: Vec<String> = installed(&text).into_iter().map(|e| e.name).collect();
        let want: Vec<String> = cases
            .iter()
            .enumerate()
            .filter(|(_, (_, ok))| *ok)
            .map(|(i, _)| format!("p{i}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn fields_continuations_and_crlf() {
        let text = "Package: openssh-server\r\nStatus: hold ok installed\r\nVersion: 1:9.2p1-2\r\n\
                    Description: x\r\n Version: 99\r\n\r\npackage: b\nversion: 2\nstatus: install \
                    ok installed\n\nStatus: install ok installed\nVersion: 3\n";
        let e = parse_status(text);
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(
            (
                e[0].name.as_str(),
                e[0].version.as_str(),
                e[0].arch.as_str()
            ),
            ("openssh-server", "1:9.2p1-2", "")
        );
        assert!(e[0].is_installed());
        assert_eq!(e[0].source, "");
        assert_eq!((e[1].name.as_str(), e[1].version.as_str()), ("b", "2"));
        let e = parse_status("Package: libc6\nSource: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\n");
        assert_eq!(
            (e[0].name.as_str(), e[0].source.as_str()),
            ("libc6", "glibc")
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let all = parse_status(&s);
            prop_assert!(all.iter().all(|e| !e.name.is_empty()));
            let inst = installed(&s);
            prop_assert!(inst.len() <= all.len());
        }

        #[test]
        fn a_generated_stanza_round_trips(
            name in "[a-z][a-z0-9.+-]{0,20}",
            version in "[0-9][0-9a-z.:~+-]{0,12}",
            want in prop::sample::select(vec!["install", "hold", "deinstall", "purge"]),
            state in prop::sample::select(vec![
                "installed", "half-configured", "config-files", "unpacked", "not-installed",
            ]),
        ) {
            let text = format!("Package: {name}\nStatus: {want} ok {state}\nVersion: {version}\n");
            let e = parse_status(&text);
            prop_assert_eq!(e.len(), 1);
            prop_assert_eq!(&e[0].name, &name);
            prop_assert_eq!(&e[0].version, &version);
            prop_assert_eq!(e[0].is_installed(), state == "installed");
        }
    }
}
