//! A Wazuh SCA policy through the importer: never a panic, and what it writes always loads.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vigil_rules::parse_pack;
use vigil_rules::sca::{ImportOptions, import_sca};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(imp) = import_sca(text, "fuzz.yml", &ImportOptions::default()) {
        if let Err(e) = parse_pack(&imp.yaml, Path::new("out.yaml")) {
            panic!("the imported pack does not load: {e}\n{}", imp.yaml);
        }
    }
});
