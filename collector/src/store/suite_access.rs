//! Backend-independent store tests of access (users, sessions, API tokens, enrollment
//! tokens), of the audit log and of the alert feed read by the notifier: every backend must pass all of them. Each is a test per
//! backend through [`super::suite::store_cases`].

use super::suite::seed;
use super::*;

fn user(name: &str, role: UserRole, scope: &str) -> User {
    User {
        name: name.into(),
        password_hash: format!("$argon2id$stand-in-for-{name}"),
        role,
        scope: scope.into(),
        created_at: 5,
        disabled: false,
    }
}

pub(crate) fn users_sessions_and_api_tokens(s: &dyn Store) {
    s.user_add(&user("viet", UserRole::Viewer, "p/a"), "cli", 10)
        .expect("add");
    s.user_add(&user("an", UserRole::Admin, ""), "cli", 11)
        .expect("add");
    assert!(matches!(
        s.user_add(&user("an", UserRole::Viewer, "p"), "cli", 12),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.user("an").expect("get"),
        Some(user("an", UserRole::Admin, ""))
    );
    assert_eq!(s.user("nobody").expect("get"), None);
    let names: Vec<_> = s
        .users()
        .expect("list")
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["an", "viet"]);

    let sess = SessionRecord {
        id_hash: "h1".into(),
        user: "viet".into(),
        csrf: "c1".into(),
        expires_at: 100,
    };
    s.session_add(&sess).expect("session");
    s.session_add(&SessionRecord {
        id_hash: "old".into(),
        expires_at: 20,
        ..sess.clone()
    })
    .expect("session");
    assert_eq!(s.session("h1", 99).expect("get"), Some(sess.clone()));
    assert_eq!(s.session("h1", 100).expect("get"), None, "expired");
    assert_eq!(s.session("nope", 0).expect("get"), None);
    assert!(s.session_delete("h1", 50).expect("delete"));
    assert!(!s.session_delete("h1", 50).expect("delete twice"));
    assert_eq!(
        s.session("old", 0).expect("get"),
        None,
        "expired ones are swept"
    );

    s.session_add(&sess).expect("session again");
    assert!(s.user_disable("viet", "admin-an", 30).expect("disable"));
    assert!(!s.user_disable("nobody", "admin-an", 30).expect("disable"));
    assert!(s.user("viet").expect("get").is_some_and(|u| u.disabled));
    assert_eq!(
        s.session("h1", 0).expect("get"),
        None,
        "disabling ends sessions"
    );

    let tok = ApiTokenRecord {
        id: "t1".into(),
        secret_hash: "sh1".into(),
        user: "an".into(),
        created_at: 40,
        revoked: false,
    };
    s.api_token_add(&tok, "cli", 40).expect("token");
    assert_eq!(s.api_token("sh1").expect("get"), Some(tok.clone()));
    assert_eq!(s.api_token("t1").expect("looked up by hash only"), None);
    assert!(matches!(
        s.api_token_add(
            &ApiTokenRecord {
                id: "t2".into(),
                secret_hash: "sh2".into(),
                user: "ghost".into(),
                ..tok
            },
            "cli",
            41
        ),
        Err(StoreError::NotFound(_))
    ));
    let log: Vec<_> = s
        .audit_log()
        .expect("audit")
        .into_iter()
        .map(|(_, actor, action, _)| format!("{actor} {action}"))
        .collect();
    assert_eq!(
        log,
        [
            "cli user.add",
            "cli user.add",
            "admin-an user.disable",
            "cli api_token.create"
        ]
    );
}

