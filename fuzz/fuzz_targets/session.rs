//! Arbitrary bytes into both session state machines, established or not, on virtual time.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vigil_proto::session::{AgentSession, CollectorSession, Hello, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let cfg = SessionConfig {
        max_frame: 4096,
        ..SessionConfig::default()
    };
    let mut c = CollectorSession::new(now, cfg.clone());
    let mut a = AgentSession::new(
        now,
        cfg,
        Hello {
            agent_id: "a".into(),
            agent_version: "0".into(),
            policy_hash: None,
            policy_version: 0,
            ioc_version: 0,
        },
    );
    // Optionally establish first, so the fuzzer reaches the batch/ack paths.
    if data.first().is_some_and(|b| b & 1 == 1) {
        while let Some(b) = a.poll_transmit() {
            c.handle(now, &b);
        }
        while c.poll_event().is_some() {}
        let _ = c.accept(0, 0, 0);
        while let Some(b) = c.poll_transmit() {
            a.handle(now, &b);
        }
        while a.poll_event().is_some() {}
    }
    for chunk in data.chunks(97) {
        c.handle(now, chunk);
        a.handle(now, chunk);
        while c.poll_event().is_some() {}
        while a.poll_event().is_some() {}
    }
    c.handle_timeout(now + Duration::from_secs(3600));
    a.handle_timeout(now + Duration::from_secs(3600));
});
