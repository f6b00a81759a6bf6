//! Backend-independent store tests of issue 17 (hostile agents, stale scopes): every backend
//! must pass all of them. Run from [`super::suite::run_all`].

use super::suite::agent;
use super::*;

/// Runs every test of this file against fresh, empty stores.
pub(crate) fn run_all(make: &dyn Fn() -> Box<dyn Store>) {
    user_scopes_follow_their_agency_when_it_moves(&*make());
    dissolving_an_agency_rescopes_or_disables_its_users(&*make());
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

fn user_scopes_follow_their_agency_when_it_moves(s: &dyn Store) {
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

fn dissolving_an_agency_rescopes_or_disables_its_users(s: &dyn Store) {
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
