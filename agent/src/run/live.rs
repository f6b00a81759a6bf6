//! The engines of `vigil-agent run` following the central policy in force.
//!
//! Each loop watches the [`PolicyWatch`] channel the uplink publishes applied bundles on and
//! recomputes its configuration with [`effective`]: the checks loop re-evaluates at once with
//! the new packs, level and interval; the inventory loop takes its new interval;
//! [`reconfigure_loop`] restarts FIM and netwatch when their settings changed and resizes the
//! spool.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tracing::{info, warn};
use vigil_proto::{AgentHealth, Finding, FindingSink, HealthKind, Severity};

use crate::central::effective;
use crate::config::AgentConfig;
use crate::policy::{Applied, PackStatus, PolicyWatch, merge_packs};
use crate::uplink::{Counters, SharedSpool, SpoolSink};

/// How often every check result is re-sent even if unchanged, so the collector can verify state.
const CHECK_DIGEST_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The configuration to run with now: local with the policy in force laid over (local alone if
/// they no longer merge).
pub(super) fn effective_now(local: &AgentConfig, policy: &PolicyWatch) -> AgentConfig {
    let applied = policy.borrow().clone();
    effective_of(local, applied.as_deref())
}

fn effective_of(local: &AgentConfig, applied: Option<&Applied>) -> AgentConfig {
    effective(local, applied.map(|a| &a.bundle)).unwrap_or_else(|e| {
        warn!(problems = %e.join("; "), "Central settings do not merge; running with local ones.");
        local.clone()
    })
}

/// Resolves when the policy changes; never when its sender is gone (no more changes).
async fn policy_changed(policy: &mut PolicyWatch) {
    if policy.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// FIM and netwatch, the engines whose settings central policy can change while running.
pub(super) struct Engines {
    fim: Option<crate::fim::FimHandle>,
    netwatch: Option<crate::netwatch::NetwatchHandle>,
    fim_cfg: FimKey,
    netwatch_interval: Duration,
}

/// The central FIM settings an engine was started with (restart when they change).
type FimKey = (Option<Vec<String>>, Option<Vec<String>>, Option<u64>);

fn fim_key(applied: Option<&Applied>) -> FimKey {
    applied.map_or((None, None, None), |a| {
        let s = &a.bundle.settings;
        (
            s.fim_paths.clone(),
            s.fim_exclude.clone(),
            s.storm_threshold,
        )
    })
}

/// What [`reconfigure_loop`] needs to start engines again.
pub(super) struct Context {
    /// Local configuration.
    pub local: AgentConfig,
    /// State directory (FIM baseline).
    pub state_dir: PathBuf,
    /// IOC set netwatch matches against.
    pub ioc: crate::ioc::SharedIoc,
    /// Where findings go.
    pub sink: SpoolSink,
    /// The spool (resized by a central budget).
    pub spool: SharedSpool,
}

impl Engines {
    /// Starts FIM (when it has paths) and netwatch (when enabled) with `cfg`.
    pub(super) fn start(
        cfg: &AgentConfig,
        state_dir: &std::path::Path,
        ioc: crate::ioc::SharedIoc,
        sink: &SpoolSink,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            fim: start_fim(cfg, state_dir, sink)?,
            netwatch: start_netwatch(cfg, ioc, sink)?,
            fim_cfg: (None, None, None),
            netwatch_interval: cfg.netwatch.interval,
        })
    }

    /// Stops both engines (blocking: joins their threads).
    pub(super) fn stop(self) {
        if let Some(n) = self.netwatch {
            n.stop();
        }
        if let Some(f) = self.fim {
            f.shutdown();
        }
    }
}

fn start_fim(
    cfg: &AgentConfig,
    state_dir: &std::path::Path,
    sink: &SpoolSink,
) -> anyhow::Result<Option<crate::fim::FimHandle>> {
    if cfg.fim.paths.is_empty() {
        return Ok(None);
    }
    // `/` is the live host on every platform (FIM maps drive paths itself on Windows).
    crate::fim::spawn(
        cfg.fim.clone(),
        PathBuf::from("/"),
        state_dir.to_path_buf(),
        Box::new(sink.clone()),
    )
    .map(Some)
    .context("starting file integrity monitoring")
}

fn start_netwatch(
    cfg: &AgentConfig,
    ioc: crate::ioc::SharedIoc,
    sink: &SpoolSink,
) -> anyhow::Result<Option<crate::netwatch::NetwatchHandle>> {
    if !cfg.netwatch.enabled {
        return Ok(None);
    }
    crate::netwatch::spawn(
        cfg.netwatch.clone(),
        PathBuf::from("/"),
        cfg.role,
        ioc,
        Box::new(sink.clone()),
    )
    .map(Some)
    .context("starting the network watch")
}

