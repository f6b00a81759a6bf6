//! Rule-pack schema and loader.
//!
//! The schema is a set of serde types with `deny_unknown_fields` everywhere, so a typo in a pack is
//! an error with the file, the line and the field, never a silently ignored key. Values that can be
//! checked while parsing (regexes, comparisons, modes, levels, paths) are validated inside
//! `Deserialize`, which lets the YAML parser attach the line; cross-field checks (duplicate ids,
//! unknown parameters, a kind's required fields) run after parsing and locate the rule by its id.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use vigil_proto::Severity;

use crate::compare::{Comparison, Operand, is_param_name, scalar_string};

mod native;
pub mod windows;

pub(crate) use native::policies;
pub use native::{
    BootCheck, BootSource, LineCompare, Modes, ProcessCheck, QueryCheck, QueryLine, SelinuxCheck,
    SelinuxMode,
};
pub use windows::{
    AccountPolicyCheck, AuditPolicyCheck, LocalUserCheck, RegistryCheck, UserRightCheck,
    WindowsCheck,
};

/// Rule groups, as scored by the collector (DESIGN §6).
pub const GROUPS: [&str; 8] = [
    "malware",
    "patching",
    "accounts",
    "hardening",
    "logging",
    "removable-media",
    "backup",
    "integrity",
];

/// Why a pack could not be loaded. Every variant names the file; syntax errors name the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Someone other than root could have written the pack: the file, its directory or a
    /// directory above is owned by another user or writable by a group or by everyone.
    #[error("{path}: {reason}")]
    Untrusted {
        /// The offending file or directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The YAML does not match the schema.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong, naming the field (`rules[3].checks: unknown field `mod``).
        message: String,
    },
}

/// A rule pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Pack id (`linux-baseline`).
    pub id: String,
    /// Pack version (`1.0.0`); results carry `id@version`.
    pub version: String,
    /// Title.
    pub title: Text,
    /// Optional longer description.
    #[serde(default)]
    pub description: Option<Text>,
    /// Platforms the pack applies to (any may match); empty means every host.
    #[serde(default)]
    pub applies_to: Vec<Platform>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A text in Vietnamese and English.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// Vietnamese.
    pub vi: String,
    /// English.
    pub en: String,
}

/// One applicability condition: an OS (matched against `ID` or `ID_LIKE` of os-release, or
/// `windows`) and, if given, its `VERSION_ID`s; Windows hosts can also be told apart by role,
/// edition and domain membership.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `debian`, `ubuntu`, `windows`, …
    pub os: String,
    /// Accepted `VERSION_ID`s (`"12"`, `"24.04"`; `"9"` also accepts `9.4`; for Windows `"10"`,
    /// `"11"`, `"2022"`); empty accepts any version.
    #[serde(default, deserialize_with = "de_scalar_list")]
    pub versions: Vec<String>,
    /// Windows: accepted roles (`workstation`, `server`, `domain_controller`).
    #[serde(default)]
    pub role: Vec<crate::windows::derived::Role>,
    /// Windows: accepted `EditionID`s (`Enterprise`, `Education`, `Professional`, ...).
    #[serde(default)]
    pub edition: Vec<String>,
    /// Windows: required domain membership.
    #[serde(default)]
    pub domain_member: Option<bool>,
    /// Match `ID` only, not `ID_LIKE` (a policy for RHEL itself, not for Rocky or AlmaLinux).
    #[serde(default)]
    pub exact: bool,
}

/// A rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Id, unique in the pack (`lnx-ssh-root-login`).
    pub id: String,
    /// Title.
    pub title: Text,
    /// Why it matters.
    pub rationale: Text,
    /// How to fix it.
    pub remediation: Text,
    /// Severity.
    pub severity: Severity,
    /// Scoring group.
    pub group: Group,
    /// Controls evidenced (`tcvn-14423:x.5.2.2`, `cis-debian12:5.2.4`).
    #[serde(default)]
    pub controls: Vec<String>,
    /// Lowest security level the rule applies to (below it the rule is not applicable).
    #[serde(default)]
    pub min_level: Option<Level>,
    /// Extra platform conditions of this rule (any may match).
    #[serde(default)]
    pub applies_to: Vec<Platform>,
    /// Per-level parameters referenced as `${name}` in comparisons.
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    /// How the results of `checks` combine.
    #[serde(default)]
    pub condition: Condition,
    /// The checks.
    pub checks: Vec<Check>,
}

