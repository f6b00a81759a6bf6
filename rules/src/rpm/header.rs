//! The rpm header blob as the package database stores it.
//!
//! A blob is `il` (u32, big-endian: number of index entries), `dl` (u32: size of the data store),
//! `il` entries of 16 bytes (`tag`, `type`, `offset`, `count`, all big-endian) and the data store.
//! The database keeps headers without the lead and magic of a package file. Only the fields an
//! inventory needs are read; every offset and count is checked against the store, so a damaged or
//! hostile blob gives an error, never a panic or a read outside it.

use super::RpmPackage;

/// rpm's own limits (`hdrchkTags`, `hdrchkData`): no real header comes near them.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_INSTALLTIME: u32 = 1008;
const TAG_ARCH: u32 = 1022;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Reads the package identity from a header blob.
///
/// # Errors
/// A message saying what is wrong when the blob is truncated, out of bounds or lacks a name,
/// version or release.
pub(crate) fn parse(blob: &[u8]) -> Result<RpmPackage, String> {
    let il = be32(blob, 0).ok_or("header shorter than 8 bytes")? as usize;
    let dl = be32(blob, 4).ok_or("header shorter than 8 bytes")? as usize;
    if il == 0 || il > MAX_ENTRIES {
        return Err(format!("header has {il} index entries"));
    }
    if dl > MAX_DATA {
        return Err(format!("header data store of {dl} bytes"));
    }
    let store_at = 8 + il * 16;
    let store = blob
        .get(store_at..store_at + dl)
        .ok_or_else(|| format!("header of {} bytes is shorter than it says", blob.len()))?;
    let mut pkg = RpmPackage::default();
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(ty), Some(off), Some(count)) = (
            be32(blob, at),
            be32(blob, at + 4),
            be32(blob, at + 8),
            be32(blob, at + 12),
        ) else {
            return Err("truncated index entry".into());
        };
        let off = off as usize;
        match tag {
            TAG_NAME => pkg.name = string(store, ty, off)?,
            TAG_VERSION => pkg.version = string(store, ty, off)?,
            TAG_RELEASE => pkg.release = string(store, ty, off)?,
            TAG_ARCH => pkg.arch = Some(string(store, ty, off)?),
            TAG_EPOCH => pkg.epoch = Some(int32(store, ty, off, count)?),
            TAG_INSTALLTIME => pkg.install_time = Some(int32(store, ty, off, count)?),
            _ => {}
        }
    }
    if pkg.name.is_empty() || pkg.version.is_empty() || pkg.release.is_empty() {
        return Err("header lacks a name, version or release".into());
    }
    Ok(pkg)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(s))
}

/// The first string of a string entry: NUL-terminated inside the store.
fn string(store: &[u8], ty: u32, off: usize) -> Result<String, String> {
    if !matches!(ty, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
        return Err(format!("string tag of type {ty}"));
    }
    let rest = store
        .get(off..)
        .ok_or_else(|| format!("string at {off} outside the data store"))?;
    let end = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or("unterminated string in the header")?;
    Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn int32(store: &[u8], ty: u32, off: usize, count: u32) -> Result<u32, String> {
    if ty != TYPE_INT32 || count == 0 {
        return Err(format!("integer tag of type {ty} with {count} values"));
    }
    be32(store, off).ok_or_else(|| format!("integer at {off} outside the data store"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a header blob from (tag, type, data) entries, as rpm lays them out.
    pub(crate) fn blob(entries: &[(u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut store: Vec<u8> = Vec::new();
        for (tag, ty, data) in entries {
            if *ty == TYPE_INT32 {
                while !store.len().is_multiple_of(4) {
                    store.push(0);
                }
            }
            index.extend(tag.to_be_bytes());
            index.extend(ty.to_be_bytes());
            index.extend((store.len() as u32).to_be_bytes());
            index.extend(1u32.to_be_bytes());
            store.extend(data);
        }
        let mut out = (entries.len() as u32).to_be_bytes().to_vec();
        out.extend((store.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(store);
        out
    }

    pub(crate) fn nevra(n: &str, e: Option<u32>, v: &str, r: &str, a: Option<&str>) -> Vec<u8> {
        let s = |x: &str| {
            let mut b = x.as_bytes().to_vec();
            b.push(0);
            b
        };
        let mut e_ = vec![
            (TAG_NAME, TYPE_STRING, s(n)),
            (TAG_VERSION, TYPE_STRING, s(v)),
            (TAG_RELEASE, TYPE_STRING, s(r)),
        ];
        if let Some(e) = e {
            e_.push((TAG_EPOCH, TYPE_INT32, e.to_be_bytes().to_vec()));
        }
        if let Some(a) = a {
            e_.push((TAG_ARCH, TYPE_STRING, s(a)));
        }
        blob(&e_)
    }

    #[test]
    fn reads_the_identity() {
        let b = nevra("openssl", Some(1), "3.0.7", "24.el9", Some("x86_64"));
        let p = parse(&b).expect("parses");
        assert_eq!(
            (
                p.name.as_str(),
                p.epoch,
                p.version.as_str(),
                p.release.as_str()
            ),
            ("openssl", Some(1), "3.0.7", "24.el9")
        );
        assert_eq!(p.arch.as_deref(), Some("x86_64"));
        let p = parse(&nevra("gpg-pubkey", None, "fd431d51", "4ae0493b", None)).expect("parses");
        assert_eq!((p.epoch, p.arch), (None, None));
    }

    #[test]
    fn damaged_blobs_are_errors() {
        let good = nevra("bash", None, "5.1.8", "9.el9", Some("x86_64"));
        assert!(parse(&good[..good.len() - 1]).is_err(), "truncated store");
        assert!(parse(&[]).is_err());
        assert!(parse(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err(), "no entries");
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&0x0100_0000u32.to_be_bytes());
        assert!(parse(&huge).is_err());
        // An offset past the store.
        let mut far = good.clone();
        far[16..20].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
        assert!(parse(&far).is_err());
        // No NUL before the end of the store.
        let unterminated = blob(&[(TAG_NAME, TYPE_STRING, b"bash".to_vec())]);
        assert!(parse(&unterminated).is_err());
        // Missing version and release.
        assert!(parse(&blob(&[(TAG_NAME, TYPE_STRING, b"x\0".to_vec())])).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse(&b);
        }

        #[test]
        fn mutated_headers_never_panic(i in 0usize..120, v in proptest::num::u8::ANY) {
            let mut b = nevra("kernel", Some(0), "5.14.0", "427.el9", Some("x86_64"));
            let n = b.len();
            b[i % n] = v;
            let _ = parse(&b);
        }
    }
}
