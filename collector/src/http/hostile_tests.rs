//! Attacks on the HTTP surface of issue 17, against the real router and a real store: stale
//! scopes after an agency moves, concurrent wrong logins, unbounded report work.

use std::sync::Arc;

use axum::http::StatusCode;

use super::admin::tests::login_from;
use super::tests::{PW, fixture, get, ids, login};
use crate::store::{Agency, Store as _};

/// Runs `n` logins of `name` with `pw`, at most `parallel` at once, the i-th from `from(i)`.
async fn logins(
    app: &axum::Router,
    n: usize,
    parallel: usize,
    from: impl Fn(usize) -> [u8; 4],
    name: impl Fn(usize) -> &'static str,
    pw: &str,
) -> Vec<StatusCode> {
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.expect("gate");
        let (app, ip, name, pw) = (app.clone(), from(i), name(i), pw.to_owned());
        tasks.spawn(async move {
            let _p = permit;
            login_from(&app, ip, name, &pw).await.0
        });
    }
    tasks.join_all().await
}

fn count(v: &[StatusCode], s: StatusCode) -> usize {
    v.iter().filter(|&&x| x == s).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_wrong_logins_get_five_password_checks() {
    let f = fixture();
    let got = logins(
        &f.app,
        200,
        100,
        |_| [192, 0, 2, 66],
        |_| "ana",
        "wrong password!",
    )
    .await;
    assert_eq!(count(&got, StatusCode::UNAUTHORIZED), 5, "{got:?}");
    assert_eq!(
        count(&got, StatusCode::TOO_MANY_REQUESTS),
        195,
        "the rest refused before any hash ran: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_for_one_name_does_not_lock_it_out_of_its_usual_address() {
    let f = fixture();
    let (st, _) = login_from(&f.app, [10, 0, 0, 1], "root", PW).await;
    assert_eq!(st, StatusCode::OK, "the admin's workstation");
    // Wrong passwords for `root` from a hundred addresses.
    let got = logins(
        &f.app,
        100,
        50,
        |i| [203, 0, 113, i as u8],
        |_| "root",
        "guess",
    )
    .await;
    assert!(count(&got, StatusCode::UNAUTHORIZED) <= 20, "{got:?}");
    let (st, _) = login_from(&f.app, [10, 0, 0, 99], "root", PW).await;
    assert_eq!(
        st,
        StatusCode::TOO_MANY_REQUESTS,
        "an unknown address waits"
    );
    let (st, _) = login_from(&f.app, [10, 0, 0, 1], "root", PW).await;
    assert_eq!(
        st,
        StatusCode::OK,
        "the admin still logs in from their workstation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_checks_run_at_most_two_at_a_time() {
    let f = fixture();
    let users = ["root", "adm-a", "ana", "vie"];
    let got = logins(
        &f.app,
        60,
        60,
        |i| [198, 18, 0, i as u8],
        |i| users[i % 4],
        PW,
    )
    .await;
    assert!(
        got.iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::SERVICE_UNAVAILABLE),
        "{got:?}"
    );
    assert!(count(&got, StatusCode::OK) > 0);
    assert!(f.hasher.peak() <= 2, "{}", f.hasher.peak());
}

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

#[tokio::test]
async fn reports_are_bounded_in_period_and_in_generations_at_once() {
    let f = fixture();
    let (root, _) = login(&f.app, "root").await;
    let (st, v, _) = get(
        &f.app,
        "/api/v1/reports?from=2016-01-01&to=2026-11-30&format=csv",
        &root,
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "ten years of history: {v}");
    // Two reports are being generated: a third caller is told to come back.
    let (a, b) = (f.report_slots.try_take(), f.report_slots.try_take());
    assert!(a.is_some() && b.is_some());
    let (st, v, h) = get(&f.app, "/api/v1/reports?period=2026-11&format=csv", &root).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(h.contains_key(axum::http::header::RETRY_AFTER));
    drop((a, b));
    let (st, v, _) = get(&f.app, "/api/v1/reports?period=2026-11&format=csv", &root).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}
