//! Indicators of compromise held by the agent, kept in step with the collector by versioned deltas.
//!
//! Design choice: compact, sorted, binary-searched tables instead of string sets. Addresses are
//! `u128` (IPv4 mapped into `::ffff:0:0/96`, so an IPv4 indicator also matches the same peer seen
//! through a dual-stack `tcp6` socket), CIDRs are grouped by prefix length (a lookup masks the
//! address once per distinct length), hashes are raw `[u8; 32]`/`[u8; 16]`, and sources are
//! interned. 100,000 indicators cost a few MB. Indicators come from the collector (peer bytes):
//! malformed ones are rejected one by one and reported, never a panic.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, RwLock};

use vigil_proto::msg::Indicator;

/// The set shared between the uplink (which applies `IocUpdate`s) and netwatch (which matches).
pub type SharedIoc = Arc<RwLock<IocSet>>;

/// Errors applying an update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IocError {
    /// A delta was built against another version than the one held: ask for a full set.
    #[error(
        "IOC delta applies to version {from_version} but the agent holds version {have}; a full \
         set is needed"
    )]
    VersionMismatch {
        /// Version held by the agent.
        have: u64,
        /// Version the delta was built against.
        from_version: u64,
    },
}

/// What an applied update changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Indicators added or refreshed.
    pub added: usize,
    /// Indicators removed.
    pub removed: usize,
    /// Indicators that could not be parsed, as `kind:value: reason` (they are skipped).
    pub rejected: Vec<String>,
}

/// An indicator that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IocMatch {
    /// The indicator as `kind:value` (e.g. `cidr:10.0.0.0/8`, `sha256:…`).
    pub indicator: String,
    /// Where it came from (feed name), possibly empty.
    pub source: String,
    /// Unix seconds after which it no longer applies (0 = never).
    pub expires_at: i64,
}

/// The agent's indicator set.
#[derive(Debug, Default)]
pub struct IocSet {
    version: u64,
    ips: Table<u128>,
    /// CIDRs per prefix length (in the mapped 128-bit space), longest first.
    cidrs: Vec<(u8, Table<u128>)>,
    domains: Table<Box<str>>,
    sha256: Table<[u8; 32]>,
    md5: Table<[u8; 16]>,
    sources: Vec<Box<str>>,
    source_ids: HashMap<Box<str>, u32>,
}

impl IocSet {
    /// An empty set at version 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The version held (0 = none received yet).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of indicators held (expired ones included until [`IocSet::expire`]).
    pub fn len(&self) -> usize {
        self.ips.0.len()
            + self.cidrs.iter().map(|(_, t)| t.0.len()).sum::<usize>()
            + self.domains.0.len()
            + self.sha256.0.len()
            + self.md5.0.len()
    }

    /// Whether the set holds no indicator.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether file-hash indicators exist (so executables are worth hashing at all).
    pub fn has_hashes(&self) -> bool {
        !self.sha256.0.is_empty() || !self.md5.0.is_empty()
    }

    /// Whether MD5 indicators exist.
    pub fn has_md5(&self) -> bool {
        !self.md5.0.is_empty()
    }

