//! Running commands: limits, and the Linux sandbox read back from `/proc/<child>/status`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::facts::{HostFacts, RootFacts};

/// Live facts (on a temporary root, forced live) with their own allow-list.
fn live(lines: &[&str]) -> RootFacts {
    RootFacts::new("/", SystemTime::now())
        .with_allowed_commands(AllowList::parse(lines).expect("allow-list"))
}

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Root is needed to test the uid switch; under CI the tests must run.
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

/// `Key:\tvalue` fields of a `/proc/<pid>/status` text.
fn field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

fn caps(status: &str, key: &str) -> u64 {
    u64::from_str_radix(field(status, key), 16).expect("hex capability set")
}

const READ_SEARCH: u64 = 1 << 2;

#[test]
fn output_is_capped_and_slow_commands_time_out_with_their_children() {
    let f = live(&["/bin/echo <text>", "/bin/sh -c <text>"]);
    let out = f
        .run(
            &argv(&["/bin/echo", "0123456789"]),
            Duration::from_secs(5),
            4,
        )
        .expect("runs");
    assert_eq!(out.stdout, "0123");
    assert!(out.truncated);
    // The shell starts a grandchild; the timeout must kill it too (same process group).
    let marker = format!("61.{}", std::process::id());
    let script = format!("/bin/sleep {marker} & /bin/sleep {marker}");
    let t = Instant::now();
    let e = f
        .run(
            &argv(&["/bin/sh", "-c", &script]),
            Duration::from_millis(300),
            10,
        )
        .expect_err("timeout");
    assert!(e.contains("timed out"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|c| String::from_utf8_lossy(&c).contains(&marker));
        if !left {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a grandchild survived the timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn children_run_as_nobody_with_read_search_only_and_no_new_privs() {
    if !require_root("switching the child to uid 65534") {
        return;
    }
    let f = live(&["/bin/cat <path>"]);
    let out = f
        .run(
            &argv(&["/bin/cat", "/proc/self/status"]),
            Duration::from_secs(10),
            1 << 16,
        )
        .expect("runs");
    let s = out.stdout;
    let id = SANDBOX_UID.to_string();
    for key in ["Uid", "Gid"] {
        let ids: Vec<&str> = field(&s, key).split_whitespace().collect();
        assert_eq!(ids, [id.as_str(); 4], "{key} in\n{s}");
    }
    assert_eq!(field(&s, "Groups"), "", "no supplementary groups");
    for key in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(caps(&s, key), READ_SEARCH, "{key} in\n{s}");
    }
    // This test runs as root with CAP_SETPCAP, so the bounding set is emptied too.
    assert_eq!(caps(&s, "CapBnd"), READ_SEARCH, "CapBnd in\n{s}");
    assert_eq!(field(&s, "NoNewPrivs"), "1");
}

#[test]
fn root_entries_keep_uid_0_but_no_capability_beyond_reading() {
    if !require_root("a uid 0 child") {
        return;
    }
    let f = live(&["@root /bin/cat <path>"]);
    let out = f
        .run(
            &argv(&["/bin/cat", "/proc/self/status"]),
            Duration::from_secs(10),
            1 << 16,
        )
        .expect("runs");
    let s = out.stdout;
    assert!(field(&s, "Uid").split_whitespace().all(|u| u == "0"), "{s}");
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(caps(&s, key), READ_SEARCH, "{key} in\n{s}");
    }
    assert_eq!(caps(&s, "CapAmb"), 0, "{s}");
    assert_eq!(field(&s, "NoNewPrivs"), "1");
}

#[test]
fn the_sandbox_reads_root_only_files_but_cannot_write_even_when_the_list_is_too_broad() {
    if !require_root("the sandbox's file access") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).expect("mkdir");
    // A deliberately wrong list that lets the arguments through: the sandbox must still hold.
    let f = live(&[
        "/bin/cat <path>",
        "/usr/bin/touch <path>",
        "/bin/cp <path> <path>",
    ]);
    let out = f
        .run(
            &argv(&["/bin/cat", &secret.to_string_lossy()]),
            Duration::from_secs(10),
            100,
        )
        .expect("runs");
    assert_eq!(
        out.stdout, "s3cret\n",
        "CAP_DAC_READ_SEARCH reads a 0600 file"
    );
    let planted = victim.join("planted");
    let out = f
        .run(
            &argv(&["/usr/bin/touch", &planted.to_string_lossy()]),
            Duration::from_secs(10),
            100,
        )
        .expect("runs");
    assert_ne!(out.status, Some(0));
    assert!(
        !planted.exists(),
        "the child wrote into a root-owned directory"
    );
    let out = f
        .run(
            &argv(&[
                "/bin/cp",
                &secret.to_string_lossy(),
                &victim.to_string_lossy(),
            ]),
            Duration::from_secs(10),
            100,
        )
        .expect("runs");
    assert_ne!(
        out.status,
        Some(0),
        "cp into a root-owned directory must fail"
    );
    assert!(!victim.join("secret").exists());
}

#[test]
fn programs_others_could_replace_are_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prog = dir.path().join("echo");
    std::fs::copy("/bin/echo", &prog).expect("copy");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let p = prog.to_string_lossy().into_owned();
    let line = format!("{p} <text>");
    let f = live(&[&line]);
    let e = f
        .run(&argv(&[&p, "hi"]), Duration::from_secs(5), 100)
        .expect_err("writable directory");
    assert!(e.contains("writable by nobody else"), "{e}");
    assert!(!Path::new(&p).starts_with("/usr"));
}
