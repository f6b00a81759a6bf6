//! An IOC import file at the collector. Whatever the collector accepts it pushes to agents, so
//! every accepted indicator must also be accepted by the agent's matcher.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_agent::ioc::IocSet;
use vigil_collector::ioc::{ImportDefaults, parse_import};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let defaults = ImportDefaults {
        source: "fuzz".into(),
        expires_at: 0,
    };
    if let Ok(indicators) = parse_import(text, &defaults) {
        let mut set = IocSet::new();
        let report = set
            .apply(1, 0, &indicators, &[])
            .expect("a full set always applies");
        assert!(
            report.rejected.is_empty(),
            "the collector accepted what agents reject: {:?}",
            report.rejected
        );
    }
});
