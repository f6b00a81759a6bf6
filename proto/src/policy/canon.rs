//! The canonical byte form of a [`PolicyBundle`], the bytes the policy key signs.
//!
//! ```text
//! bundle   = magic version agency issued_at packs settings        (nothing may follow)
//! magic    = "VIGILPOL" 0x00 0x01                                 (10 bytes: name, format 1)
//! version  = u64                    issued_at = i64
//! agency   = str
//! packs    = u32 count, then count × (name:str version:str source:str), sorted strictly by
//!            name (byte order), so names are unique
//! settings = in this order, each `opt`:
//!            check_interval_s:u64  fim_paths:list  fim_exclude:list  netwatch_interval_s:u64
//!            inventory_interval_s:u64  storm_threshold:u64  spool_budget_bytes:u64
//!            agency_level:u8
//! opt(T)   = 0x00 (absent) | 0x01 T (present)
//! list     = u32 count, then count × str
//! str      = u32 byte length, then that many bytes of UTF-8
//! integers = big-endian, fixed width (i64 two's complement)
//! ```
//!
//! Every value has exactly one encoding: the decoder refuses unknown magic, option tags other
//! than 0 and 1, invalid UTF-8, packs out of order, trailing bytes, and anything beyond the caps
//! of [`crate::limits`], so `encode(decode(b)) == b` for every `b` it accepts. Claimed counts and
//! lengths are checked against the bytes left before anything is allocated.

use super::{PackSource, PolicyBundle, PolicyError, PolicySettings};
use crate::limits;

/// First bytes of every canonical bundle: the format's name and version 1. It also separates
/// the policy key's signatures from anything else the same key could be asked to sign.
pub(super) const MAGIC: &[u8; 10] = b"VIGILPOL\x00\x01";

/// Encodes a bundle in canonical form.
///
/// # Errors
/// [`PolicyError::Malformed`] when packs are not sorted by name or names repeat, and
/// [`PolicyError::TooLarge`] when a cap of [`crate::limits`] is broken, so the collector cannot
/// sign what every agent would refuse.
pub fn encode_bundle(b: &PolicyBundle) -> Result<Vec<u8>, PolicyError> {
    check_fields(b)?;
    let mut out = Vec::with_capacity(
        256 + b
            .packs
            .iter()
            .map(|p| p.source.len() + p.name.len() + 32)
            .sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&b.version.to_be_bytes());
    put_str(&mut out, &b.agency);
    out.extend_from_slice(&b.issued_at.to_be_bytes());
    put_len(&mut out, b.packs.len());
    for p in &b.packs {
        put_str(&mut out, &p.name);
        put_str(&mut out, &p.version);
        put_str(&mut out, &p.source);
    }
    let s = &b.settings;
    put_opt(&mut out, s.check_interval_s, put_u64);
    put_opt(&mut out, s.fim_paths.as_deref(), put_list);
    put_opt(&mut out, s.fim_exclude.as_deref(), put_list);
    put_opt(&mut out, s.netwatch_interval_s, put_u64);
    put_opt(&mut out, s.inventory_interval_s, put_u64);
    put_opt(&mut out, s.storm_threshold, put_u64);
    put_opt(&mut out, s.spool_budget_bytes, put_u64);
    put_opt(&mut out, s.agency_level, |o, v| o.push(v));
    if out.len() > limits::POLICY_BUNDLE {
        return Err(PolicyError::TooLarge(format!(
            "{} bytes encoded, at most {} allowed",
            out.len(),
            limits::POLICY_BUNDLE
        )));
    }
    Ok(out)
}

/// Decodes canonical bytes (after the signature was verified; the decoder is nevertheless safe
/// on any input).
///
/// # Errors
/// [`PolicyError::Malformed`] or [`PolicyError::TooLarge`].
pub fn decode_bundle(bytes: &[u8]) -> Result<PolicyBundle, PolicyError> {
    if bytes.len() > limits::POLICY_BUNDLE {
        return Err(PolicyError::TooLarge(format!(
            "{} bytes, at most {} allowed",
            bytes.len(),
            limits::POLICY_BUNDLE
        )));
    }
    let mut r = Reader { rest: bytes };
    if r.take(MAGIC.len())? != MAGIC {
        return Err(malformed(
            "not a policy bundle (bad magic or format version)",
        ));
    }
    let version = r.u64()?;
    let agency = r.str("agency")?;
    let issued_at = i64::from_be_bytes(r.array()?);
    let n = r.count("packs", limits::POLICY_PACKS, 12)?;
    let mut packs = Vec::with_capacity(n);
    for _ in 0..n {
        packs.push(PackSource {
            name: r.str("pack name")?,
            version: r.str("pack version")?,
            source: r.str("pack source")?,
        });
    }
    let settings = PolicySettings {
        check_interval_s: r.opt(Reader::u64)?,
        fim_paths: r.opt(|r| r.list("fim_paths"))?,
        fim_exclude: r.opt(|r| r.list("fim_exclude"))?,
        netwatch_interval_s: r.opt(Reader::u64)?,
        inventory_interval_s: r.opt(Reader::u64)?,
        storm_threshold: r.opt(Reader::u64)?,
        spool_budget_bytes: r.opt(Reader::u64)?,
        agency_level: r.opt(|r| Ok(r.array::<1>()?[0]))?,
    };
    if !r.rest.is_empty() {
        return Err(malformed(&format!(
            "{} bytes after the end of the bundle",
            r.rest.len()
        )));
    }
    let b = PolicyBundle {
        version,
        agency,
        issued_at,
        packs,
        settings,
    };
    check_fields(&b)?;
    Ok(b)
}

