//! Frame encode/decode throughput, against plain serde_json on the same batches (the floor).
//!
//! `cargo run --release -p vigil-bench --bin frames`

use std::time::Instant;

use vigil_proto::frame::{FrameDecoder, encode};
use vigil_proto::msg::AgentMsg;

fn main() {
    let batch = vigil_bench::sample_envelopes(500);
    let msg = AgentMsg::Batch {
        first_seq: 1,
        findings: batch,
    };
    let rounds = 400;
    let t = Instant::now();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        bytes += serde_json::to_vec(&msg).map(|v| v.len()).unwrap_or(0);
    }
    let raw_enc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut frames = Vec::new();
    for _ in 0..rounds {
        frames.push(encode(&msg, 64 << 20).unwrap_or_default());
    }
    let enc = t.elapsed().as_secs_f64();
    let body = frames.first().map_or(&[][..], |f| &f[4..]).to_vec();
    let t = Instant::now();
    for _ in 0..rounds {
        let _: Option<AgentMsg> = serde_json::from_slice(&body).ok();
    }
    let raw_dec = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut d = FrameDecoder::new(64 << 20);
    let mut n = 0usize;
    for f in &frames {
        // Feed in 16 KiB pieces, as a QUIC stream delivers them.
        for piece in f.chunks(16 * 1024) {
            d.push(piece);
            while let Ok(Some(AgentMsg::Batch { findings, .. })) = d.decode::<AgentMsg>() {
                n += findings.len();
            }
        }
    }
    let dec = t.elapsed().as_secs_f64();
    let findings = (rounds * 500) as f64;
    let mb = bytes as f64 / 1e6;
    println!(
        "frames: {rounds} batches x 500 findings, {:.0} bytes/finding",
        bytes as f64 / findings
    );
    println!(
        "encode: {:>8.0} findings/s {:>7.1} MB/s   (serde_json alone {:>8.0}/s, ratio {:.2})",
        findings / enc,
        mb / enc,
        findings / raw_enc,
        raw_enc / enc
    );
    println!(
        "decode: {:>8.0} findings/s {:>7.1} MB/s   (serde_json alone {:>8.0}/s, ratio {:.2})",
        n as f64 / dec,
        mb / dec,
        findings / raw_dec,
        raw_dec / dec
    );
}
