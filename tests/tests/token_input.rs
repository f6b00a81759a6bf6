//! The enrollment token stays out of argv (issue 17, item 10): `vigil-agent enroll` reads it from
//! a private file or standard input, and refuses a token file others may read.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Stdio;
use std::time::Duration;

use vigil_e2e::{Agent, Collector, code, run, stderr};

#[test]
fn enroll_reads_the_token_from_a_private_file_or_standard_input() {
    let mut c = Collector::init();
    c.start();
    let token = c.token(&["--uses", "5"]);
    let base = c.tmp.path();

    // A token file others may read is refused, and nothing is written.
    let file = base.join("token.txt");
    std::fs::write(&file, format!("{token}\n")).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let a = Agent::new(base, "from-file", "");
    let f = file.to_str().expect("utf8");
    let args = ["enroll", "--token-file", f, "--machine-id", "m-file"];
    let out = run(&mut a.cmd(&args), Duration::from_secs(60));
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("token.txt") && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );
    assert!(!a.state_dir.join("identity.json").exists());

    // 0600: enrolls.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = run(&mut a.cmd(&args), Duration::from_secs(60));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(a.state_dir.join("identity.json").exists());
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // Standard input.
    let b = Agent::new(base, "from-stdin", "");
    let mut child = b
        .cmd(&["enroll", "--token", "-", "--machine-id", "m-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    writeln!(input, "{token}").expect("write");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(b.state_dir.join("identity.json").exists());

    // On the command line it still works, with a warning saying why not to.
    let d = Agent::new(base, "from-argv", "");
    let out = run(
        &mut d.cmd(&["enroll", "--token", &token, "--machine-id", "m-argv"]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("process list"), "{}", stderr(&out));

    // Both at once is a usage error.
    let out = run(
        &mut d.cmd(&["enroll", "--token", "-", "--token-file", f]),
        Duration::from_secs(60),
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}
