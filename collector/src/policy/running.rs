//! Which stored check results still count for a host (issue 18). When a newer bundle (or a
//! rollback) drops a central pack, or a rule of one, the agent stops evaluating it and never
//! reports it again; its last stored result must stop counting then, in scores and on the host
//! page, instead of standing for ever.
//!
//! The collector knows what a host runs only when the host reports the bundle version in force
//! for its agency (the `current` state of `policy show`): the packs of that bundle. A result of
//! a pack id that some policy ever pushed counts only when that bundle has the pack, at the
//! same `id@version`, with that rule. Results of other packs (local packs in
//! `/etc/vigil/packs`, built-in ones) always count: the collector does not know which of them
//! a host runs. A host on an older version (offline, or refusing the newest) keeps every
//! result until it reports the version in force: the collector does not keep the content of
//! each past bundle.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::{PolicyBook, PolicyContent};
use crate::store::Store;

/// The packs of one bundle: `id@version` → its rule ids.
type Packs = HashMap<String, Arc<HashSet<String>>>;

/// What the collector knows of the central packs its hosts run.
#[derive(Debug, Default)]
pub struct Running {
    /// Ids of the packs any version of any policy held.
    central: HashSet<String>,
    /// The policies in force.
    book: PolicyBook,
    /// Bundle version each agent reports as applied.
    applied: HashMap<String, u64>,
    /// Per agency: the version in force and its packs (built on first use).
    bundles: HashMap<String, Option<(u64, Packs)>>,
    /// Rule ids per pack source (a pack many agencies inherit is parsed once).
    parsed: HashMap<String, Arc<HashSet<String>>>,
}

impl Running {
    /// Reads every policy version, the assignments and the applied versions.
    ///
    /// # Errors
    /// Store errors.
    pub fn load(store: &dyn Store) -> crate::store::Result<Self> {
        let p = store.policies();
        let mut central = HashSet::new();
        for head in p.policies_latest()? {
            for v in p.policy_history(&head.name)? {
                // A corrupt body holds no pack anyone could have applied.
                if let Ok(c) = PolicyContent::from_body(&v.body) {
                    central.extend(c.packs.into_iter().map(|pk| pk.id));
                }
            }
        }
        let applied = p
            .policy_applied()?
            .into_iter()
            .map(|a| (a.agent_id, u64::try_from(a.version).unwrap_or(0)))
            .collect();
        Ok(Self {
            central,
            book: PolicyBook::load(store)?,
            applied,
            bundles: HashMap::new(),
            parsed: HashMap::new(),
        })
    }

    /// True when the result of `rule` from `pack` (`id@version`, as agents report it) still
    /// counts for agent `agent_id` of `agency`.
    pub fn counts(&mut self, agent_id: &str, agency: &str, pack: &str, rule: &str) -> bool {
        let id = pack.split_once('@').map_or(pack, |(id, _)| id);
        if !self.central.contains(id) {
            return true;
        }
        let applied = self.applied.get(agent_id).copied().unwrap_or(0);
        match self.bundle(agency) {
            Some((version, packs)) if *version == applied => {
                packs.get(pack).is_some_and(|rules| rules.contains(rule))
            }
            // No policy on its path, or the host runs another version: not known.
            _ => true,
        }
    }

    /// Keeps the stored results of `states` that still count.
    pub fn retain(
        &mut self,
        agent_id: &str,
        agency: &str,
        states: &mut Vec<crate::store::CheckState>,
    ) {
        states.retain(|c| self.counts(agent_id, agency, &c.0, &c.1));
    }

    fn bundle(&mut self, agency: &str) -> Option<&(u64, Packs)> {
        if !self.bundles.contains_key(agency) {
            let b = self.build(agency);
            self.bundles.insert(agency.to_owned(), b);
        }
        self.bundles.get(agency).and_then(Option::as_ref)
    }

    fn build(&mut self, agency: &str) -> Option<(u64, Packs)> {
        let r = match self.book.resolve(agency) {
            Ok(r) if r.version > 0 => r,
            Ok(_) => return None,
            Err(e) => {
                tracing::warn!(%agency, error = %e, "Stored policy is corrupt; results of its packs all count.");
                return None;
            }
        };
        let mut packs = Packs::new();
        for p in r.content.packs {
            let rules = match self.parsed.get(&p.source) {
                Some(r) => r.clone(),
                None => {
                    // Every stored pack parsed when it was added; one that no longer does
                    // has no rule the agent could run.
                    let rules: HashSet<String> =
                        vigil_rules::parse_pack(&p.source, Path::new(&p.id))
                            .map(|pk| pk.rules.into_iter().map(|r| r.id).collect())
                            .unwrap_or_default();
                    let rules = Arc::new(rules);
                    self.parsed.insert(p.source, rules.clone());
                    rules
                }
            };
            packs.insert(format!("{}@{}", p.id, p.version), rules);
        }
        Some((r.version, packs))
    }
}
