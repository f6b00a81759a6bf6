//! Backend-independent cases of heartbeats (`agent_seen`), run on every backend through
//! `store_cases!`.

use super::suite::{agent, seed};
use super::*;

/// `last_seen` only moves forward; a field not given keeps its value; a revoked agent keeps
/// everything as it was.
pub(crate) fn heartbeats_move_last_seen_forward_and_keep_what_is_not_given(s: &dyn Store) {
    seed(s);
    s.agent_enroll(&agent("a1", "m1"), 1).expect("enroll");
    let hb = |spool_depth, clock_skew_ms| {
        Some(Heartbeat {
            spool_depth,
            clock_skew_ms,
        })
    };
    let seen = |s: &dyn Store| {
        let a = s.agent("a1").expect("get").expect("a1");
        (a.last_seen, a.agent_version, a.spool_depth, a.clock_skew_ms)
    };
    s.agent_seen("a1", 20, Some("0.3.0"), hb(4, -7))
        .expect("seen");
    assert_eq!(seen(s), (20, "0.3.0".into(), 4, -7));
    s.agent_seen("a1", 10, None, None).expect("older");
    assert_eq!(seen(s), (20, "0.3.0".into(), 4, -7));
    s.agent_seen("a1", 30, None, hb(0, 2)).expect("heartbeat");
    assert_eq!(seen(s), (30, "0.3.0".into(), 0, 2));
    s.agent_seen("a1", 40, Some("0.4.0"), None)
        .expect("version");
    assert_eq!(seen(s), (40, "0.4.0".into(), 0, 2));
    s.agent_seen("nope", 50, Some("1"), hb(1, 1))
        .expect("unknown is no error");
    assert!(s.agent_revoke("a1", "cli", 45).expect("revoke"));
    s.agent_seen("a1", 60, Some("9.9"), hb(9, 9))
        .expect("revoked");
    assert_eq!(seen(s), (40, "0.4.0".into(), 0, 2));
}
