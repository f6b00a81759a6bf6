//! Walking skeleton, end to end: enrollment, inventory, heartbeats, restart, re-enrollment.

use std::time::Duration;

use vigil_e2e::{Agent, Collector, now_s, wait_for};

#[test]
fn three_agents_enroll_report_inventory_and_survive_a_collector_kill() {
    let mut c = Collector::init();
    c.start();
    let token = c.token(&["--uses", "3"]);
    let mut agents: Vec<Agent> = (0..3)
        .map(|i| Agent::new(c.tmp.path(), &format!("agent{i}"), ""))
        .collect();
    for (i, a) in agents.iter_mut().enumerate() {
        a.enroll(&token, &format!("machine-{i}"));
        a.start();
    }
    let ids: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
    // All three appear with an inventory.
    wait_for(Duration::from_secs(30), "3 hosts with inventory", || {
        let hosts = c.hosts();
        let with_inv = hosts
            .iter()
            .filter(|h| {
                h["inventory"]["cpus"].as_u64().unwrap_or(0) >= 1
                    && ids.contains(&h["id"].as_str().unwrap_or("").to_string())
            })
            .count();
        (with_inv == 3).then_some(())
    });
    for h in c.hosts() {
        assert_eq!(h["agency"], "p/a");
        assert_eq!(h["stale"], false, "a reporting host is fresh");
        assert!(
            h["inventory"]["kernel"]
                .as_str()
                .is_some_and(|k| !k.is_empty())
        );
        assert!(h["inventory"]["memory_bytes"].as_u64().unwrap_or(0) > 0);
    }

    // kill -9, restart: agents reconnect and heartbeats resume (last_seen moves past the restart).
    c.kill9();
    std::thread::sleep(Duration::from_secs(2));
    let restarted_at = now_s();
    c.start();
    wait_for(
        Duration::from_secs(40),
        "heartbeats from all agents after restart",
        || {
            let hosts = c.hosts();
            let fresh = hosts
                .iter()
                .filter(|h| h["last_seen"].as_i64().unwrap_or(0) > restarted_at)
                .count();
            (fresh == 3).then_some(())
        },
    );
    for a in &agents {
        let st = a.status();
        assert_eq!(st["status"]["connected"], true, "agent status: {st}");
    }
    // Nothing was stored twice: each agent's findings have distinct seqs.
    for id in &ids {
        let f = c.findings(id, None);
        let mut seqs: Vec<u64> = f.iter().filter_map(|x| x["seq"].as_u64()).collect();
        let n = seqs.len();
        seqs.dedup();
        assert_eq!(seqs.len(), n);
        assert!(f.iter().any(|x| x["kind"] == "inventory"));
    }
}

#[test]
fn reenrolling_a_machine_replaces_its_identity() {
    let mut c = Collector::init();
    c.start();
    let token = c.token(&["--uses", "5"]);
    let mut a = Agent::new(c.tmp.path(), "first", "");
    a.enroll(&token, "same-machine");
    let first = a.id.clone();
    let mut b = Agent::new(c.tmp.path(), "second", "");
    b.enroll(&token, "same-machine");
    assert_ne!(first, b.id);
    let live = c.hosts();
    assert_eq!(live.len(), 1, "one live host per machine id: {live:?}");
    assert_eq!(live[0]["stale"], true, "enrolled but never reported: stale");
    assert_eq!(live[0]["id"], b.id.as_str());
    let all: serde_json::Value =
        serde_json::from_str(&c.ok(&["hosts", "--json", "--all"])).expect("json");
    let old = all["hosts"]
        .as_array()
        .expect("list")
        .iter()
        .find(|h| h["id"] == first.as_str())
        .cloned()
        .expect("old row kept");
    assert_eq!(old["revoked"], true);

    // The replaced identity is refused at the handshake.
    a.start();
    wait_for(
        Duration::from_secs(20),
        "the replaced agent to be refused",
        || {
            let st = a.status();
            st["status"]["last_error"].as_str().map(str::to_string)
        },
    );
    assert_ne!(a.status()["status"]["connected"], true);
    b.start();
    wait_for(
        Duration::from_secs(20),
        "the new identity to connect",
        || (b.status()["status"]["connected"] == true).then_some(()),
    );
}
