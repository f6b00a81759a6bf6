//! The posture summary a downstream collector signs and pushes, its validation at the upstream,
//! and how the upstream grafts it into its own tree ([`graft`]).
//!
//! A summary holds aggregates only: per agency the three scores (with their asset lines and
//! breakdowns removed), coverage, host counts, open alerts by severity with the age of the
//! oldest, and the most failed rules with the number of hosts failing them. Host names, ids and
//! findings never leave the downstream.
//!
//! Everything in a received summary is hostile input: [`PostureSummary::parse`] bounds every
//! list and string, checks every number, and refuses the whole summary on any fault, so a
//! downstream cannot name an agency outside the subtree it was enrolled for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigil_rules::score::{AgencyScore, View};

use crate::store::fed::LatestSummary;

/// Format version of [`PostureSummary`].
pub const SUMMARY_VERSION: u32 = 1;
/// Most agencies one summary may carry.
pub const MAX_AGENCIES: usize = 5_000;
/// Most failing rules listed per agency.
pub const TOP_RULES: usize = 10;
/// A federated subtree is stale once its newest summary is older than this (two missed hourly
/// pushes).
pub const STALE_AFTER_S: i64 = 2 * 3600 + 300;
const MAX_PATH: usize = 255;
const MAX_TEXT: usize = 200;

/// Everything a downstream says about its tree at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostureSummary {
    /// [`SUMMARY_VERSION`].
    pub v: u32,
    /// The downstream that signed it (must be the session's).
    pub downstream_id: String,
    /// When its scores were computed, ms since the epoch.
    pub computed_at: i64,
    /// Rule packs behind the scores.
    pub rule_pack_version: String,
    /// Scoring configuration version.
    pub scoring_version: String,
    /// Every agency of its tree, its own paths (federated ones of its own included).
    pub agencies: Vec<AgencySummary>,
}

/// One agency of a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgencySummary {
    /// Path in the downstream's tree.
    pub path: String,
    /// Display name.
    pub name: String,
    /// Required security level.
    pub level: u8,
    /// `A` (no asset lines, no breakdown).
    pub a: AgencyScore,
    /// `A_common`.
    pub a_common: AgencyScore,
    /// `A_level`.
    pub a_level: AgencyScore,
    /// Hosts "Không đạt".
    pub hosts_failing: usize,
    /// Open or acknowledged alerts per severity.
    pub open_alerts: BTreeMap<String, AlertStat>,
    /// The most failed rules, most hosts first.
    pub top_failing: Vec<RuleCount>,
    /// For a subtree the downstream itself received from further down: when the figures were
    /// computed where they come from, ms (`None` for the downstream's own agencies).
    #[serde(default)]
    pub origin_computed_at: Option<i64>,
}

/// Open alerts of one severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertStat {
    /// How many.
    pub count: usize,
    /// When the oldest was opened, Unix seconds.
    pub oldest_opened_at: i64,
}

/// A rule and how many hosts fail it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCount {
    /// Rule id.
    pub rule_id: String,
    /// Hosts failing it.
    pub hosts: usize,
}

/// How an agency shown by this collector came from a downstream, with its freshness.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FedMark {
    /// The downstream collector.
    pub downstream: String,
    /// Its name.
    pub downstream_name: String,
    /// Path in the downstream's own tree.
    pub remote_path: String,
    /// When the figures were computed where they come from, ms since the epoch.
    pub computed_at: i64,
    /// When this collector stored them, Unix seconds.
    pub received_at: i64,
    /// Seconds since they were computed.
    pub age_s: i64,
    /// Older than [`STALE_AFTER_S`].
    pub stale: bool,
    /// Open alerts per severity with the oldest one's opening time.
    pub open_alerts: BTreeMap<String, AlertStat>,
    /// The most failed rules.
    pub top_failing: Vec<RuleCount>,
}

/// Why a summary was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// Not a summary.
    #[error("summary is not valid JSON of the expected form: {0}")]
    Malformed(String),
    /// A field is out of bounds.
    #[error("summary refused: {0}")]
    Invalid(String),
}

fn invalid(m: impl Into<String>) -> SummaryError {
    SummaryError::Invalid(m.into())
}

