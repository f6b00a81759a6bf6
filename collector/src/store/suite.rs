//! Backend-independent store tests: every backend must pass all of them.

use vigil_proto::{AgentHealth, Envelope, Finding, HealthKind, Inventory, Severity};

use super::*;

/// A new agent in agency `p/a` (shared with backend-specific tests).
pub(crate) fn agent(id: &str, machine: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        agency: "p/a".into(),
        machine_id: machine.into(),
        hostname: format!("host-{id}"),
        os: "Debian 12".into(),
        cert_serial: format!("serial-{id}"),
        cert_not_after: 2_000_000_000,
        agent_version: "0.1.0".into(),
        token_id: "tok".into(),
        simulated: false,
    }
}

pub(crate) fn env(seq: u64) -> Envelope {
    Envelope {
        seq,
        observed_at: 1,
        finding: Finding::AgentHealth(AgentHealth {
            kind: HealthKind::Other,
            message: format!("m{seq}"),
            counts: Default::default(),
            severity: Severity::Low,
        }),
    }
}

/// Agencies `p` and `p/a` (shared with backend-specific tests).
pub(crate) fn seed(s: &dyn Store) {
    s.agency_add(&Agency {
        id: "p".into(),
        name: "Province".into(),
        level: 2,
    })
    .expect("root");
    s.agency_add(&Agency {
        id: "p/a".into(),
        name: "A".into(),
        level: 3,
    })
    .expect("child");
}

/// The indexes both backends' schemas have (besides primary keys and unique constraints).
pub(crate) const INDEXES: &[&str] = &[
    "agents_machine",
    "alerts_agent_state",
    "alerts_key",
    "audit_action_at",
    "export_log_pos",
    "findings_agent_kind",
    "findings_recv",
    "gaps_agent",
    "iocs_version",
    "score_history_series",
    "sessions_user",
    "vuln_aliases_advisory",
    "vuln_matches_advisory",
];

/// Defines one `#[test]` per suite case in the calling module. `$with` is a function
/// `fn(fn(&dyn Store))` that opens a fresh, empty store, runs the case on it and cleans up
/// (or returns at once, after saying why, when its backend is unreachable outside CI).
macro_rules! store_cases {
    ($with:path) => {
        $crate::store::suite::store_cases!(@each $with; suite:
            agencies_form_a_tree,
            tokens_are_checked_and_consumed_atomically,
            reenroll_same_machine_replaces,
            ingest_is_idempotent_and_detects_gaps,
            inventory_is_kept_on_the_agent,
            findings_filter,
            iocs_are_versioned_and_delta_friendly,
            alerts_dedupe_and_change_state_with_audit,
            alerts_are_assigned_with_audit,
            check_state_keeps_the_newest_result_per_rule,
            assets_import_counts_and_is_all_or_nothing,
            hosts_get_a_role_and_level,
            score_history_keeps_series_and_latest,
            dissolving_a_district_moves_communes_with_their_history,
            moves_and_renames_are_checked,
            listeners_are_learned_once,
            simulation_marks_and_alert_params_are_kept,
        );
        $crate::store::suite::store_cases!(@each $with; suite_hostile:
            user_scopes_follow_their_agency_when_it_moves,
            dissolving_an_agency_rescopes_or_disables_its_users,
            a_machine_id_live_in_another_agency_is_refused_and_audited,
            agents_move_between_agencies_with_audit,
            revoked_agents_store_nothing,
            per_agent_quotas_bound_rules_alerts_and_listeners,
            alerts_seen_by_a_second_agency_follow_it,
            a_host_page_reads_a_bounded_share_of_check_history,
        );
        $crate::store::suite::store_cases!(@each $with; suite_access:
            users_sessions_and_api_tokens,
            api_tokens_are_listed_and_revoked_with_audit,
            audit_pages_go_newest_first,
            audit_is_read_by_action_and_time_range,
            tokens_are_listed_by_creation_then_id,
            new_alerts_are_read_in_creation_order_after_a_cursor,
            notification_claims_go_to_the_first_notifier,
        );
        $crate::store::suite::store_cases!(@each $with; suite_export:
            export_log_follows_findings_and_alert_changes_in_order,
            export_outputs_start_at_the_end_and_keep_their_cursor,
            export_lease_keeps_a_second_collector_out,
            export_trim_bounds_the_backlog_by_count_and_age,
            export_prune_deletes_what_every_output_passed,
            export_status_shows_backlog_and_last_error,
        );
        $crate::store::suite::store_cases!(@each $with; suite_fed:
            federation_tokens_are_marked,
            summaries_are_idempotent_and_gaps_recorded,
            the_spool_keeps_what_is_unacknowledged,
        );
        $crate::store::suite::store_cases!(@each $with; suite_policy:
            policy_versions_only_grow_and_history_is_kept,
            policy_assignments_take_growing_revisions_with_audit,
            applied_policy_versions_are_recorded_per_agent,
            policy_assignments_follow_agency_moves_and_dissolutions,
        );
        $crate::store::suite::store_cases!(@each $with; suite_vuln:
            advisories_are_versioned_and_replaced_with_their_aliases,
            matches_keep_since_and_follow_live_hosts,
        );
        $crate::store::suite::store_cases!(@each $with; suite_seen:
            heartbeats_move_last_seen_forward_and_keep_what_is_not_given,
        );
    };
    (@each $with:path; $file:ident: $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                $with($crate::store::$file::$case);
            }
        )*
    };
}
pub(crate) use store_cases;

