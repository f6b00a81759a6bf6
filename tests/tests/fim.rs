//! File integrity monitoring end to end: realtime changes reach the collector's store.

use std::time::{Duration, Instant};

use vigil_e2e::{Agent, Collector, code, run, stderr, wait_for};

#[test]
fn a_change_under_a_watched_path_reaches_the_collector() {
    let mut c = Collector::init();
    c.start();
    let watched = c.tmp.path().join("watched");
    std::fs::create_dir_all(watched.join("sub")).expect("mkdir");
    std::fs::write(watched.join("sub/config.ini"), "a=1\n").expect("write");
    let mut a = Agent::new(
        c.tmp.path(),
        "fim",
        &format!("[fim]\npaths = [\"{}\"]\n", watched.display()),
    );
    a.enroll(&c.token(&[]), "m-fim");
    a.start();
    wait_for(Duration::from_secs(20), "the agent to connect", || {
        (a.status()["status"]["connected"] == true).then_some(())
    });
    // Give the engine a moment to finish its start-up baseline and watches.
    std::thread::sleep(Duration::from_secs(2));

    let target = watched.join("sub/config.ini");
    let t0 = Instant::now();
    std::fs::write(&target, "a=2\n").expect("modify");
    std::fs::write(watched.join("new.sh"), "#!/bin/sh\n").expect("create");
    let path = target.display().to_string();
    let ev = wait_for(
        Duration::from_secs(15),
        "the file event at the collector",
        || {
            c.findings(&a.id, Some("file")).into_iter().find(|f| {
                f["finding"]["path"] == path.as_str() && f["finding"]["kind"] == "modified"
            })
        },
    );
    let latency = t0.elapsed();
    let old = ev["finding"]["old"]["hash"].as_str().expect("old hash");
    let new = ev["finding"]["new"]["hash"].as_str().expect("new hash");
    assert_ne!(old, new);
    assert!(
        ev["finding"]["changed"]
            .as_array()
            .is_some_and(|c| c.iter().any(|x| x == "hash")),
        "{ev}"
    );
    let created = watched.join("new.sh").display().to_string();
    wait_for(Duration::from_secs(10), "the created file", || {
        c.findings(&a.id, Some("file"))
            .into_iter()
            .find(|f| f["finding"]["path"] == created.as_str() && f["finding"]["kind"] == "created")
    });
    eprintln!("write-to-stored latency: {latency:?}");
}

#[test]
fn fim_cli_baseline_then_check_reports_changes_with_exit_1() {
    let tmp = tempfile::tempdir().expect("tmp");
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(&tree).expect("mkdir");
    std::fs::write(tree.join("f"), "one").expect("write");
    let a = Agent::new(
        tmp.path(),
        "cli",
        &format!("[fim]\npaths = [\"{}\"]\n", tree.display()),
    );
    let out = run(&mut a.cmd(&["fim", "check"]), Duration::from_secs(30));
    assert_eq!(
        code(&out),
        2,
        "no baseline yet is a usage error: {}",
        stderr(&out)
    );
    let out = run(&mut a.cmd(&["fim", "baseline"]), Duration::from_secs(30));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = run(
        &mut a.cmd(&["fim", "check", "--format", "json"]),
        Duration::from_secs(30),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::write(tree.join("f"), "two").expect("write");
    let out = run(
        &mut a.cmd(&["fim", "check", "--format", "json"]),
        Duration::from_secs(30),
    );
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["changes"].as_array().map(Vec::len), Some(1), "{v}");
}
