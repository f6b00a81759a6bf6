//! Central policy on the agent: verify, check, apply, publish (issue #18).
//!
//! The uplink hands every complete transfer to [`PolicyAgent::offer`], which accepts it only if
//! the signature verifies with the key pinned at enrollment, the version is higher than the one
//! in force, the bundle is for this agent's agency or one above it, every setting lies in the
//! ranges of the local `[policy]` section ([`limits`]) and every pack parses. Then it is written
//! atomically ([`store`]) and published on a `watch` channel: the checks loop re-evaluates at
//! once with the new packs, the other engines pick up their settings. A refusal keeps what the
//! agent had and becomes a health finding saying why.
//!
//! The local configuration stays the base: [`effective`] lays a bundle's settings over it, and
//! local rule packs (`/etc/vigil/packs`) keep running next to central ones, shown as local.

pub mod limits;
pub mod store;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use vigil_proto::policy::{Assembled, PolicyBundle, PolicyPublicKey, check_applicable};
use vigil_proto::{AgentHealth, Finding, HealthKind, Severity};
use vigil_rules::{Level, Pack};

use crate::config::AgentConfig;
use crate::state::StatePaths;
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
    fn new(version: Option<u64>, reason: impl Into<String>) -> Self {
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
            kind: HealthKind::Other,
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
        kind: HealthKind::Other,
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

/// The agent's side of central policy: pinned key, policy in force, local limits.
#[derive(Debug)]
pub struct PolicyAgent {
    store: PolicyStore,
    key: Option<PolicyPublicKey>,
    agency: String,
    local: AgentConfig,
    tx: watch::Sender<Option<Arc<Applied>>>,
}

impl PolicyAgent {
    /// Loads the pinned key and the policy in force. A stored policy that no longer verifies or
    /// parses is set aside (local configuration applies) and reported in the second value.
    pub fn open(state: &StatePaths, agency: &str, local: AgentConfig) -> (Self, Option<Refusal>) {
        let store = PolicyStore::new(state);
        let mut problem = None;
        let key = store.key().unwrap_or_else(|e| {
            problem = Some(Refusal::new(None, format!("pinned policy key unusable: {e}")));
            None
        });
        let current = key.as_ref().and_then(|k| match store.load(k) {
            Ok(Some(s)) => match prepare(s.bundle, s.signed.digest(), &local) {
                Ok(a) => Some(Arc::new(a)),
                Err(r) => {
                    problem = Some(r);
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                problem = Some(Refusal::new(None, format!("stored policy unusable: {e}")));
                None
            }
        });
        let (tx, _) = watch::channel(current);
        let me = Self {
            store,
            key,
            agency: agency.to_string(),
            local,
            tx,
        };
        (me, problem)
    }

    /// A receiver of the policy in force and its changes.
    pub fn subscribe(&self) -> PolicyWatch {
        self.tx.subscribe()
    }

    /// The policy in force.
    pub fn current(&self) -> Option<Arc<Applied>> {
        self.tx.borrow().clone()
    }

    /// Version in force (0 = none).
    pub fn version(&self) -> u64 {
        self.current().map_or(0, |a| a.bundle.version)
    }

    /// Digest of the blob in force.
    pub fn digest(&self) -> Option<String> {
        self.current().map(|a| a.digest.clone())
    }

    /// Verifies, checks and applies a transfer; on success the new policy is in force and
    /// published.
    ///
    /// # Errors
    /// A [`Refusal`]; the policy in force is unchanged.
    pub fn offer(&mut self, a: Assembled) -> Result<Arc<Applied>, Refusal> {
        self.offer_until(a, Step::Done)
    }

    /// [`Self::offer`] with the write stopped after `stop` (crash simulation in tests): the
    /// published policy changes only when every step ran.
    ///
    /// # Errors
    /// As [`Self::offer`].
    pub fn offer_until(&mut self, a: Assembled, stop: Step) -> Result<Arc<Applied>, Refusal> {
        let claimed = Some(a.version);
        let Some(key) = &self.key else {
            return Err(Refusal::new(
                claimed,
                "no policy key was pinned at enrollment; re-enroll this agent to receive \
                 central policy",
            ));
        };
        if !self.local.policy.accept {
            return Err(Refusal::new(
                claimed,
                "central policy is disabled here (policy.accept = false)",
            ));
        }
        let bundle = a
            .signed
            .verify(key)
            .map_err(|e| Refusal::new(claimed, e.to_string()))?;
        let version = Some(bundle.version);
        if bundle.version != a.version {
            return Err(Refusal::new(
                version,
                format!(
                    "the transfer claimed version {} for a bundle signed as version {}",
                    a.version, bundle.version
                ),
            ));
        }
        check_applicable(&bundle, self.version(), &self.agency)
            .map_err(|e| Refusal::new(version, e.to_string()))?;
        let applied = prepare(bundle, a.signed.digest(), &self.local)?;
        self.store
            .apply_until(&a.signed, stop)
            .map_err(|e| Refusal::new(version, format!("cannot write the policy: {e}")))?;
        if stop != Step::Done {
            return Err(Refusal::new(version, format!("apply stopped after {stop:?}")));
        }
        let applied = Arc::new(applied);
        self.tx.send_replace(Some(applied.clone()));
        Ok(applied)
    }
}

/// Checks a verified bundle against the local limits and parses its packs.
fn prepare(bundle: PolicyBundle, digest: String, local: &AgentConfig) -> Result<Applied, Refusal> {
    let version = Some(bundle.version);
    local
        .policy
        .check(&bundle.settings, !bundle.packs.is_empty())
        .map_err(|e| Refusal::new(version, e.join("; ")))?;
    let mut packs = Vec::with_capacity(bundle.packs.len());
    for p in &bundle.packs {
        let origin = format!("policy v{} pack {}", bundle.version, p.name);
        let pack = vigil_rules::parse_pack(&p.source, Path::new(&origin))
            .map_err(|e| Refusal::new(version, e.to_string()))?;
        if pack.id != p.name {
            return Err(Refusal::new(
                version,
                format!("pack {:?} declares id {:?}", p.name, pack.id),
            ));
        }
        packs.push(pack);
    }
    effective(local, Some(&bundle)).map_err(|e| Refusal::new(version, e.join("; ")))?;
    Ok(Applied {
        bundle,
        digest,
        packs,
    })
}

/// The configuration the engines run with: the local one with the bundle's settings laid over.
///
/// # Errors
/// A setting that the engines' own validation refuses (a FIM glob that does not compile, a
/// spool budget below twice the segment size).
pub fn effective(
    local: &AgentConfig,
    bundle: Option<&PolicyBundle>,
) -> Result<AgentConfig, Vec<String>> {
    let mut cfg = local.clone();
    let Some(b) = bundle else {
        return Ok(cfg);
    };
    let s = &b.settings;
    let secs = Duration::from_secs;
    if let Some(v) = s.check_interval_s {
        cfg.checks.interval = secs(v);
    }
    if let Some(v) = s.netwatch_interval_s {
        cfg.netwatch.interval = secs(v);
    }
    if let Some(v) = s.inventory_interval_s {
        cfg.inventory_interval = secs(v);
    }
    let mut errors = Vec::new();
    if let Some(l) = s.agency_level {
        match Level::new(l) {
            Some(l) => cfg.checks.level = l,
            None => errors.push(format!("agency_level {l} is not 1 to 5")),
        }
    }
    if let Some(v) = s.spool_budget_bytes {
        if v < cfg.spool.segment_bytes.saturating_mul(2) {
            errors.push(format!(
                "spool_budget {v} bytes is less than twice the local segment size"
            ));
        } else {
            cfg.spool.max_bytes = v;
        }
    }
    if s.fim_paths.is_some() || s.fim_exclude.is_some() || s.storm_threshold.is_some() {
        let raw = crate::fim::config::RawFimConfig {
            paths: s.fim_paths.as_ref().map(|p| {
                p.iter()
                    .cloned()
                    .map(crate::fim::config::RawPathSpec::Plain)
                    .collect()
            }),
            exclude: s.fim_exclude.clone(),
            storm_threshold: s.storm_threshold,
            ..Default::default()
        };
        match raw.validate() {
            Ok(f) => {
                if s.fim_paths.is_some() {
                    cfg.fim.paths = f.paths;
                }
                if s.fim_exclude.is_some() {
                    cfg.fim.exclude = f.exclude;
                }
                if s.storm_threshold.is_some() {
                    cfg.fim.storm_threshold = f.storm_threshold;
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() { Ok(cfg) } else { Err(errors) }
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
    /// Packs evaluated, `id@version`, with their source.
    #[serde(default)]
    pub packs: Vec<(String, PackSource)>,
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

#[cfg(test)]
mod tests;
