//! `vigil-agent check --root` on an offline Windows volume, through the real binary: a hardened
//! hive set (SOFTWARE, SYSTEM, SAM, SECURITY under Windows/System32/config, built in the test)
//! passes the built-in windows-baseline pack, and each weakening flips its matching rule to fail.
//! The SYSTEM hive has no CurrentControlSet, as on any offline volume: the agent resolves it
//! through Select\Current.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use vigil_e2e::windows::hardened_volume;
use vigil_e2e::{Agent, code, run, stderr};

const LEVEL: &str = "2";

/// Runs `check --root` on `root`; returns the exit code and rule id → (status, evidence).
fn check(a: &Agent, root: &Path) -> (i32, BTreeMap<String, (String, String)>) {
    let out = run(
        &mut a.cmd(&[
            "check",
            "--root",
            root.to_str().expect("utf8 path"),
            "--format",
            "json",
            "--level",
            LEVEL,
        ]),
        Duration::from_secs(120),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("json ({e}): {}", stderr(&out)));
    let packs: Vec<&str> = v["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(packs, ["windows-baseline"], "only the Windows pack applies");
    let results = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("rule_id"), (s("status"), s("evidence")))
        })
        .collect();
    (code(&out), results)
}

fn failing(results: &BTreeMap<String, (String, String)>) -> Vec<&str> {
    results
        .iter()
        .filter(|(_, (st, _))| st == "fail")
        .map(|(id, _)| id.as_str())
        .collect()
}

#[test]
fn offline_windows_volume_rules_flip_one_weakening_at_a_time() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = Agent::new(tmp.path(), "win-offline", "");
    let base = tmp.path().join("base");
    hardened_volume(&base, "", "");
    let (c, res) = check(&a, &base);
    assert!(res.len() >= 100, "{} results", res.len());
    let not_passing: Vec<_> = res
        .iter()
        .filter(|(_, (st, _))| st != "pass" && st != "not_applicable")
        .collect();
    assert!(not_passing.is_empty(), "hardened volume: {not_passing:?}");
    assert_eq!(c, 0, "every rule passes on the hardened volume");

    let hklm = "HKEY_LOCAL_MACHINE";
    let cs = "SYSTEM\\ControlSet001";
    let weakenings: [(&str, String, &str, &[&str]); 9] = [
        (
            "win-fw-public-on",
            format!(
                "[{hklm}\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\PublicProfile]\n\"EnableFirewall\"=dword:00000000\n"
            ),
            "",
            &[],
        ),
        (
            "win-smb1-server-off",
            format!(
                "[{hklm}\\{cs}\\Services\\srv]\n\"Start\"=dword:00000003\n[{hklm}\\{cs}\\Services\\LanmanServer\\Parameters]\n\"SMB1\"=dword:00000001\n"
            ),
            "",
            &[],
        ),
        (
            "win-rm-autoplay-all-drives",
            format!(
                "[{hklm}\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer]\n\"NoDriveTypeAutoRun\"=dword:00000091\n"
            ),
            "",
            &[],
        ),
        (
            "win-rdp-nla",
            format!(
                "[{hklm}\\{cs}\\Control\\Terminal Server]\n\"fDenyTSConnections\"=dword:00000000\n[{hklm}\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\Terminal Services]\n\"UserAuthentication\"=dword:00000000\n"
            ),
            "",
            &[],
        ),
        (
            "win-net-llmnr-off",
            format!(
                "[{hklm}\\SOFTWARE\\Policies\\Microsoft\\Windows NT\\DNSClient]\n\"EnableMulticast\"=dword:00000001\n"
            ),
            "",
            &[],
        ),
        (
            "win-av-rtp-not-disabled-by-policy",
            format!(
                "[{hklm}\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\Real-Time Protection]\n\"DisableRealtimeMonitoring\"=dword:00000001\n"
            ),
            "",
            &[],
        ),
        (
            "win-acc-guest-disabled",
            String::new(),
            "users: {khach-tam: {rid: 501, disabled: false}}",
            // An enabled Guest that never logged on is also an idle account.
            &["win-acc-idle-accounts"],
        ),
        (
            "win-acc-lockout-threshold",
            String::new(),
            "policy: {lockout_threshold: 0}",
            &[],
        ),
        (
            "win-acc-password-length",
            String::new(),
            "policy: {min_password_length: 0}",
            &[],
        ),
    ];
    for (rule, reg, accounts, extra) in weakenings {
        let root = tmp.path().join(rule);
        hardened_volume(&root, &reg, accounts);
        let (c, res) = check(&a, &root);
        assert_eq!(c, 1, "{rule}: a failed rule exits 1");
        let mut want = vec![rule];
        want.extend_from_slice(extra);
        want.sort_unstable();
        assert_eq!(
            failing(&res),
            want,
            "{rule}: exactly the matching rule fails"
        );
        let (_, evidence) = &res[rule];
        assert!(
            !evidence.is_empty(),
            "{rule}: evidence explains the failure"
        );
    }
}

#[test]
fn a_dirty_hive_is_reported_not_passed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = Agent::new(tmp.path(), "win-dirty", "");
    let root = tmp.path().join("vol");
    hardened_volume(&root, "", "");
    // The SAM's primary and secondary sequence numbers differ: changes sit in SAM.LOG1/LOG2.
    let sam = root.join("Windows/System32/config/SAM");
    let mut bytes = std::fs::read(&sam).expect("read SAM");
    bytes[4] = bytes[4].wrapping_add(1);
    let sum = vigil_rules::hive::checksum(&bytes);
    bytes[508..512].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(&sam, bytes).expect("write SAM");
    let (c, res) = check(&a, &root);
    let (st, ev) = &res["win-acc-lockout-threshold"];
    assert_eq!(st, "error", "{ev}");
    assert!(ev.contains("dirty"), "{ev}");
    assert_eq!(
        res["win-fw-public-on"].0, "pass",
        "other hives still answer"
    );
    assert_eq!(c, 3, "unverified rules exit 3 when none failed");
}