    /// Applies an `IocUpdate`: a full replacement when `from_version` is 0, otherwise a delta that
    /// must apply to the version held. Removals (`kind:value`) are applied before additions.
    ///
    /// # Errors
    /// [`IocError::VersionMismatch`] when the delta does not apply; the set is unchanged and the
    /// caller should ask the collector for a full set.
    pub fn apply(
        &mut self,
        version: u64,
        from_version: u64,
        add: &[Indicator],
        remove: &[String],
    ) -> Result<ApplyReport, IocError> {
        if from_version != 0 && from_version != self.version {
            return Err(IocError::VersionMismatch {
                have: self.version,
                from_version,
            });
        }
        let mut report = ApplyReport::default();
        if from_version == 0 {
            *self = Self::default();
        }
        let mut removals = Keys::default();
        for r in remove {
            let parsed = r
                .split_once(':')
                .ok_or_else(|| "expected kind:value".to_string())
                .and_then(|(k, v)| parse_key(k, v));
            match parsed {
                Ok(key) => removals.push(key, ()),
                Err(e) => report.rejected.push(format!("{r}: {e}")),
            }
        }
        report.removed = self.remove_keys(removals);
        let mut additions = Keys::default();
        for ind in add {
            match parse_key(&ind.kind, &ind.value) {
                Ok(key) => {
                    let meta = Meta {
                        expires_at: ind.expires_at,
                        source: self.intern(&ind.source),
                    };
                    additions.push(key, meta);
                    report.added += 1;
                }
                Err(e) => report
                    .rejected
                    .push(format!("{}:{}: {e}", ind.kind, ind.value)),
            }
        }
        self.ips.upsert(additions.ips);
        for (len, items) in additions.cidrs {
            match self.cidrs.iter_mut().find(|(l, _)| *l == len) {
                Some((_, t)) => t.upsert(items),
                None => {
                    let mut t = Table::default();
                    t.upsert(items);
                    self.cidrs.push((len, t));
                }
            }
        }
        self.cidrs.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
        self.domains.upsert(additions.domains);
        self.sha256.upsert(additions.sha256);
        self.md5.upsert(additions.md5);
        self.version = version;
        Ok(report)
    }

    /// Drops indicators whose expiry is at or before `now_s` (Unix seconds); returns how many.
    pub fn expire(&mut self, now_s: i64) -> usize {
        let mut n = self.ips.expire(now_s);
        for (_, t) in &mut self.cidrs {
            n += t.expire(now_s);
        }
        self.cidrs.retain(|(_, t)| !t.0.is_empty());
        n += self.domains.expire(now_s);
        n += self.sha256.expire(now_s);
        n += self.md5.expire(now_s);
        n
    }

    /// Matches an address (exact IP first, then the most specific CIDR) unexpired at `now_s`.
    pub fn match_ip(&self, ip: IpAddr, now_s: i64) -> Option<IocMatch> {
        let key = ip_key(ip);
        if let Some(m) = self.ips.find(&key, now_s) {
            return Some(self.hit(format!("ip:{}", key_text(key)), m));
        }
        for (len, table) in &self.cidrs {
            let net = key & mask(*len);
            if let Some(m) = table.find(&net, now_s) {
                return Some(self.hit(format!("cidr:{}", cidr_text(net, *len)), m));
            }
        }
        None
    }

    /// Matches a domain name exactly or as a subdomain of a listed domain.
    pub fn match_domain(&self, name: &str, now_s: i64) -> Option<IocMatch> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut rest = name.as_str();
        loop {
            if let Some(m) = self.domains.find_by(|d| (**d).cmp(rest), now_s) {
                return Some(self.hit(format!("domain:{rest}"), m));
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return None,
            }
        }
    }

    /// Matches a SHA-256 digest.
    pub fn match_sha256(&self, digest: &[u8; 32], now_s: i64) -> Option<IocMatch> {
        self.sha256
            .find(digest, now_s)
            .map(|m| self.hit(format!("sha256:{}", hex::encode(digest)), m))
    }

    /// Matches an MD5 digest.
    pub fn match_md5(&self, digest: &[u8; 16], now_s: i64) -> Option<IocMatch> {
        self.md5
            .find(digest, now_s)
            .map(|m| self.hit(format!("md5:{}", hex::encode(digest)), m))
    }

    fn hit(&self, indicator: String, m: Meta) -> IocMatch {
        IocMatch {
            indicator,
            source: self
                .sources
                .get(m.source as usize)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            expires_at: m.expires_at,
        }
    }

    fn intern(&mut self, source: &str) -> u32 {
        if let Some(id) = self.source_ids.get(source) {
            return *id;
        }
        let id = u32::try_from(self.sources.len()).unwrap_or(u32::MAX);
        self.sources.push(source.into());
        self.source_ids.insert(source.into(), id);
        id
    }

    fn remove_keys(&mut self, k: Keys<()>) -> usize {
        let mut n = self.ips.remove(k.ips);
        for (len, items) in k.cidrs {
            if let Some((_, t)) = self.cidrs.iter_mut().find(|(l, _)| *l == len) {
                n += t.remove(items);
            }
        }
        self.cidrs.retain(|(_, t)| !t.0.is_empty());
        n += self.domains.remove(k.domains);
        n += self.sha256.remove(k.sha256);
        n += self.md5.remove(k.md5);
        n
    }
}

