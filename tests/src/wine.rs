//! The Windows agent under Wine: one Wine prefix per test, the agent's `.exe` copied into it.
//!
//! `scripts/windows.sh` builds the agent for x86_64-pc-windows-gnu and a template prefix
//! (`scripts/wine/prefix.sh`: initialised, Windows 10, the test-only ProcessPrng stand-in), then
//! runs these tests with `VIGIL_WINDOWS_AGENT` (the `.exe`), `VIGIL_WINE_TEMPLATE` (the prefix)
//! and `VIGIL_WINDOWS_MSI` (the installer) set. Without them a test prints that it is skipped and
//! passes, unless `CI=true`, where they are required. Each prefix is a copy of the template (the
//! large, never-written DLL directories hard-linked), and its wineserver (so every Windows
//! process of the test) is killed when the [`WinePrefix`] drops.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Proc, run};

/// A Wine prefix of one test.
#[derive(Debug)]
pub struct WinePrefix {
    tmp: tempfile::TempDir,
    /// The prefix directory (`WINEPREFIX`).
    pub dir: PathBuf,
    /// The agent inside it, as a Windows path (`C:\Program Files\Vigil\vigil-agent.exe`).
    pub agent: String,
    runs: std::sync::atomic::AtomicU32,
    /// The persistent wineserver of [`WinePrefix::keep_server`], ended after `wineserver -k`.
    server: std::sync::Mutex<Option<Proc>>,
}

/// The Windows agent and template prefix from the environment, or `None` after printing why
/// the test is skipped.
///
/// # Panics
/// With `CI=true` when they are not set: CI must run these tests.
pub fn windows_inputs(test: &str) -> Option<(PathBuf, Option<PathBuf>)> {
    let agent = std::env::var_os("VIGIL_WINDOWS_AGENT").map(PathBuf::from);
    let template = std::env::var_os("VIGIL_WINE_TEMPLATE").map(PathBuf::from);
    match agent {
        Some(a) if a.is_file() => Some((a, template)),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!(
            "{test}: CI=true needs VIGIL_WINDOWS_AGENT (run scripts/windows.sh, which sets it)"
        ),
        _ => {
            eprintln!(
                "SKIPPED {test}: the Windows agent under Wine needs VIGIL_WINDOWS_AGENT \
                 (scripts/windows.sh builds it and runs this test; CI=true makes it required)"
            );
            None
        }
    }
}

impl WinePrefix {
    /// A fresh prefix with the agent copied to `C:\Program Files\Vigil`, or `None` when the
    /// Windows inputs are absent (see [`windows_inputs`]).
    pub fn new(test: &str) -> Option<Self> {
        let (exe, template) = windows_inputs(test)?;
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("prefix");
        match template {
            Some(t) => clone_prefix(&t, &dir),
            None => {
                let script =
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/wine/prefix.sh");
                let out = run(
                    Command::new("bash").arg(script).arg(&dir),
                    Duration::from_secs(600),
                );
                assert!(out.status.success(), "prefix.sh: {}", crate::stderr(&out));
            }
        }
        let p = Self {
            tmp,
            dir,
            agent: r"C:\Program Files\Vigil\vigil-agent.exe".into(),
            runs: std::sync::atomic::AtomicU32::new(0),
            server: std::sync::Mutex::new(None),
        };
        let dst = p.path(r"C:\Program Files\Vigil\vigil-agent.exe");
        std::fs::create_dir_all(dst.parent().expect("dir")).expect("mkdir");
        std::fs::copy(&exe, &dst).expect("copy the agent into the prefix");
        Some(p)
    }

    /// The Linux path of a `C:\...` path in this prefix.
    pub fn path(&self, win: &str) -> PathBuf {
        let rest = win
            .strip_prefix("C:\\")
            .or_else(|| win.strip_prefix("c:\\"))
            .unwrap_or_else(|| panic!("{win} is not on drive C:"));
        let mut p = self.dir.join("drive_c");
        for part in rest.split('\\').filter(|s| !s.is_empty()) {
            p.push(part);
        }
        p
    }

    /// A temp directory outside the prefix for logs.
    pub fn scratch(&self) -> &Path {
        self.tmp.path()
    }

    /// `wine PROGRAM ARGS...` in this prefix.
    pub fn wine(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("wine");
        cmd.arg(program)
            .args(args)
            .env("WINEPREFIX", &self.dir)
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=");
        cmd
    }

    /// The agent with `args`.
    pub fn agent(&self, args: &[&str]) -> Command {
        self.wine(&self.agent, args)
    }

    /// Runs a command to completion (bounded), returning its output.
    pub fn run(&self, cmd: &mut Command, timeout: Duration) -> std::process::Output {
        run(cmd, timeout)
    }

