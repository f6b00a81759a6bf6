//! Storage of advisories and of the hosts they match (issue 23), behind [`VulnStore`], which is
//! written once for both backends over the dialect seam (`common/vuln.rs`).
//!
//! Advisories are versioned like IOC sets: each import is a row of `vuln_imports` (source, date,
//! count) and every advisory it brings is stored (replacing an older copy of the same id) with
//! that version. A match is one (host, advisory, installed package); its `since` is when it was
//! first seen and survives re-matching while the package stays affected.

use super::Result;

/// One import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VulnImport {
    /// Advisory-set version it created.
    pub version: i64,
    /// Where the advisories came from (file name or `--source`).
    pub source: String,
    /// Unix seconds.
    pub imported_at: i64,
    /// Advisories it held.
    pub advisories: i64,
}

/// An advisory to store.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryRow {
    /// OSV id.
    pub id: String,
    /// CVE ids it covers.
    pub cves: Vec<String>,
    /// Summary line.
    pub summary: String,
    /// `critical` … `low`.
    pub severity: Option<String>,
    /// CVSS v3 base score.
    pub cvss: Option<f64>,
    /// The advisory as Vigil reads it back (JSON).
    pub body: String,
}

/// A host's affected package, to store.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchRow {
    /// Advisory id.
    pub advisory: String,
    /// Installed package.
    pub package: String,
    /// Installed version.
    pub installed: String,
    /// First fixed version above it.
    pub fixed: Option<String>,
    /// Severity.
    pub severity: Option<String>,
    /// CVSS v3 base score.
    pub cvss: Option<f64>,
}

/// A stored match with its host.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredMatch {
    /// Agent id.
    pub host: String,
    /// Host name.
    pub hostname: String,
    /// Agency path.
    pub agency: String,
    /// Host role (`workstation`, `server`).
    pub role: String,
    /// Advisory id.
    pub advisory: String,
    /// CVE ids of the advisory.
    pub cves: Vec<String>,
    /// Advisory summary.
    pub summary: String,
    /// Installed package.
    pub package: String,
    /// Installed version.
    pub installed: String,
    /// First fixed version above it.
    pub fixed: Option<String>,
    /// Severity.
    pub severity: Option<String>,
    /// CVSS v3 base score.
    pub cvss: Option<f64>,
    /// Unix seconds: first seen affected.
    pub since: i64,
}

/// Which matches to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VulnFilter {
    /// Every match.
    All,
    /// One host's.
    Host(String),
    /// One advisory's, by its id or one of its CVE ids.
    Advisory(String),
}

/// Advisories and matches.
pub trait VulnStore: Send + Sync {
    /// Stores `advisories` as one new version from `source`; returns the version.
    fn vuln_import(&self, source: &str, advisories: &[AdvisoryRow], now: i64) -> Result<i64>;
    /// Every import, oldest first.
    fn vuln_imports(&self) -> Result<Vec<VulnImport>>;
    /// The bodies of every stored advisory.
    fn vuln_advisory_bodies(&self) -> Result<Vec<String>>;
    /// Replaces the matches of each listed host, keeping `since` of those that remain; returns
    /// the (host, advisory, package) keys that were not stored before.
    fn vuln_set_matches(
        &self,
        hosts: &[(String, Vec<MatchRow>)],
        now: i64,
    ) -> Result<Vec<MatchKey>>;
    /// Stored matches of live hosts, sorted by host then advisory then package.
    fn vuln_matches(&self, filter: &VulnFilter) -> Result<Vec<StoredMatch>>;
    /// Per host with one: since when (Unix seconds) its oldest match of a critical advisory
    /// with a known fixed version has been stored (the score's patching group).
    fn vuln_critical_fixable_since(&self) -> Result<Vec<(String, i64)>>;
}

/// Per host, the oldest `since` of its critical matches that have a fix.
pub(crate) const CRITICAL_FIXABLE_SINCE: &str = "SELECT agent_id, min(since) FROM vuln_matches \
     WHERE severity = 'critical' AND fixed IS NOT NULL GROUP BY agent_id ORDER BY agent_id";

/// (host, advisory, package).
pub type MatchKey = (String, String, String);

/// What changes for one host: the stored keys to delete (not in `new`) and the new rows that
/// were not stored (appended to `added`).
pub(crate) fn diff<'a>(
    host: &str,
    old: &'a [(String, String)],
    new: &[MatchRow],
    added: &mut Vec<MatchKey>,
) -> Vec<&'a (String, String)> {
    use std::collections::HashSet;
    let keep: HashSet<(&str, &str)> = new
        .iter()
        .map(|m| (m.advisory.as_str(), m.package.as_str()))
        .collect();
    let had: HashSet<(&str, &str)> = old.iter().map(|(a, p)| (a.as_str(), p.as_str())).collect();
    for m in new {
        if !had.contains(&(m.advisory.as_str(), m.package.as_str())) {
            added.push((host.to_owned(), m.advisory.clone(), m.package.clone()));
        }
    }
    old.iter()
        .filter(|(a, p)| !keep.contains(&(a.as_str(), p.as_str())))
        .collect()
}
