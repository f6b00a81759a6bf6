use std::path::PathBuf;
use std::sync::Mutex;

use vigil_proto::Severity;

use super::policy::{self, Item, Message, Outbox, Retry, Route};
use super::*;
use crate::report::Lang;
use crate::store::{NewAlert, SqliteStore};

fn item(id: i64, agency: &str, sev: Severity) -> Item {
    Item {
        id,
        kind: "ioc_hit".into(),
        severity: sev,
        agency: agency.into(),
        host: format!("h{id}"),
        title: format!("bad.exe matched indicator 10.0.0.{id}"),
        params: [
            (
                "indicator".to_owned(),
                serde_json::json!(format!("10.0.0.{id}")),
            ),
            ("exe".to_owned(), serde_json::json!("bad.exe")),
        ]
        .into_iter()
        .collect(),
        opened_at: 1_700_000_000,
    }
}

fn route(name: &str, agency: Option<&str>, min: Severity) -> Route {
    Route {
        name: name.into(),
        agency: agency.map(Into::into),
        min_severity: min,
    }
}

#[test]
fn routes_pick_by_subtree_and_severity() {
    let r = route("so", Some("p/so"), Severity::High);
    assert!(r.wants("p/so", Severity::High));
    assert!(r.wants("p/so/phong", Severity::Critical));
    assert!(
        !r.wants("p/sox", Severity::Critical),
        "a sibling with a common prefix"
    );
    assert!(!r.wants("p", Severity::Critical));
    assert!(!r.wants("p/so", Severity::Medium));
    assert!(route("all", None, Severity::Low).wants("", Severity::Low));
}

#[test]
fn first_alert_goes_at_once_and_a_burst_becomes_one_digest() {
    let routes = [route("soc", None, Severity::High)];
    let mut o = Outbox::default();
    let window = 600;
    o.offer(&routes, &item(1, "p/a", Severity::Critical), window, 1000);
    assert_eq!(o.due(1000).len(), 1, "the first alert is sent at once");
    let first = o.due(1000)[0];
    o.sent(first);
    for id in 2..=501 {
        o.offer(
            &routes,
            &item(id, "p/a", Severity::Critical),
            window,
            1000 + id / 10,
        );
        o.flush(window, 1000 + id / 10);
    }
    assert!(o.queue.is_empty(), "nothing more within the window");
    o.advance(1100);
    assert_eq!((o.cursor, o.taken.len()), (501, 0));
    o.flush(window, 1599);
    assert!(o.queue.is_empty(), "still within the window");
    o.flush(window, 1600);
    assert_eq!(o.queue.len(), 1, "one digest");
    match &o.queue[0].message {
        Message::Digest { items, more } => {
            assert_eq!(items.len(), policy::DIGEST_ITEMS);
            assert_eq!(*more, 500 - policy::DIGEST_ITEMS as u64);
            assert_eq!(o.queue[0].message.alert_count(), 500);
        }
        m => panic!("expected a digest, got {m:?}"),
    }
    // The digest opened a new window: the next alert waits too.
    o.offer(&routes, &item(600, "p/a", Severity::Critical), window, 1700);
    assert_eq!(o.queue.len(), 1);
    // Once the window is over with nothing pending, an alert goes at once again.
    let mut quiet = Outbox::default();
    quiet.offer(&routes, &item(1, "p/a", Severity::High), window, 0);
    quiet.offer(&routes, &item(2, "p/a", Severity::High), window, 700);
    assert_eq!(quiet.queue.len(), 2);
}

