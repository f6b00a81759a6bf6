//! The store's two hot paths on both backends (issue 20, "one store program"): ingest
//! findings/s (one agent streaming, and two agents at once) and a province's score recompute
//! (load + compute + history write) while nothing else runs.
//!
//! `cargo run --release -p vigil-bench --bin store -- [HOSTS] [BATCHES] [RUNS]`
//! (5,000 hosts, 100 batches of 500 findings, 4 recomputes). `BATCHES` 0 skips ingest; more
//! `RUNS` steady the recompute figures on a busy machine.
//! PostgreSQL: `VIGIL_TEST_PG` (default `postgres://postgres@127.0.0.1/test`), in a temporary
//! schema dropped at the end.

use std::time::Instant;

use vigil_collector::scoring::{self, Inputs, RuleCatalog};
use vigil_collector::store::{Agency, NewAgent, PostgresStore, SqliteStore, Store};
use vigil_proto::{CheckResult, Envelope, Finding, Severity, Status};
use vigil_rules::score::Scoring;

use vigil_bench::seed::{NOW, fill};

/// Findings per batch (the agent's default batch size is of this order).
const BATCH: u64 = 500;

/// A check result of about 300 bytes of JSON.
fn check(seq: u64) -> Envelope {
    Envelope {
        seq,
        observed_at: NOW + seq as i64,
        finding: Finding::CheckResult(CheckResult {
            rule_id: format!("lnx-rule-{}", seq % 200),
            pack: "linux-baseline@1.0.0".into(),
            status: if seq.is_multiple_of(3) {
                Status::Fail
            } else {
                Status::Pass
            },
            severity: Severity::Medium,
            group: "hardening".into(),
            controls: vec!["tcvn-14423:x.5.2.2".into(), "cis-debian12:5.2.4".into()],
            evidence: "PermitRootLogin yes in /etc/ssh/sshd_config:32".into(),
        }),
    }
}

fn enroll(store: &dyn Store, id: &str) -> anyhow::Result<()> {
    store.agent_enroll(
        &NewAgent {
            id: id.into(),
            agency: "bench".into(),
            machine_id: format!("m-{id}"),
            hostname: id.into(),
            os: "Debian 12".into(),
            cert_serial: format!("s-{id}"),
            cert_not_after: NOW / 1000 + 86_400,
            agent_version: "0.1.0".into(),
            token_id: "t".into(),
            simulated: false,
        },
        NOW / 1000,
    )?;
    Ok(())
}

/// Findings/s of `batches` batches from one agent, then of the same number split over two
/// agents ingesting at once.
fn ingest(name: &str, store: &(dyn Store + Sync), batches: u64) -> anyhow::Result<()> {
    store.agency_add(&Agency {
        id: "bench".into(),
        name: "Bench".into(),
        level: 2,
    })?;
    for id in ["i1", "i2", "i3"] {
        enroll(store, id)?;
    }
    let all: Vec<Vec<Envelope>> = (0..batches)
        .map(|b| (1..=BATCH).map(|i| check(b * BATCH + i)).collect())
        .collect();
    let total = (batches * BATCH) as f64;
    let t = Instant::now();
    for b in &all {
        store.ingest("i1", b, NOW / 1000)?;
    }
    let one = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let half = all.len().div_ceil(2);
    std::thread::scope(|sc| -> anyhow::Result<()> {
        let runs: Vec<_> = ["i2", "i3"]
            .into_iter()
            .zip(all.chunks(half))
            .map(|(agent, part)| {
                sc.spawn(move || -> anyhow::Result<()> {
                    for b in part {
                        store.ingest(agent, b, NOW / 1000)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for r in runs {
            r.join()
                .map_err(|_| anyhow::anyhow!("ingest thread panicked"))??;
        }
        Ok(())
    })?;
    let two = t.elapsed().as_secs_f64();
    println!(
        "{name:<9} ingest: 1 agent {:>8.0} findings/s; 2 agents at once {:>8.0} findings/s",
        total / one,
        total / two
    );
    Ok(())
}

/// Score recompute of a filled province: the first run, then the best and the median of the
/// others.
fn recompute(name: &str, store: &dyn Store, hosts: usize, runs: i64) -> anyhow::Result<()> {
    fill(store, hosts, 50, 100)?;
    let scoring = Scoring::default();
    let catalog = RuleCatalog::builtin();
    let mut times = Vec::new();
    for run in 1..=runs.max(2) {
        let t = Instant::now();
        let inputs = Inputs::load(store)?;
        let scores = scoring::compute(&inputs, &scoring, &catalog, NOW + run * 1000);
        let points = scoring::history_points(&scores, &store.scores_latest()?);
        store.scores_record(&points)?;
        times.push(t.elapsed().as_secs_f64());
    }
    let mut rest = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    println!(
        "{name:<9} recompute: {hosts} hosts, first {:.3} s, then best {:.3} s, median {:.3} s",
        times[0],
        rest[0],
        rest[rest.len() / 2]
    );
    phases(name, store)
}

/// Each read of a recompute on its own, one after another (best of five, in ms, with the rows
/// read): where the recompute's time goes, to compare two builds of the store.
fn phases(name: &str, store: &dyn Store) -> anyhow::Result<()> {
    type Read<'a> = &'a dyn Fn() -> anyhow::Result<usize>;
    let running = || -> anyhow::Result<usize> {
        vigil_collector::policy::running::Running::load(store)?;
        Ok(1)
    };
    let reads: [(&str, Read<'_>); 9] = [
        ("checks", &|| Ok(store.check_states()?.len())),
        ("agents", &|| Ok(store.agents_brief()?.len())),
        ("alerts", &|| Ok(store.alerts(None)?.len())),
        ("agencies", &|| Ok(store.agencies()?.len())),
        ("assets", &|| Ok(store.assets()?.len())),
        ("fed", &|| Ok(store.federation().fed_latest()?.len())),
        ("vuln", &|| {
            Ok(store.vulns().vuln_critical_fixable_since()?.len())
        }),
        ("running", &running),
        ("latest", &|| Ok(store.scores_latest()?.len())),
    ];
    let mut row = Vec::new();
    for (label, read) in reads {
        let mut best = f64::INFINITY;
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            rows = read()?;
            best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        }
        row.push(format!("{label} {best:.1} ({rows})"));
    }
    println!("{name:<9} reads (best of 5, ms, rows): {}", row.join(", "));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let batches: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let runs: i64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);

    let dir = tempfile::tempdir()?;
    if batches > 0 {
        ingest(
            "sqlite",
            &SqliteStore::open(&dir.path().join("ingest.db"))?,
            batches,
        )?;
    }
    recompute(
        "sqlite",
        &SqliteStore::open(&dir.path().join("score.db"))?,
        hosts,
        runs,
    )?;

    let url = std::env::var("VIGIL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    let pid = std::process::id();
    let run = |schema: &str, f: &dyn Fn(&PostgresStore) -> anyhow::Result<()>| {
        let res = match PostgresStore::open_with_schema(&url, schema) {
            Ok(pg) => f(&pg),
            Err(e) => {
                eprintln!("PostgreSQL skipped: {e}");
                Ok(())
            }
        };
        if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
        res
    };
    if batches > 0 {
        run(&format!("vigil_bench_i{pid}"), &|pg| {
            ingest("postgres", pg, batches)
        })?;
    }
    run(&format!("vigil_bench_s{pid}"), &|pg| {
        recompute("postgres", pg, hosts, runs)
    })?;
    Ok(())
}
