//! `oneshot` tests of every route: success, authentication, CSRF, roles and agency scopes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::store::AlertState as AlertStateT;
use crate::store::{Agency, NewAgent, NewAlert, SqliteStore, User, UserRole};

pub(super) const PW: &str = "a-good-long-password";

pub(super) struct Fixture {
    pub(super) app: Router,
    pub(super) store: Arc<SqliteStore>,
    pub(super) hasher: Arc<crate::auth::HashPool>,
    pub(super) report_slots: Arc<super::ReportSlots>,
    _dir: tempfile::TempDir,
}

fn agent(id: &str, agency: &str, hostname: &str) -> NewAgent {
    NewAgent {
        id: id.into(),
        agency: agency.into(),
        machine_id: format!("m-{id}"),
        hostname: hostname.into(),
        os: "Debian".into(),
        cert_serial: format!("s-{id}"),
        cert_not_after: 0,
        agent_version: "0.1.0".into(),
        token_id: "t".into(),
        simulated: false,
    }
}

/// Agencies `p`, `p/a`, `p/b`; host `a1` in `p/a`, `b1` in `p/b`, one open alert on each (ids 1
/// and 2); users `root` (admin of everything), `adm-a` (admin of `p/a`), `ana` (analyst of
/// `p/a`), `vie` (viewer of `p/a`) and `off` (disabled admin).
pub(super) fn fixture() -> Fixture {
    let s = SqliteStore::open_in_memory().expect("store");
    for (id, level) in [("p", 1), ("p/a", 2), ("p/b", 2)] {
        s.agency_add(&Agency {
            id: id.into(),
            name: id.to_uppercase(),
            level,
        })
        .expect("agency");
    }
    s.agent_enroll(&agent("a1", "p/a", "<script>pc</script>"), 0)
        .expect("enroll");
    s.agent_enroll(&agent("b1", "p/b", "pc-b"), 0)
        .expect("enroll");
    for host in ["a1", "b1"] {
        s.alert_raise(
            &NewAlert {
                key: format!("k-{host}"),
                kind: "ioc_hit".into(),
                severity: vigil_proto::Severity::High,
                agent_id: host.into(),
                title: format!("hit on {host}"),
                params: Default::default(),
                other_agency: None,
            },
            1,
        )
        .expect("alert");
    }
    let hash =
        crate::auth::hash_password_with(PW, argon2::Params::new(64, 1, 1, None).expect("params"))
            .expect("hash");
    for (name, role, scope, disabled) in [
        ("root", UserRole::Admin, "", false),
        ("adm-a", UserRole::Admin, "p/a", false),
        ("ana", UserRole::Analyst, "p/a", false),
        ("vie", UserRole::Viewer, "p/a", false),
        ("off", UserRole::Admin, "", true),
    ] {
        s.user_add(
            &User {
                name: name.into(),
                password_hash: hash.clone(),
                role,
                scope: scope.into(),
                created_at: 1,
                disabled,
            },
            "test",
            1,
        )
        .expect("user");
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("pki")).expect("pki dir");
    let ca = crate::pki::init(
        &crate::pki::PkiPaths::new(dir.path()),
        "Test",
        &crate::pki::ServerNames::default(),
    )
    .expect("ca");
    let store = Arc::new(s);
    let hasher = Arc::new(crate::auth::HashPool::default());
    let report_slots = Arc::new(super::ReportSlots::default());
    let app = app(AppState {
        store: store.clone(),
        name: "Test".into(),
        scoring: Arc::default(),
        scores: Arc::new(crate::scoring::ScoreCache::new(
            std::time::Duration::from_secs(60),
        )),
        enroll: Some(Arc::new(EnrollSettings {
            ca,
            advertise: vec!["collector.test:4433".into()],
        })),
        login_limit: Arc::default(),
        reports: Arc::default(),
        hasher: hasher.clone(),
        report_slots: report_slots.clone(),
    });
    Fixture {
        app,
        store,
        hasher,
        report_slots,
        _dir: dir,
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub(super) enum Auth<'a> {
    None,
    /// Session cookie, with the CSRF header when given.
    Cookie(&'a str, Option<&'a str>),
    Bearer(&'a str),
}

pub(super) async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Auth<'_>,
    body: Option<Value>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut b = Request::builder().method(method).uri(uri);
    match auth {
        Auth::None => {}
        Auth::Cookie(c, csrf) => {
            b = b.header(header::COOKIE, format!("theme=dark; vigil_session={c}"));
            if let Some(t) = csrf {
                b = b.header("X-CSRF-Token", t);
            }
        }
        Auth::Bearer(t) => b = b.header(header::AUTHORIZATION, format!("Bearer {t}")),
    }
    let req = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .expect("request");
    let r = app.clone().oneshot(req).await.expect("response");
    let (status, headers) = (r.status(), r.headers().clone());
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 22)
        .await
        .expect("body");
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)))
    };
    (status, v, headers)
}

