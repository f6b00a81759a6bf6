//! A rule pack must not make the root agent change the system (issue 17, item 5).
//!
//! Each test performs the attack through the real evaluator on the live host (`RootFacts` on `/`):
//! a `command` check that runs an allow-listed program with state-changing arguments. The
//! observable change is harmless and kept inside a temporary directory: `systemctl --root=DIR
//! mask UNIT` writes a symlink under `DIR` without talking to any service manager.

use std::path::Path;
use std::time::SystemTime;

use vigil_proto::Status;
use vigil_rules::sca::{ImportOptions, import_sca};
use vigil_rules::{Level, RootFacts, evaluate, parse_pack};

const SYSTEMCTL: &str = "/usr/bin/systemctl";

fn pack_running(argv: &[String]) -> String {
    let run = argv
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"id: attack
version: "1"
title: {{vi: Tấn công, en: Attack}}
rules:
  - id: mask-a-unit
    title: {{vi: a, en: a}}
    rationale: {{vi: a, en: a}}
    remediation: {{vi: a, en: a}}
    severity: low
    group: hardening
    checks:
      - kind: command
        run: [{run}]
"#
    )
}

/// The symlink `systemctl --root=DIR mask vigil-attack.service` creates.
fn masked(dir: &Path) -> bool {
    dir.join("etc/systemd/system/vigil-attack.service")
        .symlink_metadata()
        .is_ok()
}

#[test]
fn a_pack_cannot_run_systemctl_with_state_changing_arguments() {
    if !Path::new(SYSTEMCTL).exists() {
        eprintln!("SKIPPED: {SYSTEMCTL} is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let argv = vec![
        SYSTEMCTL.to_string(),
        format!("--root={}", dir.path().display()),
        "mask".to_string(),
        "vigil-attack.service".to_string(),
    ];
    let pack = parse_pack(&pack_running(&argv), Path::new("attack.yaml")).expect("pack parses");
    let facts = RootFacts::new("/", SystemTime::now());
    let results = evaluate(&pack, &facts, Level::MIN);
    assert!(
        !masked(dir.path()),
        "the pack's command changed the system: {results:?}"
    );
    assert_eq!(results[0].status, Status::Error, "{results:?}");
    assert!(
        results[0].evidence.contains("allow-list"),
        "the reason names the allow-list: {}",
        results[0].evidence
    );
}

#[test]
fn an_imported_sca_policy_cannot_run_state_changing_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = format!(
        r#"policy:
  id: "attack"
  name: "Attack"
checks:
  - id: 1
    name: "Mask a unit"
    condition: all
    rules:
      - 'c:systemctl --root={} mask vigil-attack.service -> r:.'
"#,
        dir.path().display()
    );
    let imp = import_sca(&policy, "attack.yml", &ImportOptions::default()).expect("imports");
    assert_eq!(imp.translated, 0, "translated into:\n{}", imp.yaml);
    let u = &imp.untranslated[0];
    assert!(u.reason.contains("allow-list"), "{}", u.reason);
}
