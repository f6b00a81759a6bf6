//! Inputs and outputs of the scoring functions: plain data with a stable JSON form.
//!
//! Times are `i64` milliseconds since the Unix epoch, like `Envelope::observed_at`. Outputs carry
//! everything needed to store and explain them: the score, its factors, the exact additive
//! breakdown, the rule-pack and scoring versions and the time they were computed for.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use vigil_proto::{CheckResult, Severity, Status};

// ---------------------------------------------------------------------------------------------
// Inputs

/// What the caller provides besides the data: the clock and the rule-pack version in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreContext {
    /// "Now", in milliseconds since the Unix epoch; stamped on the result as `computed_at`.
    pub now: i64,
    /// Version of the rule pack(s) the results come from (e.g. `linux-baseline@1.2.0`).
    pub rule_pack_version: String,
}

/// Result of one rule as the scorer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// `r = 1`.
    Pass,
    /// `r = 0`.
    Fail,
    /// `r` = the fraction, clamped to `[0, 1]` (NaN counts as 0).
    Partial(f64),
    /// The rule could not be evaluated: `r = 0`, reported as unverified.
    Error,
    /// No result is known for a rule that should have one: `r = 0`, reported as unverified.
    Unknown,
    /// Excluded by the pack's applicability conditions: not scored at all.
    NotApplicable,
}

impl Outcome {
    /// The per-control result `r`, or `None` when the rule is not applicable.
    pub fn value(self) -> Option<f64> {
        match self {
            Self::Pass => Some(1.0),
            Self::Fail | Self::Error | Self::Unknown => Some(0.0),
            Self::Partial(x) if x.is_nan() => Some(0.0),
            Self::Partial(x) => Some(x.clamp(0.0, 1.0)),
            Self::NotApplicable => None,
        }
    }

    /// True for results that score 0 because nothing could be verified.
    pub fn is_unverified(self) -> bool {
        matches!(self, Self::Error | Self::Unknown)
    }
}

impl From<Status> for Outcome {
    fn from(s: Status) -> Self {
        match s {
            Status::Pass => Self::Pass,
            Status::Fail => Self::Fail,
            Status::Error => Self::Error,
            Status::NotApplicable => Self::NotApplicable,
        }
    }
}

/// One rule result of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule id (the breakdown key).
    pub rule_id: String,
    /// Scoring group; a group the configuration does not know is ignored and listed in
    /// [`HostScore::ignored`].
    pub group: String,
    /// Rule severity (weight `w`, and `critical` arms the gate).
    pub severity: Severity,
    /// The result.
    pub outcome: Outcome,
    /// True when the rule belongs to the common baseline used for `A_common`.
    #[serde(default)]
    pub common: bool,
}

impl RuleResult {
    /// Converts a check result from the wire, marking whether its rule is in the common baseline.
    pub fn from_check(c: &CheckResult, common: bool) -> Self {
        Self {
            rule_id: c.rule_id.clone(),
            group: c.group.clone(),
            severity: c.severity,
            outcome: c.status.into(),
            common,
        }
    }
}

/// An open (unresolved) alert of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAlert {
    /// Alert id (the breakdown key).
    pub id: String,
    /// Severity: chooses the penalty `p` and the SLA.
    pub severity: Severity,
    /// When the alert was opened, ms since the epoch.
    pub opened_at: i64,
}

/// Everything the scorer needs about one host with an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInput {
    /// Host id (agent id or asset id).
    pub host_id: String,
    /// Results evaluated at the host's own security level.
    pub results: Vec<RuleResult>,
    /// Results evaluated at the agency's required level, for [`View::Level`]. `None` means the
    /// host's own level is the required one, so `results` are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_results: Option<Vec<RuleResult>>,
    /// Open alerts.
    #[serde(default)]
    pub alerts: Vec<OpenAlert>,
    /// Time of the host's last report, ms since the epoch; `None` if it never reported.
    pub last_report_at: Option<i64>,
}

/// Which rule results feed the configuration score. Alerts and freshness apply to every view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// All results at the host's own level: the host score `H` and the agency score `A`.
    Full,
    /// Only results marked `common`: `A_common`, comparable across agencies.
    Common,
    /// Results at the agency's required level (`level_results`): `A_level`.
    Level,
}

/// Role of a registered asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A user PC.
    Workstation,
    /// A server; its weight depends on the security level of its system.
    Server,
}