#[test]
fn an_alert_committed_late_with_a_smaller_id_is_not_missed() {
    let routes = [route("soc", None, Severity::Low)];
    let mut o = Outbox {
        cursor: 10,
        ..Outbox::default()
    };
    // 12 is read while 11 (an earlier id) is still uncommitted.
    o.offer(&routes, &item(12, "p", Severity::Low), 1, 100);
    o.advance(100);
    assert_eq!(o.cursor, 10, "waits at the missing id");
    o.offer(&routes, &item(12, "p", Severity::Low), 1, 101);
    assert_eq!(o.queue.len(), 1, "a re-read of a taken alert is ignored");
    o.offer(&routes, &item(11, "p", Severity::Low), 1, 102);
    o.advance(102);
    assert_eq!((o.cursor, o.taken.len(), o.gaps.len()), (12, 0, 0));
    assert_eq!(o.queue.len(), 2, "the late alert is sent too");
    // An id that never commits (a rolled back transaction) stops the cursor for a while only.
    o.offer(&routes, &item(14, "p", Severity::Low), 1, 200);
    o.advance(200);
    assert_eq!(o.cursor, 12);
    o.advance(200 + policy::GAP_GRACE_S - 1);
    assert_eq!(o.cursor, 12);
    o.advance(200 + policy::GAP_GRACE_S);
    assert_eq!((o.cursor, o.taken.len(), o.gaps.len()), (14, 0, 0));
    o.offer(&routes, &item(13, "p", Severity::Low), 1, 400);
    assert_eq!(o.queue.len(), 3, "below the cursor: too late, ignored");
}

#[test]
fn recipients_are_limited_independently() {
    let routes = [
        route("so", Some("p/so"), Severity::High),
        route("soc", None, Severity::Critical),
    ];
    let mut o = Outbox::default();
    o.offer(&routes, &item(1, "p/so", Severity::High), 600, 0);
    o.offer(&routes, &item(2, "p/other", Severity::Critical), 600, 1);
    let to: Vec<&str> = o.queue.iter().map(|q| q.to.as_str()).collect();
    assert_eq!(
        to,
        ["so", "soc"],
        "high for so only; critical elsewhere for soc only"
    );
    o.offer(&routes, &item(3, "p/x", Severity::Medium), 600, 2);
    assert_eq!(o.queue.len(), 2, "below every minimum");
    assert!(o.slots.get("so").is_some_and(|s| s.pending.is_empty()));
}

#[test]
fn failures_back_off_then_give_up() {
    let routes = [route("soc", None, Severity::Low)];
    let mut o = Outbox::default();
    o.offer(&routes, &item(1, "p", Severity::Low), 600, 0);
    let id = o.due(0)[0];
    assert_eq!(o.failed(id, 0, "down"), Retry::At(policy::FIRST_BACKOFF_S));
    assert!(o.due(policy::FIRST_BACKOFF_S - 1).is_empty());
    assert_eq!(o.due(policy::FIRST_BACKOFF_S), [id]);
    assert_eq!(
        o.get(id).and_then(|q| q.last_error.as_deref()),
        Some("down")
    );
    assert_eq!(
        o.failed(id, 100, "down"),
        Retry::At(100 + 2 * policy::FIRST_BACKOFF_S)
    );
    let mut last = Retry::At(0);
    for _ in 2..policy::MAX_ATTEMPTS {
        last = o.failed(id, 100, "down");
        if let Retry::At(t) = last {
            assert!(t - 100 <= policy::MAX_BACKOFF_S, "capped");
        }
    }
    assert_eq!(last, Retry::GaveUp);
    assert!(o.queue.is_empty());
}

#[test]
fn the_queue_is_bounded_by_dropping_the_oldest() {
    let routes = [route("soc", None, Severity::Low)];
    let mut o = Outbox::default();
    let mut dropped = 0;
    for i in 0..(policy::MAX_QUEUE as i64 + 5) {
        // A window of 1 s and one alert per second: every alert is its own message.
        dropped += o.offer(&routes, &item(i + 1, "p", Severity::Low), 1, i);
    }
    assert_eq!(o.queue.len(), policy::MAX_QUEUE);
    assert_eq!(dropped, 5);
    assert_eq!(o.queue.front().map(|q| q.id), Some(6));
}

