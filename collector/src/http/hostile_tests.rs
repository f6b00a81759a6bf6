//! Attacks on the HTTP surface of issue 17, against the real router and a real store: stale
//! scopes after an agency moves, concurrent wrong logins, unbounded report work.

use axum::http::StatusCode;

use super::tests::{fixture, get, ids, login};
use crate::store::{Agency, Store as _};

#[tokio::test]
async fn a_user_scoped_to_a_moved_agency_follows_it_and_never_sees_its_successor() {
    let f = fixture();
    let (cookie, _) = login(&f.app, "vie").await;
    f.store
        .agency_add(&Agency {
            id: "q".into(),
            name: "Q".into(),
            level: 1,
        })
        .expect("q");
    f.store.agency_move("p/a", "q/a", "cli", 5).expect("move");
    f.store
        .agency_add(&Agency {
            id: "p/a".into(),
            name: "A, re-created".into(),
            level: 2,
        })
        .expect("new p/a");
    let (st, me, _) = get(&f.app, "/api/v1/me", &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["scope"], "q/a");
    let (st, v, _) = get(&f.app, "/api/v1/agencies", &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ids(&v, "agencies", "id"), ["q/a"], "{v}");
    let (_, v, _) = get(&f.app, "/api/v1/hosts", &cookie).await;
    assert_eq!(
        ids(&v, "hosts", "agency"),
        ["q/a"],
        "its host came along: {v}"
    );
}