/// Scoring group of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Group {
    /// Anti-malware.
    Malware,
    /// Updates.
    Patching,
    /// Accounts, passwords, lockout, session lock.
    Accounts,
    /// Configuration hardening, host firewall.
    Hardening,
    /// Logs, retention, time sync.
    Logging,
    /// USB and other removable media.
    RemovableMedia,
    /// Backups.
    Backup,
    /// Integrity and network exposure.
    Integrity,
}

impl Group {
    /// The name used in packs and results.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malware => GROUPS[0],
            Self::Patching => GROUPS[1],
            Self::Accounts => GROUPS[2],
            Self::Hardening => GROUPS[3],
            Self::Logging => GROUPS[4],
            Self::RemovableMedia => GROUPS[5],
            Self::Backup => GROUPS[6],
            Self::Integrity => GROUPS[7],
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A security level, 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(u8);

impl Level {
    /// The lowest level.
    pub const MIN: Level = Level(1);
    /// The highest level.
    pub const MAX: Level = Level(5);

    /// `Some` for 1..=5.
    pub fn new(n: u8) -> Option<Level> {
        (1..=5).contains(&n).then_some(Level(n))
    }

    /// The number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(d)?;
        Level::new(n).ok_or_else(|| {
            serde::de::Error::custom(format!("level {n} is out of range, expected 1 to 5"))
        })
    }
}

/// A rule parameter: one value for every level, or one per level (a list of five, level 1 first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// Same value at every level.
    Fixed(String),
    /// `[l1, l2, l3, l4, l5]`.
    PerLevel([String; 5]),
}

impl Param {
    /// The value at `level`.
    pub fn at(&self, level: Level) -> &str {
        match self {
            Self::Fixed(v) => v,
            Self::PerLevel(vs) => &vs[usize::from(level.get() - 1)],
        }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_norway::Value::deserialize(d)?;
        let scalar = |v: &serde_norway::Value| -> Option<String> {
            match v {
                serde_norway::Value::String(s) => Some(s.clone()),
                serde_norway::Value::Number(n) => Some(n.to_string()),
                serde_norway::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        };
        if let Some(s) = scalar(&v) {
            return Ok(Param::Fixed(s));
        }
        let msg = "a parameter is a scalar or a list of exactly 5 scalars (levels 1 to 5)";
        let serde_norway::Value::Sequence(items) = v else {
            return Err(D::Error::custom(msg));
        };
        let vals: Option<Vec<String>> = items.iter().map(scalar).collect();
        let vals = vals.ok_or_else(|| D::Error::custom(msg))?;
        let arr: [String; 5] = vals.try_into().map_err(|_| D::Error::custom(msg))?;
        Ok(Param::PerLevel(arr))
    }
}

/// How check results combine into the rule result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Every check passes.
    #[default]
    All,
    /// At least one check passes.
    Any,
    /// No check passes.
    None,
}

/// One check. The `kind` key selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// File attributes and content.
    File(FileCheck),
    /// Directory attributes and entries.
    Dir(DirCheck),
    /// Kernel parameter (runtime and persistent configuration).
    Sysctl(SysctlCheck),
    /// systemd unit state.
    Service(ServiceCheck),
    /// Installed Debian package.
    Package(PackageCheck),
    /// Account database facts.
    User(UserCheck),
    /// PAM stack facts.
    Pam(PamCheck),
    /// Mount options.
    Mount(MountCheck),
    /// Listening sockets.
    Listening(ListeningCheck),
    /// Output of an allow-listed command (live hosts only).
    Command(CommandCheck),
    /// SELinux mode and policy.
    Selinux(SelinuxCheck),
    /// Kernel command-line argument of the boot entries.
    Boot(BootCheck),
    /// A running process (live hosts only).
    Process(ProcessCheck),
    /// What a read-only command would print, computed natively.
    Query(QueryCheck),
    /// Windows registry value (evaluates to `error` on other hosts).
    Registry(RegistryCheck),
    /// Windows account (password and lockout) policy.
    AccountPolicy(AccountPolicyCheck),
    /// Windows advanced audit policy of one subcategory.
    AuditPolicy(AuditPolicyCheck),
    /// Windows user rights assignment.
    UserRight(UserRightCheck),
    /// Windows local accounts.
    LocalUser(LocalUserCheck),
    /// A derived Windows fact (firewall, Defender, updates, ...).
    Windows(WindowsCheck),
    /// Nested group: every check passes.
    All(Nested),
    /// Nested group: at least one check passes.
    Any(Nested),
    /// Nested group: no check passes.
    None(Nested),
}

/// Nested checks of an `all`/`any`/`none` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    /// The checks.
    pub checks: Vec<Check>,
}

