//! Scoring from store-shaped inputs: asset matching, subtrees, views, alerts and history.

use vigil_proto::{Severity, Status};
use vigil_rules::score::{Role, Scoring, Verdict};

use super::*;
use crate::store::{AlertState, CheckState};

const HOUR: i64 = 3_600_000;
const NOW: i64 = 1_800_000_000_000;

fn agency(id: &str, level: u8) -> Agency {
    Agency {
        id: id.into(),
        name: id.into(),
        level,
    }
}

fn agent(id: &str, agency: &str, host: &str, last_seen_ms: i64) -> AgentRecord {
    AgentRecord {
        id: id.into(),
        agency: agency.into(),
        machine_id: format!("m-{id}"),
        hostname: host.into(),
        os: "Debian 12".into(),
        role: "workstation".into(),
        level: None,
        enrolled_at: 0,
        last_seen: last_seen_ms / 1000,
        agent_version: "0.1.0".into(),
        cert_serial: "s".into(),
        cert_not_after: 0,
        revoked: false,
        max_seq: 0,
        spool_depth: 0,
        clock_skew_ms: 0,
        inventory: None,
        simulated: false,
    }
}

fn state(rule: &str, group: &str, sev: Severity, status: Status) -> CheckState {
    CheckState(
        "linux-baseline@1.0.0".into(),
        rule.into(),
        group.into(),
        sev,
        status,
        0,
    )
}

/// One passing rule in each always-counted group, so a healthy host scores 100.
fn healthy() -> Vec<CheckState> {
    ["malware", "patching", "accounts", "logging"]
        .iter()
        .map(|g| state(&format!("{g}-1"), g, Severity::High, Status::Pass))
        .collect()
}

fn catalog() -> RuleCatalog {
    RuleCatalog::from_levels(
        ["malware-1", "patching-1", "accounts-1", "logging-1"]
            .iter()
            .map(|r| ((*r).to_owned(), 1))
            .chain([("hist-3".to_owned(), 3), ("lvl5".to_owned(), 5)]),
    )
    .with_packs(["linux-baseline@1.0.0", "linux-baseline@1.1.0"])
}

fn province() -> Inputs {
    let mut i = Inputs {
        agencies: vec![agency("p", 2), agency("p/x1", 2), agency("p/x2", 3)],
        ..Inputs::default()
    };
    for (id, ag, host) in [
        ("a1", "p/x1", "pc-01.x1.gov.vn"),
        ("a2", "p/x1", "pc-02"),
        ("a3", "p/x2", "srv"),
    ] {
        i.agents.push(agent(id, ag, host, NOW - HOUR));
        i.checks.insert(id.into(), healthy());
    }
    i
}

fn find<'a>(s: &'a Scores, id: &str) -> &'a AgencyScores {
    s.agencies.iter().find(|a| a.id == id).expect("agency")
}

#[test]
fn healthy_fresh_hosts_score_100_and_parents_cover_their_subtree() {
    let s = compute(&province(), &Scoring::default(), &catalog(), NOW);
    assert_eq!(s.hosts.len(), 3);
    for h in &s.hosts {
        assert!(
            (h.full.score - 100.0).abs() < 1e-9,
            "{}: {}",
            h.id,
            h.full.score
        );
    }
    let p = find(&s, "p");
    assert_eq!((p.full.hosts, p.full.hosts_fresh), (3, 3));
    assert!((p.full.score - 100.0).abs() < 1e-9);
    assert_eq!(find(&s, "p/x1").full.hosts, 2);
    assert_eq!(find(&s, "p/x2").full.hosts, 1);
    assert_eq!(s.rule_pack_version, "linux-baseline@1.0.0");
}

