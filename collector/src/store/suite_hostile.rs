//! Backend-independent store tests of issue 17 (hostile agents, stale scopes): every backend
//! must pass all of them. Each is a test per backend through [`super::suite::store_cases`].

use super::suite::agent;
use super::*;

fn in_agency(id: &str, machine: &str, agency: &str) -> NewAgent {
    NewAgent {
        agency: agency.into(),
        ..agent(id, machine)
    }
}

pub(crate) fn a_machine_id_live_in_another_agency_is_refused_and_audited(s: &dyn Store) {
    for id in ["p", "p/a", "p/b"] {
        add(s, id);
    }
    s.agent_enroll(&in_agency("victim", "m1", "p/a"), 1)
        .expect("enroll");
    let out = s
        .agent_enroll(&in_agency("thief", "m1", "p/b"), 2)
        .expect("decide");
    assert_eq!(
        out,
        EnrollOutcome::Refused(MachineInUse {
            agent_id: "victim".into(),
            agency: "p/a".into(),
            hostname: "host-victim".into(),
        })
    );
    assert!(s.agent("thief").expect("get").is_none(), "nothing recorded");
    let victim = s.agent("victim").expect("get").expect("victim");
    assert!(!victim.revoked, "the victim keeps its identity");
    assert!(s.revoked_serials().expect("serials").is_empty());
    let audit = s.audit_log().expect("audit");
    let (_, actor, _, d) = audit
        .iter()
        .find(|(_, _, a, _)| a == "agent.enroll_refused")
        .expect("audited");
    assert_eq!(actor, "enrollment");
    assert_eq!(
        (d["agency"].as_str(), d["existing_agency"].as_str()),
        (Some("p/b"), Some("p/a"))
    );
    // In its own agency, a re-install replaces the old identity, and the entry names both.
    let out = s
        .agent_enroll(&in_agency("reinstalled", "m1", "p/a"), 3)
        .expect("replace");
    assert_eq!(out.replaced().len(), 1);
    assert!(s.agent("victim").expect("get").expect("old").revoked);
    let audit = s.audit_log().expect("audit");
    let (_, _, _, d) = audit
        .iter()
        .find(|(_, _, a, _)| a == "agent.replaced")
        .expect("audited");
    assert_eq!(
        (d["old_agency"].as_str(), d["agency"].as_str()),
        (Some("p/a"), Some("p/a"))
    );
}

pub(crate) fn agents_move_between_agencies_with_audit(s: &dyn Store) {
    for id in ["p", "p/a", "p/b"] {
        add(s, id);
    }
    s.agent_enroll(&in_agency("a1", "m1", "p/a"), 1)
        .expect("enroll");
    assert!(matches!(
        s.agent_move("a1", "p/zz", "cli", 2),
        Err(StoreError::NotFound(_))
    ));
    assert!(!s.agent_move("nobody", "p/b", "cli", 2).expect("unknown"));
    assert!(s.agent_move("a1", "p/b", "cli", 3).expect("move"));
    assert_eq!(s.agent("a1").expect("get").expect("a1").agency, "p/b");
    // Now the machine enrolls into its new agency as a re-install.
    let out = s
        .agent_enroll(&in_agency("a2", "m1", "p/b"), 4)
        .expect("enroll");
    assert_eq!(out.replaced().len(), 1);
    let audit = s.audit_log().expect("audit");
    let (_, actor, _, d) = audit
        .iter()
        .find(|(_, _, a, _)| a == "agent.move")
        .expect("audited");
    assert_eq!(actor, "cli");
    assert_eq!(
        (d["from"].as_str(), d["to"].as_str()),
        (Some("p/a"), Some("p/b"))
    );
    assert!(s.agent_revoke("a2", "admin", 5).expect("revoke"));
    assert!(!s.agent_revoke("a2", "admin", 6).expect("once"));
    assert!(
        !s.agent_move("a2", "p/a", "cli", 7)
            .expect("revoked agents stay")
    );
}

fn health(seq: u64) -> vigil_proto::Envelope {
    vigil_proto::Envelope {
        seq,
        observed_at: 1,
        finding: vigil_proto::Finding::AgentHealth(vigil_proto::AgentHealth {
            kind: vigil_proto::HealthKind::Other,
            message: "m".into(),
            counts: Default::default(),
            severity: vigil_proto::Severity::Low,
        }),
    }
}

