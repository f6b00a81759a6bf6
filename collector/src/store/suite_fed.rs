//! Backend-independent store tests of federation (issue 19): every backend must pass all of
//! them, through [`super::suite::store_cases`].

use super::fed::{Downstream, Received};
use super::*;

fn downstream(id: &str, agency: &str) -> Downstream {
    Downstream {
        id: id.into(),
        agency: agency.into(),
        name: format!("collector {id}"),
        cert_serial: format!("serial-{id}"),
        enrolled_at: 10,
        revoked_at: 0,
        acked_seq: 0,
        last_received: 0,
    }
}

pub(crate) fn federation_tokens_are_marked(s: &dyn Store) {
    let f = s.federation();
    assert!(!f.fed_token_is("h1").expect("is"));
    f.fed_token_mark("h1").expect("mark");
    f.fed_token_mark("h1").expect("marking twice is harmless");
    assert!(f.fed_token_is("h1").expect("is"));
    assert!(!f.fed_token_is("h2").expect("is"));
}

pub(crate) fn summaries_are_idempotent_and_gaps_recorded(s: &dyn Store) {
    let f = s.federation();
    f.fed_downstream_add(&downstream("d1", "p/a")).expect("add");
    assert!(matches!(
        f.fed_receive("nobody", 1, "{}", "00", 20),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        f.fed_receive("d1", 1, "b1", "s1", 20).expect("1"),
        Received::Stored { gap: None }
    );
    assert_eq!(
        f.fed_receive("d1", 1, "other", "s", 21).expect("resend"),
        Received::Duplicate
    );
    assert_eq!(
        f.fed_receive("d1", 4, "b4", "s4", 22).expect("4"),
        Received::Stored { gap: Some((2, 3)) }
    );
    let latest = f.fed_latest().expect("latest");
    assert_eq!(latest.len(), 1);
    assert_eq!((latest[0].seq, latest[0].body.as_str()), (4, "b4"));
    assert_eq!(latest[0].downstream.acked_seq, 4);
    assert_eq!(latest[0].received_at, 22);
    let gaps = f.fed_gaps().expect("gaps");
    assert_eq!(gaps.len(), 1);
    assert_eq!((gaps[0].from_seq, gaps[0].to_seq), (2, 3));
    assert!(f.fed_downstream_revoke("d1", 30).expect("revoke"));
    assert!(!f.fed_downstream_revoke("d1", 31).expect("again"));
    assert!(matches!(
        f.fed_receive("d1", 5, "b5", "s5", 32),
        Err(StoreError::Revoked(_))
    ));
    assert!(
        f.fed_latest().expect("latest").is_empty(),
        "revoked: not shown"
    );
    assert_eq!(
        f.fed_downstream("d1").expect("get").map(|d| d.revoked_at),
        Some(30)
    );
}

pub(crate) fn the_spool_keeps_what_is_unacknowledged(s: &dyn Store) {
    let f = s.federation();
    assert_eq!(f.fed_spool_last().expect("last"), None);
    for i in 1..=3 {
        assert_eq!(
            f.fed_spool_push(&format!("b{i}"), "sig", i).expect("push"),
            i as u64
        );
    }
    let p = f.fed_spool_pending(0, 10).expect("pending");
    assert_eq!(p.iter().map(|x| x.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(f.fed_spool_pending(1, 1).expect("page")[0].seq, 2);
    f.fed_spool_ack(2).expect("ack");
    f.fed_spool_ack(1).expect("an older ack changes nothing");
    f.fed_spool_ack(99)
        .expect("an ack past the spool is ignored");
    let st = f.fed_spool_state().expect("state");
    assert_eq!((st.last_seq, st.acked_seq, st.dropped), (3, 2, 0));
    let p = f.fed_spool_pending(st.acked_seq, 10).expect("pending");
    assert_eq!(p.iter().map(|x| x.seq).collect::<Vec<_>>(), [3]);
    f.fed_spool_ack(3).expect("ack all");
    let last = f
        .fed_spool_last()
        .expect("last")
        .expect("newest row is kept");
    assert_eq!((last.seq, last.body.as_str()), (3, "b3"));
    assert!(f.fed_spool_pending(3, 10).expect("none").is_empty());
    assert_eq!(
        f.fed_spool_push("b4", "sig", 9).expect("next"),
        4,
        "seq survives pruning"
    );
}
