//! Harness for Vigil's end-to-end tests: runs the real binaries on loopback in temp dirs.
//!
//! One [`Collector`] per test, each in its own data dir with its own ports; [`Agent`]s enrolled
//! to it with distinct machine ids. Every process is killed when its handle drops, and every wait
//! is bounded.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod hostile;
pub mod hostile_fed;
pub mod pg;
pub mod prom;
pub mod webdriver;
pub mod windows;
pub mod wine;

/// The wall clock, Unix seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Directory of this build's outputs (`target/<profile>`), where tests keep their artefacts.
///
/// # Panics
/// When the running executable has no directory.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Test binaries live in target/<profile>/deps.
        let exe = std::env::current_exe().expect("current exe");
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        dir
    })
}

/// Path of one binary, `vigil-agent` or `vigil-collector`.
///
/// Integration tests get the copies Cargo built for them (`CARGO_BIN_EXE_<name>-e2e`, set while
/// they run); other users of this harness (the benchmarks) get the real binaries beside their
/// own executable, which `cargo build --bins` puts there. Nothing is built from here.
///
/// # Panics
/// When neither exists.
pub fn bin(name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(format!("CARGO_BIN_EXE_{name}-e2e")) {
        return PathBuf::from(p);
    }
    let beside = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        beside.is_file(),
        "{name}: CARGO_BIN_EXE_{name}-e2e is not set and {} does not exist; run the end-to-end \
         tests with `cargo test -p vigil-e2e`, or build the binaries first (`cargo build --bins`)",
        beside.display()
    );
    beside
}

