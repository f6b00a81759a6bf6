//! SIEM export (issue 19) with the real collector and agents: a real rsyslog receiving RFC 5425
//! syslog over TLS (CEF and ECS JSON payloads), a real HTTPS receiver of Elastic bulk requests
//! (a small server here), each through an outage during which events are produced and the
//! collector restarts: every event arrives exactly once. Certificates are made here with rcgen;
//! the receivers are verified against the test CA.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use vigil_e2e::{Agent, Collector, Proc, free_tcp_port, synthetic, wait_for};

/// The test CA and a server certificate for `localhost` / 127.0.0.1, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "export test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let mut p =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("p");
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = p.signed_by(&key, &issuer).expect("server cert");
    let out = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&out.ca, ca_cert.pem()).expect("ca.pem");
    std::fs::write(&out.cert, cert.pem()).expect("server.pem");
    std::fs::write(&out.key, key.serialize_pem()).expect("server.key");
    out
}

/// Whether a receiver program is here; outside CI a missing one skips the test (saying so).
fn have(program: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is required in CI (Debian package {package}, scripts/setup.sh)"
        );
        eprintln!("SKIPPED: {program} not installed (Debian package {package}; scripts/setup.sh)");
    }
    found
}

/// A real rsyslogd listening with TLS (imtcp, gtls driver) on 127.0.0.1:`port`, writing each
/// message's MSGID and MSG to `out`, one per line.
struct Rsyslog {
    conf: PathBuf,
    dir: PathBuf,
    port: u16,
    out: PathBuf,
    proc: Option<Proc>,
}

impl Rsyslog {
    fn new(dir: &Path, pki: &Pki) -> Self {
        let dir = dir.join("rsyslog");
        std::fs::create_dir_all(&dir).expect("rsyslog dir");
        let port = free_tcp_port();
        let out = dir.join("received.log");
        let conf = dir.join("rsyslog.conf");
        let text = format!(
            r#"global(workDirectory="{work}" maxMessageSize="64k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="vigil" type="string" string="%msgid% %msg%\n")
ruleset(name="vigil") {{ action(type="omfile" file="{out}" template="vigil") }}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="vigil")
"#,
            work = dir.display(),
            ca = pki.ca.display(),
            cert = pki.cert.display(),
            key = pki.key.display(),
            out = out.display(),
        );
        std::fs::write(&conf, text).expect("rsyslog.conf");
        Self {
            conf,
            dir,
            port,
            out,
            proc: None,
        }
    }

    fn start(&mut self) {
        let mut cmd = Command::new("rsyslogd");
        cmd.arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"));
        self.proc = Some(Proc::spawn(&mut cmd, self.dir.join("rsyslogd.log")));
        let port = self.port;
        wait_for(Duration::from_secs(20), "rsyslogd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
    }

    fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            assert!(p.terminate(), "rsyslogd ends on SIGTERM");
        }
    }

    /// Received messages: (MSGID, MSG).
    fn messages(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (id, msg) = l.split_once(' ')?;
                Some((id.to_owned(), msg.trim_start().to_owned()))
            })
            .collect()
    }
}

