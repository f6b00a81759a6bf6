//! SIEM export (issue 19): findings and alert changes streamed to syslog receivers over TLS
//! (RFC 5425 framing, RFC 5424 header, CEF or ECS JSON payload) and to Elastic's bulk API over
//! HTTPS, each output from its own durable cursor in the store's export log.
//!
//! Delivery: an output reads a batch after its cursor, sends it, and moves the cursor only when
//! the receiver took it (the write to the syslog connection completed; the bulk reply's items
//! were stored or refused for good), so a collector restart or a receiver outage loses nothing
//! and sends again at most the batch in flight when a connection broke; every event carries a
//! stable id a receiver can use to drop such a copy. The backlog is bounded by count and age:
//! what falls outside is skipped, counted (`vigil_collector_export_events{outcome="dropped"}`)
//! and raises an `export_dropped` alert. A lease in the store lets one collector of several
//! sharing a database send each output.

mod cef;
pub mod config;
mod ecs;
mod event;
mod frame;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

pub use config::{ExportConfig, OutputConfig, RawExport, RawOutput};
pub use event::Event;

use crate::metrics::{self, ExportOutcome};
use crate::store::Store;
use crate::store::export::ExportEvent;
use config::{Payload, Sink};

/// How long an output's lease lasts; renewed every round.
const LEASE: i64 = 60;
/// An output nobody has leased for this long is forgotten with its backlog (the default
/// `max_age`: nothing younger would have been kept for it anyway).
const FORGET_AFTER: i64 = 7 * 86_400;
/// The log is pruned this often, first after this long (so every output of this collector has
/// renewed its lease: one that was down is not forgotten at start).
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Wait between polls of an idle output.
const IDLE: Duration = Duration::from_millis(500);
/// Backlog bound applied at most this often.
const TRIM_EVERY: Duration = Duration::from_secs(5);
/// Longest wait after failed sends.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The receivers of an output, connected lazily.
enum Transport {
    Syslog(Box<transport::Syslog>, Payload, u8, usize),
    Elastic(transport::Elastic, String),
}

/// One configured output, ready to run.
pub struct Output {
    cfg: OutputConfig,
    transport: Transport,
}

/// Builds every output (reading CA, client certificate and API key files).
///
/// # Errors
/// A message naming the output and the file that cannot be used.
pub fn prepare(cfg: &ExportConfig) -> Result<Vec<Output>, String> {
    cfg.outputs
        .iter()
        .map(|o| {
            let at = |e: String| format!("export output {:?}: {e}", o.name);
            let (tls, name) = transport::connector(&o.tls).map_err(at)?;
            let transport = match &o.sink {
                Sink::Syslog {
                    host,
                    port,
                    payload,
                    facility,
                    max_message,
                } => Transport::Syslog(
                    Box::new(transport::Syslog::new(tls, name, host.clone(), *port)),
                    *payload,
                    *facility,
                    *max_message,
                ),
                Sink::Elastic {
                    host,
                    port,
                    path,
                    index,
                    api_key_file,
                } => {
                    let auth = match api_key_file {
                        Some(f) => Some(format!("ApiKey {}", read_secret(f).map_err(at)?)),
                        None => None,
                    };
                    Transport::Elastic(
                        transport::Elastic::new(
                            tls,
                            name,
                            (host.clone(), *port, path.clone()),
                            auth,
                        ),
                        index.clone(),
                    )
                }
            };
            Ok(Output {
                cfg: o.clone(),
                transport,
            })
        })
        .collect()
}

/// A secret file: refused when other users may read it.
fn read_secret(path: &std::path::Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: a secret must be readable by its owner only (chmod 600)",
            path.display()
        ));
    }
    let s = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s = s.trim();
    if s.is_empty() || s.len() > 4096 || s.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{}: expected one line holding the key",
            path.display()
        ));
    }
    Ok(s.to_owned())
}

