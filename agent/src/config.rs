//! Agent configuration (`/etc/vigil/agent.toml`, every key optional), parsed in two stages.
//!
//! [`RawConfig`] mirrors the file with unknown keys rejected; [`RawConfig::validate`] produces an
//! [`AgentConfig`] and reports every problem at once as `FILE: section.key: what was expected`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vigil_proto::units::parse_duration;

use crate::spool::SpoolConfig;

/// The file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[uplink]`.
    #[serde(default)]
    pub uplink: RawUplink,
    /// `[spool]`.
    #[serde(default)]
    pub spool: crate::spool::RawSpoolConfig,
    /// `[inventory]`.
    #[serde(default)]
    pub inventory: RawInventory,
    /// `[fim]` (see docs/fim.md).
    #[serde(default)]
    pub fim: crate::fim::config::RawFimConfig,
    /// `[checks]` (see docs/rules-format.md).
    #[serde(default)]
    pub checks: crate::check::RawChecksConfig,
    /// `[netwatch]` (see docs/netwatch.md).
    #[serde(default)]
    pub netwatch: crate::netwatch::RawNetwatchConfig,
    /// `[host]`.
    #[serde(default)]
    pub host: RawHost,
    /// `[policy]`: what central policy may set here (see docs/policy.md).
    #[serde(default)]
    pub policy: crate::policy::RawPolicyLimits,
    /// `[testing]`: fault-injection aids for Vigil's own tests; never set in production.
    #[serde(default)]
    pub testing: RawTesting,
}

/// `[testing]`: makes the agent emit numbered synthetic findings through the same sink as every
/// engine, so delivery can be checked exactly under faults. Off unless `synthetic_findings > 0`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTesting {
    /// How many findings to emit after start-up.
    pub synthetic_findings: Option<u64>,
    /// Emission rate per second (default 1000).
    pub synthetic_rate: Option<u64>,
    /// Every Nth synthetic finding is critical (0 = none).
    pub synthetic_critical_every: Option<u64>,
}

/// Validated `[testing]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Testing {
    /// Findings to emit.
    pub synthetic_findings: u64,
    /// Per second.
    pub synthetic_rate: u64,
    /// Every Nth is critical (0 = none).
    pub synthetic_critical_every: u64,
}

/// `[host]`: facts about this machine the agent cannot discover.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    /// `workstation` (default) or `server`: a workstation listening on the network is flagged.
    pub role: Option<String>,
}

/// `[uplink]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUplink {
    /// Collector `host:port`; default: the addresses from enrollment.
    pub collector: Option<String>,
    /// Heartbeat interval, default `30s`.
    pub heartbeat_interval: Option<String>,
    /// QUIC idle timeout (how fast a dead collector is noticed), default `60s`.
    pub idle_timeout: Option<String>,
    /// Findings per batch, default 500.
    pub batch_size: Option<usize>,
    /// Longest reconnect backoff, default `60s`.
    pub max_backoff: Option<String>,
    /// Fraction of the certificate's lifetime after which it is renewed, default 0.667.
    pub rotate_fraction: Option<f64>,
}

/// `[inventory]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInventory {
    /// How often the inventory is re-read (sent only when it changed), default `1h`.
    pub interval: Option<String>,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Collector override.
    pub collector: Option<String>,
    /// Heartbeat interval.
    pub heartbeat_interval: Duration,
    /// QUIC idle timeout.
    pub idle_timeout: Duration,
    /// Batch size.
    pub batch_size: usize,
    /// Maximum reconnect backoff.
    pub max_backoff: Duration,
    /// Renew the certificate once this fraction of its lifetime has passed.
    pub rotate_fraction: f64,
    /// Spool sizing.
    pub spool: SpoolConfig,
    /// Inventory interval.
    pub inventory_interval: Duration,
    /// File integrity monitoring; no paths = disabled.
    pub fim: crate::fim::config::FimConfig,
    /// Hardening checks.
    pub checks: crate::check::ChecksConfig,
    /// Network watch.
    pub netwatch: crate::netwatch::NetwatchConfig,
    /// Role of this host.
    pub role: crate::netwatch::HostRole,
    /// Ranges central policy may set.
    pub policy: crate::policy::PolicyLimits,
    /// Test facilities (off by default).
    pub testing: Testing,
}

impl Default for AgentConfig {
    fn default() -> Self {
        // The built-in defaults are valid by construction (pinned by a unit test below).
        RawConfig::default()
            .validate(Path::new("(defaults)"))
            .expect("built-in defaults are valid")
    }
}

/// Every problem found in a config file.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

