//! The baseline: what every monitored path looked like, and its crash-safe on-disk form.
//!
//! The file is a fixed header, a payload of entries sorted by path (each path stored as the length
//! of the prefix it shares with the previous one plus the rest, numbers as LEB128 varints) and a
//! BLAKE3 checksum of everything before it. Writes go to a temporary file that is fsynced, the
//! current file is hard-linked to `*.prev`, the temporary file is renamed over the current one and
//! the directory is fsynced: a crash at any point leaves a complete baseline, and a file that fails
//! its checksum (truncation, bit rot) is refused and the previous one is used instead.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::warn;
use vigil_proto::FileType;

use super::FimError;
use super::config::HashAlgo;

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
    /// Entries, sorted by path.
    pub entries: BTreeMap<Vec<u8>, Entry>,
}

const MAGIC: &[u8; 8] = b"VGFIMBL\0";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 8 + 2 + 1 + 1 + 8 + 4 + 8 + 8;
const SUM_LEN: usize = 32;

impl Baseline {
    /// Serialises to the on-disk form.
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.entries.len() * 48);
        put_var(&mut payload, self.scope.len() as u64);
        for s in &self.scope {
            put_bytes(&mut payload, s.as_bytes());
        }
        let mut prev: &[u8] = &[];
        for (path, e) in &self.entries {
            let common = prev
                .iter()
                .zip(path.iter())
                .take_while(|(a, b)| a == b)
                .count();
            put_var(&mut payload, common as u64);
            put_bytes(&mut payload, &path[common..]);
            prev = path;
            payload.push(type_code(e.file_type));
            let flags = u8::from(e.hash.is_some()) | (u8::from(e.link_target.is_some()) << 1);
            payload.push(flags);
            put_var(&mut payload, e.size);
            put_var(&mut payload, u64::from(e.mode));
            put_var(&mut payload, u64::from(e.uid));
            put_var(&mut payload, u64::from(e.gid));
            put_var(&mut payload, zigzag(e.mtime.secs));
            put_var(&mut payload, u64::from(e.mtime.nanos));
            put_var(&mut payload, zigzag(e.ctime.secs));
            put_var(&mut payload, u64::from(e.ctime.nanos));
            put_var(&mut payload, e.ino);
            if let Some(t) = &e.link_target {
                put_bytes(&mut payload, t);
            }
            if let Some(h) = &e.hash {
                payload.extend_from_slice(h);
            }
        }
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + SUM_LEN);
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
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&payload);
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
        let mut entries = BTreeMap::new();
        let mut prev: Vec<u8> = Vec::new();
        for _ in 0..count {
            let common = usize::try_from(r.var()?).map_err(|_| bad("bad prefix"))?;
            if common > prev.len() {
                return Err(bad("bad path prefix"));
            }
            let mut path = prev[..common].to_vec();
            path.extend_from_slice(r.bytes()?);
            if path <= prev && !prev.is_empty() {
                return Err(bad("paths out of order"));
            }
            let file_type = type_from(r.byte()?).ok_or_else(|| bad("bad file type"))?;
            let flags = r.byte()?;
            let size = r.var()?;
            let mode = r.var32()?;
            let uid = r.var32()?;
            let gid = r.var32()?;
            let mtime = Timestamp {
                secs: unzigzag(r.var()?),
                nanos: r.var32()?,
            };
            let ctime = Timestamp {
                secs: unzigzag(r.var()?),
                nanos: r.var32()?,
            };
            let ino = r.var()?;
            let link_target = if flags & 2 != 0 {
                Some(r.bytes()?.to_vec())
            } else {
                None
            };
            let hash = if flags & 1 != 0 {
                Some(r.array::<32>()?)
            } else {
                None
            };
            entries.insert(
                path.clone(),
                Entry {
                    file_type,
                    size,
                    mode,
                    uid,
                    gid,
                    mtime,
                    ctime,
                    ino,
                    link_target,
                    hash,
                },
            );
            prev = path;
        }
        if r.pos != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(Self {
            algo,
            started_at,
            scope,
            entries,
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

fn type_code(t: FileType) -> u8 {
    match t {
        FileType::File => 1,
        FileType::Dir => 2,
        FileType::Symlink => 3,
        FileType::Other => 4,
    }
}

fn type_from(b: u8) -> Option<FileType> {
    Some(match b {
        1 => FileType::File,
        2 => FileType::Dir,
        3 => FileType::Symlink,
        4 => FileType::Other,
        _ => return None,
    })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FimError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| FimError::Corrupt("unexpected end of data".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn byte(&mut self) -> Result<u8, FimError> {
        Ok(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FimError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn var(&mut self) -> Result<u64, FimError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FimError::Corrupt("varint too long".into()))
    }
    fn var32(&mut self) -> Result<u32, FimError> {
        u32::try_from(self.var()?).map_err(|_| FimError::Corrupt("value out of range".into()))
    }
    fn bytes(&mut self) -> Result<&'a [u8], FimError> {
        let n = usize::try_from(self.var()?)
            .map_err(|_| FimError::Corrupt("length out of range".into()))?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(n: usize) -> Baseline {
        let mut entries = BTreeMap::new();
        for i in 0..n {
            let path = format!("/etc/dir{}/file-{i}", i % 7).into_bytes();
            entries.insert(
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
            );
        }
        Baseline {
            algo: HashAlgo::Sha256,
            started_at: Timestamp { secs: 42, nanos: 7 },
            scope: vec!["/etc".into()],
            entries,
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
