//! `vigil-agent run`: wires the engines to the spool and the uplink, until SIGINT/SIGTERM.
//! The engines follow the central policy in force ([`live`]).

mod live;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Notify, watch};
use tracing::info;
use vigil_proto::{AgentHealth, Finding, FindingSink, HealthKind, Severity};

use crate::central::PolicyAgent;
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
    let (policy, problem) = PolicyAgent::open(&state, &identity.agency, cfg.clone());
    let policy_rx = policy.subscribe();
    // The policy in force passed every check when it was applied; should it no longer merge
    // (agent.toml changed since), the local configuration runs and the finding below says why.
    let eff = live::effective_now(&cfg, &policy_rx);
    let spool = Spool::open(&state.spool(), eff.spool)
        .with_context(|| format!("opening the spool in {}", state.spool().display()))?;
    let spool = Arc::new(Mutex::new(spool));
    let wake = Arc::new(Notify::new());
    let counters = Arc::new(Counters::default());
    let mut sink = SpoolSink::new(spool.clone(), wake.clone(), counters.clone());
    info!(agent = %identity.agent_id, agency = %identity.agency, policy = policy.version(), "Agent starting.");
    sink.emit(Finding::AgentHealth(AgentHealth {
        kind: HealthKind::Started,
        message: format!("vigil-agent {} started", env!("CARGO_PKG_VERSION")),
        counts: BTreeMap::new(),
        severity: Severity::Low,
    }));
    if let Some(p) = problem {
        tracing::warn!(reason = %p.reason, "Stored central policy set aside; local configuration applies.");
        sink.emit(p.finding(0));
    }

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
    let engines = live::Engines::start(&eff, &state.dir, ioc.clone(), &sink)?;
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(live::inventory_loop(
        sink.clone(),
        cfg.clone(),
        policy_rx.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(sync_loop(spool.clone(), shutdown.clone()));
    if cfg.checks.enabled {
        tasks.spawn(live::checks_loop(
            cfg.clone(),
            policy_rx.clone(),
            sink.clone(),
            shutdown.clone(),
        ));
    }
    if cfg.testing.synthetic_findings > 0 {
        tasks.spawn(synthetic_loop(cfg.testing, sink.clone(), shutdown.clone()));
    }
    let reconfigure = tokio::spawn(live::reconfigure_loop(
        engines,
        live::Context {
            local: cfg.clone(),
            state_dir: state.dir.clone(),
            ioc: ioc.clone(),
            sink: sink.clone(),
            spool: spool.clone(),
        },
        policy_rx,
        shutdown.clone(),
    ));
    let up = Uplink::new(identity, state, cfg, spool.clone(), wake, counters)
        .with_ioc(ioc)
        .with_policy(policy);
    up.run(shutdown).await;
    tasks.shutdown().await;
    let engines = reconfigure.await.context("stopping the engines")?;
    tokio::task::spawn_blocking(move || engines.stop())
        .await
        .context("stopping FIM and netwatch")?;
    if let Some(r) = registry {
        tokio::task::spawn_blocking(move || r.stop())
            .await
            .context("stopping the registry watch")?;
    }
    uplink::lock(&spool).sync()?;
    info!("Agent stopped.");
    Ok(())
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
