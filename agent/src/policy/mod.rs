//! Central policy on the agent (issue #18): local limits, the policy files, what is in force.
//!
//! This module sits below the agent configuration, which holds its `[policy]` section
//! ([`limits`]); [`crate::central`] above both verifies, checks and applies bundles, writes them
//! atomically ([`store`]) and publishes the [`Applied`] policy on a [`PolicyWatch`] channel: the
//! checks loop re-evaluates at once with the new packs, the other engines pick up their
//! settings. A refusal keeps what the agent had and becomes a health finding saying why
//! ([`Refusal::finding`]). Local rule packs (`/etc/vigil/packs`) keep running next to central
//! ones, each marked by its source ([`merge_packs`]).

pub mod limits;
pub mod store;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vigil_proto::policy::PolicyBundle;
use vigil_proto::{AgentHealth, Finding, HealthKind, Severity};
use vigil_rules::Pack;

pub use limits::{PolicyLimits, RawPolicyLimits};
pub use store::{PolicyStore, Step};

/// A central policy in force: the verified bundle and its packs, parsed.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The bundle.
    pub bundle: PolicyBundle,
    /// `sha256:<hex>` of the signed blob.
    pub digest: String,
    /// Its rule packs, parsed, in bundle order.
    pub packs: Vec<Pack>,
}

/// What the engines watch: the policy in force, `None` for local configuration only.
pub type PolicyWatch = watch::Receiver<Option<Arc<Applied>>>;

/// Why a bundle was refused, for the log and the health finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Version of the refused bundle, when known.
    pub version: Option<u64>,
    /// Why.
    pub reason: String,
}

impl Refusal {
    /// A refusal of `version` (when known) for `reason`.
    pub fn new(version: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            version,
            reason: reason.into(),
        }
    }

    /// The health finding reporting this refusal.
    pub fn finding(&self, kept: u64) -> Finding {
        let mut counts = BTreeMap::from([("policy_version_kept".to_string(), kept)]);
        if let Some(v) = self.version {
            counts.insert("policy_version".into(), v);
        }
        Finding::AgentHealth(AgentHealth {
            kind: HealthKind::PolicyRefused,
            message: format!(
                "policy refused: {} (version {kept} stays in force)",
                self.reason
            ),
            counts,
            severity: Severity::High,
        })
    }
}

/// The health finding reporting an applied policy.
pub fn applied_finding(a: &Applied) -> Finding {
    Finding::AgentHealth(AgentHealth {
        kind: HealthKind::PolicyApplied,
        message: format!(
            "policy applied: version {} for {} ({} packs)",
            a.bundle.version,
            a.bundle.agency,
            a.packs.len()
        ),
        counts: BTreeMap::from([("policy_version".to_string(), a.bundle.version)]),
        severity: Severity::Low,
    })
}

/// The rule packs the checks loop evaluates: central ones, then local ones whose id no central
/// pack has (a central pack of the same id replaces the local copy). Each is marked by source.
pub fn merge_packs(central: Option<&Applied>, local: Vec<Pack>) -> Vec<(PackSource, Pack)> {
    let mut out: Vec<(PackSource, Pack)> = central
        .map(|a| {
            a.packs
                .iter()
                .map(|p| (PackSource::Central, p.clone()))
                .collect()
        })
        .unwrap_or_default();
    for p in local {
        if !out.iter().any(|(_, c)| c.id == p.id) {
            out.push((PackSource::Local, p));
        }
    }
    out
}

/// Where a rule pack came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackSource {
    /// Pushed by the collector in a signed policy.
    Central,
    /// Installed on this host (`/etc/vigil/packs`, `[checks] packs`, or built in).
    Local,
}

/// One pack of the last check run, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackStatus {
    /// `id@version`, as check results name it.
    pub pack: String,
    /// Where it came from.
    pub source: PackSource,
}

/// The policy part of `vigil-agent status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// `central` when a central policy is in force, else `local`.
    pub source: String,
    /// Version in force (0 = none).
    pub version: u64,
    /// Digest of the signed bundle in force.
    #[serde(default)]
    pub digest: Option<String>,
    /// Agency the bundle is for.
    #[serde(default)]
    pub agency: Option<String>,
    /// Packs of the last check run, with their source.
    #[serde(default)]
    pub packs: Vec<PackStatus>,
    /// Last refusal, if any since start.
    #[serde(default)]
    pub last_refusal: Option<String>,
}

impl PolicyStatus {
    /// The status of `current`, without the pack list (the checks loop fills it).
    pub fn of(current: Option<&Applied>) -> Self {
        match current {
            Some(a) => Self {
                source: "central".into(),
                version: a.bundle.version,
                digest: Some(a.digest.clone()),
                agency: Some(a.bundle.agency.clone()),
                ..Self::default()
            },
            None => Self {
                source: "local".into(),
                ..Self::default()
            },
        }
    }
}