/// A CEF line parsed as a receiver does: seven header fields split on unescaped `|`, then the
/// extension's `key=value` pairs (a value runs to the space before the next unescaped `key=`).
fn parse_cef(line: &str) -> Option<(Vec<String>, BTreeMap<String, String>)> {
    let body = line.strip_prefix("CEF:")?;
    let (mut header, mut cur, mut chars) = (Vec::new(), String::new(), body.chars());
    while header.len() < 7 {
        match chars.next()? {
            '\\' => cur.push(chars.next()?),
            '|' => header.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    let mut ext = BTreeMap::new();
    let (mut key, mut val, mut in_value) = (String::new(), String::new(), false);
    let mut rest = chars.peekable();
    while let Some(c) = rest.next() {
        match (c, in_value) {
            ('=', false) => in_value = true,
            (c, false) if c.is_ascii_alphanumeric() => key.push(c),
            (_, false) => return None,
            ('\\', true) => match rest.next()? {
                'n' => val.push('\n'),
                'r' => val.push('\r'),
                e @ ('\\' | '=') => val.push(e),
                _ => return None,
            },
            ('=', true) => {
                let cut = val.rfind(' ')?;
                let next = val[cut + 1..].to_owned();
                val.truncate(cut);
                ext.insert(std::mem::replace(&mut key, next), std::mem::take(&mut val));
            }
            (c, true) => val.push(c),
        }
    }
    ext.insert(key, val);
    Some((header, ext))
}

/// Imports an IOC list holding 127.0.0.9.
fn import_ioc(c: &Collector) {
    let list = c.tmp.path().join("bad.txt");
    std::fs::write(&list, "127.0.0.9\n").expect("write");
    c.ok(&["ioc", "import", list.to_str().expect("utf8")]);
}

/// An agent watching the network, enrolled and connected with the IOC set loaded.
fn ioc_agent(c: &Collector) -> Agent {
    let mut a = Agent::new(c.tmp.path(), "netw", "[netwatch]\ninterval = \"1s\"\n");
    a.enroll(&c.token(&[]), "m-netw");
    a.start();
    wait_for(
        Duration::from_secs(30),
        "the agent to load the IOC set",
        || a.log().contains("IOC set updated").then_some(()),
    );
    a
}

/// Connects from this process to a listener on 127.0.0.9 (an IOC address) and holds it for the
/// agent's next network scan.
fn hit_ioc() {
    let listener = std::net::TcpListener::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    let mut conn = std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("c");
    let _peer = listener.accept().expect("accept");
    conn.write_all(b"x").expect("write");
    std::thread::sleep(Duration::from_secs(3));
}

/// An agent that sends `n` numbered synthetic findings (kind `health`) as soon as it starts.
fn synthetic_agent(c: &Collector, name: &str, n: u64) -> Agent {
    let mut a = Agent::new(
        c.tmp.path(),
        name,
        &format!(
            "[checks]\nenabled = false\n[testing]\nsynthetic_findings = {n}\nsynthetic_rate = 200\n"
        ),
    );
    a.enroll(&c.token(&[]), &format!("m-{name}"));
    a
}

/// The `(agent, seq)` ids of an agent's stored findings of `kind`.
fn stored_ids(c: &Collector, agent: &str, kind: &str) -> BTreeSet<String> {
    c.findings(agent, Some(kind))
        .iter()
        .filter_map(|f| Some(format!("{agent}-{}", f["seq"].as_u64()?)))
        .collect()
}

/// Restarts the collector (SIGTERM, then `run` again).
fn restart(c: &mut Collector) {
    if let Some(p) = c.proc.as_mut() {
        assert!(p.terminate(), "the collector stops on SIGTERM");
    }
    c.proc = None;
    c.start();
}

#[test]
fn rsyslog_receives_an_ioc_hit_as_cef_and_ecs_and_every_event_once_across_an_outage() {
    if !have("rsyslogd", "rsyslog rsyslog-gnutls") {
        return;
    }
    let mut c = Collector::init();
    let pki = pki(c.tmp.path());
    let mut rs = Rsyslog::new(c.tmp.path(), &pki);
    rs.start();
    let mut outputs = String::new();
    for format in ["cef", "ecs"] {
        outputs.push_str(&format!(
            "[[export.output]]\nname = \"soc-{format}\"\ntype = \"syslog\"\n\
             address = \"127.0.0.1:{}\"\nformat = \"{format}\"\nca = \"{}\"\n\
             server_name = \"localhost\"\nkinds = [\"net\", \"health\", \"alert\"]\n",
            rs.port,
            pki.ca.display()
        ));
    }
    c.set_config_tables(&outputs);
    import_ioc(&c);
    c.start();
    let a = ioc_agent(&c);
    hit_ioc();

    // The critical IOC finding arrives as valid CEF and valid ECS JSON.
    let (cef, ecs) = wait_for(Duration::from_secs(30), "the IOC hit at rsyslog", || {
        let msgs = rs.messages();
        let cef = msgs.iter().find_map(|(id, m)| {
            let (h, ext) = parse_cef(m)?;
            (id == "finding" && h[4] == "net:net-ioc-hit").then_some((h, ext))
        })?;
        let ecs = msgs.iter().find_map(|(_, m)| {
            let d: Value = serde_json::from_str(m).ok()?;
            (d["event"]["action"] == "net-ioc-hit").then_some(d)
        })?;
        Some((cef, ecs))
    });
    let (h, ext) = cef;
    assert_eq!(
        (h[0].as_str(), h[1].as_str(), h[6].as_str()),
        ("0", "Vigil", "10")
    );
    assert_eq!(ext["dst"], "127.0.0.9");
    assert_eq!(ext["cs2Label"], "indicator");
    assert!(ext["cs2"].contains("127.0.0.9"), "{ext:?}");
    assert_eq!(ext["deviceExternalId"], a.id);
    assert_eq!(ext["cs1"], "p/a");
    assert_eq!(ext["spid"], std::process::id().to_string());
    assert_eq!(ecs["event"]["kind"], "alert");
    assert_eq!(ecs["event"]["severity"], 10);
    assert_eq!(ecs["log"]["level"], "critical");
    assert_eq!(ecs["destination"]["ip"], "127.0.0.9");
    assert_eq!(ecs["host"]["id"], a.id.as_str());
    assert_eq!(ecs["organization"]["id"], "p/a");
    assert_eq!(ecs["ecs"]["version"], "8.11.0");
    assert_eq!(ecs["event"]["id"], ext["externalId"].as_str());
    assert!(ecs["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    // ... and the alert it raised, in both formats.
    wait_for(
        Duration::from_secs(20),
        "the ioc_hit alert at rsyslog",
        || {
            let msgs = rs.messages();
            let alerts: Vec<_> = msgs.iter().filter(|(id, _)| id == "alert").collect();
            let cef = alerts
                .iter()
                .any(|(_, m)| parse_cef(m).is_some_and(|(h, _)| h[4] == "alert:ioc_hit"));
            let ecs = alerts.iter().any(|(_, m)| {
                serde_json::from_str::<Value>(m)
                    .is_ok_and(|d| d["vigil"]["alert"]["kind"] == "ioc_hit")
            });
            (cef && ecs).then_some(())
        },
    );

    // Outage: rsyslog stops; events are produced and the collector restarts meanwhile.
    rs.stop();
    let mut b = synthetic_agent(&c, "burst", 300);
    b.start();
    wait_for(Duration::from_secs(60), "300 findings stored", || {
        (synthetic(&c, &b.id).len() == 300).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    restart(&mut c);
    std::thread::sleep(Duration::from_secs(2));
    rs.start();
    let want = stored_ids(&c, &b.id, "health");
    assert!(want.len() >= 300, "{}", want.len());
    wait_for(
        Duration::from_secs(90),
        "every event after the outage",
        || {
            let msgs = rs.messages();
            let cef: BTreeSet<String> = msgs
                .iter()
                .filter_map(|(_, m)| parse_cef(m)?.1.remove("externalId"))
                .collect();
            let ecs: BTreeSet<String> = msgs
                .iter()
                .filter_map(|(_, m)| {
                    let d: Value = serde_json::from_str(m).ok()?;
                    Some(d["event"]["id"].as_str()?.to_owned())
                })
                .collect();
            (want.is_subset(&cef) && want.is_subset(&ecs)).then_some(())
        },
    );
    // Exactly once: no event id twice in either format.
    let msgs = rs.messages();
    let mut seen: BTreeMap<(bool, String), usize> = BTreeMap::new();
    for (_, m) in &msgs {
        let id = if let Some((_, mut ext)) = parse_cef(m) {
            (true, ext.remove("externalId").expect("externalId"))
        } else {
            let d: Value = serde_json::from_str(m).expect("every message is CEF or ECS JSON");
            (
                false,
                d["event"]["id"].as_str().expect("event.id").to_owned(),
            )
        };
        *seen.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    drop(a);
    rs.stop();
}

/// What the bulk receiver saw.
#[derive(Default)]
struct Bulk {
    /// Times each document id arrived.
    receipts: BTreeMap<String, usize>,
    /// Stored documents by id.
    docs: BTreeMap<String, Value>,
    /// Requests without the API key.
    unauthorised: usize,
}

/// A small HTTPS server answering Elastic bulk requests (`create` semantics: a known id is a
/// 409; alert documents are refused with a 400 mapping error, to exercise per-item errors).
fn bulk_server(
    rt: &tokio::runtime::Runtime,
    pki: &Pki,
    port: u16,
    state: Arc<Mutex<Bulk>>,
) -> tokio::task::JoinHandle<()> {
    use rustls_pki_types::pem::PemObject as _;
    let chain = vec![rustls_pki_types::CertificateDer::from_pem_file(&pki.cert).expect("cert")];
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&pki.key).expect("key");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .expect("bind the bulk server");
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, state) = (acceptor.clone(), state.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = serve_bulk(tls, &state).await;
                }
            });
        }
    })
}

