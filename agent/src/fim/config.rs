//! The `[fim]` configuration section: a serde form ([`RawFimConfig`]) and a validated form
//! ([`FimConfig`]).
//!
//! Validation reports every problem at once, each message starting with the field it is about
//! (`fim.paths[2].max_hash_size: ...`), so an operator fixes a config in one round.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::platform::hostpath;
use crate::units::{parse_duration, parse_size};

/// Trees watched when the configuration names none (Linux; see [`WINDOWS_DEFAULT_PATHS`]).
pub const DEFAULT_PATHS: &[&str] = &[
    "/etc",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/boot",
    "/root/.ssh",
    "/var/spool/cron",
];

/// Exclusions when the configuration names none: editor swap files and files the system
/// rewrites on its own.
pub const DEFAULT_EXCLUDE: &[&str] = &["*.swp", "/etc/mtab", "/etc/adjtime"];

/// Trees watched on Windows when the configuration names none: the hosts file's directory,
/// scheduled tasks, the all-users Startup folder and the agent's own directory (plus each user
/// profile's Startup folder, found when the configuration is read). `%VARIABLES%` are expanded
/// from the environment.
pub const WINDOWS_DEFAULT_PATHS: &[&str] = &[
    r"%SystemRoot%\System32\drivers\etc",
    r"%SystemRoot%\System32\Tasks",
    r"%SystemRoot%\Tasks",
    r"%ProgramData%\Microsoft\Windows\Start Menu\Programs\StartUp",
    r"%ProgramFiles%\Vigil",
];

/// Exclusions on Windows when the configuration names none.
pub const WINDOWS_DEFAULT_EXCLUDE: &[&str] = &["*.tmp", "~$*"];

/// Critical paths on Windows.
pub const WINDOWS_DEFAULT_CRITICAL: &[&str] = &[
    r"%SystemRoot%\System32\drivers\etc\hosts",
    r"%SystemRoot%\System32\Tasks\**",
    r"%SystemRoot%\Tasks\**",
    r"%ProgramData%\Microsoft\Windows\Start Menu\Programs\StartUp\**",
    r"%SystemDrive%\Users\*\AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup\**",
    r"%ProgramFiles%\Vigil\**",
];

/// A user profile's Startup folder, below `%SystemDrive%\Users\<name>`.
const PROFILE_STARTUP: &str = r"AppData\Roaming\Microsoft\Windows\Start Menu\Programs\Startup";

/// Paths whose changes are always reported individually with high or critical severity (Linux).
pub const DEFAULT_CRITICAL: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d/**",
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d/**",
    "/root/.ssh/authorized_keys",
    "/root/.ssh/authorized_keys2",
    "/home/*/.ssh/authorized_keys",
    "/etc/crontab",
    "/etc/cron.d/**",
    "/var/spool/cron/**",
    "/etc/ld.so.preload",
    "/etc/pam.d/**",
    "/etc/security/**",
    "/etc/systemd/system/**",
];

/// The `[fim]` section as written in TOML. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFimConfig {
    /// Trees to monitor: strings, or tables with per-path options.
    pub paths: Option<Vec<RawPathSpec>>,
    /// Globs excluded everywhere. A glob without `/` matches file names, one with `/` full paths.
    pub exclude: Option<Vec<String>>,
    /// Extra critical-path globs (added to the built-in list).
    pub critical: Option<Vec<String>>,
    /// Interval of scheduled full scans (`12h`).
    pub scan_interval: Option<String>,
    /// Content hash: `blake3` (default) or `sha256`.
    pub hash: Option<String>,
    /// Read-rate cap of scheduled scans in bytes per second (`64MiB`), `0` for none.
    pub max_read_rate: Option<String>,
    /// Files bigger than this are recorded without a hash (`1GiB`).
    pub max_hash_size: Option<String>,
    /// Changes per second under one tree beyond which realtime events are summarised.
    pub storm_threshold: Option<u64>,
    /// Quiet time before realtime events on a path are processed (`200ms`).
    pub debounce: Option<String>,
    /// Watch the trees with inotify in `run` mode (default true).
    pub realtime: Option<bool>,
    /// Windows: watch the autostart and security keys of the registry (default true).
    pub registry: Option<bool>,
    /// Windows: interval of registry snapshots (`60s`, at least `5s`).
    pub registry_interval: Option<String>,
    /// Scanner threads, 0 for one per CPU.
    pub threads: Option<usize>,
    /// Nice value of scheduled-scan threads, 0 (unchanged) to 19 (default 15).
    pub scan_nice: Option<i32>,
    /// I/O class of scheduled-scan threads: `best-effort` (lowest level, default), `idle` or
    /// `normal` (unchanged).
    pub scan_io_class: Option<String>,
}

