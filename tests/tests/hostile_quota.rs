//! One enrolled agent cannot degrade the collector for everyone (issue 17, item 4), against the
//! real binaries: its strings are cut to the protocol's caps, its pack names never reach
//! another agency, its claims about a known rule are corrected from the catalogue, and the state
//! it can make the collector keep is bounded.

use serde_json::Value;
use vigil_e2e::Collector;
use vigil_e2e::hostile::{self, RawSession};
use vigil_proto::{CheckResult, Finding, Severity, Status};

fn check(rule: &str, pack: &str, severity: Severity, group: &str) -> Finding {
    Finding::CheckResult(CheckResult {
        rule_id: rule.into(),
        pack: pack.into(),
        status: Status::Fail,
        severity,
        group: group.into(),
        controls: vec![],
        evidence: "x".repeat(64 * 1024),
    })
}

fn score(c: &Collector, agency: &str) -> Value {
    serde_json::from_str(&c.ok(&["score", "--json", "--agency", agency])).expect("json")
}

#[test]
fn a_hostile_agent_reaches_neither_other_agencies_nor_unbounded_state() {
    let mut c = Collector::init();
    c.ok(&["agency", "add", "--id", "p/b", "--name", "Sở B"]);
    c.start();
    let pack = &vigil_rules::builtin_packs().expect("packs")[0];
    let known = format!("{}@{}", pack.id, pack.version);
    let critical = pack
        .rules
        .iter()
        .find(|r| r.severity == Severity::Critical)
        .expect("a critical rule");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let evil = rt
        .block_on(hostile::enroll(
            c.tmp.path(),
            "evil",
            &c.token(&[]),
            hostile::host("m-evil", "evil"),
        ))
        .expect("enroll");
    let token_b = c.ok(&["token", "create", "--agency", "p/b"]);
    let honest = rt
        .block_on(hostile::enroll(
            c.tmp.path(),
            "honest",
            token_b.trim(),
            hostile::host("m-honest", "honest"),
        ))
        .expect("enroll");
    let huge_pack = format!("{}@1", "P".repeat(900 * 1024));
    rt.block_on(async {
        let mut h = RawSession::open(&honest, &c.quic)
            .await
            .expect("honest session");
        h.send(vec![check(
            &critical.id,
            &known,
            critical.severity,
            critical.group.as_str(),
        )])
        .await
        .expect("honest batch");
        let mut s = RawSession::open(&evil, &c.quic)
            .await
            .expect("evil session");
        // A 900 KiB pack name, and a known critical rule claimed to be a low-severity backup
        // rule (so it would neither alert nor cap the score).
        s.send(vec![check(
            "my-rule",
            &huge_pack,
            Severity::Low,
            "hardening",
        )])
        .await
        .expect("stored");
        s.send(vec![check(&critical.id, &known, Severity::Low, "backup")])
            .await
            .expect("stored");
        // 2,100 distinct rules, 300 per batch.
        for b in 0..7 {
            let batch = (0..300)
                .map(|i| check(&format!("r-{b}-{i}"), "site@1", Severity::Low, "hardening"))
                .map(|f| match f {
                    Finding::CheckResult(mut r) => {
                        r.evidence.clear();
                        Finding::CheckResult(r)
                    }
                    other => other,
                })
                .collect();
            s.send(batch).await.expect("stored");
        }
    });

    // Another agency's scores and history never carry the agent's pack names.
    let b = score(&c, "p/b");
    let label = b["agencies"][0]["full"]["rule_pack_version"]
        .as_str()
        .expect("label");
    assert_eq!(label, known, "{b}");
    let a = score(&c, "p/a");
    let label = a["agencies"][0]["full"]["rule_pack_version"]
        .as_str()
        .expect("label");
    assert!(label.len() < 100 && !label.contains("PPPP"), "{label}");
    let text = c.ok(&["score", "--json", "--agency", "p/b"]);
    assert!(
        text.len() < 64 * 1024 && !text.contains("r-0-") && !text.contains("PPPP"),
        "p/b's scores hold nothing of the other agency's agent ({} bytes)",
        text.len()
    );

    // The catalogue's severity wins: the failed critical rule alerts and caps the host.
    let v: Value = serde_json::from_str(&c.ok(&["alerts", "list", "--json"])).expect("json");
    let alerts = v["alerts"].as_array().expect("alerts");
    assert!(
        alerts.iter().any(|x| x["kind"] == "critical_rule_failed"
            && x["agent_id"] == evil.agent_id.as_str()),
        "{v}"
    );
    // The agent's state is bounded, and it is told.
    assert!(
        alerts
            .iter()
            .any(|x| x["kind"] == "agent_quota" && x["agent_id"] == evil.agent_id.as_str()),
        "{v}"
    );
    let host = a["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["id"] == evil.agent_id.as_str())
        .expect("evil host")
        .clone();
    assert!(
        host["full"]["score"].as_f64().expect("score") <= 49.0,
        "{host}"
    );
    // Every string the agent sent was cut to the protocol's caps.
    let f: Value = serde_json::from_str(&c.ok(&[
        "findings",
        "--json",
        "--limit",
        "0",
        "--host",
        &evil.agent_id,
        "--kind",
        "check",
    ]))
    .expect("json");
    for x in f["findings"].as_array().expect("findings") {
        let r = &x["finding"];
        assert!(r["pack"].as_str().expect("pack").len() <= vigil_proto::limits::PACK);
        assert!(r["evidence"].as_str().expect("evidence").len() <= vigil_proto::limits::TEXT);
    }
}
