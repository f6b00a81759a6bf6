//! `oneshot` tests of the administration routes: roles, scopes, CSRF, audit and the login limit.
//! The fixture is the one of `http/tests.rs`: agencies `p`, `p/a`, `p/b`; users `root` (admin of
//! everything), `adm-a` (admin of `p/a`), `ana` (analyst of `p/a`), `vie` (viewer of `p/a`) and
//! `off` (disabled admin).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::http::ratelimit::Peer;
use crate::http::tests::{Auth, PW, call, fixture, ids, login};
use crate::store::Store as _;

/// Every administration route (all need authentication).
pub(in crate::http) const ROUTES: [(&str, &str); 10] = [
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/users/{name}/disable"),
    ("GET", "/api/v1/api-tokens"),
    ("DELETE", "/api/v1/api-tokens/{id}"),
    ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens/{id}/revoke"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/settings"),
    ("GET", "/api/v1/export/status"),
];

fn uri(route: &str) -> String {
    route.replace("{id}", "x").replace("{name}", "ana")
}

fn names(v: &Value, list: &str, field: &str) -> Vec<String> {
    let mut out: Vec<String> = v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|x| x[field].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

fn bearer(f: &crate::http::tests::Fixture, user: &str) -> String {
    crate::auth::create_api_token(&*f.store, user, "test", 1)
        .expect("api token")
        .0
}

fn actions(f: &crate::http::tests::Fixture) -> Vec<String> {
    f.store
        .audit_log()
        .expect("audit")
        .into_iter()
        .map(|(_, actor, action, _)| format!("{actor} {action}"))
        .collect()
}

#[tokio::test]
async fn admin_routes_need_authentication_and_refuse_viewers_and_analysts() {
    let f = fixture();
    let bogus = crate::auth::new_secret();
    for (m, route) in ROUTES {
        for auth in [
            Auth::None,
            Auth::Bearer(&bogus),
            Auth::Cookie(&bogus, Some("x")),
        ] {
            let (st, v, _) = call(&f.app, m, &uri(route), auth, Some(json!({}))).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED, "{m} {route}: {v}");
        }
    }
    let body = json!({"name": "new", "role": "viewer", "scope": "p/a", "password": PW});
    for user in ["ana", "vie"] {
        let token = bearer(&f, user);
        for (m, route) in ROUTES {
            if route.starts_with("/api/v1/api-tokens") {
                continue; // everyone manages their own API tokens
            }
            let (st, v, _) = call(
                &f.app,
                m,
                &uri(route),
                Auth::Bearer(&token),
                Some(body.clone()),
            )
            .await;
            assert_eq!(st, StatusCode::FORBIDDEN, "{user}: {m} {route}: {v}");
        }
    }
    assert!(f.store.user("new").expect("get").is_none());
    assert!(!f.store.user("ana").expect("get").expect("ana").disabled);
}

#[tokio::test]
async fn admins_list_and_create_users_inside_their_scope_only() {
    let f = fixture();
    let (root, adm) = (bearer(&f, "root"), bearer(&f, "adm-a"));
    let (st, v, _) = call(&f.app, "GET", "/api/v1/users", Auth::Bearer(&adm), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(names(&v, "users", "name"), ["adm-a", "ana", "vie"]);
    assert!(
        v.to_string().find("argon2").is_none(),
        "no password hashes: {v}"
    );
    let (_, v, _) = call(&f.app, "GET", "/api/v1/users", Auth::Bearer(&root), None).await;
    assert_eq!(
        names(&v, "users", "name"),
        ["adm-a", "ana", "off", "root", "vie"]
    );

    let create = |scope: &str, name: &str, role: &str, pw: &str| json!({"name": name, "role": role, "scope": scope, "password": pw});
    let post = |body: Value| {
        let app = f.app.clone();
        let adm = adm.clone();
        async move {
            call(
                &app,
                "POST",
                "/api/v1/users",
                Auth::Bearer(&adm),
                Some(body),
            )
            .await
        }
    };
    for (body, want) in [
        (create("p/b", "nb", "viewer", PW), StatusCode::FORBIDDEN),
        (create("", "nb", "viewer", PW), StatusCode::FORBIDDEN),
        (create("p", "nb", "admin", PW), StatusCode::FORBIDDEN),
        (
            create("p/a", "nb", "viewer", "short"),
            StatusCode::BAD_REQUEST,
        ),
        (create("p/a", "nb", "root", PW), StatusCode::BAD_REQUEST),
        (
            create("p/a", "Bad Name", "viewer", PW),
            StatusCode::BAD_REQUEST,
        ),
        (
            create("p/a/none", "nb", "viewer", PW),
            StatusCode::NOT_FOUND,
        ),
        (create("p/a", "ana", "viewer", PW), StatusCode::CONFLICT),
    ] {
        let (st, v, _) = post(body.clone()).await;
        assert_eq!(st, want, "{body}: {v}");
    }
    assert!(f.store.user("nb").expect("get").is_none());
    let (st, v, _) = post(create("p/a", "nb", "analyst", "a new long password")).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (&v["name"], &v["role"], &v["scope"], &v["disabled"]),
        (
            &json!("nb"),
            &json!("analyst"),
            &json!("p/a"),
            &json!(false)
        )
    );
    let u = f.store.user("nb").expect("get").expect("stored");
    assert!(crate::auth::verify_password(
        "a new long password",
        &u.password_hash
    ));
    assert!(actions(&f).contains(&"adm-a user.add".to_owned()));
}