/// What to conclude when no path of a check exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The check passes (the setting does not apply).
    Pass,
    /// The check fails.
    Fail,
}

/// Which occurrence of a key or matching line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occurrence {
    /// The first one (sshd semantics).
    First,
    /// The last one (most config files: later assignments win).
    #[default]
    Last,
    /// Every one must satisfy the comparison.
    All,
    /// At least one must satisfy the comparison (Wazuh SCA `n:` semantics).
    Any,
}

/// `file` check. See `docs/rules-format.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheck {
    /// Absolute path(s); `*`, `?` and `[..]` are allowed in the last component.
    #[serde(default)]
    pub path: Option<Paths>,
    /// Instead of `path`: the regular files found below these directories, recursively (symbolic
    /// links are not followed), whose name matches `name`.
    #[serde(default)]
    pub under: Option<Paths>,
    /// With `under`: regexes the file name must all match.
    #[serde(default)]
    pub name: Option<Patterns>,
    /// With `under`: a file name matching any of these does not count.
    #[serde(default)]
    pub name_unless: Option<Patterns>,
    /// `false`: passes iff no path exists. `true`: at least one must exist.
    #[serde(default)]
    pub exists: Option<bool>,
    /// Result when no path exists (default `fail`, or the `default` value for `key`).
    #[serde(default)]
    pub missing: Option<Missing>,
    /// Maximal permission bits, octal string (`"0640"`): no other bit may be set.
    #[serde(default)]
    pub max_mode: Option<Mode>,
    /// Accepted owners (names from the tree's passwd, or numeric uids).
    #[serde(default)]
    pub owner: Option<OneOrMany>,
    /// Accepted groups (names from the tree's group file, or numeric gids).
    #[serde(default)]
    pub group: Option<OneOrMany>,
    /// Maximal age of the modification time (`7d`, or `${param}`).
    #[serde(default)]
    pub max_age: Option<Operand>,
    /// Some line matches every pattern (one or a list); with `value`, the first capture group of
    /// the first pattern (or its match) is compared.
    #[serde(default)]
    pub line: Option<Patterns>,
    /// Lines matching any of these patterns do not count for `line`.
    #[serde(default)]
    pub line_unless: Option<Patterns>,
    /// No line matches.
    #[serde(default)]
    pub no_line: Option<Pattern>,
    /// The whole content of some file matches.
    #[serde(default)]
    pub content: Option<Pattern>,
    /// A `key value` / `key=value` setting (key matched case-insensitively, `#` comments ignored).
    #[serde(default)]
    pub key: Option<String>,
    /// Comparison applied to the value of `key` or the capture of `line`.
    #[serde(default)]
    pub value: Option<Comparison>,
    /// Value assumed when `key` is not set (the program's built-in default).
    #[serde(default, deserialize_with = "de_opt_scalar")]
    pub default: Option<String>,
    /// Which occurrence counts (default `last`).
    #[serde(default)]
    pub occurrence: Occurrence,
    /// Comparisons that must all hold on the same matching line (several numeric captures).
    #[serde(default)]
    pub compare: Option<Vec<LineCompare>>,
}

/// `dir` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirCheck {
    /// Absolute path(s) of directories.
    pub path: Paths,
    /// `false`: passes iff no such directory exists.
    #[serde(default)]
    pub exists: Option<bool>,
    /// Result when the directory does not exist (default `fail`).
    #[serde(default)]
    pub missing: Option<Missing>,
    /// Maximal permission bits.
    #[serde(default)]
    pub max_mode: Option<Mode>,
    /// Accepted owners.
    #[serde(default)]
    pub owner: Option<OneOrMany>,
    /// Accepted groups.
    #[serde(default)]
    pub group: Option<OneOrMany>,
    /// Some entry name matches.
    #[serde(default)]
    pub entry: Option<Pattern>,
    /// No entry name matches.
    #[serde(default)]
    pub no_entry: Option<Pattern>,
}

/// Where a `sysctl` check reads the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SysctlSource {
    /// Runtime value when `/proc/sys` exists, and the persistent value when configured.
    #[default]
    Effective,
    /// `/proc/sys` only.
    Runtime,
    /// `sysctl.d` / `sysctl.conf` only.
    Persistent,
}

/// `sysctl` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysctlCheck {
    /// Key (`net.ipv4.ip_forward`).
    pub key: String,
    /// Expected value.
    pub value: Comparison,
    /// Where to read it.
    #[serde(default)]
    pub source: SysctlSource,
    /// Kernel default, used offline when no configuration sets the key.
    #[serde(default, deserialize_with = "de_opt_scalar")]
    pub default: Option<String>,
}

