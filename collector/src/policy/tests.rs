use std::collections::HashMap;

use super::ops::{self, Actor, AddRequest, OpError};
use super::*;
use crate::store::{Agency, SqliteStore, Store};

/// A valid pack with one rule checking that `path` exists.
pub(crate) fn pack(id: &str, rule: &str, path: &str) -> String {
    format!(
        "id: {id}\nversion: \"1.0\"\ntitle: {{vi: Gói, en: Pack}}\nrules:\n  - id: {rule}\n    \
         title: {{vi: a, en: a}}\n    rationale: {{vi: a, en: a}}\n    remediation: {{vi: a, en: a}}\n    \
         severity: high\n    group: hardening\n    checks:\n      - {{kind: file, path: {path}}}\n"
    )
}

const CLI: Actor<'static> = Actor {
    name: "cli",
    scope: "",
};

fn store() -> SqliteStore {
    let s = SqliteStore::open_in_memory().expect("store");
    for (id, level) in [
        ("tinh", 2),
        ("tinh/so-a", 3),
        ("tinh/so-b", 3),
        ("tinh/so-a/x", 3),
    ] {
        s.agency_add(&Agency {
            id: id.into(),
            name: id.into(),
            level,
        })
        .expect("agency");
    }
    s
}

fn add(s: &dyn Store, name: &str, packs: &[(&str, &str)], settings: &str) -> i64 {
    let req = AddRequest {
        name: name.into(),
        packs: packs
            .iter()
            .map(|(id, rule)| (format!("{id}.yaml"), pack(id, rule, "/etc/hosts")))
            .collect(),
        settings: toml::from_str(settings).expect("settings toml"),
        ..AddRequest::default()
    };
    ops::add(s, CLI, &req, 1).expect("add").version
}

fn resolved(s: &dyn Store, agency: &str) -> Resolved {
    PolicyBook::load(s)
        .expect("book")
        .resolve(agency)
        .expect("resolve")
}

#[test]
fn settings_report_every_problem_with_its_field() {
    let raw: RawSettings = toml::from_str(
        "[checks]\ninterval = \"soon\"\nlevel = 9\n[fim]\npaths = [\"/etc\", \"rel\", \"/a/../b\"]\n\
         storm_threshold = 0\n[netwatch]\ninterval = \"100ms\"\n[spool]\nmax_size = \"lots\"\n",
    )
    .expect("toml");
    let errs = raw.validate().expect_err("bad");
    for field in [
        "checks.interval",
        "checks.level",
        "fim.paths[1]",
        "fim.paths[2]",
        "fim.storm_threshold",
        "netwatch.interval",
        "spool.max_size",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(field)),
            "{field} missing: {errs:?}"
        );
    }
    assert_eq!(errs.len(), 7, "{errs:?}");
    let ok: RawSettings =
        toml::from_str("[checks]\ninterval = \"10m\"\n[spool]\nmax_size = \"1MiB\"\n")
            .expect("toml");
    let s = ok.validate().expect("good");
    assert_eq!(
        (s.check_interval_s, s.spool_budget_bytes),
        (Some(600), Some(1 << 20))
    );
    assert!(toml::from_str::<RawSettings>("[uplink]\ncollector = \"evil:1\"\n").is_err());
}

#[test]
fn packs_are_all_or_nothing_with_file_and_line() {
    let good = pack("extra", "r-extra", "/etc/hosts");
    let bad = good.replace("severity: high", "severity: extreme");
    let files = vec![
        ("good.yaml".to_owned(), good.clone()),
        ("bad.yaml".to_owned(), bad),
        ("dup.yaml".to_owned(), good),
    ];
    let errs = parse_packs(&files).expect_err("bad");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("bad.yaml:") && e.contains("severity")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("dup.yaml") && e.contains("good.yaml")),
        "{errs:?}"
    );
    let s = store();
    let req = AddRequest {
        name: "p".into(),
        packs: files,
        ..AddRequest::default()
    };
    assert!(matches!(
        ops::add(&s, CLI, &req, 1),
        Err(OpError::Invalid(_))
    ));
    assert!(
        s.policies().policies_latest().expect("list").is_empty(),
        "nothing stored"
    );
}

