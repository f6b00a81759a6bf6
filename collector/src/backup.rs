//! Backup archives of a collector's data directory (docs/operations.md, "Backup and restore").
//!
//! An archive is one file, written by [`write`] and read back whole or not at all by [`restore`]:
//!
//! ```text
//! "VIGILBAK"  u32 BE version (1)  u64 BE manifest length  manifest (JSON)
//! file bodies, in manifest order, each exactly its `size` bytes
//! SHA-256 of every byte before it (32 bytes)
//! ```
//!
//! The manifest lists each file's relative path, size and SHA-256. Restoring checks the trailing
//! checksum over the whole file before writing anything, so a truncated or altered archive is
//! refused whole; then each file's own hash as it is written. Every restored file is 0600 in 0700
//! directories: the archive holds the CA and server keys.
//!
//! The SQLite database is copied with SQLite's online backup API on a connection of its own, in
//! one step: in WAL mode that is one read transaction, a consistent snapshot that does not stop
//! agents' batches from committing meanwhile.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// First bytes of every archive.
const MAGIC: &[u8; 8] = b"VIGILBAK";
/// The format version this code writes and reads.
const VERSION: u32 = 1;
/// Bytes before the manifest.
const HEADER: u64 = 8 + 4 + 8;
/// Largest manifest accepted.
const MAX_MANIFEST: u64 = 1 << 20;
/// Largest file kept in memory while archiving (configuration and keys are a few KiB).
const MAX_SMALL_FILE: u64 = 64 << 20;

/// What went wrong with an archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The archive is damaged, truncated or not an archive.
    #[error("{0}; nothing was restored")]
    Damaged(String),
    /// The database stayed locked.
    #[error("the database stayed locked for a minute; try the backup again")]
    Busy,
    /// The restore target is not usable.
    #[error("{0}")]
    Target(String),
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
    /// SQLite refused.
    #[error("{what}: {source}")]
    Sqlite {
        /// What was being done.
        what: String,
        /// The error.
        source: rusqlite::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

fn sql_err(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Sqlite { what, source }
}

/// The archive's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// When the backup was taken, Unix seconds.
    pub created_at: i64,
    /// Version of the collector that wrote it.
    pub collector_version: String,
    /// Path of the SQLite database among `files`; `None` when the database is not in the archive
    /// (PostgreSQL: back it up with `pg_dump`).
    pub database: Option<String>,
    /// The files, in the order of their bodies.
    pub files: Vec<FileEntry>,
}

/// One file of the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Path relative to the data directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
}

/// Where a file's contents come from while archiving.
#[derive(Debug)]
pub enum Source {
    /// Read into memory already.
    Bytes(Vec<u8>),
    /// A file that does not change while it is copied (the database snapshot).
    File(PathBuf),
}

/// Copies the SQLite database `src` to `dst` (created 0600) with the online backup API, as one
/// consistent snapshot, and checks the copy's integrity.
///
/// # Errors
/// When the database cannot be opened or copied, or the copy is damaged.
pub fn snapshot_sqlite(src: &Path, dst: &Path) -> Result<(), BackupError> {
    use rusqlite::OpenFlags;
    let from = rusqlite::Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(format!("opening {}", src.display())))?;
    from.busy_timeout(std::time::Duration::from_secs(30))
        .map_err(sql_err("setting a busy timeout"))?;
    crate::fsutil::write_private(dst, b"")
        .map_err(io_err(format!("creating {}", dst.display())))?;
    let mut to =
        rusqlite::Connection::open(dst).map_err(sql_err(format!("opening {}", dst.display())))?;
    {
        let b = rusqlite::backup::Backup::new(&from, &mut to)
            .map_err(sql_err("starting the SQLite backup"))?;
        // All pages in one step: one read transaction, so one consistent state. Copying in
        // small steps would restart whenever an agent's batch commits. Busy: a writer holds a
        // lock this moment (checkpointing); try again shortly, for at most a minute.
        let mut tries = 0;
        loop {
            use rusqlite::backup::StepResult;
            match b.step(-1).map_err(sql_err("copying the database"))? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked if tries < 600 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                _ => {
                    return Err(BackupError::Busy);
                }
            }
        }
    }
    let check: String = to
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(sql_err("checking the copy"))?;
    if check != "ok" {
        return Err(BackupError::Damaged(format!(
            "the database copy fails its integrity check: {check}"
        )));
    }
    Ok(())
}

