//! Network watch, IOCs and package inventory end to end.

use std::io::Write as _;
use std::time::{Duration, Instant};

use vigil_e2e::{Agent, Collector, code, stderr, wait_for};

#[test]
fn a_connection_to_an_ioc_address_is_a_critical_finding_within_10s() {
    let mut c = Collector::init();
    let list = c.tmp.path().join("bad.txt");
    std::fs::write(&list, "# test feed\n127.0.0.9\n203.0.113.0/24\n").expect("write");
    c.ok(&[
        "ioc",
        "import",
        list.to_str().expect("utf8"),
        "--source",
        "test-feed",
    ]);
    c.start();
    let mut a = Agent::new(c.tmp.path(), "netw", "[netwatch]\ninterval = \"1s\"\n");
    a.enroll(&c.token(&[]), "m-netw");
    a.start();
    wait_for(
        Duration::from_secs(20),
        "the agent to connect and load the IOC set",
        || a.log().contains("IOC set updated").then_some(()),
    );
    // A listener on an address of the IOC list and a connection to it from this process.
    let listener = std::net::TcpListener::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    let addr = listener.local_addr().expect("addr");
    let t0 = Instant::now();
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    let (_server_side, _) = listener.accept().expect("accept");
    conn.write_all(b"hello").expect("write");
    let hit = wait_for(
        Duration::from_secs(10),
        "an IOC hit at the collector",
        || {
            c.findings(&a.id, Some("net")).into_iter().find(|f| {
                f["finding"]["kind"] == "ioc_hit"
                    && f["finding"]["remote"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("127.0.0.9"))
            })
        },
    );
    let elapsed = t0.elapsed();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(hit["finding"]["severity"], "critical");
    assert_eq!(
        hit["finding"]["pid"].as_u64(),
        Some(u64::from(std::process::id()))
    );
    assert!(
        hit["finding"]["indicator"]
            .as_str()
            .is_some_and(|i| i.contains("127.0.0.9")),
        "{hit}"
    );
    drop(conn);
    // The hit is also an open critical alert, which can be acknowledged and resolved (with a
    // reason, which is required).
    let alerts: serde_json::Value =
        serde_json::from_str(&c.ok(&["alerts", "list", "--json", "--state", "open"]))
            .expect("json");
    let alert = alerts["alerts"]
        .as_array()
        .and_then(|l| l.iter().find(|a| a["kind"] == "ioc_hit"))
        .cloned()
        .expect("ioc_hit alert");
    assert_eq!(alert["severity"], "critical");
    let id = alert["id"].as_i64().expect("id").to_string();
    c.ok(&["alerts", "ack", "--id", &id]);
    let out = vigil_e2e::run(
        &mut c.cmd(&["alerts", "resolve", "--id", &id, "--reason", " "]),
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), 2, "a blank reason is refused: {}", stderr(&out));
    c.ok(&[
        "alerts",
        "resolve",
        "--id",
        &id,
        "--reason",
        "test listener on 127.0.0.9",
    ]);

    // An indicator imported while the agent runs reaches it without a restart.
    let more = c.tmp.path().join("more.txt");
    std::fs::write(&more, "127.0.0.10\n").expect("write");
    c.ok(&["ioc", "import", more.to_str().expect("utf8")]);
    wait_for(Duration::from_secs(15), "the live IOC delta", || {
        (a.log().matches("IOC set updated").count() >= 2).then_some(())
    });
}

#[test]
fn malformed_ioc_files_are_rejected_with_line_numbers_and_nothing_imported() {
    let c = Collector::init();
    let bad = c.tmp.path().join("bad.csv");
    std::fs::write(
        &bad,
        "type,value,source\nip,10.0.0.1,feed\nip,not-an-ip,feed\nsha256,abc,feed\n",
    )
    .expect("write");
    let out = vigil_e2e::run(
        &mut c.cmd(&["ioc", "import", bad.to_str().expect("utf8")]),
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("line 3") && err.contains("line 4"), "{err}");
    let good = c.tmp.path().join("good.txt");
    std::fs::write(&good, "10.0.0.1\n").expect("write");
    let out = c.ok(&["ioc", "import", good.to_str().expect("utf8")]);
    assert!(
        out.contains("IOC version 0 -> 1"),
        "nothing was half-imported before: {out}"
    );
}

#[test]
fn the_collector_answers_which_hosts_have_a_package_below_a_version() {
    if !std::path::Path::new("/var/lib/dpkg/status").exists() {
        eprintln!("SKIPPED: no dpkg on this machine");
        return;
    }
    let mut c = Collector::init();
    c.start();
    let mut a = Agent::new(c.tmp.path(), "pkgs", "");
    a.enroll(&c.token(&[]), "m-pkgs");
    a.start();
    wait_for(
        Duration::from_secs(30),
        "an inventory with packages",
        || {
            c.hosts().into_iter().find(|h| {
                h["id"] == a.id.as_str()
                    && h["inventory"]["packages"]
                        .as_array()
                        .is_some_and(|p| !p.is_empty())
            })
        },
    );
    let q = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["query", "packages", "--name", "dpkg", "--json"];
        args.extend_from_slice(extra);
        serde_json::from_str(&c.ok(&args)).expect("json")
    };
    let all = q(&[]);
    assert_eq!(all["hosts"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(
        q(&["--below", "0.1"])["hosts"].as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(
        q(&["--below", "99:1"])["hosts"].as_array().map(Vec::len),
        Some(1)
    );
}
