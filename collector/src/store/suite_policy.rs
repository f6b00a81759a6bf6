//! Backend-independent cases of the policy store (issue 18), run on every backend through
//! `store_cases!`.

use super::policy::NewPolicyVersion;
use super::suite::seed;
use super::*;

fn new<'a>(name: &'a str, scope: &'a str, body: &'a str) -> NewPolicyVersion<'a> {
    NewPolicyVersion {
        name,
        scope,
        body,
        note: "",
        action: "policy.add",
    }
}

/// Versions of a policy count up from 1, every one is kept, the scope is fixed by the first.
pub(crate) fn policy_versions_only_grow_and_history_is_kept(s: &dyn Store) {
    seed(s);
    let p = s.policies();
    assert_eq!(p.policy_rev().expect("rev"), 0);
    let v1 = p
        .policy_add(&new("base", "p", "{\"a\":1}"), "cli", 10)
        .expect("v1");
    let v2 = p
        .policy_add(&new("base", "p", "{\"a\":2}"), "ana", 20)
        .expect("v2");
    let other = p
        .policy_add(&new("other", "", "{}"), "cli", 30)
        .expect("other");
    assert_eq!((v1.version, v2.version, other.version), (1, 1 + 1, 1));
    assert!(
        v1.rev < v2.rev && v2.rev < other.rev,
        "{v1:?} {v2:?} {other:?}"
    );
    assert_eq!(p.policy_rev().expect("rev"), other.rev);
    let err = p.policy_add(&new("base", "p/a", "{}"), "cli", 40);
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    let h = p.policy_history("base").expect("history");
    assert_eq!(h, vec![v1.clone(), v2.clone()]);
    assert_eq!(h[1].body, "{\"a\":2}");
    assert_eq!(h[1].actor, "ana");
    assert!(p.policy_history("nope").expect("none").is_empty());
    let latest = p.policies_latest().expect("latest");
    assert_eq!(latest, vec![v2, other]);
    let adds = s
        .audit_log()
        .expect("audit")
        .into_iter()
        .filter(|e| e.2 == "policy.add")
        .count();
    assert_eq!(adds, 3, "the refused version is not audited");
}

/// Assignments need a known agency and policy, take growing revisions, and an unassignment
/// keeps its row (so an agency's bundle version never goes back).
pub(crate) fn policy_assignments_take_growing_revisions_with_audit(s: &dyn Store) {
    seed(s);
    let p = s.policies();
    p.policy_add(&new("base", "", "{}"), "cli", 1).expect("add");
    let unknown = p.policy_assign("p/zz", Some("base"), "cli", 2);
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
    let unknown = p.policy_assign("p/a", Some("zz"), "cli", 2);
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
    let r1 = p
        .policy_assign("p", Some("base"), "cli", 3)
        .expect("assign");
    let r2 = p
        .policy_assign("p/a", Some("base"), "ana", 4)
        .expect("assign");
    let r3 = p.policy_assign("p/a", None, "ana", 5).expect("unassign");
    assert!(r1 < r2 && r2 < r3, "{r1} {r2} {r3}");
    let rows = p.policy_assignments().expect("rows");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].agency.as_str(), rows[0].policy.as_deref()),
        ("p", Some("base"))
    );
    assert_eq!(
        (
            rows[1].agency.as_str(),
            rows[1].policy.as_deref(),
            rows[1].rev
        ),
        ("p/a", None, r3)
    );
    assert_eq!(p.policy_rev().expect("rev"), r3);
    let log = s.audit_log().expect("audit");
    let actions: Vec<&str> = log
        .iter()
        .filter(|e| e.2.starts_with("policy."))
        .map(|e| e.2.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "policy.add",
            "policy.assign",
            "policy.assign",
            "policy.unassign"
        ]
    );
}

/// The applied version a host reports is kept per agent, the newest report wins.
pub(crate) fn applied_policy_versions_are_recorded_per_agent(s: &dyn Store) {
    seed(s);
    let p = s.policies();
    assert!(p.policy_applied().expect("none").is_empty());
    p.policy_applied_set("a1", 3, 100).expect("set");
    p.policy_applied_set("a2", 1, 100).expect("set");
    p.policy_applied_set("a1", 5, 200).expect("set");
    // The same version again keeps the time it was first reported.
    p.policy_applied_set("a1", 5, 300).expect("set");
    let got: Vec<(String, i64, i64)> = p
        .policy_applied()
        .expect("list")
        .into_iter()
        .map(|a| (a.agent_id, a.version, a.reported_at))
        .collect();
    assert_eq!(got, [("a1".into(), 5, 200), ("a2".into(), 1, 100)]);
}