#[test]
fn the_deepest_assignment_wins_key_by_key() {
    let s = store();
    add(
        &s,
        "tinh-base",
        &[("base", "r-base"), ("shared", "r-shared-old")],
        "[checks]\ninterval = \"1h\"\nlevel = 2\n[fim]\npaths = [\"/etc\"]\n",
    );
    add(
        &s,
        "so-a",
        &[("shared", "r-shared-new"), ("extra", "r-extra")],
        "[checks]\ninterval = \"10m\"\n",
    );
    ops::assign(&s, CLI, "tinh", Some("tinh-base"), 2).expect("assign");
    ops::assign(&s, CLI, "tinh/so-a", Some("so-a"), 3).expect("assign");
    let a = resolved(&s, "tinh/so-a/x");
    assert_eq!(
        a.content.settings.check_interval_s,
        Some(600),
        "deeper interval wins"
    );
    assert_eq!(a.content.settings.agency_level, Some(2), "kept from above");
    assert_eq!(a.content.settings.fim_paths, Some(vec!["/etc".to_owned()]));
    let ids: Vec<(&str, bool)> = a
        .content
        .packs
        .iter()
        .map(|p| (p.id.as_str(), p.source.contains("r-shared-new")))
        .collect();
    assert_eq!(ids, [("base", false), ("extra", false), ("shared", true)]);
    assert_eq!(a.label(), "tinh-base@1 + so-a@1");
    let b = resolved(&s, "tinh/so-b");
    assert_eq!(b.content.settings.check_interval_s, Some(3600));
    assert_eq!(b.content.packs.len(), 2);
    assert!(b.version < a.version, "{} {}", b.version, a.version);
    assert_eq!(resolved(&s, "other").version, 0, "nothing assigned outside");
}

#[test]
fn bundle_versions_only_grow_through_every_change() {
    let s = store();
    add(&s, "base", &[("base", "r1")], "");
    add(&s, "strict", &[("strict", "r2")], "");
    let mut last = 0;
    let mut step = |what: &str, v: u64| {
        assert!(v > last, "{what}: version {v} is not above {last}");
        last = v;
    };
    ops::assign(&s, CLI, "tinh", Some("base"), 2).expect("assign");
    step("assign above", resolved(&s, "tinh/so-a").version);
    ops::assign(&s, CLI, "tinh/so-a", Some("strict"), 3).expect("assign");
    step("assign deeper", resolved(&s, "tinh/so-a").version);
    add(&s, "strict", &[("strict", "r3")], "");
    step("new version", resolved(&s, "tinh/so-a").version);
    ops::assign(&s, CLI, "tinh/so-a", None, 4).expect("unassign");
    let after = resolved(&s, "tinh/so-a");
    step("unassign deeper", after.version);
    assert_eq!(after.layers.len(), 1, "back to the province's policy");
    ops::rollback(&s, CLI, "strict", 1, 5).expect("rollback");
    // strict is no longer on so-a's path: nothing changes there.
    assert_eq!(resolved(&s, "tinh/so-a").version, last);
}

#[test]
fn rollback_adds_a_higher_version_with_the_old_content() {
    let s = store();
    add(&s, "p", &[("a", "r-old")], "[checks]\ninterval = \"1h\"\n");
    add(&s, "p", &[("a", "r-new")], "[checks]\ninterval = \"5m\"\n");
    ops::assign(&s, CLI, "tinh", Some("p"), 2).expect("assign");
    let before = resolved(&s, "tinh");
    let v = ops::rollback(&s, CLI, "p", 1, 9).expect("rollback");
    assert_eq!((v.version, v.note.as_str()), (3, "rollback to v1"));
    let h = s.policies().policy_history("p").expect("history");
    assert_eq!(h[2].body, h[0].body);
    let after = resolved(&s, "tinh");
    assert!(after.version > before.version);
    assert_eq!(after.content.settings.check_interval_s, Some(3600));
    assert!(after.content.packs[0].source.contains("r-old"));
    assert!(matches!(
        ops::rollback(&s, CLI, "p", 7, 9),
        Err(OpError::NotFound(_))
    ));
    let log = s.audit_log().expect("audit");
    assert!(log.iter().any(|e| e.2 == "policy.rollback"), "{log:?}");
}