/// A simulation token's agents are marked simulated (in both listings); alert params round-trip.
pub(crate) fn simulation_marks_and_alert_params_are_kept(s: &dyn Store) {
    seed(s);
    let t = TokenRecord {
        id: "sim".into(),
        secret_hash: "hs".into(),
        agency: "p/a".into(),
        created_at: 0,
        expires_at: 100,
        max_uses: 5,
        uses: 0,
        revoked: false,
        simulated: true,
    };
    s.token_add(&t).expect("add");
    assert!(s.token_consume("hs", 1).expect("db").expect("ok").simulated);
    s.agent_enroll(
        &NewAgent {
            simulated: true,
            ..agent("a1", "m1")
        },
        1,
    )
    .expect("enroll");
    s.agent_enroll(&agent("a2", "m2"), 1).expect("enroll");
    for list in [
        s.agents().expect("agents"),
        s.agents_brief().expect("brief"),
    ] {
        let marks: Vec<(String, bool)> = list.into_iter().map(|a| (a.id, a.simulated)).collect();
        assert_eq!(marks, [("a1".to_owned(), true), ("a2".to_owned(), false)]);
    }
    assert!(s.agent("a1").expect("get").expect("a1").simulated);
    let params: AlertParams = [
        ("host".to_owned(), serde_json::json!("pc-01")),
        ("seconds".to_owned(), serde_json::json!(90_000)),
    ]
    .into();
    for (key, params) in [("with", params.clone()), ("without", AlertParams::new())] {
        let a = NewAlert {
            key: key.into(),
            kind: "agent_silent".into(),
            severity: Severity::Medium,
            agent_id: "a1".into(),
            title: "t".into(),
            params,
            other_agency: None,
        };
        s.alert_raise(&a, 1).expect("raise");
    }
    let stored: Vec<(String, AlertParams)> = s
        .alerts(None)
        .expect("alerts")
        .into_iter()
        .map(|a| (a.key, a.params))
        .collect();
    assert_eq!(
        stored,
        [
            ("without".to_owned(), AlertParams::new()),
            ("with".to_owned(), params)
        ]
    );
}

pub(crate) fn listeners_are_learned_once(s: &dyn Store) {
    let keys = |v: &[&str]| v.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        s.listeners_learn("a1", &keys(&["tcp:22", "tcp:80"]), 1)
            .expect("learn"),
        (0, keys(&["tcp:22", "tcp:80"]))
    );
    assert_eq!(
        s.listeners_learn("a1", &keys(&["tcp:22", "tcp:443"]), 2)
            .expect("learn"),
        (2, keys(&["tcp:443"]))
    );
    assert_eq!(
        s.listeners_learn("a2", &keys(&["tcp:22"]), 3)
            .expect("other agent")
            .0,
        0
    );
}

