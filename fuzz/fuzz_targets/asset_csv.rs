//! An asset CSV import (`agency,hostname,role,level`) at the collector.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil_collector::assets::parse_assets(text);
    }
});
