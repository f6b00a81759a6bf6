//! Backend-independent cases of the advisory store (issue 23), run on every backend through
//! `store_cases!`.

use super::suite::{agent, seed};
use super::vuln::{AdvisoryRow, MatchRow, VulnFilter, VulnImport};
use super::*;

fn advisory(id: &str, cves: &[&str], severity: &str) -> AdvisoryRow {
    AdvisoryRow {
        id: id.into(),
        cves: cves.iter().map(|c| (*c).to_owned()).collect(),
        summary: format!("summary of {id}"),
        severity: Some(severity.into()),
        cvss: Some(9.8),
        body: format!("{{\"id\":\"{id}\"}}"),
    }
}

fn hit(advisory: &str, package: &str, fixed: Option<&str>, severity: &str) -> MatchRow {
    MatchRow {
        advisory: advisory.into(),
        package: package.into(),
        installed: "1.0-1".into(),
        fixed: fixed.map(str::to_owned),
        severity: Some(severity.into()),
        cvss: None,
    }
}

/// Each import is a new version; a re-imported advisory replaces its copy and its aliases.
pub(crate) fn advisories_are_versioned_and_replaced_with_their_aliases(s: &dyn Store) {
    let v = s.vulns();
    assert!(v.vuln_imports().expect("none").is_empty());
    let first = v
        .vuln_import(
            "debian",
            &[
                advisory("DSA-1", &["CVE-1", "CVE-2"], "critical"),
                advisory("DSA-2", &[], "low"),
            ],
            10,
        )
        .expect("first");
    assert_eq!(first, 1);
    let second = v
        .vuln_import("osv", &[advisory("DSA-1", &["CVE-3"], "high")], 20)
        .expect("second");
    assert_eq!(second, 2);
    assert_eq!(
        v.vuln_imports().expect("imports"),
        vec![
            VulnImport {
                version: 1,
                source: "debian".into(),
                imported_at: 10,
                advisories: 2,
            },
            VulnImport {
                version: 2,
                source: "osv".into(),
                imported_at: 20,
                advisories: 1,
            },
        ]
    );
    assert_eq!(
        v.vuln_advisory_bodies().expect("bodies"),
        vec![
            "{\"id\":\"DSA-1\"}".to_owned(),
            "{\"id\":\"DSA-2\"}".to_owned()
        ]
    );
    // The replaced copy's aliases are gone: CVE-1 finds nothing, CVE-3 finds DSA-1.
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    v.vuln_set_matches(
        &[("a1".into(), vec![hit("DSA-1", "ssl", None, "high")])],
        30,
    )
    .expect("match");
    let by = |id: &str| {
        v.vuln_matches(&VulnFilter::Advisory(id.into()))
            .expect("by advisory")
            .into_iter()
            .map(|m| (m.host, m.advisory, m.cves, m.summary))
            .collect::<Vec<_>>()
    };
    assert!(by("CVE-1").is_empty());
    let found = vec![(
        "a1".to_owned(),
        "DSA-1".to_owned(),
        vec!["CVE-3".to_owned()],
        "summary of DSA-1".to_owned(),
    )];
    assert_eq!(by("CVE-3"), found);
    assert_eq!(by("DSA-1"), found);
}

/// Matches are replaced per host, keep `since` while they stay, report what is new, list only
/// live hosts in order, and give each host's oldest fixable critical match.
pub(crate) fn matches_keep_since_and_follow_live_hosts(s: &dyn Store) {
    seed(s);
    for (id, m) in [("a1", "m1"), ("a2", "m2")] {
        s.agent_enroll(&agent(id, m), 1).expect("enroll");
    }
    let v = s.vulns();
    v.vuln_import("t", &[advisory("DSA-1", &["CVE-1"], "critical")], 5)
        .expect("import");
    let added = v
        .vuln_set_matches(
            &[
                (
                    "a1".into(),
                    vec![
                        hit("DSA-1", "ssl", Some("1.1"), "critical"),
                        hit("DSA-9", "zlib", None, "critical"),
                    ],
                ),
                ("a2".into(), vec![hit("DSA-1", "ssl", None, "critical")]),
            ],
            10,
        )
        .expect("first");
    assert_eq!(
        added,
        vec![
            ("a1".into(), "DSA-1".into(), "ssl".into()),
            ("a1".into(), "DSA-9".into(), "zlib".into()),
            ("a2".into(), "DSA-1".into(), "ssl".into()),
        ]
    );
    // a1 loses zlib, keeps ssl (a new installed version) and gains curl; a2 is not listed.
    let mut ssl = hit("DSA-1", "ssl", Some("1.2"), "critical");
    ssl.installed = "1.1-1".into();
    ssl.cvss = Some(7.5);
    let added = v
        .vuln_set_matches(
            &[(
                "a1".into(),
                vec![ssl, hit("DSA-2", "curl", Some("8"), "high")],
            )],
            20,
        )
        .expect("second");
    assert_eq!(added, vec![("a1".into(), "DSA-2".into(), "curl".into())]);
    let all = v.vuln_matches(&VulnFilter::All).expect("all");
    let keys: Vec<_> = all
        .iter()
        .map(|m| {
            (
                m.host.as_str(),
                m.advisory.as_str(),
                m.package.as_str(),
                m.since,
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("a1", "DSA-1", "ssl", 10),
            ("a1", "DSA-2", "curl", 20),
            ("a2", "DSA-1", "ssl", 10),
        ]
    );
    let first = &all[0];
    assert_eq!(
        (
            first.hostname.as_str(),
            first.agency.as_str(),
            first.installed.as_str(),
            first.fixed.as_deref(),
            first.cvss,
            first.cves.clone(),
        ),
        (
            "host-a1",
            "p/a",
            "1.1-1",
            Some("1.2"),
            Some(7.5),
            vec!["CVE-1".to_owned()]
        )
    );
    // An advisory that was never imported reads with no CVEs and an empty summary.
    assert_eq!((all[1].cves.len(), all[1].summary.as_str()), (0, ""));
    assert_eq!(
        v.vuln_matches(&VulnFilter::Host("a2".into()))
            .expect("host")
            .len(),
        1
    );
    assert_eq!(
        v.vuln_critical_fixable_since().expect("fixable"),
        vec![("a1".to_owned(), 10)]
    );
    assert!(s.agent_revoke("a2", "cli", 30).expect("revoke"));
    assert!(
        v.vuln_matches(&VulnFilter::Host("a2".into()))
            .expect("revoked")
            .is_empty()
    );
    assert_eq!(v.vuln_matches(&VulnFilter::All).expect("live").len(), 2);
    // An empty list clears the host.
    assert!(
        v.vuln_set_matches(&[("a1".into(), Vec::new())], 40)
            .expect("clear")
            .is_empty()
    );
    assert!(v.vuln_critical_fixable_since().expect("none").is_empty());
}