fn check(rule: &str, status: vigil_proto::Status) -> Finding {
    Finding::CheckResult(vigil_proto::CheckResult {
        rule_id: rule.into(),
        pack: "linux-baseline@1.0.0".into(),
        status,
        severity: Severity::High,
        group: "hardening".into(),
        controls: vec![],
        evidence: String::new(),
    })
}

pub(crate) fn alerts_are_assigned_with_audit(s: &dyn Store) {
    let a = NewAlert {
        key: "k".into(),
        kind: "ioc_hit".into(),
        severity: Severity::Critical,
        agent_id: "a1".into(),
        title: "t".into(),
        params: Default::default(),
        other_agency: None,
    };
    let (id, _) = s.alert_raise(&a, 1).expect("raise");
    assert!(
        s.alert_assign(id, Some("lan.nt"), "admin", 2)
            .expect("assign")
    );
    assert_eq!(
        s.alerts(None).expect("list")[0].assignee.as_deref(),
        Some("lan.nt")
    );
    assert!(s.alert_assign(id, None, "admin", 3).expect("unassign"));
    assert_eq!(s.alerts(None).expect("list")[0].assignee, None);
    assert!(!s.alert_assign(999, Some("x"), "admin", 3).expect("unknown"));
    let assigns = s
        .audit_log()
        .expect("audit")
        .into_iter()
        .filter(|(_, actor, a, _)| a == "alert.assign" && actor == "admin")
        .count();
    assert_eq!(assigns, 2);
}

pub(crate) fn check_state_keeps_the_newest_result_per_rule(s: &dyn Store) {
    use vigil_proto::Status;
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    s.agent_enroll(&agent("a2", "m2"), 1).expect("enroll");
    let e = |seq, at, f| Envelope {
        seq,
        observed_at: at,
        finding: f,
    };
    s.ingest(
        "a1",
        &[
            e(1, 100, check("r1", Status::Fail)),
            e(2, 100, check("r2", Status::Pass)),
            e(3, 100, env(3).finding),
        ],
        1_000,
    )
    .expect("ingest");
    // r1 fixed later; an older r2 result arriving late (seq 5, observed earlier) changes nothing.
    s.ingest(
        "a1",
        &[
            e(4, 200, check("r1", Status::Pass)),
            e(5, 50, check("r2", Status::Fail)),
        ],
        2_000,
    )
    .expect("ingest");
    // A replay stores nothing and changes nothing.
    s.ingest("a1", &[e(1, 100, check("r1", Status::Fail))], 3_000)
        .expect("replay");
    s.ingest("a2", &[e(1, 100, check("r1", Status::Fail))], 3_000)
        .expect("a2");
    let states = s.check_states().expect("states");
    assert_eq!(states.len(), 2);
    let (id, st) = &states[0];
    assert_eq!(id, "a1");
    let mut got: Vec<(String, Status, i64)> = st.iter().map(|c| (c.1.clone(), c.4, c.5)).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("r1".into(), Status::Pass, 200),
            ("r2".into(), Status::Pass, 100)
        ]
    );
    assert_eq!(st[0].2, "hardening");
    // Revoked agents are not scored.
    assert!(s.agent_revoke("a2", "cli", 5).expect("revoke"));
    assert_eq!(s.check_states().expect("states").len(), 1);
}

fn asset(agency: &str, host: &str, role: &str, level: u8) -> Asset {
    Asset {
        agency: agency.into(),
        hostname: host.into(),
        role: role.into(),
        level,
    }
}

