//! `/metrics` of a running collector and the counters of `vigil-agent status`, with the real
//! binaries: the exposition parses strictly, only an authenticated client reads it, and its
//! counters move when an agent enrolls and sends batches.

use std::time::Duration;

use vigil_e2e::prom::{self, Exposition};
use vigil_e2e::{Agent, Collector, wait_for};

/// `GET /metrics` over plain HTTP: the status and the body text.
fn get_metrics(addr: &str, bearer: Option<&str>) -> (u16, String, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(t) = bearer {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read");
    let text = String::from_utf8(resp).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

fn scrape(c: &Collector, token: &str) -> Exposition {
    let (status, ct, body) = get_metrics(&c.http, Some(token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    prom::parse(&body).unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{body}"))
}

#[test]
fn metrics_need_a_token_parse_strictly_and_move_when_an_agent_sends_batches() {
    let mut c = Collector::init();
    c.plain_http();
    c.add_user("prom", "viewer", None);
    c.add_user("local", "admin", Some("p/a"));
    let token = c.api_token("prom");
    let scoped = c.api_token("local");
    c.start();

    // Attacks: no token, a forged one, a token of a user who sees one agency only.
    let (st, _, body) = get_metrics(&c.http, None);
    assert_eq!(st, 401, "anonymous: {body}");
    assert!(!body.contains("vigil_collector_"), "{body}");
    let (st, _, _) = get_metrics(&c.http, Some("vigil-api.forged0000000000000000000000"));
    assert_eq!(st, 401);
    let (st, _, body) = get_metrics(&c.http, Some(&scoped));
    assert_eq!(st, 403, "{body}");

    let before = scrape(&c, &token);
    assert_eq!(before.sum("vigil_collector_batches_total"), 0.0);
    assert_eq!(
        before.value("vigil_collector_live_sessions", &[]),
        Some(0.0)
    );
    assert!(
        before.value("vigil_collector_http_responses_total", &[("code", "401")]) >= Some(2.0),
        "the refusals above are counted"
    );

    let mut a = Agent::new(
        c.tmp.path(),
        "agent",
        "[testing]\nsynthetic_findings = 300\nsynthetic_rate = 300\n",
    );
    a.enroll(&c.token(&[]), "m-metrics");
    a.start();
    let after = wait_for(Duration::from_secs(60), "300 findings counted", || {
        let m = scrape(&c, &token);
        (m.sum("vigil_collector_findings_total") >= 300.0).then_some(m)
    });
    let v = |name: &str, labels: &[(&str, &str)]| {
        after
            .value(name, labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} missing"))
    };
    assert!(v("vigil_collector_batches_total", &[]) >= 1.0);
    assert_eq!(
        v(
            "vigil_collector_enrollments_total",
            &[("outcome", "accepted")]
        ),
        1.0
    );
    assert_eq!(v("vigil_collector_live_sessions", &[]), 1.0);
    assert_eq!(v("vigil_collector_sequence_gaps_total", &[]), 0.0);
    let ingests = v("vigil_collector_store_seconds_count", &[("op", "ingest")]);
    assert!(
        ingests >= v("vigil_collector_batches_total", &[]),
        "every stored batch is timed"
    );
    assert!(v("vigil_collector_store_seconds_sum", &[("op", "ingest")]) > 0.0);
    assert!(v("vigil_collector_store_seconds_count", &[("op", "enroll")]) >= 1.0);
    assert!(v("vigil_collector_store_seconds_count", &[("op", "api")]) >= 1.0);
    // The scheduler's first recompute may wait behind its first scheduled report.
    wait_for(Duration::from_secs(60), "a score recompute timed", || {
        let m = scrape(&c, &token);
        (m.value("vigil_collector_score_recompute_seconds_count", &[]) >= Some(1.0)).then_some(())
    });

    // The agent's own counters: findings spooled, checks run; none dropped.
    let st = wait_for(Duration::from_secs(30), "agent status counters", || {
        let s = a.status();
        let c = &s["status"]["counters"];
        (c["findings"].as_u64()? >= 300 && c["checks_run"].as_u64()? >= 1).then_some(s)
    });
    let counters = &st["status"]["counters"];
    assert_eq!(counters["spool_dropped"], 0, "{st}");
    assert_eq!(counters["fim_overflows"], 0, "{st}");

    // The collector goes away and comes back: the agent counts its reconnects, and the new
    // collector process counts from zero but sees the live session again.
    c.kill9();
    std::thread::sleep(Duration::from_secs(2));
    c.start();
    wait_for(Duration::from_secs(40), "a reconnect counted", || {
        let s = a.status();
        let connected = s["status"]["connected"].as_bool()?;
        (connected && s["status"]["counters"]["reconnects"].as_u64()? >= 1).then_some(())
    });
    wait_for(Duration::from_secs(20), "the live session counted", || {
        let m = scrape(&c, &token);
        (m.value("vigil_collector_live_sessions", &[]) == Some(1.0)).then_some(())
    });
    let out = vigil_e2e::run(&mut a.cmd(&["status"]), Duration::from_secs(20));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("counters:") && text.contains("check runs") && text.contains("reconnects"),
        "{text}"
    );
}