/// A GET with a session cookie.
pub(super) async fn get(
    app: &Router,
    uri: &str,
    cookie: &str,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    call(app, "GET", uri, Auth::Cookie(cookie, None), None).await
}

/// Logs in and returns (cookie value, CSRF token).
pub(super) async fn login(app: &Router, name: &str) -> (String, String) {
    let (st, v, h) = call(
        app,
        "POST",
        "/api/v1/login",
        Auth::None,
        Some(json!({"name": name, "password": PW})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let cookie = h
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie");
    let value = cookie
        .strip_prefix("vigil_session=")
        .and_then(|c| c.split(';').next())
        .expect("cookie value");
    let csrf = v["csrf"].as_str().expect("csrf");
    (value.to_owned(), csrf.to_owned())
}

pub(super) fn ids(v: &Value, list: &str, field: &str) -> Vec<String> {
    v[list]
        .as_array()
        .expect("list")
        .iter()
        .map(|x| x[field].to_string().trim_matches('"').to_owned())
        .collect()
}

#[tokio::test]
async fn login_sets_a_strict_cookie_and_me_answers() {
    let f = fixture();
    let (st, v, h) = call(
        &f.app,
        "POST",
        "/api/v1/login",
        Auth::None,
        Some(json!({"name": "ana", "password": PW})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let cookie = h
        .get(header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .expect("cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(v["role"], "analyst");
    assert_eq!(v["scope"], "p/a");
    let secret = cookie
        .strip_prefix("vigil_session=")
        .and_then(|c| c.split(';').next())
        .expect("value");
    let stored = f
        .store
        .session(&crate::auth::secret_hash(secret), 2)
        .expect("lookup");
    assert!(stored.is_some(), "only the hash of the cookie is stored");
    assert_eq!(f.store.session(secret, 2).expect("lookup"), None);

    let (st, me, _) = call(
        &f.app,
        "GET",
        "/api/v1/me",
        Auth::Cookie(secret, None),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["name"], "ana");
    assert_eq!(me["csrf"], v["csrf"]);
    let log = f.store.audit_log().expect("audit");
    assert!(
        log.iter()
            .any(|(_, a, act, _)| a == "ana" && act == "session.login")
    );
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_get_the_same_answer() {
    let f = fixture();
    let mut answers = Vec::new();
    for (name, pw) in [("ana", "wrong password!"), ("ghost", PW), ("off", PW)] {
        let (st, v, h) = call(
            &f.app,
            "POST",
            "/api/v1/login",
            Auth::None,
            Some(json!({"name": name, "password": pw})),
        )
        .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{name}");
        assert!(h.get(header::SET_COOKIE).is_none());
        answers.push(v);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
    assert_eq!(answers[0]["error"], "invalid name or password");
    // Malformed and oversized bodies are refused with JSON errors.
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/login",
        Auth::None,
        Some(json!({"name": 1})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["error"].is_string(), "{v}");
    let big = json!({"name": "ana", "password": "x".repeat(64 * 1024)});
    let (st, _, _) = call(&f.app, "POST", "/api/v1/login", Auth::None, Some(big)).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
}

/// Every route that needs authentication (all but login and the OpenAPI document).
const PROTECTED: [(&str, &str); 23] = [
    ("GET", "/api/v1/reports"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/hosts"),
    ("GET", "/api/v1/agencies"),
    ("GET", "/api/v1/alerts"),
    ("POST", "/api/v1/logout"),
    ("POST", "/api/v1/alerts/{id}/ack"),
    ("POST", "/api/v1/alerts/{id}/resolve"),
    ("POST", "/api/v1/alerts/{id}/assign"),
    ("POST", "/api/v1/tokens"),
    ("GET", "/api/v1/overview"),
    ("GET", "/api/v1/agencies/{id}"),
    ("GET", "/api/v1/hosts/{id}"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/vulns"),
    ("GET", "/api/v1/vulns/summary"),
    ("GET", "/api/v1/hosts/{id}/vulns"),
    ("GET", "/api/v1/policies"),
    ("POST", "/api/v1/policies"),
    ("POST", "/api/v1/policies/assign"),
    ("GET", "/api/v1/policies/status"),
    ("GET", "/api/v1/policies/{name}"),
    ("POST", "/api/v1/policies/{name}/rollback"),
];

#[tokio::test]
async fn every_route_refuses_requests_without_valid_authentication() {
    let f = fixture();
    let bogus = crate::auth::new_secret();
    for (m, route) in PROTECTED {
        let uri = route.replace("{id}", "1").replace("{name}", "x");
        for auth in [
            Auth::None,
            Auth::Bearer(&bogus),
            Auth::Cookie(&bogus, Some("x")),
        ] {
            let (st, v, _) = call(&f.app, m, &uri, auth, Some(json!({}))).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{m} {uri}: {v}");
            assert_eq!(v["error"], "authentication required");
        }
    }
    let (st, v, _) = call(&f.app, "GET", "/api/v1/nothing", Auth::None, None).await;
    assert_eq!(
        (st, v["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not found"))
    );
}

#[tokio::test]
async fn openapi_document_matches_the_routes() {
    let f = fixture();
    let (st, doc, _) = call(&f.app, "GET", "/api/v1/openapi.json", Auth::None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let mut documented: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<String> = PROTECTED
        .iter()
        .map(|(m, p)| format!("{m} {p}"))
        .chain(["POST /api/v1/login".to_owned()])
        .chain(
            super::admin::tests::ROUTES
                .iter()
                .map(|(m, p)| format!("{m} {p}")),
        )
        .collect();
    expected.sort();
    assert_eq!(documented, expected);
    // Each documented operation exists in the router (an empty login body is a 4xx, not 404).
    for op in &documented {
        let (m, path) = op.split_once(' ').expect("op");
        let uri = path.replace("{id}", "1").replace("{name}", "x");
        let (st, _, _) = call(&f.app, m, &uri, Auth::None, None).await;
        assert!(
            st != StatusCode::NOT_FOUND && st != StatusCode::METHOD_NOT_ALLOWED,
            "{op}: {st}"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "vigil_session");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert!(
        doc["components"]["schemas"]["ResolveRequest"]["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("reason")))
    );
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_header_and_bearer_tokens_do_not() {
    let f = fixture();
    let (cookie, csrf) = login(&f.app, "ana").await;
    let ack = "/api/v1/alerts/1/ack";
    for sent in [None, Some("wrong"), Some("")] {
        let (st, v, _) = call(&f.app, "POST", ack, Auth::Cookie(&cookie, sent), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{sent:?}: {v}");
    }
    assert_eq!(
        f.store
            .alerts(Some(AlertStateT::Open))
            .expect("alerts")
            .len(),
        2
    );
    let (st, v, _) = call(
        &f.app,
        "POST",
        ack,
        Auth::Cookie(&cookie, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["alert"]["state"], "acknowledged");

    let (token, _) = crate::auth::create_api_token(&*f.store, "ana", "test", 1).expect("api token");
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/alerts/1/assign",
        Auth::Bearer(&token),
        Some(json!({"assignee": "ana"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["alert"]["assignee"], "ana");
    // A disabled user's token stops working.
    f.store.user_disable("ana", "test", 2).expect("disable");
    let (st, _, _) = call(&f.app, "GET", "/api/v1/me", Auth::Bearer(&token), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _, _) = get(&f.app, "/api/v1/me", &cookie).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "disabling ended the session");
}

#[tokio::test]
async fn listings_are_limited_to_the_scope() {
    let f = fixture();
    let (cookie, _) = login(&f.app, "vie").await;
    let me = Auth::Cookie(&cookie, None);
    let (st, v, _) = call(&f.app, "GET", "/api/v1/hosts", me, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ids(&v, "hosts", "id"), ["a1"]);
    let (_, v, _) = call(&f.app, "GET", "/api/v1/alerts", me, None).await;
    assert_eq!(ids(&v, "alerts", "agent_id"), ["a1"]);
    let (_, v, _) = call(&f.app, "GET", "/api/v1/alerts?state=resolved", me, None).await;
    assert_eq!(v["alerts"], json!([]));
    let (st, _, _) = call(&f.app, "GET", "/api/v1/alerts?state=bogus", me, None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v, _) = call(&f.app, "GET", "/api/v1/agencies", me, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ids(&v, "agencies", "id"), ["p/a"]);

    let (cookie, _) = login(&f.app, "root").await;
    let root = Auth::Cookie(&cookie, None);
    let (_, v, _) = call(&f.app, "GET", "/api/v1/hosts", root, None).await;
    let mut hosts = ids(&v, "hosts", "id");
    hosts.sort();
    assert_eq!(hosts, ["a1", "b1"]);
    let (_, v, _) = call(&f.app, "GET", "/api/v1/agencies", root, None).await;
    assert_eq!(ids(&v, "agencies", "id"), ["p", "p/a", "p/b"]);
    let (_, v, _) = call(&f.app, "GET", "/api/v1/alerts", root, None).await;
    assert_eq!(v["alerts"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn roles_and_scopes_limit_what_can_be_changed() {
    let f = fixture();
    // A viewer cannot act on an alert of their own scope.
    let (cookie, csrf) = login(&f.app, "vie").await;
    let vie = Auth::Cookie(&cookie, Some(&csrf));
    let (st, _, _) = call(&f.app, "POST", "/api/v1/alerts/1/ack", vie, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An analyst of p/a cannot see or change the alert of p/b (id 2), nor a missing one.
    let (cookie, csrf) = login(&f.app, "ana").await;
    let ana = Auth::Cookie(&cookie, Some(&csrf));
    for uri in [
        "/api/v1/alerts/2/ack",
        "/api/v1/alerts/99/ack",
        "/api/v1/alerts/x/ack",
    ] {
        let (st, v, _) = call(&f.app, "POST", uri, ana, None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{uri}: {v}");
    }
    let body = json!({"reason": "cleaned"});
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/alerts/2/resolve",
        ana,
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/alerts/2/assign",
        ana,
        Some(json!({"assignee": "ana"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(
        f.store
            .alerts(None)
            .expect("alerts")
            .iter()
            .all(|a| a.id != 2 || (a.state == AlertStateT::Open && a.assignee.is_none())),
        "the alert of p/b is untouched"
    );
    // Analysts create no enrollment tokens.
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/tokens",
        ana,
        Some(json!({"agency": "p/a"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // An admin of p/a creates them for p/a only.
    let (cookie, csrf) = login(&f.app, "adm-a").await;
    let adm = Auth::Cookie(&cookie, Some(&csrf));
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/tokens",
        adm,
        Some(json!({"agency": "p/b"})),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert!(f.store.tokens().expect("tokens").is_empty());
}

#[tokio::test]
async fn resolve_needs_a_reason_and_is_audited_under_the_user() {
    let f = fixture();
    let (cookie, csrf) = login(&f.app, "ana").await;
    let ana = Auth::Cookie(&cookie, Some(&csrf));
    let uri = "/api/v1/alerts/1/resolve";
    let (st, v, _) = call(&f.app, "POST", uri, ana, Some(json!({"reason": "  "}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _, _) = call(&f.app, "POST", uri, ana, Some(json!({}))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v, _) = call(
        &f.app,
        "POST",
        uri,
        ana,
        Some(json!({"reason": "reimaged"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["alert"]["state"], "resolved");
    assert_eq!(v["alert"]["reason"], "reimaged");
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/alerts/1/assign",
        ana,
        Some(json!({"assignee": "Not A Name"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let log = f.store.audit_log().expect("audit");
    let (_, actor, _, detail) = log
        .iter()
        .find(|(_, _, action, _)| action == "alert.state")
        .expect("audited");
    assert_eq!(actor, "ana");
    assert_eq!(detail["reason"], "reimaged");
}

#[tokio::test]
async fn admins_create_enrollment_tokens_in_their_scope() {
    let f = fixture();
    let (token, _) =
        crate::auth::create_api_token(&*f.store, "adm-a", "test", 1).expect("api token");
    let me = Auth::Bearer(&token);
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/tokens",
        me,
        Some(json!({"agency": "p/a", "ttl": "2h", "uses": 3})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let text = v["token"].as_str().expect("token");
    assert!(text.starts_with("vigil1."), "{text}");
    let stored = f.store.tokens().expect("tokens");
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].agency.as_str(), stored[0].max_uses), ("p/a", 3));
    assert_eq!(v["id"], stored[0].id);
    let log = f.store.audit_log().expect("audit");
    assert!(
        log.iter()
            .any(|(_, a, act, _)| a == "adm-a" && act == "token.create")
    );
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/tokens",
        me,
        Some(json!({"agency": "p/a", "ttl": "soon"})),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/tokens",
        me,
        Some(json!({"agency": "p/a/none"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logout_ends_the_session_and_needs_csrf() {
    let f = fixture();
    let (cookie, csrf) = login(&f.app, "ana").await;
    let (st, _, _) = call(
        &f.app,
        "POST",
        "/api/v1/logout",
        Auth::Cookie(&cookie, None),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, h) = call(
        &f.app,
        "POST",
        "/api/v1/logout",
        Auth::Cookie(&cookie, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let cleared = h
        .get(header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .expect("cookie");
    assert!(cleared.starts_with("vigil_session=;") && cleared.contains("Max-Age=0"));
    let (st, _, _) = get(&f.app, "/api/v1/me", &cookie).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hosts_api_and_page() {
    let f = fixture();
    let (cookie, _) = login(&f.app, "root").await;
    let (st, v, _) = get(&f.app, "/api/v1/hosts", &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["hosts"][0]["id"], "a1");
    let r = f
        .app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    let b = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .expect("body");
    let html = String::from_utf8_lossy(&b);
    assert!(html.contains("/console/app.js"), "{html}");
    assert!(!html.contains("pc"), "the page itself carries no data");
}

/// One failed SSH rule on `a1` and a file change, so its host page has content.
fn seed_host_a1(f: &Fixture) {
    let now = crate::clock::now_ms();
    let batch = [
        vigil_proto::Envelope {
            seq: 1,
            observed_at: now,
            finding: vigil_proto::Finding::CheckResult(vigil_proto::CheckResult {
                rule_id: "lnx-ssh-root-login".into(),
                pack: "linux-baseline@1.0.0".into(),
                status: vigil_proto::Status::Fail,
                severity: vigil_proto::Severity::High,
                group: "hardening".into(),
                controls: vec!["cis-debian12:5.2.7".into()],
                evidence: "PermitRootLogin yes".into(),
            }),
        },
        vigil_proto::Envelope {
            seq: 2,
            observed_at: now,
            finding: vigil_proto::Finding::FileEvent(vigil_proto::FileEvent {
                path: "/etc/passwd".into(),
                kind: vigil_proto::FileEventKind::Modified,
                old: None,
                new: None,
                changed: vec!["hash".into()],
                process: None,
                tag: None,
                summary: None,
                count: None,
                severity: vigil_proto::Severity::High,
            }),
        },
    ];
    f.store.ingest("a1", &batch, now).expect("ingest");
}

#[tokio::test]
async fn overview_lists_the_callers_subtree_with_ranking_fields() {
    let f = fixture();
    let (root, _) = login(&f.app, "root").await;
    let (st, v, _) = get(&f.app, "/api/v1/overview", &root).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(ids(&v, "agencies", "id"), ["p", "p/a", "p/b"]);
    let leaf: Vec<bool> = v["agencies"]
        .as_array()
        .expect("agencies")
        .iter()
        .map(|a| a["leaf"].as_bool().expect("leaf"))
        .collect();
    assert_eq!(leaf, [false, true, true]);
    // One registered host each, below the default minimum for ranking: listed apart with why.
    assert_eq!(v["agencies"][1]["eligible"], false);
    assert_eq!(v["agencies"][1]["reasons"][0]["reason"], "too_few_hosts");
    assert_eq!(v["agencies"][1]["open_alerts"]["high"], 1);
    assert!(v["sla_hours"]["critical"].as_f64().expect("sla") > 0.0);

    let (ana, _) = login(&f.app, "ana").await;
    let (_, v, _) = get(&f.app, "/api/v1/overview", &ana).await;
    assert_eq!(ids(&v, "agencies", "id"), ["p/a"]);
    let (st, _, _) = call(&f.app, "GET", "/api/v1/overview", Auth::None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn agency_page_is_scoped_and_explains_the_score() {
    let f = fixture();
    seed_host_a1(&f);
    let (ana, _) = login(&f.app, "ana").await;
    let (st, v, _) = get(&f.app, "/api/v1/agencies/p%2Fa", &ana).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["agency"]["id"], "p/a");
    assert_eq!(ids(&v, "hosts", "id"), ["a1"]);
    assert_eq!(v["hosts_total"], 1);
    // 100 − A is fully explained by the listed items.
    let lost: f64 = v["breakdown"]
        .as_array()
        .expect("breakdown")
        .iter()
        .map(|c| c["points"].as_f64().expect("points"))
        .sum::<f64>()
        + v["breakdown_rest"].as_f64().expect("rest");
    let a = v["agency"]["a"].as_f64().expect("a");
    assert!((100.0 - a - lost).abs() < 0.2, "A {a}, lost {lost}: {v}");
    let ssh = v["breakdown"]
        .as_array()
        .expect("breakdown")
        .iter()
        .find(|c| c["key"] == "lnx-ssh-root-login")
        .expect("the failed rule costs points");
    assert_eq!(ssh["kind"], "rule_failed");
    assert_eq!(ssh["title_vi"], "SSH không cho root đăng nhập trực tiếp");
    for (path, who) in [
        ("/api/v1/agencies/p%2Fb", &ana),
        ("/api/v1/agencies/p", &ana),
    ] {
        let (st, _, _) = call(&f.app, "GET", path, Auth::Cookie(who, None), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path} is outside p/a");
    }
    let (root, _) = login(&f.app, "root").await;
    let (st, v, _) = get(&f.app, "/api/v1/agencies/p", &root).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ids(&v, "children", "id"), ["p/a", "p/b"]);
    assert_eq!(v["hosts_total"], 2);
    let (st, _, _) = get(&f.app, "/api/v1/agencies/nowhere", &root).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn host_page_shows_windows_rules_with_gpo_and_powershell_remediation() {
    let f = fixture();
    let now = crate::clock::now_ms();
    let batch = [vigil_proto::Envelope {
        seq: 1,
        observed_at: now,
        finding: vigil_proto::Finding::CheckResult(vigil_proto::CheckResult {
            rule_id: "win-smb1-server-off".into(),
            pack: "windows-baseline@1.0.0".into(),
            status: vigil_proto::Status::Fail,
            severity: vigil_proto::Severity::Critical,
            group: "network".into(),
            controls: vec![],
            evidence: "srv installed and SMB1=1".into(),
        }),
    }];
    f.store.ingest("a1", &batch, now).expect("ingest");
    let (vie, _) = login(&f.app, "vie").await;
    let (st, v, _) = get(&f.app, "/api/v1/hosts/a1", &vie).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let check = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["rule_id"] == "win-smb1-server-off")
        .expect("the Windows result is listed");
    assert_eq!(check["status"], "fail");
    let fix = check["remediation_en"].as_str().expect("remediation");
    assert!(
        fix.contains("GPO:") && fix.contains("Set-SmbServerConfiguration"),
        "{fix}"
    );
    assert!(
        check["remediation_vi"]
            .as_str()
            .expect("remediation_vi")
            .contains("PowerShell"),
        "{check}"
    );
    assert!(v["score"]["a"].as_f64().expect("score") < 100.0);
}

#[tokio::test]
async fn host_page_has_checks_with_remediation_events_and_alerts() {
    let f = fixture();
    seed_host_a1(&f);
    let (vie, _) = login(&f.app, "vie").await;
    let (st, v, _) = get(&f.app, "/api/v1/hosts/a1", &vie).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["host"]["hostname"], "<script>pc</script>");
    assert_eq!(v["checks"][0]["rule_id"], "lnx-ssh-root-login");
    assert_eq!(v["checks"][0]["status"], "fail");
    assert!(
        v["checks"][0]["remediation_en"]
            .as_str()
            .expect("remediation")
            .contains("PermitRootLogin no")
    );
    assert_eq!(v["files"][0]["path"], "/etc/passwd");
    assert_eq!(v["alerts"][0]["title"], "hit on a1");
    assert!(v["score"]["a"].as_f64().expect("score") < 100.0);
    let (st, _, _) = get(&f.app, "/api/v1/hosts/b1", &vie).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "b1 is in p/b");
    let (st, _, _) = call(&f.app, "GET", "/api/v1/hosts/a1", Auth::None, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn alerts_name_their_host_and_resolving_refreshes_scores() {
    let f = fixture();
    let (ana, csrf) = login(&f.app, "ana").await;
    let (_, v, _) = get(&f.app, "/api/v1/alerts", &ana).await;
    assert_eq!(v["alerts"][0]["hostname"], "<script>pc</script>");
    assert_eq!(v["alerts"][0]["agency"], "p/a");
    let before =
        get(&f.app, "/api/v1/agencies/p%2Fa", &ana).await.1["agency"]["open_alerts"]["high"]
            .clone();
    assert_eq!(before, 1);
    let id = v["alerts"][0]["id"].as_i64().expect("id");
    let (st, _, _) = call(
        &f.app,
        "POST",
        &format!("/api/v1/alerts/{id}/resolve"),
        Auth::Cookie(&ana, Some(&csrf)),
        Some(json!({"reason": "patched"})),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v, _) = get(&f.app, "/api/v1/agencies/p%2Fa", &ana).await;
    assert_eq!(
        v["agency"]["open_alerts"],
        json!({}),
        "the cached scores were dropped"
    );
}

#[tokio::test]
async fn console_is_served_with_security_headers() {
    let f = fixture();
    for (path, ty) in [
        ("/", "text/html"),
        ("/console/app.js", "text/javascript"),
        ("/console/app.css", "text/css"),
        ("/api/v1/me", "application/json"),
    ] {
        let (_, _, h) = call(&f.app, "GET", path, Auth::None, None).await;
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            get("content-type").starts_with(ty),
            "{path}: {}",
            get("content-type")
        );
        assert!(
            get("content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(
            !get("content-security-policy").contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    }
}

// The report endpoint's tests.
mod report;

#[tokio::test]
async fn collector_alerts_are_listed_to_whole_organisation_users_only() {
    let f = fixture();
    let a = crate::store::NewAlert {
        key: "export_dropped:soc".into(),
        kind: "export_dropped".into(),
        severity: vigil_proto::Severity::High,
        agent_id: String::new(),
        title: "Export output soc dropped 3 events".into(),
        params: Default::default(),
        other_agency: None,
    };
    f.store.alert_raise(&a, 5).expect("raise");
    let kinds = |v: &serde_json::Value| -> Vec<String> {
        v["alerts"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|a| a["kind"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let (root, _) = login(&f.app, "root").await;
    let (_, v, _) = get(&f.app, "/api/v1/alerts", &root).await;
    assert!(kinds(&v).contains(&"export_dropped".to_owned()), "{v}");
    let (ana, _) = login(&f.app, "ana").await;
    let (_, v, _) = get(&f.app, "/api/v1/alerts", &ana).await;
    assert!(!kinds(&v).contains(&"export_dropped".to_owned()), "{v}");
}