#[tokio::test]
async fn admins_disable_users_of_their_scope_with_csrf() {
    let f = fixture();
    let (cookie, csrf) = login(&f.app, "adm-a").await;
    let url = "/api/v1/users/vie/disable";
    let (st, _, _) = call(&f.app, "POST", url, Auth::Cookie(&cookie, None), None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no CSRF header");
    assert!(!f.store.user("vie").expect("get").expect("vie").disabled);
    let me = Auth::Cookie(&cookie, Some(&csrf));
    for (url, want) in [
        ("/api/v1/users/root/disable", StatusCode::NOT_FOUND),
        ("/api/v1/users/ghost/disable", StatusCode::NOT_FOUND),
        ("/api/v1/users/adm-a/disable", StatusCode::BAD_REQUEST),
    ] {
        let (st, v, _) = call(&f.app, "POST", url, me, None).await;
        assert_eq!(st, want, "{url}: {v}");
    }
    let (vie_cookie, _) = login(&f.app, "vie").await;
    let (st, v, _) = call(&f.app, "POST", url, me, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    let (st, _, _) = call(
        &f.app,
        "GET",
        "/api/v1/me",
        Auth::Cookie(&vie_cookie, None),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the session ended");
    // Twice is not an error, and audited once.
    let (st, _, _) = call(&f.app, "POST", url, me, None).await;
    assert_eq!(st, StatusCode::OK);
    let n = actions(&f)
        .iter()
        .filter(|a| *a == "adm-a user.disable")
        .count();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn api_tokens_are_listed_by_scope_and_revoked_at_once() {
    let f = fixture();
    let (ana1, ana1_rec) = crate::auth::create_api_token(&*f.store, "ana", "test", 1).expect("t");
    let (_ana2, ana2_rec) = crate::auth::create_api_token(&*f.store, "ana", "test", 1).expect("t");
    let (root, root_rec) = crate::auth::create_api_token(&*f.store, "root", "test", 1).expect("t");
    let adm = bearer(&f, "adm-a");
    let list = |token: String| {
        let app = f.app.clone();
        async move {
            let (st, v, _) = call(
                &app,
                "GET",
                "/api/v1/api-tokens",
                Auth::Bearer(&token),
                None,
            )
            .await;
            assert_eq!(st, StatusCode::OK, "{v}");
            assert!(!v.to_string().contains("secret"), "{v}");
            names(&v, "api_tokens", "id")
        }
    };
    let mut want = vec![ana1_rec.id.clone(), ana2_rec.id.clone()];
    want.sort();
    assert_eq!(list(ana1.clone()).await, want, "an analyst sees their own");
    let adm_rec = f
        .store
        .api_tokens()
        .expect("list")
        .into_iter()
        .find(|t| t.user == "adm-a")
        .expect("adm token");
    let mut want_adm = vec![ana1_rec.id.clone(), ana2_rec.id.clone(), adm_rec.id.clone()];
    want_adm.sort();
    assert_eq!(
        list(adm.clone()).await,
        want_adm,
        "an admin of p/a: users of p/a"
    );
    assert_eq!(list(root.clone()).await.len(), 4, "root sees all");

    // An analyst cannot revoke root's token; an admin of p/a neither.
    let del = |id: &str| format!("/api/v1/api-tokens/{id}");
    for t in [&ana1, &adm] {
        let (st, _, _) = call(&f.app, "DELETE", &del(&root_rec.id), Auth::Bearer(t), None).await;
        assert_eq!(st, StatusCode::NOT_FOUND);
    }
    let (st, _, _) = call(&f.app, "GET", "/api/v1/me", Auth::Bearer(&root), None).await;
    assert_eq!(st, StatusCode::OK);

    // By cookie, revoking needs the CSRF header; then the token stops working at once.
    let (cookie, csrf) = login(&f.app, "ana").await;
    let (st, _, _) = call(
        &f.app,
        "DELETE",
        &del(&ana1_rec.id),
        Auth::Cookie(&cookie, None),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _, _) = call(&f.app, "GET", "/api/v1/me", Auth::Bearer(&ana1), None).await;
    assert_eq!(st, StatusCode::OK, "still valid before the revocation");
    let (st, v, _) = call(
        &f.app,
        "DELETE",
        &del(&ana1_rec.id),
        Auth::Cookie(&cookie, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["revoked"], true);
    let (st, _, _) = call(&f.app, "GET", "/api/v1/me", Auth::Bearer(&ana1), None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "revoked tokens stop at once");
    // The admin of p/a revokes ana's other one.
    let (st, _, _) = call(
        &f.app,
        "DELETE",
        &del(&ana2_rec.id),
        Auth::Bearer(&adm),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let log = actions(&f);
    assert!(log.contains(&"ana api_token.revoke".to_owned()), "{log:?}");
    assert!(
        log.contains(&"adm-a api_token.revoke".to_owned()),
        "{log:?}"
    );
}

#[tokio::test]
async fn enrollment_tokens_are_listed_and_revoked_in_scope_with_an_install_command() {
    let f = fixture();
    let (root, adm) = (bearer(&f, "root"), bearer(&f, "adm-a"));
    let mut ids = Vec::new();
    for agency in ["p/a", "p/b"] {
        let (st, v, _) = call(
            &f.app,
            "POST",
            "/api/v1/tokens",
            Auth::Bearer(&root),
            Some(json!({"agency": agency})),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let token = v["token"].as_str().expect("token");
        assert_eq!(
            v["install_command"],
            format!("printf '%s\\n' '{token}' | sudo ./install-agent.sh")
        );
        let win = v["install_command_windows"]
            .as_str()
            .expect("windows command");
        assert!(
            win.contains("msiexec") && win.contains("TOKENFILE"),
            "{win}"
        );
        assert!(
            !win.contains(token),
            "the Windows command asks for the token"
        );
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    let (st, v, _) = call(&f.app, "GET", "/api/v1/tokens", Auth::Bearer(&adm), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(names(&v, "tokens", "id"), [ids[0].clone()]);
    assert!(
        !v.to_string().contains("secret") && !v.to_string().contains("vigil1."),
        "{v}"
    );
    assert_eq!(v["tokens"][0]["agency"], "p/a");
    assert_eq!(v["tokens"][0]["uses"], 0);
    let (_, v, _) = call(&f.app, "GET", "/api/v1/tokens", Auth::Bearer(&root), None).await;
    assert_eq!(names(&v, "tokens", "id").len(), 2);

    let revoke = |id: &str| format!("/api/v1/tokens/{id}/revoke");
    let (st, _, _) = call(&f.app, "POST", &revoke(&ids[1]), Auth::Bearer(&adm), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "p/b is outside adm-a's scope");
    let (cookie, csrf) = login(&f.app, "adm-a").await;
    let (st, _, _) = call(
        &f.app,
        "POST",
        &revoke(&ids[0]),
        Auth::Cookie(&cookie, None),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "no CSRF header");
    let (st, v, _) = call(
        &f.app,
        "POST",
        &revoke(&ids[0]),
        Auth::Cookie(&cookie, Some(&csrf)),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let stored = f.store.tokens().expect("tokens");
    let state: Vec<_> = stored.iter().map(|t| (t.id.clone(), t.revoked)).collect();
    assert!(state.contains(&(ids[0].clone(), true)), "{state:?}");
    assert!(state.contains(&(ids[1].clone(), false)), "{state:?}");
    let log = f.store.audit_log().expect("audit");
    let (_, _, _, detail) = log
        .iter()
        .find(|(_, actor, action, _)| actor == "adm-a" && action == "token.revoke")
        .expect("audited");
    assert_eq!(detail["agency"], "p/a");
}

#[tokio::test]
async fn audit_is_paginated_newest_first_and_filtered_by_scope() {
    let f = fixture();
    let (root, adm) = (bearer(&f, "root"), bearer(&f, "adm-a"));
    for (i, agency) in ["p/a", "p/b", "p/a/x", "p/a"].iter().enumerate() {
        f.store
            .audit(
                "someone",
                &format!("test.{i}"),
                &json!({ "agency": agency }),
                100,
            )
            .expect("audit");
    }
    f.store
        .audit("cli", "collector.thing", &json!({}), 100)
        .expect("audit");
    let get = |token: String, q: &str| {
        let q = q.to_owned();
        let app = f.app.clone();
        async move {
            call(
                &app,
                "GET",
                &format!("/api/v1/audit{q}"),
                Auth::Bearer(&token),
                None,
            )
            .await
        }
    };
    let (st, v, _) = get(adm.clone(), "").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let got: Vec<_> = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    // Newest first; p/b and collector-wide entries are hidden; users added to p/a by the fixture
    // (scope p/a) are visible.
    assert_eq!(&got[..3], ["test.3", "test.2", "test.0"], "{v}");
    assert!(got.iter().all(|a| a != "test.1" && a != "collector.thing"));
    assert_eq!(
        got.iter().filter(|a| *a == "user.add").count(),
        3,
        "adm-a, ana and vie"
    );
    assert_eq!(v["next_before"], Value::Null);

    // Root sees everything, in pages.
    let (_, v, _) = get(root.clone(), "?limit=2").await;
    assert_eq!(ids(&v, "entries", "action"), ["collector.thing", "test.3"]);
    let before = v["next_before"].as_i64().expect("cursor");
    let (_, v, _) = get(root.clone(), &format!("?limit=2&before={before}")).await;
    assert_eq!(ids(&v, "entries", "action"), ["test.2", "test.1"]);
    for bad in ["?limit=0", "?limit=501", "?before=x", "?bogus=1"] {
        let (st, v, _) = get(root.clone(), bad).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
}

pub(in crate::http) async fn login_from(
    app: &axum::Router,
    ip: [u8; 4],
    name: &str,
    pw: &str,
) -> (StatusCode, axum::http::HeaderMap) {
    let mut req = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"name": name, "password": pw}).to_string(),
        ))
        .expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(Peer(SocketAddr::from((ip, 40000)))));
    let r = app.clone().oneshot(req).await.expect("response");
    (r.status(), r.headers().clone())
}

#[tokio::test]
async fn failed_logins_are_limited_per_address_and_name_not_per_name_alone() {
    let f = fixture();
    let attacker = [192, 0, 2, 66];
    for _ in 0..5 {
        let (st, _) = login_from(&f.app, attacker, "ana", "wrong password!").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // The sixth attempt is refused without checking the password, even the right one.
    let (st, h) = login_from(&f.app, attacker, "ana", PW).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = h
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=900).contains(&wait), "{wait}");
    // Five wrong passwords from one place lock neither the name elsewhere nor the address for
    // other names (that was a denial of service: five requests locked `admin` out).
    let (st, _) = login_from(&f.app, [198, 51, 100, 1], "ana", PW).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = login_from(&f.app, attacker, "vie", PW).await;
    assert_eq!(st, StatusCode::OK);
    // A success clears its own pair's failures.
    for _ in 0..4 {
        let (st, _) = login_from(&f.app, [198, 51, 100, 2], "root", "wrong password!").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    let (st, _) = login_from(&f.app, [198, 51, 100, 2], "root", PW).await;
    assert_eq!(st, StatusCode::OK);
    for _ in 0..5 {
        let (st, _) = login_from(&f.app, [198, 51, 100, 2], "root", "wrong password!").await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "counting started again");
    }
}

#[tokio::test]
async fn admins_read_the_settings_in_force() {
    let f = fixture();
    let (st, v, _) = call(
        &f.app,
        "GET",
        "/api/v1/settings",
        Auth::Bearer(&bearer(&f, "adm-a")),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["organisation"], "Test");
    assert_eq!(v["scoring"]["ranking"]["min_hosts"], 5);
    assert!(
        v["scoring"]["alerts"]["sla_hours"]["critical"].is_number(),
        "{v}"
    );
    assert_eq!(v["reports"]["schedule"], "monthly");
}

#[tokio::test]
async fn admins_read_each_export_output_state() {
    let f = fixture();
    let x = f.store.exports();
    x.export_register("soc", 1).expect("register");
    assert!(x.export_claim("soc", "me", 1, i64::MAX).expect("claim"));
    x.export_note_error("soc", "me", "tls: unknown issuer", 7)
        .expect("note");
    let (st, v, _) = call(
        &f.app,
        "GET",
        "/api/v1/export/status",
        Auth::Bearer(&bearer(&f, "root")),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let o = &v["outputs"][0];
    assert_eq!(o["name"], "soc", "{v}");
    assert_eq!(
        (o["running"].clone(), o["backlog"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(o["last_error"], "tls: unknown issuer");
    assert_eq!(o["last_error_at"], 7);
}

/// Attack: a 1 MiB body to an admin route. It must be refused (413) once it passes the API's body
/// limit, not read whole first (regression: admin routes had axum's 2 MiB default, not the
/// 16 KiB limit of the rest of the API).
#[tokio::test]
async fn an_oversized_body_to_an_admin_route_is_refused_before_it_is_read_whole() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let f = fixture();
    let root = bearer(&f, "root");
    const CHUNK: usize = 16 * 1024;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    // `{"name":"aaaa…` in 64 chunks; each chunk is counted when the server pulls it.
    let chunks = (0..64).map(move |i| {
        counter.fetch_add(CHUNK, Ordering::SeqCst);
        let mut c = vec![b'a'; CHUNK];
        if i == 0 {
            c[..9].copy_from_slice(b"{\"name\":\"");
        }
        Ok::<_, std::io::Error>(c)
    });
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/users")
        .header(header::AUTHORIZATION, format!("Bearer {root}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .expect("request");
    let r = f.app.clone().oneshot(req).await.expect("response");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let read = pulled.load(Ordering::SeqCst);
    assert!(read <= 4 * CHUNK, "{read} bytes read before refusing");
}

/// Attack: anyone on the host reads `/proc/*/cmdline`, and sudo logs its command line. The
/// console's install command must hand the token to the installer without putting it in any
/// process's argv. The command runs as pasted into a shell, with `sudo` and `./install-agent.sh`
/// replaced by stand-ins that snapshot every command line on the machine and record standard
/// input.
#[tokio::test]
async fn the_install_command_keeps_the_token_out_of_every_command_line() {
    use std::os::unix::fs::PermissionsExt as _;

    let f = fixture();
    let root = bearer(&f, "root");
    let (st, v, _) = call(
        &f.app,
        "POST",
        "/api/v1/tokens",
        Auth::Bearer(&root),
        Some(json!({"agency": "p/a"})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().expect("token").to_owned();
    let command = v["install_command"].as_str().expect("command").to_owned();

    let dir = tempfile::tempdir().expect("tempdir");
    let script = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    script("sudo", "#!/bin/sh\nexec \"$@\"\n");
    script(
        "install-agent.sh",
        "#!/bin/sh\ncat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' >cmdlines\n\
         cat >stdin\n",
    );
    // The shell reads the command on its standard input, as an interactive shell reads a pasted
    // line: `sh -c COMMAND` would itself show the command in its argv.
    let run = |cmd: &str| {
        use std::io::Write as _;
        let mut sh = std::process::Command::new("/bin/sh")
            .current_dir(dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut input = sh.stdin.take().expect("stdin");
        input
            .write_all(format!("{cmd}\n").as_bytes())
            .expect("write");
        drop(input);
        let st = sh.wait().expect("wait");
        assert!(st.success(), "{cmd}");
        let seen = std::fs::read_to_string(dir.path().join("cmdlines")).expect("snapshot");
        assert!(
            seen.contains("install-agent.sh"),
            "the snapshot saw the installer: {seen}"
        );
        seen
    };
    let seen = run(&command);
    assert!(
        !seen.contains(&token),
        "the token is in a command line: {command}"
    );
    let stdin = std::fs::read_to_string(dir.path().join("stdin")).expect("stdin");
    assert_eq!(
        stdin.trim(),
        token,
        "the installer gets the token on standard input"
    );
    // The check can fail: the old command put the token in argv.
    let seen = run(&format!(
        "sudo ./install-agent.sh --token '{token}' </dev/null"
    ));
    assert!(seen.contains(&token));
}
