//! Identity attacks of issue 17 against the real binaries: stealing a machine id across
//! agencies (item 1), cloned disks, and revocation that must end live sessions on every
//! collector sharing the database, with only the newest certificate accepted (item 3).

use std::time::Duration;

use serde_json::Value;
use vigil_collector::store::{SqliteStore, Store as _};
use vigil_e2e::hostile::{self, RawSession};
use vigil_e2e::pg::{Schema, use_postgres};
use vigil_e2e::{Agent, Collector, code, copy_dir, http, stderr, wait_for};
use vigil_proto::{AgentHealth, Finding, HealthKind, Severity};

fn connected(a: &Agent) -> Option<()> {
    (a.status()["status"]["connected"] == true).then_some(())
}

fn alerts(c: &Collector) -> Vec<Value> {
    let v: Value = serde_json::from_str(&c.ok(&["alerts", "list", "--json"])).expect("json");
    v["alerts"].as_array().cloned().unwrap_or_default()
}

fn host<'a>(hosts: &'a [Value], id: &str) -> &'a Value {
    hosts.iter().find(|h| h["id"] == id).expect("host listed")
}

fn note(i: u64) -> Finding {
    Finding::AgentHealth(AgentHealth {
        kind: HealthKind::Other,
        message: format!("after revocation {i}"),
        counts: Default::default(),
        severity: Severity::Low,
    })
}