/// Runs every output until `shutdown`, and prunes the export log (rows every output passed,
/// outputs no collector runs any more).
pub async fn run(
    store: Arc<dyn Store>,
    outputs: Vec<Output>,
    observer: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let owner = uuid::Uuid::new_v4().to_string();
    let observer: Arc<str> = observer.into();
    let mut tasks = Vec::new();
    for o in outputs {
        let r = Runner {
            store: store.clone(),
            owner: owner.clone(),
            observer: observer.clone(),
            out: o,
        };
        tasks.push(tokio::spawn(r.run(shutdown.clone())));
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = tokio::time::sleep(PRUNE_EVERY) => {}
        }
        let s = store.clone();
        let stale = crate::clock::now_ms() / 1000 - FORGET_AFTER;
        match tokio::task::spawn_blocking(move || s.exports().export_prune(stale)).await {
            Ok(Err(e)) => warn!(error = %e, "Pruning the export log failed."),
            Err(e) => warn!(error = %e, "Pruning the export log failed."),
            Ok(Ok(_)) => {}
        }
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
}

/// What a round of an output did.
enum Round {
    /// Nothing to send (or another collector holds the lease).
    Idle,
    /// Sent a batch; more may wait.
    Sent,
    /// The receiver or the store failed.
    Failed,
}

struct Runner {
    store: Arc<dyn Store>,
    owner: String,
    observer: Arc<str>,
    out: Output,
}