/// A registered asset of an agency with its host score, if it has an agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssetRef<'a> {
    /// Asset id (the breakdown key for assets without an agent).
    pub asset_id: &'a str,
    /// Role.
    pub role: Role,
    /// Security level of the asset's system (1–5).
    pub level: u8,
    /// Its host score, computed with the same context and view; `None` if it has no agent.
    pub score: Option<&'a HostScore>,
}

/// A registered asset of an agency with its raw host data, if it has an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInput {
    /// Asset id.
    pub asset_id: String,
    /// Role.
    pub role: Role,
    /// Security level of the asset's system (1–5).
    pub level: u8,
    /// Host data; `None` if the asset has no agent.
    pub host: Option<HostInput>,
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// What one breakdown item stands for. The snake_case names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostKind {
    /// A failed rule (key: rule id).
    RuleFailed,
    /// A partially met rule (key: rule id).
    RulePartial,
    /// A rule that errored or has no result, scored 0 (key: rule id).
    RuleUnverified,
    /// An always-counted group without applicable results (key: group name).
    GroupNoData,
    /// The ceiling for a failed critical rule, shared equally by the failed critical rules
    /// (key: rule id).
    CriticalGate,
    /// An open alert (key: alert id).
    Alert,
    /// The last report is older than the freshness window (key: host id).
    Stale,
    /// The host never reported (key: host id).
    NeverReported,
    /// A registered asset without an agent, `H = 0` (key: asset id).
    MissingAgent,
    /// An agency without registered assets, `A = 0` (key: agency id).
    NoAssets,
    /// A downstream collector's subtree folded into its parent agency: `(100 − A_s)` scaled by
    /// its share of the weight (key: the subtree's agency id).
    FederatedSubtree,
}

impl CostKind {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RuleFailed => "rule_failed",
            Self::RulePartial => "rule_partial",
            Self::RuleUnverified => "rule_unverified",
            Self::GroupNoData => "group_no_data",
            Self::CriticalGate => "critical_gate",
            Self::Alert => "alert",
            Self::Stale => "stale",
            Self::NeverReported => "never_reported",
            Self::MissingAgent => "missing_agent",
            Self::NoAssets => "no_assets",
            Self::FederatedSubtree => "federated_subtree",
        }
    }
}

impl fmt::Display for CostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One additive item of a breakdown: what costs how many points out of 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostItem {
    /// What the item stands for.
    pub kind: CostKind,
    /// Rule id, group, alert id, host id, asset id or agency id, depending on `kind`.
    pub key: String,
    /// In an agency breakdown, the asset the item comes from; `None` in a host breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    /// Short English description (the UI localises by `kind`).
    pub label: String,
    /// Points the item costs; always > 0.
    pub points: f64,
}

/// Sums the points of a breakdown per `(kind, key)`, largest first: "which rule costs the agency
/// most" across all its hosts.
pub fn totals_by_key(items: &[CostItem]) -> Vec<(CostKind, String, f64)> {
    let mut sums: BTreeMap<(CostKind, &str), f64> = BTreeMap::new();
    for it in items {
        *sums.entry((it.kind, it.key.as_str())).or_insert(0.0) += it.points;
    }
    let mut out: Vec<_> = sums
        .into_iter()
        .map(|((k, key), p)| (k, key.to_owned(), p))
        .collect();
    out.sort_by(|a, b| {
        b.2.total_cmp(&a.2)
            .then_with(|| (a.0, &a.1).cmp(&(b.0, &b.1)))
    });
    out
}

/// Verdict of a host score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// "Tốt": `H ≥ verdict.good` and no failed critical rule.
    Good,
    /// "Đạt": `H ≥ verdict.pass` and no failed critical rule.
    Pass,
    /// "Không đạt": below `verdict.pass`, or a critical rule failed.
    Fail,
}

impl Verdict {
    /// The Vietnamese label shown to agencies.
    pub fn label_vi(self) -> &'static str {
        match self {
            Self::Good => "Tốt",
            Self::Pass => "Đạt",
            Self::Fail => "Không đạt",
        }
    }
}

/// Score of one group `G_g` of a host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    /// Group name.
    pub group: String,
    /// Group weight `W_g`.
    pub weight: f64,
    /// Whether the group counts in `S_cfg`.
    pub counted: bool,
    /// `G_g` in [0, 100] (0 when the group has no applicable result).
    pub score: f64,
    /// Number of applicable results.
    pub applicable: usize,
    /// Number of results that errored or are unknown.
    pub unverified: usize,
}