/// Restarts FIM and netwatch when the policy in force changes their settings, and applies a
/// central spool budget. Returns the engines at shutdown for the caller to stop.
pub(super) async fn reconfigure_loop(
    mut engines: Engines,
    ctx: Context,
    mut policy: PolicyWatch,
    mut shutdown: watch::Receiver<bool>,
) -> Engines {
    engines.fim_cfg = fim_key(policy.borrow().as_deref());
    loop {
        tokio::select! {
            () = policy_changed(&mut policy) => {}
            _ = shutdown.changed() => return engines,
        }
        let applied = policy.borrow_and_update().clone();
        let eff = effective_of(&ctx.local, applied.as_deref());
        if let Err(e) = crate::uplink::lock(&ctx.spool).set_max_bytes(eff.spool.max_bytes) {
            warn!(error = %e, "Central spool budget not applied.");
        }
        let key = fim_key(applied.as_deref());
        if key != engines.fim_cfg {
            engines.fim_cfg = key;
            if let Some(f) = engines.fim.take() {
                let _ = tokio::task::spawn_blocking(move || f.shutdown()).await;
            }
            match start_fim(&eff, &ctx.state_dir, &ctx.sink) {
                Ok(f) => engines.fim = f,
                Err(e) => report(
                    &ctx.sink,
                    format!("FIM did not restart with the central paths: {e:#}"),
                ),
            }
            info!(
                paths = eff.fim.paths.len(),
                "FIM restarted with the central settings."
            );
        }
        if eff.netwatch.interval != engines.netwatch_interval {
            engines.netwatch_interval = eff.netwatch.interval;
            if let Some(n) = engines.netwatch.take() {
                let _ = tokio::task::spawn_blocking(move || n.stop()).await;
            }
            match start_netwatch(&eff, ctx.ioc.clone(), &ctx.sink) {
                Ok(n) => engines.netwatch = n,
                Err(e) => report(&ctx.sink, format!("netwatch did not restart: {e:#}")),
            }
            info!(interval = ?eff.netwatch.interval, "Netwatch restarted with the central interval.");
        }
    }
}

fn report(sink: &SpoolSink, message: String) {
    warn!(%message, "Engine restart failed.");
    sink.clone().emit(Finding::AgentHealth(AgentHealth {
        kind: HealthKind::Other,
        message,
        counts: BTreeMap::new(),
        severity: Severity::High,
    }));
}

