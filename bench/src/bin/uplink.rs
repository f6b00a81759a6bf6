//! Findings/s from a real agent uplink shell to a real collector (QUIC + mTLS), loopback, and
//! the collector's memory while it stores them.
//!
//! For each N: starts `vigil-collector run` (release binaries from this target dir) on a fresh
//! data dir (SQLite, or with `--postgres` a fresh schema at `VIGIL_TEST_PG`), enrolls an agent
//! with `vigil-agent enroll`, pre-fills the agent's spool with N findings (a check result with
//! a new rule id every third finding, file events, health), then runs the agent's uplink
//! in-process and times until the collector's store holds all N. The per-agent batch rate is
//! lifted so the store path is measured rather than the policy.
//!
//! `cargo run --release -p vigil-bench --bin uplink -- [--postgres] [N ...]` (default 100000)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{Notify, watch};
use vigil_agent::state::StatePaths;
use vigil_agent::uplink::{Counters, Uplink};
use vigil_collector::store::{PostgresStore, SqliteStore, Store};
use vigil_e2e::pg::Schema;
use vigil_e2e::{Agent, Collector};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let postgres = args.iter().any(|a| a == "--postgres");
    let mut sizes: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() {
        sizes.push(100_000);
    }
    for n in sizes {
        run(n, postgres)?;
    }
    Ok(())
}

/// Resident and peak memory of a process, KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn run(n: u64, postgres: bool) -> anyhow::Result<()> {
    let schema = if postgres {
        Some(Schema::new().context("PostgreSQL is not reachable at VIGIL_TEST_PG")?)
    } else {
        None
    };
    // Agencies are added after the store is chosen, so they land in the store the run uses.
    let mut c = Collector::init_bare();
    let mut tables = String::from("[session]\nmax_batches_per_sec = 1000000\n");
    if let Some(s) = &schema {
        tables.push_str(&format!(
            "[store]\nbackend = \"postgres\"\nurl = \"{}\"\n",
            s.collector_url()
        ));
    }
    c.set_config_tables(&tables);
    c.add_agencies();
    c.start();
    let pid = c.proc.as_ref().map_or(0, vigil_e2e::Proc::pid);
    // The spool must hold all N (about 350 bytes each) or it evicts the oldest, as it should
    // on a host: then part of the run would be gaps rather than stored findings.
    let spool_mib = ((n * 512) >> 20).max(256);
    let mut a = Agent::new(
        c.tmp.path(),
        "bench",
        &format!("[spool]\nmax_size = \"{spool_mib}MiB\"\n"),
    );
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
    let db: Box<dyn Store> = match &schema {
        Some(s) => Box::new(PostgresStore::open(&s.collector_url())?),
        None => Box::new(SqliteStore::open(&c.data_dir.join("vigil.db"))?),
    };
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
    let idle = rss_kib(pid).0;
    // RSS at each quarter of the run, to see whether it stays flat.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid).0, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let t = Instant::now();
    let task = rt.spawn(up.run(rx));
    let mut quarters = Vec::new();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let got = db.max_seq(&agent_id)?;
        while quarters.len() < 4 && got * 4 >= n * (quarters.len() as u64 + 1) {
            quarters.push(rss_kib(pid).0 / 1024);
        }
        if got >= n {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(1800),
            "only {got} of {n} arrived in 30 min"
        );
    }
    let secs = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let _ = tx.send(true);
    let _ = rt.block_on(task);
    let stored = db.finding_count(&agent_id)?;
    println!(
        "uplink {}: {n} findings over one QUIC connection in {secs:.2} s = {:.0} findings/s \
         (stored {stored}); collector RSS idle {} MiB, at each quarter {:?} MiB, peak {} MiB",
        if postgres { "postgres" } else { "sqlite" },
        n as f64 / secs,
        idle / 1024,
        quarters,
        peak.load(Ordering::Relaxed) / 1024,
    );
    anyhow::ensure!(
        stored == n,
        "{stored} of {n} findings stored: the run measured something else (spool eviction?)"
    );
    Ok(())
}