impl Runner {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let name = self.out.cfg.name.clone();
        loop {
            let (n, now) = (name.clone(), crate::clock::now_ms() / 1000);
            match self
                .blocking(move |s| s.exports().export_register(&n, now))
                .await
            {
                Ok(()) => break,
                Err(e) => {
                    warn!(output = %name, error = %e, "Registering the export output failed.")
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                () = tokio::time::sleep(MAX_BACKOFF) => {}
            }
        }
        info!(output = %name, "Export output started.");
        let mut backoff = Duration::from_secs(1);
        let mut last_trim: Option<tokio::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let due = last_trim.is_none_or(|t| t.elapsed() >= TRIM_EVERY);
            let wait = match self.round(due).await {
                Round::Sent => {
                    backoff = Duration::from_secs(1);
                    Duration::ZERO
                }
                Round::Idle => {
                    backoff = Duration::from_secs(1);
                    IDLE
                }
                Round::Failed => {
                    let w = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    w
                }
            };
            if due {
                last_trim = Some(tokio::time::Instant::now());
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.changed() => break,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
        info!(output = %name, "Export output stopped.");
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> crate::store::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let s = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&*s)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn round(&mut self, trim: bool) -> Round {
        let (name, owner) = (self.out.cfg.name.clone(), self.owner.clone());
        let now = crate::clock::now_ms();
        let (n, o) = (name.clone(), owner.clone());
        match self
            .blocking(move |s| {
                s.exports()
                    .export_claim(&n, &o, now / 1000, now / 1000 + LEASE)
            })
            .await
        {
            Ok(true) => {}
            Ok(false) => return Round::Idle,
            Err(e) => {
                warn!(output = %name, error = %e, "Export lease failed.");
                return Round::Failed;
            }
        }
        if trim && let Err(e) = self.trim(now).await {
            warn!(output = %name, error = %e, "Applying the export backlog bound failed.");
        }
        let (n, limit) = (name.clone(), self.out.cfg.batch);
        let events = match self
            .blocking(move |s| s.exports().export_next(&n, limit))
            .await
        {
            Ok(ev) if ev.is_empty() => return Round::Idle,
            Ok(ev) => ev,
            Err(e) => {
                warn!(output = %name, error = %e, "Reading the export log failed.");
                return Round::Failed;
            }
        };
        let Some(last) = events.last().map(|e| e.pos) else {
            return Round::Idle;
        };
        let (sent, rejected) = match self.send(&events).await {
            Ok(v) => v,
            Err(e) => {
                metrics::record(metrics::Event::ExportFailed { output: &name });
                warn!(output = %name, error = %e, "Export send failed; retrying.");
                // Kept for `export status` and the API (best effort: the log has it too).
                let (msg, at) = (truncate_error(&e.to_string()), now / 1000);
                let _ = self
                    .blocking(move |s| s.exports().export_note_error(&name, &owner, &msg, at))
                    .await;
                return Round::Failed;
            }
        };
        let committed = self
            .blocking(move |s| s.exports().export_commit(&name, &owner, last, sent, 0))
            .await;
        let name = &self.out.cfg.name;
        metrics::record(metrics::Event::Exported {
            output: name,
            outcome: ExportOutcome::Sent,
            n: sent,
        });
        metrics::record(metrics::Event::Exported {
            output: name,
            outcome: ExportOutcome::Rejected,
            n: rejected,
        });
        match committed {
            Ok(true) => Round::Sent,
            Ok(false) => Round::Idle,
            Err(e) => {
                warn!(output = %name, error = %e, "Saving the export cursor failed.");
                Round::Failed
            }
        }
    }

    /// Applies the backlog bound; what it skips is counted and alerted.
    async fn trim(&self, now_ms: i64) -> Result<(), String> {
        let cfg = &self.out.cfg;
        let (n, o) = (cfg.name.clone(), self.owner.clone());
        let older =
            now_ms.saturating_sub(i64::try_from(cfg.max_age.as_millis()).unwrap_or(i64::MAX));
        let keep = cfg.max_backlog;
        let dropped = self
            .blocking(move |s| s.exports().export_trim(&n, &o, older, keep))
            .await?;
        if dropped == 0 {
            return Ok(());
        }
        metrics::record(metrics::Event::Exported {
            output: &cfg.name,
            outcome: ExportOutcome::Dropped,
            n: dropped,
        });
        warn!(output = %cfg.name, dropped, "Export backlog over its bound; oldest events dropped.");
        let a = dropped_alert(&cfg.name, dropped);
        self.blocking(move |s| crate::alerting::raise(s, &a, now_ms / 1000).map(|_| ()))
            .await
    }

    /// Sends the events the filter selects; returns (delivered, refused for good).
    async fn send(&mut self, events: &[ExportEvent]) -> Result<(u64, u64), transport::SendError> {
        let cfg = &self.out.cfg;
        let mut selected = Vec::with_capacity(events.len());
        let mut unreadable = 0;
        for e in events {
            match Event::decode(e) {
                Some(ev) if cfg.filter.accepts(ev.kind, ev.severity, ev.agency) => {
                    selected.push(ev)
                }
                Some(_) => {}
                None => unreadable += 1,
            }
        }
        if unreadable > 0 {
            metrics::record(metrics::Event::Exported {
                output: &cfg.name,
                outcome: ExportOutcome::Unreadable,
                n: unreadable,
            });
        }
        if selected.is_empty() {
            return Ok((0, 0));
        }
        let count = selected.len() as u64;
        match &mut self.out.transport {
            Transport::Syslog(conn, payload, facility, max) => {
                let mut frames = Vec::new();
                for ev in &selected {
                    frames.extend(frame::syslog_frame(
                        ev,
                        *payload,
                        *facility,
                        *max,
                        &self.observer,
                    ));
                }
                conn.send(&frames).await?;
                Ok((count, 0))
            }
            Transport::Elastic(http, index) => {
                let body = frame::bulk_body(&selected, index, &self.observer);
                let reply = http.post(body).await?;
                let o = frame::bulk_outcome(&reply, selected.len())
                    .map_err(transport::SendError::Refused)?;
                if o.retry > 0 {
                    return Err(transport::SendError::Refused(format!(
                        "{} of {count} documents refused for now (429/5xx)",
                        o.retry
                    )));
                }
                Ok((o.created + o.duplicates, o.rejected))
            }
        }
    }
}

/// An error as kept in the store: one line of at most 500 characters.
fn truncate_error(e: &str) -> String {
    e.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

/// The alert raised when an output's backlog bound drops events (one per output while open).
fn dropped_alert(output: &str, count: u64) -> crate::store::NewAlert {
    crate::store::NewAlert {
        key: format!("export_dropped:{output}"),
        kind: "export_dropped".into(),
        severity: vigil_proto::Severity::High,
        agent_id: String::new(),
        title: format!("Export output {output} dropped {count} events over its backlog bound"),
        params: [
            ("output".to_owned(), serde_json::json!(output)),
            ("count".to_owned(), serde_json::json!(count)),
        ]
        .into(),
        other_agency: None,
    }
}

#[cfg(test)]
mod tests;
