//! Process wiring of the collector: opens the store from the config, starts the QUIC server,
//! the HTTP console and the scheduler on one shutdown switch, and stops them together. The CLI's
//! `run` and `demo` call into it; nothing below it knows about processes or signals.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use tracing::info;

use crate::config::{Config, StoreConfig};
use crate::pki::{Ca, PkiPaths};
use crate::store::{PostgresStore, SqliteStore, Store};
use crate::{http, server};

/// Opens the configured store.
///
/// # Errors
/// When the store cannot be opened; a PostgreSQL error never shows the URL (it may carry a
/// password).
pub fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match &cfg.store {
        StoreConfig::Sqlite(p) => Ok(Arc::new(
            SqliteStore::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        StoreConfig::Postgres(url) => Ok(Arc::new(
            PostgresStore::open(url).context("opening the PostgreSQL store (store.url)")?,
        )),
    }
}
/// Runs the collector until a signal (or `shutdown_tx` from a caller such as `demo`).
///
/// `ready` receives the bound QUIC and HTTP addresses once both listen.
///
/// # Errors
/// When binding or the store fails.
pub async fn run(
    cfg: Config,
    ready: Option<tokio::sync::oneshot::Sender<(SocketAddr, SocketAddr)>>,
) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(false);
    let sig_tx = tx.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("Signal received; shutting down.");
        let _ = sig_tx.send(true);
    });
    serve(cfg, ready, rx).await
}
/// Like [`run`], with an external shutdown switch.
///
/// # Errors
/// When binding or the store fails.
pub async fn serve(
    cfg: Config,
    ready: Option<tokio::sync::oneshot::Sender<(SocketAddr, SocketAddr)>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let store = open_store(&cfg)?;
    let exports = crate::export::prepare(&cfg.export).map_err(anyhow::Error::msg)?;
    // Pages read the latest scores: the scheduler's, or a refresh once they are 15 s old or new
    // findings arrived, so new results show quickly whatever the recompute interval.
    let score_cache = Arc::new(crate::scoring::ScoreCache::new(
        std::time::Duration::from_secs(15),
    ));
    let quic = server::QuicServer::bind(&cfg, store.clone(), score_cache.clone())?;
    let quic_addr = quic.local_addr()?;
    let tls = match &cfg.http_tls {
        Some(t) => Some(Arc::new(
            http::listen::server_config(&t.cert, &t.key)
                .context("loading the console's certificate ([http] cert and key)")?,
        )),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .with_context(|| format!("binding HTTP on {}", cfg.http_listen))?;
    let http_addr = listener.local_addr()?;
    info!(quic = %quic_addr, console = %console_url(&cfg, http_addr), data_dir = %cfg.data_dir.display(), "Collector listening.");
    if let Some(r) = ready {
        let _ = r.send((quic_addr, http_addr));
    }
    let app = http::app(http::AppState {
        store: store.clone(),
        name: cfg.name.clone().into(),
        scoring: Arc::new(cfg.scoring.clone()),
        scores: score_cache.clone(),
        enroll: Some(Arc::new(http::EnrollSettings {
            ca: Ca::load(&PkiPaths::new(&cfg.data_dir))?,
            advertise: cfg.advertise.clone(),
        })),
        login_limit: Arc::new(http::ratelimit::LoginLimiter::new(cfg.login_limit)),
        reports: Arc::new(cfg.reports.clone()),
        hasher: Arc::default(),
        report_slots: Arc::default(),
    });
    let sched = tokio::spawn(crate::schedule::run(
        store.clone(),
        crate::schedule::Schedule {
            scoring: cfg.scoring.clone(),
            recompute: cfg.recompute_interval,
            alerts: cfg.alerts.clone(),
            alert_rules: cfg.alert_rules_interval,
            cache: Some(score_cache),
            org: cfg.name.clone(),
            reports: cfg.reports.clone(),
        },
        shutdown.clone(),
    ));
    let notifier = spawn_notifier(&cfg, &store, shutdown.clone())?;
    let link = crate::federation::downstream::LinkPaths::new(&cfg.data_dir);
    if link.exists() {
        let (store, scoring) = (store.clone(), Arc::new(cfg.scoring.clone()));
        let (dir, stop, wake) = (
            cfg.data_dir.clone(),
            shutdown.clone(),
            quic.federation_wake(),
        );
        let interval = cfg.upstream_interval;
        tokio::spawn(async move {
            let r = crate::federation::downstream::run(store, scoring, &dir, interval, wake, stop);
            if let Err(e) = r.await {
                tracing::error!(error = %e, "The upstream link cannot start.");
            }
        });
    }
    let http_task = tokio::spawn(http::serve(listener, tls, app, shutdown.clone()));
    let export_task = tokio::spawn(crate::export::run(
        store.clone(),
        exports,
        cfg.name.clone(),
        shutdown.clone(),
    ));
    quic.serve(shutdown).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), http_task).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), sched).await;
    if let Some(n) = notifier {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), n).await;
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(6), export_task).await;
    info!("Collector stopped.");
    Ok(())
}
/// Starts the notifier when `[notify]` has recipients.
///
/// # Errors
/// An unreadable secret, CA or state file (every problem named, no secret shown).
fn spawn_notifier(
    cfg: &Config,
    store: &Arc<dyn Store>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !cfg.notify.enabled() {
        return Ok(None);
    }
    let transports = crate::notify::Transports::new(&cfg.notify)
        .map_err(|e| anyhow::anyhow!("notifications ([notify]):\n{}", e.join("\n")))?;
    let n = crate::notify::Notifier::new(
        cfg.notify.clone(),
        cfg.name.clone(),
        store.clone(),
        Arc::new(transports),
    )
    .context("starting notifications ([notify])")?;
    Ok(Some(tokio::spawn(n.run(shutdown))))
}

/// The console's URL at `addr`: `https://` unless the config serves plain HTTP.
pub fn console_url(cfg: &Config, addr: SocketAddr) -> String {
    let scheme = if cfg.http_tls.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{addr}/")
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
