//! The Windows agent as a service under Wine's service control manager, and its MSI under Wine's
//! `msiexec` (issue 15): a real collector on loopback, a real enrollment token, the `.exe` and
//! `.msi` built by `scripts/windows.sh`.
//!
//! Every Windows command runs bounded, with its output in a file (a running service keeps the
//! prefix's wineserver up, and it inherits the command's handles); each test has its own prefix,
//! whose wineserver is killed when the test ends, whatever happened. Without the Windows build
//! these tests print that they are skipped; `CI=true` makes them required.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use vigil_e2e::wine::WinePrefix;
use vigil_e2e::{Collector, wait_for};

/// One Windows command (`service start` itself waits up to 60 s for the service).
const STEP: Duration = Duration::from_secs(120);
/// Wine on a loaded 2-core CI machine.
const LONG: Duration = Duration::from_secs(180);

/// Runs the agent with `args`; returns its output, failing the test on a non-zero exit.
fn agent_ok(p: &WinePrefix, args: &[&str]) -> String {
    let (code, out) = p.run_logged(&mut p.agent(args), STEP);
    assert_eq!(code, Some(0), "vigil-agent {args:?} under Wine: {out}");
    out
}

/// The agent's `service status` output and exit code.
fn status(p: &WinePrefix) -> (Option<i32>, String) {
    p.run_logged(&mut p.agent(&["service", "status"]), STEP)
}

/// `service status` from a copy of the agent outside Program Files (which the MSI owns).
fn status_from_copy(p: &WinePrefix) -> (Option<i32>, String) {
    p.run_logged(
        &mut p.wine(r"C:\vigil\tools\vigil-agent.exe", &["service", "status"]),
        STEP,
    )
}

/// Writes a fresh token as an owner-only file at the Windows path `win` (Wine shows a 0644 file
/// as readable by Everyone, and the agent refuses a token file a broad group may read).
fn token_file(p: &WinePrefix, c: &Collector, win: &str) {
    let token = p.path(win);
    std::fs::create_dir_all(token.parent().expect("dir")).expect("mkdir");
    std::fs::write(&token, c.token(&[])).expect("token file");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
}

fn agent_id(identity: &std::path::Path) -> String {
    let v: Value =
        serde_json::from_slice(&std::fs::read(identity).expect("identity.json")).expect("json");
    v["agent_id"].as_str().expect("agent id").to_string()
}

/// The host's `last_seen` at the collector (0 until a session).
fn last_seen(c: &Collector, id: &str) -> i64 {
    c.hosts()
        .into_iter()
        .find(|h| h["id"] == id)
        .and_then(|h| h["last_seen"].as_i64())
        .unwrap_or(0)
}

#[test]
fn service_install_start_stop_uninstall_under_wines_service_manager() {
    let Some(p) = WinePrefix::new("service_install_start_stop_uninstall_under_wine") else {
        return;
    };
    p.keep_server();
    let mut c = Collector::init();
    c.start();
    std::fs::create_dir_all(p.path(r"C:\vigil")).expect("mkdir");
    std::fs::write(
        p.path(r"C:\vigil\agent.toml"),
        "[uplink]\nheartbeat_interval = \"1s\"\nidle_timeout = \"5s\"\nmax_backoff = \"1s\"\n",
    )
    .expect("config");
    token_file(&p, &c, r"C:\vigil\token.txt");
    let base = [
        "--state-dir",
        r"C:\vigil\state",
        "--config",
        r"C:\vigil\agent.toml",
    ];
    let with = |first: &[&'static str]| -> Vec<&'static str> {
        first.iter().copied().chain(base).collect()
    };
    agent_ok(
        &p,
        &with(&["enroll", "--token-file", r"C:\vigil\token.txt"]),
    );
    let id = agent_id(&p.path(r"C:\vigil\state\identity.json"));
    assert_eq!(last_seen(&c, &id), 0, "no session before the service runs");

    // Installed, not running yet.
    let out = agent_ok(&p, &with(&["service", "install"]));
    assert!(out.contains("service VigilAgent installed"), "{out}");
    let (code, out) = status(&p);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VigilAgent: stopped"), "{out}");

    // Started by Wine's service manager, it connects to the collector as the enrolled host.
    let out = agent_ok(&p, &["service", "start"]);
    assert!(out.contains("VigilAgent running"), "{out}");
    let (_, out) = status(&p);
    assert!(out.contains("VigilAgent: running"), "{out}");
    wait_for(LONG, "a session of the service at the collector", || {
        (last_seen(&c, &id) > 0).then_some(())
    });
    let log = p.path(r"C:\vigil\state\logs\agent.log");
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(LONG, "the service's own log", || {
        text()
            .contains("Vigil agent service started.")
            .then_some(())
    });

    // Stopped through the service manager: the agent shuts down cleanly and sends no more.
    let out = agent_ok(&p, &["service", "stop"]);
    assert!(out.contains("VigilAgent stopped"), "{out}");
    let (_, out) = status(&p);
    assert!(out.contains("VigilAgent: stopped"), "{out}");
    assert!(
        text().contains("Vigil agent service stopped."),
        "a clean stop, logged: {}",
        text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let seen = last_seen(&c, &id);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        last_seen(&c, &id),
        seen,
        "heartbeats every second would move last_seen if the agent still ran"
    );

    // Uninstalled: the service is gone, the identity kept.
    let out = agent_ok(&p, &["service", "uninstall"]);
    assert!(out.contains("VigilAgent removed"), "{out}");
    let (code, out) = status(&p);
    assert_ne!(code, Some(0), "status of a removed service fails: {out}");
    assert!(out.contains("not installed"), "{out}");
    assert!(p.path(r"C:\vigil\state\identity.json").is_file());
}

/// The MSI built by `scripts/windows.sh`, or `None` after printing why the test is skipped.
fn msi(test: &str) -> Option<PathBuf> {
    match std::env::var_os("VIGIL_WINDOWS_MSI").map(PathBuf::from) {
        Some(m) if m.is_file() => Some(m),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI=true needs VIGIL_WINDOWS_MSI (run scripts/windows.sh)")
        }
        _ => {
            eprintln!("SKIPPED {test}: needs VIGIL_WINDOWS_MSI (scripts/windows.sh builds it)");
            None
        }
    }
}

