//! The built-in windows-baseline pack evaluated live by the Windows agent under Wine (issue 16):
//! `vigil-agent check` on the running system (the live registry and Win32 security APIs, not
//! hive files), and the collector scoring that host from the agent's reports.
//!
//! Wine answers the registry, services and domain membership, and lacks the account policy
//! (`NetUserModalsGet` levels 0 and 3), `AuditFree`, the firewall and Defender services: rules
//! on those must come back unverified (`error`), never passed. Built and run by
//! `scripts/windows.sh`; without the Windows build these tests print that they are skipped.

use std::time::Duration;

use serde_json::Value;
use vigil_e2e::wine::WinePrefix;
use vigil_e2e::{Collector, code, run, stderr, wait_for};

const LONG: Duration = Duration::from_secs(240);

/// AutoRun off by policy: the `win-rm-autorun-off` rule reads this live.
const AUTORUN_OFF: &str = "REGEDIT4\r\n\r\n\
[HKEY_LOCAL_MACHINE\\Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer]\r\n\
\"NoAutorun\"=dword:00000001\r\n";

fn check_json(p: &WinePrefix) -> (i32, Value) {
    let out = run(
        &mut p.agent(&["check", "--format", "json", "--level", "2"]),
        LONG,
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check --format json: {e}: {}", stderr(&out)));
    (code(&out), v)
}

fn result<'a>(v: &'a Value, rule: &str) -> &'a Value {
    v["results"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["rule_id"] == rule))
        .unwrap_or_else(|| panic!("no result for {rule}"))
}

/// Rules whose facts Wine lacks: unverified with the reason, never passed.
fn assert_unknown(v: &Value, rule: &str, reason: &str) {
    let r = result(v, rule);
    assert_eq!(
        r["status"], "error",
        "{rule} must be unverified under Wine: {r}"
    );
    let ev = r["evidence"].as_str().unwrap_or_default();
    assert!(
        ev.contains(reason),
        "{rule}: evidence {ev:?} should name {reason:?}"
    );
}

#[test]
fn windows_pack_is_evaluated_live_under_wine() {
    let Some(p) = WinePrefix::new("windows_pack_is_evaluated_live_under_wine") else {
        return;
    };
    let (rc, v) = check_json(&p);
    assert_eq!(rc, 1, "a rule fails on a bare Wine prefix: {v:#}");
    let packs = v["packs"].as_array().expect("packs");
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert_eq!(packs[0]["id"], "windows-baseline");
    let s = &v["summary"];
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    assert!(
        n("pass") > 0 && n("fail") > 0 && n("error") > 0,
        "pass, fail and unverified rules: {s}"
    );
    assert!(
        n("pass") + n("fail") + n("error") + n("not_applicable") >= 100,
        "{s}"
    );
    // The account policy, the audit policy, the firewall and Defender: Wine lacks them.
    assert_unknown(&v, "win-acc-lockout-threshold", "NetUserModalsGet");
    assert_unknown(&v, "win-fw-public-on", "MpsSvc");
    assert_unknown(&v, "win-av-realtime", "WinDefend");
    let audit = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| {
            // Every audit subcategory rule (the "enforce subcategories" one is a registry value).
            r["rule_id"].as_str().is_some_and(|i| {
                i.starts_with("win-log-audit-") && i != "win-log-audit-subcategories-enforced"
            })
        })
        .collect::<Vec<_>>();
    assert!(!audit.is_empty(), "audit rules evaluated");
    for r in &audit {
        assert_ne!(
            r["status"], "pass",
            "no audit rule passes without the audit API: {r}"
        );
    }
    // The live registry decides: AutoRun flips from fail to pass when the policy is set.
    assert_eq!(result(&v, "win-rm-autorun-off")["status"], "fail");
    p.import_reg(AUTORUN_OFF);
    let (_, v) = check_json(&p);
    let r = result(&v, "win-rm-autorun-off");
    assert_eq!(r["status"], "pass", "{r}");
}

#[test]
fn collector_scores_the_live_windows_host() {
    let Some(p) = WinePrefix::new("collector_scores_the_live_windows_host") else {
        return;
    };
    let mut c = Collector::init();
    c.start();
    std::fs::create_dir_all(p.path(r"C:\vigil")).expect("mkdir");
    std::fs::write(
        p.path(r"C:\vigil\agent.toml"),
        "[uplink]\nheartbeat_interval = \"1s\"\nidle_timeout = \"5s\"\nmax_backoff = \"1s\"\n\
         [checks]\nlevel = 2\n",
    )
    .expect("config");
    let token = p.path(r"C:\vigil\token.txt");
    std::fs::write(&token, c.token(&[])).expect("token file");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
    let base = [
        "--state-dir",
        r"C:\vigil\state",
        "--config",
        r"C:\vigil\agent.toml",
    ];
    let mut args = vec!["enroll", "--token-file", r"C:\vigil\token.txt"];
    args.extend(base);
    let out = run(&mut p.agent(&args), LONG);
    assert_eq!(code(&out), 0, "enroll under Wine: {}", stderr(&out));
    let id: Value = serde_json::from_slice(
        &std::fs::read(p.path(r"C:\vigil\state\identity.json")).expect("identity"),
    )
    .expect("json");
    let id = id["agent_id"].as_str().expect("agent id").to_string();
    let mut args = vec!["run"];
    args.extend(base);
    let mut agent = p.spawn(&mut p.agent(&args), "agent.log");

    // Every rule of the built-in Windows pack arrives (the first run is a full digest).
    let checks = wait_for(LONG, "the windows-baseline results", || {
        let f = c.findings(&id, Some("check"));
        (f.len() >= 100).then_some(f)
    });
    let statuses: Vec<&str> = checks
        .iter()
        .filter_map(|f| f["finding"]["status"].as_str())
        .collect();
    for s in ["pass", "fail", "error"] {
        assert!(statuses.contains(&s), "a {s} result: {statuses:?}");
    }
    assert!(
        checks.iter().all(|f| f["finding"]["pack"]
            .as_str()
            .is_some_and(|p| p.starts_with("windows-baseline@"))),
        "only the Windows pack runs on Windows"
    );
    let lockout = checks
        .iter()
        .find(|f| f["finding"]["rule_id"] == "win-acc-lockout-threshold")
        .expect("lockout rule reported");
    assert_eq!(lockout["finding"]["status"], "error", "{lockout}");
    let score = wait_for(LONG, "a score for the Windows host", || {
        c.hosts()
            .into_iter()
            .find(|h| h["id"] == id.as_str())
            .and_then(|h| h["score"].as_f64())
    });
    assert!(
        (0.0..100.0).contains(&score),
        "a failing host scores below 100: {score}"
    );
    agent.kill9();
}