pub(crate) fn assets_import_counts_and_is_all_or_nothing(s: &dyn Store) {
    seed(s);
    let r = s
        .assets_import(
            &[
                asset("p/a", "pc-01", "workstation", 2),
                asset("p/a", "srv-01", "server", 3),
            ],
            "admin",
            10,
        )
        .expect("import");
    assert_eq!((r.added, r.updated, r.unchanged), (2, 0, 0));
    let r = s
        .assets_import(
            &[
                asset("p/a", "pc-01", "workstation", 2),
                asset("p/a", "srv-01", "server", 4),
            ],
            "admin",
            11,
        )
        .expect("again");
    assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 1));
    let bad = s.assets_import(
        &[
            asset("p/a", "pc-02", "workstation", 2),
            asset("p/nowhere", "pc-03", "workstation", 2),
        ],
        "admin",
        12,
    );
    assert!(matches!(bad, Err(StoreError::NotFound(_))), "{bad:?}");
    let all = s.assets().expect("assets");
    assert_eq!(
        all,
        vec![
            asset("p/a", "pc-01", "workstation", 2),
            asset("p/a", "srv-01", "server", 4)
        ],
        "the failed import left nothing behind"
    );
}

pub(crate) fn hosts_get_a_role_and_level(s: &dyn Store) {
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    assert_eq!(s.agent("a1").expect("get").expect("a1").level, None);
    assert!(
        s.agent_set_profile("a1", Some("server"), Some(4), "admin", 2)
            .expect("set")
    );
    let a = s.agent("a1").expect("get").expect("a1");
    assert_eq!((a.role.as_str(), a.level), ("server", Some(4)));
    // Only what is given changes.
    assert!(
        s.agent_set_profile("a1", None, Some(3), "admin", 3)
            .expect("set")
    );
    let a = s.agent("a1").expect("get").expect("a1");
    assert_eq!((a.role.as_str(), a.level), ("server", Some(3)));
    assert!(
        !s.agent_set_profile("nope", Some("server"), None, "admin", 3)
            .expect("unknown")
    );
}

fn point(scope: &str, id: &str, view: &str, score: f64, at: i64) -> ScorePoint {
    ScorePoint {
        scope: scope.into(),
        id: id.into(),
        view: view.into(),
        score,
        coverage: (scope == "agency").then_some(0.5),
        rule_pack_version: "linux-baseline@1.0.0".into(),
        scoring_version: "vigil-scoring-1".into(),
        computed_at: at,
    }
}

pub(crate) fn score_history_keeps_series_and_latest(s: &dyn Store) {
    s.scores_record(&[
        point("agency", "p/a", "full", 50.0, 100),
        point("host", "a1", "full", 60.0, 100),
    ])
    .expect("record");
    s.scores_record(&[point("agency", "p/a", "full", 55.5, 200)])
        .expect("record");
    s.scores_record(&[]).expect("nothing to record");
    let h = s.score_history("agency", "p/a", 0).expect("history");
    assert_eq!(
        h.iter().map(|p| p.score).collect::<Vec<_>>(),
        vec![50.0, 55.5]
    );
    assert_eq!(h[0], point("agency", "p/a", "full", 50.0, 100));
    assert_eq!(
        s.score_history("agency", "p/a", 150).expect("since").len(),
        1
    );
    let mut latest = s.scores_latest().expect("latest");
    latest.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        latest,
        vec![
            point("host", "a1", "full", 60.0, 100),
            point("agency", "p/a", "full", 55.5, 200)
        ]
    );
}