/// `service` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCheck {
    /// Unit name; `.service` is implied without a suffix.
    pub name: String,
    /// Expected enablement (a missing unit is not enabled).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Expected active state.
    #[serde(default)]
    pub active: Option<bool>,
    /// Expected masking.
    #[serde(default)]
    pub masked: Option<bool>,
}

/// `package` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageCheck {
    /// Package name.
    pub name: String,
    /// Expected installation state (default `true`).
    #[serde(default = "yes")]
    pub installed: bool,
    /// Version comparison (Debian ordering), when installed.
    #[serde(default)]
    pub version: Option<Comparison>,
}

/// Which accounts a `user` check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSelect {
    /// Every passwd entry.
    #[default]
    All,
    /// Accounts whose shadow password is not locked (`!`, `*`); empty passwords included.
    Login,
    /// uid ≥ `UID_MIN` of login.defs (default 1000), `nobody` excluded.
    Human,
    /// 0 < uid < `UID_MIN`.
    System,
    /// `human` accounts that can log in (as `login`).
    HumanLogin,
}

/// Account field compared by a `user` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserField {
    /// Login name.
    Name,
    /// uid.
    Uid,
    /// Primary gid.
    Gid,
    /// Home directory.
    Home,
    /// Login shell.
    Shell,
    /// Password field of passwd (`x` when shadowed).
    PasswdPassword,
    /// Password hash field of shadow.
    Password,
    /// Shadow: days since epoch of the last change.
    LastChange,
    /// Shadow: minimum days between changes.
    MinDays,
    /// Shadow: maximum days of validity.
    MaxDays,
    /// Shadow: warning days.
    WarnDays,
    /// Shadow: days after expiry until the account is disabled.
    Inactive,
    /// Shadow: account expiry date.
    Expire,
}

/// `user` check: every selected account must satisfy `value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCheck {
    /// Which accounts.
    #[serde(default)]
    pub select: UserSelect,
    /// Restrict to these names.
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Field compared.
    pub field: UserField,
    /// Comparison every selected account must satisfy.
    pub value: Comparison,
    /// Accounts exempt from the check.
    #[serde(default)]
    pub allow: Vec<String>,
}

/// `pam` check: a module line in a PAM service stack (`@include` followed).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PamCheck {
    /// Service file under `/etc/pam.d` (`common-auth`, `sshd`).
    pub service: String,
    /// Management group (`auth`, `account`, `password`, `session`).
    #[serde(default, rename = "type")]
    pub pam_type: Option<String>,
    /// Module (`pam_faillock.so`; matched by file name).
    pub module: String,
    /// Module argument (`deny` in `deny=5`, or a flag such as `nullok`).
    #[serde(default)]
    pub arg: Option<String>,
    /// Comparison on the argument value.
    #[serde(default)]
    pub value: Option<Comparison>,
    /// `true` (default): a matching line exists. `false`: none exists.
    #[serde(default = "yes")]
    pub present: bool,
}

/// `mount` check: selected mounts carry the options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountCheck {
    /// Exact mount point.
    #[serde(default)]
    pub path: Option<String>,
    /// Mount points below this directory.
    #[serde(default)]
    pub under: Option<String>,
    /// Filesystem types.
    #[serde(default)]
    pub fstype: Option<Vec<String>>,
    /// Options every selected mount must carry.
    #[serde(default)]
    pub options: Vec<String>,
    /// Result when nothing is selected (default `fail`).
    #[serde(default)]
    pub missing: Option<Missing>,
}

/// Transport protocol of a `listening` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// TCP or UDP.
    #[default]
    Any,
    /// TCP (IPv4 and IPv6).
    Tcp,
    /// UDP (IPv4 and IPv6).
    Udp,
}

/// `listening` check.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListeningCheck {
    /// Ports.
    pub port: PortList,
    /// Protocol.
    #[serde(default)]
    pub proto: Proto,
    /// Only sockets bound to non-loopback addresses count.
    #[serde(default)]
    pub exposed: bool,
    /// `false` (default): passes iff nothing listens. `true`: something must listen.
    #[serde(default)]
    pub present: bool,
}

/// `command` check. Runs only on the live host (`--root /`) and only allow-listed binaries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandCheck {
    /// argv; argv\[0\] is an absolute path. No shell is involved.
    pub run: Vec<String>,
    /// stdout must match.
    #[serde(default)]
    pub output: Option<Pattern>,
    /// No line of stdout matches.
    #[serde(default)]
    pub no_output: Option<Pattern>,
    /// Some line of stdout matches every pattern, as `line` of a `file` check.
    #[serde(default)]
    pub line: Option<Patterns>,
    /// Lines matching any of these patterns do not count for `line`.
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
    /// Expected exit status.
    #[serde(default)]
    pub exit: Option<i32>,
    /// Timeout (`10s` by default).
    #[serde(default)]
    pub timeout: Option<Operand>,
}

