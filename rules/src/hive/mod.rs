//! Read-only parser of Windows registry hive files (the `regf` format).
//!
//! A hive taken from an offline image may be an attacker's, so every byte is hostile: offsets are
//! checked against the hive bins before they are followed, every length is bounded ([`MAX_CELL`],
//! [`MAX_VALUE`], [`MAX_LIST`]), index roots cannot nest, and nothing here panics on any input
//! (a property test and a fuzz target feed it arbitrary bytes). The parser reads through a
//! [`Source`] with positioned reads, so a 100 MiB SOFTWARE hive costs a few cells of memory per
//! lookup rather than the whole file.
//!
//! A hive whose base block says it is dirty (its sequence numbers differ, or its checksum is
//! wrong) is refused: its newest changes sit in the transaction logs (`.LOG1`, `.LOG2`), which
//! this parser does not replay, and answering from the stale primary file could pass a rule the
//! running system fails.
//!
//! The format follows Maxim Suhanov's public specification of Windows registry files. [`write`]
//! builds hives for tests and benchmarks, and [`reg`] reads `.reg` text into the tree it writes.

pub mod reg;
pub mod write;

use std::fmt;
use std::io;

/// Size of the base block; hive-bin offsets are relative to its end.
pub const BASE_BLOCK: u64 = 4096;
/// Largest cell read (a subkey list of 250,000 keys, or a value-list of 500,000 values, fits).
pub const MAX_CELL: usize = 2 << 20;
/// Largest value data returned.
pub const MAX_VALUE: usize = 4 << 20;
/// Most entries of one subkey or value list.
pub const MAX_LIST: usize = 500_000;
/// Deepest key path followed (the registry's own limit is 512 levels).
pub const MAX_DEPTH: usize = 512;
/// Largest data segment of a big-data value.
const SEGMENT: usize = 16_344;
/// "No cell" in offset fields.
const NONE: u32 = 0xFFFF_FFFF;

/// Why a hive cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HiveError {
    /// Reading the underlying file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid hive, or a cell is malformed.
    #[error("not a valid registry hive: {0}")]
    Format(String),
    /// The base block marks the hive dirty: changes are pending in its transaction logs.
    #[error(
        "the hive is dirty ({0}): its latest changes are in the .LOG1/.LOG2 transaction logs, \
         which are not replayed; boot the system once (or replay the logs with a forensic tool) \
         and check again"
    )]
    Dirty(String),
}

fn bad(msg: impl Into<String>) -> HiveError {
    HiveError::Format(msg.into())
}

