//! The Windows agent under Wine against a real Linux collector on loopback (issue 15).
//!
//! Built and run by `scripts/windows.sh` (see `vigil_e2e::wine`); without the Windows build
//! these tests print that they are skipped, and `CI=true` makes them required.

use std::time::Duration;

use serde_json::Value;
use vigil_e2e::wine::WinePrefix;
use vigil_e2e::{Collector, code, run, stderr, synthetic, wait_for};

/// Generous bounds: Wine on a loaded 2-core CI machine.
const LONG: Duration = Duration::from_secs(180);

const PACK: &str = r#"id: win-e2e
version: "1"
title: {vi: Kiểm tra thử trên Windows, en: Windows end-to-end test}
rules:
  - id: win-e2e-hosts-file
    title: {vi: Có tệp hosts, en: The hosts file exists}
    rationale: {vi: Thử, en: Test}
    remediation: {vi: Thử, en: Test}
    severity: low
    group: hardening
    controls: [test:1]
    checks:
      - {kind: file, path: /windows/system32/drivers/etc/hosts}
  - id: win-e2e-marker
    title: {vi: Có tệp đánh dấu, en: The marker file exists}
    rationale: {vi: Thử, en: Test}
    remediation: {vi: Thử, en: Test}
    severity: medium
    group: hardening
    controls: [test:2]
    checks:
      - {kind: file, path: /vigil/no-such-marker.txt}
"#;

/// Two programs in the prefix's registry, one in each Uninstall view.
const PROGRAMS: &str = "REGEDIT4\r\n\r\n\
[HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\VigilTestApp]\r\n\
\"DisplayName\"=\"Vigil Test App\"\r\n\
\"DisplayVersion\"=\"1.2.3\"\r\n\r\n\
[HKEY_LOCAL_MACHINE\\Software\\Wow6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\VigilTestApp32]\r\n\
\"DisplayName\"=\"Vigil Test App (32-bit)\"\r\n\
\"DisplayVersion\"=\"4.5.6\"\r\n\r\n\
[HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\VigilHiddenUpdate]\r\n\
\"DisplayName\"=\"An update that is not a program\"\r\n\
\"SystemComponent\"=dword:00000001\r\n";

/// Agent config in the prefix; `extra` is appended.
fn agent_config(extra: &str) -> String {
    format!(
        "[uplink]\nheartbeat_interval = \"1s\"\nidle_timeout = \"5s\"\nmax_backoff = \"1s\"\n\
         [inventory]\ninterval = \"5s\"\n{extra}"
    )
}

fn host(c: &Collector, id: &str) -> Option<Value> {
    c.hosts().into_iter().find(|h| h["id"] == id)
}

/// Enrolls the prefix's agent with a token file (deleted once used) and returns its id.
fn enroll(p: &WinePrefix, c: &Collector) -> String {
    // Owner-only, as `New-TemporaryFile` in the user's profile makes it: Wine shows a 0644 file
    // as readable by Everyone, and the agent refuses a token file a broad group may read.
    let token = p.path(r"C:\vigil\token.txt");
    std::fs::write(&token, c.token(&[])).expect("token file");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
    let out = run(
        &mut p.agent(&[
            "enroll",
            "--token-file",
            r"C:\vigil\token.txt",
            "--state-dir",
            r"C:\vigil\state",
            "--config",
            r"C:\vigil\agent.toml",
        ]),
        LONG,
    );
    assert_eq!(code(&out), 0, "enroll under Wine: {}", stderr(&out));
    assert!(
        !p.path(r"C:\vigil\token.txt").exists(),
        "the token file is deleted once used"
    );
    let id: Value = serde_json::from_slice(
        &std::fs::read(p.path(r"C:\vigil\state\identity.json")).expect("identity"),
    )
    .expect("json");
    id["agent_id"].as_str().expect("agent id").to_string()
}

