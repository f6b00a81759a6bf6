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
