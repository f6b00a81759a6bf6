//! Compact in-memory store of baseline entries, sorted by path.
//!
//! A baseline of a system tree holds a few hundred thousand entries; as a map of owned paths and
//! structs it costs about 300 bytes each, so the agent kept most of its memory here. [`Entries`]
//! instead keeps the entries in the encoding of the baseline file (path as the length shared with
//! the previous one plus the rest, numbers as LEB128 varints, about 65 bytes per entry) in one
//! buffer, cut into blocks of [`BLOCK`] entries whose first path is stored whole. A lookup binary
//! searches the blocks by their first path, then decodes at most one block. The store is
//! immutable and shared behind an `Arc` (a scan running on another thread keeps its snapshot);
//! [`Entries::apply`] rebuilds it with a batch of changes in one merge pass.
//!
//! Everything here is built by [`EntriesBuilder`], which refuses out-of-order paths, so decoding
//! our own buffer cannot fail; the decoder still returns errors rather than panicking, and a
//! cursor that meets one simply ends.

use std::fmt;
use std::sync::Arc;

use vigil_proto::FileType;

use super::FimError;
use super::config::is_under;
use super::entry::{Entry, Timestamp};

/// Entries per block: a lookup decodes at most this many.
pub const BLOCK: usize = 16;

/// Baseline entries sorted by host path (bytes). Cloning is cheap (a shared snapshot).
#[derive(Clone, Default)]
pub struct Entries {
    inner: Arc<Blocks>,
}

#[derive(Default)]
struct Blocks {
    /// Encoded entries; each block starts with a whole path (shared prefix 0).
    data: Vec<u8>,
    /// Offset in `data` of each block.
    starts: Vec<usize>,
    /// Number of entries.
    len: usize,
}

impl Entries {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Bytes of memory held (for diagnostics and tests).
    pub fn heap_bytes(&self) -> usize {
        self.inner.data.capacity() + self.inner.starts.capacity() * size_of::<usize>()
    }

    /// The entry of `path`.
    pub fn get(&self, path: &[u8]) -> Option<Entry> {
        self.find(path).map(|(_, e)| e)
    }

    /// Whether `path` has an entry.
    pub fn contains(&self, path: &[u8]) -> bool {
        self.find(path).is_some()
    }

    /// The entry of `path` with its ordinal (position in path order, `0..len()`).
    pub fn find(&self, path: &[u8]) -> Option<(usize, Entry)> {
        let c = self.seek(path);
        (c.valid() && c.path() == path).then(|| (c.ordinal(), c.entry().clone()))
    }