#[test]
fn msi_installs_enrolls_starts_and_uninstalls_under_wine() {
    let test = "msi_installs_enrolls_starts_and_uninstalls_under_wine";
    let Some(p) = WinePrefix::new(test) else {
        return;
    };
    let Some(msi) = msi(test) else {
        return;
    };
    p.keep_server();
    // The MSI, not the test, puts the agent in Program Files; a copy elsewhere asks the service
    // manager about the service.
    std::fs::create_dir_all(p.path(r"C:\vigil\tools")).expect("mkdir");
    std::fs::rename(
        p.path(r"C:\Program Files\Vigil\vigil-agent.exe"),
        p.path(r"C:\vigil\tools\vigil-agent.exe"),
    )
    .expect("move the agent out of Program Files");
    std::fs::remove_dir_all(p.path(r"C:\Program Files\Vigil")).expect("rm");
    let mut c = Collector::init();
    c.start();
    std::fs::create_dir_all(p.path(r"C:\vigil")).expect("mkdir");
    std::fs::copy(&msi, p.path(r"C:\vigil\vigil-agent.msi")).expect("copy the MSI");
    token_file(&p, &c, r"C:\vigil\token.txt");

    let msiexec = |args: &[&str]| {
        let (code, out) = p.run_logged(&mut p.wine("msiexec", args), LONG);
        let log = std::fs::read(p.path(r"C:\vigil\msi.log")).unwrap_or_default();
        // Windows Installer logs are UTF-16.
        let log = String::from_utf16_lossy(
            &log.chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
                .collect::<Vec<_>>(),
        );
        let tail: String = log
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(code, Some(0), "msiexec {args:?}: {out}\n{tail}");
    };
    msiexec(&[
        "/i",
        r"C:\vigil\vigil-agent.msi",
        r"TOKENFILE=C:\vigil\token.txt",
        "/qn",
        "/l*v",
        r"C:\vigil\msi.log",
    ]);

    // Files in Program Files, the state in ProgramData, enrolled with the token file (deleted),
    // the service registered and running, and its session at the collector.
    assert!(p.path(r"C:\Program Files\Vigil\vigil-agent.exe").is_file());
    assert!(
        !p.path(r"C:\vigil\token.txt").exists(),
        "the token file is deleted once used"
    );
    let identity = p.path(r"C:\ProgramData\Vigil\identity.json");
    let id = agent_id(&identity);
    let (code, out) = status_from_copy(&p);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("VigilAgent: running"), "{out}");
    wait_for(LONG, "a session of the installed service", || {
        (last_seen(&c, &id) > 0).then_some(())
    });

    // Uninstall: no service, no program files; the identity stays for a reinstall.
    msiexec(&[
        "/x",
        r"C:\vigil\vigil-agent.msi",
        "/qn",
        "/l*v",
        r"C:\vigil\msi.log",
    ]);
    let (code, out) = status_from_copy(&p);
    assert_ne!(code, Some(0), "the service is removed: {out}");
    assert!(out.contains("not installed"), "{out}");
    assert!(!p.path(r"C:\Program Files\Vigil\vigil-agent.exe").exists());
    assert!(identity.is_file(), "the state directory is kept");
}