pub(crate) fn revoked_agents_store_nothing(s: &dyn Store) {
    for id in ["p", "p/a"] {
        add(s, id);
    }
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    s.ingest("a1", &[health(1)], 1000).expect("live");
    assert!(s.agent_revoke("a1", "cli", 2).expect("revoke"));
    assert!(matches!(
        s.ingest("a1", &[health(2)], 2000),
        Err(StoreError::Revoked(_))
    ));
    s.agent_seen("a1", 99, Some("9.9"), None).expect("seen");
    let a = s.agent("a1").expect("get").expect("a1");
    assert_eq!(
        (a.max_seq, a.last_seen),
        (1, 1),
        "nothing of a revoked agent is kept"
    );
    assert_eq!(s.finding_count("a1").expect("count"), 1);
}

fn check_result(rule: String) -> vigil_proto::Finding {
    vigil_proto::Finding::CheckResult(vigil_proto::CheckResult {
        rule_id: rule,
        pack: "hostile@1".into(),
        status: vigil_proto::Status::Fail,
        severity: vigil_proto::Severity::High,
        group: "hardening".into(),
        controls: vec![],
        evidence: String::new(),
    })
}

pub(crate) fn a_host_page_reads_a_bounded_share_of_check_history(s: &dyn Store) {
    for id in ["p", "p/a"] {
        add(s, id);
    }
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    let env = |seq: u64, rule: &str| vigil_proto::Envelope {
        seq,
        observed_at: 1,
        finding: check_result(rule.into()),
    };
    s.ingest("a1", &[env(1, "long-gone")], 1000)
        .expect("old result");
    let n = crate::views::LATEST_CHECKS_READ as u64;
    for start in (2..n + 2).step_by(1000) {
        let batch: Vec<_> = (start..(start + 1000).min(n + 2))
            .map(|seq| env(seq, "current"))
            .collect();
        s.ingest("a1", &batch, 2000).expect("history");
    }
    let latest = crate::views::latest_checks(s, "a1").expect("latest");
    let rules: Vec<&str> = latest.iter().map(|c| c.rule_id.as_str()).collect();
    assert_eq!(
        rules,
        ["current"],
        "only the newest check findings are read, not the whole history"
    );
}

pub(crate) fn per_agent_quotas_bound_rules_alerts_and_listeners(s: &dyn Store) {
    for id in ["p", "p/a"] {
        add(s, id);
    }
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    let batch: Vec<_> = (1..=MAX_RULES_PER_AGENT as u64 + 10)
        .map(|i| vigil_proto::Envelope {
            seq: i,
            observed_at: 1,
            finding: check_result(format!("r{i}")),
        })
        .collect();
    let out = s.ingest("a1", &batch, 1000).expect("ingest");
    assert_eq!(out.stored, batch.len(), "every finding is stored");
    assert_eq!(out.rules_over_quota, 10);
    let states = s.check_states().expect("states");
    assert_eq!(
        states[0].1.len(),
        MAX_RULES_PER_AGENT,
        "the scored state is bounded"
    );

    let raise = |i: usize| {
        s.alert_raise(
            &NewAlert {
                key: format!("fim:a1:/etc/{i}"),
                kind: "fim_critical_path".into(),
                severity: vigil_proto::Severity::High,
                agent_id: "a1".into(),
                title: "t".into(),
                other_agency: None,
                params: Default::default(),
            },
            10,
        )
        .expect("raise")
    };
    for i in 0..MAX_OPEN_ALERTS_PER_AGENT + 20 {
        raise(i);
    }
    let alerts = s.alerts(None).expect("alerts");
    assert_eq!(alerts.len(), MAX_OPEN_ALERTS_PER_AGENT + 1);
    let quota = alerts
        .iter()
        .find(|a| a.kind == "agent_quota")
        .expect("one quota alert counts the rest");
    assert_eq!(quota.count, 20);
    // Repeats of existing alerts still count on them.
    raise(0);
    assert_eq!(
        s.alerts(None).expect("alerts").len(),
        MAX_OPEN_ALERTS_PER_AGENT + 1
    );

    let keys: Vec<String> = (0..MAX_LISTENERS_PER_AGENT + 50)
        .map(|i| format!("listen:a1:tcp:0.0.0.0:{i}"))
        .collect();
    let (_, new) = s.listeners_learn("a1", &keys, 1).expect("learn");
    assert_eq!(new.len(), MAX_LISTENERS_PER_AGENT);
    let (before, new) = s.listeners_learn("a1", &keys, 2).expect("again");
    assert_eq!((before, new.len()), (MAX_LISTENERS_PER_AGENT, 0));
}