/// Writes an archive of `files` (relative path, contents) to `out`, which must not exist: first
/// to `out` + `.partial`, then renamed, so a crash leaves no file that looks complete.
///
/// # Errors
/// I/O errors, and a path that is not a plain relative one.
pub fn write(
    out: &Path,
    created_at: i64,
    database: Option<&str>,
    files: &[(String, Source)],
) -> Result<Manifest, BackupError> {
    let mut manifest = Manifest {
        created_at,
        collector_version: env!("CARGO_PKG_VERSION").to_owned(),
        database: database.map(str::to_owned),
        files: Vec::new(),
    };
    for (path, src) in files {
        safe_relative(path).map_err(BackupError::Target)?;
        let (size, sha256) = match src {
            Source::Bytes(b) => (b.len() as u64, hex::encode(Sha256::digest(b))),
            Source::File(p) => hash_file(p)?,
        };
        manifest.files.push(FileEntry {
            path: path.clone(),
            size,
            sha256,
        });
    }
    let partial = with_suffix(out, ".partial");
    let written = write_body(&partial, &manifest, files);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    if out.exists() {
        let _ = std::fs::remove_file(&partial);
        return Err(BackupError::Target(format!("{} exists", out.display())));
    }
    std::fs::rename(&partial, out).map_err(io_err(format!("renaming to {}", out.display())))?;
    Ok(manifest)
}

fn write_body(
    partial: &Path,
    manifest: &Manifest,
    files: &[(String, Source)],
) -> Result<(), BackupError> {
    let file = private_create(partial)?;
    let mut w = HashingWriter {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
    };
    let json = serde_json::to_vec(manifest).map_err(|e| BackupError::Io {
        what: "encoding the manifest".into(),
        source: io::Error::other(e),
    })?;
    let err = io_err(format!("writing {}", partial.display()));
    let mut head = Vec::with_capacity(HEADER as usize);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&VERSION.to_be_bytes());
    head.extend_from_slice(&(json.len() as u64).to_be_bytes());
    let run = || -> io::Result<()> {
        w.write_all(&head)?;
        w.write_all(&json)?;
        for ((_, src), entry) in files.iter().zip(&manifest.files) {
            let n = match src {
                Source::Bytes(b) => {
                    w.write_all(b)?;
                    b.len() as u64
                }
                Source::File(p) => io::copy(&mut File::open(p)?, &mut w)?,
            };
            if n != entry.size {
                return Err(io::Error::other(format!(
                    "{} changed while archived",
                    entry.path
                )));
            }
        }
        let digest = w.hash.clone().finalize();
        w.inner.write_all(&digest)?;
        let f = w
            .inner
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        f.sync_all()
    };
    run().map_err(err)
}

