//! JSON views shared by the CLI (`--json`) and the HTTP API, so both have one stable schema.
//!
//! Schemas (documented in docs/cli-json.md): `{"hosts": [...]}`, `{"findings": [...]}`,
//! `{"agencies": [...]}`, `{"tokens": [...]}`.

use serde::Serialize;
use serde_json::{Value, json};

use vigil_rules::score::Scoring;

use crate::store::{AgentRecord, FindingFilter, Result, Store};

/// A host is stale once it has not reported for this long (DESIGN §6 freshness: 48 h).
pub const STALE_AFTER_S: i64 = 48 * 3600;

/// One row of `hosts`.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// Agent id.
    pub id: String,
    /// Agency path.
    pub agency: String,
    /// Host name.
    pub hostname: String,
    /// Machine id.
    pub machine_id: String,
    /// OS.
    pub os: String,
    /// Role.
    pub role: String,
    /// Agent version.
    pub agent_version: String,
    /// Enrolled at (Unix seconds).
    pub enrolled_at: i64,
    /// Last seen (Unix seconds, 0 = never).
    pub last_seen: i64,
    /// Unacknowledged records in the agent's spool at the last heartbeat.
    pub spool_depth: u64,
    /// Agent clock minus collector clock, ms.
    pub clock_skew_ms: i64,
    /// Highest finding seq stored.
    pub max_seq: u64,
    /// Certificate expiry (Unix seconds).
    pub cert_not_after: i64,
    /// Revoked or replaced.
    pub revoked: bool,
    /// Host score (null until check results arrive).
    pub score: Option<f64>,
    /// No report for more than 48 h (or never): the freshness term of the score is below 1.
    pub stale: bool,
    /// Latest inventory.
    pub inventory: Option<Value>,
    /// A simulated host of `demo --province` (enrolled with a simulation token), not a real
    /// machine.
    pub simulated: bool,
}

impl From<AgentRecord> for HostRow {
    fn from(a: AgentRecord) -> Self {
        Self {
            id: a.id,
            agency: a.agency,
            hostname: a.hostname,
            machine_id: a.machine_id,
            os: a.os,
            role: a.role,
            agent_version: a.agent_version,
            enrolled_at: a.enrolled_at,
            last_seen: a.last_seen,
            spool_depth: a.spool_depth,
            clock_skew_ms: a.clock_skew_ms,
            max_seq: a.max_seq,
            cert_not_after: a.cert_not_after,
            revoked: a.revoked,
            score: None,
            stale: a.last_seen == 0 || crate::clock::now_ms() / 1000 - a.last_seen > STALE_AFTER_S,
            inventory: a.inventory,
            simulated: a.simulated,
        }
    }
}

/// Live (non-revoked) hosts, or all with `include_revoked`.
///
/// # Errors
/// Store errors.
pub fn hosts(store: &dyn Store, include_revoked: bool, scoring: &Scoring) -> Result<Vec<HostRow>> {
    // The same scores `score` shows: alerts, freshness and the configured constants included.
    let inputs = crate::scoring::Inputs::load(store)?;
    let scores = crate::scoring::compute(
        &inputs,
        scoring,
        &crate::policy::catalog(store)?,
        crate::clock::now_ms(),
    );
    host_rows(store, include_revoked, &scores)
}

/// Like [`hosts`], with scores computed already (the API's cached ones).
///
/// # Errors
/// Store errors.
pub fn host_rows(
    store: &dyn Store,
    include_revoked: bool,
    scores: &crate::scoring::Scores,
) -> Result<Vec<HostRow>> {
    let mut rows: Vec<HostRow> = store
        .agents()?
        .into_iter()
        .filter(|a| include_revoked || !a.revoked)
        .map(HostRow::from)
        .collect();
    let by_id: std::collections::HashMap<&str, f64> = scores
        .hosts
        .iter()
        .filter(|h| h.reported)
        .map(|h| (h.id.as_str(), h.full.score))
        .collect();
    for r in &mut rows {
        r.score = by_id.get(r.id.as_str()).map(|s| (s * 10.0).round() / 10.0);
    }
    Ok(rows)
}

/// Check findings a host page reads at most: an agent runs every rule of its packs each time, so
/// the newest few runs of the largest state the store keeps hold the current result of every
/// rule. The rest is history, which a page must not read all of on every view.
pub const LATEST_CHECKS_READ: usize = 4 * crate::store::MAX_RULES_PER_AGENT;

/// The latest result of every rule an agent reported recently (by pack and rule id), from its
/// newest [`LATEST_CHECKS_READ`] check findings, without those of central packs or rules the
/// host no longer runs (`policy/running.rs`).
///
/// # Errors
/// Store errors.
pub fn latest_checks(store: &dyn Store, agent_id: &str) -> Result<Vec<vigil_proto::CheckResult>> {
    let agency = store.agent(agent_id)?.map(|a| a.agency);
    let mut running = crate::policy::running::Running::load(store)?;
    let f = FindingFilter {
        agent_id: Some(agent_id.to_string()),
        kind: Some("check".into()),
        since_ms: None,
        limit: LATEST_CHECKS_READ,
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    // Newest first: the first result per rule is the current one.
    for sf in store.findings(&f)? {
        if let Ok(vigil_proto::Finding::CheckResult(c)) =
            serde_json::from_value::<vigil_proto::Finding>(sf.finding)
            && seen.insert((c.pack.clone(), c.rule_id.clone()))
            && agency
                .as_deref()
                .is_none_or(|ag| running.counts(agent_id, ag, &c.pack, &c.rule_id))
        {
            out.push(c);
        }
    }
    Ok(out)
}

/// `{"hosts": [...]}`.
///
/// # Errors
/// Store errors.
pub fn hosts_json(store: &dyn Store, include_revoked: bool, scoring: &Scoring) -> Result<Value> {
    Ok(json!({ "hosts": hosts(store, include_revoked, scoring)? }))
}

/// `{"findings": [...]}`.
///
/// # Errors
/// Store errors.
pub fn findings_json(store: &dyn Store, f: &FindingFilter) -> Result<Value> {
    Ok(json!({ "findings": store.findings(f)? }))
}

/// A host answering a package query.
#[derive(Debug, Clone, Serialize)]
pub struct PackageHit {
    /// Agent id.
    pub id: String,
    /// Agency.
    pub agency: String,
    /// Host name.
    pub hostname: String,
    /// Installed version.
    pub version: String,
}

/// Live hosts whose latest inventory has package `name`, optionally below version `below`.
///
/// # Errors
/// Store errors.
pub fn package_query(
    store: &dyn Store,
    name: &str,
    below: Option<&str>,
) -> Result<Vec<PackageHit>> {
    let mut out = Vec::new();
    for a in store.agents()?.into_iter().filter(|a| !a.revoked) {
        let Some(pkgs) = a
            .inventory
            .as_ref()
            .and_then(|i| i.get("packages"))
            .and_then(Value::as_array)
        else {
            continue;
        };
        for p in pkgs {
            if p["name"] != name {
                continue;
            }
            let version = p["version"].as_str().unwrap_or_default().to_string();
            let hit =
                below.is_none_or(|b| vigil_rules::compare_debian_versions(&version, b).is_lt());
            if hit {
                out.push(PackageHit {
                    id: a.id.clone(),
                    agency: a.agency.clone(),
                    hostname: a.hostname.clone(),
                    version,
                });
            }
        }
    }
    Ok(out)
}