async fn serve_bulk(
    mut s: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    state: &Mutex<Bulk>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 8192];
    let (head_end, length) = loop {
        let n = s.read(&mut chunk).await?;
        assert!(n > 0 && buf.len() < 64 << 20, "a whole request");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .expect("Content-Length");
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await?;
        assert!(n > 0, "the whole body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    assert!(head.starts_with("POST /_bulk HTTP/1.1\r\n"), "{head}");
    let authorised = head.contains("authorization: ApiKey test-key\r\n")
        || head.contains("Authorization: ApiKey test-key\r\n");
    let body = String::from_utf8(buf[head_end..head_end + length].to_vec()).expect("utf-8");
    let (status, reply) = if authorised {
        (200, bulk_reply(&body, state))
    } else {
        state.lock().expect("state").unauthorised += 1;
        (401, "{}".to_owned())
    };
    let resp = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{reply}",
        reply.len()
    );
    s.write_all(resp.as_bytes()).await?;
    s.shutdown().await
}

fn bulk_reply(body: &str, state: &Mutex<Bulk>) -> String {
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    assert_eq!(lines.len() % 2, 0, "action and document pairs");
    let mut st = state.lock().expect("state");
    let mut items = Vec::new();
    for pair in lines.chunks(2) {
        let id = pair[0]["create"]["_id"].as_str().expect("_id").to_owned();
        assert_eq!(pair[0]["create"]["_index"], "vigil-events");
        *st.receipts.entry(id.clone()).or_default() += 1;
        let status = if st.docs.contains_key(&id) {
            409
        } else if pair[1]["event"]["dataset"] == "vigil.alert" {
            400
        } else {
            st.docs.insert(id.clone(), pair[1].clone());
            201
        };
        items.push(serde_json::json!({"create": {"_id": id, "status": status}}));
    }
    serde_json::json!({"took": 1, "errors": true, "items": items}).to_string()
}