#[test]
fn an_agency_admin_acts_only_inside_its_subtree() {
    let s = store();
    add(&s, "tinh-base", &[], "[checks]\nlevel = 3\n");
    let so_a = Actor {
        name: "admin-a",
        scope: "tinh/so-a",
    };
    let mine = AddRequest {
        name: "mine".into(),
        ..AddRequest::default()
    };
    let v = ops::add(&s, so_a, &mine, 1).expect("own policy");
    assert_eq!(v.scope, "tinh/so-a", "a new policy takes the actor's scope");
    ops::assign(&s, so_a, "tinh/so-a/x", Some("mine"), 2).expect("inside");
    for (agency, policy) in [
        ("tinh", "mine"),
        ("tinh/so-b", "mine"),
        ("tinh", "tinh-base"),
    ] {
        let r = ops::assign(&s, so_a, agency, Some(policy), 3);
        assert!(
            matches!(r, Err(OpError::Forbidden(_))),
            "{agency} {policy}: {r:?}"
        );
    }
    // The province admin cannot spread a subtree's policy above it either.
    let r = ops::assign(&s, CLI, "tinh", Some("mine"), 3);
    assert!(matches!(r, Err(OpError::Forbidden(_))), "{r:?}");
    // Editing or rolling back the province's policy is the province's business.
    let edit = AddRequest {
        name: "tinh-base".into(),
        ..AddRequest::default()
    };
    assert!(matches!(
        ops::add(&s, so_a, &edit, 4),
        Err(OpError::Forbidden(_))
    ));
    assert!(matches!(
        ops::rollback(&s, so_a, "tinh-base", 1, 4),
        Err(OpError::Forbidden(_))
    ));
    let widen = AddRequest {
        name: "mine".into(),
        scope: Some("tinh".into()),
        ..AddRequest::default()
    };
    assert!(
        ops::add(&s, so_a, &widen, 5).is_err(),
        "scope cannot be widened"
    );
}

#[test]
fn resolve_of_no_assignment_is_version_zero() {
    let r = resolve("tinh", &[], &HashMap::<String, PolicyVersion>::new()).expect("empty");
    assert_eq!((r.version, r.label().as_str()), (0, "none"));
}

#[test]
fn rules_of_policy_packs_join_the_catalogue_without_weakening_built_in_ones() {
    use vigil_proto::{CheckResult, Severity, Status};
    let s = store();
    let reuse =
        pack("reuse", "lnx-av-installed", "/etc/hosts").replace("severity: high", "severity: low");
    let req = AddRequest {
        name: "p".into(),
        packs: vec![
            ("extra.yaml".into(), pack("extra", "r-pol", "/etc/hosts")),
            ("reuse.yaml".into(), reuse),
        ],
        ..AddRequest::default()
    };
    ops::add(&s, CLI, &req, 1).expect("add");
    let cat = catalog(&s).expect("catalogue");
    let claim = |rule: &str| CheckResult {
        rule_id: rule.into(),
        pack: "x".into(),
        status: Status::Fail,
        severity: Severity::Low,
        group: "logging".into(),
        controls: vec![],
        evidence: String::new(),
    };
    let mut c = claim("r-pol");
    assert!(cat.normalize(&mut c), "a policy rule is known");
    assert_eq!(
        (c.severity, c.group.as_str()),
        (Severity::High, "hardening")
    );
    let mut c = claim("lnx-av-installed");
    cat.normalize(&mut c);
    assert_eq!(
        c.severity,
        Severity::Critical,
        "the built-in definition wins"
    );
    assert!(
        !catalog(&store())
            .expect("empty")
            .normalize(&mut claim("r-pol")),
        "unknown without the policy"
    );
}

