//! Throughput and memory measurements, ignored by default. Run with
//! `cargo test -p vigil-agent --release --lib spool::tests::bench -- --ignored --nocapture`.

use std::time::Instant;

use std::collections::BTreeMap;

use super::finding_sized;
use crate::spool::format::{self, REC_HDR, SEG_MAGIC};
use crate::spool::{Spool, SpoolConfig, segment_path, state};
use vigil_proto::Severity;

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rate(n: f64, secs: f64) -> String {
    format!("{:.0}/s", n / secs)
}

#[test]
#[ignore = "benchmark; prints numbers"]
fn bench_200k() {
    const N: u64 = 200_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("open");
    let findings: Vec<_> = (0..N)
        .map(|i| finding_sized(Severity::ALL[(i % 4) as usize], i, 300))
        .collect();

    let t = Instant::now();
    for (i, f) in findings.iter().enumerate() {
        sp.append(i as i64, f).expect("append");
    }
    let append_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    sp.sync().expect("sync");
    let sync_s = t.elapsed().as_secs_f64();
    let bytes = sp.bytes();
    println!(
        "append {N} x {} B records: {:.2}s = {} ({:.0} MiB/s), then one sync {:.1} ms",
        bytes / N,
        append_s,
        rate(N as f64, append_s),
        bytes as f64 / append_s / 1048576.0,
        sync_s * 1e3
    );
    println!(
        "index for {N} records: {} bytes = {:.1} bytes/record",
        sp.index_bytes(),
        sp.index_bytes() as f64 / N as f64
    );

    let t = Instant::now();
    let mut cursor = 0;
    let mut n = 0;
    loop {
        let batch = sp.read(cursor, 1000, 512 << 10).expect("read");
        let Some(last) = batch.last() else { break };
        cursor = last.seq + 1;
        n += batch.len();
    }
    let read_s = t.elapsed().as_secs_f64();
    assert_eq!(n as u64, N);
    println!(
        "read {N} in batches of 1000: {:.2}s = {} ({:.0} MiB/s)",
        read_s,
        rate(N as f64, read_s),
        bytes as f64 / read_s / 1048576.0
    );

    drop(sp);
    let t = Instant::now();
    let mut sp = Spool::open(dir.path(), SpoolConfig::default()).expect("reopen");
    println!(
        "reopen (scan + CRC of {N} records): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    let mut seq = 0;
    while seq < N {
        seq += 1000;
        sp.ack(seq).expect("ack");
    }
    println!(
        "ack in steps of 1000 (state fsync + segment deletes): {:.0} ms total",
        t.elapsed().as_secs_f64() * 1e3
    );

    let t = Instant::now();
    for (i, f) in findings.iter().take(20_000).enumerate() {
        sp.append(i as i64, f).expect("append");
        if i % 100 == 99 {
            sp.sync().expect("sync");
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "append 20000 with a sync every 100: {:.2}s = {}",
        s,
        rate(20_000.0, s)
    );

    // Where sync time goes: the segment's fdatasync versus the atomic state write.
    let t = Instant::now();
    for (i, f) in findings.iter().take(100).enumerate() {
        sp.append(i as i64, f).expect("append");
        let seg = sp.segments.last_mut().expect("active segment");
        seg.handle(&sp.dir)
            .expect("handle")
            .sync_data()
            .expect("fdatasync");
    }
    let data_ms = t.elapsed().as_secs_f64() * 10.0;
    let t = Instant::now();
    let st = state::State::new(sp.acked_seq, sp.next_seq, BTreeMap::new());
    for _ in 0..100 {
        state::store(&sp.dir, &st).expect("store");
    }
    let state_ms = t.elapsed().as_secs_f64() * 10.0;
    println!("one append + fdatasync: {data_ms:.2} ms; one atomic state write: {state_ms:.2} ms");

    // Full spool of low and medium records, fed medium ones: steady-state eviction cost.
    let dir2 = tempfile::tempdir().expect("tempdir");
    let cfg = SpoolConfig {
        max_bytes: 16 << 20,
        segment_bytes: 1 << 20,
    };
    let mut sp = Spool::open(dir2.path(), cfg).expect("open");
    let t = Instant::now();
    for (i, f) in findings.iter().enumerate() {
        let _ = sp.append(i as i64, f);
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "append {N} into a 16 MiB spool (evicting, mixed severities): {:.2}s = {}, dropped {:?}",
        s,
        rate(N as f64, s),
        sp.take_dropped()
    );
}

#[test]
#[ignore = "benchmark; prints numbers"]
fn index_memory_1m() {
    const N: u64 = 1_000_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = SpoolConfig {
        max_bytes: 1 << 30,
        segment_bytes: 8 << 20,
    };
    // Write the segments directly so that no earlier index sits in this process's heap.
    let body = serde_json::to_vec(&finding_sized(Severity::Low, 0, 120)).expect("encode");
    let mut seq = 1;
    let mut buf = Vec::new();
    while seq <= N {
        let id = seq;
        buf.clear();
        buf.extend_from_slice(SEG_MAGIC);
        while seq <= N && (buf.len() + REC_HDR + body.len()) as u64 <= cfg.segment_bytes {
            format::encode(&mut buf, seq, 0, Severity::Low, &body);
            seq += 1;
        }
        std::fs::write(segment_path(dir.path(), id), &buf).expect("write segment");
    }
    drop(buf);
    let before = rss_kib().unwrap_or(0);
    let t = Instant::now();
    let sp = Spool::open(dir.path(), cfg).expect("open");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let after = rss_kib().unwrap_or(0);
    assert_eq!(sp.depth(), N);
    println!(
        "{N} records ({} MiB): open {open_ms:.0} ms; index {} bytes ({:.1} B/record); \
         RSS {before} KiB -> {after} KiB (+{:.1} B/record)",
        sp.bytes() >> 20,
        sp.index_bytes(),
        sp.index_bytes() as f64 / N as f64,
        (after.saturating_sub(before) * 1024) as f64 / N as f64
    );
}