impl PostureSummary {
    /// Parses and checks a received summary body.
    ///
    /// # Errors
    /// [`SummaryError`] on any fault: the summary is refused as a whole.
    pub fn parse(body: &str) -> Result<Self, SummaryError> {
        let s: Self =
            serde_json::from_str(body).map_err(|e| SummaryError::Malformed(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    fn check(&self) -> Result<(), SummaryError> {
        if self.v != SUMMARY_VERSION {
            return Err(invalid(format!("unsupported summary version {}", self.v)));
        }
        if self.agencies.len() > MAX_AGENCIES {
            return Err(invalid(format!("more than {MAX_AGENCIES} agencies")));
        }
        for t in [
            &self.downstream_id,
            &self.rule_pack_version,
            &self.scoring_version,
        ] {
            if t.len() > MAX_PATH {
                return Err(invalid("a version or id field is too long"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for a in &self.agencies {
            a.check()?;
            if !seen.insert(a.path.as_str()) {
                return Err(invalid(format!("agency {:?} appears twice", a.path)));
            }
        }
        Ok(())
    }
}

/// Checks a relative agency path: segments of letters, digits, `-`, `_` and `.`, none of them
/// `.` or `..`, no leading or trailing `/`.
///
/// # Errors
/// A message naming the fault.
pub fn check_path(p: &str) -> Result<(), String> {
    if p.is_empty() || p.len() > MAX_PATH {
        return Err(format!("agency path must be 1 to {MAX_PATH} bytes"));
    }
    for seg in p.split('/') {
        let ok_chars = seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if seg.is_empty() || seg == "." || seg == ".." || !ok_chars {
            return Err(format!("agency path {p:?} is not a relative tree path"));
        }
    }
    Ok(())
}

impl AgencySummary {
    fn check(&self) -> Result<(), SummaryError> {
        check_path(&self.path).map_err(invalid)?;
        if self.name.chars().count() > MAX_TEXT || self.name.chars().any(char::is_control) {
            return Err(invalid(format!("agency {:?}: bad name", self.path)));
        }
        if !(1..=5).contains(&self.level) {
            return Err(invalid(format!("agency {:?}: level out of 1-5", self.path)));
        }
        for (s, view) in [
            (&self.a, View::Full),
            (&self.a_common, View::Common),
            (&self.a_level, View::Level),
        ] {
            check_score(&self.path, s, view)?;
        }
        if self.open_alerts.len() > 8
            || self
                .open_alerts
                .keys()
                .any(|k| !matches!(k.as_str(), "low" | "medium" | "high" | "critical"))
        {
            return Err(invalid(format!(
                "agency {:?}: bad alert severities",
                self.path
            )));
        }
        if self.top_failing.len() > TOP_RULES
            || self
                .top_failing
                .iter()
                .any(|r| r.rule_id.is_empty() || r.rule_id.len() > vigil_proto::limits::RULE_ID)
        {
            return Err(invalid(format!(
                "agency {:?}: bad failing rules",
                self.path
            )));
        }
        Ok(())
    }
}

fn check_score(path: &str, s: &AgencyScore, view: View) -> Result<(), SummaryError> {
    let bad = |what: &str| invalid(format!("agency {path:?}: {what}"));
    if s.agency_id != path || s.view != view {
        return Err(bad("score of another agency or view"));
    }
    if !s.assets.is_empty() || !s.breakdown.is_empty() {
        return Err(bad("per-host lines are never federated"));
    }
    let in_range = |x: f64, hi: f64| x.is_finite() && (0.0..=hi).contains(&x);
    if !in_range(s.score, 100.0) || !in_range(s.coverage, 1.0) || !in_range(s.total_weight, 1e9) {
        return Err(bad("score, coverage or weight out of range"));
    }
    if s.hosts_with_agent > s.hosts || s.hosts_fresh > s.hosts || s.ranking.reasons.len() > 4 {
        return Err(bad("inconsistent host counts"));
    }
    if s.rule_pack_version.len() > MAX_PATH || s.scoring_version.len() > MAX_PATH {
        return Err(bad("version too long"));
    }
    Ok(())
}

/// An agency to show, grafted from a downstream's latest summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Grafted {
    /// Path in this collector's tree: `<enrolled agency>/<remote path>`.
    pub id: String,
    /// The summary's agency.
    pub summary: AgencySummary,
    /// Where it came from.
    pub mark: FedMark,
}

/// The agencies of every live downstream's latest summary, under the agency each downstream was
/// enrolled for. A summary that no longer parses, and an agency whose grafted path is one of
/// `local` (this collector's own) or already grafted, are left out with a warning.
pub fn graft(latest: &[LatestSummary], local: &[&str], now_ms: i64) -> Vec<Grafted> {
    let mut taken: std::collections::HashSet<String> =
        local.iter().map(|s| (*s).to_owned()).collect();
    let mut out = Vec::new();
    for l in latest {
        let d = &l.downstream;
        let s = match PostureSummary::parse(&l.body) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(downstream = %d.id, error = %e, "Stored summary is unreadable.");
                continue;
            }
        };
        for a in s.agencies {
            let id = format!("{}/{}", d.agency, a.path);
            if !taken.insert(id.clone()) {
                tracing::warn!(downstream = %d.id, agency = %id, "Federated agency collides with another; left out.");
                continue;
            }
            let computed_at = a.origin_computed_at.unwrap_or(s.computed_at);
            let age_s = now_ms.saturating_sub(computed_at).max(0) / 1000;
            out.push(Grafted {
                id,
                mark: FedMark {
                    downstream: d.id.clone(),
                    downstream_name: d.name.clone(),
                    remote_path: a.path.clone(),
                    computed_at,
                    received_at: l.received_at,
                    age_s,
                    stale: age_s > STALE_AFTER_S,
                    open_alerts: a.open_alerts.clone(),
                    top_failing: a.top_failing.clone(),
                },
                summary: a,
            });
        }
    }
    out
}

/// A score as shown here: the summary's, under its grafted path.
pub fn regraft(s: &AgencyScore, id: &str) -> AgencyScore {
    AgencyScore {
        agency_id: id.to_owned(),
        ..s.clone()
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
