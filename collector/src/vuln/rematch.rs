//! Matching over the store: every host after an import, one host when its inventory changes.
//!
//! The running collector keeps the [`Index`] in an [`IndexCache`] tagged with the advisory-set
//! version it was built from, so re-matching one host costs its own packages only; an import made
//! by another process moves the version and the next re-match rebuilds the index.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::warn;

use super::ecosystem::Ecosystem;
use super::matching::{HostPackage, Index, Match};
use super::osv::Advisory;
use crate::store::vuln::{AdvisoryRow, MatchKey, MatchRow};
use crate::store::{NewAlert, Store, StoreError};

/// Errors of re-matching.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RematchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored advisory could not be read back.
    #[error("stored advisory unreadable: {0}")]
    Corrupt(String),
}

/// The index of the current advisory set, rebuilt when an import moves the version.
#[derive(Debug, Default)]
pub struct IndexCache(Mutex<Option<(i64, Arc<Index>)>>);

impl IndexCache {
    /// The index of the store's current advisory set.
    ///
    /// # Errors
    /// [`RematchError`] from the store or an unreadable advisory.
    pub fn current(&self, store: &dyn Store) -> Result<Arc<Index>, RematchError> {
        let version = store
            .vulns()
            .vuln_imports()?
            .last()
            .map_or(0, |i| i.version);
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((v, idx)) = slot.as_ref()
            && *v == version
        {
            return Ok(Arc::clone(idx));
        }
        let idx = Arc::new(load_index(store)?);
        *slot = Some((version, Arc::clone(&idx)));
        Ok(idx)
    }
}

/// Rows to store for `advisories`.
pub fn advisory_rows(advisories: &[Advisory]) -> Vec<AdvisoryRow> {
    advisories
        .iter()
        .map(|a| AdvisoryRow {
            id: a.id.clone(),
            cves: a.cves.clone(),
            summary: a.summary.clone(),
            severity: a.severity.clone(),
            cvss: a.cvss,
            // Serialising our own plain struct cannot fail.
            body: serde_json::to_string(a).unwrap_or_default(),
        })
        .collect()
}

/// Builds the index of every stored advisory.
///
/// # Errors
/// [`RematchError`] from the store or an unreadable advisory.
pub fn load_index(store: &dyn Store) -> Result<Index, RematchError> {
    let bodies = store.vulns().vuln_advisory_bodies()?;
    let advisories = bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Advisory>(b).map_err(|e| RematchError::Corrupt(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Index::new(advisories))
}

/// The matches of a host from its stored inventory (the inventory finding's JSON); none for a
/// host whose OS Vigil does not match or without packages.
pub fn matches_of_inventory(index: &Index, inventory: &Value) -> Vec<Match> {
    let text = |k: &str| inventory.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("os").starts_with("Windows") {
        return windows_matches(index, text("build"), inventory);
    }
    let Some(eco) = Ecosystem::of_host(text("os"), text("os_version")) else {
        return Vec::new();
    };
    let Some(list) = inventory.get("packages").and_then(Value::as_array) else {
        return Vec::new();
    };
    let packages: Vec<HostPackage<'_>> = list
        .iter()
        .filter_map(|p| {
            Some(HostPackage {
                name: p.get("name")?.as_str()?,
                version: p.get("version")?.as_str()?,
                source: p.get("source").and_then(Value::as_str),
            })
        })
        .collect();
    index.match_host(&eco, &packages, &[])
}

/// A Windows host: the OS is its one package (`Windows`, versioned by the full build), matched
/// with the updates it has installed.
fn windows_matches(index: &Index, build: &str, inventory: &Value) -> Vec<Match> {
    let Some(eco) = Ecosystem::of_windows(build) else {
        return Vec::new();
    };
    let mut kbs: Vec<String> = inventory
        .get("hotfixes")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_uppercase)
                .collect()
        })
        .unwrap_or_default();
    kbs.sort();
    let os = HostPackage {
        name: WINDOWS_PACKAGE,
        version: build,
        source: None,
    };
    index.match_host(&eco, &[os], &kbs)
}

/// The package name Windows advisories use for the OS itself.
pub const WINDOWS_PACKAGE: &str = "Windows";

fn rows(matches: Vec<Match>) -> Vec<MatchRow> {
    matches
        .into_iter()
        .map(|m| MatchRow {
            advisory: m.advisory,
            package: m.package,
            installed: m.installed,
            fixed: m.fixed,
            severity: m.severity,
            cvss: m.cvss,
        })
        .collect()
}

/// Hosts whose matches are written in one transaction during a full re-match: inventories are
/// read and matched a chunk at a time, so memory stays bounded by the chunk, not the province.
const CHUNK: usize = 512;

