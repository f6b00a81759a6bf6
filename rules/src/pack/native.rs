//! Check kinds for host state that other tools only show through commands: SELinux, the kernel
//! command line of the boot entries, running processes, and numeric comparisons of several
//! captures on one line. The evaluator reads each of them from files, so they work on an offline
//! image as on the running host.

use serde::Deserialize;

use super::{Occurrence, OneOrMany, Pattern, Patterns, SysctlSource, de_opt_scalar, yes};
use crate::compare::Comparison;
use crate::query::Query;

/// An SELinux mode, as `/etc/selinux/config` and `getenforce` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelinuxMode {
    /// Policy loaded and enforced.
    Enforcing,
    /// Policy loaded, denials only logged.
    Permissive,
    /// No policy loaded.
    Disabled,
}

impl SelinuxMode {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforcing => "enforcing",
            Self::Permissive => "permissive",
            Self::Disabled => "disabled",
        }
    }
}

/// One mode or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Modes {
    /// One accepted mode.
    One(SelinuxMode),
    /// Several accepted modes.
    Many(Vec<SelinuxMode>),
}

impl Modes {
    /// The accepted modes.
    pub fn list(&self) -> Vec<SelinuxMode> {
        match self {
            Self::One(m) => vec![*m],
            Self::Many(v) => v.clone(),
        }
    }
}

/// `selinux` check: the mode and policy, at runtime (`/sys/fs/selinux`) and as configured for the
/// next boot (`/etc/selinux/config`, overridden by `selinux=0` / `enforcing=0` on a boot entry).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelinuxCheck {
    /// Accepted modes.
    #[serde(default)]
    pub mode: Option<Modes>,
    /// Accepted policy names (`SELINUXTYPE`: `targeted`, `mls`).
    #[serde(default)]
    pub policy: Option<OneOrMany>,
    /// Which state counts: `effective` (default: runtime when known, and the boot configuration),
    /// `runtime` or `persistent`.
    #[serde(default)]
    pub source: SysctlSource,
}

/// Where a `boot` check reads kernel arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BootSource {
    /// Every boot entry: BLS entries (`/boot/loader/entries/*.conf`, `$kernelopts` from
    /// `grubenv`), else the `linux` lines of `grub.cfg`.
    #[default]
    Entries,
    /// The running kernel's `/proc/cmdline`.
    Running,
}

/// `boot` check: an argument on the kernel command line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootCheck {
    /// Argument name (`audit`, `audit_backlog_limit`, `selinux`).
    pub arg: String,
    /// Comparison on its value (a flag without `=` has the value `""`).
    #[serde(default)]
    pub value: Option<Comparison>,
    /// `true` (default): every entry has the argument (satisfying `value`). `false`: no entry has
    /// it (satisfying `value`, when given).
    #[serde(default = "yes")]
    pub present: bool,
    /// Where to read the command line.
    #[serde(default)]
    pub source: BootSource,
    /// Value assumed when an entry lacks the argument (the kernel's built-in default).
    #[serde(default, deserialize_with = "de_opt_scalar")]
    pub default: Option<String>,
}

/// `process` check: a process of that name runs (live hosts only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessCheck {
    /// Process name: `/proc/<pid>/comm` (at most 15 characters) or the base name of `argv[0]`.
    pub name: String,
    /// Expected state (default `true`: running).
    #[serde(default = "yes")]
    pub running: bool,
}

/// One comparison on a matching line: `pattern` matches it and its first capture group (or whole
/// match) satisfies `value`. Several of them must all hold on the same line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineCompare {
    /// Regex with the value in its first capture group.
    pub pattern: Pattern,
    /// Comparison on the captured value.
    pub value: Comparison,
}

/// `query` check: what a read-only command (or pipeline) would print, computed natively from the
/// tree (`crate::query`), matched like the output of a `command` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryCheck {
    /// The command line (`rpm -q aide`, `cut -f3 -d: /etc/passwd | sort | uniq -d`).
    pub query: QueryLine,
    /// The whole output must match.
    #[serde(default)]
    pub output: Option<Pattern>,
    /// No line of the output matches.
    #[serde(default)]
    pub no_output: Option<Pattern>,
    /// Some line matches every pattern.
    #[serde(default)]
    pub line: Option<Patterns>,
    /// Lines matching any of these do not count for `line`.
    #[serde(default)]
    pub line_unless: Option<Patterns>,
    /// Comparison applied to the capture of `line`.
    #[serde(default)]
    pub value: Option<Comparison>,
    /// Which matching line counts for `value` (default `last`).
    #[serde(default)]
    pub occurrence: Occurrence,
    /// Comparisons that must all hold on the same matching line.
    #[serde(default)]
    pub compare: Option<Vec<LineCompare>>,
}

/// A query command line, parsed when the pack loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryLine(pub Query);

impl<'de> Deserialize<'de> for QueryLine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        crate::query::parse(&s)
            .map(QueryLine)
            .map_err(|e| serde::de::Error::custom(format!("query {s:?}: {e}")))
    }
}

/// Accepted policy names, lower-cased.
pub(crate) fn policies(p: &OneOrMany) -> Vec<String> {
    p.0.iter().map(|s| s.to_ascii_lowercase()).collect()
}
