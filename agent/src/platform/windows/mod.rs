//! Windows side of the OS seams: `%ProgramData%\Vigil`, ACLs, the registry, the service control
//! manager and the Event Log.
//!
//! Unsafe Win32 calls live only in the small wrappers of this directory (`acl`, `eventlog`, and
//! the few calls below), each with the invariant it relies on.

pub mod acl;
mod com;
pub mod eventlog;
pub mod facts;
pub mod hostpath;
pub mod inventory;
pub mod registry;
mod secpol;
pub mod service;

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

pub use ::notify_windows as notify;
pub use acl::{check_not_world_writable, check_private_dir, check_private_file};
pub use facts::host_facts;

/// Adds OS details, updates, programs, accounts and membership to an inventory.
pub fn add_host_details(inv: &mut vigil_proto::Inventory) {
    inventory::add_details(inv);
}

/// `%ProgramData%\Vigil` (`C:\ProgramData\Vigil`).
pub fn default_state_dir() -> PathBuf {
    program_data().join("Vigil")
}

/// `%ProgramData%\Vigil\agent.toml`.
pub fn default_config_path() -> PathBuf {
    default_state_dir().join("agent.toml")
}

/// `%ProgramData%\Vigil\packs`.
pub fn default_pack_dir() -> PathBuf {
    default_state_dir().join("packs")
}

/// The system drive (`C:\`): rule checks read `/Windows/...` paths below it.
pub fn facts_root() -> PathBuf {
    let drive = std::env::var("SystemDrive").unwrap_or_else(|_| "C:".to_string());
    PathBuf::from(format!("{}\\", drive.trim_end_matches('\\')))
}

fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

/// The installation's `MachineGuid` (`HKLM\SOFTWARE\Microsoft\Cryptography`), set by Windows
/// setup and by sysprep: clones of an image that was not generalised share it, as cloned Linux
/// hosts share a machine-id, and the collector alerts on both.
///
/// # Errors
/// A message when the value cannot be read.
pub fn machine_id() -> Result<String, String> {
    use registry::{Hive, Key, View};
    let key = Key::open(
        Hive::LocalMachine,
        r"SOFTWARE\Microsoft\Cryptography",
        View::Native,
    )
    .map_err(|e| format!("cannot read HKLM\\SOFTWARE\\Microsoft\\Cryptography: {e}"))?;
    key.and_then(|k| k.string("MachineGuid"))
        .map(|g| g.to_ascii_lowercase())
        .ok_or_else(|| "the registry holds no MachineGuid; pass --machine-id".to_string())
}

/// Creates the directory with a protected ACL (see [`acl`]).
///
/// # Errors
/// The failing call.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    acl::create_private_dir(dir)
}

/// Files created in the state directory inherit its protected ACL; nothing to add per file.
pub fn private_file(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts
}

/// Files inherit the state directory's ACL; nothing to do per file.
///
/// # Errors
/// Never.
pub fn set_private(_f: &File) -> io::Result<()> {
    Ok(())
}

/// A no-op: NTFS journals directory entries itself, and a directory cannot be opened for
/// syncing like a file.
///
/// # Errors
/// Never.
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Resolves on Ctrl+C, Ctrl+Break, console close, logoff or shutdown (a service is stopped by
/// the service control manager instead, see [`service`]).
pub async fn shutdown_signal() {
    use tokio::signal::windows;
    let (Ok(mut brk), Ok(mut close), Ok(mut shut)) = (
        windows::ctrl_break(),
        windows::ctrl_close(),
        windows::ctrl_shutdown(),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = brk.recv() => {}
        _ = close.recv() => {}
        _ = shut.recv() => {}
    }
}

/// The attributes FIM records besides type, size and mtime.
///
/// On Windows `mode` holds the read-only, hidden and system attribute bits (the archive bit
/// flips on every write and would only add noise); `uid`/`gid` are 0 (owners and ACLs are not
/// tracked yet); `ctime` is the creation time and `ino` 0 (the file index needs an open handle),
/// so fast checks reuse a hash only when size, last-write and creation times all match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttrs {
    /// `FILE_ATTRIBUTE_READONLY | HIDDEN | SYSTEM` bits.
    pub mode: u32,
    /// Always 0.
    pub uid: u32,
    /// Always 0.
    pub gid: u32,
    /// Creation time (seconds, nanoseconds since the Unix epoch).
    pub ctime: (i64, u32),
    /// Always 0.
    pub ino: u64,
}

