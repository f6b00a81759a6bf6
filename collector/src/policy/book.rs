//! What the running collector delivers: a snapshot of every assignment and policy at one
//! revision, and per agency the bundle built, signed and cut into `PolicyUpdate` chunks once,
//! then shared by every session of that agency (a thousand agents of one agency cost one
//! signature and one copy of the chunks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use vigil_proto::policy::{PackSource, PolicyBundle, PolicyChunk, PolicySettings, PolicySigner};

use super::{Resolved, resolve};
use crate::store::Store;
use crate::store::policy::{PolicyAssignment, PolicyVersion};

/// A signed bundle ready to send to the agents of one agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Bundle version.
    pub version: u64,
    /// `name@version` of the policies merged into it.
    pub label: String,
    /// The chunks, in order.
    pub chunks: Vec<PolicyChunk>,
    /// Size of the signed bundle, bytes.
    pub signed_len: usize,
    /// Sent whatever the agent holds (the test hook of debug builds); never set otherwise.
    pub forced: bool,
}

/// Assignments and newest policy versions at one revision.
#[derive(Debug, Default)]
pub struct PolicyBook {
    rev: i64,
    assignments: Vec<PolicyAssignment>,
    latest: HashMap<String, PolicyVersion>,
    built: Mutex<HashMap<String, Arc<Delivery>>>,
}

impl PolicyBook {
    /// Reads the current revision from the store.
    ///
    /// # Errors
    /// Store errors.
    pub fn load(store: &dyn Store) -> crate::store::Result<Self> {
        let p = store.policies();
        // The revision first: a change landing between the reads shows up as a newer revision
        // on the next refresh, never as a snapshot claiming more than it read.
        let rev = p.policy_rev()?;
        Ok(Self {
            rev,
            assignments: p.policy_assignments()?,
            latest: p
                .policies_latest()?
                .into_iter()
                .map(|v| (v.name.clone(), v))
                .collect(),
            built: Mutex::default(),
        })
    }

    /// The rule catalogue of this snapshot: the built-in rules and those of every policy's
    /// newest version (see [`super::catalog`]).
    pub fn catalog(&self) -> crate::catalog::RuleCatalog {
        super::catalog_of(self.latest.values())
    }

    /// The revision this snapshot was read at.
    pub fn rev(&self) -> i64 {
        self.rev
    }

    /// The policy in force for `agency`.
    ///
    /// # Errors
    /// A message when a stored body is corrupt.
    pub fn resolve(&self, agency: &str) -> Result<Resolved, String> {
        resolve(agency, &self.assignments, &self.latest)
    }

    /// The signed, chunked bundle for the agents of `agency`; `None` when no policy was ever
    /// assigned on its path. Built once per agency and revision.
    ///
    /// # Errors
    /// A message when a body is corrupt or the bundle cannot be encoded or cut to frames.
    pub fn delivery(
        &self,
        agency: &str,
        key: &PolicySigner,
        max_frame: usize,
        now: i64,
    ) -> Result<Option<Arc<Delivery>>, String> {
        if let Some(d) = self.lock().get(agency) {
            return Ok(Some(d.clone()));
        }
        let r = self.resolve(agency)?;
        if r.version == 0 {
            return Ok(None);
        }
        let bundle = to_bundle(agency, &r, now);
        let signed = key.sign(&bundle).map_err(|e| e.to_string())?;
        let chunks =
            vigil_proto::policy::split(&signed, r.version, max_frame).map_err(|e| e.to_string())?;
        let d = Arc::new(Delivery {
            version: r.version,
            label: r.label(),
            chunks,
            signed_len: signed.as_bytes().len(),
            forced: false,
        });
        self.lock().insert(agency.to_owned(), d.clone());
        Ok(Some(d))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Delivery>>> {
        self.built.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The protocol bundle of a resolved policy, for the agents of `agency`.
pub fn to_bundle(agency: &str, r: &Resolved, now: i64) -> PolicyBundle {
    let s = &r.content.settings;
    PolicyBundle {
        version: r.version,
        agency: agency.to_owned(),
        issued_at: now,
        packs: r
            .content
            .packs
            .iter()
            .map(|p| PackSource {
                name: p.id.clone(),
                version: p.version.clone(),
                source: p.source.clone(),
            })
            .collect(),
        settings: PolicySettings {
            check_interval_s: s.check_interval_s,
            fim_paths: s.fim_paths.clone(),
            fim_exclude: s.fim_exclude.clone(),
            netwatch_interval_s: s.netwatch_interval_s,
            inventory_interval_s: s.inventory_interval_s,
            storm_threshold: s.storm_threshold,
            spool_budget_bytes: s.spool_budget_bytes,
            agency_level: s.agency_level,
        },
    }
}