#[test]
fn signatures_cover_timestamp_and_body() {
    let sig = webhook::signature(b"k3y", 1700, b"{\"a\":1}");
    assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
    assert!(webhook::verify(b"k3y", 1700, b"{\"a\":1}", &sig));
    assert!(
        !webhook::verify(b"k3y", 1701, b"{\"a\":1}", &sig),
        "replayed at another time"
    );
    assert!(
        !webhook::verify(b"k3y", 1700, b"{\"a\":2}", &sig),
        "body changed"
    );
    assert!(
        !webhook::verify(b"other", 1700, b"{\"a\":1}", &sig),
        "other key"
    );
    assert!(!webhook::verify(b"k3y", 1700, b"{\"a\":1}", "sha256=zz"));
    // RFC 4231 test case 2 (key "Jefe"), with the message split as the signature splits it.
    assert!(webhook::verify(
        b"Jefe",
        0,
        b"what do ya want for nothing?",
        &format!(
            "sha256={}",
            hex::encode(
                ring::hmac::sign(
                    &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"Jefe"),
                    b"0.what do ya want for nothing?"
                )
                .as_ref()
            )
        )
    ));
}

#[test]
fn agent_text_cannot_add_mail_headers_or_terminal_escapes() {
    let mut evil = item(1, "p", Severity::Critical);
    evil.host = "pc\r\nBcc: all@example.vn".into();
    evil.params
        .insert("exe".into(), serde_json::json!("x\u{1b}[2J\ry"));
    let m = Message::Alert(evil);
    let subject = text::subject(Lang::Vi, "Vigil", &m);
    assert!(!subject.contains(['\r', '\n']), "{subject:?}");
    let body = text::body(Lang::En, "Vigil", &m);
    assert!(!body.contains(['\r', '\u{1b}']), "{body:?}");
    assert!(body.contains("x [2J y matched indicator"), "{body:?}");
}

#[test]
fn messages_are_vietnamese_by_default_and_english_on_request() {
    let m = Message::Alert(item(7, "p/a", Severity::Critical));
    let vi = text::subject(Lang::Vi, "Vigil", &m);
    assert_eq!(vi, "[Vigil] Nghiêm trọng: h7 — Khớp chỉ dấu tấn công");
    assert!(text::body(Lang::Vi, "Vigil", &m).contains("bad.exe khớp chỉ dấu tấn công 10.0.0.7"));
    let en = text::body(Lang::En, "Vigil", &m);
    assert!(en.contains("bad.exe matched indicator 10.0.0.7"), "{en}");
    let d = Message::Digest {
        items: vec![item(1, "p", Severity::High)],
        more: 9,
    };
    assert_eq!(
        text::subject(Lang::Vi, "Vigil", &d),
        "[Vigil] Tổng hợp: 10 cảnh báo mới"
    );
    assert!(text::body(Lang::En, "Vigil", &d).contains("… and 9 more."));
    // A kind without Vietnamese facts still says its kind in Vietnamese.
    let mut odd = item(1, "p", Severity::High);
    odd.kind = "duplicate_machine".into();
    assert!(text::title(Lang::Vi, &odd).starts_with("Trùng máy: "));
}

fn parse(toml_text: &str) -> Result<NotifyConfig, Vec<String>> {
    let raw: RawNotify = toml::from_str(toml_text).map_err(|e| vec![e.to_string()])?;
    let mut errs = Vec::new();
    let c = raw.validate(Path::new("/d"), "collector.toml", &mut errs);
    if errs.is_empty() { Ok(c) } else { Err(errs) }
}