pub(crate) fn api_tokens_are_listed_and_revoked_with_audit(s: &dyn Store) {
    s.user_add(&user("an", UserRole::Admin, ""), "cli", 1)
        .expect("add");
    s.user_add(&user("bo", UserRole::Viewer, "p/a"), "cli", 1)
        .expect("add");
    let tok = |id: &str, user: &str, at: i64| ApiTokenRecord {
        id: id.into(),
        secret_hash: format!("hash-{id}"),
        user: user.into(),
        created_at: at,
        revoked: false,
    };
    for t in [
        tok("t2", "bo", 20),
        tok("t1", "an", 10),
        tok("t3", "an", 20),
    ] {
        s.api_token_add(&t, "cli", t.created_at).expect("token");
    }
    let ids = |s: &dyn Store| -> Vec<(String, bool)> {
        s.api_tokens()
            .expect("list")
            .into_iter()
            .map(|t| (t.id, t.revoked))
            .collect()
    };
    assert_eq!(
        ids(s),
        [
            ("t1".into(), false),
            ("t2".into(), false),
            ("t3".into(), false)
        ]
    );
    assert!(s.api_token_revoke("t2", "an", 30).expect("revoke"));
    assert!(
        !s.api_token_revoke("t2", "an", 31).expect("twice"),
        "a revoked token is not revoked again"
    );
    assert!(!s.api_token_revoke("nope", "an", 31).expect("unknown"));
    assert_eq!(
        s.api_token("hash-t2").expect("get").map(|t| t.revoked),
        Some(true)
    );
    assert_eq!(ids(s)[1], ("t2".into(), true));
    let log = s.audit_log().expect("audit");
    let revokes: Vec<_> = log
        .iter()
        .filter(|(_, _, action, _)| action == "api_token.revoke")
        .collect();
    assert_eq!(revokes.len(), 1, "only the real revocation is audited");
    assert_eq!(revokes[0].0, 30);
    assert_eq!(revokes[0].1, "an");
    assert_eq!(revokes[0].3, serde_json::json!({"id": "t2", "user": "bo"}));
    // Disabling records the user's scope, so the audit view can filter by agency.
    assert!(s.user_disable("bo", "an", 40).expect("disable"));
    let last = s.audit_log().expect("audit").pop().expect("entry");
    assert_eq!(last.3, serde_json::json!({"name": "bo", "scope": "p/a"}));
}

pub(crate) fn audit_pages_go_newest_first(s: &dyn Store) {
    assert!(s.audit_page(None, 10).expect("empty").is_empty());
    for i in 0..5 {
        s.audit(
            "cli",
            &format!("a.{i}"),
            &serde_json::json!({"i": i}),
            100 + i,
        )
        .expect("audit");
    }
    let first = s.audit_page(None, 2).expect("page");
    let actions: Vec<_> = first.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["a.4", "a.3"]);
    assert_eq!(first[0].at, 104);
    assert_eq!(first[0].detail, serde_json::json!({"i": 4}));
    assert!(first[0].id > first[1].id);
    let next = s.audit_page(Some(first[1].id), 10).expect("page");
    let actions: Vec<_> = next.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["a.2", "a.1", "a.0"]);
    assert!(
        s.audit_page(Some(next[2].id), 10)
            .expect("past the end")
            .is_empty()
    );
    assert!(s.audit_page(None, 0).expect("zero").is_empty());
}

/// Reports read one action of the audit log in a time range (`from <= at < to`), oldest first,
/// through the `(action, at)` index rather than the whole log.
pub(crate) fn audit_is_read_by_action_and_time_range(s: &dyn Store) {
    assert!(
        s.audit_range("alert.state", 0, i64::MAX)
            .expect("empty")
            .is_empty()
    );
    for (at, action) in [
        (100, "alert.state"),
        (150, "alert.reopened"),
        (200, "alert.state"),
        (300, "alert.state"),
        (250, "user.add"),
    ] {
        s.audit("cli", action, &serde_json::json!({"at": at}), at)
            .expect("audit");
    }
    let at = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.at).collect::<Vec<_>>();
    assert_eq!(
        at(s.audit_range("alert.state", 100, 300).expect("range")),
        [100, 200]
    );
    assert_eq!(
        at(s.audit_range("alert.state", 101, 301).expect("range")),
        [200, 300]
    );
    assert_eq!(
        at(s.audit_range("alert.state", i64::MIN, i64::MAX)
            .expect("all")),
        [100, 200, 300]
    );
    assert_eq!(
        at(s.audit_range("alert.reopened", 0, 1000).expect("other")),
        [150]
    );
    assert!(
        s.audit_range("alert.state", 300, 300)
            .expect("empty range")
            .is_empty()
    );
    assert!(
        s.audit_range("alert.state", 400, 100)
            .expect("reversed range")
            .is_empty()
    );
    let e = &s.audit_range("user.add", 0, 1000).expect("one")[0];
    assert_eq!((e.actor.as_str(), e.action.as_str()), ("cli", "user.add"));
    assert_eq!(e.detail, serde_json::json!({"at": 250}));
}