/// The bundle version of `agency`: the highest revision among the assignment rows on its path.
fn path_version(s: &dyn Store, agency: &str) -> i64 {
    s.policies()
        .policy_assignments()
        .expect("rows")
        .iter()
        .filter(|r| {
            agency == r.agency
                || agency
                    .strip_prefix(r.agency.as_str())
                    .is_some_and(|t| t.starts_with('/'))
        })
        .map(|r| r.rev)
        .max()
        .unwrap_or(0)
}

/// An agency's assignment row as `(policy, rev)`, if it has one.
fn row(s: &dyn Store, agency: &str) -> Option<(Option<String>, i64)> {
    s.policies()
        .policy_assignments()
        .expect("rows")
        .into_iter()
        .find(|r| r.agency == agency)
        .map(|r| (r.policy, r.rev))
}

/// Assignments (and policy scopes) follow an agency that moves, in the same transaction: a
/// new agency created at the old path has none, and the moved hosts' bundle version still
/// grows. A dissolved agency's own assignment ends with it (its hosts take the parent's
/// policy, at a higher version); its children's follow them.
pub(crate) fn policy_assignments_follow_agency_moves_and_dissolutions(s: &dyn Store) {
    seed(s);
    for (id, level) in [("q", 2), ("p/a/x", 3)] {
        s.agency_add(&Agency {
            id: id.into(),
            name: id.into(),
            level,
        })
        .expect("agency");
    }
    let p = s.policies();
    p.policy_add(&new("top", "", "{}"), "cli", 1).expect("add");
    p.policy_add(&new("pa", "p/a", "{}"), "cli", 1)
        .expect("add");
    p.policy_assign("p", Some("top"), "cli", 2).expect("assign");
    p.policy_assign("p/a", Some("pa"), "cli", 3)
        .expect("assign");
    p.policy_assign("p/a/x", Some("pa"), "cli", 4)
        .expect("assign");
    let before = path_version(s, "p/a/x");
    assert_eq!(before, p.policy_rev().expect("rev"));

    s.agency_move("p/a", "q/a", "admin", 10).expect("move");
    assert_eq!(row(s, "p/a"), None);
    assert_eq!(row(s, "p/a/x"), None);
    let (policy, moved_rev) = row(s, "q/a").expect("the assignment followed");
    assert_eq!(policy.as_deref(), Some("pa"));
    assert_eq!(row(s, "q/a/x").and_then(|r| r.0).as_deref(), Some("pa"));
    assert!(moved_rev > before, "{moved_rev} > {before}");
    assert!(path_version(s, "q/a/x") > before);
    assert_eq!(row(s, "p").and_then(|r| r.0).as_deref(), Some("top"));
    let scopes: Vec<String> = p
        .policy_history("pa")
        .expect("history")
        .into_iter()
        .map(|v| v.scope)
        .collect();
    assert_eq!(scopes, ["q/a"], "the policy's scope followed too");

    // A new agency at the old path starts with no assignment of its own.
    s.agency_add(&Agency {
        id: "p/a".into(),
        name: "new A".into(),
        level: 3,
    })
    .expect("re-created");
    assert_eq!(row(s, "p/a"), None);
    assert_eq!(path_version(s, "p/a"), row(s, "p").expect("p's row").1);

    // Dissolving q/a: q/a/x becomes q/x with its assignment; q/a's own ends; q takes a newer
    // revision so the hosts handed to it are offered a higher version.
    let before = path_version(s, "q/a/x");
    s.agency_dissolve("q/a", "admin", 20).expect("dissolve");
    assert_eq!(row(s, "q/a"), None);
    assert_eq!(row(s, "q/x").and_then(|r| r.0).as_deref(), Some("pa"));
    let (policy, rev) = row(s, "q").expect("q's row");
    assert_eq!(policy, None, "q has no policy of its own");
    assert!(rev > before, "{rev} > {before}");
    assert!(path_version(s, "q/x") > before);
}
