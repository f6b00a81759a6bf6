//! `[policy]` of agent.toml: the ranges inside which the collector may set this agent's
//! settings. They live only here, on the host; no bundle can carry or change them.
//!
//! What a bundle cannot reach at all (it has no field for it): the command allow-list of rule
//! checks (compiled into `vigil-rules`), the state directory, the collector address, the
//! certificate and keys. What it can set is checked value by value against these ranges, and one
//! value outside refuses the whole bundle: a half-applied policy would be a version nobody wrote.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use vigil_proto::policy::PolicySettings;
use vigil_proto::units::{parse_duration, parse_size};

/// `[policy]` as written. Every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicyLimits {
    /// Apply central policy at all (default true); false refuses every bundle.
    pub accept: Option<bool>,
    /// Accept rule packs from the collector (default true).
    pub packs: Option<bool>,
    /// Shortest and longest check interval the collector may set (default `1m`, `7d`).
    pub check_interval: Option<[String; 2]>,
    /// Netwatch interval range (default `1s`, `1h`).
    pub netwatch_interval: Option<[String; 2]>,
    /// Inventory interval range (default `5m`, `7d`).
    pub inventory_interval: Option<[String; 2]>,
    /// Storm threshold range, changes per second (default 10, 100000).
    pub storm_threshold: Option<[u64; 2]>,
    /// Spool budget range (default `16MiB`, `4GiB`).
    pub spool_budget: Option<[String; 2]>,
    /// Agency level range (default 1, 5).
    pub level: Option<[u8; 2]>,
    /// Trees under which central FIM paths must lie (default: the whole file system).
    pub fim_roots: Option<Vec<PathBuf>>,
}

/// Validated `[policy]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Apply central policy at all.
    pub accept: bool,
    /// Accept central rule packs.
    pub packs: bool,
    /// Check interval range.
    pub check_interval: (Duration, Duration),
    /// Netwatch interval range.
    pub netwatch_interval: (Duration, Duration),
    /// Inventory interval range.
    pub inventory_interval: (Duration, Duration),
    /// Storm threshold range.
    pub storm_threshold: (u64, u64),
    /// Spool budget range, bytes.
    pub spool_budget: (u64, u64),
    /// Level range.
    pub level: (u8, u8),
    /// Allowed FIM trees.
    pub fim_roots: Vec<PathBuf>,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        // The built-in defaults are valid by construction (pinned by a unit test).
        RawPolicyLimits::default()
            .validate()
            .expect("built-in policy limits are valid")
    }
}

