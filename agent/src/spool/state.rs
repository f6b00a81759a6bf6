//! The spool's small durable state: ack position, next sequence number and unreported drops.
//!
//! It lives in `state.json` and is replaced atomically (write a temporary file, fsync it, rename it
//! over the old one, fsync the directory), so a crash leaves either the old or the new state,
//! never a mix. The file is tiny; rewriting it whole is simpler than any in-place scheme.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vigil_proto::Severity;

/// Name of the state file inside the spool directory.
pub(super) const STATE_FILE: &str = "state.json";
const VERSION: u32 = 1;

/// Persisted spool state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct State {
    /// Format version of this file.
    pub(super) version: u32,
    /// Highest acknowledged seq (0: none).
    pub(super) acked_seq: u64,
    /// Lower bound for the next seq to assign.
    pub(super) next_seq: u64,
    /// Records dropped because the spool was full and not yet taken for reporting.
    #[serde(default)]
    pub(super) dropped: BTreeMap<Severity, u64>,
}

impl State {
    pub(super) fn new(acked_seq: u64, next_seq: u64, dropped: BTreeMap<Severity, u64>) -> Self {
        State {
            version: VERSION,
            acked_seq,
            next_seq,
            dropped,
        }
    }
}

/// Why the state file could not be used.
#[derive(Debug)]
pub(super) enum LoadError {
    Io(io::Error),
    Invalid(String),
}

/// Reads the state file; `Ok(None)` when there is none yet.
pub(super) fn load(dir: &Path) -> Result<Option<State>, LoadError> {
    let bytes = match fs::read(dir.join(STATE_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Io(e)),
    };
    let state: State =
        serde_json::from_slice(&bytes).map_err(|e| LoadError::Invalid(e.to_string()))?;
    if state.version != VERSION {
        return Err(LoadError::Invalid(format!(
            "unsupported version {}, expected {VERSION}",
            state.version
        )));
    }
    if state.next_seq <= state.acked_seq {
        return Err(LoadError::Invalid(format!(
            "next_seq {} is not above acked_seq {}",
            state.next_seq, state.acked_seq
        )));
    }
    Ok(Some(state))
}

/// Atomically replaces the state file. On error returns the path that failed.
pub(super) fn store(dir: &Path, state: &State) -> Result<(), (PathBuf, io::Error)> {
    let dst = dir.join(STATE_FILE);
    // Serialising plain integers and a map of enum keys cannot fail.
    let bytes = serde_json::to_vec(state).map_err(|e| (dst.clone(), io::Error::other(e)))?;
    vigil_host::fs::write_private(&dst, &bytes).map_err(|e| (dst.clone(), e))
}

/// Creates (or truncates) a file readable by its owner only.
pub(super) fn create_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

/// Makes directory entries (created, renamed files) durable. A no-op where directories cannot be
/// opened (Windows), which journals metadata itself.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
