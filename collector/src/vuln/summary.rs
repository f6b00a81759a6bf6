//! What agencies and the province ask of the matches: how many hosts each CVE affects, and the
//! oldest unpatched critical. Pure, over stored matches already filtered to a scope.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::osv::rank;
use crate::store::vuln::StoredMatch;

/// Hosts affected by one CVE (or by an advisory without CVE id).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CveCount {
    /// CVE id, or the advisory id when it names none.
    pub cve: String,
    /// Advisories naming it.
    pub advisories: Vec<String>,
    /// The worst severity among them.
    pub severity: Option<String>,
    /// The highest CVSS v3 score among them.
    pub cvss: Option<f64>,
    /// Distinct hosts affected.
    pub hosts: usize,
    /// Unix seconds: the oldest `since` among its matches.
    pub since: i64,
}

/// Counts of a scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Distinct hosts with at least one vulnerable package.
    pub hosts_affected: usize,
    /// Per CVE, worst first (severity, then hosts, then id).
    pub cves: Vec<CveCount>,
    /// The critical match with a known fix that has waited longest.
    pub oldest_critical: Option<StoredMatch>,
}

/// Summarises `rows`, keeping the first `limit` CVEs.
pub fn summarize(rows: &[StoredMatch], limit: usize) -> Summary {
    struct Acc<'a> {
        advisories: BTreeSet<&'a str>,
        severity: Option<&'a str>,
        cvss: Option<f64>,
        hosts: BTreeSet<&'a str>,
        since: i64,
    }
    let mut by: BTreeMap<&str, Acc<'_>> = BTreeMap::new();
    for m in rows {
        let keys: Vec<&str> = if m.cves.is_empty() {
            vec![m.advisory.as_str()]
        } else {
            m.cves.iter().map(String::as_str).collect()
        };
        for k in keys {
            let acc = by.entry(k).or_insert_with(|| Acc {
                advisories: BTreeSet::new(),
                severity: None,
                cvss: None,
                hosts: BTreeSet::new(),
                since: m.since,
            });
            acc.advisories.insert(&m.advisory);
            acc.hosts.insert(&m.host);
            acc.since = acc.since.min(m.since);
            if let Some(s) = m.severity.as_deref()
                && acc.severity.is_none_or(|old| rank(s) > rank(old))
            {
                acc.severity = Some(s);
            }
            acc.cvss = match (acc.cvss, m.cvss) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let mut cves: Vec<CveCount> = by
        .into_iter()
        .map(|(cve, a)| CveCount {
            cve: cve.to_owned(),
            advisories: a.advisories.into_iter().map(str::to_owned).collect(),
            severity: a.severity.map(str::to_owned),
            cvss: a.cvss,
            hosts: a.hosts.len(),
            since: a.since,
        })
        .collect();
    cves.sort_by(|a, b| {
        let sev = |c: &CveCount| rank(c.severity.as_deref().unwrap_or_default());
        sev(b)
            .cmp(&sev(a))
            .then(b.hosts.cmp(&a.hosts))
            .then_with(|| a.cve.cmp(&b.cve))
    });
    cves.truncate(limit);
    let hosts: BTreeSet<&str> = rows.iter().map(|m| m.host.as_str()).collect();
    let oldest_critical = rows
        .iter()
        .filter(|m| m.severity.as_deref() == Some("critical") && m.fixed.is_some())
        .min_by(|a, b| (a.since, &a.host, &a.advisory).cmp(&(b.since, &b.host, &b.advisory)))
        .cloned();
    Summary {
        hosts_affected: hosts.len(),
        cves,
        oldest_critical,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        host: &str,
        adv: &str,
        cves: &[&str],
        sev: &str,
        since: i64,
        fixed: bool,
    ) -> StoredMatch {
        StoredMatch {
            host: host.into(),
            hostname: host.into(),
            agency: "p".into(),
            role: "workstation".into(),
            advisory: adv.into(),
            cves: cves.iter().map(|c| c.to_string()).collect(),
            summary: String::new(),
            package: "pkg".into(),
            installed: "1".into(),
            fixed: fixed.then(|| "2".into()),
            severity: Some(sev.into()),
            cvss: None,
            since,
        }
    }

    #[test]
    fn hosts_are_counted_once_per_cve_and_the_oldest_fixable_critical_found() {
        let rows = [
            row("h1", "DSA-1", &["CVE-1", "CVE-2"], "high", 50, true),
            row("h1", "DLA-9", &["CVE-1"], "critical", 40, false),
            row("h2", "DSA-1", &["CVE-1", "CVE-2"], "high", 30, true),
            row("h2", "DSA-3", &["CVE-3"], "critical", 35, true),
            row("h3", "USN-4", &[], "low", 10, true),
        ];
        let s = summarize(&rows, 10);
        assert_eq!(s.hosts_affected, 3);
        let got: Vec<(&str, usize, Option<&str>)> = s
            .cves
            .iter()
            .map(|c| (c.cve.as_str(), c.hosts, c.severity.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("CVE-1", 2, Some("critical")),
                ("CVE-3", 1, Some("critical")),
                ("CVE-2", 2, Some("high")),
                ("USN-4", 1, Some("low")),
            ]
        );
        assert_eq!(s.cves[0].advisories, ["DLA-9", "DSA-1"]);
        assert_eq!(s.cves[0].since, 30);
        let old = s.oldest_critical.expect("critical");
        assert_eq!(
            (old.host.as_str(), old.advisory.as_str()),
            ("h2", "DSA-3"),
            "no fix: not counted"
        );
        assert_eq!(summarize(&rows, 1).cves.len(), 1);
        assert_eq!(summarize(&[], 5).oldest_critical, None);
    }
}