#[test]
fn config_is_validated_with_every_problem_named() {
    let ok = parse(
        "digest_window = \"5m\"\n[smtp]\nserver = \"mail.example.vn\"\nfrom = \"Vigil <v@example.vn>\"\n\
         username = \"v\"\npassword_env = \"SMTP_PW\"\n\
         [[recipient]]\nemail = \"a@example.vn\"\nagency = \"p/a/\"\n\
         [[recipient]]\nname = \"soc\"\nwebhook = \"https://soc.example.vn/hook\"\nkey_file = \"k\"\n\
         min_severity = \"critical\"\nlang = \"en\"\n",
    )
    .expect("valid");
    assert_eq!(ok.digest_window, std::time::Duration::from_secs(300));
    assert_eq!(ok.recipients[0].name, "a@example.vn");
    assert_eq!(ok.recipients[0].agency.as_deref(), Some("p/a"));
    assert_eq!(ok.recipients[0].lang, Lang::Vi);
    assert_eq!(ok.recipients[0].min_severity, Severity::High);
    assert_eq!(
        ok.recipients[1].channel,
        Channel::Webhook {
            url: "https://soc.example.vn/hook".into(),
            key: config::Secret::File("/d/k".into()),
            ca: None
        }
    );
    let e = parse(
        "digest_window = \"0s\"\n\
         [[recipient]]\nemail = \"not an address\"\n\
         [[recipient]]\nwebhook = \"http://soc.example.vn/hook\"\nkey_env = \"K\"\nlang = \"fr\"\n\
         [[recipient]]\nwebhook = \"https://x.example.vn/\"\n\
         [[recipient]]\nemail = \"b@example.vn\"\nwebhook = \"https://y.example.vn/\"\n",
    )
    .expect_err("invalid");
    for want in [
        "notify.digest_window must be at least 1s",
        "recipient[0].email: \"not an address\" is not an e-mail address",
        "recipient[0].email: e-mail recipients need a [notify.smtp] section",
        "recipient[1].webhook: \"http://soc.example.vn/hook\": plain http is allowed only to a loopback",
        "recipient[1].lang",
        "recipient[2]: a webhook needs key_file or key_env",
        "recipient[3]: give exactly one of email and webhook",
    ] {
        assert!(
            e.iter().any(|m| m.contains(want)),
            "{want} missing from {e:#?}"
        );
    }
    assert!(config::webhook_url("http://127.0.0.1:9/h").is_ok());
    assert!(config::webhook_url("http://[::1]:9/h").is_ok());
    assert!(config::webhook_url("ftp://x/").is_err());
}

#[test]
fn secrets_come_from_private_files_or_env_and_never_show() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tempfile::tempdir().expect("tmp");
    let f = d.path().join("pw");
    std::fs::write(&f, "s3cret-value\nignored\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = config::Secret::File(f.clone())
        .load()
        .expect_err("world-readable");
    assert!(e.contains("chmod 600") && !e.contains("s3cret"), "{e}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let v = config::Secret::File(f).load().expect("private");
    assert_eq!(v.expose(), "s3cret-value");
    assert!(!format!("{v:?}").contains("s3cret"));
    let e = config::Secret::Env("VIGIL_TEST_SURELY_UNSET_VARIABLE".into())
        .load()
        .expect_err("unset");
    assert!(e.contains("VIGIL_TEST_SURELY_UNSET_VARIABLE"));
}

/// Records deliveries; fails while `fail` is set.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<(String, Rendered)>>,
    fail: std::sync::atomic::AtomicBool,
}

impl Deliver for Recorder {
    fn deliver<'a>(
        &'a self,
        to: &'a Recipient,
        m: &'a Rendered,
        _now: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err("receiver down".into());
            }
            self.sent
                .lock()
                .expect("lock")
                .push((to.name.clone(), m.clone()));
            Ok(())
        })
    }
}

fn raise(s: &dyn Store, keys: std::ops::Range<u32>) {
    for i in keys {
        s.alert_raise(
            &NewAlert {
                key: format!("ioc:a1:{i}"),
                kind: "ioc_hit".into(),
                severity: Severity::Critical,
                agent_id: "a1".into(),
                title: format!("x matched indicator {i}"),
                params: Default::default(),
                other_agency: None,
            },
            1,
        )
        .expect("raise");
    }
}

