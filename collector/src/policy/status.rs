//! Which policy each host runs, against the one in force for its agency: what `policy show
//! --agency`, the API and the console page print.

use std::collections::HashMap;

use serde::Serialize;

use super::{PolicyBook, within};
use crate::store::{AgentRecord, Store};

/// A host and the bundle version it reports as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPolicy {
    /// Agent id.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// Agency.
    pub agency: String,
    /// Version in force for its agency (0: none).
    pub expected: u64,
    /// Version it reported (0: none).
    pub applied: u64,
    /// `current`, `older` or `none`.
    pub state: &'static str,
}

/// The policy of an agency subtree and how many of its hosts run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgencyPolicy {
    /// Agency path.
    pub agency: String,
    /// Bundle version in force for the agency itself (0: none).
    pub version: u64,
    /// `name@version` of the policies merged into it (`none`).
    pub policies: String,
    /// Ids of the rule packs it pushes.
    pub packs: Vec<String>,
    /// Hosts of the subtree running the version in force for their agency.
    pub current: usize,
    /// Hosts running an older version.
    pub older: usize,
    /// Hosts reporting no central policy.
    pub none: usize,
    /// Every live host of the subtree.
    pub hosts: Vec<HostPolicy>,
}

/// The status of the subtree at `agency`.
///
/// # Errors
/// Store errors, or a corrupt stored policy (as [`crate::store::StoreError::Corrupt`]).
pub fn agency_status(store: &dyn Store, agency: &str) -> crate::store::Result<AgencyPolicy> {
    let book = PolicyBook::load(store)?;
    let agents = store.agents_brief()?;
    let applied: HashMap<String, i64> = store
        .policies()
        .policy_applied()?
        .into_iter()
        .map(|a| (a.agent_id, a.version))
        .collect();
    status(&book, &agents, &applied, agency).map_err(crate::store::StoreError::Corrupt)
}

fn status(
    book: &PolicyBook,
    agents: &[AgentRecord],
    applied: &HashMap<String, i64>,
    agency: &str,
) -> Result<AgencyPolicy, String> {
    let top = book.resolve(agency)?;
    let mut expected: HashMap<&str, u64> = HashMap::new();
    let mut out = AgencyPolicy {
        agency: agency.to_owned(),
        version: top.version,
        policies: top.label(),
        packs: top.content.packs.iter().map(|p| p.id.clone()).collect(),
        current: 0,
        older: 0,
        none: 0,
        hosts: Vec::new(),
    };
    for a in agents
        .iter()
        .filter(|a| !a.revoked && within(&a.agency, agency))
    {
        let want = match expected.get(a.agency.as_str()) {
            Some(v) => *v,
            None => {
                let v = book.resolve(&a.agency)?.version;
                expected.insert(&a.agency, v);
                v
            }
        };
        let have = applied
            .get(&a.id)
            .and_then(|v| u64::try_from(*v).ok())
            .unwrap_or(0);
        let state = if have == 0 {
            out.none += 1;
            "none"
        } else if have >= want {
            out.current += 1;
            "current"
        } else {
            out.older += 1;
            "older"
        };
        out.hosts.push(HostPolicy {
            id: a.id.clone(),
            hostname: a.hostname.clone(),
            agency: a.agency.clone(),
            expected: want,
            applied: have,
            state,
        });
    }
    Ok(out)
}