impl RawConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`ConfigError`] listing all problems.
    pub fn validate(self, file: &Path) -> Result<AgentConfig, ConfigError> {
        let f = file.display();
        let mut errs = Vec::new();
        let mut dur = |field: &str, v: Option<String>, default: u64, min: Duration| -> Duration {
            match v.map(|s| parse_duration(&s)) {
                None => Duration::from_secs(default),
                Some(Ok(d)) if d >= min => d,
                Some(Ok(_)) => {
                    errs.push(format!("{f}: {field}: must be at least {min:?}"));
                    Duration::from_secs(default)
                }
                Some(Err(e)) => {
                    errs.push(format!("{f}: {field}: {e}"));
                    Duration::from_secs(default)
                }
            }
        };
        let heartbeat_interval = dur(
            "uplink.heartbeat_interval",
            self.uplink.heartbeat_interval,
            30,
            Duration::from_millis(200),
        );
        let idle_timeout = dur(
            "uplink.idle_timeout",
            self.uplink.idle_timeout,
            60,
            Duration::from_secs(1),
        );
        let max_backoff = dur(
            "uplink.max_backoff",
            self.uplink.max_backoff,
            60,
            Duration::from_millis(100),
        );
        let inventory_interval = dur(
            "inventory.interval",
            self.inventory.interval,
            3600,
            Duration::from_secs(1),
        );
        if let Some(Err(e)) = self
            .uplink
            .collector
            .as_deref()
            .map(crate::tls::split_host_port)
        {
            errs.push(format!(
                "{f}: uplink.collector: {e}, expected e.g. vigil.example.gov.vn:4433"
            ));
        }
        let testing = Testing {
            synthetic_findings: self.testing.synthetic_findings.unwrap_or(0),
            synthetic_rate: self.testing.synthetic_rate.unwrap_or(1000),
            synthetic_critical_every: self.testing.synthetic_critical_every.unwrap_or(0),
        };
        if testing.synthetic_rate == 0 {
            errs.push(format!("{f}: testing.synthetic_rate: must be at least 1"));
        }
        let rotate_fraction = self.uplink.rotate_fraction.unwrap_or(2.0 / 3.0);
        if !(rotate_fraction > 0.0 && rotate_fraction < 1.0) {
            errs.push(format!(
                "{f}: uplink.rotate_fraction: {rotate_fraction} is not between 0 and 1"
            ));
        }
        let batch_size = self.uplink.batch_size.unwrap_or(500);
        if !(1..=5000).contains(&batch_size) {
            errs.push(format!(
                "{f}: uplink.batch_size: {batch_size} is out of range 1..=5000"
            ));
        }
        let spool = match self.spool.validate() {
            Ok(c) => c,
            Err(es) => {
                errs.extend(es.into_iter().map(|e| format!("{f}: {e}")));
                SpoolConfig::default()
            }
        };
        let netwatch = self.netwatch.validate().unwrap_or_else(|es| {
            errs.extend(es.into_iter().map(|e| format!("{f}: {e}")));
            crate::netwatch::NetwatchConfig::default()
        });
        let role = match self
            .host
            .role
            .as_deref()
            .map(str::parse::<crate::netwatch::HostRole>)
        {
            None => crate::netwatch::HostRole::Workstation,
            Some(Ok(r)) => r,
            Some(Err(_)) => {
                errs.push(format!("{f}: host.role: expected workstation or server"));
                crate::netwatch::HostRole::Workstation
            }
        };
        let checks = self.checks.validate().unwrap_or_else(|es| {
            errs.extend(es.into_iter().map(|e| format!("{f}: {e}")));
            crate::check::ChecksConfig::default()
        });
        let policy = self.policy.validate().unwrap_or_else(|es| {
            errs.extend(es.into_iter().map(|e| format!("{f}: {e}")));
            crate::policy::PolicyLimits::default()
        });
        let fim = match self.fim.validate() {
            Ok(c) => Some(c),
            Err(es) => {
                errs.extend(es.into_iter().map(|e| format!("{f}: {e}")));
                None
            }
        };
        let (true, Some(fim)) = (errs.is_empty(), fim) else {
            return Err(ConfigError(errs));
        };
        Ok(AgentConfig {
            fim,
            checks,
            netwatch,
            role,
            policy,
            collector: self.uplink.collector,
            heartbeat_interval,
            idle_timeout,
            batch_size,
            max_backoff,
            rotate_fraction,
            testing,
            spool,
            inventory_interval,
        })
    }
}

/// Loads a config file. A missing file is an error only when it was named explicitly.
///
/// # Errors
/// [`ConfigError`] naming the file and every bad field.
pub fn load(path: &Path, explicit: bool) -> Result<AgentConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(AgentConfig::default());
        }
        Err(e) => return Err(ConfigError(vec![format!("{}: {e}", path.display())])),
    };
    check_not_world_writable(path).map_err(|e| ConfigError(vec![e]))?;
    parse(&text, path)
}

