//! Unit tests of the export formats, filters and configuration (the store side is in the
//! store suite, the wire against real receivers in tests/tests/export.rs).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;
use vigil_proto::{CheckResult, Finding, NetEvent, NetEventKind, Severity, Status};

use super::config::{Payload, RawExport};
use super::event::Event;
use super::frame;
use crate::store::StoredFinding;
use crate::store::export::{ExportEvent, ExportSource, LogPos};

fn export_event(agent: &str, seq: u64, f: &Finding) -> ExportEvent {
    ExportEvent {
        pos: LogPos {
            tx: 0,
            id: seq as i64,
        },
        at: 1_765_000_000_000,
        agent_id: agent.into(),
        agency: Some("p/a".into()),
        hostname: Some("pc 01|x".into()),
        source: ExportSource::Finding(StoredFinding {
            agent_id: agent.into(),
            seq,
            kind: f.kind_name().into(),
            observed_at: 1_765_000_000_123,
            received_at: 1_765_000_000_456,
            finding: serde_json::to_value(f).expect("json"),
        }),
    }
}

fn ioc() -> Finding {
    Finding::NetEvent(NetEvent {
        kind: NetEventKind::IocHit,
        proto: "tcp".into(),
        local: "10.0.0.5:51000".into(),
        remote: Some("203.0.113.9:443".into()),
        pid: Some(4242),
        exe: Some("/usr/bin/curl".into()),
        user: Some("alice".into()),
        cmdline: None,
        indicator: Some("ip:203.0.113.9".into()),
        note: None,
        severity: Severity::Low,
    })
}

fn hostile_check() -> Finding {
    Finding::CheckResult(CheckResult {
        rule_id: "r|1=2".into(),
        pack: "p@1".into(),
        status: Status::Fail,
        severity: Severity::High,
        group: "hardening".into(),
        controls: vec!["c:1".into()],
        evidence: "a=b\\c\nd|e\r CEF:0|forged|x|".into(),
    })
}