/// One entry of `fim.paths`: a path, or a table with per-path options.
#[derive(Debug, Clone)]
pub enum RawPathSpec {
    /// Just a path; global options apply.
    Plain(String),
    /// A path with options.
    Table(RawPathTable),
}

/// Per-path options of `fim.paths`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPathTable {
    /// The tree to monitor.
    pub path: String,
    /// Hash file contents (true) or record metadata only (false).
    pub hash: Option<bool>,
    /// Hash the targets of symbolic links to regular files (links are never descended).
    pub follow_symlinks: Option<bool>,
    /// Overrides `fim.max_hash_size` for this tree.
    pub max_hash_size: Option<String>,
    /// Extra exclusion globs for this tree.
    pub exclude: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for RawPathSpec {
    // Hand-written rather than `#[serde(untagged)]` so that an unknown key inside a table is
    // reported by name instead of "did not match any variant".
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawPathSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path string or a table with `path` and options")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawPathSpec::Plain(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawPathTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawPathSpec::Table)
            }
        }
        d.deserialize_any(V)
    }
}

/// Content hash algorithm of a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HashAlgo {
    /// BLAKE3 (default): several times faster than SHA-256 and parallel within a file.
    #[default]
    Blake3,
    /// SHA-256, for compliance regimes that require it.
    Sha256,
}

impl HashAlgo {
    /// Name used in config and in `FileMeta::hash` prefixes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blake3 => "blake3",
            Self::Sha256 => "sha256",
        }
    }
}

/// How far scheduled scans lower their threads' priority (defined with the OS seam).
pub use crate::platform::{IoClass, ScanPriority};

/// A set of globs: those without `/` match the file name, the others the whole path.
#[derive(Debug, Clone)]
pub struct PathMatcher {
    names: GlobSet,
    paths: GlobSet,
    patterns: Vec<String>,
}

impl PathMatcher {
    /// Compiles `patterns`; errors name the offending pattern.
    ///
    /// # Errors
    /// A message per invalid glob.
    pub fn new(patterns: &[String]) -> Result<Self, Vec<String>> {
        let mut names = GlobSetBuilder::new();
        let mut paths = GlobSetBuilder::new();
        let mut errors = Vec::new();
        for p in patterns {
            let g = hostpath::normalize_glob(p);
            match GlobBuilder::new(&g)
                .literal_separator(true)
                .case_insensitive(hostpath::CASE_INSENSITIVE)
                .build()
            {
                Ok(glob) if g.contains('/') => {
                    paths.add(glob);
                }
                Ok(glob) => {
                    names.add(glob);
                }
                Err(e) => errors.push(format!("invalid glob {p:?}: {e}")),
            }
        }
        let names = names.build().map_err(|e| vec![e.to_string()]);
        let paths = paths.build().map_err(|e| vec![e.to_string()]);
        match (names, paths) {
            (Ok(names), Ok(paths)) if errors.is_empty() => Ok(Self {
                names,
                paths,
                patterns: patterns.to_vec(),
            }),
            (n, p) => {
                errors.extend(n.err().unwrap_or_default());
                errors.extend(p.err().unwrap_or_default());
                Err(errors)
            }
        }
    }

    /// A matcher that matches nothing.
    pub fn empty() -> Self {
        Self {
            names: GlobSet::empty(),
            paths: GlobSet::empty(),
            patterns: Vec::new(),
        }
    }

    /// Whether the host path (bytes, absolute) matches.
    pub fn is_match(&self, path: &[u8]) -> bool {
        if !self.paths.is_empty() && self.paths.is_match(Path::new(&*hostpath::os_str(path))) {
            return true;
        }
        if self.names.is_empty() {
            return false;
        }
        let name = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => &path[i + 1..],
            None => path,
        };
        self.names.is_match(Path::new(&*hostpath::os_str(name)))
    }

    /// The source patterns.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// One monitored tree with its options.
