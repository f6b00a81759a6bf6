//! The one versioned `scoring` configuration (DESIGN §6) and its validation.
//!
//! Every constant of the formulas lives in [`ScoringConfig`], so that a change of policy is a new
//! `version` string stamped on every score computed with it, never a silent change. The raw struct
//! is plain serde (TOML or JSON, unknown keys refused, missing sections take the DESIGN defaults);
//! [`ScoringConfig::validate`] checks it and reports *all* problems at once, and only the validated
//! [`Scoring`](super::Scoring) can compute scores.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use vigil_proto::Severity;

use super::Scoring;

/// The version string of the built-in defaults. Change it whenever a default value changes.
pub const DEFAULT_SCORING_VERSION: &str = "vigil-scoring-1";

/// All constants of the scoring formulas (DESIGN §6), with a version stamped on every score.
///
/// `Default` gives the DESIGN values. Missing sections take their defaults; a section that is
/// present replaces the default for the keys it names (tables keyed by severity must name all
/// four severities, and `[groups]` replaces the whole group list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// Version of this configuration, copied into every score (`scoring_version`).
    pub version: String,
    /// Weight `w` of a rule by severity.
    pub severity_weights: PerSeverity<f64>,
    /// Scoring groups by name (`malware`, `patching`, …) with their weight `W` and whether they
    /// always count.
    pub groups: BTreeMap<String, GroupConfig>,
    /// Ceiling of the configuration score when a critical rule fails (`S_cfg ≤ 49`).
    pub critical_cap: f64,
    /// Open-alert factor `m`.
    pub alerts: AlertConfig,
    /// Freshness factor `f` and the "fresh" test of coverage `κ`.
    pub freshness: FreshnessConfig,
    /// Asset weights `ω` of the agency score.
    pub assets: AssetWeights,
    /// Province ranking eligibility.
    pub ranking: RankingConfig,
    /// Verdict bands of a host score.
    pub verdict: VerdictConfig,
}

/// One value per severity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerSeverity<T> {
    /// Value for `low`.
    pub low: T,
    /// Value for `medium`.
    pub medium: T,
    /// Value for `high`.
    pub high: T,
    /// Value for `critical`.
    pub critical: T,
}

impl<T: Copy> PerSeverity<T> {
    /// The value for one severity.
    pub fn get(&self, severity: Severity) -> T {
        match severity {
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
            Severity::Critical => self.critical,
        }
    }

    fn entries(&self) -> [(Severity, T); 4] {
        Severity::ALL.map(|s| (s, self.get(s)))
    }
}

/// Weight of one scoring group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group weight `W_g`.
    pub weight: f64,
    /// When true the group counts even without applicable results (then `G_g = 0`); otherwise it
    /// counts only when the host has at least one applicable result in it.
    #[serde(default)]
    pub always: bool,
}

/// Constants of the open-alert factor `m(h) = max(floor, 1 − Σ p_sev · τ)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// Lowest value of `m` (0.4).
    pub floor: f64,
    /// Penalty `p` of one open alert by severity.
    pub penalty: PerSeverity<f64>,
    /// Response time (SLA) by severity, in hours. Within it `τ = 1`.
    pub sla_hours: PerSeverity<f64>,
    /// Largest ageing factor: `τ = clamp(age / SLA, 1, tau_max)`, so `τ` grows linearly from 1 at
    /// the SLA to `tau_max` at `tau_max × SLA` and stays there.
    pub tau_max: f64,
}

/// Constants of the freshness factor `f` and of coverage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessConfig {
    /// A host whose last report is at most this old has `f = 1` and counts as fresh for `κ`.
    pub fresh_hours: f64,
    /// At this age and beyond `f = 0`; between the two `f` falls linearly.
    pub stale_hours: f64,
}

/// Asset weights `ω` of the agency score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssetWeights {
    /// Weight of a workstation.
    pub workstation: f64,
    /// Weight of a server in a system below `high_level_from`.
    pub server: f64,
    /// Weight of a server in a system of level `high_level_from` or above.
    pub server_high: f64,
    /// First security level whose servers weigh `server_high` (3).
    pub high_level_from: u8,
}

/// When an agency may appear in the province ranking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RankingConfig {
    /// Least coverage `κ` (0.8).
    pub min_coverage: f64,
    /// Least number of registered assets (5).
    pub min_hosts: u32,
}

/// Verdict bands of a host score `H` (a failed critical rule always gives "Không đạt").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerdictConfig {
    /// `H` from which a host is "Đạt" (50).
    pub pass: f64,
    /// `H` from which a host is "Tốt" (80).
    pub good: f64,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        let group = |weight: f64, always: bool| GroupConfig { weight, always };
        let groups = [
            ("malware", group(20.0, true)),
            ("patching", group(20.0, true)),
            ("accounts", group(15.0, true)),
            ("hardening", group(15.0, false)),
            ("logging", group(10.0, true)),
            ("removable-media", group(5.0, false)),
            ("backup", group(10.0, false)),
            ("integrity", group(5.0, false)),
        ];
        Self {
            version: DEFAULT_SCORING_VERSION.to_owned(),
            severity_weights: PerSeverity {
                low: 1.0,
                medium: 3.0,
                high: 6.0,
                critical: 10.0,
            },
            groups: groups
                .into_iter()
                .map(|(name, g)| (name.to_owned(), g))
                .collect(),
            critical_cap: 49.0,
            alerts: AlertConfig::default(),
            freshness: FreshnessConfig::default(),
            assets: AssetWeights::default(),
            ranking: RankingConfig::default(),
            verdict: VerdictConfig::default(),
        }
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            floor: 0.4,
            penalty: PerSeverity {
                low: 0.0,
                medium: 0.02,
                high: 0.10,
                critical: 0.25,
            },
            // Low alerts carry no penalty; their SLA (30 days) only matters if one is configured.
            sla_hours: PerSeverity {
                low: 720.0,
                medium: 336.0,
                high: 72.0,
                critical: 24.0,
            },
            tau_max: 3.0,
        }
    }
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        Self {
            fresh_hours: 48.0,
            stale_hours: 168.0,
        }
    }
}

