//! A FIM baseline file, decoded whole and streamed: both readers agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_agent::fim::baseline::Baseline;

fuzz_target!(|data: &[u8]| {
    let whole = Baseline::decode(data);
    let streamed = Baseline::read_from(data, data.len() as u64);
    assert_eq!(
        whole.is_ok(),
        streamed.is_ok(),
        "decode and read_from disagree"
    );
    if let Ok(b) = whole {
        let again = Baseline::decode(&b.encode()).expect("a decoded baseline re-encodes");
        assert_eq!(again.encode(), b.encode());
    }
});
