//! sock_diag netlink replies, as the agent's network watch reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_agent::netwatch::{Proto, parse_sock_diag};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let proto = [Proto::Tcp, Proto::Tcp6, Proto::Udp, Proto::Udp6][usize::from(selector & 3)];
    let seq = u32::from(selector >> 2);
    let mut out = Vec::new();
    let _ = parse_sock_diag(bytes, proto, seq, &mut out);
});