#[test]
fn reports_name_the_policy_versions_in_force() {
    let s = store();
    assert_eq!(in_force(&s, None).expect("none"), "");
    add(&s, "base", &[("base", "r1")], "");
    add(&s, "web", &[("web", "r2")], "");
    add(&s, "web", &[("web", "r3")], "");
    ops::assign(&s, CLI, "tinh", Some("base"), 2).expect("assign");
    ops::assign(&s, CLI, "tinh/so-a", Some("web"), 3).expect("assign");
    let so_a = resolved(&s, "tinh/so-a").version;
    assert_eq!(
        in_force(&s, Some("tinh/so-a")).expect("so-a"),
        format!("tinh/so-a: base@1 + web@2 (#{so_a})")
    );
    let all = in_force(&s, None).expect("all");
    assert!(
        all.starts_with("tinh: base@1 (#") && all.contains("; tinh/so-a: "),
        "{all}"
    );
    assert_eq!(in_force(&s, Some("tinh/so-b")).expect("so-b"), "");
}

/// A failed check of `rule` from `pack`, as agent `a1` reports it.
fn failed(seq: u64, pack: &str, rule: &str) -> vigil_proto::Envelope {
    vigil_proto::Envelope {
        seq,
        observed_at: 1_700_000_000_000 + seq as i64,
        finding: vigil_proto::Finding::CheckResult(vigil_proto::CheckResult {
            rule_id: rule.into(),
            pack: pack.into(),
            status: vigil_proto::Status::Fail,
            severity: vigil_proto::Severity::High,
            group: "hardening".into(),
            controls: vec![],
            evidence: String::new(),
        }),
    }
}

/// The rule ids of `a1`'s results that count: in scores, and on its host page.
fn counted(s: &dyn Store) -> (Vec<String>, Vec<String>) {
    let inputs = crate::scoring::Inputs::load(s).expect("inputs");
    let mut scored: Vec<String> = inputs
        .checks
        .get("a1")
        .map(|v| v.iter().map(|c| c.1.clone()).collect())
        .unwrap_or_default();
    scored.sort();
    let mut page: Vec<String> = crate::views::latest_checks(s, "a1")
        .expect("host page")
        .into_iter()
        .map(|c| c.rule_id)
        .collect();
    page.sort();
    (scored, page)
}

/// Regression (issue 18): a central pack dropped by a newer version (or a rule dropped from a
/// pack) kept counting with its last result for ever, though the agent no longer runs it. Now
/// it stops counting once the host reports the version in force; a host still on the older
/// version runs it and keeps it; local packs' results always count.
#[test]
fn results_of_a_dropped_central_pack_or_rule_stop_counting_once_the_host_runs_the_new_bundle() {
    let s = store();
    s.agent_enroll(
        &crate::store::NewAgent {
            id: "a1".into(),
            agency: "tinh/so-a".into(),
            machine_id: "m-a1".into(),
            hostname: "pc-1".into(),
            os: "Debian".into(),
            cert_serial: "s-a1".into(),
            cert_not_after: 0,
            agent_version: "0.1.0".into(),
            token_id: "t".into(),
            simulated: false,
        },
        0,
    )
    .expect("enroll");
    add(
        &s,
        "web",
        &[("pk-keep", "r-keep"), ("pk-drop", "r-drop")],
        "",
    );
    ops::assign(&s, CLI, "tinh/so-a", Some("web"), 2).expect("assign");
    let applied = |v: u64| {
        s.policies()
            .policy_applied_set("a1", v as i64, 3)
            .expect("applied");
    };
    let v1 = resolved(&s, "tinh/so-a").version;
    applied(v1);
    let batch = [
        failed(1, "pk-keep@1.0", "r-keep"),
        failed(2, "pk-drop@1.0", "r-drop"),
        failed(3, "local-pack@2", "r-local"),
    ];
    s.ingest("a1", &batch, 1_700_000_000_000).expect("ingest");
    let all: Vec<String> = ["r-drop", "r-keep", "r-local"].map(String::from).to_vec();
    assert_eq!(counted(&s), (all.clone(), all.clone()));

    // Version 2 drops pk-drop. The host has not applied it yet: it still runs pk-drop.
    add(&s, "web", &[("pk-keep", "r-keep")], "");
    let v2 = resolved(&s, "tinh/so-a").version;
    assert!(v2 > v1);
    assert_eq!(counted(&s), (all.clone(), all));
    applied(v2);
    let kept: Vec<String> = ["r-keep", "r-local"].map(String::from).to_vec();
    assert_eq!(counted(&s), (kept.clone(), kept));

    // Version 3 keeps pk-keep@1.0 but with another rule: r-keep is gone from it.
    add(&s, "web", &[("pk-keep", "r-other")], "");
    applied(resolved(&s, "tinh/so-a").version);
    let local: Vec<String> = vec!["r-local".into()];
    assert_eq!(counted(&s), (local.clone(), local));

    // A rollback to version 1 brings pk-drop back: its stored result counts again.
    ops::rollback(&s, CLI, "web", 1, 4).expect("rollback");
    applied(resolved(&s, "tinh/so-a").version);
    let back: Vec<String> = ["r-drop", "r-keep", "r-local"].map(String::from).to_vec();
    assert_eq!(counted(&s), (back.clone(), back));
}