    /// A cursor on the first entry whose path is `>= from` (invalid when there is none).
    pub fn seek(&self, from: &[u8]) -> Cursor<'_> {
        let b = &*self.inner;
        // The last block whose first path is <= `from`; entries before it are all smaller.
        let k = b
            .starts
            .partition_point(|&s| first_path(&b.data, s).is_some_and(|p| p <= from));
        let mut c = Cursor::at_block(b, k.saturating_sub(1));
        // Skip what is smaller than `from`: at most one block.
        while c.valid() && c.path() < from {
            c.advance();
        }
        c
    }

    /// A cursor on the first entry.
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor::at_block(&self.inner, 0)
    }

    /// All entries in path order, owned (allocates per entry; prefer [`Entries::cursor`]).
    pub fn iter(&self) -> impl Iterator<Item = (Vec<u8>, Entry)> + '_ {
        let mut c = self.cursor();
        std::iter::from_fn(move || {
            let item = c.valid().then(|| (c.path().to_vec(), c.entry().clone()));
            c.advance();
            item
        })
    }

    /// Calls `f(ordinal, path, entry)` for every entry at or below host path `root`, in order.
    pub fn for_each_under(&self, root: &[u8], mut f: impl FnMut(usize, &[u8], &Entry)) {
        let mut c = self.seek(root);
        while c.valid() && c.path().starts_with(root) {
            if is_under(c.path(), root) {
                f(c.ordinal(), c.path(), c.entry());
            }
            c.advance();
        }
    }

    /// Rebuilds with `changes` applied: `Some` inserts or replaces, `None` removes. Later
    /// changes of the same path win. One merge pass over the store.
    pub fn apply(&mut self, changes: impl IntoIterator<Item = (Vec<u8>, Option<Entry>)>) {
        let mut changes: Vec<(Vec<u8>, Option<Entry>)> = changes.into_iter().collect();
        if changes.is_empty() {
            return;
        }
        // Stable sort keeps the order of repeated paths; the last one is kept below.
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut b = EntriesBuilder::with_capacity(self.inner.data.len());
        let mut c = self.cursor();
        let mut i = 0;
        while i < changes.len() {
            // The last change of this path.
            let mut j = i;
            while j + 1 < changes.len() && changes[j + 1].0 == changes[i].0 {
                j += 1;
            }
            let (path, new) = &changes[j];
            while c.valid() && c.path() < path.as_slice() {
                b.push_unchecked(c.path(), c.entry());
                c.advance();
            }
            if c.valid() && c.path() == path.as_slice() {
                c.advance();
            }
            if let Some(e) = new {
                b.push_unchecked(path, e);
            }
            i = j + 1;
        }
        while c.valid() {
            b.push_unchecked(c.path(), c.entry());
            c.advance();
        }
        *self = b.finish();
    }

    /// Keeps only the entries for which `keep(path)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut b = EntriesBuilder::with_capacity(self.inner.data.len());
        let mut c = self.cursor();
        while c.valid() {
            if keep(c.path()) {
                b.push_unchecked(c.path(), c.entry());
            }
            c.advance();
        }
        *self = b.finish();
    }
}

impl PartialEq for Entries {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (mut a, mut b) = (self.cursor(), other.cursor());
        loop {
            match (a.valid(), b.valid()) {
                (false, false) => return true,
                (true, true) if a.path() == b.path() && a.entry() == b.entry() => {}
                _ => return false,
            }
            a.advance();
            b.advance();
        }
    }
}

impl Eq for Entries {}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        let mut c = self.cursor();
        while c.valid() {
            m.entry(&String::from_utf8_lossy(c.path()), c.entry());
            c.advance();
        }
        m.finish()
    }
}

impl FromIterator<(Vec<u8>, Entry)> for Entries {
    /// Sorts; of repeated paths the last one wins.
    fn from_iter<I: IntoIterator<Item = (Vec<u8>, Entry)>>(iter: I) -> Self {
        let mut v: Vec<(Vec<u8>, Entry)> = iter.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut b = EntriesBuilder::default();
        for (i, (p, e)) in v.iter().enumerate() {
            if v.get(i + 1).is_some_and(|n| n.0 == *p) {
                continue;
            }
            b.push_unchecked(p, e);
        }
        b.finish()
    }
}

/// Builds [`Entries`] from entries given in strictly increasing path order.
#[derive(Default)]
pub struct EntriesBuilder {
    data: Vec<u8>,
    starts: Vec<usize>,
    len: usize,
    prev: Vec<u8>,
}

impl EntriesBuilder {
    /// A builder expecting about `bytes` of encoded entries.
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            data: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Appends an entry.
    ///
    /// # Errors
    /// [`FimError::Corrupt`] when `path` does not sort strictly after the previous one.
    pub fn push(&mut self, path: &[u8], e: &Entry) -> Result<(), FimError> {
        if self.len > 0 && path <= self.prev.as_slice() {
            return Err(FimError::Corrupt("paths out of order".into()));
        }
        self.push_unchecked(path, e);
        Ok(())
    }

    /// Appends an entry the caller knows to be in order (from another sorted store).
    fn push_unchecked(&mut self, path: &[u8], e: &Entry) {
        debug_assert!(self.len == 0 || path > self.prev.as_slice());
        if self.len.is_multiple_of(BLOCK) {
            self.starts.push(self.data.len());
            self.prev.clear();
        }
        encode_entry(&mut self.data, &self.prev, path, e);
        self.prev.clear();
        self.prev.extend_from_slice(path);
        self.len += 1;
    }