/// CEF as a receiver reads it: seven header fields split on unescaped `|`, then `key=value`
/// extensions split before each unescaped `key=`.
fn parse_cef(line: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let body = line.strip_prefix("CEF:").expect("CEF prefix");
    let (mut header, mut cur, mut chars) = (Vec::new(), String::new(), body.chars());
    while header.len() < 7 {
        match chars.next().expect("seven header fields") {
            '\\' => cur.push(chars.next().expect("escaped")),
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let rest: String = chars.collect();
    let mut ext = BTreeMap::new();
    let (mut key, mut val, mut raw) = (String::new(), String::new(), rest.chars().peekable());
    let mut in_value = false;
    while let Some(c) = raw.next() {
        match (c, in_value) {
            ('=', false) => in_value = true,
            (c, false) => key.push(c),
            ('\\', true) => match raw.next().expect("escape") {
                'n' => val.push('\n'),
                'r' => val.push('\r'),
                e => val.push(e),
            },
            ('=', true) => {
                // `key=` started inside what looked like a value: the last word is the key.
                let cut = val.rfind(' ').expect("space before a key");
                let next_key = val[cut + 1..].to_owned();
                val.truncate(cut);
                ext.insert(std::mem::take(&mut key), std::mem::take(&mut val));
                key = next_key;
            }
            (c, true) => val.push(c),
        }
    }
    ext.insert(key, val);
    (header, ext)
}

#[test]
fn cef_escapes_agent_text_so_it_cannot_forge_fields() {
    let ev = export_event("a1", 7, &hostile_check());
    let e = Event::decode(&ev).expect("decodes");
    let line = super::cef::line(&e, 1023);
    assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
    let (h, ext) = parse_cef(&line);
    assert_eq!(h[0], "0");
    assert_eq!((h[1].as_str(), h[2].as_str()), ("Vigil", "Vigil"));
    assert_eq!(h[4], "check:r|1=2");
    assert_eq!(h[6], "8", "high is 8 of 10");
    assert_eq!(ext["cs2"], "r|1=2");
    assert_eq!(ext["msg"], "Rule r|1=2 fail: a=b\\c\nd|e\r CEF:0|forged|x|");
    assert_eq!(ext["dvchost"], "pc 01|x");
    assert_eq!(ext["externalId"], "a1-7");
    assert_eq!(ext["cs1Label"], "agency");
    assert_eq!(ext["cs1"], "p/a");
    assert_eq!(ext["rt"], "1765000000456");
    assert_eq!(ext["outcome"], "fail");
}

#[test]
fn ioc_hit_maps_to_cef_and_ecs_fields() {
    let ev = export_event("a1", 3, &ioc());
    let e = Event::decode(&ev).expect("decodes");
    assert_eq!(
        e.severity,
        Severity::Critical,
        "an IOC hit is critical whatever the agent says"
    );
    let (h, ext) = parse_cef(&super::cef::line(&e, 1023));
    assert_eq!((h[4].as_str(), h[6].as_str()), ("net:net-ioc-hit", "10"));
    for (k, v) in [
        ("src", "10.0.0.5"),
        ("spt", "51000"),
        ("dst", "203.0.113.9"),
        ("dpt", "443"),
        ("proto", "TCP"),
        ("sproc", "/usr/bin/curl"),
        ("spid", "4242"),
        ("suser", "alice"),
        ("cs2", "ip:203.0.113.9"),
    ] {
        assert_eq!(ext[k], v, "{k}");
    }
    let d = super::ecs::document(&e, "coll", true);
    for (ptr, v) in [
        ("/event/kind", "alert"),
        ("/event/action", "net-ioc-hit"),
        ("/event/id", "a1-3"),
        ("/destination/ip", "203.0.113.9"),
        ("/source/ip", "10.0.0.5"),
        ("/threat/indicator/name", "203.0.113.9"),
        ("/threat/indicator/type", "ipv4-addr"),
        ("/threat/indicator/ip", "203.0.113.9"),
        ("/host/id", "a1"),
        ("/organization/id", "p/a"),
        ("/@timestamp", "2025-12-06T05:46:40.123Z"),
        ("/event/created", "2025-12-06T05:46:40.456Z"),
        ("/log/level", "critical"),
        ("/ecs/version", "8.11.0"),
    ] {
        assert_eq!(
            d.pointer(ptr).and_then(Value::as_str),
            Some(v),
            "{ptr} in {d}"
        );
    }
    assert_eq!(d.pointer("/event/severity"), Some(&serde_json::json!(10)));
    assert_eq!(
        d.pointer("/destination/port"),
        Some(&serde_json::json!(443))
    );
    assert_eq!(
        d.pointer("/vigil/finding/indicator")
            .and_then(Value::as_str),
        Some("ip:203.0.113.9")
    );
}

#[test]
fn syslog_frames_are_octet_counted_rfc5424_and_shortened_to_fit() {
    let ev = export_event("a1", 3, &ioc());
    let e = Event::decode(&ev).expect("decodes");
    for payload in [Payload::Cef, Payload::Ecs] {
        let f = frame::syslog_frame(&e, payload, 16, 8192, "coll");
        let text = String::from_utf8(f).expect("utf-8");
        let (len, msg) = text.split_once(' ').expect("LEN SP");
        assert_eq!(len.parse::<usize>().expect("len"), msg.len());
        // local0 (16) * 8 + crit (2)
        assert!(
            msg.starts_with("<130>1 2025-12-06T05:46:40.456Z pc01|x vigil - finding - "),
            "{msg}"
        );
    }
    let big = Finding::CheckResult(CheckResult {
        evidence: "é=".repeat(20_000),
        ..match hostile_check() {
            Finding::CheckResult(c) => c,
            _ => unreachable!(),
        }
    });
    let ev = export_event("a1", 4, &big);
    let e = Event::decode(&ev).expect("decodes");
    for payload in [Payload::Cef, Payload::Ecs] {
        let text =
            String::from_utf8(frame::syslog_frame(&e, payload, 16, 2048, "c")).expect("utf8");
        let (len, msg) = text.split_once(' ').expect("LEN SP");
        assert_eq!(len.parse::<usize>().expect("len"), msg.len());
        assert!(msg.len() <= 2048, "{}", msg.len());
        let body = msg.splitn(8, ' ').nth(7).expect("MSG");
        match payload {
            Payload::Ecs => {
                let d: Value = serde_json::from_str(body).expect("still JSON");
                assert_eq!(d.pointer("/event/id").and_then(Value::as_str), Some("a1-4"));
            }
            Payload::Cef => assert_eq!(parse_cef(body).1["externalId"], "a1-4"),
        }
    }
}

#[test]
fn bulk_bodies_pair_create_actions_with_documents_and_replies_are_classified() {
    let evs = [
        export_event("a1", 1, &ioc()),
        export_event("a1", 2, &hostile_check()),
    ];
    let events: Vec<Event<'_>> = evs.iter().filter_map(Event::decode).collect();
    let body = frame::bulk_body(&events, "vigil-events", "c");
    let lines: Vec<Value> = String::from_utf8(body)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["create"]["_id"], "a1-1");
    assert_eq!(lines[0]["create"]["_index"], "vigil-events");
    assert_eq!(lines[3]["event"]["id"], "a1-2");
    let reply = br#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}},
        {"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}},{"index":{"status":429}}]}"#;
    let o = frame::bulk_outcome(reply, 4).expect("parsed");
    assert_eq!((o.created, o.duplicates, o.rejected, o.retry), (1, 1, 1, 1));
    for bad in [
        &b"<html>"[..],
        br#"{"items":[]}"#,
        br#"{"items":[{"create":{}}]}"#,
        br#"{"items":[7]}"#,
        br#"{"errors":false}"#,
    ] {
        assert!(
            frame::bulk_outcome(bad, 1).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

fn parse(toml_text: &str) -> Result<super::ExportConfig, Vec<String>> {
    #[derive(serde::Deserialize)]
    struct File {
        export: RawExport,
    }
    let f: File = toml::from_str(toml_text).map_err(|e| vec![e.to_string()])?;
    let mut errs = Vec::new();
    let c = f.export.validate(Path::new("/d"), "c.toml", &mut errs);
    if errs.is_empty() { Ok(c) } else { Err(errs) }
}

#[test]
fn outputs_are_validated_with_every_problem_named() {
    let c = parse(
        r#"
[[export.output]]
name = "soc"
type = "syslog"
address = "siem.example:6514"
format = "cef"
ca = "pki/siem-ca.pem"
min_severity = "high"
agencies = ["p/a"]
[[export.output]]
name = "es"
type = "elastic"
url = "https://[::1]:9200/prefix/"
ca = "/etc/ca.pem"
client_cert = "c.pem"
client_key = "k.pem"
kinds = ["net", "alert"]
"#,
    )
    .expect("valid");
    assert_eq!(c.outputs.len(), 2);
    let soc = &c.outputs[0];
    assert_eq!(soc.tls.ca, Path::new("/d/pki/siem-ca.pem"));
    assert_eq!(soc.tls.server_name, "siem.example");
    assert!(
        soc.filter
            .accepts("check", Severity::Critical, Some("p/a/b"))
    );
    assert!(
        !soc.filter
            .accepts("check", Severity::Critical, Some("p/ab")),
        "a subtree, not a prefix"
    );
    assert!(!soc.filter.accepts("check", Severity::Medium, Some("p/a")));
    assert!(
        !soc.filter
            .accepts("inventory", Severity::Critical, Some("p/a")),
        "not by default"
    );
    assert!(!soc.filter.accepts("check", Severity::Critical, None));
    match &c.outputs[1].sink {
        super::Sink::Elastic {
            host,
            port,
            path,
            index,
            ..
        } => {
            assert_eq!(
                (host.as_str(), *port, path.as_str()),
                ("::1", 9200, "/prefix/_bulk")
            );
            assert_eq!(index, "vigil-events");
        }
        s => panic!("{s:?}"),
    }
    assert!(c.outputs[1].filter.accepts("alert", Severity::Low, None));

    let errs = parse(
        r#"
[[export.output]]
name = "x"
type = "syslog"
address = "nohost"
format = "leef"
url = "https://a:1"
[[export.output]]
name = "x"
type = "elastic"
url = "http://es:9200"
ca = "ca.pem"
kinds = ["netflow"]
min_severity = "urgent"
max_age = "1s"
client_cert = "c.pem"
[[export.output]]
name = "y"
type = "kafka"
ca = "ca.pem"
"#,
    )
    .expect_err("invalid");
    let all = errs.join("\n");
    for needle in [
        "export.output[0].address",
        "export.output[0].format",
        "export.output[0].url is for elastic",
        "export.output[0].ca",
        "export.output[1].name: \"x\" is used twice",
        "export.output[1].url: \"http://es:9200\" must start with https://",
        "export.output[1].kinds",
        "export.output[1].min_severity",
        "export.output[1].max_age",
        "export.output[1].client_cert and client_key go together",
        "export.output[2].type",
    ] {
        assert!(all.contains(needle), "missing {needle} in\n{all}");
    }
    let unknown = parse("[[export.output]]\nname = \"a\"\ntype = \"syslog\"\ninsecure = true\n");
    assert!(
        unknown
            .expect_err("unknown key")
            .join("")
            .contains("insecure")
    );
}

/// A CA and a `localhost` server certificate signed by it, as PEM files in `dir` (`<tag>-ca.pem`,
/// `<tag>.pem`, `<tag>.key`).
fn test_pki(dir: &Path, tag: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("cert");
    let paths = (
        dir.join(format!("{tag}-ca.pem")),
        dir.join(format!("{tag}.pem")),
        dir.join(format!("{tag}.key")),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write");
    std::fs::write(&paths.1, cert.pem()).expect("write");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write");
    paths
}

/// A TLS server on loopback that records what it reads and answers each connection with `reply`.
async fn tls_server(cert: &Path, key: &Path, reply: Vec<u8>) -> (SocketAddr, Recorded) {
    let cfg = crate::http::listen::server_config(cert, key).expect("server config");
    tls_server_with(cfg, reply).await
}

/// What a test server read.
type Recorded = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// [`tls_server`] with its own rustls configuration; what a client presenting a certificate
/// sends is recorded after a `CLIENT-CERT ` mark.
async fn tls_server_with(cfg: rustls::ServerConfig, reply: Vec<u8>) -> (SocketAddr, Recorded) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, g, reply) = (acceptor.clone(), g.clone(), reply.clone());
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                if s.get_ref().1.peer_certificates().is_some() {
                    g.lock().expect("lock").extend_from_slice(b"CLIENT-CERT ");
                }
                let mut b = vec![0_u8; 65536];
                if let Ok(n) = s.read(&mut b).await {
                    g.lock().expect("lock").extend_from_slice(&b[..n]);
                }
                let _ = s.write_all(&reply).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, got)
}

fn files(ca: &Path) -> super::config::TlsFiles {
    super::config::TlsFiles {
        ca: ca.to_path_buf(),
        server_name: "localhost".into(),
        client: None,
    }
}

#[tokio::test]
async fn receivers_are_verified_against_the_configured_ca_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = test_pki(dir.path(), "good");
    let (other_ca, _, _) = test_pki(dir.path(), "other");
    let (addr, got) = tls_server(&cert, &key, Vec::new()).await;
    let (tls, name) = super::transport::connector(&files(&other_ca)).expect("connector");
    let mut s = super::transport::Syslog::new(tls, name, "127.0.0.1".into(), addr.port());
    let e = s
        .send(b"5 hello")
        .await
        .expect_err("a certificate of another CA");
    assert!(e.to_string().contains("TLS handshake"), "{e}");
    let (tls, name) = super::transport::connector(&files(&ca)).expect("connector");
    let mut s = super::transport::Syslog::new(tls, name, "127.0.0.1".into(), addr.port());
    s.send(b"5 hello").await.expect("the configured CA");
    for _ in 0..100 {
        if got.lock().expect("lock").as_slice() == b"5 hello" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got.lock().expect("lock").as_slice(), b"5 hello");
    let e = super::transport::connector(&files(&dir.path().join("missing.pem")))
        .err()
        .expect("missing CA file");
    assert!(e.contains("missing.pem"), "{e}");
    let e = super::transport::connector(&files(&key))
        .err()
        .expect("a key is no CA");
    assert!(e.contains("good.key"), "{e}");
}

#[tokio::test]
async fn bulk_replies_are_status_checked_and_bounded() {
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = test_pki(dir.path(), "es");
    let post = |port: u16| {
        let (tls, name) = super::transport::connector(&files(&ca)).expect("connector");
        super::transport::Elastic::new(
            tls,
            name,
            ("127.0.0.1".into(), port, "/_bulk".into()),
            Some("ApiKey k".into()),
        )
    };
    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{\"items\":[]}".to_vec();
    let (addr, got) = tls_server(&cert, &key, ok).await;
    let body = post(addr.port())
        .post(b"{}\n{}\n".to_vec())
        .await
        .expect("200");
    assert_eq!(body, b"{\"items\":[]}");
    let req = String::from_utf8(got.lock().expect("lock").clone()).expect("text");
    assert!(req.starts_with("POST /_bulk HTTP/1.1\r\n"), "{req}");
    assert!(
        req.to_ascii_lowercase()
            .contains("authorization: apikey k\r\n"),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase()
            .contains("content-type: application/x-ndjson"),
        "{req}"
    );

    let (addr, _) = tls_server(
        &cert,
        &key,
        b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n".to_vec(),
    )
    .await;
    let e = post(addr.port())
        .post(b"{}\n{}\n".to_vec())
        .await
        .expect_err("503");
    assert!(e.to_string().contains("503"), "{e}");

    let mut huge = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
        super::transport::MAX_REPLY + 1
    )
    .into_bytes();
    huge.resize(huge.len() + super::transport::MAX_REPLY + 1, b' ');
    let (addr, _) = tls_server(&cert, &key, huge).await;
    assert!(
        post(addr.port()).post(b"{}\n{}\n".to_vec()).await.is_err(),
        "reply over the bound"
    );

    let (addr, _) = tls_server(&cert, &key, b"SSH-2.0-x\r\n".to_vec()).await;
    assert!(
        post(addr.port()).post(b"{}\n{}\n".to_vec()).await.is_err(),
        "not HTTP"
    );
}

#[tokio::test]
async fn a_configured_client_certificate_is_presented() {
    use rustls_pki_types::pem::PemObject as _;
    let dir = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = test_pki(dir.path(), "srv");
    let (client_ca, client_cert, client_key) = test_pki(dir.path(), "client");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_file(&client_ca).expect("ca"))
        .expect("root");
    let provider = crate::tls::provider();
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone())
            .build()
            .expect("verifier");
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![rustls_pki_types::CertificateDer::from_pem_file(&cert).expect("cert")],
            rustls_pki_types::PrivateKeyDer::from_pem_file(&key).expect("key"),
        )
        .expect("server config");
    let (addr, got) = tls_server_with(cfg, Vec::new()).await;
    let mut f = files(&ca);
    f.client = Some((client_cert, client_key));
    let (tls, name) = super::transport::connector(&f).expect("connector");
    let mut s = super::transport::Syslog::new(tls, name, "127.0.0.1".into(), addr.port());
    s.send(b"2 hi").await.expect("mutual TLS");
    for _ in 0..100 {
        if got.lock().expect("lock").len() >= 16 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(got.lock().expect("lock").as_slice(), b"CLIENT-CERT 2 hi");
}