#[test]
fn registered_assets_without_agents_count_as_zero_and_agents_match_by_host_name() {
    let mut i = province();
    i.assets = vec![
        // Matches a1 (short name, case-insensitive) and makes it a server.
        Asset {
            agency: "p/x1".into(),
            hostname: "PC-01".into(),
            role: "server".into(),
            level: 3,
        },
        // No agent yet.
        Asset {
            agency: "p/x1".into(),
            hostname: "pc-99".into(),
            role: "workstation".into(),
            level: 2,
        },
    ];
    let s = compute(&i, &Scoring::default(), &catalog(), NOW);
    let x1 = find(&s, "p/x1");
    assert_eq!((x1.full.hosts, x1.full.hosts_with_agent), (3, 2));
    // ω: server at level 3 = 5, workstations 1 + 1 (missing): A = 100·6/7, κ = 6/7.
    assert!(
        (x1.full.score - 600.0 / 7.0).abs() < 1e-9,
        "{}",
        x1.full.score
    );
    assert!((x1.full.coverage - 6.0 / 7.0).abs() < 1e-12);
    let missing = &x1.full.breakdown[0];
    assert_eq!(missing.kind.as_str(), "missing_agent");
    assert_eq!(missing.key, "p/x1/pc-99");
    assert!((missing.points - 100.0 / 7.0).abs() < 1e-9);
    let a1 = s.hosts.iter().find(|h| h.id == "a1").expect("a1");
    assert_eq!((a1.role, a1.level), (Role::Server, 3));
}

#[test]
fn views_follow_the_catalogue_and_the_required_level() {
    let mut i = province();
    // a3 sits in a level-3 agency but is configured as level 2: the level-3 rule was skipped.
    i.agents[2].level = Some(2);
    let mut st = healthy();
    st.push(state(
        "hist-3",
        "accounts",
        Severity::Medium,
        Status::NotApplicable,
    ));
    st.push(state(
        "lvl5",
        "hardening",
        Severity::High,
        Status::NotApplicable,
    ));
    st.push(state("custom", "hardening", Severity::High, Status::Fail));
    i.checks.insert("a3".into(), st);
    let s = compute(&i, &Scoring::default(), &catalog(), NOW);
    let a3 = s.hosts.iter().find(|h| h.id == "a3").expect("a3");
    // Full view: the custom failure counts; not-applicable rules do not.
    assert!(a3.full.score < 100.0);
    // Common view: only catalogue rules at level 1, so the custom failure is left out.
    assert!(
        (a3.common.score - 100.0).abs() < 1e-9,
        "{}",
        a3.common.score
    );
    // Level view at 3: hist-3 is unverified, lvl5 stays out.
    assert_eq!(a3.level_view.unverified, vec!["hist-3".to_string()]);
    assert!(a3.level_view.score < a3.full.score);
    // Agencies aggregate each view from the same hosts.
    let p = find(&s, "p");
    assert!(p.level_view.score < p.full.score && p.full.score < p.common.score + 1e-9);
}

#[test]
fn open_alerts_lower_the_score_and_are_counted_per_agency() {
    let mut i = province();
    i.alerts.push(Alert {
        id: 7,
        key: "ioc:a1".into(),
        kind: "ioc_hit".into(),
        severity: Severity::Critical,
        agent_id: "a1".into(),
        title: "t".into(),
        params: Default::default(),
        state: AlertState::Open,
        count: 1,
        opened_at: (NOW - HOUR) / 1000,
        last_seen: 0,
        reason: None,
        assignee: None,
        other_agency: None,
    });
    let s = compute(&i, &Scoring::default(), &catalog(), NOW);
    let a1 = s.hosts.iter().find(|h| h.id == "a1").expect("a1");
    // Critical within SLA: m = 1 − 0.25.
    assert!((a1.full.alert_factor - 0.75).abs() < 1e-12);
    assert!((a1.full.score - 75.0).abs() < 1e-9);
    assert_eq!(find(&s, "p").open_alerts.get("critical"), Some(&1));
    assert_eq!(find(&s, "p/x2").open_alerts.get("critical"), None);
}

