//! What one scanned path looked like ([`Entry`]) and when ([`Timestamp`]): the record every FIM
//! module shares, below the baseline file, the compact entry store, the scanner and the differ.

use std::time::{SystemTime, UNIX_EPOCH};

use vigil_proto::FileType;

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

/// Wall-clock time as a [`Timestamp`] (callers in the shell layer only: the engines take it as input).
pub fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos(),
    }
}
