//! A small writer of registry hive files, for test fixtures and benchmarks.
//!
//! It writes what the parser of [`super`] reads and what Windows tools expect of a primary file:
//! a base block with its checksum, hive bins of whole 4 KiB pages, a shared security cell, key
//! nodes with sorted `lh` subkey lists (or `lf`, `li`, and `ri` index roots when asked, so every
//! list form is exercised), value lists, inline data of up to four bytes, and big-data (`db`)
//! records for values longer than 16,344 bytes. Fixtures are built from `.reg` text ([`super::reg`])
//! at test time, so no binary hive is committed.

use super::{BASE_BLOCK, checksum, name_hash};

/// A key with its values and subkeys, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyTree {
    /// Key name.
    pub name: String,
    /// Values: name, type, raw data.
    pub values: Vec<(String, u32, Vec<u8>)>,
    /// Subkeys.
    pub subkeys: Vec<KeyTree>,
}

impl KeyTree {
    /// An empty key.
    pub fn new(name: &str) -> KeyTree {
        KeyTree {
            name: name.to_string(),
            ..KeyTree::default()
        }
    }

    /// The subkey at a `\`-separated path, created with its parents when missing
    /// (case-insensitive).
    pub fn key_mut(&mut self, path: &str) -> &mut KeyTree {
        let mut k = self;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            // From the end: `.reg` text names the key it just created again for each value.
            let i = match k
                .subkeys
                .iter()
                .rposition(|s| super::same_name(&s.name, part))
            {
                Some(i) => i,
                None => {
                    k.subkeys.push(KeyTree::new(part));
                    k.subkeys.len() - 1
                }
            };
            k = &mut k.subkeys[i];
        }
        k
    }

    /// The subkey at a path, if present.
    pub fn get(&self, path: &str) -> Option<&KeyTree> {
        let mut k = self;
        for part in path.split('\\').filter(|p| !p.is_empty()) {
            k = k.subkeys.iter().find(|s| super::same_name(&s.name, part))?;
        }
        Some(k)
    }

    /// Sets (or replaces) a value of this key.
    pub fn set(&mut self, name: &str, kind: u32, data: Vec<u8>) {
        match self
            .values
            .iter_mut()
            .find(|v| super::same_name(&v.0, name))
        {
            Some(v) => {
                v.1 = kind;
                v.2 = data;
            }
            None => self.values.push((name.to_string(), kind, data)),
        }
    }

    /// Removes a value; true when it existed.
    pub fn unset(&mut self, name: &str) -> bool {
        let before = self.values.len();
        self.values.retain(|v| !super::same_name(&v.0, name));
        self.values.len() != before
    }

    /// Removes the subkey at a path; true when it existed.
    pub fn remove(&mut self, path: &str) -> bool {
        let (parent, last) = match path.trim_matches('\\').rsplit_once('\\') {
            Some((p, l)) => (p, l),
            None => ("", path.trim_matches('\\')),
        };
        let mut k = self;
        for part in parent.split('\\').filter(|p| !p.is_empty()) {
            match k
                .subkeys
                .iter_mut()
                .find(|s| super::same_name(&s.name, part))
            {
                Some(s) => k = s,
                None => return false,
            }
        }
        let before = k.subkeys.len();
        k.subkeys.retain(|s| !super::same_name(&s.name, last));
        k.subkeys.len() != before
    }
}

/// Which subkey-list record the writer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListKind {
    /// Hash leaf (`lh`), as Windows XP and later write.
    #[default]
    Hash,
    /// Fast leaf (`lf`) with four-character name hints.
    Fast,
    /// Index leaf (`li`), offsets only.
    Index,
}

/// Choices of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Leaf record for subkey lists.
    pub list: ListKind,
    /// Split subkey lists longer than this into leaves under an index root (`ri`).
    pub max_leaf: usize,
    /// Minor version written in the base block (5 for Windows XP and later).
    pub minor: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            list: ListKind::Hash,
            max_leaf: 1024,
            minor: 5,
        }
    }
}

