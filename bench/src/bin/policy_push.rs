//! policy_push: the time from `policy assign` to the last of N simulated agents reporting the
//! new bundle version, and the collector's peak RSS during the push (issue 18).
//!
//! The agents are the real uplink shell in one process (real QUIC + mTLS, real enrollment,
//! the real policy path: chunks reassembled, signature verified with the pinned key, bundle
//! written atomically in each agent's state directory), against a real collector process on
//! SQLite. Agents report the applied version in their heartbeats (every 2 s here), so the
//! time includes up to one heartbeat interval.
//!
//! `cargo run --release -p vigil-bench --bin policy_push -- [AGENTS=1000] [BUNDLE_KIB=1024]`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vigil_collector::store::{SqliteStore, Store};
use vigil_e2e::Collector;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A valid pack of about `kib` KiB: one rule, padded with a YAML comment.
fn big_pack(kib: usize) -> String {
    let head = "id: bench-policy\nversion: \"1.0\"\ntitle: {vi: Gói đo, en: Bench pack}\nrules:\n  \
        - id: bench-marker\n    title: {vi: a, en: a}\n    rationale: {vi: a, en: a}\n    \
        remediation: {vi: a, en: a}\n    severity: low\n    group: hardening\n    checks:\n      \
        - {kind: file, path: /nonexistent/vigil-bench}\n";
    let mut s = head.to_owned();
    while s.len() < kib * 1024 {
        s.push_str("# ");
        s.push_str(&"x".repeat(1000));
        s.push('\n');
    }
    s
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let kib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    let mut c = Collector::init_bare();
    c.ok(&["agency", "add", "--id", "tinh", "--name", "Tỉnh"]);
    c.ok(&["agency", "add", "--id", "tinh/so-a", "--name", "Sở A"]);
    c.start();
    let pid = c.proc.as_ref().map_or(0, vigil_e2e::Proc::pid);
    let token = c.ok(&[
        "token",
        "create",
        "--agency",
        "tinh/so-a",
        "--uses",
        &n.to_string(),
    ]);
    let cfg_path = c.tmp.path().join("fleet.toml");
    std::fs::write(&cfg_path, "[uplink]\nheartbeat_interval = \"2s\"\n")?;
    let cfg = vigil_agent::config::load(&cfg_path, true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let t = Instant::now();
    let fleet = rt.block_on(vigil_agent::sim::enroll_fleet(
        &c.tmp.path().join("fleet"),
        token.trim(),
        n,
        &cfg,
    ))?;
    println!("enrolled {n} agents in {:.1} s", t.elapsed().as_secs_f64());
    let (_agents, uplinks): (Vec<_>, Vec<_>) = fleet.into_iter().unzip();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let _tasks = vigil_agent::sim::run_fleet(rt.handle(), uplinks, &stop_rx)?;
    let db = SqliteStore::open(&c.data_dir.join("vigil.db"))?;
    // The collector admits a bounded number of new connections per second: give a large
    // fleet time to come in.
    let deadline = Instant::now() + Duration::from_secs(60 + n as u64 / 2);
    loop {
        let connected = db
            .agents_brief()?
            .iter()
            .filter(|a| a.last_seen > 0)
            .count();
        if connected == n {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {connected} of {n} agents connected"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "{n} agents connected {:.1} s after enrollment began",
        t.elapsed().as_secs_f64()
    );
    let pack = c.tmp.path().join("big.yaml");
    std::fs::write(&pack, big_pack(kib))?;
    c.ok(&[
        "policy",
        "add",
        "big",
        "--pack",
        pack.to_str().unwrap_or("big.yaml"),
    ]);

    let rss_before = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let t0 = Instant::now();
    c.ok(&["policy", "assign", "--agency", "tinh/so-a", "big"]);
    let version = db.policies().policy_rev()?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut half = None;
    let last = loop {
        let have = db
            .policies()
            .policy_applied()?
            .iter()
            .filter(|a| a.version >= version)
            .count();
        if half.is_none() && have * 2 >= n {
            half = Some(t0.elapsed());
        }
        if have == n {
            break t0.elapsed();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {have} of {n} agents applied the bundle"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    println!(
        "policy push: {n} agents, bundle of {kib} KiB (version {version}): half reported after \
         {:.2} s, the last after {:.2} s",
        half.unwrap_or(last).as_secs_f64(),
        last.as_secs_f64()
    );
    println!(
        "collector RSS: {} MiB before, {} MiB peak during the push",
        rss_before / 1024,
        peak.load(Ordering::Relaxed) / 1024
    );
    Ok(())
}
