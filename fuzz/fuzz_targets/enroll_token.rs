//! Arbitrary text as an enrollment token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_proto::token::EnrollToken;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = EnrollToken::decode(s) {
            // Whatever decodes must re-encode to something that decodes to the same token.
            assert_eq!(EnrollToken::decode(&t.encode()).ok(), Some(t));
        }
        let _ = EnrollToken::decode(&format!("vigil1.{s}"));
    }
});