pub(crate) fn dissolving_a_district_moves_communes_with_their_history(s: &dyn Store) {
    let add = |id: &str, level| {
        s.agency_add(&Agency {
            id: id.into(),
            name: id.into(),
            level,
        })
        .expect("agency");
    };
    add("p", 2);
    add("p/h", 2);
    add("p/h/x1", 3);
    add("p/h/x1/school", 1);
    add("p/h/x2", 2);
    let mut a = agent("a1", "m1");
    a.agency = "p/h/x1".into();
    s.agent_enroll(&a, 1).expect("enroll");
    let mut b = agent("b1", "m2");
    b.agency = "p/h".into();
    s.agent_enroll(&b, 1).expect("enroll");
    s.assets_import(
        &[asset("p/h/x1/school", "pc-1", "workstation", 1)],
        "admin",
        1,
    )
    .expect("assets");
    s.token_add(&TokenRecord {
        id: "t1".into(),
        secret_hash: "h1".into(),
        agency: "p/h/x2".into(),
        created_at: 0,
        expires_at: i64::MAX,
        max_uses: 1,
        uses: 0,
        revoked: false,
        simulated: false,
    })
    .expect("token");
    s.scores_record(&[
        point("agency", "p/h/x1", "full", 70.0, 100),
        point("agency", "p/h/x1/school", "full", 40.0, 100),
        point("agency", "p/h", "full", 65.0, 100),
    ])
    .expect("history");

    let out = s.agency_dissolve("p/h", "admin", 500).expect("dissolve");
    assert_eq!(
        (
            out.agencies,
            out.agents,
            out.assets,
            out.tokens,
            out.history
        ),
        (4, 2, 1, 1, 2),
        "{out:?}"
    );
    let ids: Vec<String> = s
        .agencies()
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, vec!["p", "p/x1", "p/x1/school", "p/x2"]);
    assert_eq!(
        s.agency("p/x1").expect("get").expect("moved").level,
        3,
        "attributes kept"
    );
    assert_eq!(s.agent("a1").expect("get").expect("a1").agency, "p/x1");
    assert_eq!(
        s.agent("b1").expect("get").expect("b1").agency,
        "p",
        "district hosts go up"
    );
    assert_eq!(s.assets().expect("assets")[0].agency, "p/x1/school");
    assert_eq!(s.tokens().expect("tokens")[0].agency, "p/x2");
    let h = s.score_history("agency", "p/x1", 0).expect("history");
    assert_eq!(
        h.len(),
        1,
        "the commune keeps its history under the new path"
    );
    assert_eq!(h[0].score, 70.0);
    assert_eq!(
        s.score_history("agency", "p/x1/school", 0)
            .expect("h")
            .len(),
        1
    );
    assert_eq!(
        s.score_history("agency", "p/h", 0).expect("h").len(),
        1,
        "kept"
    );
    let latest: Vec<String> = s
        .scores_latest()
        .expect("latest")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert!(latest.contains(&"p/x1".to_string()) && !latest.contains(&"p/h/x1".to_string()));
    let audit = s.audit_log().expect("audit");
    let (_, actor, _, detail) = audit
        .iter()
        .find(|(_, _, a, _)| a == "agency.dissolve")
        .expect("audited");
    assert_eq!(actor, "admin");
    assert_eq!(detail["into"], "p");
}

pub(crate) fn moves_and_renames_are_checked(s: &dyn Store) {
    seed(s);
    s.agency_add(&Agency {
        id: "p/b".into(),
        name: "B".into(),
        level: 2,
    })
    .expect("b");
    assert!(matches!(
        s.agency_move("p/a", "p/a/x", "admin", 1),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.agency_move("p/a", "p/b", "admin", 1),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.agency_move("p/zz", "p/c", "admin", 1),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.agency_move("p/a", "q/a", "admin", 1),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.agency_dissolve("p", "admin", 1),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.agency_dissolve("p/zz", "admin", 1),
        Err(StoreError::NotFound(_))
    ));
    // Nothing changed by the refused moves.
    assert_eq!(s.agencies().expect("list").len(), 3);
    let out = s.agency_move("p/a", "p/b/a", "admin", 2).expect("move");
    assert_eq!(out.agencies, 1);
    let moved = s.agency("p/b/a").expect("get").expect("moved");
    assert_eq!((moved.name.as_str(), moved.level), ("A", 3));
    assert!(s.agency("p/a").expect("get").is_none());
    assert!(
        s.agency_rename("p/b/a", "Sở A", "admin", 3)
            .expect("rename")
    );
    assert_eq!(s.agency("p/b/a").expect("get").expect("a").name, "Sở A");
    assert!(!s.agency_rename("p/zz", "x", "admin", 3).expect("unknown"));
}