/// Expiry and interned source of one indicator.
#[derive(Debug, Clone, Copy)]
struct Meta {
    expires_at: i64,
    source: u32,
}

/// A sorted, duplicate-free table of keys with their metadata.
#[derive(Debug)]
struct Table<K>(Vec<(K, Meta)>);

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<K: Ord + Clone> Table<K> {
    fn find(&self, key: &K, now_s: i64) -> Option<Meta> {
        self.find_by(|k| k.cmp(key), now_s)
    }

    fn find_by(&self, f: impl Fn(&K) -> std::cmp::Ordering, now_s: i64) -> Option<Meta> {
        let i = self.0.binary_search_by(|(k, _)| f(k)).ok()?;
        let meta = self.0[i].1;
        (meta.expires_at == 0 || meta.expires_at > now_s).then_some(meta)
    }

    /// Adds items; a key already present takes the new metadata.
    fn upsert(&mut self, items: Vec<(K, Meta)>) {
        if items.is_empty() {
            return;
        }
        self.0.extend(items);
        // Stable sort keeps insertion order among equal keys; the newest then wins the dedup.
        self.0.sort_by(|a, b| a.0.cmp(&b.0));
        self.0.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = later.1;
                true
            } else {
                false
            }
        });
        self.0.shrink_to_fit();
    }

    fn remove(&mut self, mut keys: Vec<(K, ())>) -> usize {
        if keys.is_empty() {
            return 0;
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let before = self.0.len();
        self.0
            .retain(|(k, _)| keys.binary_search_by(|(r, ())| r.cmp(k)).is_err());
        before - self.0.len()
    }

    fn expire(&mut self, now_s: i64) -> usize {
        let before = self.0.len();
        self.0
            .retain(|(_, m)| m.expires_at == 0 || m.expires_at > now_s);
        before - self.0.len()
    }
}

/// Parsed keys of an update, per table.
#[derive(Debug)]
struct Keys<M> {
    ips: Vec<(u128, M)>,
    cidrs: Vec<(u8, Vec<(u128, M)>)>,
    domains: Vec<(Box<str>, M)>,
    sha256: Vec<([u8; 32], M)>,
    md5: Vec<([u8; 16], M)>,
}

impl<M> Default for Keys<M> {
    fn default() -> Self {
        Self {
            ips: Vec::new(),
            cidrs: Vec::new(),
            domains: Vec::new(),
            sha256: Vec::new(),
            md5: Vec::new(),
        }
    }
}

impl<M> Keys<M> {
    fn push(&mut self, key: Key, m: M) {
        match key {
            Key::Ip(a) => self.ips.push((a, m)),
            Key::Cidr(len, net) => match self.cidrs.iter_mut().find(|(l, _)| *l == len) {
                Some((_, v)) => v.push((net, m)),
                None => self.cidrs.push((len, vec![(net, m)])),
            },
            Key::Domain(d) => self.domains.push((d, m)),
            Key::Sha256(h) => self.sha256.push((h, m)),
            Key::Md5(h) => self.md5.push((h, m)),
        }
    }
}

/// One parsed indicator value.
#[derive(Debug)]
enum Key {
    Ip(u128),
    /// Prefix length in the mapped 128-bit space, network address.
    Cidr(u8, u128),
    Domain(Box<str>),
    Sha256([u8; 32]),
    Md5([u8; 16]),
}

