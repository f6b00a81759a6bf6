//! `/metrics` over `oneshot`: who may read it, and what it answers.

use axum::http::{StatusCode, header};

use super::super::tests::{Auth, call, fixture, login};
use crate::store::Store as _;

#[tokio::test]
async fn anonymous_and_forged_clients_get_401_and_no_metrics() {
    let f = fixture();
    let forged = format!("vigil-api.{}", crate::auth::new_secret());
    for auth in [
        Auth::None,
        Auth::Bearer(&forged),
        Auth::Bearer(""),
        Auth::Cookie(&forged, None),
    ] {
        let (st, v, h) = call(&f.app, "GET", "/metrics", auth, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(v["error"], "authentication required");
        assert!(
            !v.to_string().contains("vigil_collector_"),
            "no metric leaks in a refusal: {v}"
        );
        assert_ne!(
            h.get(header::CONTENT_TYPE).and_then(|c| c.to_str().ok()),
            Some(crate::metrics::CONTENT_TYPE)
        );
    }
}

#[tokio::test]
async fn a_revoked_token_and_a_user_of_one_agency_are_refused() {
    let f = fixture();
    let (text, rec) =
        crate::auth::create_api_token(&*f.store, "root", "test", 1).expect("api token");
    let (st, _, _) = call(&f.app, "GET", "/metrics", Auth::Bearer(&text), None).await;
    assert_eq!(st, StatusCode::OK);
    f.store
        .api_token_revoke(&rec.id, "test", 2)
        .expect("revoke");
    let (st, _, _) = call(&f.app, "GET", "/metrics", Auth::Bearer(&text), None).await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "a revoked token reads nothing"
    );

    let (cookie, _) = login(&f.app, "adm-a").await;
    let (st, v, _) = call(&f.app, "GET", "/metrics", Auth::Cookie(&cookie, None), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("whole organisation"))
    );
}

#[tokio::test]
async fn a_whole_organisation_token_reads_prometheus_text_that_counts_responses() {
    let f = fixture();
    let (text, _) = crate::auth::create_api_token(&*f.store, "root", "test", 1).expect("token");
    // A 404 first, so its status code is counted before the scrape.
    let (st, _, _) = call(&f.app, "GET", "/nothing-here", Auth::None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body, h) = call(&f.app, "GET", "/metrics", Auth::Bearer(&text), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        h.get(header::CONTENT_TYPE).and_then(|c| c.to_str().ok()),
        Some(crate::metrics::CONTENT_TYPE)
    );
    assert_eq!(
        h.get(header::CACHE_CONTROL).and_then(|c| c.to_str().ok()),
        Some("no-store")
    );
    let body = body.as_str().expect("text body").to_owned();
    let n404 = body
        .lines()
        .find_map(|l| l.strip_prefix("vigil_collector_http_responses_total{code=\"404\"} "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("404 responses counted");
    assert!(n404 >= 1.0, "{body}");
    for family in [
        "vigil_collector_batches_total",
        "vigil_collector_store_seconds_bucket",
        "vigil_collector_live_sessions",
        "vigil_collector_handshake_refusals_total",
        "vigil_collector_score_recompute_seconds_count",
    ] {
        assert!(body.contains(family), "{family} missing:\n{body}");
    }
}
