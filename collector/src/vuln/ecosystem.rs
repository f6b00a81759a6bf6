//! Which distribution release an advisory entry or a host belongs to, and which package manager
//! orders its versions.
//!
//! OSV names ecosystems `Debian:12`, `Ubuntu:24.04:LTS`, `Ubuntu:Pro:18.04:LTS`, `Rocky Linux:9`,
//! `AlmaLinux:9` and `Red Hat:enterprise_linux:9::appstream`; a host reports its OS name and
//! version (`Debian GNU/Linux` `12`, `Rocky Linux` `9.3`). Both become an [`Ecosystem`]: the
//! distribution and its release as the distribution numbers it for updates (Debian and RPM
//! distributions by major version, Ubuntu by `YY.MM`).

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A distribution whose advisories Vigil matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distro {
    /// Debian (dpkg).
    Debian,
    /// Ubuntu (dpkg).
    Ubuntu,
    /// Rocky Linux (rpm).
    Rocky,
    /// AlmaLinux (rpm).
    Alma,
    /// Red Hat Enterprise Linux (rpm).
    RedHat,
    /// Windows, by build (`Windows:22631`): the OS itself is the one package, versioned by its
    /// full build (`22631.4317`); a fix is a build and the updates (KBs) that bring it.
    Windows,
}

/// How a distribution orders package versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// dpkg: `epoch:upstream-revision`.
    Dpkg,
    /// rpm: `epoch:version-release`.
    Rpm,
    /// Windows builds: dot-separated numbers (`22631.4317`), compared number by number.
    Build,
}

impl Scheme {
    /// Orders two versions as the package manager does.
    pub fn compare(self, a: &str, b: &str) -> Ordering {
        match self {
            Self::Dpkg => vigil_rules::compare_debian_versions(a, b),
            Self::Rpm => vigil_rules::compare_rpm_versions(a, b),
            Self::Build => compare_builds(a, b),
        }
    }
}

/// A distribution release.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ecosystem {
    /// The distribution.
    pub distro: Distro,
    /// Its release (`12`, `24.04`, `9`).
    pub release: String,
}

impl Distro {
    /// The version order of its package manager.
    pub fn scheme(self) -> Scheme {
        match self {
            Self::Debian | Self::Ubuntu => Scheme::Dpkg,
            Self::Rocky | Self::Alma | Self::RedHat => Scheme::Rpm,
            Self::Windows => Scheme::Build,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Debian => "Debian",
            Self::Ubuntu => "Ubuntu",
            Self::Rocky => "Rocky Linux",
            Self::Alma => "AlmaLinux",
            Self::RedHat => "Red Hat",
            Self::Windows => "Windows",
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.distro.name(), self.release)
    }
}

/// What an OSV `ecosystem` string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsvEcosystem {
    /// A release Vigil matches.
    Known(Ecosystem),
    /// A distribution Vigil knows, without a release (`Debian`): nothing to match it against.
    NoRelease,
    /// Anything else (`PyPI`, `npm`, `Alpine:v3.19`): kept out of matching.
    Other,
}

impl Ecosystem {
    /// Parses an OSV ecosystem string.
    pub fn parse_osv(s: &str) -> OsvEcosystem {
        let parts: Vec<&str> = s.split(':').map(str::trim).collect();
        let (distro, release) = match parts.as_slice() {
            ["Debian"]
            | ["Ubuntu"]
            | ["Rocky Linux"]
            | ["AlmaLinux"]
            | ["Red Hat"]
            | ["Windows"] => {
                return OsvEcosystem::NoRelease;
            }
            ["Debian", r, ..] => (Distro::Debian, major(r)),
            // `Ubuntu:Pro:18.04:LTS` (ESM) and `Ubuntu:Pro:FIPS:…` keep the release they patch.
            ["Ubuntu", rest @ ..] => match rest.iter().find(|p| is_ubuntu_release(p)) {
                Some(r) => (Distro::Ubuntu, Some((*r).to_string())),
                None => return OsvEcosystem::NoRelease,
            },
            ["Rocky Linux", r, ..] => (Distro::Rocky, major(r)),
            ["AlmaLinux", r, ..] => (Distro::Alma, major(r)),
            // `Red Hat:enterprise_linux:9::appstream`, `Red Hat:rhel_eus:9.2::baseos`.
            ["Red Hat", _product, r, ..] => (Distro::RedHat, major(r)),
            // Vigil's own profile (docs/vulnerabilities.md): `Windows:22631`, the build a
            // feature release of Windows 10/11 or Windows Server carries.
            ["Windows", b] => (Distro::Windows, windows_build(b)),
            _ => return OsvEcosystem::Other,
        };
        match release {
            Some(release) => OsvEcosystem::Known(Ecosystem { distro, release }),
            None => OsvEcosystem::NoRelease,
        }
    }

