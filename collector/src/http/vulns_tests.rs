//! The vulnerability routes: authentication and agency scope, as for the other host routes (an
//! agency admin sees only their subtree, and hosts elsewhere do not exist for them).

use axum::http::StatusCode;

use super::tests::{Auth, call, fixture, get, login};
use crate::store::Store as _;
use crate::store::vuln::{AdvisoryRow, MatchRow};

/// One critical advisory matching `a1` (in `p/a`) and `b1` (in `p/b`).
fn seed(f: &super::tests::Fixture) {
    let v = f.store.vulns();
    v.vuln_import(
        "test",
        &[AdvisoryRow {
            id: "DSA-1-1".into(),
            cves: vec!["CVE-2026-1".into()],
            summary: "openssl".into(),
            severity: Some("critical".into()),
            cvss: Some(9.8),
            body: "{}".into(),
        }],
        10,
    )
    .expect("import");
    let row = MatchRow {
        advisory: "DSA-1-1".into(),
        package: "openssl".into(),
        installed: "3.0.1-1".into(),
        fixed: Some("3.0.2-1".into()),
        severity: Some("critical".into()),
        cvss: Some(9.8),
    };
    v.vuln_set_matches(
        &[("a1".into(), vec![row.clone()]), ("b1".into(), vec![row])],
        20,
    )
    .expect("matches");
}

fn hosts(v: &serde_json::Value) -> Vec<String> {
    v["vulns"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["host"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn vulnerability_routes_need_a_user() {
    let f = fixture();
    seed(&f);
    for uri in [
        "/api/v1/vulns?cve=CVE-2026-1",
        "/api/v1/vulns/summary",
        "/api/v1/hosts/a1/vulns",
    ] {
        let (st, _, _) = call(&f.app, "GET", uri, Auth::None, None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{uri}");
        let (st, _, _) = call(&f.app, "GET", uri, Auth::Bearer("forged"), None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

#[tokio::test]
async fn an_agency_admin_sees_only_the_vulnerable_hosts_of_their_subtree() {
    let f = fixture();
    seed(&f);
    let (root, _) = login(&f.app, "root").await;
    let (adm, _) = login(&f.app, "adm-a").await;

    let (st, v, _) = get(&f.app, "/api/v1/vulns?cve=CVE-2026-1", &root).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hosts(&v), ["a1", "b1"]);
    let (_, v, _) = get(&f.app, "/api/v1/vulns?cve=DSA-1-1", &adm).await;
    assert_eq!(hosts(&v), ["a1"], "the other agency's host is not listed");
    assert_eq!(v["vulns"][0]["fixed"], "3.0.2-1");
    assert_eq!(v["vulns"][0]["since"], 20);

    let (st, v, _) = get(&f.app, "/api/v1/hosts/a1/vulns", &adm).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(hosts(&v), ["a1"]);
    let (st, v, _) = get(&f.app, "/api/v1/hosts/b1/vulns", &adm).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "outside the scope: {v}");
    let (st, _, _) = get(&f.app, "/api/v1/hosts/nope/vulns", &adm).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    let (_, v, _) = get(&f.app, "/api/v1/vulns/summary", &adm).await;
    assert_eq!(v["agency"], "p/a");
    assert_eq!(v["hosts_affected"], 1);
    assert_eq!(v["cves"][0]["cve"], "CVE-2026-1");
    assert_eq!(v["cves"][0]["hosts"], 1);
    assert_eq!(v["oldest_critical"]["host"], "a1");
    for uri in [
        "/api/v1/vulns/summary?agency=p/b",
        "/api/v1/vulns/summary?agency=p",
    ] {
        let (st, _, _) = get(&f.app, uri, &adm).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{uri}");
    }
    let (_, v, _) = get(&f.app, "/api/v1/vulns/summary", &root).await;
    assert_eq!(v["hosts_affected"], 2);
    assert_eq!(v["cves"][0]["hosts"], 2);
    let (_, v, _) = get(&f.app, "/api/v1/vulns/summary?agency=p/b", &root).await;
    assert_eq!(v["hosts_affected"], 1);
    let (st, _, _) = get(&f.app, "/api/v1/vulns", &root).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "cve is required");
}

#[tokio::test]
async fn the_openapi_document_describes_the_vulnerability_routes() {
    let f = fixture();
    let (_, v, _) = call(&f.app, "GET", "/api/v1/openapi.json", Auth::None, None).await;
    for path in [
        "/api/v1/vulns",
        "/api/v1/vulns/summary",
        "/api/v1/hosts/{id}/vulns",
    ] {
        assert!(v["paths"][path]["get"].is_object(), "{path} missing");
    }
}
