//! The baseline: what every monitored path looked like, and its crash-safe on-disk form.
//!
//! The file is a fixed header, a payload of entries sorted by path (each path stored as the length
//! of the prefix it shares with the previous one plus the rest, numbers as LEB128 varints) and a
//! BLAKE3 checksum of everything before it. In memory the entries stay in (almost) that encoding,
//! see [`super::entries`]. Writes go to a temporary file that is fsynced, the
//! current file is hard-linked to `*.prev`, the temporary file is renamed over the current one and
//! the directory is fsynced: a crash at any point leaves a complete baseline, and a file that fails
//! its checksum (truncation, bit rot) is refused and the previous one is used instead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::warn;
use vigil_proto::FileType;

use super::FimError;
use super::config::HashAlgo;
use super::entries::{
    Entries, EntriesBuilder, Reader, decode_entry, encode_entry, put_bytes, put_var,
};

/// A point in time as seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Timestamp {
    /// Seconds since the epoch (may be negative).
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// What one path looked like when it was scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Object type.
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: Timestamp,
    /// Status-change time (not reported, but part of the fast-check key: it cannot be forged).
    pub ctime: Timestamp,
    /// Inode number.
    pub ino: u64,
    /// Symlink target.
    pub link_target: Option<Vec<u8>>,
    /// Content hash (regular files, or symlink targets when following links).
    pub hash: Option<[u8; 32]>,
}

/// A baseline: entries keyed by absolute host path (bytes, so no file name can hide).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Baseline {
    /// Hash algorithm of every `Entry::hash`.
    pub algo: HashAlgo,
    /// When the scan that produced it started (files changed after this are re-hashed).
    pub started_at: Timestamp,
    /// Roots of the trees it covers.
    pub scope: Vec<String>,
    /// Entries, sorted by path, in a compact shared store.
    pub entries: Entries,
}

const MAGIC: &[u8; 8] = b"VGFIMBL\0";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 8 + 2 + 1 + 1 + 8 + 4 + 8 + 8;
const SUM_LEN: usize = 32;
/// Offset of the entry count in the header (patched once the payload is written).
const COUNT_AT: usize = 8 + 2 + 1 + 1 + 8 + 4;

