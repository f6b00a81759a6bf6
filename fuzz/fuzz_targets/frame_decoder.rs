//! Arbitrary bytes, split at arbitrary points, into the frame decoder for both directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_proto::frame::FrameDecoder;
use vigil_proto::msg::{AgentMsg, CollectorMsg, EnrollRequest, EnrollResponse};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize) % (data.len().max(1));
    let (a, b) = data.split_at(split);
    let mut d = FrameDecoder::new(64 * 1024);
    d.push(a);
    while let Ok(Some(_)) = d.decode::<AgentMsg>() {}
    d.push(b);
    while let Ok(Some(_)) = d.decode::<AgentMsg>() {}
    for _ in 0..1 {
        let mut d = FrameDecoder::new(64 * 1024);
        d.push(data);
        while let Ok(Some(_)) = d.decode::<CollectorMsg>() {}
        let mut d = FrameDecoder::new(64 * 1024);
        d.push(data);
        let _ = d.decode::<EnrollRequest>();
        let mut d = FrameDecoder::new(64 * 1024);
        d.push(data);
        let _ = d.decode::<EnrollResponse>();
    }
});
