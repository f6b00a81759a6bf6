//! The Windows facts seam over an offline volume, end to end: hives written from text under a
//! temporary root, read back through `RootFacts` and evaluated by every Windows check kind.

use std::path::Path;
use std::time::SystemTime;

use vigil_proto::Status;
use vigil_rules::windows::fixture::{self, Accounts};
use vigil_rules::windows::{RegPath, RegView};
use vigil_rules::{HostFacts, Level, RootFacts, evaluate, parse_pack};

const REG: &str = r#"
[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows NT\CurrentVersion]
"CurrentBuild"="22631"
"EditionID"="Enterprise"
"ProductName"="Windows 10 Enterprise"

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Vendor\App]
"Bits"=dword:00000020

[HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile]
"EnableFirewall"=dword:00000001

[HKEY_LOCAL_MACHINE\SYSTEM\Select]
"Current"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet001\Control\ProductOptions]
"ProductType"="ServerNT"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Control\ProductOptions]
"ProductType"="WinNT"

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\LanmanServer\Parameters]
"SMB1"=dword:00000000

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\srv]
"Start"=dword:00000003

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\RemoteRegistry]
"Start"=dword:00000004

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\MpsSvc]
"Start"=dword:00000002

[HKEY_LOCAL_MACHINE\SYSTEM\ControlSet002\Services\WinDefend]
"Start"=dword:00000002
"#;

const ACCOUNTS: &str = r#"
policy: {min_password_length: 14, password_history: 24, max_password_age_days: 60,
         min_password_age_days: 1, lockout_threshold: 5, lockout_duration_minutes: 15,
         lockout_window_minutes: 15, complexity: true}
users:
  Quantri: {rid: 500, disabled: true}
  Guest: {rid: 501, disabled: true}
  canbo: {rid: 1001, last_logon_days: 3}
audit:
  Credential Validation: success_and_failure
  Special Logon: success
rights:
  SeRemoteInteractiveLogonRight: [S-1-5-32-544]
  SeDenyNetworkLogonRight: [S-1-5-32-546, S-1-5-113]
  SeDebugPrivilege: [S-1-5-32-544]
domain_sid: S-1-5-21-1004336348-1177238915-682003330
"#;

fn build(dir: &Path, extra_reg: &str, accounts: &str) {
    let acc: Accounts = serde_norway::from_str(accounts).expect("accounts");
    fixture::build(dir, &format!("{REG}\n{extra_reg}"), &acc, SystemTime::now()).expect("fixture");
}

fn hklm(p: &str) -> RegPath {
    RegPath::parse(&format!("HKLM\\{p}")).expect("path")
}

#[test]
fn offline_hives_answer_every_primitive() {
    let d = tempfile::tempdir().expect("tempdir");
    build(d.path(), "", ACCOUNTS);
    let facts = RootFacts::new(d.path(), SystemTime::now());
    let w = facts.windows().expect("the hive layout is recognised");
    // CurrentControlSet resolves through Select\Current (ControlSet002), not ControlSet001.
    let po = w
        .reg_values(
            &hklm(r"SYSTEM\CurrentControlSet\Control\ProductOptions"),
            RegView::Native,
        )
        .expect("read")
        .expect("key");
    assert_eq!(po[0].data.text(), "WinNT");
    let bits = w
        .reg_values(&hklm(r"SOFTWARE\Vendor\App"), RegView::Wow64)
        .expect("read")
        .expect("32-bit view");
    assert_eq!(bits[0].data.text(), "32");
    assert!(
        w.reg_values(&hklm(r"SOFTWARE\Vendor\App"), RegView::Native)
            .expect("read")
            .is_none()
    );
    let p = w.account_policy().expect("policy");
    assert_eq!((p.min_password_length, p.lockout_threshold), (14, 5));
    assert_eq!(p.max_password_age_days, Some(60));
    let users = w.local_users().expect("users");
    assert_eq!(users.len(), 3);
    assert!(
        users
            .iter()
            .any(|u| u.name == "Guest" && u.rid == 501 && u.disabled)
    );
    let audit = w.audit_policy().expect("audit");
    assert!(audit.settings[&vigil_rules::windows::audit::guid("0cce923f")].failure);
    let rights = w.user_rights().expect("rights");
    assert_eq!(rights["SeDenyNetworkLogonRight"].len(), 2);
    assert_eq!(rights["SeDebugPrivilege"], ["S-1-5-32-544"]);
    assert!(w.domain_member().expect("membership"));
    assert!(
        w.service_running("W32Time").is_err(),
        "live-only facts are unknown offline"
    );
    assert!(w.bitlocker_system_volume().is_err());
    // A Linux tree has no Windows facts.
    let linux = tempfile::tempdir().expect("tempdir");
    assert!(
        RootFacts::new(linux.path(), SystemTime::now())
            .windows()
            .is_none()
    );
}