    /// The ecosystem of a Windows host from its inventory's build (`22631.4317`).
    pub fn of_windows(build: &str) -> Option<Ecosystem> {
        let major = build.split('.').next().unwrap_or_default();
        Some(Ecosystem {
            distro: Distro::Windows,
            release: windows_build(major)?,
        })
    }

    /// The ecosystem of a host from its inventory's OS name and version (`Debian GNU/Linux`,
    /// `12`); `None` for anything else (Windows, see [`Ecosystem::of_windows`], other
    /// distributions, unknown versions).
    pub fn of_host(os: &str, os_version: &str) -> Option<Ecosystem> {
        let os = os.to_ascii_lowercase();
        let v = os_version.trim();
        let distro = if os.starts_with("debian") {
            Distro::Debian
        } else if os.starts_with("ubuntu") {
            Distro::Ubuntu
        } else if os.starts_with("rocky") {
            Distro::Rocky
        } else if os.starts_with("almalinux") {
            Distro::Alma
        } else if os.starts_with("red hat enterprise linux") || os == "rhel" {
            Distro::RedHat
        } else {
            return None;
        };
        let release = if distro == Distro::Ubuntu {
            // `24.04`, `24.04.1 LTS`: year and month.
            let mut it = v.split(|c: char| !c.is_ascii_digit());
            let (y, m) = (it.next()?, it.next()?);
            let r = format!("{y}.{m}");
            is_ubuntu_release(&r).then_some(r)?
        } else {
            major(v)?
        };
        Some(Ecosystem { distro, release })
    }
}

/// The major version of `9.3`, `12`, `8.10`: digits before the first non-digit.
fn major(r: &str) -> Option<String> {
    let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
    (end > 0 && end <= 4)
        .then(|| r[..end].trim_start_matches('0').to_string())
        .filter(|m| !m.is_empty())
}

/// A Windows build number (`22631`): 4 or 5 digits, without leading zeros.
fn windows_build(b: &str) -> Option<String> {
    let b = b.trim();
    ((4..=5).contains(&b.len()) && b.bytes().all(|c| c.is_ascii_digit()) && !b.starts_with('0'))
        .then(|| b.to_string())
}

