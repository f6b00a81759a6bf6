//! The kernel's socket tables, `/proc/net/{tcp,tcp6,udp,udp6}`.
//!
//! Each line after the header is `sl local remote st tx:rx tr:when retrnsmt uid timeout inode …`.
//! Addresses are hex: the IPv4 address as one 32-bit number and the IPv6 address as four, each
//! printed in the host's byte order, so the bytes come back with `to_ne_bytes`. Lines that do not
//! parse are skipped; arbitrary input never panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP's `LISTEN` state as the kernel numbers it.
pub const TCP_LISTEN: u8 = 0x0A;
/// The state the kernel shows for a bound, unconnected UDP socket (`TCP_CLOSE`).
pub const UDP_UNCONNECTED: u8 = 0x07;

/// One socket line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port (unspecified for a listening socket).
    pub remote: SocketAddr,
    /// Kernel state number (see [`TCP_LISTEN`]).
    pub state: u8,
    /// Owner uid; `None` when the line stops before it.
    pub uid: Option<u32>,
    /// Socket inode; `None` when the line stops before it.
    pub inode: Option<u64>,
}

/// Parses a whole table (the first line is the column header).
pub fn parse_table(text: &[u8]) -> Vec<Entry> {
    text.split(|&b| b == b'\n')
        .skip(1)
        .filter_map(parse_line)
        .collect()
}

/// Parses one line after the header; `None` when the first four columns do not parse.
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let mut f = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|s| !s.is_empty());
    let _sl = f.next()?;
    let local = parse_addr(f.next()?)?;
    let remote = parse_addr(f.next()?)?;
    let state = u8::try_from(parse_hex(f.next()?)?).ok()?;
    // queues, timer, retransmits, then uid, timeout, inode.
    let mut rest = f.skip(3);
    let uid = rest
        .next()
        .and_then(parse_dec)
        .and_then(|u| u32::try_from(u).ok());
    let inode = rest.nth(1).and_then(parse_dec);
    Some(Entry {
        local,
        remote,
        state,
        uid,
        inode,
    })
}

/// `0100007F:0050` (IPv4) or 32 hex digits `:port` (IPv6).
pub fn parse_addr(field: &[u8]) -> Option<SocketAddr> {
    let colon = field.iter().position(|&b| b == b':')?;
    let (ip, port) = (&field[..colon], &field[colon + 1..]);
    let port = u16::try_from(parse_hex(port)?).ok()?;
    let ip = match ip.len() {
        8 => {
            let w = u32::try_from(parse_hex(ip)?).ok()?;
            IpAddr::V4(Ipv4Addr::from(w.to_ne_bytes()))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in ip.chunks(8).enumerate() {
                let w = u32::try_from(parse_hex(chunk)?).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether an address is loopback, counting IPv4-mapped `::ffff:127.x.y.z`.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

fn parse_hex(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    s.iter().try_fold(0u64, |v, &c| {
        let d = char::from(c).to_digit(16)?;
        Some((v << 4) | u64::from(d))
    })
}

/// `socket:[12345]` (a `/proc/PID/fd` link) → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u64> {
    parse_dec(link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?)
}

/// An unsigned decimal; `None` when empty, not all digits, or over `u64`.
pub fn parse_dec(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u64::from(c - b'0')))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEAD: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

    #[test]
    fn full_and_short_lines() {
        let text = format!(
            "{HEAD}   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000   \
             104        0 4242 1 0\n   1: 0100007F:0017 00000000:0000 0A\n   2: garbage\n"
        );
        let e = parse_table(text.as_bytes());
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].local, "127.0.0.1:25".parse().expect("addr"));
        assert_eq!(
            (e[0].state, e[0].uid, e[0].inode),
            (TCP_LISTEN, Some(104), Some(4242))
        );
        assert_eq!((e[1].local.port(), e[1].uid, e[1].inode), (23, None, None));
        assert!(is_loopback(e[1].local.ip()));
    }

    #[test]
    fn ipv6_words_are_host_order() {
        let a = parse_addr(b"00000000000000000000000001000000:0019").expect("v6");
        if cfg!(target_endian = "little") {
            assert_eq!(a, "[::1]:25".parse().expect("addr"));
            assert!(is_loopback(a.ip()));
        }
        let mapped = parse_addr(b"0000000000000000FFFF00000100007F:0050").expect("mapped");
        if cfg!(target_endian = "little") {
            assert_eq!(mapped.ip().to_string(), "::ffff:127.0.0.1");
            assert!(is_loopback(mapped.ip()));
        }
        assert_eq!(parse_addr(b"0100007F:10000"), None, "port over 16 bits");
        assert_eq!(parse_addr(b"0100007:0050"), None, "odd length");
    }

    #[test]
    fn inode_links_and_decimals() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(parse_dec(b"99999999999999999999999"), None);
        assert_eq!(parse_dec(b"18446744073709551615"), Some(u64::MAX));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_table(&b);
            let _ = parse_addr(&b);
        }

        #[test]
        fn ipv4_round_trips(ip in any::<[u8; 4]>(), port in any::<u16>(), st in any::<u8>()) {
            let w = u32::from_ne_bytes(ip);
            let line = format!("0: {w:08X}:{port:04X} 00000000:0000 {st:02X} 0:0 0:0 0 7 0 9");
            let e = parse_line(line.as_bytes()).expect("line");
            prop_assert_eq!(e.local, SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port));
            prop_assert_eq!((e.state, e.uid, e.inode), (st, Some(7), Some(9)));
        }
    }
}
