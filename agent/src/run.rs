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
        // `/` is the live host on every platform (FIM maps drive paths itself on Windows).
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
    let registry = if cfg.fim.registry && crate::fim::registry::SUPPORTED {
        Some(
            crate::fim::registry::spawn(
                crate::fim::registry::default_keys(),
                cfg.fim.registry_interval,
                state.dir.clone(),
                Box::new(sink.clone()),
            )
            .context("starting the registry watch")?,
        )
    } else {
        None
    };
    let ioc: crate::ioc::SharedIoc = Arc::new(std::sync::RwLock::new(crate::ioc::IocSet::new()));
    let netwatch = if cfg.netwatch.enabled {
        Some(
            crate::netwatch::spawn(
                cfg.netwatch.clone(),
                std::path::PathBuf::from("/"),
                cfg.role,
                ioc.clone(),
                Box::new(sink.clone()),
            )
            .context("starting the network watch")?,
        )
    } else {
        None
    };
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(inventory_loop(
        sink.clone(),
        cfg.inventory_interval,
        shutdown.clone(),
    ));
    tasks.spawn(sync_loop(spool.clone(), shutdown.clone()));
    if cfg.checks.enabled {
        tasks.spawn(checks_loop(
            cfg.checks.clone(),
            sink.clone(),
            shutdown.clone(),
        ));
    }
    if cfg.testing.synthetic_findings > 0 {
        tasks.spawn(synthetic_loop(cfg.testing, sink.clone(), shutdown.clone()));
    }
    let up = Uplink::new(identity, state, cfg, spool.clone(), wake, counters).with_ioc(ioc);
    up.run(shutdown).await;
    tasks.shutdown().await;
    if let Some(n) = netwatch {
        tokio::task::spawn_blocking(move || n.stop())
            .await
            .context("stopping netwatch")?;
    }
    if let Some(r) = registry {
        tokio::task::spawn_blocking(move || r.stop())
            .await
            .context("stopping the registry watch")?;
    }
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

/// `[testing]`: emits `synthetic_findings` numbered findings (`counts.synthetic` = 0, 1, …) at
/// `synthetic_rate` per second through the engines' sink, so tests can check delivery exactly.
async fn synthetic_loop(
    t: crate::config::Testing,
    mut sink: SpoolSink,
    mut shutdown: watch::Receiver<bool>,
) {
    let per_tick = (t.synthetic_rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut i = 0u64;
    while i < t.synthetic_findings {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        for _ in 0..per_tick.min(t.synthetic_findings - i) {
            let critical =
                t.synthetic_critical_every > 0 && i.is_multiple_of(t.synthetic_critical_every);
            sink.emit(Finding::AgentHealth(AgentHealth {
                kind: HealthKind::Other,
                message: "synthetic test finding".into(),
                counts: BTreeMap::from([("synthetic".to_string(), i)]),
                severity: if critical {
                    Severity::Critical
                } else {
                    Severity::Low
                },
            }));
            i += 1;
        }
    }
    tracing::info!(emitted = i, "Synthetic findings emitted.");
}

/// How often every check result is re-sent even if unchanged, so the collector can verify state.
const CHECK_DIGEST_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Evaluates the rule packs every `interval` and sends the results that changed (plus a daily
/// digest). A pack that fails to load is reported once per run as an agent-health finding.
async fn checks_loop(
    cfg: crate::check::ChecksConfig,
    mut sink: SpoolSink,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tracker = crate::check::CheckTracker::new(CHECK_DIGEST_EVERY);
    loop {
        let c = cfg.clone();
        let run = tokio::task::spawn_blocking(
            move || -> Result<Vec<vigil_proto::CheckResult>, String> {
                let facts = crate::platform::host_facts(
                    &crate::platform::facts_root(),
                    std::time::SystemTime::now(),
                );
                let facts = facts.as_ref();
                let packs =
                    crate::check::packs_for_this_host(&c, facts).map_err(|e| e.to_string())?;
                Ok(packs
                    .iter()
                    .flat_map(|p| vigil_rules::evaluate(p, facts, c.level))
                    .collect())
            },
        )
        .await;
        match run {
            Ok(Ok(results)) => {
                Counters::bump(&sink.counters().checks_run);
                let sent = tracker.push(&results, std::time::SystemTime::now(), &mut sink);
                tracing::info!(rules = results.len(), sent, "Checks evaluated.");
            }
            Ok(Err(e)) => sink.emit(Finding::AgentHealth(AgentHealth {
                kind: HealthKind::Other,
                message: format!("rule packs could not be loaded: {e}"),
                counts: BTreeMap::new(),
                severity: Severity::High,
            })),
            Err(e) => tracing::error!(error = %e, "Check run panicked."),
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
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