#[test]
fn windows_agent_under_wine_reports_everything_and_survives_a_collector_kill() {
    let Some(p) = WinePrefix::new("windows_agent_under_wine_reports_everything") else {
        return;
    };
    let mut c = Collector::init();
    let ioc = c.tmp.path().join("ioc.txt");
    std::fs::write(&ioc, "127.0.0.9\n").expect("ioc list");
    c.ok(&[
        "ioc",
        "import",
        ioc.to_str().expect("utf8"),
        "--source",
        "e2e",
    ]);
    c.start();

    p.import_reg(PROGRAMS);
    std::fs::create_dir_all(p.path(r"C:\vigil\watched")).expect("mkdir");
    std::fs::write(p.path(r"C:\vigil\watched\before.txt"), b"baseline").expect("write");
    std::fs::create_dir_all(p.path(r"C:\vigil\packs")).expect("mkdir");
    std::fs::write(p.path(r"C:\vigil\packs\win-e2e.yaml"), PACK).expect("pack");
    std::fs::write(
        p.path(r"C:\vigil\agent.toml"),
        agent_config(
            "[fim]\npaths = ['C:\\vigil\\watched']\nregistry_interval = \"5s\"\n\
             [netwatch]\ninterval = \"1s\"\n\
             [checks]\npacks = ['C:\\vigil\\packs']\n\
             [testing]\nsynthetic_findings = 3000\nsynthetic_rate = 300\n",
        ),
    )
    .expect("config");
    let id = enroll(&p, &c);

    // A listener on the host before the agent starts, and one connection to an IOC address.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let lport = listener.local_addr().expect("addr").port();
    let mut agent = p.spawn(
        &mut p.agent(&[
            "run",
            "--state-dir",
            r"C:\vigil\state",
            "--config",
            r"C:\vigil\agent.toml",
            "--log",
            "info,vigil_agent=debug",
        ]),
        "agent.log",
    );

    // The host appears with its Windows OS.
    let h = wait_for(LONG, "the Windows host in hosts --json", || {
        host(&c, &id).filter(|h| h["last_seen"].as_i64().is_some_and(|t| t > 0))
    });
    let os = h["os"].as_str().unwrap_or_default();
    assert!(os.starts_with("Windows"), "hosts --json os: {os}");
    assert!(!h["machine_id"].as_str().unwrap_or_default().is_empty());

    // Synthetic findings flow; the collector is killed mid-stream and restarted.
    wait_for(LONG, "synthetic findings under way", || {
        (synthetic(&c, &id).len() >= 300).then_some(())
    });
    c.kill9();
    std::thread::sleep(Duration::from_secs(2));
    c.start();
    wait_for(
        LONG,
        "all 3000 synthetic findings after the restart",
        || (synthetic(&c, &id).len() >= 3000).then_some(()),
    );

    // Check results of the pack: one pass, one fail.
    let checks = wait_for(LONG, "check results", || {
        let f = c.findings(&id, Some("check"));
        (f.len() >= 2).then_some(f)
    });
    let status = |rule: &str| {
        checks
            .iter()
            .find(|f| f["finding"]["rule_id"] == rule)
            .map(|f| f["finding"]["status"].clone())
    };
    assert_eq!(
        status("win-e2e-hosts-file"),
        Some("pass".into()),
        "{checks:#?}"
    );
    assert_eq!(status("win-e2e-marker"), Some("fail".into()), "{checks:#?}");

    // Inventory: the prefix's programs of both views, not the hidden component.
    let inv = wait_for(LONG, "an inventory with the registry programs", || {
        c.findings(&id, Some("inventory")).into_iter().find(|f| {
            f["finding"]["packages"]
                .as_array()
                .is_some_and(|p| p.iter().any(|x| x["name"] == "Vigil Test App (32-bit)"))
        })
    });
    let pkgs = inv["finding"]["packages"].as_array().expect("packages");
    let has = |n: &str, v: &str| pkgs.iter().any(|x| x["name"] == n && x["version"] == v);
    assert!(has("Vigil Test App", "1.2.3") && has("Vigil Test App (32-bit)", "4.5.6"));
    assert!(
        !pkgs
            .iter()
            .any(|x| x["name"] == "An update that is not a program")
    );
    assert!(
        inv["finding"]["os"]
            .as_str()
            .is_some_and(|o| o.starts_with("Windows"))
    );
    assert!(
        inv["finding"]["build"]
            .as_str()
            .is_some_and(|b| !b.is_empty())
    );
    let q: Value =
        serde_json::from_str(&c.ok(&["query", "packages", "--name", "Vigil Test App", "--json"]))
            .expect("json");
    assert!(
        q["hosts"].as_array().is_some_and(|l| l
            .iter()
            .any(|x| x["id"] == id.as_str() && x["version"] == "1.2.3")),
        "query packages finds the Windows host: {q}"
    );

    // Network: the listener, and an IOC hit for a connection to 127.0.0.9.
    let ioc_listener = std::net::TcpListener::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    let _conn =
        std::net::TcpStream::connect(ioc_listener.local_addr().expect("addr")).expect("connect");
    let (_served, _) = ioc_listener.accept().expect("accept");
    wait_for(LONG, "the listener and the IOC hit", || {
        let net = c.findings(&id, Some("net"));
        let listen = net.iter().any(|f| {
            f["finding"]["kind"] == "listen"
                && f["finding"]["local"]
                    .as_str()
                    .is_some_and(|l| l.ends_with(&format!(":{lport}")))
        });
        let hit = net.iter().any(|f| {
            f["finding"]["kind"] == "ioc_hit"
                && f["finding"]["severity"] == "critical"
                && f["finding"]["remote"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("127.0.0.9:"))
        });
        (listen && hit).then_some(())
    });

    // FIM: a file created in the watched folder; the registry watch: a new Run value.
    // A first start creates the baseline without a finding; its log line says it is done.
    wait_for(LONG, "the FIM baseline", || {
        agent
            .log_text()
            .contains("FIM baseline created.")
            .then_some(())
    });
    std::fs::write(p.path(r"C:\vigil\watched\dropped.exe"), b"MZ").expect("write");
    wait_for(LONG, "the created file at the collector", || {
        c.findings(&id, Some("file"))
            .iter()
            .any(|f| {
                f["finding"]["kind"] == "created"
                    && f["finding"]["path"] == r"C:\vigil\watched\dropped.exe"
            })
            .then_some(())
    });
    wait_for(LONG, "the registry baseline", || {
        c.findings(&id, Some("registry"))
            .iter()
            .any(|f| f["finding"]["kind"] == "rescan")
            .then_some(())
    });
    p.import_reg(
        "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Run]\r\n\
         \"VigilE2E\"=\"C:\\\\Users\\\\Public\\\\evil.exe\"\r\n",
    );
    let reg = wait_for(LONG, "the new Run value at the collector", || {
        c.findings(&id, Some("registry"))
            .into_iter()
            .find(|f| f["finding"]["kind"] == "created" && f["finding"]["value"] == "VigilE2E")
    });
    assert_eq!(reg["finding"]["group"], "autostart");
    assert_eq!(reg["finding"]["severity"], "high");
    assert_eq!(reg["finding"]["new"]["data"], r"C:\Users\Public\evil.exe");

    // Nothing lost or stored twice across the kill.
    std::thread::sleep(Duration::from_secs(2));
    assert_exactly_synthetic(&c, &id);
    agent.kill9();
    drop(listener);
}

/// The synthetic findings 0..3000 arrived exactly once (other kinds keep arriving, so only the
/// synthetic ones are counted exactly; seqs must still have no gap).
fn assert_exactly_synthetic(c: &Collector, id: &str) {
    let got = synthetic(c, id);
    assert_eq!(got.len(), 3000, "every synthetic finding stored once");
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        (0..3000).collect::<Vec<_>>()
    );
    let all = c.findings(id, None);
    let max = all
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .max()
        .unwrap_or(0);
    let mut seqs: Vec<u64> = all.iter().filter_map(|f| f["seq"].as_u64()).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len() as u64,
        max,
        "seqs 1..={max} all present, none twice"
    );
}