pub(crate) fn alerts_seen_by_a_second_agency_follow_it(s: &dyn Store) {
    for id in ["p", "p/a", "p/b", "p/b/x", "q"] {
        add(s, id);
    }
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    s.alert_raise(
        &NewAlert {
            key: "dupmachine:refused:a1:p/b/x".into(),
            kind: "duplicate_machine".into(),
            severity: vigil_proto::Severity::High,
            agent_id: "a1".into(),
            title: "refused".into(),
            other_agency: Some("p/b/x".into()),
            params: Default::default(),
        },
        2,
    )
    .expect("raise");
    s.agency_move("p/b", "q/b", "cli", 3).expect("move");
    let other = |s: &dyn Store| s.alerts(None).expect("alerts")[0].other_agency.clone();
    assert_eq!(other(s).as_deref(), Some("q/b/x"));
    s.agency_dissolve("q/b/x", "cli", 4).expect("dissolve");
    assert_eq!(other(s).as_deref(), Some("q/b"));
}

fn add(s: &dyn Store, id: &str) {
    s.agency_add(&Agency {
        id: id.into(),
        name: id.to_uppercase(),
        level: 2,
    })
    .expect("agency");
}

fn user(s: &dyn Store, name: &str, scope: &str) {
    s.user_add(
        &User {
            name: name.into(),
            password_hash: "$argon2id$stand-in".into(),
            role: UserRole::Analyst,
            scope: scope.into(),
            created_at: 1,
            disabled: false,
        },
        "cli",
        1,
    )
    .expect("user");
}

fn scope(s: &dyn Store, name: &str) -> (String, bool) {
    let u = s.user(name).expect("get").expect("user");
    (u.scope, u.disabled)
}

pub(crate) fn user_scopes_follow_their_agency_when_it_moves(s: &dyn Store) {
    for id in ["p", "p/a", "p/a/x", "p/ab", "q"] {
        add(s, id);
    }
    user(s, "at-a", "p/a");
    user(s, "below-a", "p/a/x");
    user(s, "sibling", "p/ab");
    user(s, "everything", "");
    let out = s.agency_move("p/a", "q/a", "cli", 10).expect("move");
    assert_eq!(out.users, 2, "{out:?}");
    assert_eq!(scope(s, "at-a"), ("q/a".into(), false));
    assert_eq!(scope(s, "below-a"), ("q/a/x".into(), false));
    assert_eq!(
        scope(s, "sibling"),
        ("p/ab".into(), false),
        "a prefix, not a parent"
    );
    assert_eq!(scope(s, "everything"), (String::new(), false));
    // A new agency at the old path is not what those users were given.
    add(s, "p/a");
    assert_eq!(scope(s, "at-a").0, "q/a");
    // Renaming changes the display name, never the path a scope holds.
    assert!(s.agency_rename("q/a", "Sở A", "cli", 11).expect("rename"));
    assert_eq!(scope(s, "at-a").0, "q/a");
}

pub(crate) fn dissolving_an_agency_rescopes_or_disables_its_users(s: &dyn Store) {
    for id in ["p", "p/h", "p/h/x", "p/hx"] {
        add(s, id);
    }
    user(s, "district", "p/h");
    user(s, "commune", "p/h/x");
    user(s, "neighbour", "p/hx");
    s.session_add(&SessionRecord {
        id_hash: "sess-district".into(),
        user: "district".into(),
        csrf: "c".into(),
        expires_at: i64::MAX,
    })
    .expect("session");
    let mut a = agent("a1", "m1");
    a.agency = "p/h".into();
    s.agent_enroll(&a, 1).expect("enroll");
    let out = s.agency_dissolve("p/h", "cli", 20).expect("dissolve");
    assert_eq!((out.users, out.users_disabled), (1, 1), "{out:?}");
    assert_eq!(scope(s, "commune"), ("p/x".into(), false));
    assert_eq!(scope(s, "neighbour"), ("p/hx".into(), false));
    // Widening a district officer to the whole province would leak every sibling's data; the
    // user is disabled instead, their session ended, and an admin gives them a new scope.
    assert_eq!(scope(s, "district"), ("p/h".into(), true));
    assert_eq!(s.session("sess-district", 21).expect("session"), None);
    add(s, "p/h");
    assert!(s.user("district").expect("get").expect("user").disabled);
}
