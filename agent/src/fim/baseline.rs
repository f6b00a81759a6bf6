//! The baseline: what every monitored path looked like, and its crash-safe on-disk form.
//!
//! The file is a fixed header, a payload of entries sorted by path (each path stored as the length
//! of the prefix it shares with the previous one plus the rest, numbers as LEB128 varints) and a
//! BLAKE3 checksum of everything before it. In memory the entries stay in (almost) that encoding,
//! see [`super::entries`]; loading streams the file into that store through a small window, so
//! the file is never held in memory beside it. Writes go to a temporary file that is fsynced, the
//! current file is hard-linked to `*.prev`, the temporary file is renamed over the current one and
//! the directory is fsynced: a crash at any point leaves a complete baseline, and a file that fails
//! its checksum (truncation, bit rot) is refused and the previous one is used instead.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tracing::warn;

use super::FimError;
use super::config::HashAlgo;
use super::entries::{
    END_OF_DATA, Entries, EntriesBuilder, Reader, decode_entry, encode_entry, put_bytes, put_var,
};
pub use super::entry::{Entry, Timestamp};

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

/// Where the baseline of `root` lives: `<state_dir>/fim/baseline.bin` for `/`, and a file named
/// after a hash of the root's absolute path otherwise, so an image is never checked against the
/// host's baseline.
pub fn baseline_path(state_dir: &Path, root: &Path) -> PathBuf {
    let abs =
        crate::platform::hostpath::canonical_root(root).unwrap_or_else(|_| root.to_path_buf());
    let dir = state_dir.join("fim");
    if crate::platform::hostpath::is_live_root(&abs) {
        return dir.join("baseline.bin");
    }
    let h = blake3::hash(abs.as_os_str().as_encoded_bytes());
    dir.join(format!("baseline-{}.bin", &h.to_hex()[..16]))
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
        Self::read_from(bytes, bytes.len() as u64).map_err(|e| match e {
            FimError::Io { source, .. } => FimError::Corrupt(source.to_string()),
            e => e,
        })
    }

    /// Reads the on-disk form from `r`, which holds exactly `len` bytes, decoding as it reads:
    /// only a small window of the file is in memory at a time besides the store being built,
    /// which is sized from the header. The checksum is verified once everything is read.
    ///
    /// # Errors
    /// [`FimError::Corrupt`] saying what is wrong, or [`FimError::Io`] (with an empty path) when
    /// reading fails.
    pub fn read_from(r: impl Read, len: u64) -> Result<Self, FimError> {
        let bad = |why: &str| FimError::Corrupt(why.to_string());
        if len < (HEADER_LEN + SUM_LEN) as u64 {
            return Err(bad("file too short"));
        }
        let mut s = Stream::new(r, len - SUM_LEN as u64);
        let header: [u8; HEADER_LEN] = s.header()?;
        if &header[..8] != MAGIC {
            return Err(bad("not a Vigil FIM baseline"));
        }
        let mut h = Reader {
            buf: &header,
            pos: 8,
        };
        let version = u16::from_le_bytes(h.array()?);
        if version != VERSION {
            return Err(FimError::Corrupt(format!("unsupported version {version}")));
        }
        let algo = match h.byte()? {
            1 => HashAlgo::Blake3,
            2 => HashAlgo::Sha256,
            _ => return Err(bad("unknown hash algorithm")),
        };
        h.byte()?;
        let started_at = Timestamp {
            secs: i64::from_le_bytes(h.array()?),
            nanos: u32::from_le_bytes(h.array()?),
        };
        let count = u64::from_le_bytes(h.array()?);
        let plen = u64::from_le_bytes(h.array()?);
        if plen != len - (HEADER_LEN + SUM_LEN) as u64 {
            return Err(bad("payload length mismatch"));
        }
        let nscope = s.next(|r| r.var())?;
        let mut scope = Vec::new();
        for _ in 0..nscope {
            let b = s.next(|r| r.bytes().map(<[u8]>::to_vec))?;
            scope.push(String::from_utf8(b).map_err(|_| bad("scope is not UTF-8"))?);
        }
        // The store restarts the path prefix at each block, so it is a little larger than the
        // payload; `finish` trims the rest (in place for a buffer this size).
        let left = usize::try_from(s.body_left()).map_err(|_| bad("file too large"))?;
        let mut entries = EntriesBuilder::with_capacity(left + left / 8);
        let mut path: Vec<u8> = Vec::new();
        for _ in 0..count {
            let e = s.next(|r| decode_entry(r, &mut path))?;
            entries.push(&path, &e)?;
        }
        if s.body_left() != 0 {
            return Err(bad("trailing bytes"));
        }
        s.verify()?;
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

/// The body of a baseline file read through a window: every byte read is hashed, and records
/// are decoded from the window, which is refilled (and grown for a record larger than it) when
/// one does not fit.
struct Stream<R> {
    r: R,
    /// Bytes of the body (header and payload) not yet read into the window.
    unread: u64,
    hasher: blake3::Hasher,
    buf: Vec<u8>,
    /// Start of the undecoded bytes in `buf`.
    pos: usize,
}

/// Initial window: large enough for any real record, small next to the store.
const WINDOW: usize = 64 * 1024;

impl<R: Read> Stream<R> {
    fn new(r: R, body_len: u64) -> Self {
        Self {
            r,
            unread: body_len,
            hasher: blake3::Hasher::new(),
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Body bytes not yet decoded.
    fn body_left(&self) -> u64 {
        self.unread + (self.buf.len() - self.pos) as u64
    }

    fn read_exact(&mut self, out: &mut [u8]) -> Result<(), FimError> {
        self.r.read_exact(out).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                FimError::Corrupt("file is shorter than it says".into())
            } else {
                FimError::io(Path::new(""), e)
            }
        })
    }

    /// The fixed header (read whole, before any record).
    fn header<const N: usize>(&mut self) -> Result<[u8; N], FimError> {
        let mut h = [0u8; N];
        self.read_exact(&mut h)?;
        self.hasher.update(&h);
        self.unread -= N as u64;
        Ok(h)
    }

    /// Decodes one record with `f`, reading more of the body while it fails for want of data.
    /// `f` must leave its outputs untouched when it fails.
    fn next<T>(
        &mut self,
        mut f: impl FnMut(&mut Reader<'_>) -> Result<T, FimError>,
    ) -> Result<T, FimError> {
        loop {
            let mut r = Reader {
                buf: &self.buf[self.pos..],
                pos: 0,
            };
            match f(&mut r) {
                Ok(v) => {
                    self.pos += r.pos;
                    return Ok(v);
                }
                // The record goes on past the window: read more of it.
                Err(FimError::Corrupt(m)) if m == END_OF_DATA && self.unread > 0 => {
                    self.fill()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the undecoded bytes to the front of the window and reads more after them, growing
    /// the window when it is full (a record larger than it). Never reads past the body.
    fn fill(&mut self) -> Result<(), FimError> {
        self.buf.drain(..self.pos);
        self.pos = 0;
        let have = self.buf.len();
        let cap = if have < WINDOW { WINDOW } else { have * 2 };
        let want = usize::try_from(self.unread).map_or(cap - have, |u| u.min(cap - have));
        self.buf.resize(have + want, 0);
        let res = self.r.read_exact(&mut self.buf[have..]);
        if let Err(e) = res {
            self.buf.truncate(have);
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                FimError::Corrupt("file is shorter than it says".into())
            } else {
                FimError::io(Path::new(""), e)
            });
        }
        self.hasher.update(&self.buf[have..]);
        self.unread -= want as u64;
        Ok(())
    }

    /// Reads the checksum and checks it against everything before it, and that nothing follows.
    fn verify(mut self) -> Result<(), FimError> {
        let mut sum = [0u8; SUM_LEN];
        self.read_exact(&mut sum)?;
        if self.hasher.finalize().as_bytes() != &sum {
            return Err(FimError::Corrupt(
                "checksum mismatch (truncated or damaged)".into(),
            ));
        }
        let mut extra = [0u8; 1];
        match self.r.read(&mut extra) {
            Ok(0) => Ok(()),
            Ok(_) => Err(FimError::Corrupt("file is longer than it says".into())),
            Err(e) => Err(FimError::io(Path::new(""), e)),
        }
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
        crate::platform::sync_dir(dir)
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
    let main_err = match read_file(path) {
        Ok(Some(b)) => return Ok(Some((b, false))),
        Ok(None) => None,
        Err(e @ FimError::Corrupt(_)) => Some(e),
        Err(e) => return Err(e),
    };
    let prev = prev_path(path);
    match read_file(&prev) {
        Ok(Some(base)) => {
            if let Some(e) = &main_err {
                warn!(path = %path.display(), error = %e,
                      "FIM baseline is damaged, using the previous one.");
            }
            Ok(Some((base, true)))
        }
        Ok(None) => match main_err {
            Some(e) => Err(e),
            None => Ok(None),
        },
        Err(e @ FimError::Corrupt(_)) => Err(main_err.unwrap_or(e)),
        Err(e) => Err(e),
    }
}

/// Reads and decodes one baseline file; `None` when it does not exist.
fn read_file(path: &Path) -> Result<Option<Baseline>, FimError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FimError::io(path, e)),
    };
    let len = f.metadata().map_err(|e| FimError::io(path, e))?.len();
    match Baseline::read_from(f, len) {
        Ok(b) => Ok(Some(b)),
        Err(FimError::Io { source, .. }) => Err(FimError::io(path, source)),
        Err(e) => Err(e),
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
    use vigil_proto::FileType;

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

    /// A reader that hands out at most 7 bytes per call, as a pipe or a slow disk may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.0.len()).min(7);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn streamed_read_crosses_windows_and_grows_for_a_large_record() {
        // Many windows' worth of entries, one of them larger than a window.
        let mut b = sample(6000);
        let big = vec![b'x'; WINDOW * 3 + 5];
        let mut e = b.entries.get(b"/etc/dir0/file-0").expect("entry");
        e.link_target = Some(big);
        b.entries.apply([(b"/etc/dir0/file-0".to_vec(), Some(e))]);
        let enc = b.encode();
        assert!(enc.len() > 4 * WINDOW, "{} bytes", enc.len());
        let got = Baseline::read_from(Trickle(&enc), enc.len() as u64).expect("read");
        assert_eq!(got, b);
        // A file longer or shorter than it says is refused, not read past or waited for.
        let mut longer = enc.clone();
        longer.push(0);
        assert!(Baseline::read_from(&longer[..], enc.len() as u64).is_err());
        assert!(Baseline::read_from(&enc[..enc.len() - 1], enc.len() as u64).is_err());
    }

    /// The baseline stored in `agent/tests/fixtures/fim-baseline-v1.bin`: a few of each kind of
    /// entry, non-UTF-8 and long paths, more than one in-memory block, and extreme values.
    fn fixture_baseline() -> Baseline {
        let t = |secs: i64, nanos: u32| Timestamp { secs, nanos };
        let file = |size: u64, mode: u32, ino: u64, content: &str| Entry {
            file_type: FileType::File,
            size,
            mode,
            uid: 0,
            gid: 0,
            mtime: t(1_700_000_000 + ino as i64, 250_000_000),
            ctime: t(1_700_000_100 + ino as i64, 750_000_000),
            ino,
            link_target: None,
            hash: Some(*blake3::hash(content.as_bytes()).as_bytes()),
        };
        let dir = |ino: u64| Entry {
            file_type: FileType::Dir,
            size: 4096,
            mode: 0o755,
            hash: None,
            ..file(0, 0, ino, "")
        };
        let link = |target: &[u8], ino: u64| Entry {
            file_type: FileType::Symlink,
            size: target.len() as u64,
            mode: 0o777,
            link_target: Some(target.to_vec()),
            hash: None,
            ..file(0, 0, ino, "")
        };
        let mut v: Vec<(Vec<u8>, Entry)> = vec![
            (b"/etc".to_vec(), dir(2)),
            (b"/etc/passwd".to_vec(), file(1234, 0o644, 3, "passwd")),
            (
                b"/etc/shadow".to_vec(),
                Entry {
                    gid: 42,
                    ..file(987, 0o640, 4, "shadow")
                },
            ),
            (b"/etc/ssh".to_vec(), dir(5)),
            (
                b"/etc/ssh/sshd_config".to_vec(),
                file(3200, 0o600, 6, "sshd"),
            ),
            (
                b"/etc/localtime".to_vec(),
                link(b"/usr/share/zoneinfo/Etc/UTC", 7),
            ),
            (b"/etc/dangling".to_vec(), link(b"../nowhere\xff", 8)),
            (
                b"/etc/name-\xff\xfe-not-utf8".to_vec(),
                file(1, 0o644, 9, "x"),
            ),
            (
                b"/etc/big.iso".to_vec(),
                Entry {
                    hash: None,
                    uid: u32::MAX,
                    ..file(5 << 30, 0o4755, u64::MAX, "")
                },
            ),
            (
                b"/etc/initctl".to_vec(),
                Entry {
                    file_type: FileType::Other,
                    hash: None,
                    mtime: t(-86_400, 999_999_999),
                    ctime: t(i64::MIN, 0),
                    ..file(0, 0o600, 10, "")
                },
            ),
            (b"/usr/lib".to_vec(), dir(11)),
            (
                format!("/usr/lib/{}", "deep/".repeat(50)).into_bytes(),
                dir(12),
            ),
        ];
        for i in 0..30u64 {
            v.push((
                format!("/usr/lib/x86_64-linux-gnu/libv{i:02}.so.1").into_bytes(),
                file(10_000 + i * 1000, 0o644, 100 + i, &format!("lib {i}")),
            ));
        }
        Baseline {
            algo: HashAlgo::Blake3,
            started_at: t(1_767_225_600, 123_456_789),
            scope: vec!["/etc".into(), "/usr/lib".into()],
            entries: v.into_iter().collect(),
        }
    }

    /// A baseline file written by format version 1. It must keep loading as long as version 1 is
    /// supported: never regenerate it; a new format version gets a fixture of its own.
    const FIXTURE_V1: &[u8] = include_bytes!("../../tests/fixtures/fim-baseline-v1.bin");

    #[test]
    fn version_1_fixture_loads_and_checks() {
        let want = fixture_baseline();
        assert_eq!(Baseline::decode(FIXTURE_V1).expect("decode"), want);
        // Through the file path too (streamed).
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("baseline.bin");
        fs::write(&path, FIXTURE_V1).expect("write");
        let (got, fell_back) = load(&path).expect("load").expect("present");
        assert!(!fell_back);
        assert_eq!(got, want);
        for (p, e) in want.entries.iter() {
            assert_eq!(got.entries.get(&p).as_ref(), Some(&e), "lookup of {p:?}");
        }
        assert_eq!(got.entries.get(b"/etc/missing"), None);
        assert!(got.covers(b"/usr/lib/x86_64-linux-gnu/libv00.so.1"));
        assert!(!got.covers(b"/usr/bin/sh"));

        // A check against a current state with one change of each kind.
        let passwd = b"/etc/passwd".to_vec();
        let sshd = b"/etc/ssh/sshd_config".to_vec();
        let mut now = got.entries.clone();
        let mut p = now.get(&passwd).expect("passwd");
        p.hash = Some(*blake3::hash(b"passwd with a new user").as_bytes());
        p.size += 40;
        let mut c = now.get(&sshd).expect("sshd_config");
        c.mode = 0o666;
        now.apply([
            (passwd.clone(), Some(p)),
            (sshd.clone(), Some(c)),
            (b"/etc/shadow".to_vec(), None),
            (
                b"/usr/lib/x86_64-linux-gnu/libevil.so".to_vec(),
                Some(got.entries.get(b"/etc/passwd").expect("e")),
            ),
        ]);
        let changes = super::super::diff::diff(&got.entries, &now, &got.scope);
        let seen: Vec<(&[u8], vigil_proto::FileEventKind, Vec<&str>)> = changes
            .iter()
            .map(|c| (c.path.as_slice(), c.kind, c.changed.clone()))
            .collect();
        use vigil_proto::FileEventKind as K;
        assert_eq!(
            seen,
            vec![
                (&b"/etc/passwd"[..], K::Modified, vec!["hash", "size"]),
                (&b"/etc/shadow"[..], K::Deleted, vec![]),
                (&b"/etc/ssh/sshd_config"[..], K::Attrs, vec!["mode"]),
                (
                    &b"/usr/lib/x86_64-linux-gnu/libevil.so"[..],
                    K::Created,
                    vec![]
                ),
            ]
        );

        // The writer still produces version 1 byte for byte. When this fails the format
        // changed: bump VERSION, keep reading version 1 and this fixture, add a new one.
        assert!(
            want.encode() == FIXTURE_V1,
            "encoding differs from the version 1 fixture"
        );
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
