//! `vigil-collector backup` while an agent streams, `restore` into a new directory, and the
//! restored collector serving the same agent, which reconnects without enrolling again.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use serde_json::Value;
use vigil_e2e::{Agent, Collector, code, now_s, run, stderr, synthetic, wait_for};

/// Every agency's scores, rounded so two computations compare equal.
fn scores(c: &Collector) -> Vec<(String, i64, i64, u64)> {
    let v: Value = serde_json::from_str(&c.ok(&["score", "--json"])).expect("score json");
    v["agencies"]
        .as_array()
        .expect("agencies")
        .iter()
        .map(|a| {
            let r = |x: &Value| (x.as_f64().unwrap_or(-1.0) * 1e6).round() as i64;
            (
                a["id"].as_str().unwrap_or_default().to_owned(),
                r(&a["full"]["score"]),
                r(&a["common"]["score"]),
                a["full"]["hosts"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Alerts as (id, kind, key, agent, state).
fn alerts(c: &Collector) -> Vec<(i64, String, String, String, String)> {
    let v: Value = serde_json::from_str(&c.ok(&["alerts", "list", "--json"])).expect("alerts json");
    let s = |a: &Value, k: &str| a[k].as_str().unwrap_or_default().to_owned();
    v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["id"].as_i64().unwrap_or(0),
                s(a, "kind"),
                s(a, "key"),
                s(a, "agent_id"),
                s(a, "state"),
            )
        })
        .collect()
}

/// Hosts as (id, agency, machine id, enrollment time, certificate expiry).
fn identities(c: &Collector) -> Vec<(String, String, String, Value, Value)> {
    let s = |h: &Value, k: &str| h[k].as_str().unwrap_or_default().to_owned();
    c.hosts()
        .iter()
        .map(|h| {
            (
                s(h, "id"),
                s(h, "agency"),
                s(h, "machine_id"),
                h["enrolled_at"].clone(),
                h["cert_not_after"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_backup_taken_while_an_agent_streams_restores_a_collector_the_agent_reconnects_to() {
    let mut c = Collector::init();
    c.start();
    let mut a = Agent::new(
        c.tmp.path(),
        "agent",
        "[testing]\nsynthetic_findings = 6000\nsynthetic_rate = 300\n",
    );
    a.enroll(&c.token(&[]), "m-backup");
    let identity_before = a.identity();
    a.start();
    wait_for(
        Duration::from_secs(60),
        "checks and a stream under way",
        || {
            let checks = c.findings(&a.id, Some("check")).len();
            let n = synthetic(&c, &a.id).len();
            (checks >= 10 && n >= 300).then_some(())
        },
    );

    // The backup, while findings arrive.
    let file = c.tmp.path().join("collector.vigilbak");
    let before = synthetic(&c, &a.id).len();
    let out = run(
        &mut c.cmd(&["backup", "--to", file.to_str().expect("utf-8")]),
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "backup: {}", stderr(&out));
    let after = synthetic(&c, &a.id).len();
    assert!(
        after > before && after < 6000,
        "the agent streamed during the backup ({before} → {after})"
    );
    let mode = std::fs::metadata(&file)
        .expect("archive")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the archive holds the CA key");
    // A second backup to the same name is refused, the first is kept.
    let again = run(
        &mut c.cmd(&["backup", "--to", file.to_str().expect("utf-8")]),
        Duration::from_secs(60),
    );
    assert_ne!(code(&again), 0);
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));

    // The original goes down; its state is what the restored one must show.
    c.kill9();
    let (old_scores, old_alerts, old_ids) = (scores(&c), alerts(&c), identities(&c));
    assert!(
        old_ids
            .iter()
            .any(|h| h.0 == a.id && h.2 == "m-backup" && h.4.as_i64().unwrap_or(0) > 0),
        "{old_ids:?}"
    );
    assert!(
        old_scores.iter().any(|s| s.0 == "p/a" && s.3 == 1),
        "{old_scores:?}"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let new_dir = tmp.path().join("restored");
    let mut restored = Collector {
        tmp,
        data_dir: new_dir.clone(),
        quic: c.quic.clone(),
        http: c.http.clone(),
        proc: None,
    };
    let out = run(
        std::process::Command::new(vigil_e2e::bin("vigil-collector")).args([
            "restore",
            "--from",
            file.to_str().expect("utf-8"),
            "--data-dir",
            new_dir.to_str().expect("utf-8"),
        ]),
        Duration::from_secs(120),
    );
    assert_eq!(code(&out), 0, "restore: {}", stderr(&out));
    for f in ["pki/ca.key", "pki/server.key", "collector.toml", "vigil.db"] {
        let p = new_dir.join(f);
        let mode = std::fs::metadata(&p).expect(f).permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    // A consistent snapshot: a prefix of the stream with no hole, taken during the backup.
    let got = synthetic(&restored, &a.id);
    let n = got.len() as u64;
    assert!(
        n as usize >= before && n as usize <= after,
        "{before} ≤ {n} ≤ {after}"
    );
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    assert_eq!(identities(&restored), old_ids, "same agent identities");
    assert_eq!(scores(&restored), old_scores, "same scores");
    assert_eq!(alerts(&restored), old_alerts, "same alerts");

    // Restoring into a non-empty directory is refused.
    let out = run(
        std::process::Command::new(vigil_e2e::bin("vigil-collector")).args([
            "restore",
            "--from",
            file.to_str().expect("utf-8"),
            "--data-dir",
            new_dir.to_str().expect("utf-8"),
        ]),
        Duration::from_secs(60),
    );
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));

    // The restored collector takes over the address: the agent reconnects with its identity.
    let started = now_s();
    restored.start();
    wait_for(
        Duration::from_secs(60),
        "the agent back on the restored collector",
        || {
            restored
                .hosts()
                .iter()
                .any(|h| {
                    h["id"] == a.id.as_str() && h["last_seen"].as_i64().unwrap_or(0) >= started
                })
                .then_some(())
        },
    );
    wait_for(
        Duration::from_secs(60),
        "new findings stored after the restore",
        || (synthetic(&restored, &a.id).len() as u64 > n).then_some(()),
    );
    assert_eq!(
        a.identity(),
        identity_before,
        "the agent did not enroll again"
    );
    assert!(
        restored.log().contains("Agent connected."),
        "{}",
        restored.log()
    );
}

#[test]
fn a_postgres_collector_backup_refuses_without_pg_dump_and_archives_keys_with_it() {
    let c = Collector::init_bare();
    // The database is never opened: `backup` decides from the configuration.
    c.set_config_tables(
        "[store]\nbackend = \"postgres\"\nurl = \"postgres://vigil@127.0.0.1:1/none\"\n",
    );
    let file = c.tmp.path().join("keys.vigilbak");
    let to = file.to_str().expect("utf-8");
    let out = run(&mut c.cmd(&["backup", "--to", to]), Duration::from_secs(60));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pg_dump") && stderr(&out).contains("--without-database"),
        "{}",
        stderr(&out)
    );
    assert!(!file.exists(), "nothing written when refused");
    let out = run(
        &mut c.cmd(&["backup", "--to", to, "--without-database"]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT included"));
    let tmp = tempfile::tempdir().expect("tmp");
    let new_dir = tmp.path().join("restored");
    let out = run(
        std::process::Command::new(vigil_e2e::bin("vigil-collector")).args([
            "restore",
            "--from",
            to,
            "--data-dir",
            new_dir.to_str().expect("utf-8"),
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pg_restore"));
    assert_eq!(
        std::fs::read(new_dir.join("pki/ca.key")).expect("CA key restored"),
        std::fs::read(c.data_dir.join("pki/ca.key")).expect("CA key")
    );
}
