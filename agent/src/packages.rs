//! Installed packages from the dpkg status file, and Debian version ordering.
//!
//! The status file (`<root>/var/lib/dpkg/status`) is parsed by [`vigil_host::dpkg`], which holds
//! the workspace's one meaning of "installed" (the third `Status` word is `installed`, so held
//! packages count). The list is sorted so its
//! [`packages_hash`] is stable and the collector can tell whether it already holds the current
//! state. [`compare_debian_versions`] implements dpkg's ordering (epoch, upstream, revision, `~`
//! sorting before everything) so the collector can answer "which hosts run X below version Y".

use std::collections::HashMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use vigil_proto::Package;

/// Where dpkg keeps its database, relative to the root.
pub const DPKG_STATUS: &str = vigil_host::dpkg::STATUS_PATH;

/// Errors reading the package database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackagesError {
    /// The status file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Reads the installed packages under `root` (`/` for the running host).
///
/// A host without dpkg (no status file) has no packages: `Ok(vec![])`.
///
/// # Errors
/// [`PackagesError::Io`] when the status file exists but cannot be read.
pub fn read_dpkg(root: &Path) -> Result<Vec<Package>, PackagesError> {
    let path = root.join(DPKG_STATUS);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(parse_dpkg_status(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(PackagesError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Parses the text of a dpkg status file into a sorted list of installed packages.
///
/// A package installed for several architectures (multi-arch `same`) is listed once per
/// architecture as `name:arch`, as `dpkg-query` shows it; other names are plain. Stanzas without a
/// name or version are ignored.
pub fn parse_dpkg_status(text: &str) -> Vec<Package> {
    // (name, arch, version, source when it differs from the name) of installed stanzas.
    let found: Vec<(String, String, String, Option<String>)> = vigil_host::dpkg::installed(text)
        .into_iter()
        .filter(|e| !e.version.is_empty())
        .map(|e| {
            let source = Some(e.source).filter(|s| !s.is_empty() && *s != e.name);
            (e.name, e.arch, e.version, source)
        })
        .collect();
    let mut per_name: HashMap<&str, usize> = HashMap::new();
    for (n, _, _, _) in &found {
        *per_name.entry(n.as_str()).or_default() += 1;
    }
    let mut out: Vec<Package> = found
        .iter()
        .map(|(n, a, v, s)| {
            let name = if per_name.get(n.as_str()).copied().unwrap_or(0) > 1 && !a.is_empty() {
                format!("{n}:{a}")
            } else {
                n.clone()
            };
            Package {
                name,
                version: v.clone(),
                source: s.clone(),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A stable hash of a package list: hex SHA-256 over `name version\n` lines in sorted order.
///
/// The input is sorted first, so callers need not care about order.
pub fn packages_hash(packages: &[Package]) -> String {
    let mut sorted: Vec<&Package> = packages.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for p in sorted {
        h.update(p.name.as_bytes());
        h.update(b" ");
        h.update(p.version.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Debian version order (epoch, upstream, revision, `~` sorts first): one implementation for the
/// whole workspace, in `vigil-rules`.
pub use vigil_rules::compare_debian_versions;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    const STATUS: &str = "\
Package: openssh-server
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 1:9.2p1-2+deb12u3
Description: secure shell (SSH) server
 OpenSSH is a FREE version of the SSH connectivity tools.
 .
 Version: 99 (a continuation line that must not count)

Package: removed-but-configured
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u7

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Version: 2.36-9+deb12u7

Package: half-installed
Status: install ok half-installed
Version: 3

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7
";

    #[test]
    fn parses_only_installed_packages_sorted() {
        let p = parse_dpkg_status(STATUS);
        let got: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("bash", "5.2.15-2+b7"),
                ("libc6:amd64", "2.36-9+deb12u7"),
                ("libc6:i386", "2.36-9+deb12u7"),
                ("openssh-server", "1:9.2p1-2+deb12u3"),
            ]
        );
    }

    #[test]
    fn held_and_deinstall_selected_packages_are_installed_as_the_rules_crate_sees_them() {
        let text = "Package: pinned\nStatus: hold ok installed\nVersion: 1.0\n\n\
                    Package: going\nStatus: deinstall ok installed\nVersion: 2.0\n\n\
                    Package: gone\nStatus: deinstall ok config-files\nVersion: 3.0\n\n\
                    Package: broken\nStatus: install ok half-configured\nVersion: 4.0\n";
        let names: Vec<String> = parse_dpkg_status(text)
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["going", "pinned"]);
    }

    #[test]
    fn reads_from_a_root_and_tolerates_a_missing_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_dpkg(dir.path()).expect("no dpkg").is_empty());
        let status = dir.path().join(DPKG_STATUS);
        std::fs::create_dir_all(status.parent().expect("parent")).expect("mkdir");
        std::fs::write(&status, STATUS).expect("write");
        assert_eq!(read_dpkg(dir.path()).expect("read").len(), 4);
    }

    #[test]
    fn hash_is_stable_and_order_independent_but_content_sensitive() {
        let p = parse_dpkg_status(STATUS);
        let mut rev = p.clone();
        rev.reverse();
        assert_eq!(packages_hash(&p), packages_hash(&rev));
        assert_eq!(packages_hash(&p).len(), 64);
        let mut bumped = p.clone();
        bumped[0].version = "5.2.15-2+b8".into();
        assert_ne!(packages_hash(&p), packages_hash(&bumped));
        assert_ne!(packages_hash(&p), packages_hash(&[]));
    }

    fn lt(a: &str, b: &str) {
        assert_eq!(compare_debian_versions(a, b), Ordering::Less, "{a} < {b}");
        assert_eq!(
            compare_debian_versions(b, a),
            Ordering::Greater,
            "{b} > {a}"
        );
    }

    fn eq(a: &str, b: &str) {
        assert_eq!(compare_debian_versions(a, b), Ordering::Equal, "{a} == {b}");
    }

    #[test]
    fn tilde_sorts_before_everything() {
        lt("1.0~rc1", "1.0");
        lt("1.0~rc1", "1.0~rc2");
        lt("1.0~~", "1.0~");
        lt("1.0~~a", "1.0~");
        lt("1.0~", "1.0");
        lt("1.0", "1.0a");
        lt("2.36-9~bpo1", "2.36-9");
    }

    #[test]
    fn epochs_dominate() {
        lt("2.0", "1:1.0");
        lt("1:1.0", "2:0.1");
        eq("0:1.0", "1.0");
        eq("00:1.0", "1.0");
        lt("1:9.2p1-2", "2:1");
    }

    #[test]
    fn revisions_compare_after_upstream() {
        lt("1.0-1", "1.0-2");
        lt("1.0-2", "1.0-10");
        lt("1.0", "1.0-1");
        lt("1.0-1", "1.0.1-1");
        lt("9.2p1-2+deb12u2", "9.2p1-2+deb12u3");
        lt("1.0-1+b1", "1.0-1+b10");
        // The revision is after the last hyphen; upstream may contain hyphens.
        lt("1.2-3-4", "1.2-3-5");
        lt("1.2-3-9", "1.2-4-1");
    }

    #[test]
    fn digits_letters_and_punctuation() {
        lt("1.2", "1.10");
        eq("1.02", "1.2");
        eq("1.000", "1.0");
        lt("1.0a", "1.0b");
        lt("1.0a", "1.0+");
        lt("1.0Z", "1.0a");
        lt("1.0", "1.0.0");
        lt("1.0+dfsg", "1.0.1");
        lt("1a", "1.0");
        lt("9", "10");
        lt("0.9.8", "0.9.10");
        lt("3.0.11", "3.0.11+deb12u1");
        eq("5.2.15-2+b7", " 5.2.15-2+b7 ");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        for (a, b) in [
            ("", ""),
            ("x:1", "1"),
            ("99999999999999999999999:1", "1"),
            ("-", "--"),
            ("~", ""),
            ("1.0-", "1.0"),
            ("\u{e9}", "e"),
        ] {
            let _ = compare_debian_versions(a, b);
            let _ = compare_debian_versions(b, a);
        }
        lt("", "0.1");
        lt("~", "");
        lt("1", "99999999999999999999999:1");
    }

    #[test]
    fn ordering_is_a_total_order_on_a_sample() {
        let mut v = vec![
            "1.0", "1.0~rc1", "1:0.5", "1.0-1", "1.0a", "0.9", "1.0+b1", "1.0.1", "2.0~beta",
        ];
        v.sort_by(|a, b| compare_debian_versions(a, b));
        assert_eq!(
            v,
            [
                "0.9", "1.0~rc1", "1.0", "1.0-1", "1.0a", "1.0+b1", "1.0.1", "2.0~beta", "1:0.5"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn comparison_is_antisymmetric_reflexive_and_transitive(
            a in "([0-9]{1,2}:)?[0-9a-z.+~]{0,6}(-[0-9a-z.+~]{0,4})?",
            b in "([0-9]{1,2}:)?[0-9a-z.+~]{0,6}(-[0-9a-z.+~]{0,4})?",
            c in "([0-9]{1,2}:)?[0-9a-z.+~]{0,6}(-[0-9a-z.+~]{0,4})?",
        ) {
            proptest::prop_assert_eq!(compare_debian_versions(&a, &a), Ordering::Equal);
            proptest::prop_assert_eq!(
                compare_debian_versions(&a, &b),
                compare_debian_versions(&b, &a).reverse()
            );
            let mut v = [a.as_str(), b.as_str(), c.as_str()];
            v.sort_by(|x, y| compare_debian_versions(x, y));
            proptest::prop_assert!(compare_debian_versions(v[0], v[2]) != Ordering::Greater);
        }

        #[test]
        fn arbitrary_status_files_do_not_panic(text in "\\PC{0,400}") {
            let _ = parse_dpkg_status(&text);
        }
    }
}
