//! Long CLI work shows progress on a terminal and nothing else anywhere else (issue #22 item 3):
//! `rules import-sca` of several policies, with a bar under a pseudo-terminal (`script`) and a
//! clean stderr in a pipe; one bad policy does not stop the others.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vigil_e2e::{bin, code, run, stderr};

fn policy(id: &str) -> String {
    format!(
        "policy: {{id: {id}, name: Test {id}}}\nchecks:\n  - id: 1\n    name: Root login off\n    \
         condition: all\n    rules: ['f:/etc/ssh/sshd_config -> r:^PermitRootLogin no']\n"
    )
}

/// Two good policies and one that does not parse, in `dir`.
fn policies(dir: &Path) -> [String; 3] {
    std::fs::write(dir.join("alpha.yml"), policy("alpha")).expect("write");
    std::fs::write(dir.join("beta.yml"), policy("beta")).expect("write");
    std::fs::write(dir.join("broken.yml"), "policy: [").expect("write");
    ["alpha.yml", "beta.yml", "broken.yml"].map(|f| dir.join(f).display().to_string())
}

#[test]
fn import_sca_of_several_policies_writes_one_pack_each_and_names_the_bad_one_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let [a, b, broken] = policies(tmp.path());
    let out = tmp.path().join("packs");
    let o = run(
        Command::new(bin("vigil-agent"))
            .args(["rules", "import-sca", &a, &broken, &b, "-o"])
            .arg(&out),
        Duration::from_secs(60),
    );
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "an unparsable policy is an input error: {err}");
    for pack in ["alpha.yaml", "beta.yaml"] {
        let p = out.join(pack);
        assert!(p.is_file(), "{pack} written despite the bad policy: {err}");
        vigil_rules::load_pack(&p).expect("the written pack loads");
    }
    assert!(!out.join("broken.yaml").exists());
    assert_eq!(
        err.matches("broken.yml").count(),
        1,
        "the bad policy is named once: {err}"
    );
    assert!(
        err.contains("1 of 3 policies could not be translated"),
        "{err}"
    );
    // Not a terminal: no bar, no cursor movement.
    assert!(!err.contains('\x1b') && !err.contains('\r'), "{err:?}");
}

#[test]
fn import_sca_of_several_policies_refuses_what_cannot_be_honoured() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let [a, b, _] = policies(tmp.path());
    let cases: [(&[&str], &str); 2] = [
        (&["--id", "x", "-o", "dir"], "--id names one pack"),
        (&["-o", "-"], "--output must be a directory"),
    ];
    for (extra, words) in cases {
        let o = run(
            Command::new(bin("vigil-agent"))
                .current_dir(tmp.path())
                .args(["rules", "import-sca", &a, &b])
                .args(extra),
            Duration::from_secs(60),
        );
        assert_eq!(code(&o), 2, "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(words), "{extra:?}: {}", stderr(&o));
        assert!(!tmp.path().join("dir").exists(), "nothing written");
    }
    // Two policies that would land on one pack name.
    let sub = tmp.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(sub.join("alpha.yml"), policy("alpha2")).expect("write");
    let o = run(
        Command::new(bin("vigil-agent"))
            .current_dir(tmp.path())
            .args(["rules", "import-sca", &a])
            .arg(sub.join("alpha.yml"))
            .args(["-o", "dir"]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("would both be written to"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_sca_draws_a_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: script(1) (util-linux) is needed for the pseudo-terminal"
        );
        eprintln!("import_sca_draws_a_bar_on_a_terminal: SKIPPED (no script(1))");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let [a, b, _] = policies(tmp.path());
    let out = tmp.path().join("packs");
    let line = format!(
        "{} rules import-sca {a} {b} -o {}",
        bin("vigil-agent").display(),
        out.display()
    );
    // script(1) runs the command on a pseudo-terminal and copies what it drew to stdout.
    let o = run(
        Command::new("script").args(["-qec", &line, "/dev/null"]),
        Duration::from_secs(60),
    );
    let seen = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(code(&o), 0, "{seen}");
    assert!(
        seen.contains("/2 policies"),
        "a bar counting policies: {seen:?}"
    );
    assert!(seen.contains("2 policies translated into"), "{seen:?}");
    assert!(out.join("alpha.yaml").is_file() && out.join("beta.yaml").is_file());
}
