//! What engines observe on a host, and the [`FindingSink`] they push it into.
//!
//! A [`Finding`] is the unit of delivery. The agent wraps each one in an [`Envelope`] that carries
//! the per-agent sequence number (assigned by the durable spool) and the agent-side observation
//! time. Everything here is plain data with a stable JSON form: it is what crosses the wire and
//! what the collector stores.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Severity of a rule or a finding, as used for scoring weights and spool drop order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Weight 1.
    Low,
    /// Weight 3.
    Medium,
    /// Weight 6.
    High,
    /// Weight 10. A failed critical rule caps the host's configuration score.
    Critical,
}

impl Severity {
    /// All severities, lowest first (the order in which a full spool drops records).
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The lowercase name used in JSON, YAML and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown severity {s:?}, expected low|medium|high|critical"))
    }
}

/// Outcome of one rule on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The host meets the rule.
    Pass,
    /// The host does not meet the rule.
    Fail,
    /// The rule could not be evaluated (the evidence says why). Scored as 0, shown "unverified".
    Error,
    /// The pack's applicability conditions exclude this host.
    NotApplicable,
}

impl Status {
    /// The lowercase name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
            Self::NotApplicable => "not_applicable",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding, delivered at least once and stored exactly once by the collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Finding {
    /// Result of a hardening rule (sent when it changes, plus a periodic digest).
    CheckResult(CheckResult),
    /// A file-integrity change.
    FileEvent(FileEvent),
    /// A network observation (listener, connection, IOC hit).
    NetEvent(NetEvent),
    /// A change under a watched registry key (Windows; FIM's registry watch).
    Registry(RegistryEvent),
    /// Host inventory snapshot.
    Inventory(Inventory),
    /// Something about the agent itself (spool drops, watch limits, start-up).
    AgentHealth(AgentHealth),
}

impl Finding {
    /// Short kind name as used by `vigil-collector findings --kind`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::CheckResult(_) => "check",
            Self::FileEvent(_) => "file",
            Self::NetEvent(_) => "net",
            Self::Registry(_) => "registry",
            Self::Inventory(_) => "inventory",
            Self::AgentHealth(_) => "health",
        }
    }

    /// The severity that decides the order in which a full spool drops records.
    pub fn severity(&self) -> Severity {
        match self {
            Self::CheckResult(c) if c.status == Status::Fail => c.severity,
            Self::CheckResult(_) => Severity::Low,
            Self::FileEvent(f) => f.severity,
            Self::NetEvent(n) if n.kind == NetEventKind::IocHit => Severity::Critical,
            Self::NetEvent(n) => n.severity,
            Self::Registry(r) => r.severity,
            Self::Inventory(_) => Severity::Low,
            Self::AgentHealth(h) => h.severity,
        }
    }
}

/// A finding with its delivery metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Per-agent, strictly increasing sequence number (assigned by the spool).
    pub seq: u64,
    /// Agent clock, milliseconds since the Unix epoch.
    pub observed_at: i64,
    /// The finding itself.
    pub finding: Finding,
}

/// Result of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Rule id, unique within its pack (e.g. `lnx-ssh-root-login`).
    pub rule_id: String,
    /// Pack id and version, `linux-baseline@1.0.0`.
    pub pack: String,
    /// Outcome.
    pub status: Status,
    /// Rule severity.
    pub severity: Severity,
    /// Scoring group (`hardening`, `accounts`, …, DESIGN §6).
    pub group: String,
    /// Controls the rule evidences (`tcvn-14423:x.5.2.2`, `cis-debian12:5.2.4`).
    #[serde(default)]
    pub controls: Vec<String>,
    /// Human-readable evidence: what was found, or why it could not be checked.
    #[serde(default)]
    pub evidence: String,
}

/// What kind of file change was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileEventKind {
    /// A path that was not in the baseline exists now.
    Created,
    /// Content changed (and possibly attributes).
    Modified,
    /// A path of the baseline is gone.
    Deleted,
    /// Only attributes (mode, owner, …) changed.
    Attrs,
    /// The path changed type (file → symlink, dir → file, …).
    TypeChanged,
    /// A rescan was done (after an inotify overflow, or scheduled); `summary` says why.
    Rescan,
    /// Many changes under one tree were summarised (storm control).
    Summary,
}

