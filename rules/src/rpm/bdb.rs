//! A read-only reader of the Berkeley DB hash files rpm used up to RHEL 8 (`/var/lib/rpm/Packages`).
//!
//! Only what rpm writes is understood: a hash database (meta page magic `0x061561`, hash versions
//! 8 to 10) without encryption or page checksums, in either byte order. Page 0 is the meta page
//! (page size, last page, `max_bucket`, and the `spares` table that maps a bucket to its first
//! page). Each bucket is a chain of hash pages (types 2 and 13): a 26-byte page header (`pgno` at 8,
//! `next_pgno` at 16, `entries` at 20, type at 25), then an array of `u16` item offsets, key and
//! value alternating. An item is either stored on the page (type 1, the bytes up to the previous
//! item) or off-page (type 3: page number and total length of a chain of overflow pages, type 7,
//! whose used length is the page header's `hf_offset` at 22). rpm's values are header blobs, nearly
//! always off-page.
//!
//! The file is hostile input: every page number, offset and length is checked, each page is read
//! at most once per walk (a chain that loops is an error) and a value is capped at rpm's header
//! limit.

/// rpm refuses headers larger than this (`hdrchkData`); no value of its database is larger.
const MAX_VALUE: usize = 256 << 20;
const PAGE_HEADER: usize = 26;

const HASH_MAGIC: u32 = 0x0006_1561;
const P_HASH_UNSORTED: u8 = 2;
const P_HASH: u8 = 13;
const P_OVERFLOW: u8 = 7;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

/// The hash database in a byte buffer.
struct Db<'a> {
    file: &'a [u8],
    page_size: usize,
    last_page: u32,
    swapped: bool,
}

/// Calls `each(key, value)` for every record of the hash database in `file`, bucket by bucket.
///
/// # Errors
/// A message naming the page when the file is not a supported hash database or is damaged.
pub(crate) fn visit(file: &[u8], mut each: impl FnMut(&[u8], &[u8])) -> Result<(), String> {
    let (db, max_bucket, spares) = open(file)?;
    let mut seen = vec![false; db.last_page as usize + 1];
    for bucket in 0..=max_bucket {
        let mut pgno = bucket_page(bucket, &spares)?;
        while pgno != 0 {
            let page = db.page(pgno, &mut seen)?;
            let kind = page[25];
            if kind != P_HASH && kind != P_HASH_UNSORTED {
                return Err(format!(
                    "page {pgno}: type {kind} where a hash page belongs"
                ));
            }
            let n = usize::from(db.u16(page, 20));
            if n % 2 != 0 || PAGE_HEADER + 2 * n > db.page_size {
                return Err(format!("page {pgno}: {n} entries"));
            }
            for pair in 0..n / 2 {
                let k = db.item(page, 2 * pair)?;
                let v = db.item(page, 2 * pair + 1)?;
                let key = db.resolve(page, k, &mut seen)?;
                let value = db.resolve(page, v, &mut seen)?;
                each(&key, &value);
            }
            pgno = db.u32(page, 16);
        }
    }
    Ok(())
}

/// Reads the meta page: the database, `max_bucket` and the spares table.
fn open(file: &[u8]) -> Result<(Db<'_>, u32, [u32; 32]), String> {
    if file.len() < 512 {
        return Err("not a Berkeley DB file: shorter than its meta page".into());
    }
    let le = u32::from_le_bytes([file[12], file[13], file[14], file[15]]);
    let swapped = match le {
        HASH_MAGIC => false,
        m if m.swap_bytes() == HASH_MAGIC => true,
        _ => return Err("not a Berkeley DB hash database (bad magic)".into()),
    };
    let db0 = Db {
        file,
        page_size: 512,
        last_page: 0,
        swapped,
    };
    let version = db0.u32(file, 16);
    if !(8..=10).contains(&version) {
        return Err(format!("unsupported Berkeley DB hash version {version}"));
    }
    let page_size = db0.u32(file, 20) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(format!("bad page size {page_size}"));
    }
    if file[24] != 0 {
        return Err("encrypted Berkeley DB databases are not supported".into());
    }
    if file[26] & 0x01 != 0 {
        return Err("Berkeley DB databases with page checksums are not supported".into());
    }
    let last_page = db0.u32(file, 32);
    let pages_in_file = file.len() / page_size;
    if last_page as usize >= pages_in_file {
        return Err(format!(
            "meta page names page {last_page} but the file holds {pages_in_file} pages"
        ));
    }
    let max_bucket = db0.u32(file, 72);
    if max_bucket > last_page {
        return Err(format!("{max_bucket} buckets in {last_page} pages"));
    }
    let mut spares = [0u32; 32];
    for (i, s) in spares.iter_mut().enumerate() {
        *s = db0.u32(file, 96 + 4 * i);
    }
    let db = Db {
        page_size,
        last_page,
        ..db0
    };
    Ok((db, max_bucket, spares))
}

