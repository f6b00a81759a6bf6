//! The agent's state directory: identity, keys, certificates (0700 dir, 0600 files on Linux; a
//! protected ACL for SYSTEM and Administrators on Windows, see `platform`).
//!
//! `enroll` writes everything `run` needs here, so `enroll` then `run --state-dir S` works with no
//! config file. Files are replaced atomically; the directory is refused if others can enter it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::platform;

/// What enrollment recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Agent UUID assigned by the collector.
    pub agent_id: String,
    /// Agency the agent is bound to.
    pub agency: String,
    /// Collector addresses from the token.
    pub collectors: Vec<String>,
    /// Enrollment time, Unix seconds.
    pub enrolled_at: i64,
    /// Client certificate expiry, Unix seconds.
    pub cert_not_after: i64,
}

/// Paths inside a state dir.
#[derive(Debug, Clone)]
pub struct StatePaths {
    /// The directory.
    pub dir: PathBuf,
}

/// State errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not enrolled yet.
    #[error(
        "not enrolled ({0} holds no identity): run `vigil-agent enroll --token <token from \
         vigil-collector token create>` first"
    )]
    NotEnrolled(PathBuf),
    /// Unsafe permissions.
    #[error("{0}")]
    Unsafe(String),
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Bad content.
    #[error("{path}: {msg}")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
}

impl StatePaths {
    /// Paths under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// identity.json.
    pub fn identity(&self) -> PathBuf {
        self.dir.join("identity.json")
    }
    /// Private key PEM.
    pub fn key(&self) -> PathBuf {
        self.dir.join("agent.key")
    }
    /// Client certificate PEM.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("agent.pem")
    }
    /// Collector CA PEM.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// Spool directory.
    pub fn spool(&self) -> PathBuf {
        self.dir.join("spool")
    }
    /// Status file written by `run`, read by `status`.
    pub fn status(&self) -> PathBuf {
        self.dir.join("status.json")
    }

    /// Creates the directory private to the agent (0700; a protected ACL on Windows), tightening
    /// an existing one.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn create(&self) -> Result<(), StateError> {
        platform::create_private_dir(&self.dir).map_err(|source| StateError::Io {
            path: self.dir.clone(),
            source,
        })
    }

    /// Refuses a state directory others can write (Linux: group or others; Windows: anyone but
    /// SYSTEM, Administrators and the agent's own account may access it).
    ///
    /// # Errors
    /// [`StateError::Unsafe`].
    pub fn check_permissions(&self) -> Result<(), StateError> {
        match fs::metadata(&self.dir) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::NotEnrolled(self.dir.clone()));
            }
            Err(source) => {
                return Err(StateError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        }
        platform::check_private_dir(&self.dir).map_err(StateError::Unsafe)
    }

    /// Loads the identity.
    ///
    /// # Errors
    /// [`StateError::NotEnrolled`] when absent, or a read/parse error.
    pub fn load_identity(&self) -> Result<Identity, StateError> {
        let p = self.identity();
        let text = match fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::NotEnrolled(self.dir.clone()));
            }
            Err(source) => return Err(StateError::Io { path: p, source }),
        };
        serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
            path: p,
            msg: e.to_string(),
        })
    }

    /// Reads a PEM file of the state dir.
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn read(&self, path: &Path) -> Result<String, StateError> {
        fs::read_to_string(path).map_err(|source| StateError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Writes a file atomically with mode 0600.
///
/// # Errors
/// [`StateError::Io`].
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    vigil_host::fs::write_private(path, bytes).map_err(io)
}