#[derive(Debug, Clone)]
pub struct PathSpec {
    /// Absolute, normalised host path (no trailing `/`, no `.` or `..`).
    pub path: String,
    /// Hash contents of regular files.
    pub hash: bool,
    /// Hash the targets of symlinks to regular files.
    pub follow_symlinks: bool,
    /// Files bigger than this are not hashed.
    pub max_hash_size: u64,
    /// Extra exclusions of this tree.
    pub exclude: PathMatcher,
}

/// Validated FIM configuration.
#[derive(Debug, Clone)]
pub struct FimConfig {
    /// Monitored trees, sorted by path, without duplicates.
    pub paths: Vec<PathSpec>,
    /// Global exclusions.
    pub exclude: PathMatcher,
    /// Critical paths (built-in list plus `fim.critical`).
    pub critical: PathMatcher,
    /// Interval of scheduled full scans.
    pub scan_interval: Duration,
    /// Hash algorithm.
    pub hash: HashAlgo,
    /// Byte-rate cap of scheduled scans (None: unlimited).
    pub max_read_rate: Option<u64>,
    /// Realtime storm threshold, changes per second per tree.
    pub storm_threshold: u64,
    /// Debounce of realtime events.
    pub debounce: Duration,
    /// Use inotify in `run` mode.
    pub realtime: bool,
    /// Run the registry watch (Windows only).
    pub registry: bool,
    /// Interval of registry snapshots.
    pub registry_interval: Duration,
    /// Scanner threads (0: one per CPU).
    pub threads: usize,
    /// Priority of the threads of scheduled scans.
    pub scan_priority: ScanPriority,
}

impl Default for FimConfig {
    fn default() -> Self {
        // Invariant: the built-in defaults are valid; `defaults_are_valid` tests this.
        RawFimConfig::default()
            .validate()
            .expect("built-in FIM defaults are valid")
    }
}

impl FimConfig {
    /// Whether `path` (absolute host path) is excluded globally or by the tree `spec`.
    pub fn is_excluded(&self, spec: &PathSpec, path: &[u8]) -> bool {
        self.exclude.is_match(path) || spec.exclude.is_match(path)
    }

    /// The monitored tree that owns `path`: the deepest spec whose root is `path` or an ancestor.
    pub fn spec_for(&self, path: &[u8]) -> Option<&PathSpec> {
        self.paths
            .iter()
            .filter(|s| is_under(path, s.path.as_bytes()))
            .max_by_key(|s| s.path.len())
    }

