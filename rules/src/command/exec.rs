//! Running one allowed command: confined, without a shell, with a timeout and an output cap.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::allow::Entry;
use super::sandbox;
use crate::facts::CommandOutput;

/// Runs `argv` (already allowed by `entry`) in the sandbox, with a clean environment (`PATH`
/// fixed, `LC_ALL=C`), `/` as working directory, stdin from `/dev/null`, stderr discarded, a
/// timeout and at most `max_output` bytes of stdout kept.
///
/// # Errors
/// A reason when the program is not trustworthy (writable by others), cannot start in its
/// sandbox, or times out (then its whole process group is killed).
pub(crate) fn run(
    entry: &Entry,
    argv: &[String],
    timeout: Duration,
    max_output: usize,
) -> Result<CommandOutput, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    sandbox::check_program(program)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    sandbox::confine(&mut cmd, entry.run_as())?;
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {program} confined to reading: {e}"))?;
    let Some(mut stdout) = child.stdout.take() else {
        return Err(format!("{program}: no stdout pipe"));
    };
    // The reader thread keeps draining past the cap so the child never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut truncated = false;
        let mut chunk = [0u8; 8192];
        loop {
            match stdout.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = max_output.saturating_sub(kept.len());
                    if n > room {
                        truncated = true;
                    }
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        (kept, truncated)
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() >= timeout => {
                sandbox::kill_tree(&mut child);
                let _ = child.wait();
                let _ = reader.join();
                return Err(format!("{program} timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    };
    let (kept, truncated) = reader
        .join()
        .map_err(|_| format!("{program}: reader failed"))?;
    Ok(CommandOutput {
        status: status.code(),
        stdout: String::from_utf8_lossy(&kept).into_owned(),
        truncated,
    })
}
