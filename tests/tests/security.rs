//! Security properties of enrollment and sessions, against real binaries.

use std::time::Duration;

use vigil_e2e::{Agent, Collector, code, stderr, wait_for};

#[test]
fn expired_used_up_and_revoked_tokens_are_refused_clearly() {
    let mut c = Collector::init();
    c.start();
    let base = c.tmp.path().to_path_buf();

    let expiring = c.token(&["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let out = Agent::new(&base, "exp", "").try_enroll(&expiring, "m-exp", &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));

    let once = c.token(&["--uses", "1"]);
    Agent::new(&base, "once-a", "").enroll(&once, "m-once-a");
    let out = Agent::new(&base, "once-b", "").try_enroll(&once, "m-once-b", &[]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("maximum number of times"),
        "{}",
        stderr(&out)
    );

    // Told apart by its use count: tokens made in one second list in no particular order.
    let revoked = c.token(&["--uses", "7"]);
    let list: serde_json::Value =
        serde_json::from_str(&c.ok(&["token", "list", "--json"])).expect("json");
    let id = list["tokens"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["max_uses"] == 7))
        .and_then(|t| t["id"].as_str())
        .expect("id")
        .to_string();
    c.ok(&["token", "revoke", "--id", &id]);
    let out = Agent::new(&base, "rev", "").try_enroll(&revoked, "m-rev", &[]);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("revoked"), "{}", stderr(&out));

    let out = Agent::new(&base, "junk", "").try_enroll("vigil1.not-a-token", "m", &[]);
    assert_eq!(
        code(&out),
        2,
        "a mangled token is a usage error: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));

    // None of the refused attempts created a host.
    assert_eq!(c.hosts().len(), 1);
}

#[test]
fn agent_refuses_an_impostor_collector() {
    let mut real = Collector::init();
    real.start();
    let mut impostor = Collector::init();
    impostor.start();
    let token = real.token(&[]);
    let a = Agent::new(real.tmp.path(), "victim", "");
    let out = a.try_enroll(&token, "m-victim", &["--collector", &impostor.quic]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("pin"), "{}", stderr(&out));
    assert!(!a.state_dir.join("identity.json").exists());
    assert!(impostor.hosts().is_empty() && real.hosts().is_empty());
}

#[test]
fn a_certificate_from_another_ca_is_refused_and_revocation_applies_live() {
    let mut c = Collector::init();
    c.start();
    let mut other = Collector::init();
    other.start();
    // An agent enrolled at another collector, made to trust our CA so that only *our* check of
    // its client certificate stands in the way.
    let mut stranger = Agent::new(c.tmp.path(), "stranger", "");
    stranger.enroll(&other.token(&[]), "m-stranger");
    std::fs::write(&stranger.config, format!("[uplink]\ncollector = \"{}\"\nheartbeat_interval = \"1s\"\nidle_timeout = \"3s\"\nmax_backoff = \"1s\"\n", c.quic)).expect("config");
    std::fs::copy(
        c.data_dir.join("pki/ca.pem"),
        stranger.state_dir.join("ca.pem"),
    )
    .expect("swap CA");
    stranger.start();
    let err = wait_for(
        Duration::from_secs(20),
        "the stranger to be refused",
        || {
            stranger.status()["status"]["last_error"]
                .as_str()
                .map(str::to_string)
        },
    );
    assert!(!err.is_empty());
    assert!(
        c.hosts().is_empty(),
        "nothing from a foreign CA is accepted"
    );

    // A legitimate agent, then revoked with the CLI while the collector runs.
    let mut a = Agent::new(c.tmp.path(), "legit", "");
    a.enroll(&c.token(&[]), "m-legit");
    a.start();
    wait_for(Duration::from_secs(20), "the agent to connect", || {
        (a.status()["status"]["connected"] == true).then_some(())
    });
    c.ok(&["agent", "revoke", "--id", &a.id]);
    // Restart the agent so it must handshake again: it is refused.
    if let Some(mut p) = a.proc.take() {
        p.kill9();
    }
    std::fs::remove_file(a.state_dir.join("status.json")).expect("reset status");
    // The running collector re-reads revocations every 2 s; after that the handshake itself fails.
    std::thread::sleep(Duration::from_secs(3));
    a.start();
    wait_for(
        Duration::from_secs(20),
        "the revoked agent to be refused in the handshake",
        || {
            c.log()
                .contains("Refused a revoked agent certificate")
                .then_some(())
        },
    );
    assert_ne!(a.status()["status"]["connected"], true);
}

#[test]
fn garbage_and_oversized_frames_close_the_stream_without_hurting_other_agents() {
    let mut c = Collector::init();
    c.start();
    let mut good = Agent::new(c.tmp.path(), "good", "");
    good.enroll(&c.token(&[]), "m-good");
    good.start();
    wait_for(Duration::from_secs(20), "the good agent to connect", || {
        (good.status()["status"]["connected"] == true).then_some(())
    });

    // A hostile agent with a valid identity speaks nonsense on its session stream.
    let mut bad = Agent::new(c.tmp.path(), "bad", "");
    bad.enroll(&c.token(&[]), "m-bad");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    for payload in [
        b"\x00\x00\x00\x05{x!!}".to_vec(),
        (1u32 << 30).to_be_bytes().to_vec(),
        vec![0u8; 4],
    ] {
        let code = rt.block_on(hostile_session(&bad, &c.quic, payload));
        assert!(
            code == Some(vigil_proto::msg::code::MALFORMED)
                || code == Some(vigil_proto::msg::code::TOO_LARGE),
            "closed with {code:?}"
        );
    }
    // Garbage on the enrollment ALPN too.
    let token = vigil_proto::token::EnrollToken::decode(&c.token(&[])).expect("token");
    rt.block_on(async {
        let cfg = vigil_agent::tls::enroll_config(token.ca_sha256).expect("cfg");
        let (_ep, conn) = vigil_agent::tls::connect(&c.quic, cfg)
            .await
            .expect("connect");
        let (mut s, mut r) = conn.open_bi().await.expect("stream");
        s.write_all(&[0xff; 64]).await.expect("write");
        let _ = s.finish();
        let answer = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(1 << 16))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(String::from_utf8_lossy(&answer).contains("bad enrollment request"));
    });

    // The collector is alive and the good agent keeps reporting.
    assert!(c.proc.as_mut().is_some_and(vigil_e2e::Proc::alive));
    let before = c
        .hosts()
        .iter()
        .find(|h| h["id"] == good.id.as_str())
        .and_then(|h| h["last_seen"].as_i64())
        .unwrap_or(0);
    wait_for(
        Duration::from_secs(15),
        "the good agent's heartbeats to continue",
        || {
            let now = c
                .hosts()
                .iter()
                .find(|h| h["id"] == good.id.as_str())
                .and_then(|h| h["last_seen"].as_i64())
                .unwrap_or(0);
            (now > before).then_some(())
        },
    );
}