    /// The finished store (memory trimmed to size).
    pub fn finish(mut self) -> Entries {
        self.data.shrink_to_fit();
        self.starts.shrink_to_fit();
        Entries {
            inner: Arc::new(Blocks {
                data: self.data,
                starts: self.starts,
                len: self.len,
            }),
        }
    }
}

/// Collects entries arriving in any order from several threads (one part per thread, so the
/// locks are uncontended), each encoded whole; [`EntriesCollector::finish`] sorts them into an
/// [`Entries`]. This keeps a scan's output at about 130 bytes per entry instead of an owned path
/// and struct each.
pub struct EntriesCollector {
    parts: Vec<std::sync::Mutex<Vec<u8>>>,
}

impl EntriesCollector {
    /// A collector with `parts` independent buffers.
    pub fn new(parts: usize) -> Self {
        Self {
            parts: (0..parts.max(1))
                .map(|_| std::sync::Mutex::new(Vec::new()))
                .collect(),
        }
    }

    /// Adds an entry to buffer `part` (taken modulo the number of parts).
    pub fn add(&self, part: usize, path: &[u8], e: &Entry) {
        let slot = &self.parts[part % self.parts.len()];
        // A panic while holding the lock leaves at worst a truncated record at the end, which
        // `finish` drops.
        let mut buf = slot.lock().unwrap_or_else(|p| p.into_inner());
        encode_entry(&mut buf, b"", path, e);
    }

    /// Sorts everything into a store; of repeated paths (nested targets) one is kept.
    pub fn finish(self) -> Entries {
        let bufs: Vec<Vec<u8>> = self
            .parts
            .into_iter()
            .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut index: Vec<(usize, usize)> = Vec::new();
        let mut scratch = Vec::new();
        for (i, buf) in bufs.iter().enumerate() {
            let mut r = Reader { buf, pos: 0 };
            while r.pos < buf.len() {
                let at = r.pos;
                scratch.clear();
                if decode_entry(&mut r, &mut scratch).is_err() {
                    break;
                }
                index.push((i, at));
            }
        }
        let path_of = |&(i, at): &(usize, usize)| first_path(&bufs[i], at).unwrap_or_default();
        index.sort_by(|a, b| path_of(a).cmp(path_of(b)));
        let total: usize = bufs.iter().map(Vec::len).sum();
        let mut b = EntriesBuilder::with_capacity(total / 2);
        let mut path = Vec::new();
        for (n, rec) in index.iter().enumerate() {
            if n > 0 && path_of(&index[n - 1]) == path_of(rec) {
                continue;
            }
            let mut r = Reader {
                buf: &bufs[rec.0],
                pos: rec.1,
            };
            path.clear();
            if let Ok(e) = decode_entry(&mut r, &mut path) {
                b.push_unchecked(&path, &e);
            }
        }
        b.finish()
    }
}

/// A position in an [`Entries`]: read the current entry while [`Cursor::valid`], then
/// [`Cursor::advance`].
#[derive(Clone)]
pub struct Cursor<'a> {
    blocks: &'a Blocks,
    /// Offset of the next encoded entry.
    pos: usize,
    /// Ordinal of the next encoded entry.
    next: usize,
    valid: bool,
    path: Vec<u8>,
    entry: Entry,
}

impl<'a> Cursor<'a> {
    fn at_block(blocks: &'a Blocks, block: usize) -> Self {
        let mut c = Self {
            blocks,
            pos: blocks
                .starts
                .get(block)
                .copied()
                .unwrap_or(blocks.data.len()),
            next: block * BLOCK,
            valid: false,
            path: Vec::new(),
            entry: EMPTY,
        };
        c.advance();
        c
    }

