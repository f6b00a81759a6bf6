//! The collector's configuration file (TOML), parsed and validated.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil_collector::config::parse(
            text,
            Path::new("/var/lib/vigil-collector"),
            Path::new("/var/lib/vigil-collector/collector.toml"),
        );
    }
});
