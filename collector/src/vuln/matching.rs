//! Which advisories a host's installed packages are affected by: pure, over an [`Index`] built
//! once from every advisory.
//!
//! An entry applies to a package when the release is the host's and its package name is the
//! installed package's name (without a multi-arch `:arch` suffix) or its source package's name.
//! The installed version is affected when it is listed in `versions` (equal in the package
//! manager's order) or falls in an ECOSYSTEM range, walked as the OSV schema describes: the
//! events in version order, `introduced` opening, `fixed` closing at that version,
//! `last_affected` closing after it.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;

use super::ecosystem::{Ecosystem, Scheme};
use super::osv::{Advisory, Affected, Event};

/// One installed package of a host.
#[derive(Debug, Clone, Copy)]
pub struct HostPackage<'a> {
    /// Name as the inventory gives it (`libc6:amd64` for multi-arch).
    pub name: &'a str,
    /// Installed version.
    pub version: &'a str,
    /// Source package, when it differs from the name.
    pub source: Option<&'a str>,
}

/// A package of a host affected by an advisory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// Advisory id.
    pub advisory: String,
    /// Installed package (as the inventory names it).
    pub package: String,
    /// Installed version.
    pub installed: String,
    /// The first fixed version above the installed one, when the advisory gives one.
    pub fixed: Option<String>,
    /// Severity of the advisory.
    pub severity: Option<String>,
    /// CVSS v3 base score.
    pub cvss: Option<f64>,
}

/// Advisories by release and package name.
#[derive(Debug, Default)]
pub struct Index {
    advisories: Vec<Advisory>,
    by_release: HashMap<Ecosystem, HashMap<String, Vec<(u32, u32)>>>,
}

impl Index {
    /// Indexes `advisories` (withdrawn ones are left out).
    pub fn new(advisories: Vec<Advisory>) -> Self {
        let mut by_release: HashMap<Ecosystem, HashMap<String, Vec<(u32, u32)>>> = HashMap::new();
        for (i, a) in advisories.iter().enumerate() {
            if a.withdrawn {
                continue;
            }
            for (j, e) in a.affected.iter().enumerate() {
                // Indexes fit u32: an import holds far fewer than 4 billion entries.
                let at = (i as u32, j as u32);
                by_release
                    .entry(e.ecosystem.clone())
                    .or_default()
                    .entry(e.package.clone())
                    .or_default()
                    .push(at);
            }
        }
        Self {
            advisories,
            by_release,
        }
    }

    /// Number of advisories indexed (withdrawn included).
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// Whether the index holds no advisory.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The advisory with this id.
    pub fn advisory(&self, id: &str) -> Option<&Advisory> {
        self.advisories.iter().find(|a| a.id == id)
    }

    /// Every (advisory, package) pair affecting a host of release `eco` with `packages` and the
    /// installed updates `kbs` (Windows; sorted), sorted by advisory and package.
    pub fn match_host(
        &self,
        eco: &Ecosystem,
        packages: &[HostPackage<'_>],
        kbs: &[String],
    ) -> Vec<Match> {
        let Some(by_name) = self.by_release.get(eco) else {
            return Vec::new();
        };
        let scheme = eco.distro.scheme();
        let mut out = Vec::new();
        for p in packages {
            let bare = p.name.split_once(':').map_or(p.name, |(n, _)| n);
            let names = std::iter::once(bare).chain(p.source.filter(|s| *s != bare));
            let mut seen: Vec<u32> = Vec::new();
            for entries in names.filter_map(|n| by_name.get(n)) {
                for &(i, j) in entries {
                    let a = &self.advisories[i as usize];
                    let e = &a.affected[j as usize];
                    if seen.contains(&i) {
                        continue;
                    }
                    // An update that fixes it is installed (a later cumulative update that
                    // supersedes it shows as a higher build instead).
                    if e.kbs.iter().any(|k| kbs.binary_search(k).is_ok()) {
                        continue;
                    }
                    let hit = if e.ranges.is_empty() && e.versions.is_empty() {
                        // Windows entries that name only the updates: affected without them.
                        (!e.kbs.is_empty()).then_some(None)
                    } else {
                        affects(e, scheme, p.version)
                    };
                    if let Some(fixed) = hit {
                        let fixed = match (fixed, e.kbs.as_slice()) {
                            (f, []) => f,
                            (Some(build), k) => Some(format!("{build} ({})", k.join(", "))),
                            (None, k) => Some(k.join(", ")),
                        };
                        seen.push(i);
                        out.push(Match {
                            advisory: a.id.clone(),
                            package: p.name.to_string(),
                            installed: p.version.to_string(),
                            fixed,
                            severity: a.severity.clone(),
                            cvss: a.cvss,
                        });
                    }
                }
            }
        }
        out.sort_by(|x, y| (&x.advisory, &x.package).cmp(&(&y.advisory, &y.package)));
        out.dedup_by(|x, y| x.advisory == y.advisory && x.package == y.package);
        out
    }
}

/// `Some(first fixed version above v)` when `v` is affected by entry `e`, else `None`.
pub fn affects(e: &Affected, scheme: Scheme, v: &str) -> Option<Option<String>> {
    let listed = e
        .versions
        .iter()
        .any(|x| scheme.compare(x, v) == Ordering::Equal);
    let mut hit = None;
    for range in &e.ranges {
        if let Some(fixed) = in_range(range, scheme, v) {
            // Prefer a range that names a fix.
            if hit.as_ref().is_none_or(Option::is_none) {
                hit = Some(fixed);
            }
        }
    }
    match hit {
        Some(f) => Some(f),
        None if listed => Some(None),
        None => None,
    }
}

/// The OSV range walk; `Some(fixed above v)` when `v` is inside.
fn in_range(events: &[Event], scheme: Scheme, v: &str) -> Option<Option<String>> {
    let key = |e: &Event| match e {
        Event::Introduced(x) | Event::Fixed(x) | Event::LastAffected(x) => x.clone(),
    };
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| match (a, b) {
        (Event::Introduced(x), _) if x == "0" => Ordering::Less,
        (_, Event::Introduced(y)) if y == "0" => Ordering::Greater,
        _ => scheme.compare(&key(a), &key(b)),
    });
    let mut affected = false;
    let mut fixed_above = None;
    for ev in sorted {
        match ev {
            Event::Introduced(x) => {
                if x == "0" || scheme.compare(v, x).is_ge() {
                    affected = true;
                    fixed_above = None;
                }
            }
            Event::Fixed(x) => {
                if scheme.compare(v, x).is_ge() {
                    affected = false;
                } else if affected && fixed_above.is_none() {
                    fixed_above = Some(x.clone());
                }
            }
            Event::LastAffected(x) => {
                if scheme.compare(v, x).is_gt() {
                    affected = false;
                }
            }
        }
    }
    affected.then_some(fixed_above)
}

