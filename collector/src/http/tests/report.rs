//! `GET /api/v1/report`: scope, attachments and the PDF.

use super::*;

#[tokio::test]
async fn reports_are_attachments_limited_to_the_callers_scope() {
    let f = fixture();
    let (vie, _) = login(&f.app, "vie").await;
    let (root, _) = login(&f.app, "root").await;
    // Outside the viewer's scope, or unknown: 404, as if it did not exist.
    for agency in ["p/b", "p", "p/zz"] {
        let (st, v, _) = get(
            &f.app,
            &format!("/api/v1/reports?agency={agency}&format=csv"),
            &vie,
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{agency}: {v}");
    }
    let (st, _, _) = get(&f.app, "/api/v1/reports?agency=p/zz", &root).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Without an agency the viewer gets their own subtree.
    let (st, body, h) = get(
        &f.app,
        "/api/v1/reports?format=csv&period=2026-11&lang=en",
        &vie,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(h[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        "attachment; filename=\"vigil-report-p-a-2026-11.csv\""
    );
    let csv = body.as_str().expect("text");
    assert!(csv.contains("\r\np/a,P/A,2,"), "{csv}");
    assert!(!csv.contains("p/b"), "{csv}");
    // The whole province for an unscoped user, as HTML with the hostile host name escaped.
    let (st, body, h) = get(
        &f.app,
        "/api/v1/reports?from=2026-11-01&to=2026-11-15",
        &root,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        "attachment; filename=\"vigil-report-all-2026-11-01_2026-11-15.html\""
    );
    let html = body.as_str().expect("text");
    assert!(html.contains("P/A") && html.contains("P/B"));
    assert!(!html.contains("<script>pc"), "escaped");
    for q in [
        "format=docx",
        "lang=fr",
        "period=2026-13",
        "from=2026-11-05&to=2026-11-01",
        "to=2026-11-01",
        "period=2026-11&from=2026-11-01",
        "colour=red",
    ] {
        let (st, v, _) = get(&f.app, &format!("/api/v1/reports?{q}"), &root).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert!(v["error"].is_string(), "{q}: {v}");
    }
}

#[tokio::test]
async fn report_pdf_over_the_api() {
    if !std::path::Path::new(crate::report::pdf::DEFAULT_FONT).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the PDF font is missing (apt install fonts-dejavu-core)"
        );
        eprintln!("SKIPPED: the PDF font is missing (apt install fonts-dejavu-core)");
        return;
    }
    let f = fixture();
    let req = Request::builder()
        .uri("/api/v1/reports?agency=p/a&format=pdf&period=2026-11")
        .header(
            header::COOKIE,
            format!("vigil_session={}", login(&f.app, "ana").await.0),
        )
        .body(Body::empty())
        .expect("request");
    let r = f.app.clone().oneshot(req).await.expect("response");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/pdf");
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 24)
        .await
        .expect("body");
    crate::report::tests::check_xref(&bytes);
}