/// A fixed last-written time (2026-01-01T00:00:00Z), so fixtures are byte-for-byte repeatable.
const STAMP: u64 = 134_115_552_000_000_000;

/// Writes `root` as a hive with the default options.
pub fn write_hive(root: &KeyTree) -> Vec<u8> {
    write_hive_with(root, Options::default())
}

/// Writes `root` as a hive.
pub fn write_hive_with(root: &KeyTree, opts: Options) -> Vec<u8> {
    let mut w = Writer {
        bins: Vec::new(),
        opts,
        sk: 0,
        keys: 0,
    };
    w.sk = w.alloc(&security_cell());
    let root_off = w.key(root, 0xFFFF_FFFF, true);
    // Every key refers to the one security cell.
    let refs = w.keys;
    w.patch(w.sk + 12, refs);
    // Close the bin: pad to whole pages with one free cell (a positive size).
    let used = w.bins.len();
    let total = (used + 8).div_ceil(4096) * 4096;
    let free = total - used;
    w.bins.extend_from_slice(&(free as i32).to_le_bytes());
    w.bins.resize(total, 0);
    let mut out = base_block(root_off, total as u32, opts.minor);
    let mut hbin = vec![0u8; 32];
    hbin[..4].copy_from_slice(b"hbin");
    hbin[8..12].copy_from_slice(&(total as u32).to_le_bytes());
    hbin[20..28].copy_from_slice(&STAMP.to_le_bytes());
    // The hbin header is part of the bins data: cells start 32 bytes in.
    w.bins[..32].copy_from_slice(&hbin);
    out.extend_from_slice(&w.bins);
    out
}

fn base_block(root: u32, bins: u32, minor: u32) -> Vec<u8> {
    let mut b = vec![0u8; BASE_BLOCK as usize];
    b[..4].copy_from_slice(b"regf");
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    b[12..20].copy_from_slice(&STAMP.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..28].copy_from_slice(&minor.to_le_bytes());
    b[32..36].copy_from_slice(&1u32.to_le_bytes());
    b[36..40].copy_from_slice(&root.to_le_bytes());
    b[40..44].copy_from_slice(&bins.to_le_bytes());
    b[44..48].copy_from_slice(&1u32.to_le_bytes());
    for (i, u) in "vigil-fixture".encode_utf16().enumerate() {
        b[48 + i * 2..50 + i * 2].copy_from_slice(&u.to_le_bytes());
    }
    let sum = checksum(&b);
    b[508..512].copy_from_slice(&sum.to_le_bytes());
    b
}

/// A self-relative security descriptor: owner and group Administrators, a DACL giving
/// Administrators and SYSTEM full control.
fn security_cell() -> Vec<u8> {
    let sid = |rid: &[u32]| {
        let mut s = vec![1u8, rid.len() as u8, 0, 0, 0, 0, 0, 5];
        for r in rid {
            s.extend_from_slice(&r.to_le_bytes());
        }
        s
    };
    let admins = sid(&[32, 544]);
    let system = sid(&[18]);
    let ace = |who: &[u8]| {
        let mut a = vec![0u8, 0];
        a.extend_from_slice(&((8 + who.len()) as u16).to_le_bytes());
        a.extend_from_slice(&0x000F_003Fu32.to_le_bytes());
        a.extend_from_slice(who);
        a
    };
    let aces = [ace(&admins), ace(&system)].concat();
    let mut dacl = vec![2u8, 0];
    dacl.extend_from_slice(&((8 + aces.len()) as u16).to_le_bytes());
    dacl.extend_from_slice(&2u16.to_le_bytes());
    dacl.extend_from_slice(&0u16.to_le_bytes());
    dacl.extend_from_slice(&aces);
    let owner_at = 20u32;
    let group_at = owner_at + admins.len() as u32;
    let dacl_at = group_at + admins.len() as u32;
    let mut sd = vec![1u8, 0];
    sd.extend_from_slice(&0x8004u16.to_le_bytes());
    for v in [owner_at, group_at, 0, dacl_at] {
        sd.extend_from_slice(&v.to_le_bytes());
    }
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&admins);
    sd.extend_from_slice(&dacl);
    let mut cell = b"sk\0\0".to_vec();
    // Flink and blink point at this cell (the list of security cells has one entry); the
    // writer allocates it first, right after the hbin header.
    cell.extend_from_slice(&32u32.to_le_bytes());
    cell.extend_from_slice(&32u32.to_le_bytes());
    cell.extend_from_slice(&0u32.to_le_bytes());
    cell.extend_from_slice(&(sd.len() as u32).to_le_bytes());
    cell.extend_from_slice(&sd);
    cell
}

