//! Central policy applied to this agent: verify, check, apply, publish (issue #18).
//!
//! [`PolicyAgent::offer`] accepts a transfer only if the signature verifies with the key pinned
//! at enrollment, the version is higher than the one in force, the bundle is for this agent's
//! agency or one above it, every setting lies in the local `[policy]` ranges and every pack
//! parses; then it is written atomically and published to the engines. [`effective`] lays a
//! bundle's settings over the local configuration. This sits above both the configuration and
//! [`crate::policy`], which holds the parts the configuration itself needs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use vigil_proto::policy::{Assembled, PolicyBundle, PolicyPublicKey, check_applicable};
use vigil_rules::Level;

use crate::config::AgentConfig;
use crate::policy::{Applied, PolicyStore, PolicyWatch, Refusal, Step};
use crate::state::StatePaths;

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
            problem = Some(Refusal::new(
                None,
                format!("pinned policy key unusable: {e}"),
            ));
            None
        });
        if let Err(e) = store.recover() {
            problem = Some(Refusal::new(
                None,
                format!("cannot clean up the policy files: {e}"),
            ));
        }
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
            return Err(Refusal::new(
                version,
                format!("apply stopped after {stop:?}"),
            ));
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
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
