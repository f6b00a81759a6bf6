//! Client addresses as rate limits count them, shared by the QUIC handshake budget and the
//! login limiter.

use std::net::IpAddr;

/// The key of a client address: IPv4 (and IPv4-mapped IPv6) as is, IPv6 by its /64, the block
/// one host or one household usually holds, so walking through a /64 buys nothing.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::from(seg)
            }
        },
    }
}