/// Re-reads the inventory at the interval in force (sent only when it changed).
pub(super) async fn inventory_loop(
    mut sink: SpoolSink,
    local: AgentConfig,
    mut policy: PolicyWatch,
    mut shutdown: watch::Receiver<bool>,
) {
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
        let every = effective_now(&local, &policy).inventory_interval;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            // A new interval: start it from now.
            () = policy_changed(&mut policy) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// What one check run produced.
struct Run {
    packs: Vec<PackStatus>,
    results: Vec<vigil_proto::CheckResult>,
    local_error: Option<String>,
}

/// Evaluates the central and local rule packs every interval in force, and at once when the
/// policy changes; sends the results that changed (plus a daily digest). Local packs that fail
/// to load are reported as an agent-health finding; central ones still run.
pub(super) async fn checks_loop(
    local: AgentConfig,
    mut policy: PolicyWatch,
    mut sink: SpoolSink,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tracker = crate::check::CheckTracker::new(CHECK_DIGEST_EVERY);
    loop {
        let applied = policy.borrow_and_update().clone();
        let eff = effective_of(&local, applied.as_deref());
        let c = eff.checks.clone();
        let run = tokio::task::spawn_blocking(move || {
            let run = evaluate(&c, applied.as_deref());
            // The packs and facts of the run are freed: give the memory back until the next one.
            crate::mem::trim();
            run
        })
        .await;
        match run {
            Ok(run) => {
                Counters::bump(&sink.counters().checks_run);
                *sink
                    .counters()
                    .packs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = run.packs;
                let sent = tracker.push(&run.results, std::time::SystemTime::now(), &mut sink);
                info!(rules = run.results.len(), sent, "Checks evaluated.");
                if let Some(e) = run.local_error {
                    sink.emit(Finding::AgentHealth(AgentHealth {
                        kind: HealthKind::Other,
                        message: format!("rule packs could not be loaded: {e}"),
                        counts: BTreeMap::new(),
                        severity: Severity::High,
                    }));
                }
            }
            Err(e) => tracing::error!(error = %e, "Check run panicked."),
        }
        tokio::select! {
            _ = tokio::time::sleep(eff.checks.interval) => {}
            () = policy_changed(&mut policy) => info!("Policy changed; evaluating checks now."),
            _ = shutdown.changed() => return,
        }
    }
}

fn evaluate(c: &crate::check::ChecksConfig, applied: Option<&Applied>) -> Run {
    let facts =
        crate::platform::host_facts(&crate::platform::facts_root(), std::time::SystemTime::now());
    let facts = facts.as_ref();
    let (local_packs, local_error) = match crate::check::packs_for_this_host(c, facts) {
        Ok(p) => (p, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let packs = merge_packs(applied, local_packs);
    Run {
        packs: packs
            .iter()
            .map(|(source, p)| PackStatus {
                pack: format!("{}@{}", p.id, p.version),
                source: *source,
            })
            .collect(),
        results: packs
            .iter()
            .flat_map(|(_, p)| vigil_rules::evaluate(p, facts, c.level))
            .collect(),
        local_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = r#"
id: PACKID
version: "1"
title: {vi: T, en: T}
rules:
  - id: root-dir-exists
    title: {vi: a, en: a}
    rationale: {vi: a, en: b}
    remediation: {vi: a, en: b}
    severity: high
    group: hardening
    checks:
      - {kind: file, path: /}
"#;

    fn pack(id: &str) -> vigil_rules::Pack {
        vigil_rules::parse_pack(&PACK.replace("PACKID", id), std::path::Path::new("t"))
            .expect("pack")
    }

    /// One run evaluates central and local packs, names each with its source, and a local pack
    /// that fails to load does not stop the central ones.
    #[test]
    fn a_run_evaluates_central_and_local_packs_marked_by_source() {
        let dir = tempfile::tempdir().expect("tmp");
        let local_file = dir.path().join("local.yaml");
        std::fs::write(&local_file, PACK.replace("PACKID", "local-one")).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for p in [dir.path(), local_file.as_path()] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            }
        }
        let applied = Applied {
            bundle: vigil_proto::policy::PolicyBundle {
                version: 2,
                agency: "t".into(),
                issued_at: 0,
                packs: Vec::new(),
                settings: Default::default(),
            },
            digest: String::new(),
            packs: vec![pack("central-one")],
        };
        let cfg = crate::check::ChecksConfig {
            packs: vec![local_file.clone()],
            ..Default::default()
        };
        let run = evaluate(&cfg, Some(&applied));
        let packs: Vec<_> = run
            .packs
            .iter()
            .map(|p| (p.pack.as_str(), p.source))
            .collect();
        // The local pack may be refused by the trust check when the temporary directory is not
        // root-owned; the central one runs either way.
        assert_eq!(
            packs[0],
            ("central-one@1", crate::policy::PackSource::Central)
        );
        match &run.local_error {
            None => assert_eq!(packs[1], ("local-one@1", crate::policy::PackSource::Local)),
            Some(e) => assert_eq!(packs.len(), 1, "{e}"),
        }
        assert!(
            run.results.iter().any(|r| r.pack == "central-one@1"),
            "{:?}",
            run.results
        );
        let missing = crate::check::ChecksConfig {
            packs: vec![dir.path().join("absent")],
            ..Default::default()
        };
        let run = evaluate(&missing, Some(&applied));
        assert!(run.local_error.is_some());
        assert_eq!(run.packs.len(), 1, "central packs still run");
    }

    /// A central pack cannot widen the command allow-list: a command outside it is not run and
    /// the check says so.
    #[test]
    fn a_central_pack_runs_no_command_outside_the_local_allow_list() {
        let dir = tempfile::tempdir().expect("tmp");
        let marker = dir.path().join("ran");
        let text = PACK.replace("PACKID", "central-cmd").replace(
            "{kind: file, path: /}",
            &format!(
                "{{kind: command, run: [/usr/bin/touch, {}], exit: 0}}",
                marker.display()
            ),
        );
        let applied = Applied {
            bundle: vigil_proto::policy::PolicyBundle {
                version: 1,
                agency: "t".into(),
                issued_at: 0,
                packs: Vec::new(),
                settings: Default::default(),
            },
            digest: String::new(),
            packs: vec![
                vigil_rules::parse_pack(&text, std::path::Path::new("t")).expect("pack parses"),
            ],
        };
        let cfg = crate::check::ChecksConfig {
            packs: vec![dir.path().join("no-local-packs")],
            ..Default::default()
        };
        let run = evaluate(&cfg, Some(&applied));
        let r = run
            .results
            .iter()
            .find(|r| r.pack == "central-cmd@1")
            .expect("evaluated");
        assert_eq!(r.status, vigil_proto::Status::Error, "{r:?}");
        // Linux refuses it by the allow-list; Windows runs no command rule at all.
        let why = if cfg!(windows) { "not run" } else { "allow" };
        assert!(r.evidence.contains(why), "{}", r.evidence);
        assert!(!marker.exists(), "the command did not run");
    }
}
