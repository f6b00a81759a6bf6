//! `vigil-agent run`: wires the engines to the spool and the uplink, until SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Notify, watch};
use tracing::info;
use vigil_proto::{AgentHealth, Finding, FindingSink, HealthKind, Severity};

use crate::config::AgentConfig;
use crate::spool::Spool;
use crate::state::StatePaths;
use crate::uplink::{self, Counters, SpoolSink, Uplink};

/// Runs the agent until `shutdown` flips.
///
/// # Errors
/// When the state dir is not enrolled or unsafe, or the spool cannot be opened.
pub async fn run(
    cfg: AgentConfig,
    state: StatePaths,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    state.check_permissions()?;
    let identity = state.load_identity()?;
    let spool = Spool::open(&state.spool(), cfg.spool)
        .with_context(|| format!("opening the spool in {}", state.spool().display()))?;
    let spool = Arc::new(Mutex::new(spool));
    let wake = Arc::new(Notify::new());
    let counters = Arc::new(Counters::default());
    let mut sink = SpoolSink::new(spool.clone(), wake.clone(), counters.clone());
    info!(agent = %identity.agent_id, agency = %identity.agency, "Agent starting.");
    sink.emit(Finding::AgentHealth(AgentHealth {
        kind: HealthKind::Started,
        message: format!("vigil-agent {} started", env!("CARGO_PKG_VERSION")),
        counts: BTreeMap::new(),
        severity: Severity::Low,
    }));

    let fim = if cfg.fim.paths.is_empty() {
        None
    } else {
        let root = std::path::PathBuf::from("/");
        Some(
            crate::fim::spawn(
                cfg.fim.clone(),
                root,
                state.dir.clone(),
                Box::new(sink.clone()),
            )
            .context("starting file integrity monitoring")?,
        )
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(inventory_loop(
        sink.clone(),
        cfg.inventory_interval,
        shutdown.clone(),
    ));
    tasks.spawn(sync_loop(spool.clone(), shutdown.clone()));
    let up = Uplink::new(identity, state, cfg, spool.clone(), wake, counters);
    up.run(shutdown).await;
    tasks.shutdown().await;
    if let Some(f) = fim {
        tokio::task::spawn_blocking(move || f.shutdown())
            .await
            .context("stopping FIM")?;
    }
    uplink::lock(&spool).sync()?;
    info!("Agent stopped.");
    Ok(())
}

async fn inventory_loop(mut sink: SpoolSink, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut last = String::new();
    loop {
        let inv = tokio::task::spawn_blocking(crate::inventory::collect).await;
        if let Ok(inv) = inv {
            let fp = crate::inventory::fingerprint(&inv);
            if fp != last {
                last = fp;
                sink.emit(Finding::Inventory(inv));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Flushes the spool to disk once a second (group commit for findings not yet sent).
async fn sync_loop(spool: uplink::SharedSpool, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Err(e) = uplink::lock(&spool).sync() {
                    tracing::warn!(error = %e, "Spool sync failed.");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}