/// Type of a filesystem object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Anything else (fifo, socket, device).
    Other,
}

/// Attributes of a filesystem object at one point in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Object type.
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Content hash as `blake3:<hex>` or `sha256:<hex>`, for regular files that were hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Link target, for symlinks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
}

/// A file-integrity finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEvent {
    /// Absolute path on the host (relative to the checked root).
    pub path: String,
    /// What happened.
    pub kind: FileEventKind,
    /// Attributes before (from the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<FileMeta>,
    /// Attributes now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<FileMeta>,
    /// Names of the attributes that differ (`hash`, `mode`, `uid`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// Process responsible, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// Tag such as `package-manager` when the change is attributed to dpkg/apt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Free-text summary for `rescan` and `summary` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Number of changes a `summary` event stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Severity (critical paths raise it).
    pub severity: Severity,
}

/// A registry-watch finding (Windows): a value, or a whole subkey, under a watched key appeared,
/// changed or disappeared since the last snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryEvent {
    /// Full key path: `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run`; a 32-bit view key
    /// is named with its `WOW6432Node` path.
    pub key: String,
    /// Value name (`""` is the key's default value); absent for a subkey that appeared or went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `created`, `modified` or `deleted`; `rescan` for the summary of a first snapshot.
    pub kind: FileEventKind,
    /// Data before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<RegistryData>,
    /// Data now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<RegistryData>,
    /// What the watched key is about: `autostart`, `services`, `winlogon`, `ifeo`, `lsa`, …
    pub group: String,
    /// Free-text summary (rescans, truncated snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Severity (autostart and credential-related keys are high).
    pub severity: Severity,
}

/// One registry value's data in a [`RegistryEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryData {
    /// `REG_SZ`, `REG_EXPAND_SZ`, `REG_MULTI_SZ`, `REG_DWORD`, `REG_QWORD`, `REG_BINARY`, …
    #[serde(rename = "type")]
    pub reg_type: String,
    /// Text form (strings as is, multi-strings joined by newlines, numbers in decimal, other data
    /// in hex), cut at [`RegistryData::MAX_TEXT`] characters.
    pub data: String,
    /// `sha256:<hex>` of the raw value bytes (of the whole value, also when `data` is cut).
    pub hash: String,
    /// Whether `data` was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl RegistryData {
    /// Longest `data` text sent.
    pub const MAX_TEXT: usize = 1024;
}

/// What kind of network observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetEventKind {
    /// A new listening socket.
    Listen,
    /// A listening socket went away.
    ListenClosed,
    /// A new outbound connection or flow.
    Connect,
    /// A connection went away.
    ConnectClosed,
    /// A connection or executable matched an indicator of compromise.
    IocHit,
}

/// A network finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetEvent {
    /// What happened.
    pub kind: NetEventKind,
    /// `tcp`, `udp`, `tcp6`, `udp6`.
    pub proto: String,
    /// Local `addr:port`.
    pub local: String,
    /// Remote `addr:port`, for connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// Owning process id, when attributed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Executable path of the owning process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
    /// User name (or uid) of the owning process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Command line of the owning process (IOC hits only: it is personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// The indicator that matched (IOC hits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<String>,
    /// Free-text note (e.g. "listens on a non-loopback address on a workstation").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Severity.
    pub severity: Severity,
}

/// One mounted filesystem in an inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// Mount point.
    pub mount: String,
    /// Filesystem type.
    pub fs: String,
    /// Total bytes.
    pub total: u64,
    /// Available bytes.
    pub available: u64,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// Package name.
    pub name: String,
    /// Installed version, in the package manager's syntax.
    pub version: String,
    /// The source package it was built from, when it differs from `name` (dpkg's `Source`);
    /// advisories of Debian and Ubuntu name source packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A local account in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LocalUser {
    /// Account name.
    pub name: String,
    /// The account is disabled.
    #[serde(default)]
    pub disabled: bool,
}

/// A network interface in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NetInterface {
    /// Interface name.
    pub name: String,
    /// MAC address (`aa:bb:cc:dd:ee:ff`), empty when none.
    #[serde(default)]
    pub mac: String,
    /// Addresses with prefix length (`192.0.2.10/24`).
    #[serde(default)]
    pub addrs: Vec<String>,
}