fn parse_key(kind: &str, value: &str) -> Result<Key, String> {
    let value = value.trim();
    match kind.trim() {
        "ip" => value
            .parse::<IpAddr>()
            .map(|ip| Key::Ip(ip_key(ip)))
            .map_err(|_| "not an IP address".to_string()),
        "cidr" => {
            let (addr, len) = value
                .split_once('/')
                .ok_or_else(|| "expected address/prefix".to_string())?;
            let len: u8 = len.parse().map_err(|_| "bad prefix length".to_string())?;
            let (key, len) = match addr.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if len <= 32 => (ip_key(IpAddr::V4(a)), 96 + len),
                Ok(IpAddr::V6(a)) if len <= 128 => (u128::from(a), len),
                Ok(_) => return Err("prefix length out of range".to_string()),
                Err(_) => return Err("not an IP network".to_string()),
            };
            Ok(Key::Cidr(len, key & mask(len)))
        }
        "domain" => {
            let d = value.trim_end_matches('.').to_ascii_lowercase();
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                });
            if ok {
                Ok(Key::Domain(d.into_boxed_str()))
            } else {
                Err("not a domain name".to_string())
            }
        }
        "sha256" => {
            let mut h = [0u8; 32];
            hex::decode_to_slice(value, &mut h).map_err(|_| "expected 64 hex digits")?;
            Ok(Key::Sha256(h))
        }
        "md5" => {
            let mut h = [0u8; 16];
            hex::decode_to_slice(value, &mut h).map_err(|_| "expected 32 hex digits")?;
            Ok(Key::Md5(h))
        }
        other => Err(format!(
            "unknown kind {other:?}, expected ip, cidr, domain, sha256 or md5"
        )),
    }
}

/// The 128-bit key of an address; IPv4 (and IPv4-mapped IPv6) map into `::ffff:0:0/96`.
fn ip_key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// `key >> 32` of an IPv4-mapped address (`::ffff:a.b.c.d`).
const MAPPED_PREFIX: u128 = 0xffff;

fn is_mapped(key: u128) -> bool {
    key >> 32 == MAPPED_PREFIX
}

fn key_text(key: u128) -> String {
    if is_mapped(key) {
        // Truncation keeps exactly the low 32 bits, the IPv4 address.
        Ipv4Addr::from(key as u32).to_string()
    } else {
        Ipv6Addr::from(key).to_string()
    }
}

fn cidr_text(net: u128, len: u8) -> String {
    if len >= 96 && is_mapped(net) {
        format!("{}/{}", key_text(net), len - 96)
    } else {
        format!("{}/{len}", Ipv6Addr::from(net))
    }
}