/// Attribute bits FIM tracks: read-only, hidden, system.
const TRACKED_ATTRIBUTES: u32 = 0x1 | 0x2 | 0x4;

/// Reads [`FileAttrs`] from metadata.
pub fn file_attrs(md: &Metadata) -> FileAttrs {
    let ctime = md
        .created()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or((0, 0), |d| {
            (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            )
        });
    FileAttrs {
        mode: md.file_attributes() & TRACKED_ATTRIBUTES,
        uid: 0,
        gid: 0,
        ctime,
        ino: 0,
    }
}

/// `FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE`: hashing never stops a program from
/// writing, renaming or deleting the file.
const SHARE_ALL: u32 = 0x1 | 0x2 | 0x4;
/// `FILE_FLAG_OPEN_REPARSE_POINT`: open a symlink or junction itself, never its target.
const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// `FILE_FLAG_SEQUENTIAL_SCAN`.
const SEQUENTIAL_SCAN: u32 = 0x0800_0000;

/// Opens a file for reading without following a reparse point and without blocking others;
/// `Ok(None)` when the path is a symlink or junction.
///
/// # Errors
/// Other open errors (a file another program holds exclusively is a sharing violation).
pub fn open_nofollow(path: &Path) -> io::Result<Option<File>> {
    let f = OpenOptions::new()
        .read(true)
        .share_mode(SHARE_ALL)
        .custom_flags(OPEN_REPARSE_POINT | SEQUENTIAL_SCAN)
        .open(path)?;
    if f.metadata()?.file_type().is_symlink() {
        return Ok(None);
    }
    Ok(Some(f))
}

/// Puts the calling thread in background mode (lower CPU, I/O and memory priority) when `p`
/// asks for any lowering; Windows has no finer per-thread I/O control.
///
/// # Errors
/// The call failed.
pub fn lower_current_thread(p: &crate::platform::ScanPriority) -> io::Result<()> {
    if !p.lowers() {
        return Ok(());
    }
    win::set_background_mode()
}

/// Working set of this process in bytes (0 when unknown).
pub fn rss_bytes() -> u64 {
    win::working_set()
}

/// Whether this process runs under Wine (tests adapt to what Wine does not implement).
#[cfg(test)]
pub(crate) fn running_under_wine() -> bool {
    registry::Key::open(
        registry::Hive::LocalMachine,
        r"Software\Wine",
        registry::View::Native,
    )
    .ok()
    .flatten()
    .is_some()
}

/// A NUL-terminated UTF-16 copy of `s`.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The two one-line Win32 calls of this module.
mod win {
    #![allow(unsafe_code, reason = "Win32 calls on the current thread and process")]

    use windows_sys::Win32::System::ProcessStatus::{
        K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, GetCurrentThread, SetThreadPriority, THREAD_MODE_BACKGROUND_BEGIN,
    };

    pub(super) fn set_background_mode() -> std::io::Result<()> {
        // SAFETY: the pseudo-handle of the calling thread, always valid.
        if unsafe { SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN) } == 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    pub(super) fn working_set() -> u64 {
        // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; all zeroes is a valid value.
        let mut c: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
        c.cb = size;
        // SAFETY: `c` is as large as `size`; the process pseudo-handle is always valid.
        if unsafe { K32GetProcessMemoryInfo(GetCurrentProcess(), &mut c, size) } == 0 {
            return 0;
        }
        c.WorkingSetSize as u64
    }
}
