//! The collector's policy key (issue 18): an Ed25519 key that signs every policy bundle, kept
//! 0600 next to the CA key. Agents pin its public half at enrollment, as they pin the CA, and
//! refuse anything it did not sign.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use vigil_proto::policy::{PolicyPublicKey, PolicySigner};

/// File name of the key inside `<data dir>/pki`.
pub const POLICY_KEY_FILE: &str = "policy.key";

/// Policy key errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The key file is not a usable key, or others may read it.
    #[error("{path}: {reason}")]
    Invalid {
        /// File involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The policy signing key.
pub struct PolicyKey {
    signer: PolicySigner,
}

impl std::fmt::Debug for PolicyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyKey")
            .field("public", &self.public().to_string())
            .finish()
    }
}

/// Where the policy key of a data directory lives.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pki").join(POLICY_KEY_FILE)
}

impl PolicyKey {
    /// Creates a new key at `path` (0600). Refuses to replace an existing file: agents pinned
    /// the old public key and would refuse every bundle signed by a new one.
    ///
    /// # Errors
    /// [`KeyError`] when the file exists or cannot be written.
    pub fn create(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            return Err(KeyError::Invalid {
                path: path.to_path_buf(),
                reason: "exists already; agents pinned its public key, so it is never replaced"
                    .into(),
            });
        }
        let pkcs8 =
            PolicySigner::generate_pkcs8(&SystemRandom::new()).map_err(|e| KeyError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        crate::fsutil::write_private(path, &pkcs8).map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_pkcs8(path, &pkcs8)
    }

    /// Loads the key at `path`, refusing a file that anyone but its owner may read or write.
    ///
    /// # Errors
    /// [`KeyError`] when it cannot be read, is not an Ed25519 PKCS#8 key, or is not private.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        let mode = f.metadata().map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(KeyError::Invalid {
                path: path.to_path_buf(),
                reason: format!("mode {:o} lets others read it; chmod 600", mode & 0o777),
            });
        }
        let mut bytes = Vec::new();
        // A PKCS#8 Ed25519 key is under 100 bytes; a bigger file is not one.
        f.by_ref().take(4096).read_to_end(&mut bytes).map_err(io)?;
        Self::from_pkcs8(path, &bytes)
    }

    /// Loads the key of `data_dir`, creating it when an install from before policies has none.
    /// Returns whether it was created (the caller logs and audits that).
    ///
    /// # Errors
    /// As [`PolicyKey::load`] and [`PolicyKey::create`].
    pub fn load_or_create(data_dir: &Path) -> Result<(Self, bool), KeyError> {
        let path = key_path(data_dir);
        match Self::load(&path) {
            Ok(k) => Ok((k, false)),
            Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok((Self::create(&path)?, true))
            }
            Err(e) => Err(e),
        }
    }

    fn from_pkcs8(path: &Path, bytes: &[u8]) -> Result<Self, KeyError> {
        let signer = PolicySigner::from_pkcs8(bytes).map_err(|e| KeyError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self { signer })
    }

    /// The public half, delivered to agents at enrollment (`ed25519:<hex>` as text).
    pub fn public(&self) -> PolicyPublicKey {
        self.signer.public_key()
    }

    /// The signer of bundles.
    pub fn signer(&self) -> &PolicySigner {
        &self.signer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_is_private_survives_a_reload_and_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("pki")).expect("pki");
        let (k, created) = PolicyKey::load_or_create(dir.path()).expect("create");
        assert!(created);
        let path = key_path(dir.path());
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (again, created) = PolicyKey::load_or_create(dir.path()).expect("load");
        assert!(!created);
        assert_eq!(k.public(), again.public());
        assert!(matches!(
            PolicyKey::create(&path),
            Err(KeyError::Invalid { .. })
        ));
        assert_eq!(PolicyKey::load(&path).expect("same").public(), k.public());
    }

    #[test]
    fn a_readable_or_garbled_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("policy.key");
        PolicyKey::create(&path).expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = PolicyKey::load(&path).expect_err("readable");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::write(&path, b"not a key").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = PolicyKey::load(&path).expect_err("garbled");
        assert!(err.to_string().contains("Ed25519"), "{err}");
    }
}
