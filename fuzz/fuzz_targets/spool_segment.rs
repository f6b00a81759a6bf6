//! Spool files after a crash or tampering: the input is `state.json`, then NUL, then the bytes of
//! one or two segment files (split at the second NUL). The spool must open, read and accept new
//! records without a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vigil_agent::spool::{Spool, SpoolConfig};
use vigil_fuzz::parts;
use vigil_proto::{AgentHealth, Finding, HealthKind, Severity};

/// One directory for the run, emptied before each input (tmpfs when available).
static DIR: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::Builder::new().tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    };
    base.expect("tempdir").keep()
});

fuzz_target!(|data: &[u8]| {
    let dir = &*DIR;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("mkdir");
    let p = parts(data, 3);
    if let Some(state) = p.first().filter(|s| !s.is_empty()) {
        std::fs::write(dir.join("state.json"), state).expect("write");
    }
    for (i, seg) in p.iter().skip(1).enumerate() {
        let name = format!("seg-{:020}.log", 1 + i as u64 * 1000);
        std::fs::write(dir.join(name), seg).expect("write");
    }
    let cfg = SpoolConfig {
        max_bytes: 1 << 20,
        segment_bytes: 64 << 10,
    };
    let Ok(mut spool) = Spool::open(dir, cfg) else {
        return;
    };
    let mut from = 0;
    while let Ok(batch) = spool.read(from, 64, 1 << 20) {
        let Some(last) = batch.last() else { break };
        let Some(next) = last.seq.checked_add(1) else {
            break;
        };
        from = next;
    }
    let f = Finding::AgentHealth(AgentHealth {
        kind: HealthKind::Started,
        message: "fuzz".into(),
        counts: Default::default(),
        severity: Severity::Low,
    });
    let _ = spool.append(1_750_000_000_000, &f);
    let _ = spool.ack(spool.next_seq().saturating_sub(1));
    let _ = spool.sync();
});