/// Orders Windows builds number by number (`22631.4317` < `22631.10000`); a missing part is 0
/// and a part that is not a number sorts below every number, so a garbled build is never taken
/// for a patched one.
fn compare_builds(a: &str, b: &str) -> Ordering {
    let part = |s: Option<&str>| -> Option<u64> {
        match s {
            None => Some(0),
            Some(p) => p.trim().parse().ok(),
        }
    };
    let (mut x, mut y) = (a.split('.'), b.split('.'));
    loop {
        let (p, q) = (x.next(), y.next());
        if p.is_none() && q.is_none() {
            return Ordering::Equal;
        }
        let o = match (part(p), part(q)) {
            (Some(m), Some(n)) => m.cmp(&n),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
}

fn is_ubuntu_release(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 5 && b[2] == b'.' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(d: Distro, r: &str) -> OsvEcosystem {
        OsvEcosystem::Known(Ecosystem {
            distro: d,
            release: r.into(),
        })
    }

    #[test]
    fn osv_ecosystems_parse() {
        use Distro::*;
        for (s, want) in [
            ("Debian:12", known(Debian, "12")),
            ("Debian:11", known(Debian, "11")),
            ("Ubuntu:24.04:LTS", known(Ubuntu, "24.04")),
            ("Ubuntu:23.10", known(Ubuntu, "23.10")),
            ("Ubuntu:Pro:18.04:LTS", known(Ubuntu, "18.04")),
            ("Ubuntu:Pro:FIPS:20.04:LTS", known(Ubuntu, "20.04")),
            ("Rocky Linux:9", known(Rocky, "9")),
            ("AlmaLinux:8", known(Alma, "8")),
            ("Red Hat:enterprise_linux:9::appstream", known(RedHat, "9")),
            ("Red Hat:rhel_eus:9.2::baseos", known(RedHat, "9")),
            ("Windows:22631", known(Windows, "22631")),
            ("Windows:19045", known(Windows, "19045")),
            ("Windows", OsvEcosystem::NoRelease),
            ("Windows:11", OsvEcosystem::NoRelease),
            ("Windows:022631", OsvEcosystem::NoRelease),
            ("Debian", OsvEcosystem::NoRelease),
            ("Ubuntu:Pro", OsvEcosystem::NoRelease),
            ("Debian:", OsvEcosystem::NoRelease),
            ("PyPI", OsvEcosystem::Other),
            ("Alpine:v3.19", OsvEcosystem::Other),
            ("", OsvEcosystem::Other),
        ] {
            assert_eq!(Ecosystem::parse_osv(s), want, "{s}");
        }
    }

    #[test]
    fn hosts_map_to_their_release() {
        use Distro::*;
        let e = |d, r: &str| {
            Some(Ecosystem {
                distro: d,
                release: r.into(),
            })
        };
        assert_eq!(
            Ecosystem::of_host("Debian GNU/Linux", "12"),
            e(Debian, "12")
        );
        assert_eq!(Ecosystem::of_host("Ubuntu", "24.04"), e(Ubuntu, "24.04"));
        assert_eq!(
            Ecosystem::of_host("Ubuntu", "22.04.4 LTS"),
            e(Ubuntu, "22.04")
        );
        assert_eq!(Ecosystem::of_host("Rocky Linux", "9.3"), e(Rocky, "9"));
        assert_eq!(Ecosystem::of_host("AlmaLinux", "8.10"), e(Alma, "8"));
        assert_eq!(
            Ecosystem::of_host("Red Hat Enterprise Linux", "9.4"),
            e(RedHat, "9")
        );
        assert_eq!(Ecosystem::of_host("Windows", "10"), None);
        assert_eq!(Ecosystem::of_windows("22631.4317"), e(Windows, "22631"));
        assert_eq!(Ecosystem::of_windows("19045"), e(Windows, "19045"));
        assert_eq!(Ecosystem::of_windows(""), None);
        assert_eq!(Ecosystem::of_windows("abc.1"), None);
        assert_eq!(Ecosystem::of_host("Debian GNU/Linux", ""), None);
        assert_eq!(Ecosystem::of_host("Ubuntu", "24"), None);
        assert_eq!(
            Ecosystem::parse_osv("Debian:12").to_string_lossy(),
            "Debian:12"
        );
    }

    #[test]
    fn windows_builds_compare_number_by_number() {
        use Ordering::*;
        for (a, b, want) in [
            ("22631.4317", "22631.4317", Equal),
            ("22631.4317", "22631.10000", Less),
            ("22631.999", "22631.1000", Less),
            ("22631", "22631.0", Equal),
            ("22631.1", "22631", Greater),
            ("19045.5000", "22631.1", Less),
            ("22631.x", "22631.1", Less),
            ("22631.1", "22631.x", Greater),
        ] {
            assert_eq!(compare_builds(a, b), want, "{a} vs {b}");
            assert_eq!(compare_builds(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    impl OsvEcosystem {
        fn to_string_lossy(&self) -> String {
            match self {
                Self::Known(e) => e.to_string(),
                _ => String::new(),
            }
        }
    }
}