pub(crate) fn alerts_dedupe_and_change_state_with_audit(s: &dyn Store) {
    let gap = NewAlert {
        key: "gap:a1:5-6".into(),
        kind: "seq_gap".into(),
        severity: Severity::High,
        agent_id: "a1".into(),
        title: "findings 5..=6 never arrived".into(),
        params: Default::default(),
        other_agency: None,
    };
    let (id, new) = s.alert_raise(&gap, 100).expect("raise");
    assert!(new);
    assert_eq!(
        s.alert_raise(&gap, 200).expect("again"),
        (id, false),
        "same key: same alert"
    );
    let open = s.alerts(Some(AlertState::Open)).expect("list");
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].count, open[0].opened_at, open[0].last_seen),
        (2, 100, 200)
    );
    assert_eq!(open[0].severity, Severity::High);
    assert!(
        matches!(
            s.alert_set_state(id, AlertState::Resolved, "analyst", None, 300),
            Err(StoreError::Invalid(_))
        ),
        "resolving needs a reason"
    );
    assert!(
        s.alert_set_state(id, AlertState::Acknowledged, "analyst", None, 300)
            .expect("ack")
    );
    assert!(
        s.alert_set_state(
            id,
            AlertState::Resolved,
            "analyst",
            Some("agent spool resized"),
            400
        )
        .expect("resolve")
    );
    assert!(
        !s.alert_set_state(999, AlertState::Acknowledged, "analyst", None, 400)
            .expect("unknown")
    );
    // Raised again after resolution: reopened, not duplicated.
    assert_eq!(s.alert_raise(&gap, 500).expect("reopen").0, id);
    let all = s.alerts(None).expect("all");
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].state, all[0].count, all[0].reason.clone()),
        (AlertState::Open, 3, None)
    );
    let actions: Vec<String> = s
        .audit_log()
        .expect("audit")
        .into_iter()
        .map(|(_, _, a, _)| a)
        .collect();
    for a in ["alert.raised", "alert.state", "alert.reopened"] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
}

pub(crate) fn iocs_are_versioned_and_delta_friendly(s: &dyn Store) {
    use vigil_proto::msg::Indicator;
    let ind = |kind: &str, value: &str, exp: i64| Indicator {
        kind: kind.into(),
        value: value.into(),
        source: "feed-a".into(),
        expires_at: exp,
    };
    assert_eq!(s.ioc_version().expect("v"), 0);
    assert_eq!(s.ioc_since(0).expect("since"), (0, vec![]));
    let v1 = s
        .ioc_import(&[
            ind("ip", "203.0.113.7", 0),
            ind("sha256", &"a".repeat(64), 0),
        ])
        .expect("import");
    assert_eq!(v1, 1);
    // Re-importing the same indicators changes nothing and keeps the version.
    assert_eq!(
        s.ioc_import(&[ind("ip", "203.0.113.7", 0)]).expect("again"),
        1
    );
    let v2 = s
        .ioc_import(&[
            ind("cidr", "198.51.100.0/24", 0),
            ind("ip", "203.0.113.7", 99),
        ])
        .expect("more");
    assert_eq!(v2, 2);
    let (v, delta) = s.ioc_since(1).expect("delta");
    assert_eq!(v, 2);
    let mut kinds: Vec<_> = delta
        .iter()
        .map(|i| (i.kind.as_str(), i.expires_at))
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        vec![("cidr", 0), ("ip", 99)],
        "only what changed after v1"
    );
    assert_eq!(s.ioc_since(0).expect("full").1.len(), 3);
    assert!(s.ioc_since(2).expect("none").1.is_empty());
}

pub(crate) fn agencies_form_a_tree(s: &dyn Store) {
    assert!(matches!(
        s.agency_add(&Agency {
            id: "p/a".into(),
            name: "A".into(),
            level: 1
        }),
        Err(StoreError::NotFound(_))
    ));
    seed(s);
    assert!(matches!(
        s.agency_add(&Agency {
            id: "p/a".into(),
            name: "A".into(),
            level: 1
        }),
        Err(StoreError::Conflict(_))
    ));
    let all: Vec<_> = s
        .agencies()
        .expect("list")
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(all, vec!["p", "p/a"]);
    assert_eq!(s.agency("p/a").expect("get").map(|a| a.level), Some(3));
}