/// A compiled regular expression (validated at load time).
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("invalid regular expression {s:?}: {e}")))
    }
}

/// One or more regular expressions that must all match the same line.
#[derive(Debug, Clone)]
pub struct Patterns(pub Vec<Pattern>);

impl Patterns {
    /// Whether every pattern matches `line`.
    pub fn all_match(&self, line: &str) -> bool {
        self.0.iter().all(|p| p.0.is_match(line))
    }

    /// Whether some pattern matches `line`.
    pub fn any_match(&self, line: &str) -> bool {
        self.0.iter().any(|p| p.0.is_match(line))
    }

    /// The patterns joined with ` && `, for evidence.
    pub fn shown(&self) -> String {
        self.0
            .iter()
            .map(|p| format!("/{}/", p.0.as_str()))
            .collect::<Vec<_>>()
            .join(" && ")
    }
}

impl<'de> Deserialize<'de> for Patterns {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let OneOrMany(v) = OneOrMany::deserialize(d)?;
        if v.is_empty() {
            return Err(serde::de::Error::custom(
                "at least one regular expression is required",
            ));
        }
        v.iter()
            .map(|s| {
                Regex::new(s).map(Pattern).map_err(|e| {
                    serde::de::Error::custom(format!("invalid regular expression {s:?}: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Patterns)
    }
}

/// Permission bits from an octal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Mode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quoted octal mode such as \"0640\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Mode, E> {
                let digits = v.trim().trim_start_matches("0o");
                match u32::from_str_radix(digits, 8) {
                    Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(Mode(m)),
                    _ => Err(E::custom(format!(
                        "invalid mode {v:?}, expected a quoted octal mode such as \"0640\""
                    ))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Mode, E> {
                Err(E::custom(format!(
                    "mode {v} must be a quoted octal string such as \"0640\" (YAML reads bare \
                     numbers as decimal)"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Mode, E> {
                self.visit_u64(v.unsigned_abs())
            }
        }
        d.deserialize_any(V)
    }
}

/// One string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_u64<E>(self, v: u64) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Absolute paths, glob characters allowed in the last component only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths(pub Vec<String>);

impl<'de> Deserialize<'de> for Paths {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let OneOrMany(v) = OneOrMany::deserialize(d)?;
        if v.is_empty() {
            return Err(serde::de::Error::custom(
                "path: at least one path is required",
            ));
        }
        for p in &v {
            validate_path(p).map_err(serde::de::Error::custom)?;
        }
        Ok(Paths(v))
    }
}

/// A list of ports (one number or a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(pub Vec<u16>);

impl<'de> Deserialize<'de> for PortList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PortList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number or a list of port numbers")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PortList, E> {
                u16::try_from(v)
                    .map(|p| PortList(vec![p]))
                    .map_err(|_| E::custom(format!("port {v} is out of range")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<PortList, A::Error> {
                let mut out = Vec::new();
                while let Some(p) = seq.next_element::<u16>()? {
                    out.push(p);
                }
                Ok(PortList(out))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn yes() -> bool {
    true
}

fn de_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    scalar_string(d)
}

pub(crate) fn de_opt_scalar<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    scalar_string(d).map(Some)
}

fn de_scalar_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct S(#[serde(deserialize_with = "de_scalar")] String);
    let v: Vec<S> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|s| s.0).collect())
}

fn validate_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("path {p:?} must be absolute"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(format!("path {p:?} must not contain `..`"));
    }
    let (dir, _) = p.rsplit_once('/').unwrap_or(("", p));
    if dir.contains(['*', '?', '[']) {
        return Err(format!(
            "path {p:?}: glob characters are allowed in the last component only"
        ));
    }
    Ok(())
}

/// Parses a pack from YAML text; `origin` names the file in errors.
///
/// # Errors
/// [`LoadError::Invalid`] with the line and field when the text does not match the schema or a
/// cross-field rule (unique ids, known groups and parameters, required fields of a kind).
pub fn parse_pack(text: &str, origin: &Path) -> Result<Pack, LoadError> {
    let pack: Pack = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        let msg = e.to_string();
        let message = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        LoadError::Invalid {
            path: origin.to_path_buf(),
            line,
            message,
        }
    })?;
    if let Err((id, message)) = validate(&pack) {
        let line = id.as_deref().map(|id| find_id_line(text, id)).unwrap_or(0);
        return Err(LoadError::Invalid {
            path: origin.to_path_buf(),
            line,
            message,
        });
    }
    Ok(pack)
}

/// Loads one pack file, refusing files someone other than root could have written (see
/// `trust.rs`: owner and mode of the file and of every directory above it).
///
/// # Errors
/// [`LoadError`] naming the file (and the line for schema errors).
pub fn load_pack(path: &Path) -> Result<Pack, LoadError> {
    use std::io::Read as _;
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    crate::trust::check_file(path, &f.metadata().map_err(io)?)?;
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(io)?;
    parse_pack(&text, path)
}

/// Loads packs from files and directories (every `*.yaml`/`*.yml` in a directory, sorted).
///
/// # Errors
/// The first [`LoadError`]; also an error when two packs share an id.
pub fn load_packs(paths: &[PathBuf]) -> Result<Vec<Pack>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| LoadError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            crate::trust::check_dir(p)?;
            let rd = std::fs::read_dir(p).map_err(|source| LoadError::Io {
                path: p.clone(),
                source,
            })?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    matches!(f.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        && f.is_file()
                })
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut packs: Vec<Pack> = Vec::new();
    for f in files {
        let pack = load_pack(&f)?;
        if packs.iter().any(|p| p.id == pack.id) {
            let line = find_id_line_top(&std::fs::read_to_string(&f).unwrap_or_default());
            return Err(LoadError::Invalid {
                path: f,
                line,
                message: format!("id: pack id {:?} is loaded twice", pack.id),
            });
        }
        packs.push(pack);
    }
    Ok(packs)
}

fn find_id_line(text: &str, id: &str) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            t.strip_prefix("id:")
                .map(|v| v.trim().trim_matches(['"', '\'']) == id)
                .unwrap_or(false)
        })
        .map(|(i, _)| i + 1)
        .last()
        .unwrap_or(0)
}