    /// Keeps only the trees named in `paths` (as with `--path`), which may also lie inside
    /// configured trees; they inherit that tree's options.
    ///
    /// # Errors
    /// A message naming `--path` for each path that is not absolute and normalisable.
    pub fn restrict_to(&self, paths: &[String]) -> Result<FimConfig, Vec<String>> {
        let mut errors = Vec::new();
        let mut specs: Vec<PathSpec> = Vec::new();
        for p in paths {
            match normalize(p) {
                Ok(n) => {
                    let mut spec = self.spec_for(n.as_bytes()).cloned().unwrap_or(PathSpec {
                        path: String::new(),
                        hash: true,
                        follow_symlinks: false,
                        max_hash_size: DEFAULT_MAX_HASH,
                        exclude: PathMatcher::empty(),
                    });
                    spec.path = n;
                    if !specs.iter().any(|s| s.path == spec.path) {
                        specs.push(spec);
                    }
                }
                Err(e) => errors.push(format!("--path {p:?}: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        specs.sort_by(|a, b| a.path.cmp(&b.path));
        let mut cfg = self.clone();
        cfg.paths = specs;
        Ok(cfg)
    }
}

const DEFAULT_MAX_HASH: u64 = 1 << 30;

/// Whether host path `path` is `root` or lies below it (byte-wise, on whole components).
pub fn is_under(path: &[u8], root: &[u8]) -> bool {
    if root == b"/" {
        return path.first() == Some(&b'/');
    }
    path.starts_with(root) && (path.len() == root.len() || path[root.len()] == b'/')
}

/// Normalises an absolute path into a host path: collapses `//` and `.`, strips a trailing `/`,
/// refuses `..` (on Windows also accepts `C:\…` and `%VARIABLES%`, see `platform::hostpath`).
///
/// # Errors
/// Says what is wrong with the path.
pub fn normalize(p: &str) -> Result<String, String> {
    hostpath::normalize(p)
}

/// The built-in trees, exclusions and critical paths of this platform.
fn platform_defaults() -> (Vec<String>, Vec<String>, Vec<String>) {
    let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if !cfg!(windows) {
        return (
            owned(DEFAULT_PATHS),
            owned(DEFAULT_EXCLUDE),
            owned(DEFAULT_CRITICAL),
        );
    }
    let mut paths = owned(WINDOWS_DEFAULT_PATHS);
    let users = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".into()) + "\\Users";
    if let Ok(rd) = std::fs::read_dir(&users) {
        let mut found: Vec<String> = rd
            .flatten()
            .map(|e| e.path().join(PROFILE_STARTUP))
            .filter(|p| p.is_dir())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        found.sort();
        paths.extend(found);
    }
    (
        paths,
        owned(WINDOWS_DEFAULT_EXCLUDE),
        owned(WINDOWS_DEFAULT_CRITICAL),
    )
}

impl RawFimConfig {
    /// Validates into a [`FimConfig`], reporting all errors, each naming its field.
    ///
    /// # Errors
    /// One message per problem, prefixed with the field (`fim.scan_interval: ...`).
    pub fn validate(self) -> Result<FimConfig, Vec<String>> {
        let mut errors = Vec::new();
        let mut err = |field: &str, msg: String| errors.push(format!("fim.{field}: {msg}"));

        let max_hash_size = match self.max_hash_size.as_deref().map(parse_size) {
            None => DEFAULT_MAX_HASH,
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                err("max_hash_size", e);
                DEFAULT_MAX_HASH
            }
        };
        let (default_paths, default_exclude, mut crit) = platform_defaults();
        let exclude = compile(self.exclude.unwrap_or(default_exclude), "exclude", &mut err);
        crit.extend(self.critical.unwrap_or_default());
        let critical = compile(crit, "critical", &mut err);

        let raw_paths = self
            .paths
            .unwrap_or_else(|| default_paths.into_iter().map(RawPathSpec::Plain).collect());
        let mut paths: Vec<PathSpec> = Vec::new();
        for (i, raw) in raw_paths.into_iter().enumerate() {
            let (path, t) = match raw {
                RawPathSpec::Plain(p) => (p, None),
                RawPathSpec::Table(t) => (t.path.clone(), Some(t)),
            };
            let field = format!("paths[{i}]");
            let norm = match normalize(&path) {
                Ok(n) => n,
                Err(e) => {
                    err(&field, format!("{path:?} {e}"));
                    continue;
                }
            };
            if paths.iter().any(|s| s.path == norm) {
                err(&field, format!("{norm:?} is listed twice"));
                continue;
            }
            let mut spec = PathSpec {
                path: norm,
                hash: true,
                follow_symlinks: false,
                max_hash_size,
                exclude: PathMatcher::empty(),
            };
            if let Some(t) = t {
                spec.hash = t.hash.unwrap_or(true);
                spec.follow_symlinks = t.follow_symlinks.unwrap_or(false);
                if let Some(s) = t.max_hash_size {
                    match parse_size(&s) {
                        Ok(v) => spec.max_hash_size = v,
                        Err(e) => err(&format!("{field}.max_hash_size"), e),
                    }
                }
                if let Some(ex) = t.exclude {
                    spec.exclude = compile(ex, &format!("{field}.exclude"), &mut err);
                }
            }
            paths.push(spec);
        }
        paths.sort_by(|a, b| a.path.cmp(&b.path));

        let scan_interval = match self.scan_interval.as_deref().map(parse_duration) {
            None => Duration::from_secs(12 * 3600),
            Some(Ok(d)) if d >= Duration::from_secs(60) => d,
            Some(Ok(_)) => {
                err("scan_interval", "must be at least 1m".to_string());
                Duration::from_secs(12 * 3600)
            }
            Some(Err(e)) => {
                err("scan_interval", e);
                Duration::from_secs(12 * 3600)
            }
        };
        let hash = match self.hash.as_deref() {
            None | Some("blake3") => HashAlgo::Blake3,
            Some("sha256") => HashAlgo::Sha256,
            Some(other) => {
                err(
                    "hash",
                    format!("unknown hash {other:?}, expected \"blake3\" or \"sha256\""),
                );
                HashAlgo::Blake3
            }
        };
        let max_read_rate = match self.max_read_rate.as_deref().map(parse_size) {
            None => Some(64 << 20),
            Some(Ok(0)) => None,
            Some(Ok(v)) if v < 4096 => {
                err(
                    "max_read_rate",
                    "must be 0 (unlimited) or at least 4KiB per second".to_string(),
                );
                None
            }
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                err("max_read_rate", e);
                None
            }
        };
        let storm_threshold = match self.storm_threshold {
            None => 500,
            Some(0) => {
                err("storm_threshold", "must be at least 1".to_string());
                500
            }
            Some(v) => v,
        };
        let debounce = match self.debounce.as_deref().map(parse_duration) {
            None => Duration::from_millis(200),
            Some(Ok(d)) if d <= Duration::from_secs(60) => d,
            Some(Ok(_)) => {
                err("debounce", "must be at most 60s".to_string());
                Duration::from_millis(200)
            }
            Some(Err(e)) => {
                err("debounce", e);
                Duration::from_millis(200)
            }
        };
        let threads = match self.threads {
            Some(t) if t > 256 => {
                err("threads", "must be at most 256".to_string());
                0
            }
            Some(t) => t,
            None => 0,
        };
        let scan_nice = match self.scan_nice {
            None => ScanPriority::default().nice,
            Some(n @ 0..=19) => n,
            Some(_) => {
                err(
                    "scan_nice",
                    "must be between 0 (unchanged) and 19".to_string(),
                );
                0
            }
        };
        let registry_interval = match self.registry_interval.as_deref().map(parse_duration) {
            None => Duration::from_secs(60),
            Some(Ok(d)) if d >= Duration::from_secs(5) => d,
            Some(Ok(_)) => {
                err("registry_interval", "must be at least 5s".to_string());
                Duration::from_secs(60)
            }
            Some(Err(e)) => {
                err("registry_interval", e);
                Duration::from_secs(60)
            }
        };
        let scan_io = match self.scan_io_class.as_deref() {
            None | Some("best-effort") => IoClass::BestEffortLowest,
            Some("idle") => IoClass::Idle,
            Some("normal") => IoClass::Unchanged,
            Some(other) => {
                err(
                    "scan_io_class",
                    format!(
                        "unknown class {other:?}, expected \"best-effort\", \"idle\" or \"normal\""
                    ),
                );
                IoClass::Unchanged
            }
        };

        if errors.is_empty() {
            Ok(FimConfig {
                paths,
                exclude,
                critical,
                scan_interval,
                hash,
                max_read_rate,
                storm_threshold,
                debounce,
                realtime: self.realtime.unwrap_or(true),
                registry: self.registry.unwrap_or(true),
                registry_interval,
                threads,
                scan_priority: ScanPriority {
                    nice: scan_nice,
                    io: scan_io,
                },
            })
        } else {
            Err(errors)
        }
    }
}

fn compile(patterns: Vec<String>, field: &str, err: &mut impl FnMut(&str, String)) -> PathMatcher {
    match PathMatcher::new(&patterns) {
        Ok(m) => m,
        Err(es) => {
            for e in es {
                err(field, e);
            }
            PathMatcher::empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<FimConfig, Vec<String>> {
        #[derive(Deserialize)]
        struct Top {
            fim: RawFimConfig,
        }
        let top: Top = toml::from_str(toml_text).map_err(|e| vec![e.to_string()])?;
        top.fim.validate()
    }

    #[cfg(unix)]
    #[test]
    fn defaults_are_valid() {
        let c = FimConfig::default();
        assert_eq!(c.hash, HashAlgo::Blake3);
        assert!(c.paths.iter().any(|p| p.path == "/etc"));
        assert!(c.critical.is_match(b"/etc/shadow"));
        assert!(c.critical.is_match(b"/etc/sudoers.d/90-cloud"));
        assert!(c.critical.is_match(b"/home/an/.ssh/authorized_keys"));
        assert!(!c.critical.is_match(b"/etc/hostname"));
        assert_eq!(c.scan_interval, Duration::from_secs(12 * 3600));
        assert_eq!(c.max_read_rate, Some(64 << 20));
        assert_eq!(
            c.scan_priority,
            ScanPriority {
                nice: 15,
                io: IoClass::BestEffortLowest
            }
        );
    }

    #[test]
    fn full_section_parses() {
        let c = parse(
            r#"[fim]
paths = ["/etc/", {path = "/var/www", hash = false, exclude = ["*.log"], max_hash_size = "1MiB"}]
exclude = ["*.swp", "/etc/cache/**"]
scan_interval = "6h"
hash = "sha256"
max_read_rate = "0"
storm_threshold = 100
scan_nice = 19
scan_io_class = "idle"
"#,
        )
        .expect("valid");
        assert_eq!(
            c.scan_priority,
            ScanPriority {
                nice: 19,
                io: IoClass::Idle
            }
        );
        assert_eq!(c.paths.len(), 2);
        assert_eq!(c.paths[0].path, "/etc");
        assert!(!c.paths[1].hash);
        assert_eq!(c.paths[1].max_hash_size, 1 << 20);
        assert!(c.is_excluded(&c.paths[1], b"/var/www/a.log"));
        assert!(!c.is_excluded(&c.paths[0], b"/etc/a.log"));
        assert!(c.is_excluded(&c.paths[0], b"/etc/x/.a.swp"));
        assert!(c.is_excluded(&c.paths[0], b"/etc/cache/x/y"));
        assert_eq!(c.hash, HashAlgo::Sha256);
        assert_eq!(c.max_read_rate, None);
        assert_eq!(c.scan_interval, Duration::from_secs(6 * 3600));
    }

    #[test]
    fn every_error_names_its_field() {
        let errs = parse(
            r#"[fim]
paths = ["relative/path", "/etc", "/etc/", {path = "/x", max_hash_size = "huge"}]
exclude = ["[unclosed"]
scan_interval = "12 parsecs"
hash = "md5"
max_read_rate = "10"
storm_threshold = 0
debounce = "5m"
threads = 1000
scan_nice = -5
scan_io_class = "realtime"
"#,
        )
        .expect_err("invalid");
        let joined = errs.join("\n");
        for field in [
            "fim.paths[0]:",
            "fim.paths[2]:",
            "fim.paths[3].max_hash_size:",
            "fim.exclude:",
            "fim.scan_interval:",
            "fim.hash:",
            "fim.max_read_rate:",
            "fim.storm_threshold:",
            "fim.debounce:",
            "fim.threads:",
            "fim.scan_nice:",
            "fim.scan_io_class:",
        ] {
            assert!(joined.contains(field), "no error for {field} in:\n{joined}");
        }
        assert_eq!(errs.len(), 12, "{joined}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("[fim]\npath = [\"/etc\"]\n").expect_err("unknown key");
        assert!(e[0].contains("path"), "{e:?}");
        let e = parse("[fim]\npaths = [{path = \"/etc\", hashh = true}]\n").expect_err("unknown");
        assert!(e[0].contains("hashh"), "{e:?}");
    }

    #[test]
    fn spec_for_picks_deepest_tree_and_restrict_inherits() {
        let c = parse("[fim]\npaths = [\"/etc\", {path = \"/etc/ssl\", hash = false}]\n")
            .expect("valid");
        assert_eq!(c.spec_for(b"/etc/ssl/x").map(|s| s.hash), Some(false));
        assert_eq!(c.spec_for(b"/etc/sslx").map(|s| s.hash), Some(true));
        assert!(c.spec_for(b"/usr/bin/ls").is_none());
        let r = c.restrict_to(&["/etc/ssl/certs/".into()]).expect("ok");
        assert_eq!(r.paths.len(), 1);
        assert_eq!(r.paths[0].path, "/etc/ssl/certs");
        assert!(!r.paths[0].hash);
        assert!(c.restrict_to(&["etc".into()]).is_err());
    }

    #[test]
    fn normalize_and_is_under() {
        assert_eq!(normalize("/a//b/./c/").as_deref(), Ok("/a/b/c"));
        assert_eq!(normalize("/").as_deref(), Ok("/"));
        assert!(normalize("/a/../b").is_err());
        assert!(is_under(b"/etc/x", b"/etc"));
        assert!(is_under(b"/etc", b"/etc"));
        assert!(!is_under(b"/etcx", b"/etc"));
        assert!(is_under(b"/anything", b"/"));
    }
}
