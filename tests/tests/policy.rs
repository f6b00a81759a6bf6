//! Central policy end to end (issue 18, docs/policy.md): real collector and agents on loopback.
//! A pack assigned to `tinh/so-a` reaches that subtree's agents and not `tinh/so-b`'s, its rule
//! fails on the right hosts within 10 s, a rollback restores the previous content everywhere, a
//! tampered bundle and a replayed older one are refused and reported, and an agent killed while
//! applying comes back with one consistent version.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_e2e::{Agent, Collector, Proc, bin, wait_for};
use vigil_proto::policy::{PolicyPublicKey, SignedBundle};

/// A pack with one rule that fails on every host: it wants a file nobody has.
fn pack(id: &str, rule: &str) -> String {
    format!(
        "id: {id}\nversion: \"1.0\"\ntitle: {{vi: Gói thử, en: Test pack}}\nrules:\n  - id: {rule}\n    \
         title: {{vi: Tệp đánh dấu, en: Marker file}}\n    rationale: {{vi: thử, en: test}}\n    \
         remediation: {{vi: thử, en: test}}\n    severity: high\n    group: hardening\n    \
         controls: [test:1]\n    checks:\n      - {{kind: file, path: /nonexistent/vigil-e2e/{rule}}}\n"
    )
}

/// A collector with `tinh`, `tinh/so-a`, `tinh/so-b`.
fn collector() -> Collector {
    let c = Collector::init_bare();
    for (id, name) in [
        ("tinh", "Tỉnh"),
        ("tinh/so-a", "Sở A"),
        ("tinh/so-b", "Sở B"),
    ] {
        c.ok(&["agency", "add", "--id", id, "--name", name]);
    }
    c
}