#[test]
fn switching_off_half_the_agents_lowers_score_and_coverage_over_time() {
    let mut i = province();
    for n in 0..7 {
        let id = format!("w{n}");
        i.agents
            .push(agent(&id, "p/x1", &format!("w{n}"), NOW - HOUR));
        i.checks.insert(id, healthy());
    }
    let before = compute(&i, &Scoring::default(), &catalog(), NOW);
    // Half of them stop reporting; time moves on by a day, then by a week.
    let mut prev = (
        find(&before, "p").full.score,
        find(&before, "p").full.coverage,
    );
    for a in i.agents.iter_mut().step_by(2) {
        a.last_seen = (NOW - HOUR) / 1000;
    }
    for later in [NOW + 47 * HOUR, NOW + 3 * 24 * HOUR, NOW + 8 * 24 * HOUR] {
        // The other half keeps reporting.
        for a in i.agents.iter_mut().skip(1).step_by(2) {
            a.last_seen = (later - HOUR) / 1000;
        }
        let s = compute(&i, &Scoring::default(), &catalog(), later);
        let p = find(&s, "p");
        assert!(
            p.full.score <= prev.0 + 1e-9,
            "{} → {}",
            prev.0,
            p.full.score
        );
        assert!(p.full.coverage <= prev.1 + 1e-12);
        prev = (p.full.score, p.full.coverage);
    }
    assert!((prev.1 - 0.5).abs() < 1e-12, "κ = {}", prev.1);
    assert!(prev.0 < 51.0, "A = {}", prev.0);
}

#[test]
fn failing_critical_rule_makes_a_failing_host() {
    let mut i = province();
    i.checks.get_mut("a2").expect("a2").push(state(
        "crit",
        "hardening",
        Severity::Critical,
        Status::Fail,
    ));
    let s = compute(&i, &Scoring::default(), &catalog(), NOW);
    assert_eq!(find(&s, "p").hosts_failing, 1);
    assert_eq!(
        s.hosts
            .iter()
            .find(|h| h.id == "a2")
            .expect("a2")
            .full
            .verdict,
        Verdict::Fail
    );
}

#[test]
fn rule_pack_versions_are_per_agency_and_name_only_known_packs() {
    // One agent of p/x2 reports a 4 KiB pack name of its own making.
    let mut i = province();
    for c in i.checks.get_mut("a3").expect("a3") {
        c.0 = "x".repeat(4096);
    }
    let s = compute(&i, &Scoring::default(), &catalog(), NOW);
    assert_eq!(
        find(&s, "p/x1").full.rule_pack_version,
        "linux-baseline@1.0.0",
        "another agency's agent does not reach this agency"
    );
    assert_eq!(find(&s, "p/x2").full.rule_pack_version, "+1 other pack");
    assert_eq!(
        find(&s, "p").full.rule_pack_version,
        "linux-baseline@1.0.0 +1 other pack"
    );
    let points = history_points(&s, &[]);
    assert!(points.iter().all(|p| p.rule_pack_version.len() < 64));
}

#[test]
fn history_is_written_on_change_on_version_change_and_daily() {
    let i = province();
    let sc = Scoring::default();
    let first = compute(&i, &sc, &catalog(), NOW);
    let points = history_points(&first, &[]);
    // 3 hosts and 3 agencies, 3 views each.
    assert_eq!(points.len(), 18);
    assert_eq!(
        history_points(&compute(&i, &sc, &catalog(), NOW + HOUR), &points).len(),
        0
    );
    // One host gets worse: its three views and its ancestors' change.
    let mut worse = i.clone();
    worse.checks.get_mut("a3").expect("a3")[0].4 = Status::Fail;
    let changed = history_points(&compute(&worse, &sc, &catalog(), NOW + HOUR), &points);
    let ids: BTreeSet<&str> = changed.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["a3", "p", "p/x2"]));
    // A new rule-pack version is a new point everywhere.
    let mut upgraded = i.clone();
    for st in upgraded.checks.values_mut() {
        for c in st {
            c.0 = "linux-baseline@1.1.0".into();
        }
    }
    assert_eq!(
        history_points(&compute(&upgraded, &sc, &catalog(), NOW + HOUR), &points).len(),
        18
    );
    // A day later, every series gets its daily point.
    let mut next_day = i;
    for a in &mut next_day.agents {
        a.last_seen = (NOW + 24 * HOUR) / 1000;
    }
    assert_eq!(
        history_points(
            &compute(&next_day, &sc, &catalog(), NOW + 25 * HOUR),
            &points
        )
        .len(),
        18
    );
}

