//! The agent's operating-system seams: everything that differs between Linux and Windows.
//!
//! Engines (spool, uplink, checks, FIM, netwatch) never branch on the platform; they call the
//! functions here, each with one meaning on every OS:
//! - where state, configuration and rule packs live by default, and which root the host facts
//!   are read under;
//! - private directories and files (0700/0600 on Linux; a protected ACL for SYSTEM,
//!   Administrators and the installing account on Windows), checked at start, and the refusal of
//!   configuration files anyone may write;
//! - the machine id, the shutdown signal, resident memory, thread priority of background scans;
//! - how FIM maps host paths to file-system paths ([`hostpath`]) and reads file attributes;
//! - the file-watching crate ([`notify`]).
//!
//! Socket tables and package inventories are seams of their engines (`netwatch`, `packages`),
//! and the Windows service, Event Log and registry live in [`windows`].
//!
//! Each platform module (`unix`, `windows`) defines the same functions; this file re-exports one
//! of them, so a missing function is a compile error on that platform, not a runtime surprise.

mod hostpath_common;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
use windows as imp;

pub use imp::hostpath;
/// The file-watching crate: `notify` 8 on Linux, 9 on Windows (where 9 reports a
/// `ReadDirectoryChangesW` buffer overflow as a rescan instead of dropping it silently).
pub use imp::notify;
/// The system service: `install`, `uninstall`, `start`, `stop`, `status` and `run_dispatcher`
/// (the Windows service control manager; on Linux systemd owns this and each answers
/// [`ServiceError::Unsupported`]).
pub use imp::service;
pub use imp::{
    FileAttrs, add_host_details, check_not_world_writable, check_private_dir, check_private_file,
    create_private_dir, default_config_path, default_pack_dir, default_state_dir, facts_root,
    file_attrs, host_facts, lower_current_thread, machine_id, open_nofollow, private_file,
    rss_bytes, set_private, shutdown_signal, sync_dir,
};
/// Nice value and I/O priority of a thread (tests of the scan priority).
#[cfg(target_os = "linux")]
pub use imp::{io_priority_of, nice_of};

/// How far scheduled scans lower the priority of their threads.
///
/// On Linux this is the nice value and the I/O class; on Windows any lowering puts the thread in
/// background mode (`THREAD_MODE_BACKGROUND_BEGIN`: low CPU, I/O and memory priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPriority {
    /// Nice value, 0 (unchanged) to 19; never used to raise the priority.
    pub nice: i32,
    /// I/O scheduling class.
    pub io: IoClass,
}

impl Default for ScanPriority {
    fn default() -> Self {
        // Nicer than the unit's `Nice=10`, so the realtime side keeps precedence.
        Self {
            nice: 15,
            io: IoClass::BestEffortLowest,
        }
    }
}

impl ScanPriority {
    /// Whether this asks for any lowering at all.
    pub fn lowers(&self) -> bool {
        self.nice > 0 || self.io != IoClass::Unchanged
    }
}

/// I/O priority of scheduled-scan threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoClass {
    /// Leave it as it is.
    Unchanged,
    /// Best-effort class at its lowest level (7): yields to other I/O but cannot starve.
    BestEffortLowest,
    /// Idle class: only reads when no one else uses the disk (a busy disk can starve the scan).
    Idle,
}

/// What `vigil-agent service run` executes inside the service: the agent, until the receiver
/// flips (service stop or system shutdown).
pub type AgentBody =
    Box<dyn FnOnce(tokio::sync::watch::Receiver<bool>) -> Result<(), String> + Send>;

/// `service install` options.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The agent executable the service runs.
    pub exe: std::path::PathBuf,
    /// State directory passed to the service (created with its private ACL).
    pub state_dir: std::path::PathBuf,
    /// Config file passed to the service, when not the default.
    pub config: Option<std::path::PathBuf>,
}

/// What a service command did, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    /// One line.
    pub message: String,
}

/// Service command errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// This platform has another service manager.
    #[error("{0}")]
    Unsupported(String),
    /// The command needs administrator rights.
    #[error("{0}")]
    NotElevated(String),
    /// The service is not installed.
    #[error("{0}")]
    NotInstalled(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

impl ServiceError {
    /// Exit code: 2 for usage errors (wrong platform, not elevated, not installed), 3 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 3,
            _ => 2,
        }
    }
}