#[tokio::test]
async fn queued_notifications_survive_a_restart_and_old_alerts_are_not_sent() {
    let d = tempfile::tempdir().expect("tmp");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&d.path().join("db.sqlite")).expect("store"));
    raise(&*store, 0..3); // before notifications were configured
    let cfg = parse("digest_window = \"1m\"\n[[recipient]]\nname = \"soc\"\nwebhook = \"http://127.0.0.1:9/\"\nkey_env = \"K\"\n")
        .map(|c| NotifyConfig {
            state_file: d.path().join("notify-state.json"),
            ..c
        })
        .expect("cfg");
    let rec = Arc::new(Recorder::default());
    rec.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut n =
        Notifier::new(cfg.clone(), "Vigil".into(), store.clone(), rec.clone()).expect("new");
    n.tick(1000).await.expect("tick");
    assert!(
        n.outbox().queue.is_empty(),
        "alerts older than the notifier are not sent"
    );
    raise(&*store, 2..7); // a repeat of ioc:a1:2, and four new alerts
    n.tick(1001).await.expect("tick");
    assert_eq!(
        n.outbox().queue.len(),
        1,
        "first alert queued, the other waits for the digest"
    );
    assert_eq!(n.outbox().queue[0].attempts, 1, "the receiver is down");
    drop(n); // the collector stops (or crashes) here
    rec.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let mut n = Notifier::new(cfg, "Vigil".into(), store.clone(), rec.clone()).expect("again");
    n.tick(1001 + policy::FIRST_BACKOFF_S).await.expect("retry");
    n.tick(1070).await.expect("digest");
    let sent = rec.sent.lock().expect("lock").clone();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let first: serde_json::Value = serde_json::from_slice(&sent[0].1.json).expect("json");
    assert_eq!(first["type"], "alert");
    assert_eq!(first["alerts"][0]["title"], "x matched indicator 3");
    assert_eq!(first["lang"], "vi");
    let digest: serde_json::Value = serde_json::from_slice(&sent[1].1.json).expect("json");
    assert_eq!(digest["type"], "digest");
    assert_eq!(digest["alert_count"], 3);
    assert!(sent[1].1.subject.contains("Tổng hợp: 3 cảnh báo mới"));
    assert!(n.outbox().queue.is_empty());
}

/// A CA and a leaf for 127.0.0.1 signed by it, as PEM files: (ca, cert, key).
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("leaf")
        .signed_by(&key, &issuer)
        .expect("leaf cert");
    let p = (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    );
    std::fs::write(&p.0, ca_cert.pem()).expect("w");
    std::fs::write(&p.1, leaf.pem()).expect("w");
    std::fs::write(&p.2, key.serialize_pem()).expect("w");
    p
}

/// Takes one HTTPS request on `l` and answers `status`; returns its head and body.
async fn serve_one(
    l: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    status: &str,
) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (tcp, _) = l.accept().await.expect("accept");
    let mut s = tls.accept(tcp).await.expect("handshake");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body) = loop {
        let n = s.read(&mut chunk).await.expect("read");
        assert!(n > 0 && buf.len() < 1 << 20, "request ended early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, _)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().expect("len"))
                })
                .expect("content-length");
            let start = head.len() + 4;
            if buf.len() >= start + len {
                break (head.to_owned(), buf[start..start + len].to_vec());
            }
        }
    };
    s.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
        .await
        .expect("answer");
    let _ = s.shutdown().await;
    (head, body)
}

#[tokio::test]
async fn webhooks_go_over_verified_https_with_a_signature_and_fail_on_a_stranger_or_a_refusal() {
    let d = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = tls_files(d.path());
    let server = Arc::new(crate::http::listen::server_config(&cert, &key).expect("server tls"));
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}/in?x=1", l.local_addr().expect("addr"));
    let secret = d.path().join("k");
    std::fs::write(&secret, "hook-key\n").expect("w");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let k = config::Secret::File(secret).load().expect("key");
    let hook = webhook::Webhook::new(&url, k.clone(), Some(&ca)).expect("hook");
    let server = tokio::spawn(serve_one(l, acceptor.clone(), "204 No Content"));
    hook.post(b"{\"a\":1}".to_vec(), 1_700_000_000)
        .await
        .expect("delivered");
    let (head, body) = server.await.expect("server");
    assert!(head.starts_with("POST /in?x=1 HTTP/1.1"), "{head}");
    let sig = head
        .lines()
        .find_map(|l| l.strip_prefix("x-vigil-signature: "))
        .expect("signature header");
    assert!(head.contains("x-vigil-timestamp: 1700000000"), "{head}");
    assert!(webhook::verify(b"hook-key", 1_700_000_000, &body, sig));
    // A receiver that refuses: an error, so the message is retried.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}/", l.local_addr().expect("addr"));
    let server = tokio::spawn(serve_one(l, acceptor, "500 Internal Server Error"));
    let hook = webhook::Webhook::new(&url, k.clone(), Some(&ca)).expect("hook");
    let e = hook.post(b"{}".to_vec(), 1).await.expect_err("refused");
    assert!(e.contains("500"), "{e}");
    server.await.expect("server");
    // A server whose certificate another CA signed gets nothing.
    let other = tempfile::tempdir().expect("tmp");
    let (other_ca, _, _) = tls_files(other.path());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}/", l.local_addr().expect("addr"));
    let hook = webhook::Webhook::new(&url, k, Some(&other_ca)).expect("hook");
    let accept = tokio::spawn(async move { l.accept().await.map(drop) });
    let e = hook.post(b"{}".to_vec(), 1).await.expect_err("stranger");
    assert!(e.starts_with("TLS with 127.0.0.1"), "{e}");
    let _ = accept.await;
}