pub(crate) fn tokens_are_checked_and_consumed_atomically(s: &dyn Store) {
    seed(s);
    let t = TokenRecord {
        id: "t1".into(),
        secret_hash: "h1".into(),
        agency: "p/a".into(),
        created_at: 0,
        expires_at: 100,
        max_uses: 2,
        uses: 0,
        revoked: false,
        simulated: false,
    };
    s.token_add(&t).expect("add");
    assert_eq!(
        s.token_consume("nope", 1).expect("db"),
        Err(TokenRefusal::Unknown)
    );
    assert_eq!(s.token_consume("h1", 1).expect("db").map(|t| t.uses), Ok(1));
    assert_eq!(s.token_consume("h1", 1).expect("db").map(|t| t.uses), Ok(2));
    assert_eq!(
        s.token_consume("h1", 1).expect("db"),
        Err(TokenRefusal::UsedUp)
    );
    s.token_add(&TokenRecord {
        id: "t2".into(),
        secret_hash: "h2".into(),
        ..t.clone()
    })
    .expect("add");
    assert_eq!(
        s.token_consume("h2", 100).expect("db"),
        Err(TokenRefusal::Expired)
    );
    assert!(s.token_revoke("t2").expect("revoke"));
    assert!(!s.token_revoke("t9").expect("revoke"));
    assert_eq!(
        s.token_consume("h2", 1).expect("db"),
        Err(TokenRefusal::Revoked)
    );
    assert_eq!(s.tokens().expect("list").len(), 2);
}

pub(crate) fn reenroll_same_machine_replaces(s: &dyn Store) {
    seed(s);
    assert_eq!(
        s.agent_enroll(&agent("a1", "m1"), 10).expect("enroll"),
        EnrollOutcome::Enrolled { replaced: vec![] }
    );
    assert!(
        s.agent_enroll(&agent("a2", "m2"), 10)
            .expect("enroll")
            .replaced()
            .is_empty()
    );
    let out = s.agent_enroll(&agent("a3", "m1"), 20).expect("re-enroll");
    assert_eq!(
        out.replaced(),
        [ReplacedAgent {
            id: "a1".into(),
            agency: "p/a".into(),
            hostname: "host-a1".into(),
            serials: vec!["serial-a1".into()],
        }]
    );
    let live: Vec<_> = s
        .agents()
        .expect("list")
        .into_iter()
        .filter(|a| !a.revoked)
        .map(|a| a.id)
        .collect();
    assert_eq!(live.len(), 2);
    assert!(live.contains(&"a3".to_string()) && !live.contains(&"a1".to_string()));
    assert_eq!(
        s.revoked_serials().expect("serials"),
        vec!["serial-a1".to_string()]
    );
    // Renewal records a live agent's new serial; a replaced one cannot be renewed.
    assert!(
        s.agent_set_cert("a3", "serial-a3b", 2_100_000_000, 30)
            .expect("renew")
    );
    assert!(
        !s.agent_set_cert("a1", "serial-a1b", 2_100_000_000, 30)
            .expect("replaced")
    );
    // Until the agent uses it, its current certificate stays current (the answer may be lost).
    assert_eq!(
        s.agent_session_cert("a3", "serial-a3", 31).expect("check"),
        SessionCert::Current
    );
    assert_eq!(
        s.agent_session_cert("a3", "serial-a3b", 32).expect("check"),
        SessionCert::Promoted
    );
    let a3 = s.agent("a3").expect("get").expect("exists");
    assert_eq!(
        (a3.cert_serial.as_str(), a3.cert_not_after),
        ("serial-a3b", 2_100_000_000)
    );
    assert_eq!(
        s.agent_session_cert("a3", "serial-a3", 33).expect("check"),
        SessionCert::Superseded,
        "only the newest certificate is accepted"
    );
    assert_eq!(
        s.agent_session_cert("a1", "serial-a1", 33).expect("check"),
        SessionCert::Revoked
    );
    let mut refused = s.revoked_serials().expect("serials");
    refused.sort();
    assert_eq!(refused, ["serial-a1", "serial-a3"]);
    let actions: Vec<_> = s
        .audit_log()
        .expect("audit")
        .into_iter()
        .map(|(_, _, a, _)| a)
        .collect();
    assert!(actions.contains(&"agent.replaced".to_string()));
}