/// Positioned reads of hive bytes.
pub trait Source: Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether the source is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` from `offset`.
    ///
    /// # Errors
    /// I/O errors; reads past the end are `UnexpectedEof`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl Source for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        let src = self.get(start..end).ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl Source for std::fs::File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_exact_at(self, offset, buf)
    }
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &std::fs::File, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    // `seek_read` moves the file cursor, which no other reader of this handle relies on.
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Registry value types.
pub mod kind {
    /// No type.
    pub const NONE: u32 = 0;
    /// UTF-16 string.
    pub const SZ: u32 = 1;
    /// UTF-16 string with `%VAR%` references.
    pub const EXPAND_SZ: u32 = 2;
    /// Bytes.
    pub const BINARY: u32 = 3;
    /// Little-endian 32-bit number.
    pub const DWORD: u32 = 4;
    /// Big-endian 32-bit number.
    pub const DWORD_BE: u32 = 5;
    /// Symbolic link (UTF-16).
    pub const LINK: u32 = 6;
    /// UTF-16 strings, each NUL-terminated, ending with an empty one.
    pub const MULTI_SZ: u32 = 7;
    /// Little-endian 64-bit number.
    pub const QWORD: u32 = 11;
}

/// A key node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Key name as stored.
    pub name: String,
    /// Last-written time (FILETIME: 100 ns since 1601-01-01 UTC).
    pub last_written: u64,
    offset: u32,
    subkeys: u32,
    subkey_list: u32,
    values: u32,
    value_list: u32,
}

/// A value with its raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// Value name (empty for the default value).
    pub name: String,
    /// Type ([`kind`]); other numbers are kept (the SAM stores RIDs in it).
    pub kind: u32,
    /// Raw data.
    pub data: Vec<u8>,
}

/// An open hive.
pub struct Hive<S> {
    src: S,
    /// End of the hive bins data, as a file offset.
    bins_end: u64,
    root: u32,
    minor: u32,
}

impl<S> fmt::Debug for Hive<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hive")
            .field("bins_end", &self.bins_end)
            .field("root", &self.root)
            .field("minor", &self.minor)
            .finish_non_exhaustive()
    }
}

/// XOR-32 checksum of the first 508 bytes of a base block, as Windows writes it.
pub fn checksum(block: &[u8]) -> u32 {
    let sum = block.chunks_exact(4).take(127).fold(0u32, |c, w| {
        c ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
    });
    match sum {
        0 => 1,
        0xFFFF_FFFF => 0xFFFF_FFFE,
        s => s,
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes a stored name: Latin-1 when compressed, UTF-16LE otherwise.
fn decode_name(raw: &[u8], compressed: bool) -> String {
    if compressed {
        raw.iter().map(|&b| char::from(b)).collect()
    } else {
        utf16_lossy(raw)
    }
}

/// UTF-16LE bytes to a string, replacing invalid units; an odd last byte is dropped.
pub fn utf16_lossy(raw: &[u8]) -> String {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// The hash Windows stores in `lh` lists: 37·h + c over the upper-cased UTF-16 units.
pub fn name_hash(name: &str) -> u32 {
    upper(name)
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(37).wrapping_add(u32::from(c)))
}

/// Upper-cases a key or value name for case-insensitive comparison.
fn upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            // Names compare unit by unit; keep one character for one character.
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Whether two names are equal ignoring case, as the registry compares them.
pub fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        // Without allocating: lookups compare a name with every sibling.
        return a.eq_ignore_ascii_case(b);
    }
    upper(a) == upper(b)
}

impl<S: Source> Hive<S> {
    /// Opens a hive, validating its base block.
    ///
    /// # Errors
    /// [`HiveError::Format`] when it is not a hive, [`HiveError::Dirty`] when its transaction logs
    /// hold changes, [`HiveError::Io`] on read errors.
    pub fn open(src: S) -> Result<Hive<S>, HiveError> {
        let len = src.len();
        if len < BASE_BLOCK + 32 {
            return Err(bad(format!("{len} bytes is too short for a hive")));
        }
        let mut base = vec![0u8; 512];
        src.read_at(0, &mut base)?;
        if &base[..4] != b"regf" {
            return Err(bad("no `regf` signature"));
        }
        let field = |at| u32_at(&base, at).unwrap_or(0);
        let (seq1, seq2) = (field(4), field(8));
        let (major, minor, file_type) = (field(20), field(24), field(28));
        if major != 1 || !(2..=6).contains(&minor) {
            return Err(bad(format!("unsupported version {major}.{minor}")));
        }
        if file_type != 0 {
            return Err(bad(format!(
                "file type {file_type} is a transaction log, not a primary hive"
            )));
        }
        let stored = field(508);
        let computed = checksum(&base);
        if stored != computed {
            return Err(HiveError::Dirty(format!(
                "base block checksum {stored:#010x}, expected {computed:#010x}"
            )));
        }
        if seq1 != seq2 {
            return Err(HiveError::Dirty(format!(
                "sequence numbers {seq1} and {seq2} differ"
            )));
        }
        let bins = u64::from(field(40));
        if bins == 0 || !bins.is_multiple_of(4096) || BASE_BLOCK + bins > len {
            return Err(bad(format!(
                "hive bins size {bins} does not fit a {len}-byte file"
            )));
        }
        let hive = Hive {
            src,
            bins_end: BASE_BLOCK + bins,
            root: field(36),
            minor,
        };
        let mut hbin = [0u8; 4];
        hive.src.read_at(BASE_BLOCK, &mut hbin)?;
        if &hbin != b"hbin" {
            return Err(bad("the first hive bin has no `hbin` signature"));
        }
        hive.root()?;
        Ok(hive)
    }

    /// Reads the data of the allocated cell at `off` (relative to the hive bins).
    fn cell(&self, off: u32) -> Result<Vec<u8>, HiveError> {
        let at = BASE_BLOCK + u64::from(off);
        if off == NONE || !off.is_multiple_of(8) || at + 4 > self.bins_end {
            return Err(bad(format!(
                "cell offset {off:#x} is outside the hive bins"
            )));
        }
        let mut head = [0u8; 4];
        self.src.read_at(at, &mut head)?;
        let size = i32::from_le_bytes(head);
        if size >= 0 {
            return Err(bad(format!("cell {off:#x} is not allocated")));
        }
        let size = size.unsigned_abs() as usize;
        if !(8..=MAX_CELL).contains(&size) || at + size as u64 > self.bins_end {
            return Err(bad(format!("cell {off:#x} has an impossible size {size}")));
        }
        let mut data = vec![0u8; size - 4];
        self.src.read_at(at + 4, &mut data)?;
        Ok(data)
    }

    /// The root key.
    ///
    /// # Errors
    /// When the root cell is not a key node.
    pub fn root(&self) -> Result<Key, HiveError> {
        self.key_at(self.root)
    }

    fn key_at(&self, off: u32) -> Result<Key, HiveError> {
        let c = self.cell(off)?;
        if c.get(..2) != Some(b"nk".as_slice()) {
            return Err(bad(format!("cell {off:#x} is not a key node")));
        }
        let short = || bad(format!("key node {off:#x} is truncated"));
        let flags = u16_at(&c, 2).ok_or_else(short)?;
        let name_len = usize::from(u16_at(&c, 72).ok_or_else(short)?);
        let raw = c.get(76..76 + name_len).ok_or_else(short)?;
        Ok(Key {
            name: decode_name(raw, flags & 0x20 != 0),
            last_written: u64_at(&c, 4).ok_or_else(short)?,
            offset: off,
            subkeys: u32_at(&c, 20).ok_or_else(short)?,
            subkey_list: u32_at(&c, 28).ok_or_else(short)?,
            values: u32_at(&c, 36).ok_or_else(short)?,
            value_list: u32_at(&c, 40).ok_or_else(short)?,
        })
    }

    /// Offsets of the key nodes in a subkey list, with their `lh` hash when the list has one.
    fn list_entries(&self, off: u32, nested: bool) -> Result<Vec<(u32, Option<u32>)>, HiveError> {
        let c = self.cell(off)?;
        let sig = c.get(..2).unwrap_or_default();
        let n = usize::from(u16_at(&c, 2).unwrap_or(0));
        let entry = |i: usize, width: usize| u32_at(&c, 4 + i * width);
        let short = || bad(format!("subkey list {off:#x} is truncated"));
        let mut out = Vec::with_capacity(n.min(4096));
        match sig {
            b"li" => {
                for i in 0..n {
                    out.push((entry(i, 4).ok_or_else(short)?, None));
                }
            }
            b"lf" | b"lh" => {
                for i in 0..n {
                    let hash = u32_at(&c, 8 + i * 8).ok_or_else(short)?;
                    out.push((
                        entry(i, 8).ok_or_else(short)?,
                        (sig == b"lh").then_some(hash),
                    ));
                }
            }
            b"ri" if !nested => {
                for i in 0..n {
                    let sub = entry(i, 4).ok_or_else(short)?;
                    out.extend(self.list_entries(sub, true)?);
                    if out.len() > MAX_LIST {
                        return Err(bad(format!("subkey list {off:#x} is too long")));
                    }
                }
            }
            b"ri" => return Err(bad(format!("index root {off:#x} inside an index root"))),
            _ => return Err(bad(format!("cell {off:#x} is not a subkey list"))),
        }
        Ok(out)
    }

    fn entries_of(&self, key: &Key) -> Result<Vec<(u32, Option<u32>)>, HiveError> {
        if key.subkeys == 0 || key.subkey_list == NONE {
            return Ok(Vec::new());
        }
        if key.subkeys as usize > MAX_LIST {
            return Err(bad(format!("key {:?} claims too many subkeys", key.name)));
        }
        self.list_entries(key.subkey_list, false)
    }

    /// The subkeys of `key`, in stored order.
    ///
    /// # Errors
    /// When a list or key node is malformed.
    pub fn subkeys(&self, key: &Key) -> Result<Vec<Key>, HiveError> {
        self.entries_of(key)?
            .into_iter()
            .map(|(off, _)| self.key_at(off))
            .collect()
    }

    /// The subkey of `key` named `name` (case-insensitive).
    ///
    /// # Errors
    /// When a list or key node is malformed.
    pub fn subkey(&self, key: &Key, name: &str) -> Result<Option<Key>, HiveError> {
        let hash = name_hash(name);
        for (off, h) in self.entries_of(key)? {
            if h.is_some_and(|h| h != hash) {
                continue;
            }
            let k = self.key_at(off)?;
            if same_name(&k.name, name) {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// Follows a `\`-separated path from the root (case-insensitive; empty components ignored).
    ///
    /// # Errors
    /// When a cell on the way is malformed, or the path is deeper than [`MAX_DEPTH`].
    pub fn key(&self, path: &str) -> Result<Option<Key>, HiveError> {
        let mut k = self.root()?;
        for (depth, part) in path.split('\\').filter(|p| !p.is_empty()).enumerate() {
            if depth >= MAX_DEPTH {
                return Err(bad(format!(
                    "path {path:?} is deeper than {MAX_DEPTH} keys"
                )));
            }
            match self.subkey(&k, part)? {
                Some(next) => k = next,
                None => return Ok(None),
            }
        }
        Ok(Some(k))
    }

    /// Every value of `key`, in stored order.
    ///
    /// # Errors
    /// When the value list, a value or its data is malformed.
    pub fn values(&self, key: &Key) -> Result<Vec<Value>, HiveError> {
        self.value_offsets(key)?
            .into_iter()
            .map(|off| self.value_at(off))
            .collect()
    }

    /// The value of `key` named `name` (case-insensitive; `""` is the default value).
    ///
    /// # Errors
    /// As [`Hive::values`].
    pub fn value(&self, key: &Key, name: &str) -> Result<Option<Value>, HiveError> {
        for off in self.value_offsets(key)? {
            let (vname, _) = self.value_head(off)?;
            if same_name(&vname, name) {
                return self.value_at(off).map(Some);
            }
        }
        Ok(None)
    }

    fn value_offsets(&self, key: &Key) -> Result<Vec<u32>, HiveError> {
        if key.values == 0 || key.value_list == NONE {
            return Ok(Vec::new());
        }
        let n = key.values as usize;
        if n > MAX_LIST {
            return Err(bad(format!("key {:?} claims too many values", key.name)));
        }
        let c = self.cell(key.value_list)?;
        (0..n)
            .map(|i| {
                u32_at(&c, i * 4)
                    .ok_or_else(|| bad(format!("value list of key {:?} is truncated", key.name)))
            })
            .collect()
    }

    fn value_head(&self, off: u32) -> Result<(String, Vec<u8>), HiveError> {
        let c = self.cell(off)?;
        if c.get(..2) != Some(b"vk".as_slice()) {
            return Err(bad(format!("cell {off:#x} is not a value")));
        }
        let name_len = usize::from(u16_at(&c, 2).unwrap_or(0));
        let flags = u16_at(&c, 16).unwrap_or(0);
        let raw = c
            .get(20..20 + name_len)
            .ok_or_else(|| bad(format!("value {off:#x} is truncated")))?;
        Ok((decode_name(raw, flags & 1 != 0), c))
    }

    fn value_at(&self, off: u32) -> Result<Value, HiveError> {
        let (name, c) = self.value_head(off)?;
        let short = || bad(format!("value {name:?} is truncated"));
        let raw_size = u32_at(&c, 4).ok_or_else(short)?;
        let data_off = u32_at(&c, 8).ok_or_else(short)?;
        let kind = u32_at(&c, 12).ok_or_else(short)?;
        let size = (raw_size & 0x7FFF_FFFF) as usize;
        let data = if raw_size & 0x8000_0000 != 0 {
            // Up to four bytes live in the offset field itself.
            data_off.to_le_bytes()[..size.min(4)].to_vec()
        } else if size == 0 {
            Vec::new()
        } else if size > MAX_VALUE {
            return Err(bad(format!("value {name:?} has {size} bytes of data")));
        } else {
            self.data(data_off, size, &name)?
        };
        Ok(Value { name, kind, data })
    }

    fn data(&self, off: u32, size: usize, name: &str) -> Result<Vec<u8>, HiveError> {
        let c = self.cell(off)?;
        if size > SEGMENT && self.minor >= 4 && c.get(..2) == Some(b"db".as_slice()) {
            let n = usize::from(u16_at(&c, 2).unwrap_or(0));
            let list = self.cell(u32_at(&c, 4).unwrap_or(NONE))?;
            let mut out = Vec::with_capacity(size);
            for i in 0..n {
                if out.len() >= size {
                    break;
                }
                let seg = u32_at(&list, i * 4)
                    .ok_or_else(|| bad(format!("big data of {name:?} is truncated")))?;
                let part = self.cell(seg)?;
                let take = part.len().min(SEGMENT).min(size - out.len());
                out.extend_from_slice(&part[..take]);
            }
            if out.len() < size {
                return Err(bad(format!("big data of {name:?} is shorter than {size}")));
            }
            return Ok(out);
        }
        match c.get(..size) {
            Some(d) => Ok(d.to_vec()),
            None => Err(bad(format!(
                "data of {name:?} is shorter than {size} bytes"
            ))),
        }
    }
}

/// Typed view of value data, as the registry API would return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `REG_DWORD` (and `REG_DWORD_BIG_ENDIAN`).
    Dword(u32),
    /// `REG_QWORD`.
    Qword(u64),
    /// `REG_SZ`, `REG_EXPAND_SZ`, `REG_LINK` (without the terminating NUL).
    Text(String),
    /// `REG_MULTI_SZ`.
    Multi(Vec<String>),
    /// Anything else, and numbers whose data has the wrong length.
    Bytes(Vec<u8>),
}

impl Data {
    /// Decodes `data` of type `kind`.
    pub fn decode(kind: u32, data: &[u8]) -> Data {
        match (kind, data.len()) {
            (kind::DWORD, 4) => {
                Data::Dword(u32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            (kind::DWORD_BE, 4) => {
                Data::Dword(u32::from_be_bytes([data[0], data[1], data[2], data[3]]))
            }
            (kind::QWORD, 8) => Data::Qword(u64_at(data, 0).unwrap_or(0)),
            (kind::SZ | kind::EXPAND_SZ | kind::LINK, _) => {
                let s = utf16_lossy(data);
                Data::Text(s.split('\0').next().unwrap_or("").to_string())
            }
            (kind::MULTI_SZ, _) => {
                let s = utf16_lossy(data);
                Data::Multi(
                    s.split('\0')
                        .take_while(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            }
            _ => Data::Bytes(data.to_vec()),
        }
    }

    /// The text a comparison sees: numbers in decimal, strings as they are, the strings of a
    /// multi-string one per line, bytes in lower-case hex.
    pub fn text(&self) -> String {
        match self {
            Data::Dword(n) => n.to_string(),
            Data::Qword(n) => n.to_string(),
            Data::Text(s) => s.clone(),
            Data::Multi(v) => v.join("\n"),
            Data::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
        }
    }

    /// The number, for DWORD and QWORD values.
    pub fn number(&self) -> Option<u64> {
        match self {
            Data::Dword(n) => Some(u64::from(*n)),
            Data::Qword(n) => Some(*n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