/// The rules both directions share: caps and pack order.
fn check_fields(b: &PolicyBundle) -> Result<(), PolicyError> {
    let too_large = |what: &str, max: usize| {
        Err(PolicyError::TooLarge(format!(
            "{what} exceeds {max} (bytes or items)"
        )))
    };
    if b.agency.is_empty() {
        return Err(malformed("agency is empty"));
    }
    if b.agency.len() > limits::AGENCY {
        return too_large("agency", limits::AGENCY);
    }
    if b.packs.len() > limits::POLICY_PACKS {
        return too_large("packs", limits::POLICY_PACKS);
    }
    for w in b.packs.windows(2) {
        if w[0].name.as_bytes() >= w[1].name.as_bytes() {
            return Err(malformed(&format!(
                "packs not sorted by name or repeated: {:?} before {:?}",
                w[0].name, w[1].name
            )));
        }
    }
    for p in &b.packs {
        if p.name.is_empty() || p.name.len() > limits::PACK {
            return Err(malformed(&format!(
                "pack name must be 1 to {} bytes",
                limits::PACK
            )));
        }
        if p.version.len() > limits::LABEL {
            return too_large("pack version", limits::LABEL);
        }
    }
    for (field, list) in [
        ("fim_paths", &b.settings.fim_paths),
        ("fim_exclude", &b.settings.fim_exclude),
    ] {
        let list = list.as_deref().unwrap_or_default();
        if list.len() > limits::POLICY_PATHS {
            return too_large(field, limits::POLICY_PATHS);
        }
        if list.iter().any(|p| p.is_empty() || p.len() > limits::PATH) {
            return Err(malformed(&format!(
                "{field}: every entry must be 1 to {} bytes",
                limits::PATH
            )));
        }
    }
    Ok(())
}

fn malformed(m: &str) -> PolicyError {
    PolicyError::Malformed(m.to_string())
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Every length was checked against caps far below u32::MAX (check_fields, POLICY_BUNDLE).
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_list(out: &mut Vec<u8>, items: &[String]) {
    put_len(out, items.len());
    for s in items {
        put_str(out, s);
    }
}

fn put_opt<T>(out: &mut Vec<u8>, v: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put(out, v);
        }
    }
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PolicyError> {
        if n > self.rest.len() {
            return Err(malformed("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PolicyError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u64(&mut self) -> Result<u64, PolicyError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn u32_len(&mut self) -> Result<usize, PolicyError> {
        let n = u32::from_be_bytes(self.array()?);
        usize::try_from(n).map_err(|_| malformed("length does not fit this platform"))
    }

    fn str(&mut self, what: &str) -> Result<String, PolicyError> {
        let n = self.u32_len()?;
        if n > self.rest.len() {
            return Err(malformed(&format!("{what}: length {n} beyond the end")));
        }
        let bytes = self.take(n)?;
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| malformed(&format!("{what}: not UTF-8")))
    }

    /// A count of items, each at least `min_item` bytes, checked against `max` and against the
    /// bytes left so that a claimed count never drives an allocation.
    fn count(&mut self, what: &str, max: usize, min_item: usize) -> Result<usize, PolicyError> {
        let n = self.u32_len()?;
        if n > max {
            return Err(PolicyError::TooLarge(format!(
                "{what}: {n} items, at most {max}"
            )));
        }
        if n.saturating_mul(min_item) > self.rest.len() {
            return Err(malformed(&format!("{what}: {n} items beyond the end")));
        }
        Ok(n)
    }

    fn list(&mut self, what: &str) -> Result<Vec<String>, PolicyError> {
        let n = self.count(what, limits::POLICY_PATHS, 4)?;
        (0..n).map(|_| self.str(what)).collect()
    }

    fn opt<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, PolicyError>,
    ) -> Result<Option<T>, PolicyError> {
        match self.array::<1>()?[0] {
            0 => Ok(None),
            1 => read(self).map(Some),
            t => Err(malformed(&format!("option tag {t} (only 0 and 1 exist)"))),
        }
    }
}
