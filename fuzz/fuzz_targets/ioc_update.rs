//! An IOC update from the collector (a `CollectorMsg` body), applied and matched by the agent.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vigil_agent::ioc::IocSet;
use vigil_proto::msg::CollectorMsg;

fuzz_target!(|data: &[u8]| {
    let Ok(CollectorMsg::IocUpdate {
        version,
        from_version,
        add,
        remove,
        ..
    }) = serde_json::from_slice::<CollectorMsg>(data)
    else {
        return;
    };
    let mut set = IocSet::new();
    let _ = set.apply(version, 0, &add, &[]);
    let _ = set.apply(version.wrapping_add(1), from_version, &add, &remove);
    let now = 1_750_000_000;
    for ip in [
        IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()),
    ] {
        let _ = set.match_ip(ip, now);
    }
    for i in &add {
        let _ = set.match_domain(&i.value, now);
    }
    let _ = set.match_sha256(&[0xab; 32], now);
    let _ = set.match_md5(&[0xab; 16], now);
    let _ = set.expire(now);
});