/// `tokens()` lists by creation time, then id, on every backend (SQLite once listed tokens of
/// the same second in insertion order).
pub(crate) fn tokens_are_listed_by_creation_then_id(s: &dyn Store) {
    seed(s);
    for (id, created_at) in [("t-c", 5), ("t-b", 7), ("t-a", 7), ("t-d", 1)] {
        s.token_add(&TokenRecord {
            id: id.into(),
            secret_hash: format!("h-{id}"),
            agency: "p/a".into(),
            created_at,
            expires_at: 100,
            max_uses: 1,
            uses: 0,
            revoked: false,
            simulated: false,
        })
        .expect("add");
    }
    let ids: Vec<String> = s
        .tokens()
        .expect("list")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["t-d", "t-c", "t-a", "t-b"]);
}

/// The one rule of token use, as `token list` shows it.
#[test]
fn token_refusal_is_one_rule() {
    let t = TokenRecord {
        id: "t".into(),
        secret_hash: "h".into(),
        agency: "p".into(),
        created_at: 0,
        expires_at: 10,
        max_uses: 2,
        uses: 1,
        revoked: false,
        simulated: false,
    };
    assert_eq!(t.refusal(9), None);
    assert_eq!(t.refusal(10), Some(TokenRefusal::Expired));
    let used = TokenRecord {
        uses: 2,
        ..t.clone()
    };
    assert_eq!(used.refusal(0), Some(TokenRefusal::UsedUp));
    let revoked = TokenRecord {
        revoked: true,
        ..used
    };
    assert_eq!(revoked.refusal(99), Some(TokenRefusal::Revoked));
    let labels: Vec<_> = [
        TokenRefusal::Revoked,
        TokenRefusal::Expired,
        TokenRefusal::UsedUp,
    ]
    .map(TokenRefusal::label)
    .into();
    assert_eq!(labels, ["revoked", "expired", "used up"]);
}

pub(crate) fn new_alerts_are_read_in_creation_order_after_a_cursor(s: &dyn Store) {
    let alert = |key: &str| NewAlert {
        key: key.into(),
        kind: "ioc_hit".into(),
        severity: vigil_proto::Severity::Critical,
        agent_id: "a1".into(),
        title: format!("t {key}"),
        params: [("indicator".to_owned(), serde_json::json!(key))]
            .into_iter()
            .collect(),
        other_agency: None,
    };
    assert!(s.alerts_after(0, 10).expect("empty").is_empty());
    let ids: Vec<i64> = ["k1", "k2", "k3"]
        .iter()
        .map(|k| s.alert_raise(&alert(k), 10).expect("raise").0)
        .collect();
    // A repeat counts on its alert and is not a new one for the feed.
    s.alert_raise(&alert("k1"), 20).expect("repeat");
    let all = s.alerts_after(0, 10).expect("all");
    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[2].params["indicator"], serde_json::json!("k3"));
    let page = s.alerts_after(ids[0], 1).expect("page");
    assert_eq!(page.iter().map(|a| a.id).collect::<Vec<_>>(), [ids[1]]);
    assert!(s.alerts_after(ids[2], 10).expect("after last").is_empty());
}

/// Notifications are claimed once per alert and recipient across the collectors sharing the
/// database; the holder's claim stays its own (a restart claims again), the others lose.
pub(crate) fn notification_claims_go_to_the_first_notifier(s: &dyn Store) {
    assert!(s.notify_claim(7, "soc", "collector-a", 1).expect("claim"));
    assert!(!s.notify_claim(7, "soc", "collector-b", 2).expect("second"));
    assert!(s.notify_claim(7, "soc", "collector-a", 3).expect("again"));
    assert!(
        s.notify_claim(7, "mail", "collector-b", 4)
            .expect("another recipient")
    );
    assert!(
        s.notify_claim(8, "soc", "collector-b", 5)
            .expect("another alert")
    );
}