/// Starts the collector with extra environment variables.
fn start_with(c: &mut Collector, env: &[(&str, &Path)]) {
    let log = c
        .tmp
        .path()
        .join(format!("collector-{}.log", vigil_e2e::free_tcp_port()));
    let mut cmd = Command::new(bin("vigil-collector"));
    cmd.args(["run", "--log", "info,vigil_collector=debug", "--data-dir"])
        .arg(&c.data_dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    c.proc = Some(Proc::spawn(&mut cmd, log));
    let http = c.http.clone();
    wait_for(Duration::from_secs(20), "the collector to listen", || {
        std::net::TcpStream::connect(&http).ok().map(|_| ())
    });
}

fn agent(c: &Collector, name: &str, agency: &str) -> Agent {
    let mut a = Agent::new(c.tmp.path(), name, "[checks]\ninterval = \"1h\"\n");
    let token = c.ok(&["token", "create", "--agency", agency]);
    a.enroll(token.trim(), &format!("m-{name}"));
    a.start();
    a
}

fn write_pack(c: &Collector, id: &str, rule: &str) -> String {
    let p = c.tmp.path().join(format!("{id}-{rule}.yaml"));
    std::fs::write(&p, pack(id, rule)).expect("pack");
    p.to_str().expect("utf8").to_owned()
}

/// `policy show --agency` as JSON.
fn status(c: &Collector, agency: &str) -> Value {
    let out = c.ok(&["policy", "show", "--agency", agency, "--json"]);
    serde_json::from_str::<Value>(&out).expect("json")["agency"].clone()
}

/// The status of one host in `policy show`.
fn host_state(c: &Collector, agency: &str, id: &str) -> (String, u64, u64) {
    let s = status(c, agency);
    let h = s["hosts"]
        .as_array()
        .and_then(|l| l.iter().find(|h| h["id"] == id))
        .cloned()
        .unwrap_or(Value::Null);
    (
        h["state"].as_str().unwrap_or("").to_owned(),
        h["applied"].as_u64().unwrap_or(0),
        h["expected"].as_u64().unwrap_or(0),
    )
}

fn rule_status(c: &Collector, agent: &str, rule: &str) -> Option<String> {
    c.findings(agent, Some("check"))
        .into_iter()
        .find(|f| f["finding"]["rule_id"] == rule)
        .and_then(|f| f["finding"]["status"].as_str().map(str::to_owned))
}

fn wait_current(c: &Collector, agency: &str, a: &Agent) -> u64 {
    wait_for(
        Duration::from_secs(15),
        "the host to report the policy in force",
        || {
            let (state, applied, expected) = host_state(c, agency, &a.id);
            (state == "current" && applied == expected && applied > 0).then_some(applied)
        },
    )
}

#[test]
fn a_pack_assigned_to_a_subtree_fails_on_its_hosts_only_and_rolls_back() {
    let mut c = collector();
    c.start();
    let a = agent(&c, "so-a-1", "tinh/so-a");
    let b = agent(&c, "so-b-1", "tinh/so-b");
    wait_for(Duration::from_secs(20), "both agents connected", || {
        let hosts = c.hosts();
        (hosts
            .iter()
            .filter(|h| h["last_seen"].as_i64().unwrap_or(0) > 0)
            .count()
            == 2)
            .then_some(())
    });
    let v1 = write_pack(&c, "so-a-extra", "pol-e2e-v1");
    c.ok(&["policy", "add", "so-a-web", "--pack", &v1]);
    let t0 = Instant::now();
    c.ok(&["policy", "assign", "--agency", "tinh/so-a", "so-a-web"]);
    wait_for(
        Duration::from_secs(10),
        "the new rule failing on so-a's host",
        || (rule_status(&c, &a.id, "pol-e2e-v1").as_deref() == Some("fail")).then_some(()),
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    let applied = wait_current(&c, "tinh/so-a", &a);
    // so-b's host is connected and heartbeating, and has no central policy.
    assert_eq!(host_state(&c, "tinh", &b.id), ("none".into(), 0, 0));
    assert_eq!(rule_status(&c, &b.id, "pol-e2e-v1"), None);
    wait_for(
        Duration::from_secs(10),
        "the agent's status to show it",
        || (agent_policy(&a)["version"].as_u64() == Some(applied)).then_some(()),
    );

    // Version 2 replaces the rule, then a rollback brings version 1's back as a newer version.
    let v2 = write_pack(&c, "so-a-extra", "pol-e2e-v2");
    c.ok(&["policy", "add", "so-a-web", "--pack", &v2]);
    wait_for(Duration::from_secs(10), "version 2's rule", || {
        rule_status(&c, &a.id, "pol-e2e-v2").map(|_| ())
    });
    let after_v2 = wait_current(&c, "tinh/so-a", &a);
    assert!(after_v2 > applied);
    c.ok(&["policy", "rollback", "so-a-web", "--to", "1"]);
    let after_rollback = wait_for(Duration::from_secs(15), "the rollback applied", || {
        let v = wait_current(&c, "tinh/so-a", &a);
        (v > after_v2).then_some(v)
    });
    wait_for(
        Duration::from_secs(10),
        "the agent's status to show the rollback",
        || {
            let p = agent_policy(&a);
            (p["version"].as_u64() == Some(after_rollback)
                && p["packs"].to_string().contains("so-a-extra@1.0"))
            .then_some(())
        },
    );
    let out = c.ok(&["policy", "history", "so-a-web", "--json"]);
    let h: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(h["versions"][2]["note"], "rollback to v1");
    assert!(after_rollback > after_v2);
    assert_eq!(host_state(&c, "tinh", &b.id).0, "none");
}

#[test]
fn a_tampered_bundle_and_a_replayed_older_one_are_refused_and_reported() {
    let mut c = collector();
    c.start();
    let mut a = agent(&c, "victim", "tinh/so-a");
    c.ok(&[
        "policy",
        "add",
        "base",
        "--pack",
        &write_pack(&c, "base", "pol-e2e-old"),
    ]);
    c.ok(&["policy", "assign", "--agency", "tinh", "base"]);
    let first = wait_current(&c, "tinh/so-a", &a);
    let old_blob = std::fs::read(a.state_dir.join("policy/current.bin")).expect("applied bundle");
    c.ok(&[
        "policy",
        "add",
        "base",
        "--pack",
        &write_pack(&c, "base", "pol-e2e-new"),
    ]);
    let second = wait_for(Duration::from_secs(15), "version 2 applied", || {
        let v = wait_current(&c, "tinh/so-a", &a);
        (v > first).then_some(v)
    });
    let current_blob = std::fs::read(a.state_dir.join("policy/current.bin")).expect("bundle");

    // Refusals already reported (none yet); each case waits for a new one.
    let mut seen = 0;
    for (case, blob) in [
        ("tampered", {
            let mut b = current_blob.clone();
            let last = b.len() - 1;
            b[last] ^= 0x01;
            b
        }),
        ("replayed", old_blob.clone()),
    ] {
        c.kill9();
        let file = c.tmp.path().join(format!("{case}.bin"));
        std::fs::write(&file, &blob).expect("blob");
        start_with(&mut c, &[("VIGIL_DANGER_TEST_POLICY_BLOB", &file)]);
        let refused = wait_for(Duration::from_secs(20), "a refusal health finding", || {
            c.findings(&a.id, Some("health")).into_iter().find(|f| {
                f["finding"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("policy refused"))
                    && f["seq"].as_u64().unwrap_or(0) > seen
            })
        });
        seen = refused["seq"].as_u64().unwrap_or(0);
        let msg = refused["finding"]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        match case {
            "tampered" => assert!(msg.contains("signature"), "{msg}"),
            _ => assert!(msg.contains("not newer"), "{msg}"),
        }
        // The agent keeps what it had.
        assert_eq!(agent_policy(&a)["version"].as_u64(), Some(second), "{case}");
        assert_eq!(
            std::fs::read(a.state_dir.join("policy/current.bin")).expect("bundle"),
            current_blob,
            "{case}"
        );
    }
    c.kill9();
    c.start();
    if let Some(p) = a.proc.as_mut() {
        assert!(p.alive(), "the agent survived hostile bundles");
    }
    a.proc = None;
}

#[test]
fn an_agent_killed_while_applying_comes_back_with_one_consistent_version() {
    let mut c = collector();
    c.start();
    let mut a = agent(&c, "crashy", "tinh/so-a");
    c.ok(&[
        "policy",
        "add",
        "p",
        "--pack",
        &write_pack(&c, "p", "pol-e2e-crash-1"),
    ]);
    c.ok(&["policy", "assign", "--agency", "tinh/so-a", "p"]);
    let first = wait_current(&c, "tinh/so-a", &a);
    let key = std::fs::read_to_string(a.state_dir.join("policy.pub")).expect("pinned key");
    let key = PolicyPublicKey::parse(&key).expect("key");
    // Large bundles take a while to receive and write; kill the agent at different moments after
    // each change.
    let mut newest = first;
    for round in 0..4u64 {
        let big = format!(
            "{}# {}\n",
            pack("p", &format!("pol-e2e-crash-{}", round + 2)),
            "x".repeat(256 * 1024)
        );
        let file = c.tmp.path().join(format!("big-{round}.yaml"));
        std::fs::write(&file, big).expect("pack");
        c.ok(&["policy", "add", "p", "--pack", file.to_str().expect("utf8")]);
        std::thread::sleep(Duration::from_millis(1_000 + round * 700));
        if let Some(p) = a.proc.as_mut() {
            p.kill9();
        }
        // What is on disk is one whole bundle the collector signed, never a torn one.
        let blob = std::fs::read(a.state_dir.join("policy/current.bin")).expect("bundle");
        let bundle = SignedBundle::from_bytes(blob.clone())
            .and_then(|s| s.verify(&key))
            .unwrap_or_else(|e| panic!("round {round}: the applied bundle is damaged: {e}"));
        assert!(
            bundle.version >= newest,
            "round {round}: went back to {}",
            bundle.version
        );
        newest = bundle.version;
        a.start();
        // After the restart the agent reports that version (or a newer one it then receives).
        let digest = digest(&blob);
        wait_for(
            Duration::from_secs(15),
            "the restarted agent's status",
            || {
                let p = agent_policy(&a);
                let v = p["version"].as_u64().unwrap_or(0);
                (v > newest || (v == newest && p["digest"] == digest.as_str())).then_some(())
            },
        );
    }
    let last = wait_current(&c, "tinh/so-a", &a);
    assert!(last > first);
    let (state, applied, expected) = host_state(&c, "tinh/so-a", &a.id);
    assert_eq!((state.as_str(), applied), ("current", expected));
}

/// The policy part of `vigil-agent status --json`.
fn agent_policy(a: &Agent) -> Value {
    a.status()["status"]["policy"].clone()
}

/// `sha256:<hex>` of a signed bundle, as the agent reports it.
fn digest(blob: &[u8]) -> String {
    SignedBundle::from_bytes(blob.to_vec())
        .map(|s| s.digest())
        .unwrap_or_default()
}

/// A pack of about `kib` KiB: [`pack`]'s one rule, padded with a YAML comment.
fn big_pack(id: &str, rule: &str, kib: usize) -> String {
    let mut s = pack(id, rule);
    while s.len() < kib * 1024 {
        s.push_str("# ");
        s.push_str(&"x".repeat(1000));
        s.push('\n');
    }
    s
}

/// Enrolls `n` simulated agents under `base` (`sim<i>`), 20 at a time, in order.
async fn enroll_concurrently(
    base: &Path,
    token: &str,
    n: usize,
    cfg: &vigil_agent::config::AgentConfig,
) -> Vec<(vigil_agent::sim::SimAgent, vigil_agent::uplink::Uplink)> {
    let tok = vigil_proto::token::EnrollToken::decode(token).expect("token");
    let mut out = Vec::with_capacity(n);
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(20) {
        let mut set = tokio::task::JoinSet::new();
        for &i in chunk {
            let (tok, cfg) = (tok.clone(), cfg.clone());
            let state = vigil_agent::state::StatePaths::new(base.join(format!("sim{i}")));
            set.spawn(async move {
                let host = vigil_proto::msg::HostIdentity {
                    machine_id: format!("sim-machine-{i}"),
                    hostname: format!("sim-{i}"),
                    os: "Simulated".into(),
                };
                let r = vigil_agent::sim::SimAgent::enroll(state, &tok, host, &cfg).await;
                (i, r)
            });
        }
        while let Some(done) = set.join_next().await {
            let (i, r) = done.expect("enrollment task");
            out.push((
                i,
                r.unwrap_or_else(|e| panic!("enrolling agent {i}: {e:#}")),
            ));
        }
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, a)| a).collect()
}

/// Issue 18's acceptance case: 200 agents (the real agent shell in one process: QUIC + mTLS,
/// chunk reassembly, signature check with the pinned key, atomic write) receive a new 1 MiB
/// bundle and every one of them reports the new version; each one's applied file is that
/// bundle, signed by the collector.
#[test]
fn two_hundred_agents_receive_a_new_one_mib_bundle_and_all_report_it() {
    use vigil_collector::store::{SqliteStore, Store};
    let n = 200;
    let mut c = collector();
    c.start();
    let token = c.ok(&["token", "create", "--agency", "tinh/so-a", "--uses", "200"]);
    let cfg_path = c.tmp.path().join("fleet.toml");
    std::fs::write(&cfg_path, "[uplink]\nheartbeat_interval = \"5s\"\n").expect("config");
    let cfg = vigil_agent::config::load(&cfg_path, true).expect("config");
    // An agent applies a bundle on its uplink's thread (verify, parse, write, fsync); with 200
    // uplinks in one runtime, a few more threads let those waits overlap.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .expect("runtime");
    let base = c.tmp.path().join("fleet");
    let started = Instant::now();
    let fleet = rt.block_on(enroll_concurrently(&base, token.trim(), n, &cfg));
    let (agents, uplinks): (Vec<_>, Vec<_>) = fleet.into_iter().unzip();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let tasks =
        vigil_agent::sim::run_fleet(rt.handle(), uplinks, &stop_rx).expect("fleet endpoint");
    let db = SqliteStore::open(&c.data_dir.join("vigil.db")).expect("store");
    wait_for(Duration::from_secs(60), "200 agents connected", || {
        let seen = db.agents_brief().expect("agents");
        (seen.iter().filter(|a| a.last_seen > 0).count() == n).then_some(())
    });
    eprintln!(
        "{n} agents enrolled and connected in {:?}",
        started.elapsed()
    );

    let file = c.tmp.path().join("big.yaml");
    std::fs::write(&file, big_pack("fleet-big", "pol-e2e-fleet", 1024)).expect("pack");
    c.ok(&[
        "policy",
        "add",
        "big",
        "--pack",
        file.to_str().expect("utf8"),
    ]);
    let t0 = Instant::now();
    c.ok(&["policy", "assign", "--agency", "tinh/so-a", "big"]);
    let version = u64::try_from(db.policies().policy_rev().expect("rev")).expect("rev");
    let ids: std::collections::HashSet<&str> = agents.iter().map(|a| a.id.as_str()).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut half = None;
    let took = loop {
        let have = db
            .policies()
            .policy_applied()
            .expect("applied")
            .iter()
            .filter(|a| ids.contains(a.agent_id.as_str()) && a.version >= version as i64)
            .count();
        if half.is_none() && have * 2 >= n {
            half = Some(t0.elapsed());
        }
        if have == n {
            break t0.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "only {have} of {n} agents report version {version} after {:?}",
            t0.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "{n} agents reported the 1 MiB bundle after `policy assign`: half after {half:?}, all \
         after {took:?}"
    );

    // What each agent applied is the whole bundle the collector signed for so-a.
    for i in 0..n {
        let dir = base.join(format!("sim{i}"));
        let key = std::fs::read_to_string(dir.join("policy.pub")).expect("pinned key");
        let key = PolicyPublicKey::parse(&key).expect("key");
        let blob = std::fs::read(dir.join("policy/current.bin")).expect("applied bundle");
        assert!(blob.len() > 1024 * 1024, "agent {i}: {} bytes", blob.len());
        let b = SignedBundle::from_bytes(blob)
            .and_then(|s| s.verify(&key))
            .unwrap_or_else(|e| panic!("agent {i}: {e}"));
        assert_eq!(
            (b.version, b.agency.as_str()),
            (version, "tinh/so-a"),
            "agent {i}"
        );
        assert_eq!(b.packs.len(), 1, "agent {i}");
    }
    assert_eq!(
        status(&c, "tinh/so-a")["current"].as_u64(),
        Some(n as u64),
        "policy show counts every host as current"
    );
    let _ = stop.send(true);
    rt.block_on(async {
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    });
}

/// Regression: the collector's rule catalogue learned the rules of policies only when it
/// restarted, so a failing result of a newly pushed rule kept the severity and group the agent
/// claimed. Now the running collector corrects it with the pack's own as soon as the policy is
/// stored (the agent here claims `low` / `other` for a rule its pack makes `critical` /
/// `accounts`).
#[test]
fn a_rule_of_a_newly_assigned_policy_is_scored_with_its_own_severity_without_a_restart() {
    use vigil_proto::{CheckResult, Finding, Severity, Status};
    let mut c = collector();
    c.start();
    let token = c.ok(&["token", "create", "--agency", "tinh/so-a"]);
    let cfg_path = c.tmp.path().join("sim.toml");
    std::fs::write(&cfg_path, "[uplink]\nheartbeat_interval = \"2s\"\n").expect("config");
    let cfg = vigil_agent::config::load(&cfg_path, true).expect("config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fleet = rt
        .block_on(vigil_agent::sim::enroll_fleet(
            &c.tmp.path().join("sim"),
            token.trim(),
            1,
            &cfg,
        ))
        .expect("enroll");
    let (agents, uplinks): (Vec<_>, Vec<_>) = fleet.into_iter().unzip();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let _tasks = vigil_agent::sim::run_fleet(rt.handle(), uplinks, &stop_rx).expect("endpoint");
    let a = &agents[0];
    let rule = "pol-e2e-catalogue";
    let claim = || {
        Finding::CheckResult(CheckResult {
            rule_id: rule.into(),
            pack: "cat-pack@1.0".into(),
            status: Status::Fail,
            severity: Severity::Low,
            group: "other".into(),
            controls: vec![],
            evidence: "claimed by the agent".into(),
        })
    };
    // The newest stored result of the rule: (seq, severity, group).
    let newest = || {
        c.findings(&a.id, Some("check"))
            .into_iter()
            .filter(|f| f["finding"]["rule_id"] == rule)
            .max_by_key(|f| f["seq"].as_u64().unwrap_or(0))
            .map(|f| {
                (
                    f["seq"].as_u64().unwrap_or(0),
                    f["finding"]["severity"].as_str().unwrap_or("").to_owned(),
                    f["finding"]["group"].as_str().unwrap_or("").to_owned(),
                )
            })
    };
    // Unknown to the collector: the claim stands.
    a.send(vigil_e2e::now_s() * 1000, [claim()]).expect("send");
    let (first, sev, group) = wait_for(Duration::from_secs(20), "the first claim stored", newest);
    assert_eq!((sev.as_str(), group.as_str()), ("low", "other"));

    let text = pack("cat-pack", rule)
        .replace("severity: high", "severity: critical")
        .replace("group: hardening", "group: accounts");
    let file = c.tmp.path().join("cat-pack.yaml");
    std::fs::write(&file, text).expect("pack");
    c.ok(&[
        "policy",
        "add",
        "cat",
        "--pack",
        file.to_str().expect("utf8"),
    ]);
    c.ok(&["policy", "assign", "--agency", "tinh/so-a", "cat"]);
    // The collector re-reads policies every 2 s; each new result after that is corrected.
    let mut last = first;
    let corrected = wait_for(Duration::from_secs(15), "a corrected result", || {
        a.send(vigil_e2e::now_s() * 1000, [claim()]).expect("send");
        std::thread::sleep(Duration::from_millis(500));
        let (seq, sev, group) = newest()?;
        if seq == last {
            return None;
        }
        last = seq;
        (sev == "critical").then_some((sev, group))
    });
    assert_eq!(corrected, ("critical".into(), "accounts".into()));
    assert!(
        c.proc.as_mut().is_some_and(Proc::alive),
        "the same collector process throughout"
    );
    let _ = stop.send(true);
}