/// A free UDP port on loopback (bound and released; collisions are unlikely, not impossible).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A free TCP port on loopback.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `f` every 100 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command to completion with a time bound, capturing output.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain the pipes on threads so a chatty child cannot block, and kill it only while it is
    // still ours (polled with try_wait, so an exited pid is never signalled).
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut so, &mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = std::io::Read::read_to_end(&mut se, &mut b);
        b
    });
    let end = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with output to `log`.
    pub fn spawn(cmd: &mut Command, log: PathBuf) -> Self {
        let f = std::fs::File::create(&log).expect("log file");
        let f2 = f.try_clone().expect("clone");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2)
            .env("NO_COLOR", "1")
            .spawn()
            .expect("spawn");
        Self {
            child: Some(child),
            log,
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait up to 10 s; returns whether it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// True while running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A collector in a temp data dir.
#[derive(Debug)]
pub struct Collector {
    /// Temp dir holding everything (kept alive with the collector).
    pub tmp: tempfile::TempDir,
    /// Data dir.
    pub data_dir: PathBuf,
    /// QUIC address.
    pub quic: String,
    /// HTTP address.
    pub http: String,
    /// Running process, if started.
    pub proc: Option<Proc>,
}

impl Collector {
    /// `init` plus an agency `p` and `p/a`.
    pub fn init() -> Self {
        let c = Self::init_bare();
        c.add_agencies();
        c
    }

    /// Adds the agencies `init` makes (`p` and `p/a`, where `token` enrolls), in the store the
    /// config names at the time.
    pub fn add_agencies(&self) {
        self.ok(&["agency", "add", "--id", "p", "--name", "Tỉnh"]);
        self.ok(&[
            "agency", "add", "--id", "p/a", "--name", "Sở A", "--level", "3",
        ]);
    }

    /// `init` only: no agencies.
    pub fn init_bare() -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let data_dir = tmp.path().join("collector");
        let quic = format!("127.0.0.1:{}", free_udp_port());
        let http = format!("127.0.0.1:{}", free_tcp_port());
        let c = Self {
            tmp,
            data_dir,
            quic,
            http,
            proc: None,
        };
        c.ok(&["init", "--quic", &c.quic, "--http", &c.http]);
        c
    }

    /// Replaces whole tables of collector.toml (each `[table]` in `tables` drops the existing
    /// table of that name) and appends `tables`.
    pub fn set_config_tables(&self, tables: &str) {
        let path = self.data_dir.join("collector.toml");
        let text = std::fs::read_to_string(&path).expect("collector.toml");
        let replaced: Vec<&str> = tables
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('[') && !l.starts_with("[["))
            .collect();
        let mut out = String::new();
        let mut skip = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                skip = replaced.contains(&t);
            }
            if !skip {
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push_str(tables);
        std::fs::write(&path, out).expect("write collector.toml");
    }

    /// A second collector node: a copy of this data dir (same CA, server certificate and
    /// configuration, so the same database) listening on its own free ports.
    pub fn clone_node(&self) -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let data_dir = tmp.path().join("collector");
        let quic = format!("127.0.0.1:{}", free_udp_port());
        let http = format!("127.0.0.1:{}", free_tcp_port());
        copy_dir(&self.data_dir, &data_dir);
        let cfg = data_dir.join("collector.toml");
        let text = std::fs::read_to_string(&cfg).expect("collector.toml");
        let text = text.replace(&self.quic, &quic).replace(&self.http, &http);
        std::fs::write(&cfg, text).expect("write collector.toml");
        Self {
            tmp,
            data_dir,
            quic,
            http,
            proc: None,
        }
    }

    /// A `vigil-collector` command on this data dir (flag appended after the subcommand words).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("vigil-collector"));
        cmd.args(args).arg("--data-dir").arg(&self.data_dir);
        cmd
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = run(&mut self.cmd(args), Duration::from_secs(30));
        assert!(
            out.status.success(),
            "vigil-collector {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Creates a token.
    pub fn token(&self, extra: &[&str]) -> String {
        let mut args = vec!["token", "create", "--agency", "p/a"];
        args.extend_from_slice(extra);
        self.ok(&args).trim().to_string()
    }

    /// Starts `run` and waits until it listens.
    pub fn start(&mut self) {
        let log = self.tmp.path().join(format!(
            "collector-{}.log",
            Instant::now().elapsed().as_nanos() ^ u128::from(free_tcp_port())
        ));
        let mut cmd = Command::new(bin("vigil-collector"));
        cmd.args(["run", "--log", "info,vigil_collector=debug", "--data-dir"])
            .arg(&self.data_dir);
        let p = Proc::spawn(&mut cmd, log);
        self.proc = Some(p);
        let http = self.http.clone();
        wait_for(Duration::from_secs(20), "the collector to listen", || {
            std::net::TcpStream::connect(&http).ok().map(|_| ())
        });
    }

    /// SIGKILLs the running collector.
    pub fn kill9(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
    }

    /// `hosts --json` → the list.
    pub fn hosts(&self) -> Vec<Value> {
        let out = self.ok(&["hosts", "--json"]);
        let v: Value = serde_json::from_str(&out).expect("hosts json");
        v["hosts"].as_array().cloned().unwrap_or_default()
    }

    /// `findings --json` for one host.
    pub fn findings(&self, host: &str, kind: Option<&str>) -> Vec<Value> {
        let mut args = vec!["findings", "--json", "--limit", "0", "--host", host];
        if let Some(k) = kind {
            args.extend(["--kind", k]);
        }
        let v: Value = serde_json::from_str(&self.ok(&args)).expect("findings json");
        v["findings"].as_array().cloned().unwrap_or_default()
    }

    /// The collector's log so far.
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log_text).unwrap_or_default()
    }

    /// Serves the API as plain HTTP on its loopback address (so tests can call it with
    /// [`http`]); call before [`Collector::start`].
    pub fn plain_http(&self) {
        self.set_config_tables(&format!(
            "[http]\nlisten = \"{}\"\ntls = false\n",
            self.http
        ));
    }

    /// Adds a user with [`USER_PASSWORD`] (`scope` `None`: everything).
    pub fn add_user(&self, name: &str, role: &str, scope: Option<&str>) {
        let mut args = vec![
            "user",
            "add",
            "--name",
            name,
            "--role",
            role,
            "--password-stdin",
        ];
        if let Some(s) = scope {
            args.extend(["--scope", s]);
        }
        let mut cmd = self.cmd(&args);
        let out = run_with_stdin(&mut cmd, &format!("{USER_PASSWORD}\n"));
        assert!(out.status.success(), "user add: {}", stderr(&out));
    }

    /// An API token acting as `user`.
    pub fn api_token(&self, user: &str) -> String {
        self.ok(&["api-token", "create", "--user", user])
            .trim()
            .to_owned()
    }
}

/// Password of the users [`Collector::add_user`] creates.
pub const USER_PASSWORD: &str = "a-long-test-password";

/// Runs a command that reads `input` on its standard input (bounded like [`run`]).
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input.as_bytes());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("command finished in time")
        .expect("output")
}