/// `GET /metrics` of a plain-HTTP collector with an API token.
fn metrics(c: &Collector, token: &str) -> vigil_e2e::prom::Exposition {
    use std::io::Read as _;
    let mut s = std::net::TcpStream::connect(&c.http).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let body = text.split_once("\r\n\r\n").expect("head").1;
    vigil_e2e::prom::parse(body).expect("exposition")
}

#[test]
fn elastic_bulk_over_https_gets_every_event_once_across_an_outage() {
    let mut c = Collector::init();
    let pki = pki(c.tmp.path());
    let key = c.data_dir.join("es.key");
    std::fs::write(&key, "test-key\n").expect("key");
    std::process::Command::new("chmod")
        .args(["600", key.to_str().expect("utf8")])
        .status()
        .expect("chmod");
    let port = free_tcp_port();
    c.plain_http();
    c.set_config_tables(&format!(
        "[[export.output]]\nname = \"es\"\ntype = \"elastic\"\nurl = \"https://127.0.0.1:{port}\"\n\
         ca = \"{}\"\nserver_name = \"localhost\"\napi_key_file = \"es.key\"\n\
         kinds = [\"net\", \"health\", \"alert\"]\nbatch = 50\n",
        pki.ca.display()
    ));
    c.add_user("admin", "admin", None);
    let token = c.api_token("admin");
    import_ioc(&c);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let state = Arc::new(Mutex::new(Bulk::default()));
    let server = bulk_server(&rt, &pki, port, state.clone());
    c.start();
    let a = ioc_agent(&c);
    hit_ioc();
    let doc = wait_for(Duration::from_secs(30), "the IOC hit document", || {
        let st = state.lock().expect("state");
        st.docs
            .values()
            .find(|d| d["event"]["action"] == "net-ioc-hit")
            .cloned()
    });
    assert_eq!(doc["event"]["severity"], 10);
    assert_eq!(doc["destination"]["ip"], "127.0.0.9");
    assert_eq!(doc["host"]["id"], a.id.as_str());
    assert_eq!(doc["threat"]["indicator"]["name"], "127.0.0.9");
    // The alert document is refused for good (400): counted, not sent again and again.
    wait_for(Duration::from_secs(20), "a rejected alert counted", || {
        let m = metrics(&c, &token);
        let v = m.value(
            "vigil_collector_export_events_total",
            &[("output", "es"), ("outcome", "rejected")],
        )?;
        (v >= 1.0).then_some(())
    });

    // Outage: the receiver goes away, events are produced, the collector restarts.
    server.abort();
    std::thread::sleep(Duration::from_millis(500));
    let mut b = synthetic_agent(&c, "burst", 300);
    b.start();
    wait_for(Duration::from_secs(60), "300 findings stored", || {
        (synthetic(&c, &b.id).len() == 300).then_some(())
    });
    wait_for(Duration::from_secs(30), "failed sends counted", || {
        let m = metrics(&c, &token);
        let v = m.value("vigil_collector_export_failures_total", &[("output", "es")])?;
        (v >= 1.0).then_some(())
    });
    // `export status` shows the output waiting, with its backlog and why.
    let status: serde_json::Value =
        serde_json::from_str(&c.ok(&["export", "status", "--json"])).expect("status json");
    let es = status["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "es"))
        .cloned()
        .expect("the es output");
    assert!(es["backlog"].as_u64() >= Some(1), "{es}");
    assert!(es["last_error_at"].as_i64() > Some(0), "{es}");
    assert!(
        !es["last_error"].as_str().unwrap_or_default().is_empty(),
        "{es}"
    );
    restart(&mut c);
    let _server = bulk_server(&rt, &pki, port, state.clone());
    let want = stored_ids(&c, &b.id, "health");
    wait_for(
        Duration::from_secs(90),
        "every event after the outage",
        || {
            let st = state.lock().expect("state");
            want.iter().all(|id| st.docs.contains_key(id)).then_some(())
        },
    );
    let st = state.lock().expect("state");
    let twice: Vec<_> = st
        .receipts
        .iter()
        .filter(|(id, n)| **n > 1 && !id.starts_with("alert-"))
        .collect();
    assert!(twice.is_empty(), "received twice: {twice:?}");
    assert_eq!(st.unauthorised, 0);
    let alerts: Vec<_> = st
        .receipts
        .iter()
        .filter(|(id, _)| id.starts_with("alert-"))
        .collect();
    assert!(
        alerts.iter().all(|(_, n)| **n == 1),
        "a refused document is not sent again: {alerts:?}"
    );
}

#[test]
fn a_backlog_over_its_bound_is_dropped_counted_and_alerted() {
    let mut c = Collector::init();
    let pki = pki(c.tmp.path());
    // Nothing listens on the receiver's port: every event waits in the backlog.
    c.plain_http();
    c.set_config_tables(&format!(
        "[[export.output]]\nname = \"down\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{}\"\n\
         format = \"cef\"\nca = \"{}\"\nserver_name = \"localhost\"\nkinds = [\"health\"]\n\
         max_backlog = 5\n",
        free_tcp_port(),
        pki.ca.display()
    ));
    c.add_user("admin", "admin", None);
    let token = c.api_token("admin");
    c.start();
    let mut b = synthetic_agent(&c, "burst", 40);
    b.start();
    wait_for(Duration::from_secs(60), "40 findings stored", || {
        (synthetic(&c, &b.id).len() == 40).then_some(())
    });
    let dropped = wait_for(Duration::from_secs(60), "the backlog bound applied", || {
        let m = metrics(&c, &token);
        let v = m.value(
            "vigil_collector_export_events_total",
            &[("output", "down"), ("outcome", "dropped")],
        )?;
        (v >= 35.0).then_some(v)
    });
    assert!(dropped >= 35.0, "{dropped}");
    let alerts: Value =
        serde_json::from_str(&c.ok(&["alerts", "list", "--json"])).expect("alerts json");
    let a = alerts["alerts"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["kind"] == "export_dropped"))
        .cloned()
        .expect("an export_dropped alert");
    assert_eq!(a["severity"], "high");
    assert!(
        a["title"].as_str().is_some_and(|t| t.contains("down")),
        "{a}"
    );
}
