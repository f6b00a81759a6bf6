//! vigil-loadgen: N simulated agents (the real uplink shell, real QUIC + mTLS, real spools) push
//! K findings each into a real collector on SQLite; prints sustained findings/s and the
//! collector's RSS per connected agent.
//!
//! `cargo run --release -p vigil-bench --bin vigil-loadgen -- AGENTS FINDINGS_PER_AGENT`

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

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let k: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut c = Collector::init();
    c.start();
    let pid = c.proc.as_ref().map_or(0, vigil_e2e::Proc::pid);
    let rss0 = rss_kib(pid);
    let token = c.token(&["--uses", &n.to_string()]);
    let cfg_path = c.tmp.path().join("fleet.toml");
    std::fs::write(&cfg_path, "[uplink]\nheartbeat_interval = \"30s\"\n")?;
    let cfg = vigil_agent::config::load(&cfg_path, true)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let fleet = rt.block_on(vigil_agent::sim::enroll_fleet(
        &c.tmp.path().join("fleet"),
        &token,
        n,
        &cfg,
    ))?;
    let (agents, uplinks): (Vec<_>, Vec<_>) = fleet.into_iter().unzip();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let _tasks = vigil_agent::sim::run_fleet(rt.handle(), uplinks, &stop_rx)?;
    std::thread::sleep(Duration::from_secs(3));
    let rss_connected = rss_kib(pid);
    vigil_agent::sim::feed(&agents, k, 0)?;
    let db = SqliteStore::open(&c.data_dir.join("vigil.db"))?;
    let t = Instant::now();
    let total = n as u64 * k;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let done: u64 = agents
            .iter()
            .map(|a| db.max_seq(&a.id).unwrap_or(0).min(k))
            .sum();
        if done >= total {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(900),
            "only {done} of {total} in 15 min"
        );
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "vigil-loadgen: {n} agents x {k} findings into SQLite: {:.0} findings/s ({secs:.1} s); collector RSS {} KiB idle, {} KiB with {n} agents connected = {:.1} KiB per agent, {} KiB after the load",
        total as f64 / secs,
        rss0,
        rss_connected,
        (rss_connected.saturating_sub(rss0)) as f64 / n as f64,
        rss_kib(pid)
    );
    let _ = stop.send(true);
    Ok(())
}
