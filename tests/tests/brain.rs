//! The collector's brain end to end: two collectors share one PostgreSQL database, agents of the
//! same agencies report to either, and both show the same scores, alerts and organisation tree.
//!
//! Needs PostgreSQL at `VIGIL_TEST_PG` (default `postgres://postgres@127.0.0.1/test`): with
//! `CI=true` an unreachable server fails the test, otherwise it is skipped with a message.

use std::time::Duration;

use serde_json::Value;
use vigil_e2e::pg::{Schema, use_postgres};
use vigil_e2e::{Agent, Collector, wait_for};

fn score(c: &Collector, agency: Option<&str>) -> Value {
    let mut args = vec!["score", "--json"];
    if let Some(a) = agency {
        args.extend(["--agency", a]);
    }
    serde_json::from_str(&c.ok(&args)).expect("score json")
}

/// The numbers of every agency, rounded so two computations a moment apart compare equal.
fn numbers(v: &Value) -> Vec<(String, [i64; 4], u64)> {
    v["agencies"]
        .as_array()
        .expect("agencies")
        .iter()
        .map(|a| {
            let r = |x: &Value| (x.as_f64().expect("number") * 1e6).round() as i64;
            (
                a["id"].as_str().expect("id").to_owned(),
                [
                    r(&a["full"]["score"]),
                    r(&a["common"]["score"]),
                    r(&a["level_view"]["score"]),
                    r(&a["full"]["coverage"]),
                ],
                a["full"]["hosts"].as_u64().expect("hosts"),
            )
        })
        .collect()
}

