//! Hardening checks end to end: results reach the collector and give the host a score.

use std::time::Duration;

use vigil_e2e::{Agent, Collector, code, run, stderr, wait_for};

#[test]
fn check_results_reach_the_collector_and_score_the_host() {
    let mut c = Collector::init();
    c.start();
    let mut a = Agent::new(c.tmp.path(), "checker", "[checks]\nlevel = 3\n");
    a.enroll(&c.token(&[]), "m-checker");
    a.start();
    let checks = wait_for(
        Duration::from_secs(30),
        "check results at the collector",
        || {
            let f = c.findings(&a.id, Some("check"));
            (f.len() >= 80).then_some(f)
        },
    );
    for f in &checks {
        let r = &f["finding"];
        assert!(
            ["pass", "fail", "error", "not_applicable"]
                .contains(&r["status"].as_str().unwrap_or("")),
            "{r}"
        );
        assert!(
            r["pack"]
                .as_str()
                .is_some_and(|p| p.starts_with("linux-baseline@"))
        );
        assert!(
            r["controls"].as_array().is_some_and(|c| !c.is_empty()),
            "every rule cites controls: {r}"
        );
    }
    let score = wait_for(Duration::from_secs(10), "a host score", || {
        c.hosts()
            .into_iter()
            .find(|h| h["id"] == a.id.as_str())
            .and_then(|h| h["score"].as_f64())
    });
    assert!((0.0..=100.0).contains(&score), "{score}");
}

#[test]
fn check_cli_exit_codes_and_json_schema() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = Agent::new(tmp.path(), "cli", "");
    // This machine is not hardened: some rule fails, so exit 1, with a stable JSON document.
    let out = run(
        &mut a.cmd(&["check", "--format", "json", "--level", "2"]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["schema"], "vigil.check.v1");
    assert!(v["results"].as_array().is_some_and(|r| r.len() >= 80));
    assert!(v["score"]["score"].as_f64().is_some());
    let out = run(
        &mut a.cmd(&["check", "--level", "9"]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "id: x\nversion: 1\ntitle: t\nrules:\n  - id: r\n    tilte: oops\n",
    )
    .expect("write");
    let out = run(
        &mut a.cmd(&["check", "--pack", bad.to_str().expect("utf8")]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("bad.yaml"), "{}", stderr(&out));
}