fn mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => u128::MAX << (128 - u32::from(l)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: &str, value: &str, expires_at: i64) -> Indicator {
        Indicator {
            kind: kind.into(),
            value: value.into(),
            source: "feed-a".into(),
            expires_at,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn full_set_then_delta_then_mismatch() {
        let mut s = IocSet::new();
        let r = s
            .apply(
                3,
                0,
                &[ind("ip", "203.0.113.9", 0), ind("ip", "2001:db8::1", 0)],
                &[],
            )
            .expect("full");
        assert_eq!((r.added, r.removed), (2, 0));
        assert_eq!(s.version(), 3);
        assert_eq!(
            s.match_ip(ip("203.0.113.9"), 0).map(|m| m.indicator),
            Some("ip:203.0.113.9".into())
        );
        assert_eq!(
            s.match_ip(ip("2001:db8::1"), 0).map(|m| m.indicator),
            Some("ip:2001:db8::1".into())
        );

        let r = s
            .apply(
                4,
                3,
                &[ind("ip", "198.51.100.7", 0)],
                &["ip:203.0.113.9".into()],
            )
            .expect("delta");
        assert_eq!((r.added, r.removed), (1, 1));
        assert!(s.match_ip(ip("203.0.113.9"), 0).is_none());
        assert!(s.match_ip(ip("198.51.100.7"), 0).is_some());
        assert!(s.match_ip(ip("2001:db8::1"), 0).is_some(), "kept");

        // A delta built against another version is refused and changes nothing.
        let err = s
            .apply(
                9,
                7,
                &[ind("ip", "192.0.2.1", 0)],
                &["ip:2001:db8::1".into()],
            )
            .expect_err("mismatch");
        assert_eq!(
            err,
            IocError::VersionMismatch {
                have: 4,
                from_version: 7
            }
        );
        assert_eq!(s.version(), 4);
        assert!(s.match_ip(ip("192.0.2.1"), 0).is_none());
        assert!(s.match_ip(ip("2001:db8::1"), 0).is_some());

        // A full set replaces everything.
        s.apply(10, 0, &[ind("md5", &"ab".repeat(16), 0)], &[])
            .expect("full again");
        assert_eq!(s.version(), 10);
        assert_eq!(s.len(), 1);
        assert!(s.match_ip(ip("198.51.100.7"), 0).is_none());
        assert!(s.match_md5(&[0xab; 16], 0).is_some());
        assert!(s.has_hashes() && s.has_md5());
    }

    #[test]
    fn malformed_indicators_are_rejected_one_by_one() {
        let mut s = IocSet::new();
        let r = s
            .apply(
                1,
                0,
                &[
                    ind("ip", "999.1.1.1", 0),
                    ind("cidr", "10.0.0.0/33", 0),
                    ind("sha256", "xyz", 0),
                    ind("url", "http://x", 0),
                    ind("domain", "bad domain.com", 0),
                    ind("domain", "Evil.Example.", 0),
                ],
                &["nonsense".into()],
            )
            .expect("applies");
        assert_eq!(r.added, 1);
        assert_eq!(r.rejected.len(), 6, "{:?}", r.rejected);
        assert!(s.match_domain("evil.example", 0).is_some());
    }

    #[test]
    fn expiry_is_checked_at_match_time_and_purged() {
        let mut s = IocSet::new();
        s.apply(
            1,
            0,
            &[
                ind("ip", "192.0.2.10", 1000),
                ind("ip", "192.0.2.11", 0),
                ind("sha256", &"01".repeat(32), 500),
            ],
            &[],
        )
        .expect("apply");
        assert!(s.match_ip(ip("192.0.2.10"), 999).is_some());
        assert!(s.match_ip(ip("192.0.2.10"), 1000).is_none());
        assert!(s.match_sha256(&[1; 32], 499).is_some());
        assert!(s.match_sha256(&[1; 32], 500).is_none());
        assert_eq!(s.expire(400), 0);
        assert_eq!(s.expire(1000), 2);
        assert_eq!(s.len(), 1);
        assert!(s.match_ip(ip("192.0.2.11"), i64::MAX).is_some());
    }

    #[test]
    fn cidr_v4_and_v6_match_most_specific_and_mapped() {
        let mut s = IocSet::new();
        s.apply(
            1,
            0,
            &[
                ind("cidr", "10.1.2.3/8", 0), // host bits are zeroed
                ind("cidr", "10.20.0.0/16", 0),
                ind("cidr", "2001:db8:abcd::/48", 0),
                ind("cidr", "192.0.2.77/32", 0),
            ],
            &[],
        )
        .expect("apply");
        assert_eq!(
            s.match_ip(ip("10.99.0.1"), 0).map(|m| m.indicator),
            Some("cidr:10.0.0.0/8".into())
        );
        assert_eq!(
            s.match_ip(ip("10.20.5.5"), 0).map(|m| m.indicator),
            Some("cidr:10.20.0.0/16".into())
        );
        assert!(s.match_ip(ip("11.0.0.1"), 0).is_none());
        // An IPv4 peer seen through a dual-stack socket.
        assert!(s.match_ip(ip("::ffff:10.3.3.3"), 0).is_some());
        assert_eq!(
            s.match_ip(ip("2001:db8:abcd:1::5"), 0).map(|m| m.indicator),
            Some("cidr:2001:db8:abcd::/48".into())
        );
        assert!(s.match_ip(ip("2001:db8:abce::5"), 0).is_none());
        assert!(s.match_ip(ip("192.0.2.77"), 0).is_some());
        assert!(s.match_ip(ip("192.0.2.78"), 0).is_none());
        let m = s.match_ip(ip("10.0.0.1"), 0).expect("hit");
        assert_eq!(m.source, "feed-a");
        // Removing a CIDR by its (normalised) text.
        let r = s
            .apply(2, 1, &[], &["cidr:10.0.0.0/8".into()])
            .expect("delta");
        assert_eq!(r.removed, 1);
        assert!(s.match_ip(ip("10.99.0.1"), 0).is_none());
        assert!(s.match_ip(ip("10.20.5.5"), 0).is_some());
    }

    #[test]
    fn domains_match_subdomains_only_on_label_boundaries() {
        let mut s = IocSet::new();
        s.apply(1, 0, &[ind("domain", "evil.example", 0)], &[])
            .expect("apply");
        assert!(s.match_domain("evil.example", 0).is_some());
        assert!(s.match_domain("A.B.Evil.Example.", 0).is_some());
        assert!(s.match_domain("notevil.example", 0).is_none());
        assert!(s.match_domain("example", 0).is_none());
    }

    #[test]
    fn readding_refreshes_metadata() {
        let mut s = IocSet::new();
        s.apply(1, 0, &[ind("ip", "192.0.2.1", 10)], &[])
            .expect("a");
        s.apply(2, 1, &[ind("ip", "192.0.2.1", 0)], &[]).expect("b");
        assert_eq!(s.len(), 1);
        assert!(
            s.match_ip(ip("192.0.2.1"), 100).is_some(),
            "no longer expires"
        );
    }

    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").expect("status");
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Run alone: `cargo test -p vigil-agent --lib ioc::tests::memory -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement; run alone so other tests do not disturb RSS"]
    fn memory_of_100k_indicators() {
        let before = rss_kib();
        let mut s = IocSet::new();
        // Built in deltas of 10,000 so the input vectors stay small next to the set.
        for chunk in 0..10u32 {
            let version = u64::from(chunk);
            let mut add = Vec::with_capacity(10_000);
            for i in 0..10_000u32 {
                let n = chunk * 10_000 + i;
                let src = format!("feed-{}", n % 7);
                let (kind, value) = match n % 10 {
                    0..=3 => ("ip", Ipv4Addr::from(0x0a00_0000 + n).to_string()),
                    4 => (
                        "ip",
                        Ipv6Addr::from(0x2001_0db8_u128 << 96 | u128::from(n)).to_string(),
                    ),
                    5 => (
                        "cidr",
                        format!("{}/24", Ipv4Addr::from(0x6400_0000 + (n << 8))),
                    ),
                    6 | 7 => ("sha256", format!("{n:064x}")),
                    8 => ("md5", format!("{n:032x}")),
                    _ => ("domain", format!("host{n}.bad-domain{}.example", n % 100)),
                };
                add.push(Indicator {
                    kind: kind.into(),
                    value,
                    source: src,
                    expires_at: 0,
                });
            }
            let r = s.apply(version + 1, version, &add, &[]).expect("apply");
            assert!(r.rejected.is_empty(), "{:?}", r.rejected.first());
        }
        assert_eq!(s.len(), 100_000);
        let after = rss_kib();
        let delta_kib = after.saturating_sub(before);
        println!(
            "IocSet with {} indicators: RSS delta {delta_kib} KiB",
            s.len()
        );
        assert!(s.match_ip(ip("10.0.0.1"), 0).is_some());
        assert!(delta_kib < 15 * 1024, "RSS delta {delta_kib} KiB");
    }
}