/// Issue 18 item 5: a host is scored by the rules of the bundle version it runs. Ingest stored
/// the severity the newest catalogue gives (critical, version 2); the host still on version 1
/// counts it as version 1's pack says (high, hardening), then as version 2's once it applies it.
/// When an assignment on its path changed since its version, that version cannot be rebuilt and
/// the stored values stand.
#[test]
fn a_host_is_scored_by_the_rules_of_the_bundle_version_it_runs() {
    let s = store();
    s.agent_enroll(
        &crate::store::NewAgent {
            id: "a1".into(),
            agency: "tinh/so-a".into(),
            machine_id: "m-a1".into(),
            hostname: "pc-1".into(),
            os: "Debian".into(),
            cert_serial: "s-a1".into(),
            cert_not_after: 0,
            agent_version: "0.1.0".into(),
            token_id: "t".into(),
            simulated: false,
        },
        0,
    )
    .expect("enroll");
    add(&s, "web", &[("pk", "r-sev")], "");
    ops::assign(&s, CLI, "tinh/so-a", Some("web"), 2).expect("assign");
    let v1 = resolved(&s, "tinh/so-a").version;
    let v2_pack = pack("pk", "r-sev", "/etc/hosts")
        .replace("severity: high", "severity: critical")
        .replace("group: hardening", "group: accounts");
    let req = AddRequest {
        name: "web".into(),
        packs: vec![("pk.yaml".into(), v2_pack)],
        ..AddRequest::default()
    };
    ops::add(&s, CLI, &req, 3).expect("v2");
    let v2 = resolved(&s, "tinh/so-a").version;
    let mut stored = failed(1, "pk@1.0", "r-sev");
    if let vigil_proto::Finding::CheckResult(c) = &mut stored.finding {
        c.severity = vigil_proto::Severity::Critical;
        c.group = "accounts".into();
    }
    s.ingest("a1", &[stored], 1_700_000_000_000)
        .expect("ingest");
    let scored = |s: &dyn Store| {
        let inputs = crate::scoring::Inputs::load(s).expect("inputs");
        let c = inputs.checks["a1"][0].clone();
        (c.3, c.2)
    };
    let set = |v: u64| {
        s.policies()
            .policy_applied_set("a1", v as i64, 4)
            .expect("applied");
    };
    set(v1);
    assert_eq!(
        scored(&s),
        (vigil_proto::Severity::High, "hardening".to_owned())
    );
    set(v2);
    assert_eq!(
        scored(&s),
        (vigil_proto::Severity::Critical, "accounts".to_owned())
    );
    // An assignment on its path changes: version 1's bundle is no longer known.
    set(v1);
    ops::assign(&s, CLI, "tinh", Some("web"), 5).expect("assign above");
    assert_eq!(
        scored(&s),
        (vigil_proto::Severity::Critical, "accounts".to_owned())
    );
}