/// Domain or workgroup membership of a Windows host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// `domain`, `workgroup` or `none`.
    pub kind: String,
    /// The domain or workgroup name.
    pub name: String,
}

/// Host inventory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Inventory {
    /// Host name.
    pub hostname: String,
    /// OS name (`Debian GNU/Linux`).
    pub os: String,
    /// OS version (`12`).
    pub os_version: String,
    /// Kernel version.
    pub kernel: String,
    /// CPU architecture.
    #[serde(default)]
    pub arch: String,
    /// Logical CPUs.
    pub cpus: u32,
    /// CPU model.
    #[serde(default)]
    pub cpu_brand: String,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Mounted disks.
    #[serde(default)]
    pub disks: Vec<DiskInfo>,
    /// Seconds since boot.
    pub uptime_s: u64,
    /// Installed packages (sent when they change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<Package>,
    /// Hash of the sorted package list, so the collector can verify it holds the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages_hash: Option<String>,
    /// OS edition (Windows: `Professional`, `Enterprise`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub edition: String,
    /// OS build (Windows: `19045.4529`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub build: String,
    /// Installed updates (Windows: `KB5034441`, …), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hotfixes: Vec<String>,
    /// Local accounts, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<LocalUser>,
    /// Members of the local administrators group (`DOMAIN\name`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admins: Vec<String>,
    /// Network interfaces, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<NetInterface>,
    /// Domain or workgroup (Windows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<Membership>,
}

/// What an agent-health finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthKind {
    /// The agent started.
    Started,
    /// The spool was full and records were dropped (`counts` per severity).
    SpoolDropped,
    /// The inotify watch limit was reached; some paths are covered by scheduled scans only.
    WatchLimit,
    /// The inotify queue overflowed; an immediate rescan followed.
    QueueOverflow,
    /// A central policy bundle was applied (`counts.policy_version`).
    PolicyApplied,
    /// A central policy bundle was refused and the one in force kept (`counts.policy_version`
    /// of the refused bundle when known, `counts.policy_version_kept`); the message says why.
    PolicyRefused,
    /// Anything else worth surfacing.
    Other,
}

/// A finding about the agent itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentHealth {
    /// What happened.
    pub kind: HealthKind,
    /// Human-readable message.
    pub message: String,
    /// Counters (e.g. dropped records per severity).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// Severity.
    pub severity: Severity,
}

/// Where engines push findings: the uplink's spool in the agent, a `Vec` in tests.
///
/// Engines never block on the network: an implementation must accept the finding (persisting it,
/// queueing it, or accounting for its loss) and return.
pub trait FindingSink {
    /// Accepts one finding.
    fn emit(&mut self, finding: Finding);
}

impl FindingSink for Vec<Finding> {
    fn emit(&mut self, finding: Finding) {
        self.push(finding);
    }
}

impl<S: FindingSink + ?Sized> FindingSink for &mut S {
    fn emit(&mut self, finding: Finding) {
        (**self).emit(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_json_is_internally_tagged() {
        let f = Finding::AgentHealth(AgentHealth {
            kind: HealthKind::Started,
            message: "up".into(),
            counts: BTreeMap::new(),
            severity: Severity::Low,
        });
        let v = serde_json::to_value(&f).expect("serialize");
        assert_eq!(v["type"], "agent_health");
        assert_eq!(v["kind"], "started");
        assert_eq!(v["severity"], "low");
        let back: Finding = serde_json::from_value(v).expect("deserialize");
        assert_eq!(back, f);
    }

    #[test]
    fn severity_parses_and_orders() {
        assert_eq!("high".parse::<Severity>(), Ok(Severity::High));
        assert!("urgent".parse::<Severity>().is_err());
        assert!(Severity::Low < Severity::Critical);
    }

    #[test]
    fn ioc_hits_are_always_critical() {
        let n = NetEvent {
            kind: NetEventKind::IocHit,
            proto: "tcp".into(),
            local: "127.0.0.1:1".into(),
            remote: None,
            pid: None,
            exe: None,
            user: None,
            cmdline: None,
            indicator: None,
            note: None,
            severity: Severity::Low,
        };
        assert_eq!(Finding::NetEvent(n).severity(), Severity::Critical);
    }
}
