//! Recomputing every score of a province: 100 agencies, 20,000 hosts, 100 rule results each
//! (DESIGN §6; target < 2 s), on SQLite and, when reachable, PostgreSQL.
//!
//! Fills a fresh store through the real ingest path (enroll, then one batch of check results per
//! host, so the per-host check state is what ingest maintains), adds registered assets without
//! agents and open alerts, then times `scoring::recompute` (load + compute + history write)
//! three times: the first writes every history point, the next ones write only what changed.
//!
//! Then times the province posture report of the month before (docs/reports.md): building
//! its model from the store, and rendering it as PDF (target < 5 s in all), HTML and CSV.
//!
//! `cargo run --release -p vigil-bench --bin score -- [HOSTS] [AGENCIES]`
//! PostgreSQL: `VIGIL_TEST_PG` (default `postgres://postgres@127.0.0.1/test`), in a temporary
//! schema dropped at the end.

use std::time::Instant;

use vigil_collector::scoring::{self, Inputs, RuleCatalog};
use vigil_collector::store::{PostgresStore, SqliteStore, Store};
use vigil_rules::score::Scoring;

use vigil_bench::seed::{NOW, fill};
const TARGET_S: f64 = 2.0;

fn measure(name: &str, store: &dyn Store) -> anyhow::Result<()> {
    let scoring = Scoring::default();
    let catalog = RuleCatalog::builtin();
    for run in 1..=3 {
        let now = NOW + run * 1000;
        let t = Instant::now();
        let inputs = Inputs::load(store)?;
        let load = t.elapsed().as_secs_f64();
        let scores = scoring::compute(&inputs, &scoring, &catalog, now);
        let compute = t.elapsed().as_secs_f64() - load;
        let points = scoring::history_points(&scores, &store.scores_latest()?);
        store.scores_record(&points)?;
        let total = t.elapsed().as_secs_f64();
        let p = &scores.agencies[0];
        println!(
            "{name:<10} run {run}: {total:>6.3} s (load {load:.3}, compute {compute:.3}, history {:.3}: {} points)  \
             hosts {}  A(tinh) = {:.2}, coverage {:.3}  → {:.2}× the {TARGET_S} s target",
            total - load - compute,
            points.len(),
            scores.hosts.len(),
            p.full.score,
            p.full.coverage,
            total / TARGET_S
        );
    }
    Ok(())
}

const REPORT_TARGET_S: f64 = 5.0;

fn measure_reports(name: &str, store: &dyn Store) -> anyhow::Result<()> {
    use vigil_collector::report::{Format, Lang, Period, Report, pdf::DEFAULT_FONT};
    let font = std::path::Path::new(DEFAULT_FONT);
    let now = NOW + 10_000;
    let period = Period::last_full_month(now);
    let t = Instant::now();
    let report = Report::build(store, &Scoring::default(), "Tỉnh", None, period, now)?;
    let build = t.elapsed().as_secs_f64();
    let mut line = format!(
        "{name:<10} report {}: model {build:.3} s ({} agencies, {} failing hosts)",
        period.slug(),
        report.agencies.len(),
        report.failing_hosts.len()
    );
    for (f, label) in [
        (Format::Pdf, "pdf"),
        (Format::Html, "html"),
        (Format::Csv, "csv"),
    ] {
        let t = Instant::now();
        let bytes = report.render(f, Lang::Vi, font)?;
        let render = t.elapsed().as_secs_f64();
        line.push_str(&format!(
            ", {label} +{render:.3} s = {:.3} s ({} KiB)",
            build + render,
            bytes.len() / 1024
        ));
        if f == Format::Pdf {
            line.push_str(&format!(
                " → {:.2}× the {REPORT_TARGET_S} s target",
                (build + render) / REPORT_TARGET_S
            ));
        }
    }
    println!("{line}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let agencies: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let rules = 100;

    let dir = tempfile::tempdir()?;
    eprintln!("SQLite:");
    let sqlite = SqliteStore::open(&dir.path().join("bench.db"))?;
    fill(&sqlite, hosts, agencies, rules)?;
    measure("sqlite", &sqlite)?;
    measure_reports("sqlite", &sqlite)?;
    drop(sqlite);

    let url = std::env::var("VIGIL_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1/test".into());
    let schema = format!("vigil_bench_{}", std::process::id());
    match PostgresStore::open_with_schema(&url, &schema) {
        Ok(pg) => {
            eprintln!("PostgreSQL:");
            let res = fill(&pg, hosts, agencies, rules)
                .and_then(|()| measure("postgres", &pg))
                .and_then(|()| measure_reports("postgres", &pg));
            drop(pg);
            if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
            res?;
        }
        Err(e) => eprintln!("PostgreSQL skipped: {e}"),
    }
    Ok(())
}
