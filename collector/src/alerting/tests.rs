use super::*;
use vigil_proto::{CheckResult, NetEvent};

fn env(seq: u64, finding: Finding) -> Envelope {
    Envelope {
        seq,
        observed_at: 0,
        finding,
    }
}

#[test]
fn gaps_ioc_hits_and_critical_failures_raise_alerts_and_nothing_else_does() {
    let check = |status, severity| {
        Finding::CheckResult(CheckResult {
            rule_id: "r1".into(),
            pack: "p@1".into(),
            status,
            severity,
            group: "hardening".into(),
            controls: vec![],
            evidence: "PermitRootLogin yes".into(),
        })
    };
    let hit = Finding::NetEvent(NetEvent {
        kind: NetEventKind::IocHit,
        proto: "tcp".into(),
        local: "10.0.0.2:5000".into(),
        remote: Some("203.0.113.7:443".into()),
        pid: Some(1),
        exe: Some("/tmp/x".into()),
        user: None,
        cmdline: None,
        indicator: Some("ip:203.0.113.7".into()),
        note: None,
        severity: Severity::Critical,
    });
    let batch = vec![
        env(1, check(Status::Fail, Severity::Critical)),
        env(2, check(Status::Fail, Severity::High)),
        env(3, check(Status::Pass, Severity::Critical)),
        env(4, hit),
    ];
    let a = alerts_for("a1", &batch, &[(7, 9)]);
    let kinds: Vec<&str> = a.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(kinds, vec!["seq_gap", "critical_rule_failed", "ioc_hit"]);
    assert!(a[0].title.contains("#7..=#9") && a[0].title.contains("3 missing"));
    assert_eq!(a[1].key, "rule:a1:p@1:r1");
    assert_eq!(a[2].severity, Severity::Critical);
    // The same condition twice gives the same key (deduplicated by the store).
    assert_eq!(alerts_for("a1", &batch[..1], &[])[0].key, a[1].key);
}

#[test]
fn a_new_autostart_value_raises_an_alert_and_baselines_do_not() {
    let reg = |kind, severity| {
        Finding::Registry(vigil_proto::RegistryEvent {
            key: r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run".into(),
            value: Some("Updater".into()),
            kind,
            old: None,
            new: None,
            group: "autostart".into(),
            summary: None,
            severity,
        })
    };
    let batch = vec![
        env(1, reg(FileEventKind::Rescan, Severity::High)),
        env(2, reg(FileEventKind::Modified, Severity::Medium)),
        env(3, reg(FileEventKind::Created, Severity::High)),
    ];
    let a = alerts_for("a1", &batch, &[]);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, "registry_autostart");
    assert_eq!(
        a[0].key,
        r"registry:a1:HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\Updater"
    );
    assert!(a[0].title.contains("created"), "{}", a[0].title);
}

fn settings(toml_text: &str) -> AlertSettings {
    let raw: RawAlerts = toml::from_str(toml_text).expect("toml");
    AlertSettings::from_raw(&raw).expect("valid")
}

#[test]
fn subtree_settings_override_key_by_key_deepest_last() {
    let s = settings(
        r#"
silent_after = "12h"
disabled = ["spool_dropped"]
[[subtree]]
agency = "p/so-yte/benh-vien"
silent_after = "2h"
[[subtree]]
agency = "p/so-yte"
silent_after = "72h"
cert_expiry_warning = "10d"
disabled = ["new_listener_on_server"]
"#,
    );
    let h = Duration::from_secs(3600);
    let root = s.for_agency("p/xa-a");
    assert_eq!(root.silent_after, 12 * h);
    assert_eq!(root.cert_expiry_warning, 30 * 24 * h);
    assert!(!root.enabled("spool_dropped") && root.enabled("new_listener_on_server"));
    let so = s.for_agency("p/so-yte/phong-1");
    assert_eq!(
        (so.silent_after, so.cert_expiry_warning),
        (72 * h, 10 * 24 * h)
    );
    assert!(so.enabled("spool_dropped") && !so.enabled("new_listener_on_server"));
    let bv = s.for_agency("p/so-yte/benh-vien");
    assert_eq!(
        (bv.silent_after, bv.cert_expiry_warning),
        (2 * h, 10 * 24 * h)
    );
    // A sibling whose name only starts the same is not in the subtree.
    assert_eq!(s.for_agency("p/so-yte-2").silent_after, 12 * h);
}

#[test]
fn bad_alert_settings_name_every_field() {
    let raw: RawAlerts = toml::from_str(
        r#"
silent_after = "soon"
disabled = ["no_such_kind"]
[[subtree]]
agency = ""
cert_expiry_warning = "0s"
"#,
    )
    .expect("toml");
    let e = AlertSettings::from_raw(&raw).expect_err("invalid");
    let all = e.join("\n");
    for needle in [
        "alerts.silent_after",
        "\"no_such_kind\" is not an alert kind",
        "alerts.subtree[0].agency",
        "alerts.subtree[0].cert_expiry_warning",
    ] {
        assert!(all.contains(needle), "{needle} in {all}");
    }
}

fn agent(id: &str, machine: &str, last_seen: i64, cert_not_after: i64) -> AgentRecord {
    AgentRecord {
        id: id.into(),
        agency: "p/a".into(),
        machine_id: machine.into(),
        hostname: format!("pc-{id}"),
        os: String::new(),
        role: "workstation".into(),
        level: None,
        enrolled_at: 0,
        last_seen,
        agent_version: String::new(),
        cert_serial: format!("s-{id}"),
        cert_not_after,
        revoked: false,
        max_seq: 0,
        spool_depth: 0,
        clock_skew_ms: 0,
        inventory: None,
        simulated: false,
    }
}