/// One HTTP/1.0 request to a plain-HTTP collector API at `addr`; returns the status and the
/// JSON body (`Null` when empty or not JSON). `bearer` is an API token.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(t) = bearer {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read");
    let text = String::from_utf8_lossy(&resp);
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, serde_json::from_str(rest).unwrap_or(Value::Null))
}

/// An agent state dir and (optionally) its running process.
#[derive(Debug)]
pub struct Agent {
    /// State dir.
    pub state_dir: PathBuf,
    /// Config file.
    pub config: PathBuf,
    /// Running process.
    pub proc: Option<Proc>,
    /// Agent id after enrollment.
    pub id: String,
}

impl Agent {
    /// Prepares a state dir under `base` with a fast-heartbeat config.
    pub fn new(base: &Path, name: &str, extra_config: &str) -> Self {
        let state_dir = base.join(name);
        let config = base.join(format!("{name}.toml"));
        // Engines that scan the whole host are off unless a test configures them.
        let mut defaults = String::new();
        if !extra_config.contains("[fim]") {
            defaults.push_str("[fim]\npaths = []\n");
        }
        if !extra_config.contains("[netwatch]") {
            defaults.push_str("[netwatch]\nenabled = false\n");
        }
        let text = format!(
            "{defaults}[uplink]\nheartbeat_interval = \"1s\"\nidle_timeout = \"3s\"\nmax_backoff = \"1s\"\n{extra_config}"
        );
        std::fs::write(&config, text).expect("config");
        Self {
            state_dir,
            config,
            proc: None,
            id: String::new(),
        }
    }

    /// A `vigil-agent` command with this state dir and config.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("vigil-agent"));
        cmd.args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    /// Runs `enroll`, returning the output.
    pub fn try_enroll(&self, token: &str, machine_id: &str, extra: &[&str]) -> Output {
        let mut args = vec!["enroll", "--token", token, "--machine-id", machine_id];
        args.extend_from_slice(extra);
        run(&mut self.cmd(&args), Duration::from_secs(60))
    }

    /// Enrolls or panics; records the agent id.
    pub fn enroll(&mut self, token: &str, machine_id: &str) {
        let out = self.try_enroll(token, machine_id, &[]);
        assert!(
            out.status.success(),
            "enroll failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.id = self.identity()["agent_id"]
            .as_str()
            .expect("agent id")
            .to_string();
    }

    /// identity.json.
    pub fn identity(&self) -> Value {
        serde_json::from_slice(
            &std::fs::read(self.state_dir.join("identity.json")).expect("identity"),
        )
        .expect("json")
    }

    /// `status --json`.
    pub fn status(&self) -> Value {
        let out = run(
            &mut self.cmd(&["status", "--json"]),
            Duration::from_secs(20),
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Starts `run`.
    pub fn start(&mut self) {
        let log = self.state_dir.with_extension("log");
        let mut cmd = self.cmd(&["run", "--log", "info,vigil_agent=debug"]);
        self.proc = Some(Proc::spawn(&mut cmd, log));
    }

    /// The agent's log.
    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log_text).unwrap_or_default()
    }
}

/// Synthetic counters (`[testing]`) stored for an agent, with the severity of each.
pub fn synthetic(c: &Collector, agent: &str) -> std::collections::BTreeMap<u64, String> {
    c.findings(agent, Some("health"))
        .into_iter()
        .filter_map(|f| {
            let n = f["finding"]["counts"]["synthetic"].as_u64()?;
            Some((n, f["finding"]["severity"].as_str()?.to_string()))
        })
        .collect()
}

/// Stored findings of an agent: (count, max seq).
pub fn stored(c: &Collector, agent: &str) -> (usize, u64) {
    let all = c.findings(agent, None);
    let max = all
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .max()
        .unwrap_or(0);
    (all.len(), max)
}

/// Exactly synthetic findings 0..n are stored, each once, and every seq up to the highest.
pub fn assert_exactly(c: &Collector, agent: &str, n: u64) {
    let got = synthetic(c, agent);
    assert_eq!(got.len() as u64, n, "every synthetic finding stored once");
    assert_eq!(
        got.keys().copied().collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>()
    );
    let (count, max) = stored(c, agent);
    assert_eq!(count as u64, max, "seqs 1..={max} all present, none twice");
}

/// Copies a directory tree, keeping file modes (private keys stay 0600).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &dst);
            let mode = std::fs::metadata(e.path()).expect("meta").permissions();
            std::fs::set_permissions(&dst, mode).expect("chmod");
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

/// Stderr of an output as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit code of an output (-1 if killed).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