/// The first page of a bucket: `bucket + spares[number of bits of bucket]`.
fn bucket_page(bucket: u32, spares: &[u32; 32]) -> Result<u32, String> {
    let bits = (u32::BITS - bucket.leading_zeros()) as usize;
    spares
        .get(bits)
        .and_then(|s| bucket.checked_add(*s))
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("bucket {bucket} has no page"))
}

/// Where an item lies on its page.
#[derive(Clone, Copy)]
struct Item {
    at: usize,
    len: usize,
}

impl Db<'_> {
    fn u16(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.swapped {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.swapped {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    /// Page `pgno`, which must not have been read before in this walk.
    fn page(&self, pgno: u32, seen: &mut [bool]) -> Result<&[u8], String> {
        let slot = seen
            .get_mut(pgno as usize)
            .ok_or_else(|| format!("page {pgno} is past the last page {}", self.last_page))?;
        if std::mem::replace(slot, true) {
            return Err(format!("page {pgno} is linked twice (a loop)"));
        }
        let at = pgno as usize * self.page_size;
        let page = &self.file[at..at + self.page_size];
        if self.u32(page, 8) != pgno {
            return Err(format!("page {pgno} says it is page {}", self.u32(page, 8)));
        }
        Ok(page)
    }

    /// The item at index `i` of a hash page: it ends where the previous item starts.
    fn item(&self, page: &[u8], i: usize) -> Result<Item, String> {
        let off = |k: usize| usize::from(self.u16(page, PAGE_HEADER + 2 * k));
        let at = off(i);
        let end = if i == 0 { self.page_size } else { off(i - 1) };
        let min = PAGE_HEADER + 2 * usize::from(self.u16(page, 20));
        if at < min || at >= end || end > self.page_size {
            return Err(format!(
                "page {}: item {i} at {at}..{end} is outside the page",
                self.u32(page, 8)
            ));
        }
        Ok(Item { at, len: end - at })
    }

    /// The bytes of an item: on the page, or gathered from its overflow chain.
    fn resolve(&self, page: &[u8], it: Item, seen: &mut [bool]) -> Result<Vec<u8>, String> {
        let bytes = &page[it.at..it.at + it.len];
        match bytes[0] {
            H_KEYDATA => Ok(bytes[1..].to_vec()),
            H_OFFPAGE if it.len >= 12 => {
                let first = self.u32(bytes, 4);
                let total = self.u32(bytes, 8) as usize;
                self.overflow(first, total, seen)
            }
            t => Err(format!(
                "page {}: item of type {t} (duplicates are not used by rpm)",
                self.u32(page, 8)
            )),
        }
    }

    fn overflow(&self, mut pgno: u32, total: usize, seen: &mut [bool]) -> Result<Vec<u8>, String> {
        if total == 0 || total > MAX_VALUE {
            return Err(format!("overflow item of {total} bytes"));
        }
        let mut out = Vec::with_capacity(total.min(self.page_size * 64));
        while out.len() < total {
            if pgno == 0 {
                return Err(format!(
                    "overflow chain ends after {} of {total} bytes",
                    out.len()
                ));
            }
            let page = self.page(pgno, seen)?;
            if page[25] != P_OVERFLOW {
                return Err(format!(
                    "page {pgno}: type {} in an overflow chain",
                    page[25]
                ));
            }
            let used = usize::from(self.u16(page, 22));
            if PAGE_HEADER + used > self.page_size || out.len() + used > total || used == 0 {
                return Err(format!("page {pgno}: overflow length {used}"));
            }
            out.extend_from_slice(&page[PAGE_HEADER..PAGE_HEADER + used]);
            pgno = self.u32(page, 16);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny hand-made database: meta page, one bucket page holding one on-page record and one
    /// whose value spans two overflow pages.
    fn sample(swapped: bool) -> Vec<u8> {
        let ps = 512usize;
        let mut f = vec![0u8; ps * 4];
        let put16 = |f: &mut Vec<u8>, at: usize, v: u16| {
            let b = if swapped {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            f[at..at + 2].copy_from_slice(&b);
        };
        let put32 = |f: &mut Vec<u8>, at: usize, v: u32| {
            let b = if swapped {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            f[at..at + 4].copy_from_slice(&b);
        };
        put32(&mut f, 12, HASH_MAGIC);
        put32(&mut f, 16, 9);
        put32(&mut f, 20, ps as u32);
        put32(&mut f, 32, 3);
        put32(&mut f, 72, 0);
        put32(&mut f, 96, 1);
        // Page 1: bucket 0.
        let p = ps;
        put32(&mut f, p + 8, 1);
        f[p + 25] = P_HASH;
        put16(&mut f, p + 20, 4);
        // Items from the end of the page down: key1, val1, key2, val2 (offpage).
        let k1 = ps - 5;
        f[p + k1] = H_KEYDATA;
        f[p + k1 + 1..p + k1 + 5].copy_from_slice(b"abcd");
        let v1 = k1 - 4;
        f[p + v1] = H_KEYDATA;
        f[p + v1 + 1..p + v1 + 4].copy_from_slice(b"one");
        let k2 = v1 - 5;
        f[p + k2] = H_KEYDATA;
        f[p + k2 + 1..p + k2 + 5].copy_from_slice(b"efgh");
        let v2 = k2 - 12;
        f[p + v2] = H_OFFPAGE;
        put32(&mut f, p + v2 + 4, 2);
        put32(&mut f, p + v2 + 8, 600);
        for (i, o) in [k1, v1, k2, v2].into_iter().enumerate() {
            put16(&mut f, p + PAGE_HEADER + 2 * i, o as u16);
        }
        // Pages 2 and 3: 486 + 114 bytes of 'x'.
        for (pg, used, next) in [(2u32, 486u16, 3u32), (3, 114, 0)] {
            let o = pg as usize * ps;
            put32(&mut f, o + 8, pg);
            put32(&mut f, o + 16, next);
            put16(&mut f, o + 22, used);
            f[o + 25] = P_OVERFLOW;
            for b in &mut f[o + PAGE_HEADER..o + PAGE_HEADER + usize::from(used)] {
                *b = b'x';
            }
        }
        f
    }

    type Records = Vec<(Vec<u8>, Vec<u8>)>;

    fn records(f: &[u8]) -> Result<Records, String> {
        let mut out = Vec::new();
        visit(f, |k, v| out.push((k.to_vec(), v.to_vec())))?;
        Ok(out)
    }

    #[test]
    fn reads_on_page_and_overflow_items_in_both_byte_orders() {
        for swapped in [false, true] {
            let r = records(&sample(swapped)).expect("reads");
            assert_eq!(r.len(), 2);
            assert_eq!(
                (r[0].0.as_slice(), r[0].1.as_slice()),
                (&b"abcd"[..], &b"one"[..])
            );
            assert_eq!(r[1].0, b"efgh");
            assert_eq!(r[1].1, vec![b'x'; 600]);
        }
    }

    #[test]
    fn damage_is_reported_not_followed() {
        let good = sample(false);
        let mut looped = good.clone();
        looped[3 * 512 + 16..3 * 512 + 20].copy_from_slice(&2u32.to_le_bytes());
        looped[3 * 512 + 22..3 * 512 + 24].copy_from_slice(&100u16.to_le_bytes());
        assert!(records(&looped).expect_err("loop").contains("twice"));
        let mut short = good.clone();
        short.truncate(3 * 512);
        assert!(records(&short).is_err());
        let mut magic = good.clone();
        magic[12] = 0;
        assert!(records(&magic).expect_err("magic").contains("magic"));
        let mut chk = good.clone();
        chk[26] = 1;
        assert!(records(&chk).expect_err("checksums").contains("checksums"));
        assert!(records(&[]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn mutated_databases_never_panic(i in 0usize..2048, v in proptest::num::u8::ANY, swapped in proptest::bool::ANY) {
            let mut f = sample(swapped);
            let n = f.len();
            f[i % n] = v;
            let _ = records(&f);
        }

        #[test]
        fn arbitrary_files_never_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..2100)) {
            let _ = records(&b);
        }
    }
}
