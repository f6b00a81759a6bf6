//! What each host's stored check results are worth given the central policy it actually runs
//! (issue 18): the bundle version its heartbeat reports, not the newest one.
//!
//! - When a newer bundle (or a rollback) drops a central pack, or a rule of one, the agent
//!   stops evaluating it and never reports it again; its last stored result stops counting, in
//!   scores and on the host page, instead of standing for ever.
//! - A central rule counts with the severity and group of the pack version the host runs: a
//!   host still on version 1 is scored by version 1's rules. (Ingest corrects claims with the
//!   newest catalogue; this lays the host's own over it.) A built-in rule keeps its built-in
//!   definition, as in the catalogue.
//!
//! The bundle a host runs is rebuilt from what the store keeps: every policy version (with the
//! revision it took) and the current assignment rows. The bundle of version `V` for an agency
//! is exactly known when no assignment row on its path changed after `V`: the same rows, each
//! policy at its newest version not after `V`. Otherwise (an assignment on its path changed
//! since, the host never applied a bundle) nothing is known, and every result counts as
//! stored. A result of a pack id no policy ever pushed (local packs in `/etc/vigil/packs`,
//! built-in ones) always counts: the collector does not know which of those a host runs.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use vigil_proto::Severity;

use super::{PolicyContent, resolve};
use crate::store::policy::{PolicyAssignment, PolicyVersion};
use crate::store::{CheckState, Store};

/// The rules of one pack: id → (severity, group).
type PackRules = HashMap<String, (Severity, String)>;

/// The packs of one bundle: `id@version` → its rules.
type Packs = HashMap<String, Arc<PackRules>>;

/// What the collector knows of the central packs its hosts run.
#[derive(Debug, Default)]
pub struct Running {
    /// Ids of the packs any version of any policy held.
    central: HashSet<String>,
    /// Every version of every policy, oldest first.
    history: HashMap<String, Vec<PolicyVersion>>,
    /// Current assignment rows.
    assignments: Vec<PolicyAssignment>,
    /// Ids of the built-in rules (their definition is never replaced).
    builtin: HashSet<String>,
    /// Bundle version each agent reports as applied.
    applied: HashMap<String, u64>,
    /// Per (agency, version): its packs, when they can be rebuilt (built on first use).
    bundles: HashMap<(String, u64), Option<Arc<Packs>>>,
    /// Rules per pack source (a pack many agencies inherit is parsed once).
    parsed: HashMap<String, Arc<PackRules>>,
}

impl Running {
    /// Reads every policy version, the assignments and the applied versions.
    ///
    /// # Errors
    /// Store errors.
    pub fn load(store: &dyn Store) -> crate::store::Result<Self> {
        let p = store.policies();
        let mut central = HashSet::new();
        let mut history = HashMap::new();
        for head in p.policies_latest()? {
            let versions = p.policy_history(&head.name)?;
            for v in &versions {
                // A corrupt body holds no pack anyone could have applied.
                if let Ok(c) = PolicyContent::from_body(&v.body) {
                    central.extend(c.packs.into_iter().map(|pk| pk.id));
                }
            }
            history.insert(head.name, versions);
        }
        let applied = p
            .policy_applied()?
            .into_iter()
            .map(|a| (a.agent_id, u64::try_from(a.version).unwrap_or(0)))
            .collect();
        let builtin = vigil_rules::builtin_packs()
            .unwrap_or_default()
            .into_iter()
            .flat_map(|pk| pk.rules.into_iter().map(|r| r.id))
            .collect();
        Ok(Self {
            central,
            history,
            assignments: p.policy_assignments()?,
            builtin,
            applied,
            bundles: HashMap::new(),
            parsed: HashMap::new(),
        })
    }

    /// True when the result of `rule` from `pack` (`id@version`, as agents report it) still
    /// counts for agent `agent_id` of `agency`.
    pub fn counts(&mut self, agent_id: &str, agency: &str, pack: &str, rule: &str) -> bool {
        self.rule_of(agent_id, agency, pack, rule).is_some()
    }

    /// Keeps the stored results of `states` that still count, each with the severity and group
    /// of the pack version the host runs.
    pub fn retain(&mut self, agent_id: &str, agency: &str, states: &mut Vec<CheckState>) {
        states.retain_mut(|c| match self.rule_of(agent_id, agency, &c.0, &c.1) {
            None => false,
            Some(None) => true,
            Some(Some((severity, group))) => {
                c.3 = severity;
                c.2 = group;
                true
            }
        });
    }

    /// `None`: the result no longer counts. `Some(None)`: it counts as stored. `Some(Some(_))`:
    /// it counts with this severity and group (those of the host's own bundle).
    fn rule_of(
        &mut self,
        agent_id: &str,
        agency: &str,
        pack: &str,
        rule: &str,
    ) -> Option<Option<(Severity, String)>> {
        let id = pack.split_once('@').map_or(pack, |(id, _)| id);
        if !self.central.contains(id) {
            return Some(None);
        }
        let applied = self.applied.get(agent_id).copied().unwrap_or(0);
        let Some(packs) = self.bundle(agency, applied) else {
            return Some(None);
        };
        let (severity, group) = packs.get(pack)?.get(rule)?.clone();
        if self.builtin.contains(rule) {
            return Some(None);
        }
        Some(Some((severity, group)))
    }

    fn bundle(&mut self, agency: &str, version: u64) -> Option<Arc<Packs>> {
        if version == 0 {
            return None;
        }
        let key = (agency.to_owned(), version);
        if !self.bundles.contains_key(&key) {
            let b = self.build(agency, version).map(Arc::new);
            self.bundles.insert(key.clone(), b);
        }
        self.bundles.get(&key).cloned().flatten()
    }

    /// The packs of bundle `version` of `agency`, if they can be rebuilt exactly.
    fn build(&mut self, agency: &str, version: u64) -> Option<Packs> {
        let v = i64::try_from(version).ok()?;
        // An assignment on the path changed after `version`: what it was is not kept.
        if self
            .assignments
            .iter()
            .any(|a| super::within(agency, &a.agency) && a.rev > v)
        {
            return None;
        }
        let at: HashMap<String, &PolicyVersion> = self
            .history
            .iter()
            .filter_map(|(name, vs)| Some((name.clone(), vs.iter().rfind(|p| p.rev <= v)?)))
            .collect();
        let r = match resolve(agency, &self.assignments, &at) {
            Ok(r) if r.version == version => r,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(%agency, error = %e, "Stored policy is corrupt; results of its packs count as stored.");
                return None;
            }
        };
        let mut packs = Packs::new();
        for p in r.content.packs {
            let rules = match self.parsed.get(&p.source) {
                Some(r) => r.clone(),
                None => {
                    let rules = Arc::new(pack_rules(&p.source, &p.id));
                    self.parsed.insert(p.source, rules.clone());
                    rules
                }
            };
            packs.insert(format!("{}@{}", p.id, p.version), rules);
        }
        Some(packs)
    }
}

/// The rules of a stored pack. Every stored pack parsed when it was added; one that no longer
/// does has no rule the agent could run.
fn pack_rules(source: &str, id: &str) -> PackRules {
    vigil_rules::parse_pack(source, Path::new(id))
        .map(|pk| {
            pk.rules
                .into_iter()
                .map(|r| (r.id, (r.severity, r.group.as_str().to_owned())))
                .collect()
        })
        .unwrap_or_default()
}
