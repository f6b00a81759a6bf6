//! The rpm package database: which packages an RPM host (RHEL, Rocky, AlmaLinux, CentOS, Fedora)
//! has installed, read natively so an offline image works like the running host.
//!
//! rpm has kept its database in two formats on these systems: a Berkeley DB hash file `Packages`
//! (RHEL 8 and older, [`bdb`]) and SQLite `rpmdb.sqlite` (rpm 4.16+, RHEL 9 and later,
//! [`sqlite`]). Both hold one header blob per installed package ([`header`]). The database is in
//! `/var/lib/rpm`, or in `/usr/lib/sysimage/rpm` on newer systems (with `/var/lib/rpm` a link to
//! it); the first location holding a database wins, SQLite before Berkeley DB in each, as rpm
//! itself prefers the newer backend. This is the one reader of the format: the rule evaluator and
//! the agent's inventory both use it.

mod bdb;
mod header;
mod sqlite;

use std::io;

use crate::facts::HostFacts;

/// Directories rpm keeps its database in, in the order they are tried.
pub const DB_DIRS: &[&str] = &["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

/// The largest database file read (a server with a few thousand packages has tens of MiB).
pub const MAX_DB_BYTES: u64 = 1 << 30;

/// One installed package, as `rpm -q` knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RpmPackage {
    /// Name (`openssh-server`).
    pub name: String,
    /// Epoch, when the package has one.
    pub epoch: Option<u32>,
    /// Version (`8.7p1`).
    pub version: String,
    /// Release (`38.el9_4.1`).
    pub release: String,
    /// Architecture (`x86_64`, `noarch`); `gpg-pubkey` entries have none.
    pub arch: Option<String>,
    /// Install time (seconds since the epoch), when recorded.
    pub install_time: Option<u32>,
}

impl RpmPackage {
    /// `[epoch:]version-release`, the string rpm's version order compares
    /// ([`crate::compare::compare_rpm_versions`]).
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }

    /// `name-version-release.arch`, as `rpm -q` prints it (no `.arch` when there is none).
    pub fn nvra(&self) -> String {
        match &self.arch {
            Some(a) => format!("{}-{}-{}.{a}", self.name, self.version, self.release),
            None => format!("{}-{}-{}", self.name, self.version, self.release),
        }
    }
}

/// Which format the database was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `rpmdb.sqlite`.
    Sqlite,
    /// Berkeley DB `Packages`.
    BerkeleyDb,
}

/// The installed packages of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmDb {
    /// The database file read (host path).
    pub path: String,
    /// Its format.
    pub backend: Backend,
    /// Installed packages, sorted; a name appears once per installed instance (several kernels,
    /// `x86_64` and `i686` builds of one library).
    pub packages: Vec<RpmPackage>,
    /// Records whose header could not be read, with the reason (none in a healthy database).
    pub unreadable: Vec<String>,
}

/// Why the rpm database could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpmError {
    /// The file exists but could not be read.
    #[error("{path}: {source}")]
    Io {
        /// Host path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The file is not a database rpm writes, or it is damaged.
    #[error("{path}: {message}")]
    Format {
        /// Host path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads the rpm database of `host`; `Ok(None)` when the host has none (not an RPM system).
///
/// # Errors
/// [`RpmError`] when a database exists but cannot be read or parsed.
pub fn read(host: &dyn HostFacts) -> Result<Option<RpmDb>, RpmError> {
    for dir in DB_DIRS {
        for (file, backend) in [
            ("rpmdb.sqlite", Backend::Sqlite),
            ("Packages", Backend::BerkeleyDb),
        ] {
            let path = format!("{dir}/{file}");
            let bytes = match host.read_capped(&path, MAX_DB_BYTES) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(RpmError::Io { path, source }),
            };
            // An empty file is what a fresh rpm leaves before its first transaction.
            if bytes.is_empty() {
                continue;
            }
            return parse(host, path, backend, bytes).map(Some);
        }
    }
    Ok(None)
}

fn parse(
    host: &dyn HostFacts,
    path: String,
    backend: Backend,
    bytes: Vec<u8>,
) -> Result<RpmDb, RpmError> {
    let mut packages = Vec::new();
    let mut unreadable = Vec::new();
    let mut add = |id: String, blob: &[u8]| match header::parse(blob) {
        Ok(p) => packages.push(p),
        Err(e) => unreadable.push(format!("record {id}: {e}")),
    };
    let result = match backend {
        Backend::Sqlite => {
            let wal_path = format!("{path}-wal");
            let wal = match host.read_capped(&wal_path, MAX_DB_BYTES) {
                Ok(w) => Some(w),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(RpmError::Io {
                        path: wal_path,
                        source,
                    });
                }
            };
            sqlite::visit(bytes, wal.as_deref(), |hnum, blob| {
                add(hnum.to_string(), blob)
            })
        }
        Backend::BerkeleyDb => bdb::visit(&bytes, |key, value| {
            // Record 0 holds rpm's next instance number, not a header.
            if key != [0, 0, 0, 0] {
                add(hex(key), value);
            }
        }),
    };
    result.map_err(|message| RpmError::Format {
        path: path.clone(),
        message,
    })?;
    packages.sort();
    Ok(RpmDb {
        path,
        backend,
        packages,
        unreadable,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_print_like_rpm() {
        let p = RpmPackage {
            name: "openssl".into(),
            epoch: Some(1),
            version: "3.0.7".into(),
            release: "24.el9".into(),
            arch: Some("x86_64".into()),
            install_time: None,
        };
        assert_eq!(p.nvra(), "openssl-3.0.7-24.el9.x86_64");
        assert_eq!(p.evr(), "1:3.0.7-24.el9");
        let k = RpmPackage {
            name: "gpg-pubkey".into(),
            version: "fd431d51".into(),
            release: "4ae0493b".into(),
            ..RpmPackage::default()
        };
        assert_eq!(k.nvra(), "gpg-pubkey-fd431d51-4ae0493b");
        assert_eq!(k.evr(), "fd431d51-4ae0493b");
    }
}