const DAY: i64 = 86_400;
const NOW: i64 = 1_800_000_000;

#[test]
fn periodic_rules_raise_once_and_resolve_when_the_condition_is_gone() {
    let s = AlertSettings::default();
    let far = NOW + 365 * DAY;
    let mut agents = vec![
        agent("fresh", "m1", NOW - 60, far),
        agent("silent", "m2", NOW - 2 * DAY, far),
        agent("expiring", "m3", NOW - 60, NOW + 5 * DAY),
        agent("clone-a", "m4", NOW - 60, far),
        agent("clone-b", "m4", NOW - 60, far),
    ];
    agents.push(AgentRecord {
        revoked: true,
        ..agent("old", "m1", 0, 0)
    });
    let p = periodic(&agents, &[], &s, NOW);
    let mut kinds: Vec<(&str, &str)> = p
        .raise
        .iter()
        .map(|a| (a.kind.as_str(), a.agent_id.as_str()))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        vec![
            ("agent_silent", "silent"),
            ("cert_expiring", "expiring"),
            ("duplicate_machine_id", "clone-a"),
        ],
        "the revoked agent neither counts as silent nor as a duplicate"
    );
    assert!(
        p.raise.iter().any(|a| a.title.contains("2d0h")),
        "{:?}",
        p.raise
    );
    assert!(p.resolve.is_empty());

    // Stored as alerts; the next run raises nothing new.
    let stored: Vec<Alert> = p
        .raise
        .iter()
        .enumerate()
        .map(|(i, a)| Alert {
            id: i as i64 + 1,
            key: a.key.clone(),
            kind: a.kind.clone(),
            severity: a.severity,
            agent_id: a.agent_id.clone(),
            title: a.title.clone(),
            params: Default::default(),
            state: AlertState::Open,
            count: 1,
            opened_at: NOW,
            last_seen: NOW,
            reason: None,
            assignee: None,
            other_agency: None,
        })
        .collect();
    assert_eq!(periodic(&agents, &stored, &s, NOW + 60).raise, vec![]);

    // The silent agent reports, the certificate is renewed, a clone is revoked.
    agents[1].last_seen = NOW + 100;
    agents[2].cert_serial = "renewed".into();
    agents[2].cert_not_after = far;
    agents[4].revoked = true;
    let p = periodic(&agents, &stored, &s, NOW + 120);
    assert_eq!(p.raise, vec![]);
    let mut resolved: Vec<i64> = p.resolve.iter().map(|r| r.0).collect();
    resolved.sort_unstable();
    assert_eq!(resolved, vec![1, 2, 3]);
    assert!(p.resolve.iter().all(|(_, why)| !why.is_empty()));

    // Disabled per subtree: nothing raised there.
    let off =
        settings("disabled = [\"agent_silent\", \"cert_expiring\", \"duplicate_machine_id\"]");
    assert_eq!(
        periodic(&agents[..2], &[], &off, NOW + 10 * DAY).raise,
        vec![]
    );
}

#[test]
fn new_listeners_alert_only_on_servers_and_only_after_the_first_report() {
    use crate::store::{Agency, NewAgent, SqliteStore, Store};
    let store = SqliteStore::open_in_memory().expect("store");
    for (id, level) in [("p", 2), ("p/a", 2)] {
        store
            .agency_add(&Agency {
                id: id.into(),
                name: id.into(),
                level,
            })
            .expect("agency");
    }
    for id in ["srv", "pc"] {
        store
            .agent_enroll(
                &NewAgent {
                    id: id.into(),
                    agency: "p/a".into(),
                    machine_id: format!("m-{id}"),
                    hostname: id.into(),
                    os: String::new(),
                    cert_serial: format!("s-{id}"),
                    cert_not_after: 0,
                    agent_version: String::new(),
                    token_id: String::new(),
                    simulated: false,
                },
                1,
            )
            .expect("enroll");
    }
    store
        .agent_set_profile("srv", Some("server"), None, "admin", 1)
        .expect("role");
    let listen = |seq, port: u16| {
        env(
            seq,
            Finding::NetEvent(NetEvent {
                kind: NetEventKind::Listen,
                proto: "tcp".into(),
                local: format!("0.0.0.0:{port}"),
                remote: None,
                pid: Some(1),
                exe: Some("/usr/sbin/sshd".into()),
                user: None,
                cmdline: None,
                indicator: None,
                note: None,
                severity: Severity::Low,
            }),
        )
    };
    let s = AlertSettings::default();
    // First report: the baseline, on both hosts.
    for id in ["srv", "pc"] {
        let n = raise_for_batch(&store, &s, id, &[listen(1, 22), listen(2, 80)], &[], 10)
            .expect("raise");
        assert_eq!(n, 0);
    }
    // The agent restarts and reports the same listeners again: nothing new.
    assert_eq!(
        raise_for_batch(&store, &s, "srv", &[listen(3, 22)], &[], 20).expect("raise"),
        0
    );
    // A new port on the server is news; on the workstation it is not an alert.
    assert_eq!(
        raise_for_batch(&store, &s, "srv", &[listen(4, 4444)], &[], 30).expect("raise"),
        1
    );
    assert_eq!(
        raise_for_batch(&store, &s, "pc", &[listen(3, 4444)], &[], 30).expect("raise"),
        0
    );
    let alerts = store.alerts(None).expect("alerts");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, "new_listener_on_server");
    assert!(alerts[0].title.contains("0.0.0.0:4444") && alerts[0].title.contains("sshd"));
    // Seen again later: no second alert.
    assert_eq!(
        raise_for_batch(&store, &s, "srv", &[listen(5, 4444)], &[], 40).expect("raise"),
        0
    );
}