const PACK: &str = r#"
id: t
version: "1"
title: {vi: thử, en: test}
applies_to: [{os: windows, versions: ["10", "11"]}]
rules:
  - id: reg
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: high
    group: hardening
    checks:
      - {kind: registry, key: 'HKLM\SYSTEM\CurrentControlSet\Services\LanmanServer\Parameters', name: SMB1, value: "== 0", default: "1"}
  - id: pol
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: high
    group: accounts
    params: {max: [10, 10, 5, 5, 5]}
    checks:
      - {kind: account_policy, field: lockout_threshold, value: "<= ${max}"}
      - {kind: account_policy, field: lockout_threshold, value: "> 0"}
  - id: audit
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: medium
    group: logging
    checks:
      - {kind: audit_policy, subcategory: Credential Validation, includes: [success, failure]}
  - id: right
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: medium
    group: accounts
    checks:
      - {kind: user_right, right: SeDenyNetworkLogonRight, includes: [S-1-5-32-546]}
      - {kind: user_right, right: SeDebugPrivilege, only: [S-1-5-32-544]}
  - id: guest
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: high
    group: accounts
    checks:
      - {kind: local_user, rid: 501, field: disabled, value: "== true"}
  - id: fact
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: high
    group: hardening
    checks:
      - {kind: windows, fact: firewall_enabled, profile: public, value: "== true"}
      - {kind: windows, fact: smb1_server, value: "== false"}
  - id: svc
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: low
    group: hardening
    checks:
      - {kind: service, name: RemoteRegistry, enabled: false}
  - id: domain-only
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: low
    group: hardening
    applies_to: [{os: windows, role: [workstation], edition: [Enterprise, Education], domain_member: true}]
    checks:
      - {kind: registry, key: 'HKLM\SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile'}
  - id: servers-only
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: low
    group: hardening
    applies_to: [{os: windows, role: [server, domain_controller]}]
    checks:
      - {kind: registry, key: 'HKLM\SOFTWARE\Nope'}
"#;

fn statuses(dir: &Path, level: u8) -> Vec<(String, Status, String)> {
    let pack = parse_pack(PACK, Path::new("t.yaml")).expect("pack");
    let facts = RootFacts::new(dir, SystemTime::now());
    evaluate(&pack, &facts, Level::new(level).expect("level"))
        .into_iter()
        .map(|r| (r.rule_id, r.status, r.evidence))
        .collect()
}

fn status_of(all: &[(String, Status, String)], id: &str) -> Status {
    all.iter().find(|r| r.0 == id).expect(id).1
}

#[test]
fn every_windows_check_kind_passes_and_fails() {
    let d = tempfile::tempdir().expect("tempdir");
    build(d.path(), "", ACCOUNTS);
    let all = statuses(d.path(), 3);
    for (id, st, ev) in &all {
        let want = if id == "servers-only" {
            Status::NotApplicable
        } else {
            Status::Pass
        };
        assert_eq!(*st, want, "{id}: {ev}");
    }
    let weak = ACCOUNTS
        .replace("lockout_threshold: 5", "lockout_threshold: 8")
        .replace("success_and_failure", "success")
        .replace("[S-1-5-32-546, S-1-5-113]", "[S-1-5-113]")
        .replace(
            "SeDebugPrivilege: [S-1-5-32-544]",
            "SeDebugPrivilege: [S-1-5-32-544, S-1-5-32-545]",
        )
        .replace("Guest: {rid: 501, disabled: true}", "Guest: {rid: 501}")
        .replace("domain_sid: S-1-5-21-1004336348-1177238915-682003330", "");
    let d2 = tempfile::tempdir().expect("tempdir");
    build(
        d2.path(),
        "[HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services\\LanmanServer\\Parameters]\n\"SMB1\"=-\n\
         [HKEY_LOCAL_MACHINE\\SYSTEM\\ControlSet002\\Services\\RemoteRegistry]\n\"Start\"=dword:00000002\n",
        &weak,
    );
    let all = statuses(d2.path(), 3);
    for id in ["reg", "pol", "audit", "right", "guest", "fact", "svc"] {
        assert_eq!(status_of(&all, id), Status::Fail, "{id}: {all:?}");
    }
    let na = all.iter().find(|r| r.0 == "domain-only").expect("rule");
    assert_eq!(na.1, Status::NotApplicable, "{}", na.2);
    assert!(na.2.contains("not in a domain"), "{}", na.2);
    // Level 1 allows 10 failed logons, so 8 passes there.
    assert_eq!(status_of(&statuses(d2.path(), 1), "pol"), Status::Pass);
}