fn find_id_line_top(text: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with("id:"))
        .map(|i| i + 1)
        .unwrap_or(0)
}

/// Cross-field validation. Returns the offending rule id (to locate the line) and a message.
fn validate(pack: &Pack) -> Result<(), (Option<String>, String)> {
    let mut seen = BTreeSet::new();
    if pack.id.trim().is_empty() {
        return Err((None, "id: must not be empty".into()));
    }
    validate_platforms(&pack.applies_to).map_err(|m| (None, format!("applies_to: {m}")))?;
    for (i, rule) in pack.rules.iter().enumerate() {
        let at = |m: String| {
            (
                Some(rule.id.clone()),
                format!("rules[{i}] ({}): {m}", rule.id),
            )
        };
        if rule.id.trim().is_empty() || rule.id.contains(char::is_whitespace) {
            return Err(at("id: must be non-empty without spaces".into()));
        }
        if !seen.insert(rule.id.as_str()) {
            return Err(at(format!("id: duplicate rule id {:?}", rule.id)));
        }
        if rule.checks.is_empty() {
            return Err(at("checks: at least one check is required".into()));
        }
        validate_platforms(&rule.applies_to).map_err(|m| at(format!("applies_to: {m}")))?;
        for name in rule.params.keys() {
            if !is_param_name(name) {
                return Err(at(format!("params: invalid parameter name {name:?}")));
            }
        }
        for (j, c) in rule.checks.iter().enumerate() {
            validate_check(c, rule).map_err(|m| at(format!("checks[{j}]: {m}")))?;
        }
    }
    Ok(())
}

/// Role, edition and domain membership are Windows facts.
fn validate_platforms(list: &[Platform]) -> Result<(), String> {
    for p in list {
        let windows_only = !p.role.is_empty() || !p.edition.is_empty() || p.domain_member.is_some();
        if windows_only && !p.os.eq_ignore_ascii_case("windows") {
            return Err(format!(
                "`role`, `edition` and `domain_member` apply to `os: windows`, not {:?}",
                p.os
            ));
        }
    }
    Ok(())
}

