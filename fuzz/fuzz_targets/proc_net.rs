//! `/proc/net` socket tables and the dpkg status file of a checked tree (an offline image may
//! come from anywhere).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_agent::netwatch::Proto;
use vigil_agent::netwatch::procfs::parse_table;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    for proto in [Proto::Tcp, Proto::Tcp6, Proto::Udp, Proto::Udp6] {
        parse_table(data, proto, &mut out);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil_agent::packages::parse_dpkg_status(text);
    }
});
