//! Linux (and other Unix) side of the OS seams: POSIX modes, signals, `/proc`.

pub mod hostpath;
mod priority;
pub mod service;

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

pub use ::notify;
pub use priority::{io_priority_of, lower_current_thread, nice_of};

/// Nothing to add on Linux: packages come from dpkg (see `packages`), the rest from sysinfo.
pub fn add_host_details(_inv: &mut vigil_proto::Inventory) {}

/// `/var/lib/vigil`.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/vigil")
}

/// `/etc/vigil/agent.toml`.
pub fn default_config_path() -> PathBuf {
    PathBuf::from("/etc/vigil/agent.toml")
}

/// `/etc/vigil/packs`.
pub fn default_pack_dir() -> PathBuf {
    PathBuf::from("/etc/vigil/packs")
}

/// `/`: rule checks read `/etc`, `/proc`, … of the running host.
pub fn facts_root() -> PathBuf {
    PathBuf::from("/")
}

/// The evaluator's facts of the tree at `root` (`/` is the running host, anything else an
/// offline tree; a Windows volume is recognised by its hive files).
pub fn host_facts(
    root: &std::path::Path,
    now: std::time::SystemTime,
) -> Box<dyn vigil_rules::HostFacts> {
    Box::new(vigil_rules::RootFacts::new(root, now))
}

/// The host's machine id (`/etc/machine-id`, then the D-Bus copy).
///
/// # Errors
/// A message when neither exists.
pub fn machine_id() -> Result<String, String> {
    for p in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Ok(s) = fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() {
                return Ok(s.to_string());
            }
        }
    }
    Err("cannot read /etc/machine-id; pass --machine-id".into())
}

/// Creates `dir` (and its parents) and sets it to 0700, tightening an existing one.
///
/// # Errors
/// The failing call.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

/// Refuses a directory that group or others can write.
///
/// # Errors
/// A message naming the directory and the fix.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    vigil_host::perm::check_private_dir(dir)
}

/// Refuses a secret file (an enrollment token) that anyone but its owner may read or write.
///
/// # Errors
/// `PATH: what is wrong`, with the fix.
pub fn check_private_file(path: &Path, meta: &Metadata) -> Result<(), String> {
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: readable or writable by group or others (mode {mode:04o}); it holds a secret: \
             chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

/// Refuses a file anyone may write (DESIGN §10).
///
/// # Errors
/// A message naming the file.
pub fn check_not_world_writable(path: &Path) -> Result<(), String> {
    vigil_host::perm::check_not_world_writable(path)
}

/// Makes files created through `opts` readable by their owner only (0600).
pub fn private_file(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts.mode(0o600)
}

/// Sets an open file to 0600 (an existing file keeps its mode on open).
///
/// # Errors
/// The failing call.
pub fn set_private(f: &File) -> io::Result<()> {
    f.set_permissions(fs::Permissions::from_mode(0o600))
}

/// Makes a directory's entries (created, renamed files) durable.
///
/// # Errors
/// The directory cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    vigil_host::fs::sync_dir(dir)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resident set size of this process, from /proc/self/statm (0 when unknown).
pub fn rss_bytes() -> u64 {
    fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// The attributes FIM records besides type, size and mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Status change time (seconds, nanoseconds).
    pub ctime: (i64, u32),
    /// Inode number.
    pub ino: u64,
}

/// Reads [`FileAttrs`] from `lstat` metadata.
pub fn file_attrs(md: &Metadata) -> FileAttrs {
    FileAttrs {
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        ctime: (md.ctime(), u32::try_from(md.ctime_nsec()).unwrap_or(0)),
        ino: md.ino(),
    }
}

/// Opens a file for reading without following a final symlink, without blocking on a FIFO and
/// (when permitted) without updating its access time. `Ok(None)` when the path is a symlink.
///
/// # Errors
/// Other open errors.
pub fn open_nofollow(path: &Path) -> io::Result<Option<File>> {
    let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    let r = OpenOptions::new()
        .read(true)
        .custom_flags(flags | libc::O_NOATIME)
        .open(path);
    let r = match r {
        // O_NOATIME needs ownership or CAP_FOWNER.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            OpenOptions::new().read(true).custom_flags(flags).open(path)
        }
        r => r,
    };
    match r {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Ok(None),
        Err(e) => Err(e),
    }
}
