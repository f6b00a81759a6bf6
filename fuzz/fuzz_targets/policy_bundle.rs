//! Arbitrary bytes as a canonical policy bundle, and as a stream of policy chunks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_proto::policy::{PolicyAssembler, PolicyChunk, decode_bundle, encode_bundle};

fuzz_target!(|data: &[u8]| {
    // Whatever decodes is canonical: it re-encodes to exactly the same bytes.
    if let Ok(b) = decode_bundle(data) {
        assert_eq!(encode_bundle(&b).ok().as_deref(), Some(data));
    }
    // The same bytes after the magic, to get past the first check more often.
    let mut with_magic = b"VIGILPOL\x00\x01".to_vec();
    with_magic.extend_from_slice(data);
    if let Ok(b) = decode_bundle(&with_magic) {
        assert_eq!(encode_bundle(&b).ok(), Some(with_magic));
    }
    // Newline-separated JSON chunks into one assembler: never a panic, bounded memory.
    let mut asm = PolicyAssembler::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(c) = serde_json::from_slice::<PolicyChunk>(line) {
            let _ = asm.push(c);
        }
    }
});
