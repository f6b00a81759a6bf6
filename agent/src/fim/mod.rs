//! File integrity monitoring: baseline, check, and realtime watch of the monitored trees.
//!
//! The design splits pure logic from the shells around it. [`diff`] compares a baseline with a
//! scan and turns changes into [`vigil_proto::FileEvent`]s without touching the file system or the
//! clock. [`scan`] walks trees in parallel and hashes (BLAKE3 by default). [`baseline`] is the
//! crash-safe on-disk store. [`cli`] implements `vigil-agent fim baseline|check`, and
//! [`realtime`] the watching engine of `vigil-agent run` (inotify on Linux, `ReadDirectoryChangesW`
//! on Windows, both through `notify`), which never goes blind: a queue overflow
//! triggers an immediate rescan, and trees that cannot be watched are covered by scheduled scans.
//! Everything is relative to a `root` directory, so tests use temp trees and offline images can
//! be checked.

pub mod baseline;
pub mod cli;
pub mod config;
pub mod diff;
pub mod entries;
pub mod entry;
mod queue;
pub mod realtime;
pub mod registry;
pub mod scan;

use std::io;
use std::path::{Path, PathBuf};

pub use cli::{FimCliOptions, OutputFormat, baseline_path, run_baseline, run_check};
pub use config::{FimConfig, HashAlgo, IoClass, PathSpec, RawFimConfig, ScanPriority};
pub use realtime::{EngineOptions, FimHandle, spawn, spawn_with};

/// Errors of the FIM module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FimError {
    /// Invalid configuration or arguments (exit code 2).
    #[error("{}", .0.join("; "))]
    Usage(Vec<String>),
    /// No baseline exists yet (exit code 2: run `fim baseline` first).
    #[error("no FIM baseline at {0}; run `vigil-agent fim baseline` first")]
    NoBaseline(PathBuf),
    /// The baseline file is damaged and no usable previous one exists.
    #[error("FIM baseline is damaged: {0}")]
    Corrupt(String),
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The realtime watcher could not start.
    #[error("file watcher: {0}")]
    Watch(String),
}

impl FimError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Exit code for the CLI contract: 2 usage or config error, 3 runtime error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) | Self::NoBaseline(_) => 2,
            _ => 3,
        }
    }
}

// The model-based and realtime tests drive Unix permissions, symlinks and inotify.
#[cfg(all(test, target_os = "linux"))]
mod tests;
#[cfg(all(test, windows))]
mod tests_windows;