#[test]
fn unreadable_facts_are_errors_never_passes() {
    let d = tempfile::tempdir().expect("tempdir");
    build(d.path(), "", ACCOUNTS);
    let config = d.path().join("Windows/System32/config");
    // A dirty SAM (pending transaction logs) and a SECURITY hive that is not a hive at all.
    let mut sam = std::fs::read(config.join("SAM")).expect("read");
    sam[4] = sam[4].wrapping_add(1);
    let sum = vigil_rules::hive::checksum(&sam);
    sam[508..512].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(config.join("SAM"), sam).expect("write");
    std::fs::write(config.join("SECURITY"), b"garbage").expect("write");
    let all = statuses(d.path(), 3);
    for id in ["pol", "guest", "audit", "right"] {
        let r = all.iter().find(|r| r.0 == id).expect(id);
        assert_eq!(r.1, Status::Error, "{id}: {}", r.2);
    }
    let pol = all.iter().find(|r| r.0 == "pol").expect("pol");
    assert!(pol.2.contains("dirty"), "{}", pol.2);
    // Domain membership is unknown, so a rule that depends on it cannot be decided.
    assert_eq!(status_of(&all, "domain-only"), Status::Error);
    assert_eq!(
        status_of(&all, "reg"),
        Status::Pass,
        "other hives still answer"
    );
}

#[test]
fn linux_packs_do_not_apply_to_windows_and_back() {
    let d = tempfile::tempdir().expect("tempdir");
    build(d.path(), "", ACCOUNTS);
    let linux = vigil_rules::builtin_packs()
        .expect("builtin")
        .into_iter()
        .find(|p| p.id == "linux-baseline")
        .expect("linux pack");
    let res = evaluate(
        &linux,
        &RootFacts::new(d.path(), SystemTime::now()),
        Level::MIN,
    );
    assert!(
        res.iter().all(|r| r.status == Status::NotApplicable),
        "{:?}",
        res[0]
    );
    assert!(
        res[0].evidence.contains("host is windows 11"),
        "{}",
        res[0].evidence
    );
    let tree = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tree.path().join("etc")).expect("mkdir");
    std::fs::write(
        tree.path().join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .expect("write");
    let pack = parse_pack(PACK, Path::new("t.yaml")).expect("pack");
    let res = evaluate(
        &pack,
        &RootFacts::new(tree.path(), SystemTime::now()),
        Level::MIN,
    );
    assert!(res.iter().all(|r| r.status == Status::NotApplicable));
    // A registry check outside any Windows pack, on a Linux tree, says why it cannot run.
    let text = PACK.replace(
        "applies_to: [{os: windows, versions: [\"10\", \"11\"]}]\n",
        "",
    );
    let pack = parse_pack(&text, Path::new("t.yaml")).expect("pack");
    let res = evaluate(
        &pack,
        &RootFacts::new(tree.path(), SystemTime::now()),
        Level::MIN,
    );
    let reg = res.iter().find(|r| r.rule_id == "reg").expect("reg");
    assert_eq!(reg.status, Status::Error);
    assert!(
        reg.evidence.contains("not a Windows host"),
        "{}",
        reg.evidence
    );
}

#[test]
fn load_time_validation_of_windows_checks() {
    let rule = |check: &str| {
        format!(
            "id: t\nversion: \"1\"\ntitle: {{vi: t, en: t}}\nrules:\n  - id: r\n    title: {{vi: a, en: a}}\n    rationale: {{vi: a, en: a}}\n    remediation: {{vi: a, en: a}}\n    severity: low\n    group: hardening\n    checks:\n      - {check}\n"
        )
    };
    for (check, want) in [
        (
            "{kind: audit_policy, subcategory: Logon Events, includes: [success]}",
            "unknown audit subcategory",
        ),
        (
            "{kind: user_right, right: SeFlyRight, includes: [S-1-5-32-544]}",
            "unknown user right",
        ),
        (
            "{kind: user_right, right: SeDebugPrivilege, includes: [Administrators]}",
            "not a SID",
        ),
        (
            "{kind: windows, fact: firewall_enabled, value: \"== true\"}",
            "needs `profile`",
        ),
        (
            "{kind: windows, fact: smb1_server, log: security, value: \"== true\"}",
            "only for event log",
        ),
        (
            "{kind: windows, fact: warp_drive, value: \"== true\"}",
            "unknown variant",
        ),
        (
            "{kind: registry, key: 'HKLM\\X', value: \"== 1\"}",
            "need `name`",
        ),
        (
            "{kind: account_policy, field: lockout_threshold, value: \"<= ${nope}\"}",
            "unknown parameter",
        ),
    ] {
        let e = parse_pack(&rule(check), Path::new("x.yaml"))
            .expect_err(check)
            .to_string();
        assert!(e.contains(want), "{check}: {e}");
    }
    let e = parse_pack(
        &rule("{kind: registry, key: 'HKLM\\X'}").replace(
            "    checks:",
            "    applies_to: [{os: debian, role: [server]}]\n    checks:",
        ),
        Path::new("x.yaml"),
    )
    .expect_err("role on debian")
    .to_string();
    assert!(e.contains("os: windows"), "{e}");
}