/// Opens a session with `agent`'s real identity, sends `payload` raw, returns the close code.
async fn hostile_session(agent: &Agent, addr: &str, payload: Vec<u8>) -> Option<u32> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let ca = CertificateDer::from_pem_file(agent.state_dir.join("ca.pem")).expect("ca");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(agent.state_dir.join("agent.pem"))
            .expect("cert")
            .collect::<Result<_, _>>()
            .expect("cert");
    let key = PrivateKeyDer::from_pem_file(agent.state_dir.join("agent.key")).expect("key");
    let cfg =
        vigil_agent::tls::session_config(ca, chain, key, Duration::from_secs(10)).expect("cfg");
    let (_ep, conn) = vigil_agent::tls::connect(addr, cfg).await.expect("connect");
    let (mut s, _r) = conn.open_bi().await.expect("stream");
    s.write_all(&payload).await.expect("write");
    match tokio::time::timeout(Duration::from_secs(10), conn.closed()).await {
        Ok(quinn::ConnectionError::ApplicationClosed(c)) => {
            u32::try_from(c.error_code.into_inner()).ok()
        }
        other => panic!("expected an application close, got {other:?}"),
    }
}

#[test]
fn certificates_rotate_over_the_authenticated_channel() {
    let mut c = Collector::init();
    c.start();
    // Rotate at a tiny fraction of the lifetime so the test does not wait eight months.
    let mut a = Agent::new(c.tmp.path(), "rot", "rotate_fraction = 0.000001\n");
    a.enroll(&c.token(&[]), "m-rot");
    let before = std::fs::read_to_string(a.state_dir.join("agent.pem")).expect("cert");
    a.start();
    wait_for(Duration::from_secs(20), "the renewal", || {
        a.log().contains("Certificate renewed").then_some(())
    });
    let after = std::fs::read_to_string(a.state_dir.join("agent.pem")).expect("cert");
    assert_ne!(before, after, "a new certificate was installed");
    assert!(c.log().contains("Agent certificate renewed"));
    // The next session uses the new certificate.
    if let Some(mut p) = a.proc.take() {
        p.kill9();
    }
    std::fs::remove_file(a.state_dir.join("status.json")).expect("reset status");
    a.start();
    wait_for(
        Duration::from_secs(20),
        "a session with the new certificate",
        || (a.status()["status"]["connected"] == true).then_some(()),
    );
}