#[test]
fn long_agent_text_is_cut_on_a_character_boundary() {
    let c = cap(&"é".repeat(10_000));
    assert_eq!(c.chars().count(), MAX_FIELD + 1);
    assert!(c.ends_with('…'));
    assert_eq!(cap("short"), "short");
}

/// Two collectors on one database, each with `[notify]` and its own state file: every alert
/// reaches each recipient once, by whichever collector claimed it first.
async fn two_notifiers_send_each_alert_once(store: Arc<dyn Store>) {
    let d = tempfile::tempdir().expect("tmp");
    let cfg = |n: &str| {
        parse("digest_window = \"1m\"\n[[recipient]]\nname = \"soc\"\nwebhook = \"http://127.0.0.1:9/\"\nkey_env = \"K\"\n")
            .map(|c| NotifyConfig {
                state_file: d.path().join(format!("notify-state-{n}.json")),
                ..c
            })
            .expect("cfg")
    };
    let rec = Arc::new(Recorder::default());
    // Store calls off the async threads (the PostgreSQL client blocks).
    let sync = |f: Box<dyn FnOnce() + Send>| tokio::task::spawn_blocking(f);
    let (s2, r2, ca, cb) = (store.clone(), rec.clone(), cfg("a"), cfg("b"));
    let (mut a, mut b) = tokio::task::spawn_blocking(move || {
        let a = Notifier::new(ca, "A".into(), s2.clone(), r2.clone()).expect("a");
        let b = Notifier::new(cb, "B".into(), s2, r2).expect("b");
        (a, b)
    })
    .await
    .expect("notifiers");
    let s2 = store.clone();
    sync(Box::new(move || raise(&*s2, 0..1)))
        .await
        .expect("raise");
    // Both read the new alert; one sends it.
    b.tick(1000).await.expect("tick b");
    a.tick(1000).await.expect("tick a");
    // A burst: whichever claims each alert digests it; the other leaves it.
    let s2 = store.clone();
    sync(Box::new(move || raise(&*s2, 1..40)))
        .await
        .expect("raise");
    a.tick(1001).await.expect("tick a");
    b.tick(1001).await.expect("tick b");
    a.tick(1070).await.expect("digest a");
    b.tick(1070).await.expect("digest b");
    let sent = rec.sent.lock().expect("lock").clone();
    let mut seen = std::collections::BTreeMap::new();
    for (to, m) in &sent {
        let v: serde_json::Value = serde_json::from_slice(&m.json).expect("json");
        for a in v["alerts"].as_array().expect("alerts") {
            *seen
                .entry((to.clone(), a["title"].to_string()))
                .or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), 40, "every alert once: {seen:?}");
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
    // b claimed the first alert (sent at once); a read the burst first and claimed all of it:
    // its first at once, the rest in one digest. Each collector keeps its own digest window.
    assert_eq!(sent.len(), 3, "{sent:#?}");
}

#[tokio::test]
async fn two_collectors_on_one_sqlite_database_notify_once() {
    let d = tempfile::tempdir().expect("tmp");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&d.path().join("db.sqlite")).expect("store"));
    two_notifiers_send_each_alert_once(store).await;
}

#[test]
fn two_collectors_on_one_postgresql_database_notify_once() {
    let Some(db) = crate::store::postgres::tests::TestDb::new() else {
        return;
    };
    let store: Arc<dyn Store> = Arc::new(db.open());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(two_notifiers_send_each_alert_once(store));
}
