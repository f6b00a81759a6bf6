//! A rule pack must not make the root agent change the system (issue 17, item 5), against the
//! real `vigil-agent check`: state-changing command arguments are refused, and packs that someone
//! other than root could have written are not loaded at all.

use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_e2e::{Agent, code, run, stderr};

const SYSTEMCTL: &str = "/usr/bin/systemctl";

/// Whether this test process is root (ownership tests need `chown`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Skips (with a visible message) unless root; under CI the tests must run.
fn require_root(what: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} needs root under CI"
    );
    eprintln!("SKIPPED: {what} needs root");
    false
}

fn pack(run: &[String]) -> String {
    let run = run
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "id: attack\nversion: \"1\"\ntitle: {{vi: a, en: a}}\nrules:\n  - id: mask-a-unit\n    \
         title: {{vi: a, en: a}}\n    rationale: {{vi: a, en: a}}\n    remediation: {{vi: a, en: \
         a}}\n    severity: low\n    group: hardening\n    checks:\n      - kind: command\n        \
         run: [{run}]\n"
    )
}

/// A pack directory `packs/` (0755) holding `attack.yaml` (0644) under `base`.
fn write_pack(base: &Path, text: &str) -> PathBuf {
    let dir = base.join("packs");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let f = dir.join("attack.yaml");
    std::fs::write(&f, text).expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    dir
}

fn check(a: &Agent, packs: &Path) -> std::process::Output {
    run(
        &mut a.cmd(&[
            "check",
            "--root",
            "/",
            "--format",
            "json",
            "--pack",
            packs.to_str().expect("utf8"),
        ]),
        Duration::from_secs(60),
    )
}

#[test]
fn a_pack_cannot_make_the_agent_mask_a_unit() {
    if !Path::new(SYSTEMCTL).exists() {
        eprintln!("SKIPPED: {SYSTEMCTL} is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).expect("mkdir");
    let packs = write_pack(
        tmp.path(),
        &pack(&[
            SYSTEMCTL.into(),
            format!("--root={}", victim.display()),
            "mask".into(),
            "vigil-attack.service".into(),
        ]),
    );
    let a = Agent::new(tmp.path(), "agent", "");
    let out = check(&a, &packs);
    let link = victim.join("etc/systemd/system/vigil-attack.service");
    assert!(
        link.symlink_metadata().is_err(),
        "the pack masked a unit through the agent: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        code(&out),
        3,
        "an unrunnable rule is an error: {}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let r = &v["results"][0];
    assert_eq!(r["status"], "error", "{r}");
    assert!(
        r["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("allow-list")),
        "{r}"
    );
}

#[test]
fn packs_that_others_could_write_are_not_loaded() {
    if !require_root("chown of pack files") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let a = Agent::new(tmp.path(), "agent", "");
    let text = pack(&["/usr/bin/stat".into(), "/".into()]);
    let packs = write_pack(tmp.path(), &text);
    let file = packs.join("attack.yaml");

    // A pack file owned by another user.
    chown(&file, Some(65534), Some(65534)).expect("chown");
    let out = check(&a, &packs);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("attack.yaml") && stderr(&out).contains("owned by"),
        "{}",
        stderr(&out)
    );
    chown(&file, Some(0), Some(0)).expect("chown");

    // A group-writable pack file.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).expect("chmod");
    let out = check(&a, &packs);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("attack.yaml") && stderr(&out).contains("group-writable"),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    // A group-writable pack directory: anyone in the group could add or swap packs.
    std::fs::set_permissions(&packs, std::fs::Permissions::from_mode(0o775)).expect("chmod");
    let out = check(&a, &packs);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let dir_named = format!("{}:", packs.display());
    assert!(
        stderr(&out).contains(&dir_named) && stderr(&out).contains("group-writable"),
        "{}",
        stderr(&out)
    );
    std::fs::set_permissions(&packs, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // A pack directory owned by another user.
    chown(&packs, Some(65534), None).expect("chown");
    let out = check(&a, &packs);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&dir_named) && stderr(&out).contains("owned by"),
        "{}",
        stderr(&out)
    );
    chown(&packs, Some(0), None).expect("chown");

    // Root-owned, 0755/0644: loads (stat of / passes).
    let out = check(&a, &packs);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
