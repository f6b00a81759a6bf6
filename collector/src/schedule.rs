//! Work the collector does on a clock: recomputing scores (and writing their history), running
//! the periodic alert rules and writing the scheduled province report. Several collectors
//! sharing one PostgreSQL database may all run it: every job is idempotent (a score point is
//! only written when something changed, an alert is deduplicated by key, a report file is
//! written only when it does not exist yet).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::alerting::{self, AlertSettings};
use crate::clock::now_ms;
use crate::metrics::{self, Event};
use crate::scoring::{self, RuleCatalog};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use vigil_rules::score::Scoring;

/// `[schedule]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// How often scores are recomputed (and history points written), default `5m`.
    pub recompute: Option<String>,
    /// How often the periodic alert rules run, default `1m`.
    pub alert_rules: Option<String>,
}

impl RawSchedule {
    /// Checks the section of the file `f`: the recompute and alert-rule intervals, each at
    /// least 1s. Each problem goes to `errs`.
    pub fn validate(&self, f: &str, errs: &mut Vec<String>) -> (Duration, Duration) {
        use crate::config::fields::duration;
        let recompute = duration(
            f,
            "schedule.recompute",
            self.recompute.as_deref(),
            Duration::from_secs(300),
            errs,
        );
        let alert_rules = duration(
            f,
            "schedule.alert_rules",
            self.alert_rules.as_deref(),
            Duration::from_secs(60),
            errs,
        );
        for (field, d) in [
            ("schedule.recompute", recompute),
            ("schedule.alert_rules", alert_rules),
        ] {
            if d < Duration::from_secs(1) {
                errs.push(format!("{f}: {field} must be at least 1s"));
            }
        }
        (recompute, alert_rules)
    }
}

/// What the scheduler needs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Scoring configuration.
    pub scoring: Scoring,
    /// Score recompute interval.
    pub recompute: Duration,
    /// Alert rules.
    pub alerts: AlertSettings,
    /// Periodic alert rule interval.
    pub alert_rules: Duration,
    /// Where every recompute publishes its scores for the console.
    pub cache: Option<Arc<scoring::ScoreCache>>,
    /// Organisation name (the province report's title).
    pub org: String,
    /// Scheduled reports.
    pub reports: crate::report::ReportsConfig,
}

/// How often the report job looks whether a period has ended.
const REPORT_CHECK: Duration = Duration::from_secs(3600);

/// Runs both jobs until `shutdown` flips. The first run of each happens at once.
pub async fn run(store: Arc<dyn Store>, sched: Schedule, mut shutdown: watch::Receiver<bool>) {
    let catalog = Arc::new(RuleCatalog::builtin());
    let scoring = Arc::new(sched.scoring);
    let settings = Arc::new(sched.alerts);
    let mut recompute = tokio::time::interval(sched.recompute);
    let mut rules = tokio::time::interval(sched.alert_rules);
    let mut reports = tokio::time::interval(REPORT_CHECK);
    let report_cfg = Arc::new(sched.reports);
    let org: Arc<str> = sched.org.into();
    if report_cfg.schedule != crate::report::ReportSchedule::Off
        && let Err(e) = crate::report::pdf::load_font(&report_cfg.font)
    {
        warn!(error = %e, "Scheduled PDF reports will fail until the font is available.");
    }
    for t in [&mut recompute, &mut rules, &mut reports] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = rules.tick() => {
                let (store, settings) = (store.clone(), settings.clone());
                match tokio::task::spawn_blocking(move || {
                    alerting::run_periodic(&*store, &settings, now_ms() / 1000)
                })
                .await
                {
                    Ok(Ok((0, 0))) => {}
                    Ok(Ok((raised, resolved))) => info!(raised, resolved, "Periodic alert rules ran."),
                    Ok(Err(e)) => warn!(error = %e, "Periodic alert rules failed; retrying at the next tick."),
                    Err(e) => warn!(error = %e, "Periodic alert rules panicked."),
                }
            }
            _ = reports.tick(), if report_cfg.schedule != crate::report::ReportSchedule::Off => {
                let (store, scoring, cfg, org) =
                    (store.clone(), scoring.clone(), report_cfg.clone(), org.clone());
                match tokio::task::spawn_blocking(move || {
                    crate::report::write_scheduled(&*store, &scoring, &org, &cfg, now_ms())
                })
                .await
                {
                    Ok(Ok(files)) => {
                        for f in files {
                            info!(file = %f.display(), "Scheduled report written.");
                        }
                    }
                    Ok(Err(e)) => warn!(error = %e, "Writing the scheduled report failed; retrying in an hour."),
                    Err(e) => warn!(error = %e, "Writing the scheduled report panicked."),
                }
            }
            _ = recompute.tick() => {
                let (store, scoring, builtin) = (store.clone(), scoring.clone(), catalog.clone());
                let cache = sched.cache.clone();
                let started = std::time::Instant::now();
                match tokio::task::spawn_blocking(move || {
                    // Policies change at run time: their rules join the catalogue each cycle.
                    let catalog = crate::policy::catalog(&*store).unwrap_or_else(|_| (*builtin).clone());
                    scoring::recompute(&*store, &scoring, &catalog, now_ms())
                })
                .await
                {
                    Ok(Ok((scores, points))) => {
                        metrics::record(Event::ScoresRecomputed { elapsed: started.elapsed() });
                        debug!(
                            hosts = scores.hosts.len(),
                            agencies = scores.agencies.len(),
                            points,
                            ms = started.elapsed().as_millis() as u64,
                            "Scores recomputed."
                        );
                        if let Some(c) = &cache {
                            c.publish(Arc::new(scores));
                        }
                    }
                    Ok(Err(e)) => warn!(error = %e, "Recomputing scores failed; retrying at the next tick."),
                    Err(e) => warn!(error = %e, "Recomputing scores panicked."),
                }
            }
        }
    }
}
