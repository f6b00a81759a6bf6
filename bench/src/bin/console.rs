//! Server time of the console's pages on a seeded province: 100 agencies, 20,000 hosts with 100
//! rule results each (the `score` benchmark's data), alerts on every 100th host. Target: p95 <
//! 200 ms for the overview, an agency page and the alert queue; the PDF report of the province
//! in < 5 s.
//!
//! Requests go through the collector's real router (`http::app`) with `oneshot`, so the time is
//! the server's: authentication, store reads, scoring cache, JSON encoding; no network.
//!
//! `cargo run --release -p vigil-bench --bin console -- [HOSTS] [AGENCIES] [REQUESTS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;
use vigil_collector::http::{AppState, app};
use vigil_collector::scoring::ScoreCache;
use vigil_collector::store::{SqliteStore, Store as _, User, UserRole};

const PAGE_TARGET_MS: f64 = 200.0;
const PDF_TARGET_S: f64 = 5.0;

async fn get(router: &axum::Router, uri: &str, cookie: &str) -> (StatusCode, usize, Duration) {
    let req = Request::get(uri)
        .header(header::COOKIE, format!("vigil_session={cookie}"))
        .body(Body::empty())
        .expect("request");
    let t = Instant::now();
    let r = router.clone().oneshot(req).await.expect("response");
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, body.len(), t.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn measure(router: &axum::Router, cookie: &str, name: &str, uris: &[String], target_ms: f64) {
    let mut times = Vec::with_capacity(uris.len());
    let mut bytes = 0;
    for uri in uris {
        let (st, n, d) = get(router, uri, cookie).await;
        assert_eq!(st, StatusCode::OK, "{uri}");
        bytes = n;
        times.push(d);
    }
    times.sort();
    let p95 = percentile(&times, 0.95);
    println!(
        "{name:<14} n={:<4} p50 {:>7.1} ms  p95 {:>7.1} ms  max {:>7.1} ms  ({} KiB)  → p95 is {:.2}× the {target_ms} ms target",
        times.len(),
        percentile(&times, 0.5),
        p95,
        percentile(&times, 1.0),
        bytes / 1024,
        p95 / target_ms
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let hosts: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let agencies: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let requests: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50);

    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db"))?);
    eprintln!("seeding {hosts} hosts in {agencies} agencies");
    vigil_bench::seed::fill(&*store, hosts, agencies, 100)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let password = "bench-password-long-enough";
    store.user_add(
        &User {
            name: "bench".into(),
            password_hash: vigil_collector::auth::hash_password(password)?,
            role: UserRole::Admin,
            scope: String::new(),
            created_at: now,
            disabled: false,
        },
        "bench",
        now,
    )?;
    let router = app(AppState {
        store: store.clone(),
        name: "Tỉnh".into(),
        scoring: Arc::default(),
        scores: Arc::new(ScoreCache::new(Duration::from_secs(3600))),
        enroll: None,
        login_limit: Arc::default(),
        reports: Arc::default(),
        hasher: Arc::default(),
        report_slots: Arc::default(),
    });
    let login = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"name":"bench","password":"{password}"}}"#
        )))?;
    let r = router.clone().oneshot(login).await?;
    anyhow::ensure!(r.status() == StatusCode::OK, "login: {}", r.status());
    let cookie = r
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.strip_prefix("vigil_session="))
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?
        .to_owned();

    // The first page computes the scores (an empty cache); later ones read the cache, as they do
    // in `run`, where the scheduler keeps it filled.
    let (st, _, cold) = get(&router, "/api/v1/overview", &cookie).await;
    anyhow::ensure!(st == StatusCode::OK, "overview: {st}");
    println!(
        "overview, cold cache (computes every score): {:.0} ms",
        cold.as_secs_f64() * 1000.0
    );
    let overview: Vec<String> = (0..requests).map(|_| "/api/v1/overview".into()).collect();
    measure(&router, &cookie, "overview", &overview, PAGE_TARGET_MS).await;
    let agency: Vec<String> = (0..requests)
        .map(|i| format!("/api/v1/agencies/tinh%2Fxa-{:03}", (i * 7) % agencies))
        .collect();
    measure(&router, &cookie, "agency page", &agency, PAGE_TARGET_MS).await;
    let province: Vec<String> = (0..requests.min(10))
        .map(|_| "/api/v1/agencies/tinh".into())
        .collect();
    measure(&router, &cookie, "province page", &province, PAGE_TARGET_MS).await;
    let alerts: Vec<String> = (0..requests).map(|_| "/api/v1/alerts".into()).collect();
    measure(&router, &cookie, "alert queue", &alerts, PAGE_TARGET_MS).await;
    let host: Vec<String> = (0..requests)
        .map(|i| format!("/api/v1/hosts/agent-{:05}", (i * 397) % hosts))
        .collect();
    measure(&router, &cookie, "host page", &host, PAGE_TARGET_MS).await;

    let mut pdf = Vec::new();
    for _ in 0..3 {
        let (st, n, d) = get(&router, "/api/v1/reports?format=pdf", &cookie).await;
        anyhow::ensure!(st == StatusCode::OK, "report: {st}");
        pdf.push((d, n));
    }
    for (d, n) in &pdf {
        println!(
            "province PDF report: {:.2} s ({} KiB)  → {:.2}× the {PDF_TARGET_S} s target",
            d.as_secs_f64(),
            n / 1024,
            d.as_secs_f64() / PDF_TARGET_S
        );
    }
    Ok(())
}