#[cfg(test)]
mod tests {
    use super::super::ecosystem::Distro;
    use super::*;

    fn entry(ranges: Vec<Vec<Event>>, versions: &[&str]) -> Affected {
        Affected {
            ecosystem: Ecosystem {
                distro: Distro::Debian,
                release: "12".into(),
            },
            package: "openssl".into(),
            ranges,
            versions: versions.iter().map(|s| s.to_string()).collect(),
            kbs: Vec::new(),
        }
    }
    fn intro(v: &str) -> Event {
        Event::Introduced(v.into())
    }
    fn fixed(v: &str) -> Event {
        Event::Fixed(v.into())
    }

    #[test]
    fn ranges_follow_the_osv_walk() {
        let e = entry(vec![vec![intro("0"), fixed("3.0.13-1~deb12u1")]], &[]);
        let d = Scheme::Dpkg;
        assert_eq!(
            affects(&e, d, "3.0.11-1~deb12u2"),
            Some(Some("3.0.13-1~deb12u1".into()))
        );
        assert_eq!(
            affects(&e, d, "3.0.13-1~deb12u1"),
            None,
            "the fixed version is not affected"
        );
        assert_eq!(affects(&e, d, "3.0.13-1"), None, "above the fix");
        assert_eq!(
            affects(&e, d, "1:1.0"),
            None,
            "a higher epoch is above the fix"
        );
        // Two ranges: 1.0 <= v < 1.5 and 2.0 <= v <= 2.3.
        let e = entry(
            vec![
                vec![intro("1.0"), fixed("1.5")],
                vec![intro("2.0"), Event::LastAffected("2.3".into())],
            ],
            &[],
        );
        assert_eq!(affects(&e, d, "0.9"), None);
        assert_eq!(affects(&e, d, "1.2"), Some(Some("1.5".into())));
        assert_eq!(affects(&e, d, "1.7"), None);
        assert_eq!(affects(&e, d, "2.3"), Some(None));
        assert_eq!(affects(&e, d, "2.3.1"), None);
        // Events out of order in the file; a reintroduction after a fix.
        let e = entry(
            vec![vec![fixed("2.0"), intro("2.5"), intro("0"), fixed("3.0")]],
            &[],
        );
        assert_eq!(affects(&e, d, "1.9"), Some(Some("2.0".into())));
        assert_eq!(affects(&e, d, "2.2"), None);
        assert_eq!(affects(&e, d, "2.7"), Some(Some("3.0".into())));
        // Listed versions only (Ubuntu's style).
        let e = entry(vec![], &["1.2-1ubuntu1", "1.2-1ubuntu2"]);
        assert_eq!(affects(&e, d, "1.2-1ubuntu2"), Some(None));
        assert_eq!(affects(&e, d, "1.2-1ubuntu3"), None);
        // rpm: the release counts, the epoch dominates.
        let e = entry(vec![vec![intro("0"), fixed("1:3.0.7-27.el9")]], &[]);
        let r = Scheme::Rpm;
        assert!(affects(&e, r, "1:3.0.7-24.el9").is_some());
        assert!(affects(&e, r, "1:3.0.7-27.el9").is_none());
        assert!(
            affects(&e, r, "3.0.9-1.el9").is_some(),
            "no epoch is epoch 0"
        );
    }
}