    /// Whether the cursor is on an entry (false past the end).
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// Moves to the next entry.
    pub fn advance(&mut self) {
        self.valid = false;
        if self.pos >= self.blocks.data.len() || self.next >= self.blocks.len {
            return;
        }
        if self.next.is_multiple_of(BLOCK) {
            self.path.clear();
        }
        let mut r = Reader {
            buf: &self.blocks.data,
            pos: self.pos,
        };
        match decode_entry(&mut r, &mut self.path) {
            Ok(e) => {
                self.entry = e;
                self.pos = r.pos;
                self.next += 1;
                self.valid = true;
            }
            // Unreachable for a store built by `EntriesBuilder`; end rather than panic.
            Err(_) => self.pos = self.blocks.data.len(),
        }
    }

    /// Path of the current entry.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// The current entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Ordinal of the current entry (position in path order).
    pub fn ordinal(&self) -> usize {
        self.next.saturating_sub(1)
    }
}

const EMPTY: Entry = Entry {
    file_type: FileType::Other,
    size: 0,
    mode: 0,
    uid: 0,
    gid: 0,
    mtime: Timestamp { secs: 0, nanos: 0 },
    ctime: Timestamp { secs: 0, nanos: 0 },
    ino: 0,
    link_target: None,
    hash: None,
};

/// The whole path that starts the block at `start`.
fn first_path(data: &[u8], start: usize) -> Option<&[u8]> {
    let mut r = Reader {
        buf: data,
        pos: start,
    };
    (r.var().ok()? == 0).then_some(())?;
    r.bytes().ok()
}

// ---------------------------------------------------------------------------------------------
// Entry codec, shared with the baseline file.

/// Appends `e` at `path`, prefix-coded against `prev`.
pub(crate) fn encode_entry(out: &mut Vec<u8>, prev: &[u8], path: &[u8], e: &Entry) {
    let common = prev
        .iter()
        .zip(path.iter())
        .take_while(|(a, b)| a == b)
        .count();
    put_var(out, common as u64);
    put_bytes(out, &path[common..]);
    out.push(type_code(e.file_type));
    let flags = u8::from(e.hash.is_some()) | (u8::from(e.link_target.is_some()) << 1);
    out.push(flags);
    put_var(out, e.size);
    put_var(out, u64::from(e.mode));
    put_var(out, u64::from(e.uid));
    put_var(out, u64::from(e.gid));
    put_var(out, zigzag(e.mtime.secs));
    put_var(out, u64::from(e.mtime.nanos));
    put_var(out, zigzag(e.ctime.secs));
    put_var(out, u64::from(e.ctime.nanos));
    put_var(out, e.ino);
    if let Some(t) = &e.link_target {
        put_bytes(out, t);
    }
    if let Some(h) = &e.hash {
        out.extend_from_slice(h);
    }
}

/// Decodes one entry; `path` holds the previous path and is replaced by this one (only when the
/// entry decodes).
///
/// # Errors
/// [`FimError::Corrupt`] on truncated or invalid data.
pub(crate) fn decode_entry(r: &mut Reader<'_>, path: &mut Vec<u8>) -> Result<Entry, FimError> {
    let bad = |why: &str| FimError::Corrupt(why.to_string());
    let common = usize::try_from(r.var()?).map_err(|_| bad("bad prefix"))?;
    if common > path.len() {
        return Err(bad("bad path prefix"));
    }
    let rest = r.bytes()?;
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
    // `path` changes only on success: a caller reading a stream retries with more data.
    path.truncate(common);
    path.extend_from_slice(rest);
    Ok(Entry {
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
    })
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

pub(crate) fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The error of reading past the end of a [`Reader`]'s bytes (a stream reader then reads more).
pub(crate) const END_OF_DATA: &str = "unexpected end of data";

/// A bounds-checked reader over encoded bytes.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FimError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| FimError::Corrupt(END_OF_DATA.into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn byte(&mut self) -> Result<u8, FimError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FimError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub(crate) fn var(&mut self) -> Result<u64, FimError> {
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
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], FimError> {
        let n = usize::try_from(self.var()?)
            .map_err(|_| FimError::Corrupt("length out of range".into()))?;
        self.take(n)
    }
}