/// A result whose group the configuration does not know, left out of the score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredResult {
    /// Rule id.
    pub rule_id: String,
    /// The unknown group.
    pub group: String,
}

/// Score of one host, `H = S_cfg · m · f`, with its exact breakdown: `100 − H = Σ points`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostScore {
    /// Host id.
    pub host_id: String,
    /// Which results were scored.
    pub view: View,
    /// `H` in [0, 100].
    pub score: f64,
    /// Verdict of `H`.
    pub verdict: Verdict,
    /// `S_cfg` after the critical gate.
    pub config_score: f64,
    /// `S_cfg` before the critical gate.
    pub config_score_ungated: f64,
    /// True when a critical rule failed (the verdict is then "Không đạt").
    pub critical_failed: bool,
    /// Open-alert factor `m` in [floor, 1].
    pub alert_factor: f64,
    /// Freshness factor `f` in [0, 1].
    pub freshness: f64,
    /// True when the last report is within the freshness window (counts for coverage `κ`).
    pub fresh: bool,
    /// Per-group scores, for every configured group.
    pub groups: Vec<GroupScore>,
    /// Ids of rules that errored or have no result ("unverified").
    pub unverified: Vec<String>,
    /// Results left out because their group is unknown to the configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredResult>,
    /// Exact additive breakdown of `100 − H`.
    pub breakdown: Vec<CostItem>,
    /// Rule-pack version in force (from the context).
    pub rule_pack_version: String,
    /// Version of the scoring configuration.
    pub scoring_version: String,
    /// When the score was computed for, ms since the epoch.
    pub computed_at: i64,
}

/// One asset's line in an agency score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetScore {
    /// Asset id.
    pub asset_id: String,
    /// Role.
    pub role: Role,
    /// Security level of its system.
    pub level: u8,
    /// Weight `ω`.
    pub weight: f64,
    /// Whether it has an agent.
    pub has_agent: bool,
    /// Whether it reported within the freshness window.
    pub fresh: bool,
    /// Its `H` (0 without an agent).
    pub score: f64,
}

/// Why an agency is left out of the province ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ineligible {
    /// Fewer registered assets than `ranking.min_hosts`.
    TooFewHosts {
        /// Registered assets.
        hosts: usize,
        /// Required.
        min: u32,
    },
    /// Coverage below `ranking.min_coverage`.
    LowCoverage {
        /// Coverage `κ`.
        coverage: f64,
        /// Required.
        min: f64,
    },
}

/// Whether an agency may be ranked, and if not, every reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// True when it may appear in the province ranking.
    pub eligible: bool,
    /// Why not (empty when eligible).
    pub reasons: Vec<Ineligible>,
}

/// Score of one agency, `A = Σ ω_h H_h / Σ ω_h`, with coverage and its exact breakdown:
/// `100 − A = Σ points`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencyScore {
    /// Agency id (path in the organisation tree).
    pub agency_id: String,
    /// Which results were scored (`Full` → `A`, `Common` → `A_common`, `Level` → `A_level`).
    pub view: View,
    /// The agency score in [0, 100].
    pub score: f64,
    /// Coverage `κ` in [0, 1].
    pub coverage: f64,
    /// Registered assets.
    pub hosts: usize,
    /// Assets with an agent.
    pub hosts_with_agent: usize,
    /// Assets that reported within the freshness window.
    pub hosts_fresh: usize,
    /// `Σ ω`.
    pub total_weight: f64,
    /// Ranking eligibility.
    pub ranking: Ranking,
    /// One line per asset, in input order.
    pub assets: Vec<AssetScore>,
    /// Exact additive breakdown of `100 − A`; items carry their asset.
    pub breakdown: Vec<CostItem>,
    /// Rule-pack version in force (from the context).
    pub rule_pack_version: String,
    /// Version of the scoring configuration.
    pub scoring_version: String,
    /// When the score was computed for, ms since the epoch.
    pub computed_at: i64,
}

/// The three agency scores and the host scores behind the main one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgencyReport {
    /// `A` over each host's own results.
    pub full: AgencyScore,
    /// `A_common` over the common baseline.
    pub common: AgencyScore,
    /// `A_level` at the agency's required level.
    pub level: AgencyScore,
    /// Host scores of the assets with an agent, full view, in input order.
    pub hosts: Vec<HostScore>,
}