/// Re-matches every live host; returns (hosts, matches).
///
/// # Errors
/// [`RematchError`] from the store.
pub fn rematch_all(
    store: &dyn Store,
    index: &Index,
    now: i64,
) -> Result<(usize, usize), RematchError> {
    let ids: Vec<String> = store
        .agents_brief()?
        .into_iter()
        .filter(|a| !a.revoked)
        .map(|a| a.id)
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let (mut total, mut added) = (0, Vec::new());
    for chunk in ids.chunks(CHUNK) {
        let hosts = match_chunk(store, index, chunk, threads)?;
        total += hosts.iter().map(|(_, r)| r.len()).sum::<usize>();
        added.extend(store.vulns().vuln_set_matches(&hosts, now)?);
    }
    alert_new(store, index, &added, now)?;
    Ok((ids.len(), total))
}

/// Matches to store, per host.
type HostRows = Vec<(String, Vec<MatchRow>)>;

/// Reads and matches the hosts of `ids` on `threads` threads, in the order of `ids`.
fn match_chunk(
    store: &dyn Store,
    index: &Index,
    ids: &[String],
    threads: usize,
) -> Result<Vec<(String, Vec<MatchRow>)>, RematchError> {
    let per = ids.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<Result<HostRows, RematchError>> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for id in part {
                        let found = store
                            .agent(id)?
                            .and_then(|a| a.inventory)
                            .map(|inv| matches_of_inventory(index, &inv))
                            .unwrap_or_default();
                        out.push((id.clone(), rows(found)));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(RematchError::Corrupt("a matching thread panicked".into()))
                })
            })
            .collect()
    });
    let mut all = Vec::with_capacity(ids.len());
    for p in parts {
        all.extend(p?);
    }
    Ok(all)
}

/// Re-matches one host from its stored inventory; returns its number of matches.
///
/// # Errors
/// [`RematchError`] from the store.
pub fn rematch_host(
    store: &dyn Store,
    cache: &IndexCache,
    agent_id: &str,
    now: i64,
) -> Result<usize, RematchError> {
    let index = cache.current(store)?;
    let Some(agent) = store.agent(agent_id)? else {
        return Ok(0);
    };
    let found = agent
        .inventory
        .as_ref()
        .map(|inv| matches_of_inventory(&index, inv))
        .unwrap_or_default();
    let n = found.len();
    let added = store
        .vulns()
        .vuln_set_matches(&[(agent.id, rows(found))], now)?;
    alert_new(store, &index, &added, now)?;
    Ok(n)
}

/// Raises an alert for each new match of a critical advisory on a server.
fn alert_new(
    store: &dyn Store,
    index: &Index,
    added: &[MatchKey],
    now: i64,
) -> Result<(), RematchError> {
    if added.is_empty() {
        return Ok(());
    }
    let servers: std::collections::HashMap<String, String> = store
        .agents_brief()?
        .into_iter()
        .filter(|a| a.role == "server" && !a.revoked)
        .map(|a| (a.id, a.hostname))
        .collect();
    for (host, advisory, package) in added {
        let Some(hostname) = servers.get(host) else {
            continue;
        };
        let Some(a) = index.advisory(advisory) else {
            continue;
        };
        if a.severity.as_deref() != Some("critical") {
            continue;
        }
        if let Err(e) = store.alert_raise(&critical_alert(host, hostname, a, package), now) {
            warn!(error = %e, %host, %advisory, "Raising a vulnerability alert failed.");
        }
    }
    Ok(())
}

/// The alert for a critical advisory matching a server.
pub fn critical_alert(host: &str, hostname: &str, a: &Advisory, package: &str) -> NewAlert {
    let cves = a.cves.join(", ");
    let mut params = crate::store::AlertParams::new();
    params.insert("host".into(), hostname.into());
    params.insert("advisory".into(), a.id.clone().into());
    params.insert("cves".into(), cves.clone().into());
    params.insert("package".into(), package.into());
    NewAlert {
        key: format!("vuln:{host}:{}:{package}", a.id),
        kind: "critical_vulnerability".into(),
        severity: vigil_proto::Severity::Critical,
        agent_id: host.into(),
        title: format!(
            "server {hostname} runs {package} affected by critical advisory {} {cves}",
            a.id
        ),
        params,
        other_agency: None,
    }
}

/// Ingest's hook: re-matches a host whose new inventory was just stored. Failures are logged and
/// never refuse the batch (the next inventory or import re-matches it).
pub fn on_inventory(store: &dyn Store, cache: &IndexCache, agent_id: &str, now: i64) {
    let started = std::time::Instant::now();
    match rematch_host(store, cache, agent_id, now) {
        Ok(n) => tracing::debug!(
            matches = n,
            ms = started.elapsed().as_millis() as u64,
            "Host re-matched against the advisories."
        ),
        Err(e) => warn!(error = %e, "Re-matching a host against the advisories failed."),
    }
}
