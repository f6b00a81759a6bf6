//! Where the agent's `tracing` output goes.
//!
//! In a console (and under systemd, whose journal reads stderr) everything goes to stderr. The
//! Windows service has no console: it writes to a size-rotated file in the state directory
//! (`logs\agent.log`, then `agent.log.1` … `agent.log.4`, 10 MiB each) and sends warnings and
//! errors to the Windows Event Log as well, where administrators and their log collectors look.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Size at which `agent.log` is rotated.
pub const ROTATE_BYTES: u64 = 10 << 20;
/// Rotated files kept besides the current one.
pub const KEEP_FILES: usize = 4;

/// Logs to stderr with `filter` (`info`, `vigil_agent=debug`, …).
pub fn init_console(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter(filter))
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}

/// Logs to `<state_dir>/logs/agent.log` (rotated) and, on Windows, warnings and errors to the
/// Event Log. A log directory that cannot be created falls back to stderr, which the service
/// control manager discards, so the Event Log still says why.
pub fn init_service(filter: &str, state_dir: &Path) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let file = RotatingFile::open(
        &state_dir.join("logs"),
        "agent.log",
        ROTATE_BYTES,
        KEEP_FILES,
    );
    let (file_layer, file_err) = match file {
        Ok(f) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(f)
                    .with_ansi(false)
                    .with_target(false),
            ),
            None,
        ),
        Err(e) => (None, Some(e)),
    };
    let registry = tracing_subscriber::registry()
        .with(env_filter(filter))
        .with(file_layer);
    #[cfg(windows)]
    let registry = registry.with(crate::platform::windows::eventlog::EventLogLayer::new().ok());
    let _ = registry.try_init();
    if let Some(e) = file_err {
        tracing::warn!(dir = %state_dir.join("logs").display(), error = %e, "Cannot open the log file.");
    }
}

fn env_filter(filter: &str) -> EnvFilter {
    EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// A log file renamed to `NAME.1` (shifting older ones up to `NAME.KEEP`) when it would grow past
/// a size, so logs never fill the disk. Writes of one event are never split across files.
#[derive(Debug, Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (appending) `dir/name`, creating `dir`.
    ///
    /// # Errors
    /// The directory or file cannot be created.
    pub fn open(dir: &Path, name: &str, max: u64, keep: usize) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let path = dir.join(name);
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                path,
                file: Some(file),
                size,
                max: max.max(1),
                keep,
            })),
        })
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    crate::platform::private_file(&mut o).open(path)
}

impl Inner {
    fn rotate(&mut self) -> io::Result<()> {
        // Close first: Windows cannot rename an open file.
        self.file = None;
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.keep == 0 {
            let _ = fs::remove_file(&self.path);
        } else {
            let _ = fs::remove_file(numbered(self.keep));
            for n in (1..self.keep).rev() {
                let _ = fs::rename(numbered(n), numbered(n + 1));
            }
            fs::rename(&self.path, numbered(1))?;
        }
        self.file = Some(open_append(&self.path)?);
        self.size = 0;
        Ok(())
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max {
            // A failed rotation keeps appending to the current file rather than losing lines.
            if self.rotate().is_err() && self.file.is_none() {
                self.file = Some(open_append(&self.path)?);
            }
        }
        let f = match self.file.as_mut() {
            Some(f) => f,
            None => self.file.insert(open_append(&self.path)?),
        };
        f.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }
}

/// One event's writer: holds the lock while the formatter writes.
#[derive(Debug)]
pub struct Guard<'a>(std::sync::MutexGuard<'a, Inner>);

impl Write for Guard<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.0.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = Guard<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        // A panic while logging cannot leave the file state inconsistent (plain fields).
        Guard(self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = RotatingFile::open(dir.path(), "agent.log", 100, 2).expect("open");
        let line = [b'x'; 39];
        for i in 0..20u8 {
            let mut w = log.make_writer();
            w.write_all(&line).expect("write");
            w.write_all(&[b'0' + i % 10]).expect("write");
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["agent.log", "agent.log.1", "agent.log.2"]);
        for n in &names {
            let len = fs::metadata(dir.path().join(n)).expect("meta").len();
            assert!(len <= 100 && len.is_multiple_of(40), "{n}: {len} bytes");
        }
        // The newest line is in the current file.
        let cur = fs::read(dir.path().join("agent.log")).expect("read");
        assert_eq!(cur.last(), Some(&b'9'));
    }

    #[test]
    fn a_reopened_log_appends_and_counts_what_is_there() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let log = RotatingFile::open(dir.path(), "a.log", 50, 1).expect("open");
            log.make_writer().write_all(&[b'a'; 30]).expect("write");
        }
        let log = RotatingFile::open(dir.path(), "a.log", 50, 1).expect("reopen");
        log.make_writer().write_all(&[b'b'; 30]).expect("write");
        assert_eq!(
            fs::read(dir.path().join("a.log.1")).expect("old"),
            vec![b'a'; 30]
        );
        assert_eq!(
            fs::read(dir.path().join("a.log")).expect("new"),
            vec![b'b'; 30]
        );
    }
}