/// Parses and validates config text; `file` names it in messages. This is the whole decoder of
/// the configuration (the `agent_config` fuzz target drives it): every key that does not fit the
/// schema and every value that does not hold are reported at once.
///
/// # Errors
/// [`ConfigError`] naming the file and every bad field.
pub fn parse(text: &str, file: &Path) -> Result<AgentConfig, ConfigError> {
    let (raw, mut errs) = vigil_proto::config::parse_all::<RawConfig>(text, file);
    match raw.validate(file) {
        Ok(cfg) if errs.is_empty() => Ok(cfg),
        Ok(_) => Err(ConfigError(errs)),
        Err(ConfigError(more)) => {
            errs.extend(more);
            Err(ConfigError(errs))
        }
    }
}

/// Refuses a file anyone may write (DESIGN §10): `o+w` on Linux; write access for Everyone,
/// Users, Authenticated Users or another broad group on Windows.
///
/// # Errors
/// A message naming the file.
pub fn check_not_world_writable(path: &Path) -> Result<(), String> {
    crate::platform::check_not_world_writable(path)
}

/// The config path and whether it was given explicitly (default: `/etc/vigil/agent.toml`,
/// `%ProgramData%\Vigil\agent.toml` on Windows).
pub fn resolve(path: Option<PathBuf>) -> (PathBuf, bool) {
    match path {
        Some(p) => (p, true),
        None => (crate::platform::default_config_path(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AgentConfig, ConfigError> {
        super::parse(s, Path::new("agent.toml"))
    }

    #[test]
    fn builtin_defaults_are_valid() {
        assert!(RawConfig::default().validate(Path::new("x")).is_ok());
        assert!(
            !AgentConfig::default().fim.paths.is_empty(),
            "FIM watches the default set"
        );
    }

    #[test]
    fn validate_reports_every_problem_at_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("agent.toml");
        std::fs::write(
            &p,
            "[uplink]\ncolector = \"x:1\"\nbatch_size = \"many\"\nheartbeat_interval = \"often\"\n\
             [fim]\nscan_interval = \"sometimes\"\n[bogus]\nx = 1\n",
        )
        .expect("write");
        let e = load(&p, true).expect_err("bad").0;
        let all = e.join("\n");
        assert_eq!(e.len(), 5, "{all}");
        for want in [
            "uplink.colector: unknown field `colector`",
            "uplink.batch_size: invalid type",
            "uplink.heartbeat_interval",
            "fim.scan_interval",
            "unknown field `bogus`",
        ] {
            assert!(all.contains(want), "{want:?} in {all}");
        }
        assert!(
            e.iter().all(|l| l.starts_with(&p.display().to_string())),
            "{all}"
        );
        // A good file is untouched by the fallback.
        std::fs::write(&p, "[uplink]\nheartbeat_interval = \"30s\"\n").expect("write");
        assert_eq!(
            load(&p, true).expect("good").heartbeat_interval,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn fim_errors_are_reported_with_the_file() {
        let e = parse("[fim]\nscan_interval = \"often\"\n").expect_err("bad");
        assert!(
            e.to_string().contains("agent.toml: fim.scan_interval"),
            "{e}"
        );
    }

    #[test]
    fn defaults_and_overrides() {
        let c = parse("").expect("empty");
        assert_eq!(c.heartbeat_interval, Duration::from_secs(30));
        assert_eq!(c.spool.max_bytes, 256 << 20);
        let c = parse("[uplink]\ncollector = \"c.example:4433\"\nheartbeat_interval = \"5s\"\n[spool]\nmax_size = \"16MiB\"\n").expect("ok");
        assert_eq!(c.collector.as_deref(), Some("c.example:4433"));
        assert_eq!(c.spool.max_bytes, 16 << 20);
    }

    #[test]
    fn unknown_field_names_the_key() {
        let e = parse("[uplink]\ncolector = \"x:1\"\n").expect_err("unknown");
        assert!(e.to_string().contains("colector"), "{e}");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let e = parse("[uplink]\ncollector = \"nohost\"\nheartbeat_interval = \"soon\"\nbatch_size = 0\n[spool]\nmax_size = \"lots\"\n").expect_err("bad");
        let m = e.to_string();
        for k in [
            "uplink.collector",
            "uplink.heartbeat_interval",
            "uplink.batch_size",
            "spool.max_size",
        ] {
            assert!(m.contains(k), "{k} missing in {m}");
        }
    }

    #[test]
    fn missing_default_file_is_fine_but_missing_explicit_is_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("none.toml");
        assert!(load(&p, false).is_ok());
        assert!(load(&p, true).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a.toml");
        std::fs::write(&p, "").expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        assert!(
            load(&p, true)
                .expect_err("refused")
                .to_string()
                .contains("world-writable")
        );
    }
}