#[test]
fn recompute_reads_the_store_and_records_history() {
    use crate::store::{NewAgent, SqliteStore, Store};
    let s = SqliteStore::open_in_memory().expect("store");
    s.agency_add(&agency("p", 2)).expect("p");
    s.agency_add(&agency("p/x1", 2)).expect("x1");
    s.agent_enroll(
        &NewAgent {
            id: "a1".into(),
            agency: "p/x1".into(),
            machine_id: "m1".into(),
            hostname: "pc-01".into(),
            os: "Debian 12".into(),
            cert_serial: "s1".into(),
            cert_not_after: 0,
            agent_version: "0.1.0".into(),
            token_id: "t".into(),
            simulated: false,
        },
        1,
    )
    .expect("enroll");
    let batch: Vec<vigil_proto::Envelope> = healthy()
        .into_iter()
        .enumerate()
        .map(|(n, c)| vigil_proto::Envelope {
            seq: n as u64 + 1,
            observed_at: NOW,
            finding: vigil_proto::Finding::CheckResult(vigil_proto::CheckResult {
                rule_id: c.1,
                pack: c.0,
                status: c.4,
                severity: c.3,
                group: c.2,
                controls: vec![],
                evidence: String::new(),
            }),
        })
        .collect();
    s.ingest("a1", &batch, NOW).expect("ingest");
    let (scores, written) = recompute(&s, &Scoring::default(), &catalog(), NOW).expect("recompute");
    assert_eq!(written, 9);
    assert!((find(&scores, "p").full.score - 100.0).abs() < 1e-9);
    let (_, again) = recompute(&s, &Scoring::default(), &catalog(), NOW + 1000).expect("again");
    assert_eq!(again, 0, "nothing changed");
    assert_eq!(s.score_history("agency", "p", 0).expect("history").len(), 3);
}

#[test]
fn as_of_leaves_out_what_was_observed_or_opened_later() {
    let mut i = province();
    // a1 fixed a rule at NOW − 1 h (its older failure is gone from the store); a3 only reported
    // at NOW − 1 h; an alert was opened at NOW.
    let states = i.checks.get_mut("a1").expect("a1");
    states[0].5 = NOW - HOUR;
    for c in i.checks.get_mut("a3").expect("a3") {
        c.5 = NOW - HOUR;
    }
    i.alerts.push(Alert {
        id: 1,
        key: "k".into(),
        kind: "ioc_hit".into(),
        severity: Severity::Critical,
        agent_id: "a2".into(),
        title: "t".into(),
        params: Default::default(),
        state: AlertState::Open,
        count: 1,
        opened_at: NOW / 1000,
        last_seen: 0,
        reason: None,
        assignee: None,
        other_agency: None,
    });
    let past = i.clone().as_of(NOW - 2 * HOUR);
    assert_eq!(past.checks["a1"].len(), 3, "the later result is left out");
    assert!(!past.checks.contains_key("a3"));
    let agents: Vec<&str> = past.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(agents, ["a1", "a2"], "a3 had not reported yet");
    assert!(past.alerts.is_empty());
    let s = compute(&past, &Scoring::default(), &catalog(), NOW - 2 * HOUR);
    assert_eq!(find(&s, "p/x2").full.hosts, 0);
    // At NOW everything counts again.
    let now = i.as_of(NOW);
    assert_eq!((now.agents.len(), now.alerts.len()), (3, 1));
}

/// A downstream's summary as the store returns it: `agencies` as (path, A, Σω, κ, hosts).
fn downstream_summary(
    enrolled_at: &str,
    agencies: &[(&str, f64, f64, f64, usize)],
) -> crate::store::fed::LatestSummary {
    use crate::federation::summary::{
        AgencySummary, AlertStat, PostureSummary, RuleCount, SUMMARY_VERSION,
    };
    let score = |path: &str, view: View, (a, w, k, n): (f64, f64, f64, usize)| AgencyScore {
        agency_id: path.into(),
        view,
        score: a,
        coverage: k,
        hosts: n,
        hosts_with_agent: n,
        hosts_fresh: n,
        total_weight: w,
        ranking: vigil_rules::score::Ranking {
            eligible: false,
            reasons: Vec::new(),
        },
        assets: Vec::new(),
        breakdown: Vec::new(),
        rule_pack_version: "p@1".into(),
        scoring_version: "1".into(),
        computed_at: NOW,
    };
    let s = PostureSummary {
        v: SUMMARY_VERSION,
        downstream_id: "d1".into(),
        computed_at: NOW,
        rule_pack_version: "p@1".into(),
        scoring_version: "1".into(),
        agencies: agencies
            .iter()
            .map(|&(path, a, w, k, n)| AgencySummary {
                path: path.into(),
                name: path.into(),
                level: 2,
                a: score(path, View::Full, (a, w, k, n)),
                a_common: score(path, View::Common, (a, w, k, n)),
                a_level: score(path, View::Level, (a, w, k, n)),
                hosts_failing: 1,
                open_alerts: [(
                    "high".to_owned(),
                    AlertStat {
                        count: 2,
                        oldest_opened_at: 5,
                    },
                )]
                .into(),
                top_failing: vec![RuleCount {
                    rule_id: "r1".into(),
                    hosts: 1,
                }],
                origin_computed_at: None,
            })
            .collect(),
    };
    crate::store::fed::LatestSummary {
        downstream: crate::store::fed::Downstream {
            id: "d1".into(),
            agency: enrolled_at.into(),
            name: "xa collector".into(),
            cert_serial: "s".into(),
            enrolled_at: 0,
            revoked_at: 0,
            acked_seq: 1,
            last_received: NOW / 1000,
        },
        seq: 1,
        received_at: NOW / 1000,
        body: serde_json::to_string(&s).expect("json"),
    }
}