pub(crate) fn ingest_is_idempotent_and_detects_gaps(s: &dyn Store) {
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 0).expect("enroll");
    let out = s
        .ingest("a1", &[env(1), env(2), env(3)], 1000)
        .expect("ingest");
    assert_eq!((out.stored, out.duplicates, out.max_seq), (3, 0, 3));
    let out = s.ingest("a1", &[env(2), env(3)], 2000).expect("replay");
    assert_eq!((out.stored, out.duplicates, out.max_seq), (0, 2, 3));
    let out = s
        .ingest("a1", &[env(4), env(7), env(8), env(10)], 3000)
        .expect("gappy");
    assert_eq!(out.gaps, vec![(5, 6), (9, 9)]);
    assert_eq!(s.max_seq("a1").expect("max"), 10);
    assert_eq!(s.finding_count("a1").expect("count"), 7);
    let gaps = s.gaps(Some("a1")).expect("gaps");
    assert_eq!(
        gaps.iter()
            .map(|g| (g.from_seq, g.to_seq))
            .collect::<Vec<_>>(),
        vec![(5, 6), (9, 9)]
    );
    assert!(matches!(
        s.ingest("ghost", &[env(1)], 0),
        Err(StoreError::NotFound(_))
    ));
}

pub(crate) fn inventory_is_kept_on_the_agent(s: &dyn Store) {
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 0).expect("enroll");
    let inv = Inventory {
        hostname: "pc-01".into(),
        os: "Debian".into(),
        cpus: 4,
        ..Default::default()
    };
    s.ingest(
        "a1",
        &[Envelope {
            seq: 1,
            observed_at: 5,
            finding: Finding::Inventory(inv),
        }],
        7000,
    )
    .expect("ingest");
    let a = s.agent("a1").expect("get").expect("exists");
    assert_eq!(
        a.inventory.as_ref().and_then(|v| v["cpus"].as_u64()),
        Some(4)
    );
    assert_eq!(a.last_seen, 7);
    // The brief listing is the full one without inventories.
    let full: Vec<_> = s
        .agents()
        .expect("agents")
        .into_iter()
        .map(|mut a| {
            a.inventory = None;
            a
        })
        .collect();
    assert_eq!(s.agents_brief().expect("brief"), full);
    assert!(full.iter().any(|a| a.id == "a1"));
    s.agent_seen(
        "a1",
        9,
        Some("0.2.0"),
        Some(Heartbeat {
            spool_depth: 5,
            clock_skew_ms: -30,
        }),
    )
    .expect("seen");
    let a = s.agent("a1").expect("get").expect("exists");
    assert_eq!(
        (
            a.last_seen,
            a.spool_depth,
            a.clock_skew_ms,
            a.agent_version.as_str()
        ),
        (9, 5, -30, "0.2.0")
    );
}

pub(crate) fn findings_filter(s: &dyn Store) {
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 0).expect("enroll");
    s.agent_enroll(&agent("a2", "m2"), 0).expect("enroll");
    s.ingest("a1", &[env(1), env(2)], 1000).expect("ingest");
    s.ingest("a2", &[env(1)], 5000).expect("ingest");
    let all = s.findings(&FindingFilter::default()).expect("all");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].agent_id, "a2", "newest first");
    let f = FindingFilter {
        agent_id: Some("a1".into()),
        kind: Some("health".into()),
        since_ms: None,
        limit: 0,
    };
    assert_eq!(s.findings(&f).expect("a1").len(), 2);
    let f = FindingFilter {
        since_ms: Some(2000),
        ..Default::default()
    };
    assert_eq!(s.findings(&f).expect("since").len(), 1);
    let f = FindingFilter {
        kind: Some("file".into()),
        ..Default::default()
    };
    assert!(s.findings(&f).expect("none").is_empty());
    assert_eq!(all[0].finding["type"], "agent_health");
}