impl Default for AssetWeights {
    fn default() -> Self {
        Self {
            workstation: 1.0,
            server: 3.0,
            server_high: 5.0,
            high_level_from: 3,
        }
    }
}

impl Default for RankingConfig {
    fn default() -> Self {
        Self {
            min_coverage: 0.8,
            min_hosts: 5,
        }
    }
}

impl Default for VerdictConfig {
    fn default() -> Self {
        Self {
            pass: 50.0,
            good: 80.0,
        }
    }
}

/// One problem in a scoring configuration, naming the key and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key has a value outside its allowed range.
    #[error("scoring.{key}: got {got}, expected {expected}")]
    OutOfRange {
        /// Dotted key, e.g. `alerts.floor`.
        key: String,
        /// The value found.
        got: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The configuration has a structural problem.
    #[error("scoring.{key}: {problem}")]
    Invalid {
        /// Dotted key, e.g. `groups`.
        key: String,
        /// What is wrong.
        problem: &'static str,
    },
}

/// All the problems found in a scoring configuration (never empty).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid scoring configuration:")?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl ScoringConfig {
    /// Checks every value and returns the validated [`Scoring`] that computes scores.
    ///
    /// # Errors
    /// [`ConfigErrors`] listing every key that is out of range or inconsistent.
    pub fn validate(self) -> Result<Scoring, ConfigErrors> {
        let mut v = Checker::default();
        if self.version.trim().is_empty() {
            v.invalid("version", "must not be empty");
        }
        for (s, w) in self.severity_weights.entries() {
            v.positive(&format!("severity_weights.{s}"), w);
        }
        if self.groups.is_empty() {
            v.invalid("groups", "must name at least one group");
        } else if !self.groups.values().any(|g| g.always) {
            v.invalid("groups", "at least one group must have always = true");
        }
        for (name, g) in &self.groups {
            if name.trim().is_empty() {
                v.invalid("groups", "group names must not be empty");
            }
            v.positive(&format!("groups.{name}.weight"), g.weight);
        }
        v.points("critical_cap", self.critical_cap);
        v.fraction("alerts.floor", self.alerts.floor);
        for (s, p) in self.alerts.penalty.entries() {
            v.fraction(&format!("alerts.penalty.{s}"), p);
        }
        for (s, h) in self.alerts.sla_hours.entries() {
            v.positive(&format!("alerts.sla_hours.{s}"), h);
        }
        if !(self.alerts.tau_max.is_finite() && self.alerts.tau_max >= 1.0) {
            v.out_of_range("alerts.tau_max", self.alerts.tau_max, "a finite number ≥ 1");
        }
        let fr = self.freshness;
        if !(fr.fresh_hours.is_finite() && fr.fresh_hours >= 0.0) {
            v.out_of_range(
                "freshness.fresh_hours",
                fr.fresh_hours,
                "a finite number ≥ 0",
            );
        }
        if !(fr.stale_hours.is_finite() && fr.stale_hours > fr.fresh_hours) {
            v.out_of_range(
                "freshness.stale_hours",
                fr.stale_hours,
                "a finite number greater than freshness.fresh_hours",
            );
        }
        v.positive("assets.workstation", self.assets.workstation);
        v.positive("assets.server", self.assets.server);
        v.positive("assets.server_high", self.assets.server_high);
        if !(1..=5).contains(&self.assets.high_level_from) {
            v.errors.push(ConfigError::OutOfRange {
                key: "assets.high_level_from".into(),
                got: self.assets.high_level_from.to_string(),
                expected: "a security level from 1 to 5",
            });
        }
        v.fraction("ranking.min_coverage", self.ranking.min_coverage);
        v.points("verdict.pass", self.verdict.pass);
        v.points("verdict.good", self.verdict.good);
        if self.verdict.good < self.verdict.pass {
            v.out_of_range("verdict.good", self.verdict.good, "a value ≥ verdict.pass");
        }
        if v.errors.is_empty() {
            Ok(Scoring { config: self })
        } else {
            Err(ConfigErrors(v.errors))
        }
    }
}

#[derive(Default)]
struct Checker {
    errors: Vec<ConfigError>,
}

impl Checker {
    fn invalid(&mut self, key: &str, problem: &'static str) {
        self.errors.push(ConfigError::Invalid {
            key: key.to_owned(),
            problem,
        });
    }

    fn out_of_range(&mut self, key: &str, got: f64, expected: &'static str) {
        self.errors.push(ConfigError::OutOfRange {
            key: key.to_owned(),
            got: got.to_string(),
            expected,
        });
    }

    fn positive(&mut self, key: &str, x: f64) {
        if !(x.is_finite() && x > 0.0) {
            self.out_of_range(key, x, "a finite number > 0");
        }
    }

    fn fraction(&mut self, key: &str, x: f64) {
        // `contains` is false for NaN, so NaN is reported too.
        if !(0.0..=1.0).contains(&x) {
            self.out_of_range(key, x, "a number from 0 to 1");
        }
    }

    fn points(&mut self, key: &str, x: f64) {
        if !(0.0..=100.0).contains(&x) {
            self.out_of_range(key, x, "a number from 0 to 100");
        }
    }
}