impl RawPolicyLimits {
    /// Checks every key, reporting all problems (`policy.key: what`).
    ///
    /// # Errors
    /// The list of problems.
    pub fn validate(self) -> Result<PolicyLimits, Vec<String>> {
        let mut errors = Vec::new();
        let mut dur = |name: &str, raw: Option<[String; 2]>, lo: u64, hi: u64| {
            let Some([a, b]) = raw else {
                return (Duration::from_secs(lo), Duration::from_secs(hi));
            };
            match (parse_duration(&a), parse_duration(&b)) {
                (Ok(a), Ok(b)) if a <= b && !a.is_zero() => (a, b),
                (Ok(_), Ok(_)) => {
                    errors.push(format!(
                        "policy.{name}: expected [shortest, longest], shortest > 0"
                    ));
                    (Duration::ZERO, Duration::ZERO)
                }
                (Err(e), _) | (_, Err(e)) => {
                    errors.push(format!("policy.{name}: {e}"));
                    (Duration::ZERO, Duration::ZERO)
                }
            }
        };
        let check_interval = dur("check_interval", self.check_interval, 60, 7 * 86_400);
        let netwatch_interval = dur("netwatch_interval", self.netwatch_interval, 1, 3600);
        let inventory_interval = dur(
            "inventory_interval",
            self.inventory_interval,
            300,
            7 * 86_400,
        );
        let spool_budget = match self.spool_budget {
            None => (16 << 20, 4 << 30),
            Some([a, b]) => match (parse_size(&a), parse_size(&b)) {
                (Ok(a), Ok(b)) if a <= b => (a, b),
                (Ok(_), Ok(_)) => {
                    errors.push("policy.spool_budget: expected [smallest, largest]".into());
                    (0, 0)
                }
                (Err(e), _) | (_, Err(e)) => {
                    errors.push(format!("policy.spool_budget: {e}"));
                    (0, 0)
                }
            },
        };
        let storm_threshold = match self.storm_threshold {
            None => (10, 100_000),
            Some([a, b]) if 1 <= a && a <= b => (a, b),
            Some(_) => {
                errors.push("policy.storm_threshold: expected [lowest >= 1, highest]".into());
                (0, 0)
            }
        };
        let level = match self.level {
            None => (1, 5),
            Some([a, b]) if 1 <= a && a <= b && b <= 5 => (a, b),
            Some(_) => {
                errors.push("policy.level: expected [lowest, highest] within 1 to 5".into());
                (0, 0)
            }
        };
        let fim_roots = self.fim_roots.unwrap_or_else(default_fim_roots);
        if let Some(p) = fim_roots.iter().find(|p| !p.is_absolute()) {
            errors.push(format!("policy.fim_roots: {} is not absolute", p.display()));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PolicyLimits {
            accept: self.accept.unwrap_or(true),
            packs: self.packs.unwrap_or(true),
            check_interval,
            netwatch_interval,
            inventory_interval,
            storm_threshold,
            spool_budget,
            level,
            fim_roots,
        })
    }
}

fn default_fim_roots() -> Vec<PathBuf> {
    if cfg!(windows) {
        // Any drive: a central path must still be absolute, and nothing outside the drives
        // exists to be watched.
        ('A'..='Z')
            .map(|d| PathBuf::from(format!("{d}:\\")))
            .collect()
    } else {
        vec![PathBuf::from("/")]
    }
}

impl PolicyLimits {
    /// Checks every central setting against the local ranges, returning every violation.
    ///
    /// # Errors
    /// One line per setting outside its range.
    pub fn check(&self, s: &PolicySettings, has_packs: bool) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if has_packs && !self.packs {
            errors.push("rule packs: this agent accepts no central packs (policy.packs)".into());
        }
        let mut secs = |name: &str, v: Option<u64>, (lo, hi): (Duration, Duration)| {
            if let Some(v) = v
                && !(lo..=hi).contains(&Duration::from_secs(v))
            {
                errors.push(format!(
                    "{name} {v}s is outside the local range {}s to {}s",
                    lo.as_secs(),
                    hi.as_secs()
                ));
            }
        };
        secs("check_interval", s.check_interval_s, self.check_interval);
        secs(
            "netwatch_interval",
            s.netwatch_interval_s,
            self.netwatch_interval,
        );
        secs(
            "inventory_interval",
            s.inventory_interval_s,
            self.inventory_interval,
        );
        let mut int = |name: &str, v: Option<u64>, (lo, hi): (u64, u64)| {
            if let Some(v) = v
                && !(lo..=hi).contains(&v)
            {
                errors.push(format!(
                    "{name} {v} is outside the local range {lo} to {hi}"
                ));
            }
        };
        int("storm_threshold", s.storm_threshold, self.storm_threshold);
        int("spool_budget", s.spool_budget_bytes, self.spool_budget);
        int(
            "agency_level",
            s.agency_level.map(u64::from),
            (u64::from(self.level.0), u64::from(self.level.1)),
        );
        for p in s.fim_paths.iter().flatten() {
            if !self.fim_path_allowed(Path::new(p)) {
                errors.push(format!(
                    "fim path {p} is not absolute or not under the local policy.fim_roots"
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn fim_path_allowed(&self, p: &Path) -> bool {
        // `..` could climb out of an allowed root while still starting with it.
        p.is_absolute()
            && !p
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            && self.fim_roots.iter().any(|r| p.starts_with(r))
    }
}
