//! The agent's configuration file (TOML), parsed and validated.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = vigil_agent::config::parse(text, Path::new("/etc/vigil/agent.toml"));
    }
});