impl Baseline {
    /// Serialises to the on-disk form.
    pub fn encode(&self) -> Vec<u8> {
        // Header, payload and checksum in one buffer: the payload is the bulk of the memory.
        let mut out = Vec::with_capacity(HEADER_LEN + self.entries.heap_bytes() + 1024);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(match self.algo {
            HashAlgo::Blake3 => 1,
            HashAlgo::Sha256 => 2,
        });
        out.push(0);
        out.extend_from_slice(&self.started_at.secs.to_le_bytes());
        out.extend_from_slice(&self.started_at.nanos.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        put_var(&mut out, self.scope.len() as u64);
        for s in &self.scope {
            put_bytes(&mut out, s.as_bytes());
        }
        // One prefix-coded stream over all entries (the store restarts it at each block).
        let mut prev: Vec<u8> = Vec::new();
        let mut c = self.entries.cursor();
        while c.valid() {
            encode_entry(&mut out, &prev, c.path(), c.entry());
            prev.clear();
            prev.extend_from_slice(c.path());
            c.advance();
        }
        let plen = (out.len() - HEADER_LEN) as u64;
        out[COUNT_AT + 8..HEADER_LEN].copy_from_slice(&plen.to_le_bytes());
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Parses the on-disk form, refusing anything truncated, corrupt or of another version.
    ///
    /// # Errors
    /// [`FimError::Corrupt`] saying what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, FimError> {
        let bad = |why: &str| FimError::Corrupt(why.to_string());
        if bytes.len() < HEADER_LEN + SUM_LEN {
            return Err(bad("file too short"));
        }
        if &bytes[..8] != MAGIC {
            return Err(bad("not a Vigil FIM baseline"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - SUM_LEN);
        if blake3::hash(body).as_bytes() != sum {
            return Err(bad("checksum mismatch (truncated or damaged)"));
        }
        let mut r = Reader { buf: body, pos: 8 };
        let version = u16::from_le_bytes(r.array()?);
        if version != VERSION {
            return Err(FimError::Corrupt(format!("unsupported version {version}")));
        }
        let algo = match r.byte()? {
            1 => HashAlgo::Blake3,
            2 => HashAlgo::Sha256,
            _ => return Err(bad("unknown hash algorithm")),
        };
        r.byte()?;
        let started_at = Timestamp {
            secs: i64::from_le_bytes(r.array()?),
            nanos: u32::from_le_bytes(r.array()?),
        };
        let count = u64::from_le_bytes(r.array()?);
        let plen = u64::from_le_bytes(r.array()?);
        if plen != (body.len() - HEADER_LEN) as u64 {
            return Err(bad("payload length mismatch"));
        }
        let nscope = r.var()?;
        let mut scope = Vec::new();
        for _ in 0..nscope {
            let s = r.bytes()?;
            scope.push(String::from_utf8(s.to_vec()).map_err(|_| bad("scope is not UTF-8"))?);
        }
        // The in-memory store takes about as much as the payload.
        let mut entries = EntriesBuilder::with_capacity(body.len() - r.pos);
        let mut path: Vec<u8> = Vec::new();
        for _ in 0..count {
            let e = decode_entry(&mut r, &mut path)?;
            entries.push(&path, &e)?;
        }
        if r.pos != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(Self {
            algo,
            started_at,
            scope,
            entries: entries.finish(),
        })
    }

    /// Whether the baseline covers host path `path` (it lies under one of the scope roots).
    pub fn covers(&self, path: &[u8]) -> bool {
        self.scope
            .iter()
            .any(|s| super::config::is_under(path, s.as_bytes()))
    }
}

/// Writes `bytes` to `path` atomically and durably, keeping the old file as `<path>.prev`.
///
/// # Errors
/// I/O errors; the old file is then untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FimError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FimError::io(dir, e))?;
    let tmp = tmp_path(path);
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        if path.exists() {
            let prev = prev_path(path);
            match fs::remove_file(&prev) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            if let Err(e) = fs::hard_link(path, &prev) {
                warn!(error = %e, "Could not keep the previous FIM baseline.");
            }
        }
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(|e| FimError::io(path, e))
}

/// Loads the baseline at `path`, falling back to `<path>.prev` when the current file is damaged.
/// Returns `None` when there is no baseline, and whether the fallback was used.
///
/// # Errors
/// I/O errors other than absence, or [`FimError::Corrupt`] when neither file is usable.
pub fn load(path: &Path) -> Result<Option<(Baseline, bool)>, FimError> {
    let main = match fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(FimError::io(path, e)),
    };
    let main_err = match main.as_deref().map(Baseline::decode) {
        Some(Ok(b)) => return Ok(Some((b, false))),
        Some(Err(e)) => Some(e),
        None => None,
    };
    let prev = prev_path(path);
    match fs::read(&prev) {
        Ok(b) => match Baseline::decode(&b) {
            Ok(base) => {
                if let Some(e) = &main_err {
                    warn!(path = %path.display(), error = %e,
                          "FIM baseline is damaged, using the previous one.");
                }
                Ok(Some((base, true)))
            }
            Err(e) => Err(main_err.unwrap_or(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => match main_err {
            Some(e) => Err(e),
            None => Ok(None),
        },
        Err(e) => Err(FimError::io(&prev, e)),
    }
}

/// The previous-generation file kept next to `path`.
pub fn prev_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".prev");
    PathBuf::from(s)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(n: usize) -> Baseline {
        let entries = (0..n).map(|i| {
            let path = format!("/etc/dir{}/file-{i}", i % 7).into_bytes();
            (
                path,
                Entry {
                    file_type: if i % 5 == 0 {
                        FileType::Symlink
                    } else {
                        FileType::File
                    },
                    size: i as u64 * 1000,
                    mode: 0o644,
                    uid: i as u32,
                    gid: 0,
                    mtime: Timestamp {
                        secs: 1_700_000_000 + i as i64,
                        nanos: 5,
                    },
                    ctime: Timestamp {
                        secs: -3,
                        nanos: 999_999_999,
                    },
                    ino: u64::MAX - i as u64,
                    link_target: (i % 5 == 0).then(|| b"../x\xff".to_vec()),
                    hash: (i % 5 != 0).then_some([i as u8; 32]),
                },
            )
        });
        Baseline {
            algo: HashAlgo::Sha256,
            started_at: Timestamp { secs: 42, nanos: 7 },
            scope: vec!["/etc".into()],
            entries: entries.collect(),
        }
    }

    #[test]
    fn roundtrip() {
        let b = sample(100);
        let enc = b.encode();
        assert_eq!(Baseline::decode(&enc).expect("decode"), b);
        assert!(enc.len() < 100 * 80, "compact: {} bytes", enc.len());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_detected() {
        let enc = sample(20).encode();
        for len in 0..enc.len() {
            assert!(Baseline::decode(&enc[..len]).is_err(), "truncated at {len}");
        }
        for i in (0..enc.len()).step_by(3) {
            let mut bad = enc.clone();
            bad[i] ^= 0x10;
            assert!(Baseline::decode(&bad).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn damaged_file_falls_back_to_previous() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fim/baseline.bin");
        assert!(load(&path).expect("absent").is_none());
        let old = sample(10);
        let new = sample(30);
        write_atomic(&path, &old.encode()).expect("write old");
        write_atomic(&path, &new.encode()).expect("write new");
        assert_eq!(load(&path).expect("load").map(|x| x.0), Some(new.clone()));
        // A truncated current file (e.g. written by something that ignored our protocol).
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
        let (b, fell_back) = load(&path).expect("load").expect("some");
        assert!(fell_back);
        assert_eq!(b, old);
        // A leftover temporary file from a crash is ignored.
        fs::write(tmp_path(&path), b"partial").expect("tmp");
        assert!(load(&path).is_ok());
    }
}
