//! A downstream collector's federation frames and the posture summaries they carry, at the
//! upstream: hostile bytes must be refused, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_collector::federation::summary::PostureSummary;
use vigil_proto::fed::DownMsg;
use vigil_proto::frame::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PostureSummary::parse(text);
    }
    let mut dec = FrameDecoder::new(1 << 20);
    dec.push(data);
    while let Ok(Some(m)) = dec.decode::<DownMsg>() {
        if m.check_limits().is_ok()
            && let DownMsg::Summary { body, .. } = m
        {
            let _ = PostureSummary::parse(&body);
        }
    }
});