/// Reads `archive` whole and restores it into `target`, which must not exist or be an empty
/// directory. Nothing is written unless the whole archive checks out; a failure while writing
/// removes what was written.
///
/// # Errors
/// [`BackupError::Damaged`] for a truncated, altered or foreign file, [`BackupError::Target`]
/// for a non-empty target, and I/O errors.
pub fn restore(archive: &Path, target: &Path) -> Result<Manifest, BackupError> {
    check_target(target)?;
    let mut f = File::open(archive).map_err(io_err(format!("opening {}", archive.display())))?;
    let (manifest, body_start) = verify(&mut f)?;
    let created = !target.exists();
    let r = extract(&mut f, body_start, &manifest, target);
    if let Err(e) = r {
        if created {
            let _ = std::fs::remove_dir_all(target);
        } else if let Ok(entries) = std::fs::read_dir(target) {
            for e in entries.flatten() {
                let _ =
                    std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
        return Err(e);
    }
    Ok(manifest)
}

/// Checks the trailing checksum and the manifest; returns the manifest and where bodies start.
fn verify(f: &mut File) -> Result<(Manifest, u64), BackupError> {
    let damaged = |m: &str| BackupError::Damaged(m.to_owned());
    let len = f.metadata().map_err(io_err("reading the archive"))?.len();
    if len < HEADER + 32 {
        return Err(damaged(
            "the file is too short to be a Vigil backup (truncated?)",
        ));
    }
    let mut hash = HashingWriter {
        inner: io::sink(),
        hash: Sha256::new(),
    };
    let mut r = BufReader::new(&mut *f);
    io::copy(&mut (&mut r).take(len - 32), &mut hash).map_err(io_err("reading the archive"))?;
    let hash = hash.hash;
    let mut trailer = [0u8; 32];
    r.read_exact(&mut trailer)
        .map_err(io_err("reading the archive"))?;
    if hash.finalize().as_slice() != trailer {
        return Err(damaged(
            "the archive's checksum does not match: it is truncated or was altered",
        ));
    }
    f.seek(SeekFrom::Start(0))
        .map_err(io_err("reading the archive"))?;
    let mut head = [0u8; HEADER as usize];
    f.read_exact(&mut head)
        .map_err(io_err("reading the archive"))?;
    if &head[..8] != MAGIC {
        return Err(damaged("not a Vigil backup archive"));
    }
    let version = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    if version != VERSION {
        return Err(damaged(&format!(
            "archive format {version} is not supported (this collector reads {VERSION})"
        )));
    }
    let mlen = u64::from_be_bytes(head[12..20].try_into().unwrap_or([0xff; 8]));
    if mlen > MAX_MANIFEST || HEADER + mlen + 32 > len {
        return Err(damaged("the manifest length is impossible"));
    }
    let mut json = vec![0u8; mlen as usize];
    f.read_exact(&mut json)
        .map_err(io_err("reading the archive"))?;
    let manifest: Manifest = serde_json::from_slice(&json)
        .map_err(|e| BackupError::Damaged(format!("the manifest is not valid: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    for e in &manifest.files {
        safe_relative(&e.path).map_err(BackupError::Damaged)?;
        if !seen.insert(e.path.as_str()) {
            return Err(damaged(&format!("{} is listed twice", e.path)));
        }
        total = total.saturating_add(e.size);
    }
    if manifest
        .database
        .as_ref()
        .is_some_and(|d| !seen.contains(d.as_str()))
    {
        return Err(damaged("the database named by the manifest is not in it"));
    }
    if HEADER + mlen + total + 32 != len {
        return Err(damaged(
            "the file sizes do not add up to the archive's size",
        ));
    }
    Ok((manifest, HEADER + mlen))
}

fn extract(f: &mut File, start: u64, m: &Manifest, target: &Path) -> Result<(), BackupError> {
    crate::fsutil::create_private_dir(target)
        .map_err(io_err(format!("creating {}", target.display())))?;
    f.seek(SeekFrom::Start(start))
        .map_err(io_err("reading the archive"))?;
    let mut r = BufReader::new(f);
    for e in &m.files {
        let dst = target.join(&e.path);
        if let Some(parent) = dst.parent() {
            create_private_dirs(target, parent)?;
        }
        let out = private_create(&dst)?;
        let mut w = HashingWriter {
            inner: BufWriter::new(out),
            hash: Sha256::new(),
        };
        io::copy(&mut (&mut r).take(e.size), &mut w)
            .map_err(io_err(format!("writing {}", dst.display())))?;
        if hex::encode(w.hash.clone().finalize()) != e.sha256 {
            return Err(BackupError::Damaged(format!(
                "{} does not match its hash",
                e.path
            )));
        }
        let file = w.inner.into_inner().map_err(|e| BackupError::Io {
            what: format!("writing {}", dst.display()),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(io_err(format!("writing {}", dst.display())))?;
    }
    if let Some(db) = &m.database {
        let conn = rusqlite::Connection::open(target.join(db))
            .map_err(sql_err("opening the restored database"))?;
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(sql_err("checking the restored database"))?;
        if check != "ok" {
            return Err(BackupError::Damaged(format!(
                "the restored database fails its integrity check: {check}"
            )));
        }
    }
    Ok(())
}

/// The target must not exist (its parent must) or be an empty directory.
fn check_target(target: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::Target(format!(
                    "{} is not empty; restore into a new directory",
                    target.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BackupError::Target(format!("{}: {e}", target.display()))),
    }
}

/// A path the archive may hold: relative, `/`-separated, no `..`, no empty or `.` parts.
fn safe_relative(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    if plain {
        Ok(())
    } else {
        Err(format!("the archive holds an unsafe path {path:?}"))
    }
}

fn create_private_dirs(root: &Path, dir: &Path) -> Result<(), BackupError> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        if !cur.is_dir() {
            crate::fsutil::create_private_dir(&cur)
                .map_err(io_err(format!("creating {}", cur.display())))?;
        }
    }
    Ok(())
}

fn private_create(path: &Path) -> Result<File, BackupError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("creating {}", path.display())))
}

fn hash_file(p: &Path) -> Result<(u64, String), BackupError> {
    let mut h = HashingWriter {
        inner: io::sink(),
        hash: Sha256::new(),
    };
    let n = io::copy(
        &mut File::open(p).map_err(io_err(format!("reading {}", p.display())))?,
        &mut h,
    )
    .map_err(io_err(format!("reading {}", p.display())))?;
    Ok((n, hex::encode(h.hash.finalize())))
}

/// Reads a small file of the data directory whole.
///
/// # Errors
/// I/O errors, and files over 64 MiB (they do not belong in a data directory's key material).
pub fn read_small(p: &Path) -> Result<Vec<u8>, BackupError> {
    let f = File::open(p).map_err(io_err(format!("reading {}", p.display())))?;
    let mut b = Vec::new();
    f.take(MAX_SMALL_FILE + 1)
        .read_to_end(&mut b)
        .map_err(io_err(format!("reading {}", p.display())))?;
    if b.len() as u64 > MAX_SMALL_FILE {
        return Err(BackupError::Target(format!(
            "{} is over 64 MiB; move it out of the data directory",
            p.display()
        )));
    }
    Ok(b)
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests;
