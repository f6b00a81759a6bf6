//! Store-suite cases of the export log and the SIEM outputs' cursors (issue 19); every backend
//! must pass all of them, through [`super::suite::store_cases`].

use vigil_proto::Severity;

use super::export::{ExportEvent, ExportSource, ExportStore, LogPos};
use super::suite::{agent, env, seed};
use super::*;

fn alert(key: &str) -> NewAlert {
    NewAlert {
        key: key.into(),
        kind: "ioc_hit".into(),
        severity: Severity::Critical,
        agent_id: "a1".into(),
        title: format!("title {key}"),
        params: AlertParams::new(),
        other_agency: None,
    }
}

/// What the events are, in log order: `f<seq>` for findings, `a<id>:<state>` for alerts.
fn labels(events: &[ExportEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.source {
            ExportSource::Finding(f) => format!("f{}", f.seq),
            ExportSource::Alert(a) => format!("a{}:{}", a.id, a.state.as_str()),
            ExportSource::Unreadable(why) => format!("?{why}"),
        })
        .collect()
}

/// [`ExportStore::export_next`] once at least `want` events are final: on PostgreSQL a row is
/// final when every transaction older than it ended, and tests running in parallel on the same
/// server hold transactions open for a moment (bounded wait).
fn next(x: &dyn ExportStore, name: &str, limit: usize, want: usize) -> Vec<ExportEvent> {
    for _ in 0..200 {
        let ev = x.export_next(name, limit).expect("next");
        if ev.len() >= want {
            return ev;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    x.export_next(name, limit).expect("next")
}

fn with_output(s: &dyn Store) {
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    s.exports().export_register("siem", 1).expect("register");
    assert!(
        s.exports()
            .export_claim("siem", "me", 1, 100)
            .expect("claim")
    );
}

/// Stored findings and alert changes are logged in commit order with the host's agency; a
/// replayed finding and a repeat of an open alert are not logged again.
pub(crate) fn export_log_follows_findings_and_alert_changes_in_order(s: &dyn Store) {
    with_output(s);
    let x = s.exports();
    s.ingest("a1", &[env(1), env(2)], 5_000).expect("ingest");
    let (id, new) = s.alert_raise(&alert("k"), 6).expect("raise");
    assert!(new);
    s.ingest("a1", &[env(2), env(3)], 7_000)
        .expect("replay + new");
    s.alert_raise(&alert("k"), 8)
        .expect("repeat of an open alert: no state change");
    s.alert_set_state(id, AlertState::Resolved, "ana", Some("fixed"), 9)
        .expect("resolve");
    let ev = next(x, "siem", 100, 5);
    assert_eq!(
        labels(&ev),
        [
            "f1",
            "f2",
            &format!("a{id}:open"),
            "f3",
            &format!("a{id}:resolved")
        ]
    );
    assert!(
        ev.windows(2).all(|w| w[0].pos < w[1].pos),
        "positions increase"
    );
    let first = &ev[0];
    assert_eq!(
        (first.agency.as_deref(), first.hostname.as_deref(), first.at),
        (Some("p/a"), Some("host-a1"), 5_000)
    );
    let ExportSource::Alert(a) = &ev[4].source else {
        panic!("alert expected: {ev:?}")
    };
    assert_eq!(
        (a.reason.as_deref(), a.severity),
        (Some("fixed"), Severity::Critical)
    );
    assert_eq!(a.title, "title k");
    assert_eq!(
        labels(&next(x, "siem", 2, 2)),
        ["f1", "f2"],
        "the limit bounds a read"
    );
}

/// A new output sees only what happens after it was registered; its cursor survives
/// re-registration and moves only forward, for the lease owner.
pub(crate) fn export_outputs_start_at_the_end_and_keep_their_cursor(s: &dyn Store) {
    with_output(s);
    let x = s.exports();
    s.ingest("a1", &[env(1), env(2), env(3)], 5_000)
        .expect("ingest");
    x.export_register("late", 2).expect("second output");
    assert!(x.export_claim("late", "me", 2, 100).expect("claim"));
    assert!(x.export_next("late", 10).expect("next").is_empty());
    s.ingest("a1", &[env(4)], 6_000).expect("ingest");
    assert_eq!(labels(&next(x, "late", 10, 1)), ["f4"]);

    let ev = next(x, "siem", 2, 2);
    let to = ev[1].pos;
    assert!(x.export_commit("siem", "me", to, 2, 0).expect("commit"));
    x.export_register("siem", 3)
        .expect("registering again changes nothing");
    assert_eq!(labels(&next(x, "siem", 10, 2)), ["f3", "f4"]);
    assert!(
        !x.export_commit("siem", "me", ev[0].pos, 0, 0)
            .expect("back"),
        "a cursor never moves back"
    );
    assert!(
        !x.export_commit(
            "siem",
            "other",
            LogPos {
                tx: i64::MAX,
                id: 0
            },
            1,
            0
        )
        .expect("x")
    );
    let st = x.export_outputs().expect("outputs");
    let siem = st.iter().find(|o| o.name == "siem").expect("siem");
    assert_eq!((siem.cursor, siem.sent, siem.dropped), (to, 2, 0));
    assert_eq!(st.len(), 2);
}

/// Only one collector at a time sends an output: the lease is refused to another owner until it
/// ends, and then taken over with the cursor.
pub(crate) fn export_lease_keeps_a_second_collector_out(s: &dyn Store) {
    with_output(s);
    let x = s.exports();
    assert!(x.export_claim("siem", "me", 50, 150).expect("renew"));
    assert!(
        !x.export_claim("siem", "other", 149, 250)
            .expect("live lease")
    );
    assert!(!x.export_claim("nope", "me", 1, 2).expect("unknown output"));
    s.ingest("a1", &[env(1)], 5_000).expect("ingest");
    let ev = next(x, "siem", 10, 1);
    assert!(
        !x.export_commit("siem", "other", ev[0].pos, 1, 0)
            .expect("not the owner")
    );
    assert!(
        x.export_claim("siem", "other", 151, 250)
            .expect("lease ended")
    );
    assert!(
        !x.export_commit("siem", "me", ev[0].pos, 1, 0)
            .expect("lost the lease")
    );
    assert!(
        x.export_commit("siem", "other", ev[0].pos, 1, 0)
            .expect("new owner")
    );
}

/// The backlog bound skips the oldest events (by count and by age) and counts them as dropped.
pub(crate) fn export_trim_bounds_the_backlog_by_count_and_age(s: &dyn Store) {
    with_output(s);
    let x = s.exports();
    for seq in 1..=10_u64 {
        s.ingest("a1", &[env(seq)], 1_000 * seq as i64)
            .expect("ingest");
    }
    assert_eq!(next(x, "siem", 100, 10).len(), 10);
    assert_eq!(x.export_trim("siem", "other", 0, 3).expect("not owner"), 0);
    assert_eq!(x.export_trim("siem", "me", 0, 20).expect("within bound"), 0);
    assert_eq!(x.export_trim("siem", "me", 0, 7).expect("keep 7"), 3);
    assert_eq!(labels(&next(x, "siem", 1, 1)), ["f4"]);
    // Logged before 6 000 ms: f4 and f5 are too old.
    assert_eq!(x.export_trim("siem", "me", 6_000, 100).expect("age"), 2);
    assert_eq!(
        labels(&next(x, "siem", 100, 5)),
        ["f6", "f7", "f8", "f9", "f10"]
    );
    let st = x.export_outputs().expect("outputs");
    assert_eq!((st[0].dropped, st[0].sent), (5, 0));
}

/// `export status`: each output's backlog (logged after its cursor) and its last failed send,
/// recorded by the lease owner only.
pub(crate) fn export_status_shows_backlog_and_last_error(s: &dyn Store) {
    with_output(s);
    let x = s.exports();
    let st = x.export_outputs().expect("outputs");
    assert_eq!(
        (
            st[0].backlog,
            st[0].last_error.as_str(),
            st[0].last_error_at
        ),
        (0, "", 0)
    );
    s.ingest("a1", &[env(1), env(2), env(3)], 5_000)
        .expect("ingest");
    let ev = next(x, "siem", 100, 3);
    assert_eq!(x.export_outputs().expect("outputs")[0].backlog, 3);
    assert!(
        x.export_commit("siem", "me", ev[0].pos, 1, 0)
            .expect("commit")
    );
    assert_eq!(x.export_outputs().expect("outputs")[0].backlog, 2);
    x.export_note_error("siem", "me", "connection refused", 42)
        .expect("note");
    x.export_note_error("siem", "other", "not the owner", 43)
        .expect("note by another");
    let st = x.export_outputs().expect("outputs");
    assert_eq!(
        (st[0].last_error.as_str(), st[0].last_error_at),
        ("connection refused", 42)
    );
}

/// Pruning deletes log rows every output has passed and forgets outputs no collector leases
/// any more; with no output left the log stops growing.
pub(crate) fn export_prune_deletes_what_every_output_passed(s: &dyn Store) {
    with_output(s);
    let x = s.exports();
    x.export_register("b", 1).expect("second");
    assert!(x.export_claim("b", "me", 1, 100).expect("claim"));
    s.ingest("a1", &[env(1), env(2)], 5_000).expect("ingest");
    let ev = next(x, "siem", 10, 2);
    assert!(
        x.export_commit("siem", "me", ev[1].pos, 2, 0)
            .expect("commit")
    );
    assert_eq!(
        x.export_prune(0).expect("prune"),
        0,
        "b has not passed them"
    );
    assert!(x.export_commit("b", "me", ev[0].pos, 1, 0).expect("commit"));
    assert_eq!(x.export_prune(0).expect("prune"), 1);
    assert_eq!(labels(&next(x, "b", 10, 1)), ["f2"]);
    assert!(x.export_claim("siem", "me", 200, 300).expect("renew"));
    assert_eq!(x.export_prune(150).expect("forget b"), 1);
    let names: Vec<String> = x
        .export_outputs()
        .expect("o")
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["siem"]);
    assert_eq!(x.export_prune(400).expect("forget siem"), 0);
    assert!(x.export_outputs().expect("o").is_empty());
    s.ingest("a1", &[env(3)], 9_000).expect("ingest");
    x.export_register("c", 500).expect("register");
    assert_eq!(
        x.export_prune(0).expect("prune"),
        0,
        "nothing was logged without outputs (c starts at the end of an empty log)"
    );
}