fn validate_check(c: &Check, rule: &Rule) -> Result<(), String> {
    let param_known = |o: &Operand| match o.param() {
        Some(p) if !rule.params.contains_key(p) => Err(format!("unknown parameter ${{{p}}}")),
        _ => Ok(()),
    };
    let cmp_known = |c: &Option<Comparison>| match c {
        Some(c) => param_known(&c.operand),
        None => Ok(()),
    };
    match c {
        Check::File(f) => {
            cmp_known(&f.value)?;
            for c in f.compare.iter().flatten() {
                param_known(&c.value.operand)?;
            }
            match (&f.path, &f.under) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => return Err("file: give either `path` or `under`".into()),
            }
            if (f.name.is_some() || f.name_unless.is_some()) && f.under.is_none() {
                return Err("file: `name` and `name_unless` need `under`".into());
            }
            if let Some(a) = &f.max_age {
                param_known(a)?;
            }
            if f.value.is_some() && f.key.is_none() && f.line.is_none() {
                return Err("file: `value` needs `key` or `line`".into());
            }
            if f.default.is_some() && f.key.is_none() {
                return Err("file: `default` needs `key`".into());
            }
            if f.key.is_some() && f.line.is_some() {
                return Err("file: use either `key` or `line`, not both".into());
            }
            if f.line_unless.is_some() && f.line.is_none() && f.compare.is_none() {
                return Err("file: `line_unless` needs `line` or `compare`".into());
            }
        }
        Check::Dir(_) | Check::Service(_) => {}
        Check::Sysctl(s) => {
            param_known(&s.value.operand)?;
            if s.key.is_empty() || s.key.contains("..") {
                return Err(format!("sysctl: invalid key {:?}", s.key));
            }
        }
        Check::Package(p) => cmp_known(&p.version)?,
        Check::User(u) => param_known(&u.value.operand)?,
        Check::Pam(p) => {
            cmp_known(&p.value)?;
            if p.service.contains('/') || p.service.is_empty() {
                return Err(format!("pam: invalid service {:?}", p.service));
            }
            if p.value.is_some() && p.arg.is_none() {
                return Err("pam: `value` needs `arg`".into());
            }
        }
        Check::Mount(m) => {
            if m.path.is_none() && m.under.is_none() && m.fstype.is_none() {
                return Err("mount: one of `path`, `under` or `fstype` is required".into());
            }
        }
        Check::Listening(l) => {
            if l.port.0.is_empty() {
                return Err("listening: `port` must not be empty".into());
            }
        }
        Check::Command(cmd) => {
            match cmd.run.first() {
                Some(p) if p.starts_with('/') => {}
                _ => return Err("command: `run` must start with an absolute path".into()),
            }
            if let Some(t) = &cmd.timeout {
                param_known(t)?;
            }
            cmp_known(&cmd.value)?;
            for c in cmd.compare.iter().flatten() {
                param_known(&c.value.operand)?;
            }
            if cmd.value.is_some() && cmd.line.is_none() {
                return Err("command: `value` needs `line`".into());
            }
            if cmd.line_unless.is_some() && cmd.line.is_none() && cmd.compare.is_none() {
                return Err("command: `line_unless` needs `line` or `compare`".into());
            }
        }
        Check::Selinux(s) => {
            if s.mode.is_none() && s.policy.is_none() {
                return Err("selinux: `mode` or `policy` is required".into());
            }
        }
        Check::Boot(b) => {
            cmp_known(&b.value)?;
            if b.arg.is_empty() || b.arg.contains(char::is_whitespace) {
                return Err(format!("boot: invalid argument name {:?}", b.arg));
            }
        }
        Check::Process(p) => {
            if p.name.is_empty() || p.name.contains('/') {
                return Err(format!("process: invalid name {:?}", p.name));
            }
        }
        Check::Query(q) => {
            cmp_known(&q.value)?;
            for c in q.compare.iter().flatten() {
                param_known(&c.value.operand)?;
            }
            if q.value.is_some() && q.line.is_none() {
                return Err("query: `value` needs `line`".into());
            }
            if q.line_unless.is_some() && q.line.is_none() && q.compare.is_none() {
                return Err("query: `line_unless` needs `line` or `compare`".into());
            }
        }
        Check::Registry(r) => {
            cmp_known(&r.value)?;
            if r.name.is_none() && (r.value.is_some() || r.default.is_some()) {
                return Err("registry: `value` and `default` need `name`".into());
            }
            if r.exists == Some(false) && (r.value.is_some() || r.default.is_some()) {
                return Err("registry: `exists: false` cannot be combined with `value`".into());
            }
        }
        Check::AccountPolicy(a) => param_known(&a.value.operand)?,
        Check::LocalUser(u) => param_known(&u.value.operand)?,
        Check::Windows(w) => {
            param_known(&w.value.operand)?;
            windows::validate_windows(w)?;
        }
        Check::AuditPolicy(a) => {
            if a.includes.is_empty() {
                return Err("audit_policy: `includes` lists success and/or failure".into());
            }
        }
        Check::UserRight(u) => {
            if u.includes.is_empty() && u.only.is_none() {
                return Err("user_right: give `includes` and/or `only`".into());
            }
        }
        Check::All(n) | Check::Any(n) | Check::None(n) => {
            if n.checks.is_empty() {
                return Err("nested group: at least one check is required".into());
            }
            for (k, c) in n.checks.iter().enumerate() {
                validate_check(c, rule).map_err(|m| format!("checks[{k}]: {m}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "id: p\nversion: \"1.0\"\ntitle: {vi: Gói, en: Pack}\nrules:\n";

    fn rule(body: &str) -> String {
        format!(
            "{HEAD}  - id: r1\n    title: {{vi: a, en: a}}\n    rationale: {{vi: a, en: a}}\n    \
             remediation: {{vi: a, en: a}}\n    severity: high\n    group: hardening\n{body}"
        )
    }

    fn err(text: &str) -> (usize, String) {
        match parse_pack(text, Path::new("x.yaml")) {
            Err(LoadError::Invalid { line, message, .. }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_minimal_pack() {
        let t = rule(
            "    params: {n: [1, 2, 3, 4, 5]}\n    checks:\n      - kind: file\n        path: \
             /etc/x\n        key: a\n        value: \">= ${n}\"\n",
        );
        let p = parse_pack(&t, Path::new("x.yaml")).expect("valid");
        assert_eq!(p.version, "1.0");
        assert_eq!(p.rules[0].params["n"].at(Level::MAX), "5");
        assert_eq!(p.rules[0].condition, Condition::All);
    }

    #[test]
    fn unknown_key_is_reported_with_line_and_field() {
        let t =
            rule("    checks:\n      - kind: file\n        path: /etc/x\n        mod: \"0644\"\n");
        let (line, msg) = err(&t);
        assert_eq!(line, 12, "{msg}");
        assert!(msg.contains("unknown field `mod`"), "{msg}");
        let (line, msg) = err(&rule("    chekcs: []\n"));
        assert!(msg.contains("unknown field `chekcs`"), "{msg}");
        assert_eq!(line, 11);
    }

    #[test]
    fn bad_values_are_rejected() {
        let (_, m) = err(&rule(
            "    checks:\n      - kind: file\n        path: etc/x\n",
        ));
        assert!(m.contains("must be absolute"), "{m}");
        let (_, m) = err(&rule(
            "    checks:\n      - kind: file\n        path: /x\n        line: \"(\"\n",
        ));
        assert!(m.contains("invalid regular expression"), "{m}");
        let (_, m) = err(&rule(
            "    checks:\n      - kind: file\n        path: /x\n        max_mode: 644\n",
        ));
        assert!(m.contains("quoted octal"), "{m}");
        let (_, m) = err(&rule("    min_level: 7\n    checks: []\n"));
        assert!(m.contains("out of range"), "{m}");
        let (_, m) = err(&rule("    checks:\n      - kind: bogus\n"));
        assert!(m.contains("unknown variant `bogus`"), "{m}");
        let (_, m) = err(&rule("    group: web\n    checks: []\n"));
        assert!(m.contains("group") || m.contains("duplicate"), "{m}");
    }

    #[test]
    fn cross_field_errors_name_rule_and_field() {
        let t = rule(
            "    checks:\n      - kind: sysctl\n        key: a.b\n        value: \"== ${nope}\"\n",
        );
        let (line, m) = err(&t);
        assert!(
            m.contains("unknown parameter ${nope}") && m.contains("(r1)"),
            "{m}"
        );
        assert_eq!(line, 5);
        let dup = format!(
            "{}  - id: r1\n    title: {{vi: a, en: a}}\n    rationale: {{vi: a, en: a}}\n    \
             remediation: {{vi: a, en: a}}\n    severity: low\n    group: backup\n    checks:\n      \
             - {{kind: package, name: x}}\n",
            rule("    checks:\n      - {kind: package, name: x}\n")
        );
        let (line, m) = err(&dup);
        assert!(m.contains("duplicate rule id"), "{m}");
        assert_eq!(line, 13);
    }

    #[test]
    fn world_writable_packs_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("p.yaml");
        std::fs::write(&f, rule("    checks:\n      - {kind: package, name: x}\n")).expect("write");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        assert!(load_pack(&f).is_ok());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(matches!(load_pack(&f), Err(LoadError::Untrusted { .. })));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            load_packs(&[dir.path().to_path_buf()]).expect("dir").len(),
            1
        );
        let twice = load_packs(&[f.clone(), f.clone()]);
        assert!(matches!(twice, Err(LoadError::Invalid { .. })), "{twice:?}");
    }
}
