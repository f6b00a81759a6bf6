//! Configuration errors: exit code 2 and a message that names the problem.

use std::process::Command;
use std::time::Duration;

use vigil_e2e::{bin, code, run, stderr};

fn agent_validate(text: Option<&str>) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("agent.toml");
    if let Some(t) = text {
        std::fs::write(&p, t).expect("write");
    }
    run(
        Command::new(bin("vigil-agent"))
            .arg("validate")
            .arg("--config")
            .arg(&p),
        Duration::from_secs(20),
    )
}

#[test]
fn agent_unknown_field_bad_address_and_missing_file() {
    let o = agent_validate(Some("[uplink]\ncolector = \"x:1\"\n"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("colector"), "{}", stderr(&o));

    let o = agent_validate(Some("[uplink]\ncollector = \"no-port-here\"\n"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("uplink.collector"), "{}", stderr(&o));

    let o = agent_validate(None);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("agent.toml") && stderr(&o).contains("No such file"),
        "{}",
        stderr(&o)
    );
    said_once(&o);

    // Every problem at once, as the README promises: an unknown key, a wrong type, a bad
    // duration.
    let o = agent_validate(Some(
        "[uplink]\ncolector = \"x:1\"\nbatch_size = \"many\"\nheartbeat_interval = \"often\"\n",
    ));
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    for want in [
        "uplink.colector: unknown field",
        "uplink.batch_size: invalid type",
        "uplink.heartbeat_interval: \"often\" is not a duration",
    ] {
        assert!(err.contains(want), "{want:?} in {err}");
    }

    let o = agent_validate(Some("[uplink]\nheartbeat_interval = \"1s\"\n"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// The error line says each part once: no `: `-separated part of it comes back later, as
/// "…: No such file or directory (os error 2): No such file or directory (os error 2)" did.
/// A parenthesised fix (`(chmod o-w PATH)`) may name the path again: it is the command to run.
fn said_once(o: &std::process::Output) {
    let err = stderr(o);
    let line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line: {err}"));
    let mut depth = 0usize;
    let line: String = line
        .chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect();
    let parts: Vec<&str> = line.split(": ").skip(1).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].iter().any(|q| q.contains(p)),
            "{p:?} said twice: {line}"
        );
    }
}

#[test]
fn agent_run_without_enrollment_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tmp");
    // A state directory that is empty, and one that was never created.
    for state in [dir.path().to_path_buf(), dir.path().join("never-created")] {
        let o = run(
            Command::new(bin("vigil-agent"))
                .arg("run")
                .arg("--state-dir")
                .arg(&state),
            Duration::from_secs(20),
        );
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("not enrolled") && err.contains("vigil-agent enroll --token"),
            "{err}"
        );
        assert!(!err.contains("os error"), "{err}");
        said_once(&o);
    }
}

#[test]
fn collector_unknown_field_bad_address_and_missing_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("collector.toml");
    let check = |text: Option<&str>| {
        match text {
            Some(t) => std::fs::write(&p, t).expect("write"),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
        run(
            Command::new(bin("vigil-collector"))
                .arg("validate")
                .arg("--config")
                .arg(&p),
            Duration::from_secs(20),
        )
    };
    let o = check(Some("[quic]\nlistne = \"0.0.0.0:1\"\n"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("listne"), "{}", stderr(&o));
    let o = check(Some("[quic]\nlisten = \"everywhere\"\n"));
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("quic.listen"), "{}", stderr(&o));
    let o = check(None);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("collector.toml"), "{}", stderr(&o));
    // Every problem at once: an unknown key, a wrong type and a bad address.
    let o = check(Some(
        "[quic]\nlistne = \"0.0.0.0:1\"\n[http]\nlisten = \"everywhere\"\ntls = \"yes\"\n",
    ));
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    for want in [
        "quic.listne: unknown field",
        "http.tls: invalid type",
        "http.listen",
    ] {
        assert!(err.contains(want), "{want:?} in {err}");
    }
    let o = check(Some("[quic]\nlisten = \"127.0.0.1:4433\"\n"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    let o = run(
        Command::new(bin("vigil-collector")).args(["token", "create"]),
        Duration::from_secs(20),
    );
    assert_eq!(code(&o), 2);
    let o = run(
        Command::new(bin("vigil-agent")).args(["frobnicate"]),
        Duration::from_secs(20),
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn a_world_writable_rule_pack_is_refused_once_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tmp");
    let pack = dir.path().join("pack.yaml");
    std::fs::write(&pack, "id: x\n").expect("write");
    std::fs::set_permissions(&pack, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let o = run(
        Command::new(bin("vigil-agent"))
            .args(["check", "--pack"])
            .arg(&pack),
        Duration::from_secs(20),
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("pack.yaml") && err.contains("chmod o-w"),
        "{err}"
    );
    said_once(&o);
}
