//! Time from a file write to the finding stored at the collector (real agent, real collector,
//! real inotify): p50/p99/max over N writes, using the collector's `received_at`.
//!
//! `cargo run --release -p vigil-bench --bin fim_latency -- [N] [SPACING_MS]`
//!
//! The engine flushes once a tree has been quiet for the debounce (200 ms), or after 1 s of
//! continuous activity; spacing writes below the debounce measures that storm bound instead.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigil_e2e::{Agent, Collector, wait_for};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let spacing: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut c = Collector::init();
    c.start();
    let dir = c.tmp.path().join("watched");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut a = Agent::new(
        c.tmp.path(),
        "lat",
        &format!("[fim]\npaths = [\"{}\"]\n", dir.display()),
    );
    a.enroll(&c.token(&[]), "bench-fim-latency");
    a.start();
    wait_for(Duration::from_secs(30), "the agent to connect", || {
        (a.status()["status"]["connected"] == true).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let mut written = Vec::with_capacity(n);
    for i in 0..n {
        let p = dir.join(format!("f{i}"));
        written.push((p.display().to_string(), now_ms()));
        std::fs::write(&p, format!("{i}")).expect("write");
        // Spread the writes so each one is its own event, as on a real host.
        std::thread::sleep(Duration::from_millis(spacing));
    }
    let stored = wait_for(Duration::from_secs(60), "all file events", || {
        let f = c.findings(&a.id, Some("file"));
        let got: std::collections::HashMap<String, i64> = f
            .iter()
            .filter(|x| x["finding"]["kind"] == "created")
            .filter_map(|x| {
                Some((
                    x["finding"]["path"].as_str()?.to_string(),
                    x["received_at"].as_i64()?,
                ))
            })
            .collect();
        (got.len() >= n).then_some(got)
    });
    let mut lat: Vec<i64> = written
        .iter()
        .filter_map(|(p, t)| stored.get(p).map(|r| r - t))
        .collect();
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "fim_latency: {} writes {spacing} ms apart, write -> stored at collector: p50 {} ms, p99 {} ms, max {} ms",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0)
    );
}