struct Writer {
    /// The hive bins data (one bin), starting with room for its 32-byte header.
    bins: Vec<u8>,
    opts: Options,
    sk: u32,
    keys: u32,
}

impl Writer {
    /// Appends an allocated cell holding `data`; returns its offset in the bins data.
    fn alloc(&mut self, data: &[u8]) -> u32 {
        if self.bins.is_empty() {
            self.bins.resize(32, 0);
        }
        let off = self.bins.len() as u32;
        let size = (data.len() + 4).div_ceil(8) * 8;
        self.bins.extend_from_slice(&(-(size as i32)).to_le_bytes());
        self.bins.extend_from_slice(data);
        self.bins.resize(off as usize + size, 0);
        off
    }

    /// Overwrites the u32 at `at`: a cell's offset plus the offset of a field in its data.
    fn patch(&mut self, at: u32, v: u32) {
        let i = at as usize + 4;
        self.bins[i..i + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn key(&mut self, k: &KeyTree, parent: u32, root: bool) -> u32 {
        self.keys += 1;
        let (name, compressed) = encode_name(&k.name);
        let mut nk = vec![0u8; 76];
        nk[..2].copy_from_slice(b"nk");
        let mut flags: u16 = if compressed { 0x20 } else { 0 };
        if root {
            flags |= 0x0C;
        }
        nk[2..4].copy_from_slice(&flags.to_le_bytes());
        nk[4..12].copy_from_slice(&STAMP.to_le_bytes());
        nk[16..20].copy_from_slice(&parent.to_le_bytes());
        nk[32..36].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        nk[44..48].copy_from_slice(&self.sk.to_le_bytes());
        nk[48..52].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        nk[72..74].copy_from_slice(&(name.len() as u16).to_le_bytes());
        nk.extend_from_slice(&name);
        let off = self.alloc(&nk);

        let (values, value_list, max_vname, max_vdata) = self.values(&k.values);
        let mut children: Vec<(String, u32)> = k
            .subkeys
            .iter()
            .map(|s| (s.name.clone(), self.key(s, off, false)))
            .collect();
        children.sort_by_key(|(n, _)| super::upper(n));
        let list = self.subkey_list(&children);
        let max_sub = k
            .subkeys
            .iter()
            .map(|s| s.name.encode_utf16().count() * 2)
            .max()
            .unwrap_or(0) as u32;
        for (field, v) in [
            (20, children.len() as u32),
            (28, list),
            (36, values),
            (40, value_list),
            (52, max_sub),
            (60, max_vname),
            (64, max_vdata),
        ] {
            self.patch(off + field, v);
        }
        off
    }

    /// Writes the values; returns (count, list offset, longest name, largest data).
    fn values(&mut self, values: &[(String, u32, Vec<u8>)]) -> (u32, u32, u32, u32) {
        if values.is_empty() {
            return (0, 0xFFFF_FFFF, 0, 0);
        }
        let mut offs = Vec::new();
        let (mut max_name, mut max_data) = (0u32, 0u32);
        for (name, kind, data) in values {
            let (raw, compressed) = encode_name(name);
            max_name = max_name.max(name.encode_utf16().count() as u32 * 2);
            max_data = max_data.max(data.len() as u32);
            let (size, data_off) = if data.len() <= 4 {
                let mut inline = [0u8; 4];
                inline[..data.len()].copy_from_slice(data);
                (data.len() as u32 | 0x8000_0000, u32::from_le_bytes(inline))
            } else if data.len() > super::SEGMENT {
                (data.len() as u32, self.big_data(data))
            } else {
                (data.len() as u32, self.alloc(data))
            };
            let mut vk = b"vk".to_vec();
            vk.extend_from_slice(&(raw.len() as u16).to_le_bytes());
            vk.extend_from_slice(&size.to_le_bytes());
            vk.extend_from_slice(&data_off.to_le_bytes());
            vk.extend_from_slice(&kind.to_le_bytes());
            vk.extend_from_slice(&u16::from(compressed).to_le_bytes());
            vk.extend_from_slice(&0u16.to_le_bytes());
            vk.extend_from_slice(&raw);
            offs.push(self.alloc(&vk));
        }
        let list: Vec<u8> = offs.iter().flat_map(|o| o.to_le_bytes()).collect();
        (offs.len() as u32, self.alloc(&list), max_name, max_data)
    }

    fn big_data(&mut self, data: &[u8]) -> u32 {
        let segs: Vec<u32> = data.chunks(super::SEGMENT).map(|c| self.alloc(c)).collect();
        let list: Vec<u8> = segs.iter().flat_map(|o| o.to_le_bytes()).collect();
        let list_off = self.alloc(&list);
        let mut db = b"db".to_vec();
        db.extend_from_slice(&(segs.len() as u16).to_le_bytes());
        db.extend_from_slice(&list_off.to_le_bytes());
        self.alloc(&db)
    }

    fn subkey_list(&mut self, children: &[(String, u32)]) -> u32 {
        if children.is_empty() {
            return 0xFFFF_FFFF;
        }
        let leaves: Vec<u32> = children
            .chunks(self.opts.max_leaf.max(1))
            .map(|part| self.leaf(part))
            .collect();
        if leaves.len() == 1 {
            return leaves[0];
        }
        let mut ri = b"ri".to_vec();
        ri.extend_from_slice(&(leaves.len() as u16).to_le_bytes());
        for l in leaves {
            ri.extend_from_slice(&l.to_le_bytes());
        }
        self.alloc(&ri)
    }

    fn leaf(&mut self, part: &[(String, u32)]) -> u32 {
        let sig: &[u8] = match self.opts.list {
            ListKind::Hash => b"lh",
            ListKind::Fast => b"lf",
            ListKind::Index => b"li",
        };
        let mut c = sig.to_vec();
        c.extend_from_slice(&(part.len() as u16).to_le_bytes());
        for (name, off) in part {
            c.extend_from_slice(&off.to_le_bytes());
            match self.opts.list {
                ListKind::Hash => c.extend_from_slice(&name_hash(name).to_le_bytes()),
                ListKind::Fast => {
                    let mut hint = [0u8; 4];
                    for (h, b) in hint.iter_mut().zip(name.bytes()) {
                        *h = b;
                    }
                    c.extend_from_slice(&hint);
                }
                ListKind::Index => {}
            }
        }
        self.alloc(&c)
    }
}

/// A name as stored: Latin-1 bytes when every character fits (flag set), else UTF-16LE.
fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if name.chars().all(|c| (c as u32) < 0x100) {
        (name.chars().map(|c| c as u8).collect(), true)
    } else {
        (
            name.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            false,
        )
    }
}

/// UTF-16LE bytes of a string with its terminating NUL, as `REG_SZ` data.
pub fn sz(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// `REG_MULTI_SZ` data: each string NUL-terminated, then an empty string.
pub fn multi_sz(items: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in items {
        out.extend(sz(s));
    }
    out.extend_from_slice(&[0, 0]);
    out
}
