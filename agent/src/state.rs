//! The agent's state directory: identity, keys, certificates (0700 dir, 0600 files).
//!
//! `enroll` writes everything `run` needs here, so `enroll` then `run --state-dir S` works with no
//! config file. Files are replaced atomically; the directory is refused if others can enter it.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vigil";

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
    #[error("{0} holds no identity: run `vigil-agent enroll --token …` first")]
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

    /// Creates the directory with mode 0700 (tightening an existing one).
    ///
    /// # Errors
    /// [`StateError::Io`].
    pub fn create(&self) -> Result<(), StateError> {
        fs::create_dir_all(&self.dir).map_err(|source| StateError::Io {
            path: self.dir.clone(),
            source,
        })?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
            StateError::Io {
                path: self.dir.clone(),
                source,
            }
        })
    }

    /// Refuses a state directory that group or others can write.
    ///
    /// # Errors
    /// [`StateError::Unsafe`].
    pub fn check_permissions(&self) -> Result<(), StateError> {
        let meta = fs::metadata(&self.dir).map_err(|source| StateError::Io {
            path: self.dir.clone(),
            source,
        })?;
        if meta.permissions().mode() & 0o022 != 0 {
            return Err(StateError::Unsafe(format!(
                "{}: state directory is writable by group or others; run chmod 700 {}",
                self.dir.display(),
                self.dir.display()
            )));
        }
        Ok(())
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
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(d) = path.parent().and_then(|d| fs::File::open(d).ok()) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Refuses a secret file (an enrollment token) that anyone but its owner may read or write.
///
/// # Errors
/// `PATH: what is wrong`, with the fix.
pub fn check_private_file(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
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

/// The host's machine id (`/etc/machine-id`, then the D-Bus copy).
///
/// # Errors
/// A message when neither exists.
pub fn machine_id(root: &Path) -> Result<String, String> {
    for p in ["etc/machine-id", "var/lib/dbus/machine-id"] {
        if let Ok(s) = fs::read_to_string(root.join(p)) {
            let s = s.trim();
            if !s.is_empty() {
                return Ok(s.to_string());
            }
        }
    }
    Err("cannot read /etc/machine-id; pass --machine-id".into())
}