#[test]
fn parents_fold_federated_subtrees_by_their_weight() {
    let mut i = province();
    // `p/x1` has two fresh healthy hosts, `p/x2` one (workstations: ω 1, H 100).
    // A downstream enrolled under `p/x2` sends `xa` (A 40 over Σω 4, κ 0.5, 4 assets) and its
    // child `xa/thon` (already inside `xa`'s figures).
    i.federated = vec![downstream_summary(
        "p/x2",
        &[("xa", 40.0, 4.0, 0.5, 4), ("xa/thon", 20.0, 2.0, 0.5, 2)],
    )];
    let s = compute(&i, &Scoring::default(), &catalog(), NOW);
    // Shown with the downstream's own figures, marked federated.
    let xa = find(&s, "p/x2/xa");
    assert_eq!(xa.full.score, 40.0);
    assert!(xa.federated.is_some());
    assert_eq!(find(&s, "p/x2/xa/thon").full.score, 20.0);
    // `p/x2`: (1·100 + 4·40) / 5, κ (1 + 2) / 5; the child `thon` is not counted twice.
    let x2 = find(&s, "p/x2");
    for v in [&x2.full, &x2.common, &x2.level_view] {
        assert!((v.score - 52.0).abs() < 1e-9, "{}", v.score);
        assert!((v.coverage - 0.6).abs() < 1e-9, "{}", v.coverage);
        assert_eq!(v.hosts, 5);
        let lost: f64 = v.breakdown.iter().map(|b| b.points).sum();
        assert!((lost - (100.0 - v.score)).abs() < 1e-9);
    }
    assert_eq!(x2.hosts_failing, 1);
    assert_eq!(x2.open_alerts.get("high"), Some(&2));
    // `p`: (3·100 + 4·40) / 7, and the ranking sees its 7 assets.
    let p = find(&s, "p");
    assert!(
        (p.full.score - 460.0 / 7.0).abs() < 1e-9,
        "{}",
        p.full.score
    );
    assert_eq!(p.full.hosts, 7);
    assert!((p.full.coverage - 5.0 / 7.0).abs() < 1e-9);
    assert!(
        p.full
            .ranking
            .reasons
            .iter()
            .all(|r| !matches!(r, vigil_rules::score::Ineligible::TooFewHosts { .. })),
        "{:?}",
        p.full.ranking
    );
    // A sibling without federated subtrees is untouched.
    assert_eq!(find(&s, "p/x1").full.hosts, 2);
    assert!((find(&s, "p/x1").full.score - 100.0).abs() < 1e-9);
    // What `p/x2` sends further up carries the folded figures and the subtree's alerts.
    let up = crate::federation::publish::build("me", &i, &s);
    let x2_up = up
        .agencies
        .iter()
        .find(|a| a.path == "p/x2")
        .expect("p/x2 in the summary");
    assert!((x2_up.a.score - 52.0).abs() < 1e-9);
    assert_eq!(x2_up.open_alerts["high"].count, 2);
    assert_eq!(x2_up.top_failing[0].rule_id, "r1");
    assert!(x2_up.a.breakdown.is_empty());
}
