//! The policy routes: admins change policies inside their subtree only, readers see what
//! concerns them, changes are audited, the CSRF header is required with a cookie.

use axum::http::StatusCode;
use serde_json::json;

use super::tests::{Auth, call, fixture, get, login};
use crate::store::Store as _;

fn pack(id: &str) -> String {
    crate::policy::tests::pack(id, &format!("r-{id}"), "/etc/hosts")
}

#[tokio::test]
async fn an_agency_admin_changes_policies_inside_its_subtree_only() {
    let f = fixture();
    let (root, root_csrf) = login(&f.app, "root").await;
    let (adm, adm_csrf) = login(&f.app, "adm-a").await;
    let (ana, ana_csrf) = login(&f.app, "ana").await;

    let body = json!({"name": "prov", "packs": [{"file": "prov.yaml", "text": pack("prov")}],
        "settings": {"checks": {"interval": "30m"}}});
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies",
        Auth::Cookie(&root, Some(&root_csrf)),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["version"].as_i64(), v["scope"].as_str()),
        (Some(1), Some(""))
    );
    assert_eq!(v["settings"]["check_interval_s"], 1800);
    // Without the CSRF header a cookie request changes nothing.
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies",
        Auth::Cookie(&root, None),
        Some(body),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An analyst may not change policies.
    let mine = json!({"name": "mine", "packs": [{"file": "a.yaml", "text": pack("a")}]});
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies",
        Auth::Cookie(&ana, Some(&ana_csrf)),
        Some(mine.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The admin of p/a adds a policy of its own scope and assigns it there, not elsewhere.
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies",
        Auth::Cookie(&adm, Some(&adm_csrf)),
        Some(mine),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["scope"], "p/a");
    for (agency, policy, want) in [
        ("p/a", "mine", StatusCode::OK),
        ("p/b", "mine", StatusCode::FORBIDDEN),
        ("p", "prov", StatusCode::FORBIDDEN),
        ("p/a", "nope", StatusCode::NOT_FOUND),
    ] {
        let (st, v, _) = call(
            &f.app,
            "POST",
            "/api/v1/policies/assign",
            Auth::Cookie(&adm, Some(&adm_csrf)),
            Some(json!({"agency": agency, "policy": policy})),
        )
        .await;
        assert_eq!(st, want, "{agency} {policy}: {v}");
    }
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies/prov/rollback",
        Auth::Cookie(&adm, Some(&adm_csrf)),
        Some(json!({"to": 1})),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "the province's policy is not p/a's to roll back"
    );
    // A pack of 1 MiB fits this route's body limit (the API's others are 16 KiB).
    let big = format!("{}# {}\n", pack("big"), "x".repeat(1 << 20));
    let body = json!({"name": "mine", "packs": [{"file": "big.yaml", "text": big}]});
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies",
        Auth::Cookie(&adm, Some(&adm_csrf)),
        Some(body),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Bad packs: 400 naming the file and line, nothing stored.
    let bad = json!({"name": "mine", "packs": [{"file": "bad.yaml", "text": "id: x\nrules: 3\n"}]});
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/policies",
        Auth::Cookie(&adm, Some(&adm_csrf)),
        Some(bad),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("bad.yaml:")),
        "{v}"
    );
    assert_eq!(
        f.store.policies().policy_history("mine").expect("h").len(),
        2
    );

    // Readers: p/a sees its own policy and the province's above it; the status of p/b is not
    // theirs.
    let (_, v, _) = get(&f.app, "/api/v1/policies", &ana).await;
    let names: Vec<&str> = v["policies"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["mine", "prov"]);
    let (st, v, _) = get(&f.app, "/api/v1/policies/status?agency=p/a", &ana).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["policies"], "mine@2");
    assert_eq!(
        (v["none"].as_u64(), v["hosts"][0]["id"].as_str()),
        (Some(1), Some("a1"))
    );
    let (st, _, _) = get(&f.app, "/api/v1/policies/status?agency=p/b", &ana).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v, _) = get(&f.app, "/api/v1/policies/mine", &ana).await;
    assert_eq!(
        (st, v[0]["packs"][0].as_str()),
        (StatusCode::OK, Some("a@1.0"))
    );

    let actions: Vec<String> = f
        .store
        .audit_log()
        .expect("audit")
        .into_iter()
        .filter(|e| e.2.starts_with("policy."))
        .map(|e| format!("{} {}", e.1, e.2))
        .collect();
    assert_eq!(
        actions,
        [
            "root policy.add",
            "adm-a policy.add",
            "adm-a policy.assign",
            "adm-a policy.add"
        ]
    );
}
