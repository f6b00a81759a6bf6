//! The policy files of the state directory: the pinned key and the applied bundle.
//!
//! `policy.pub` holds the collector's policy public key, written once at enrollment (0600, like
//! the CA). `policy/current.bin` holds the signed blob in force, exactly as received. Applying
//! is one atomic replacement, in steps: write `policy/current.bin.new`, fsync it, rename it over
//! `current.bin`, fsync the directory. Whatever step a crash interrupts, the next start finds
//! exactly one complete, signed version (the old one before the rename, the new one after) and
//! removes a leftover `.new`. The blob is verified again on every load: a file damaged or
//! replaced on disk is refused like a bad bundle from the network.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use vigil_proto::policy::{PolicyBundle, PolicyError, PolicyPublicKey, SignedBundle};

use crate::state::{StateError, StatePaths, write_private};

/// The policy files of one state directory.
#[derive(Debug, Clone)]
pub struct PolicyStore {
    key: PathBuf,
    dir: PathBuf,
}

/// Where [`PolicyStore::apply_until`] stops, to simulate a crash in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// After half of the new file was written (a torn write).
    HalfWritten,
    /// After the new file was written and synced, before the rename.
    Synced,
    /// After the rename, before the directory sync.
    Renamed,
    /// Run every step.
    Done,
}

/// A bundle read back from disk and verified.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The blob.
    pub signed: SignedBundle,
    /// What it says.
    pub bundle: PolicyBundle,
}

/// Why the stored policy could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// The stored blob or key is not acceptable.
    #[error("{path}: {source}")]
    Policy {
        /// File.
        path: PathBuf,
        /// Cause.
        source: PolicyError,
    },
    /// State directory error.
    #[error(transparent)]
    State(#[from] StateError),
}

impl PolicyStore {
    /// The policy files of `state`.
    pub fn new(state: &StatePaths) -> Self {
        Self {
            key: state.dir.join("policy.pub"),
            dir: state.dir.join("policy"),
        }
    }

    /// The applied blob's path.
    pub fn current(&self) -> PathBuf {
        self.dir.join("current.bin")
    }

    fn staging(&self) -> PathBuf {
        self.dir.join("current.bin.new")
    }

    /// Pins the policy key (enrollment), replacing a key of an earlier enrollment and the policy
    /// that key signed.
    ///
    /// # Errors
    /// [`StoreError`] on I/O.
    pub fn pin_key(&self, key: &PolicyPublicKey) -> Result<(), StoreError> {
        write_private(&self.key, format!("{key}\n").as_bytes())?;
        self.forget_current()
    }

    /// Removes the pinned key and the applied policy (an enrollment without a policy key).
    ///
    /// # Errors
    /// [`StoreError`] on I/O.
    pub fn unpin(&self) -> Result<(), StoreError> {
        remove_if_exists(&self.key)?;
        self.forget_current()
    }

    fn forget_current(&self) -> Result<(), StoreError> {
        remove_if_exists(&self.current())?;
        remove_if_exists(&self.staging())
    }

    /// The pinned key; `None` when enrollment pinned none.
    ///
    /// # Errors
    /// [`StoreError`] when the file exists but cannot be read or parsed.
    pub fn key(&self) -> Result<Option<PolicyPublicKey>, StoreError> {
        match fs::read_to_string(&self.key) {
            Ok(t) => PolicyPublicKey::parse(&t)
                .map(Some)
                .map_err(|source| StoreError::Policy {
                    path: self.key.clone(),
                    source,
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: self.key.clone(),
                source,
            }),
        }
    }

    /// Removes what an interrupted apply left behind (the agent calls this once at start; a
    /// reader such as `status` must not, as it could race a running apply).
    ///
    /// # Errors
    /// [`StoreError::Io`].
    pub fn recover(&self) -> Result<(), StoreError> {
        remove_if_exists(&self.staging())
    }

    /// Loads and verifies the applied bundle (read only). `None` when no central policy was
    /// ever applied.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be read, or does not verify with `key`.
    pub fn load(&self, key: &PolicyPublicKey) -> Result<Option<Stored>, StoreError> {
        let path = self.current();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let bad = |source| StoreError::Policy {
            path: path.clone(),
            source,
        };
        let signed = SignedBundle::from_bytes(bytes).map_err(bad)?;
        let bundle = signed.verify(key).map_err(bad)?;
        Ok(Some(Stored { signed, bundle }))
    }

    /// Makes `signed` the applied policy, atomically and durably.
    ///
    /// # Errors
    /// [`StoreError::Io`]; the policy in force is then unchanged.
    pub fn apply(&self, signed: &SignedBundle) -> Result<(), StoreError> {
        self.apply_until(signed, Step::Done)
    }

    /// [`Self::apply`], stopping after `stop` as a crash would.
    ///
    /// # Errors
    /// As [`Self::apply`].
    pub fn apply_until(&self, signed: &SignedBundle, stop: Step) -> Result<(), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        crate::platform::create_private_dir(&self.dir).map_err(io(&self.dir))?;
        let staging = self.staging();
        let bytes = signed.as_bytes();
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, vigil_host::fs::PRIVATE);
        let mut f = o.open(&staging).map_err(io(&staging))?;
        if stop == Step::HalfWritten {
            return f.write_all(&bytes[..bytes.len() / 2]).map_err(io(&staging));
        }
        f.write_all(bytes).map_err(io(&staging))?;
        f.sync_all().map_err(io(&staging))?;
        drop(f); // Windows refuses to rename an open file.
        if stop == Step::Synced {
            return Ok(());
        }
        fs::rename(&staging, self.current()).map_err(io(&self.current()))?;
        if stop == Step::Renamed {
            return Ok(());
        }
        vigil_host::fs::sync_dir(&self.dir).map_err(io(&self.dir))
    }
}

fn remove_if_exists(p: &Path) -> Result<(), StoreError> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StoreError::Io {
            path: p.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}