#[test]
fn two_collectors_on_one_postgres_serve_one_province_with_consistent_scores() {
    let Some(db) = Schema::new() else { return };
    let url = db.collector_url();

    // Collector A creates the CA and the tree; B is a second node with the same CA and
    // server certificate (copied data dir), its own ports, and the same database.
    let mut a = Collector::init_bare();
    use_postgres(&a, &url);
    a.ok(&["agency", "add", "--id", "p", "--name", "Tỉnh"]);
    a.ok(&[
        "agency", "add", "--id", "p/h", "--name", "Huyện", "--level", "2",
    ]);
    a.ok(&[
        "agency", "add", "--id", "p/h/x", "--name", "Xã", "--level", "2",
    ]);
    a.ok(&[
        "agency", "add", "--id", "p/s", "--name", "Sở", "--level", "3",
    ]);
    let mut b = a.clone_node();
    a.start();
    b.start();

    // Assets registered through B, visible to A.
    let csv = a.tmp.path().join("assets.csv");
    std::fs::write(
        &csv,
        "agency,hostname,role,level\np/h/x,pc-x1,workstation,2\np/h/x,pc-x-missing,workstation,2\np/s,srv-s1,server,3\n",
    )
    .expect("csv");
    b.ok(&["assets", "import", csv.to_str().expect("utf-8 path")]);

    // One agent reports to A, one to B (each token names its own collector).
    let mut x1 = Agent::new(a.tmp.path(), "pc-x1", "[checks]\nlevel = 2\n");
    let tok = |c: &Collector, agency: &str| {
        c.ok(&[
            "token",
            "create",
            "--agency",
            agency,
            "--collector",
            &c.quic,
        ])
        .trim()
        .to_owned()
    };
    x1.enroll(&tok(&a, "p/h/x"), "m-x1");
    let mut s1 = Agent::new(a.tmp.path(), "srv-s1", "[checks]\nlevel = 3\n");
    s1.enroll(&tok(&b, "p/s"), "m-s1");
    a.ok(&["host", "set", "--id", &s1.id, "--role", "server"]);
    x1.start();
    s1.start();

    let hosts = wait_for(Duration::from_secs(60), "both hosts scored", || {
        let h = a.hosts();
        (h.len() == 2 && h.iter().all(|x| x["score"].is_number())).then_some(h)
    });
    assert_eq!(b.hosts().len(), 2, "B sees the same hosts");
    for h in &hosts {
        assert!(h["last_seen"].as_i64().unwrap_or(0) > 0);
    }

    // The same numbers from both collectors.
    let (sa, sb) = (score(&a, None), score(&b, None));
    assert_eq!(numbers(&sa), numbers(&sb), "A: {sa}\nB: {sb}");
    let p = &sa["agencies"][0];
    assert_eq!(p["id"], "p");
    // Registered: pc-x1 and pc-x-missing in p/h/x and srv-s1 in p/s; the agents' host names
    // are this machine's, so they count as extra assets next to the registered ones.
    assert_eq!(p["full"]["hosts"], 5, "{p}");
    assert_eq!(p["full"]["hosts_with_agent"], 2);
    let cov = p["full"]["coverage"].as_f64().expect("coverage");
    assert!(
        cov > 0.0 && cov < 1.0,
        "assets without agents lower coverage: {cov}"
    );
    assert!(
        p["full"]["breakdown"]
            .as_array()
            .expect("breakdown")
            .iter()
            .any(|i| i["kind"] == "missing_agent" && i["key"] == "p/h/x/pc-x-missing"),
        "{p}"
    );
    let rpv = sa["rule_pack_version"].as_str().expect("version");
    assert!(rpv.starts_with("linux-baseline@"), "{rpv}");
    for ag in sa["agencies"].as_array().expect("list") {
        assert_eq!(
            ag["full"]["rule_pack_version"], rpv,
            "stamped on every score"
        );
    }

    // The history is written by the collectors' schedule into the shared database.
    let hist = wait_for(Duration::from_secs(20), "score history", || {
        let out = b.ok(&["score", "--json", "--agency", "p/h/x", "--since", "1h"]);
        let v: Value = serde_json::from_str(&out).expect("json");
        v["history"].as_array().filter(|h| !h.is_empty()).cloned()
    });
    assert!(hist.iter().all(|p| p["id"] == "p/h/x"));

    // The district is abolished through B: the commune moves under the province with its
    // host, assets and history; A sees the new tree and the same scores at once.
    let out = b.ok(&["agency", "dissolve", "--id", "p/h"]);
    assert!(out.contains("dissolved p/h into p"), "{out}");
    let moved = score(&a, Some("p/x"));
    assert_eq!(moved["agencies"][0]["id"], "p/x");
    assert_eq!(moved["hosts"].as_array().expect("hosts").len(), 1);
    let out = a.ok(&["score", "--json", "--agency", "p/x", "--since", "1h"]);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert!(
        v["history"]
            .as_array()
            .is_some_and(|h| h.len() >= hist.len()),
        "the commune kept its history: {v}"
    );
    assert_eq!(numbers(&score(&a, None)), numbers(&score(&b, None)));

    // The agent on the commune PC stops: a periodic rule raises `agent_silent`, and the alert
    // raised by one collector is triaged on the other.
    if let Some(mut p) = x1.proc.take() {
        p.kill9();
    }
    let id = wait_for(Duration::from_secs(30), "an agent_silent alert", || {
        let v: Value = serde_json::from_str(&a.ok(&["alerts", "list", "--json"])).ok()?;
        v["alerts"]
            .as_array()?
            .iter()
            .find(|x| x["kind"] == "agent_silent" && x["agent_id"] == x1.id.as_str())?["id"]
            .as_i64()
    });
    b.ok(&[
        "alerts",
        "assign",
        "--id",
        &id.to_string(),
        "--to",
        "lan.nt",
    ]);
    b.ok(&["alerts", "ack", "--id", &id.to_string()]);
    let v: Value = serde_json::from_str(&a.ok(&["alerts", "list", "--json"])).expect("json");
    let alert = v["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|x| x["id"] == id)
        .expect("same alert on A");
    assert_eq!(alert["assignee"], "lan.nt");
    assert_eq!(alert["state"], "acknowledged");
}