#[test]
fn a_token_of_another_agency_cannot_take_over_a_machine_id() {
    let mut c = Collector::init();
    c.ok(&["agency", "add", "--id", "p/b", "--name", "Sở B"]);
    c.plain_http();
    c.start();
    let base = c.tmp.path().to_path_buf();
    let mut victim = Agent::new(&base, "victim", "");
    victim.enroll(&c.token(&[]), "m-victim");
    victim.start();
    wait_for(Duration::from_secs(30), "the victim to connect", || {
        connected(&victim)
    });

    // An admin of p/b (or anyone holding a p/b token) presents the victim's machine id.
    let token_b = c
        .ok(&["token", "create", "--agency", "p/b"])
        .trim()
        .to_owned();
    let out = Agent::new(&base, "thief", "").try_enroll(&token_b, "m-victim", &[]);
    assert_eq!(code(&out), 3, "refused: {}", stderr(&out));
    let why = stderr(&out);
    for needle in [victim.id.as_str(), "agent move", "agent revoke"] {
        assert!(why.contains(needle), "{needle} in {why}");
    }
    // The victim keeps its identity, its agency and its session.
    let hosts = c.hosts();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(host(&hosts, &victim.id)["agency"], "p/a");
    assert_eq!(host(&hosts, &victim.id)["revoked"], false);
    let seen = host(&hosts, &victim.id)["last_seen"].as_i64().unwrap_or(0);
    wait_for(
        Duration::from_secs(20),
        "the victim to keep reporting",
        || {
            let now = c.hosts();
            (host(&now, &victim.id)["last_seen"].as_i64().unwrap_or(0) > seen).then_some(())
        },
    );

    // Not silent: an alert both agencies' analysts see (and a third agency does not), and an
    // audit entry naming both agencies.
    c.ok(&["agency", "add", "--id", "p/c", "--name", "Sở C"]);
    for (user, scope) in [("ana-a", "p/a"), ("ana-b", "p/b"), ("ana-c", "p/c")] {
        c.add_user(user, "analyst", Some(scope));
    }
    let seen_by = |user: &str| {
        let (st, v) = http(
            &c.http,
            "GET",
            "/api/v1/alerts",
            Some(&c.api_token(user)),
            None,
        );
        assert_eq!(st, 200, "{v}");
        v["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["kind"] == "duplicate_machine" && a["agent_id"] == victim.id.as_str())
    };
    assert!(seen_by("ana-a") && seen_by("ana-b"));
    assert!(!seen_by("ana-c"));
    let db = SqliteStore::open(&c.data_dir.join("vigil.db")).expect("db");
    let audit = db.audit_log().expect("audit");
    let (_, _, _, d) = audit
        .iter()
        .find(|(_, _, a, _)| a == "agent.enroll_refused")
        .expect("audited");
    assert_eq!(
        (d["agency"].as_str(), d["existing_agency"].as_str()),
        (Some("p/b"), Some("p/a"))
    );

    // The admin's answer: move the host, then it enrolls into p/b as a reinstall, which ends
    // the old identity's live session at once.
    c.ok(&["agent", "move", "--id", &victim.id, "--agency", "p/b"]);
    let mut reinstalled = Agent::new(&base, "reinstalled", "");
    reinstalled.enroll(&token_b, "m-victim");
    wait_for(
        Duration::from_secs(10),
        "the replaced session to be closed",
        || {
            c.log()
                .contains("Closing the session of a revoked agent")
                .then_some(())
        },
    );
    let hosts = c.hosts();
    assert_eq!(host(&hosts, &reinstalled.id)["agency"], "p/b");
    assert!(
        alerts(&c)
            .iter()
            .any(|a| a["kind"] == "duplicate_machine" && a["agent_id"] == reinstalled.id.as_str()),
        "the replacement is alerted too"
    );
}

#[test]
fn a_cloned_disk_with_the_agents_key_is_refused_while_the_original_runs() {
    let mut c = Collector::init();
    c.start();
    let base = c.tmp.path().to_path_buf();
    let mut original = Agent::new(&base, "original", "");
    original.enroll(&c.token(&[]), "m-cloned");
    original.start();
    wait_for(Duration::from_secs(30), "the original to connect", || {
        connected(&original)
    });

    // The VM is cloned with its disk: same machine id, same agent key and certificate.
    let mut clone = Agent::new(&base, "clone", "");
    copy_dir(&original.state_dir, &clone.state_dir);
    let _ = std::fs::remove_file(clone.state_dir.join("status.json"));
    clone.start();
    let alert = wait_for(Duration::from_secs(30), "a duplicate_machine alert", || {
        alerts(&c)
            .into_iter()
            .find(|a| a["kind"] == "duplicate_machine" && a["agent_id"] == original.id.as_str())
    });
    assert!(
        alert["title"]
            .as_str()
            .is_some_and(|t| t.contains("cloned")),
        "{alert}"
    );
    // Never merged: the clone is refused, the original keeps the identity and reports on.
    assert_ne!(clone.status()["status"]["connected"], true);
    assert_eq!(c.hosts().len(), 1);
    let before = host(&c.hosts(), &original.id)["last_seen"]
        .as_i64()
        .unwrap_or(0);
    wait_for(
        Duration::from_secs(20),
        "the original to keep reporting",
        || {
            (host(&c.hosts(), &original.id)["last_seen"]
                .as_i64()
                .unwrap_or(0)
                > before)
                .then_some(())
        },
    );
    connected(&original).expect("the original is still connected");
}

#[test]
fn revoking_an_agent_ends_its_live_session_on_every_collector_sharing_the_database() {
    let Some(db) = Schema::new() else { return };
    let mut a = Collector::init_bare();
    use_postgres(&a, &db.collector_url());
    a.ok(&["agency", "add", "--id", "p", "--name", "Tỉnh"]);
    a.ok(&["agency", "add", "--id", "p/a", "--name", "Sở A"]);
    let mut b = a.clone_node();
    a.start();
    b.start();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let token = b.ok(&["token", "create", "--agency", "p/a", "--collector", &b.quic]);
    let id = rt
        .block_on(hostile::enroll(
            b.tmp.path(),
            "agent",
            token.trim(),
            hostile::host("m1", "pc-1"),
        ))
        .expect("enroll");
    rt.block_on(async {
        // A session on collector B; the revocation is made through A's data dir.
        let mut s = RawSession::open(&id, &b.quic).await.expect("session");
        s.send(vec![note(0)]).await.expect("stored while live");
        a.ok(&["agent", "revoke", "--id", &id.agent_id]);
        let closed = s.closed_within(Duration::from_secs(10)).await;
        assert!(
            matches!(closed, Some(quinn::ConnectionError::ApplicationClosed(_))),
            "B closes the live session within seconds: {closed:?}"
        );
        assert!(s.send(vec![note(1)]).await.is_err());
        // Neither collector lets it back in.
        for addr in [&a.quic, &b.quic] {
            assert!(
                RawSession::open(&id, addr).await.is_err(),
                "refused at {addr}"
            );
        }
    });
    let v: Value = serde_json::from_str(&a.ok(&[
        "findings",
        "--json",
        "--limit",
        "0",
        "--host",
        &id.agent_id,
    ]))
    .expect("json");
    assert_eq!(
        v["findings"].as_array().map(Vec::len),
        Some(1),
        "nothing stored after revocation"
    );
}

#[test]
fn only_the_newest_certificate_of_an_agent_opens_a_session() {
    let mut c = Collector::init();
    c.start();
    let mut a = Agent::new(c.tmp.path(), "rot", "rotate_fraction = 0.000001\n");
    a.enroll(&c.token(&[]), "m-rot");
    // Someone keeps a copy of the first certificate and key (a backup, a stolen disk image).
    let stolen = c.tmp.path().join("stolen");
    copy_dir(&a.state_dir, &stolen);
    a.start();
    wait_for(Duration::from_secs(30), "the renewal", || {
        a.log().contains("Certificate renewed").then_some(())
    });
    // The agent starts using its renewed certificate at its next connection.
    if let Some(mut p) = a.proc.take() {
        p.kill9();
    }
    std::fs::remove_file(a.state_dir.join("status.json")).expect("reset status");
    a.start();
    wait_for(
        Duration::from_secs(30),
        "a session with the renewed certificate",
        || {
            c.log()
                .contains("now uses its renewed certificate")
                .then_some(())
        },
    );
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let old = hostile::Identity {
        state: vigil_agent::state::StatePaths::new(&stolen),
        agent_id: a.id.clone(),
    };
    let refused = rt.block_on(RawSession::open(&old, &c.quic));
    assert!(refused.is_err(), "the superseded certificate is refused");
    wait_for(
        Duration::from_secs(20),
        "the agent to stay connected",
        || connected(&a),
    );
}