    /// Runs a Windows command that must succeed; returns its stdout.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = run(&mut self.wine(program, args), Duration::from_secs(180));
        assert!(
            out.status.success(),
            "wine {program} {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            crate::stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Imports `.reg` text (REGEDIT4 syntax) into the prefix's registry.
    pub fn import_reg(&self, text: &str) {
        let file = self.path(r"C:\vigil-import.reg");
        std::fs::write(&file, text).expect("write .reg");
        self.ok("regedit", &["/S", r"C:\vigil-import.reg"]);
        let _ = std::fs::remove_file(file);
    }

    /// Runs a Windows command to completion, waiting at most `timeout`, with its output going
    /// to a file rather than a pipe: the wineserver and the services a command starts inherit
    /// its output handles and outlive it (a running service keeps the server up), so reading a
    /// pipe to its end could wait for ever. Returns the exit code (`None`: killed at the
    /// timeout) and the output.
    pub fn run_logged(&self, cmd: &mut Command, timeout: Duration) -> (Option<i32>, String) {
        let n = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.tmp.path().join(format!("run-{n}.log"));
        let code = bounded_to(cmd, &log, timeout);
        (code, std::fs::read_to_string(&log).unwrap_or_default())
    }

    /// Starts this prefix's wineserver in the foreground, persistent until the prefix drops
    /// (`wineserver -k`), and waits until it listens. Call it before any Windows command of the
    /// test: otherwise the server ends with the last Windows process, and the next command's new
    /// server restarts `services.exe`, which starts every automatic service (Windows does that
    /// only at boot), so a test of the service manager could not see an installed service
    /// stopped. The server is ended with every process of the prefix when the prefix drops.
    pub fn keep_server(&self) {
        let mut cmd = Command::new("wineserver");
        cmd.args(["-f", "-p"]).env("WINEPREFIX", &self.dir);
        let mut server = Proc::spawn(&mut cmd, self.tmp.path().join("wineserver.log"));
        // It listens once its socket exists in its working directory (`server-DEV-INODE` under
        // a temporary directory whose name depends on the distribution's Wine).
        let cwd = PathBuf::from(format!("/proc/{}/cwd", server.pid()));
        crate::wait_for(Duration::from_secs(30), "the prefix's wineserver", || {
            assert!(server.alive(), "wineserver -f -p: {}", server.log_text());
            let dir = std::fs::read_link(&cwd).ok()?;
            let named = dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("server-"));
            (named && dir.join("socket").exists()).then_some(())
        });
        *self.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
    }

    /// Spawns a long-running Windows program with output to `log` (killed on drop).
    pub fn spawn(&self, cmd: &mut Command, log: &str) -> Proc {
        Proc::spawn(cmd, self.tmp.path().join(log))
    }
}

impl Drop for WinePrefix {
    fn drop(&mut self) {
        // Ends every process of the prefix (agents, services, wineserver itself), bounded: a
        // server that does not go away must not hang the test run.
        for arg in ["-k", "-w"] {
            let mut cmd = Command::new("wineserver");
            cmd.arg(arg).env("WINEPREFIX", &self.dir);
            let _ = bounded(&mut cmd, Duration::from_secs(30));
        }
        // Killed only now: a server killed first would orphan the prefix's processes.
        if let Some(mut server) = self.server.lock().unwrap_or_else(|e| e.into_inner()).take() {
            server.kill9();
        }
    }
}

/// Runs `cmd` with output to `log` (a file, never a pipe) and waits at most `timeout`; returns
/// its exit code, or `None` when it was killed at the timeout.
fn bounded_to(cmd: &mut Command, log: &Path, timeout: Duration) -> Option<i32> {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("clone");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn");
    let end = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return Some(st.code().unwrap_or(-1));
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn bounded(cmd: &mut Command, timeout: Duration) -> Option<i32> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let end = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return st.code(),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Copies a template prefix. The DLL directories (hundreds of MB Wine never writes) are
/// hard-linked when the file system allows; everything else (registry files, users) is copied.
fn clone_prefix(from: &Path, to: &Path) {
    fn walk(from: &Path, to: &Path, link: bool) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read template") {
            let e = e.expect("entry");
            let (src, dst) = (e.path(), to.join(e.file_name()));
            let ty = e.file_type().expect("type");
            let name = e.file_name();
            if ty.is_symlink() {
                let target = std::fs::read_link(&src).expect("readlink");
                std::os::unix::fs::symlink(target, &dst).expect("symlink");
            } else if ty.is_dir() {
                let big = ["system32", "syswow64", "winsxs"]
                    .iter()
                    .any(|d| name.eq_ignore_ascii_case(d));
                walk(&src, &dst, link || big);
            } else if !(link && std::fs::hard_link(&src, &dst).is_ok()) {
                std::fs::copy(&src, &dst).expect("copy");
            }
        }
    }
    walk(from, to, false);
}
