//! Findings/s from a real agent uplink shell to a real collector (QUIC + mTLS, SQLite), loopback.
//!
//! Starts `vigil-collector run` (release binaries from this target dir), enrolls an agent with
//! `vigil-agent enroll`, pre-fills the agent's spool with N findings, then runs the agent's
//! uplink in-process and times until the collector's store holds all N.
//!
//! `cargo run --release -p vigil-bench --bin uplink -- [N]`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use vigil_agent::state::StatePaths;
use vigil_agent::uplink::{Counters, Uplink};
use vigil_collector::store::{SqliteStore, Store};
use vigil_e2e::{Agent, Collector};

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let mut c = Collector::init();
    c.start();
    let mut a = Agent::new(c.tmp.path(), "bench", "");
    a.enroll(&c.token(&[]), "bench-machine");
    let state = StatePaths::new(&a.state_dir);
    let cfg = vigil_agent::config::load(&a.config, true)?;
    let mut spool = vigil_agent::spool::Spool::open(&state.spool(), cfg.spool)?;
    for i in 0..n {
        spool.append(
            1_795_000_000_000 + i as i64,
            &vigil_bench::sample_finding(i),
        )?;
    }
    spool.sync()?;
    let identity = state.load_identity()?;
    let db = SqliteStore::open(&c.data_dir.join("vigil.db"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let agent_id = identity.agent_id.clone();
    let (tx, rx) = watch::channel(false);
    let up = Uplink::new(
        identity,
        state,
        cfg,
        Arc::new(Mutex::new(spool)),
        Arc::new(Notify::new()),
        Arc::new(Counters::default()),
    );
    let t = Instant::now();
    let task = rt.spawn(up.run(rx));
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let got = db.max_seq(&agent_id)?;
        if got >= n {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(600),
            "only {got} of {n} arrived in 10 min"
        );
    }
    let secs = t.elapsed().as_secs_f64();
    let _ = tx.send(true);
    let _ = rt.block_on(task);
    let stored = db.finding_count(&agent_id)?;
    println!(
        "uplink: {n} findings over one QUIC connection into SQLite in {secs:.2} s = {:.0} findings/s (stored {stored})",
        n as f64 / secs
    );
    Ok(())
}