/// Receives every recorded path of a scan, from the worker threads (`worker` is the index of the
/// calling thread, `0..=threads`, so sinks can keep per-thread state).
pub trait EntrySink: Sync {
    /// One recorded path.
    fn entry(&self, worker: usize, path: &[u8], entry: Entry);
}

impl EntrySink for EntriesCollector {
    fn entry(&self, worker: usize, path: &[u8], entry: Entry) {
        self.add(worker, path, &entry);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn entry(i: u64) -> Entry {
        Entry {
            file_type: if i.is_multiple_of(3) {
                FileType::Symlink
            } else {
                FileType::File
            },
            size: i,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: Timestamp {
                secs: i as i64 - 5,
                nanos: 1,
            },
            ctime: Timestamp::default(),
            ino: i,
            link_target: i.is_multiple_of(3).then(|| vec![b'x'; (i % 7) as usize]),
            hash: (!i.is_multiple_of(3)).then_some([i as u8; 32]),
        }
    }

    fn path_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Short names over a small alphabet including '.', '/' and a high byte, so prefixes,
        // siblings sorting around '/' and non-UTF-8 names all occur.
        prop::collection::vec(prop::sample::select(b"ab./\xff".to_vec()), 0..6).prop_map(|mut v| {
            v.insert(0, b'/');
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// The store behaves like a `BTreeMap`: lookups, ordinals, ranges and batch updates.
        #[test]
        fn behaves_like_a_sorted_map(
            init in prop::collection::vec((path_strategy(), 0u64..50), 0..80),
            changes in prop::collection::vec((path_strategy(), prop::option::of(0u64..50)), 0..40),
            probes in prop::collection::vec(path_strategy(), 1..20),
        ) {
            let mut model: BTreeMap<Vec<u8>, Entry> =
                init.iter().map(|(p, i)| (p.clone(), entry(*i))).collect();
            let mut store: Entries = init.iter().map(|(p, i)| (p.clone(), entry(*i))).collect();
            prop_assert_eq!(store.len(), model.len());
            store.apply(changes.iter().map(|(p, i)| (p.clone(), i.map(entry))));
            for (p, i) in &changes {
                match i {
                    Some(i) => model.insert(p.clone(), entry(*i)),
                    None => model.remove(p),
                };
            }
            prop_assert_eq!(store.len(), model.len());
            let listed: Vec<(Vec<u8>, Entry)> = store.iter().collect();
            let want: Vec<(Vec<u8>, Entry)> =
                model.iter().map(|(p, e)| (p.clone(), e.clone())).collect();
            prop_assert_eq!(&listed, &want);
            for probe in &probes {
                let ordinal = model.keys().position(|k| k == probe);
                prop_assert_eq!(
                    store.find(probe),
                    ordinal.map(|o| (o, model[probe].clone()))
                );
                let mut under = Vec::new();
                store.for_each_under(probe, |o, p, e| under.push((o, p.to_vec(), e.clone())));
                let want_under: Vec<(usize, Vec<u8>, Entry)> = model
                    .iter()
                    .enumerate()
                    .filter(|(_, (k, _))| is_under(k, probe))
                    .map(|(o, (k, e))| (o, k.clone(), e.clone()))
                    .collect();
                prop_assert_eq!(under, want_under);
            }
        }
    }

    #[test]
    fn builder_refuses_unsorted_and_store_is_compact() {
        let mut b = EntriesBuilder::default();
        b.push(b"/b", &entry(1)).expect("first");
        assert!(b.push(b"/a", &entry(2)).is_err());
        assert!(b.push(b"/b", &entry(2)).is_err());
        let many: Entries = (0..10_000u64)
            .map(|i| {
                (
                    format!("/usr/lib/x86_64-linux-gnu/pkg{}/file{i}.so", i % 97).into_bytes(),
                    entry(i),
                )
            })
            .collect();
        assert_eq!(many.len(), 10_000);
        assert!(
            many.heap_bytes() < 10_000 * 80,
            "{} bytes",
            many.heap_bytes()
        );
    }
}
