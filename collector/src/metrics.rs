//! The collector's internal events, counted for Prometheus (`GET /metrics`, docs/operations.md).
//!
//! Code that does something worth watching records one typed [`Event`]; nothing else names a
//! metric, so every series is declared (name, help, labels) in this one file. Labels are small
//! closed sets (an operation, an outcome, a status code, an alert kind), never an agent, a host or
//! a path, so the number of series stays bounded whatever the agents send.
//!
//! The process has one [`Metrics`] ([`global`]), as it has one log; [`record`] feeds it. Tests
//! that need their own counts build a [`Metrics`] and call [`Metrics::record`].
//!
//! This module sits below every other one (it imports nothing from the crate), so the store's
//! callers, the scheduler, the QUIC shell and the HTTP layer can all use it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Distinct alert kinds given their own series; later kinds are counted as `other`.
const MAX_ALERT_KINDS: usize = 64;

/// Something that happened, to be counted.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A batch was committed: `findings` received, of which `duplicates` were already stored,
    /// and `gaps` ranges of sequence numbers found missing before it.
    BatchStored {
        /// Findings in the batch.
        findings: u64,
        /// Findings already stored (a replay after a lost ack).
        duplicates: u64,
        /// Sequence gaps the batch revealed.
        gaps: u64,
    },
    /// A call into the store returned after `elapsed` (success or not).
    StoreCall {
        /// Which kind of caller.
        op: StoreOp,
        /// Time inside the store, excluding the wait for a blocking thread.
        elapsed: Duration,
    },
    /// An agent session was registered as live.
    SessionOpened,
    /// A live agent session ended.
    SessionClosed,
    /// An enrollment request was answered.
    Enrollment(Outcome),
    /// A connection was refused before or at the start of its session.
    HandshakeRefused(Refusal),
    /// A new alert was raised (not a repeat of an open one).
    AlertRaised {
        /// The alert kind (`critical_failure`, `sequence_gap`, …).
        kind: &'a str,
    },
    /// Scores were recomputed in `elapsed`.
    ScoresRecomputed {
        /// Duration of the recompute.
        elapsed: Duration,
    },
    /// The HTTP server answered with `status`.
    HttpResponse {
        /// Status code.
        status: u16,
    },
    /// A notification was delivered.
    NotificationSent {
        /// `email` or `webhook`.
        channel: &'static str,
    },
    /// An attempt to deliver a notification failed (it is retried).
    NotificationFailed {
        /// `email` or `webhook`.
        channel: &'static str,
    },
    /// A notification was given up (too many failures, or the queue was full).
    NotificationDropped,
    /// The notification queue after a tick.
    NotifyQueue {
        /// Messages waiting.
        depth: u64,
        /// Age of the oldest, seconds.
        oldest_age_s: i64,
    },
}

/// Who called the store (the `op` label of `vigil_collector_store_seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// Storing an agent's batch and raising its alerts.
    Ingest,
    /// Other work of an agent session (hello, heartbeat, renewal, admission).
    Session,
    /// An enrollment.
    Enroll,
    /// A request of the HTTP API or console.
    Api,
}

impl StoreOp {
    fn label(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Session => "session",
            Self::Enroll => "enroll",
            Self::Api => "api",
        }
    }
}

/// How an enrollment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A certificate was issued.
    Accepted,
    /// The request was refused (bad token, machine enrolled elsewhere, malformed, timed out).
    Refused,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused => "refused",
        }
    }
}

/// Why a connection was refused (the `reason` label of `vigil_collector_handshake_refusals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The handshake budget was spent (too many new connections).
    Budget,
    /// The TLS handshake failed (no or a refused certificate, wrong CA, a broken client).
    Tls,
    /// The handshake or the first frame did not arrive in time.
    Timeout,
    /// The client asked for a protocol the collector does not speak.
    Alpn,
    /// The certificate is unknown, revoked or superseded.
    Identity,
    /// The identity already has a live session elsewhere (a cloned machine).
    InUse,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::Budget => "budget",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::Alpn => "alpn",
            Self::Identity => "identity",
            Self::InUse => "in_use",
        }
    }
}

type Label<V> = [(&'static str, V); 1];

/// Every series of the collector.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    batches: Counter,
    findings: Counter,
    duplicates: Counter,
    gaps: Counter,
    store_seconds: Family<Label<&'static str>, Histogram, fn() -> Histogram>,
    live_sessions: Gauge,
    enrollments: Family<Label<&'static str>, Counter>,
    refusals: Family<Label<&'static str>, Counter>,
    alerts: Family<Label<String>, Counter>,
    /// Distinct alert kinds given a series so far.
    alert_kinds: AtomicUsize,
    recompute_seconds: Histogram,
    http_responses: Family<Label<u16>, Counter>,
    notifications_sent: Family<Label<&'static str>, Counter>,
    notification_failures: Family<Label<&'static str>, Counter>,
    notifications_dropped: Counter,
    notify_queue: Gauge,
    notify_oldest: Gauge,
}

/// Store calls take from tens of microseconds (an indexed read) to seconds (a large batch on a
/// busy disk): 100 µs × 2ⁿ up to about 6.5 s.
fn store_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series at zero, so a scrape shows them all from the start.
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("vigil_collector"),
            batches: Counter::default(),
            findings: Counter::default(),
            duplicates: Counter::default(),
            gaps: Counter::default(),
            store_seconds: Family::new_with_constructor(store_histogram),
            live_sessions: Gauge::default(),
            enrollments: Family::default(),
            refusals: Family::default(),
            alerts: Family::default(),
            alert_kinds: AtomicUsize::new(0),
            // Recomputing scores takes milliseconds for a few hosts and seconds for thousands.
            recompute_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            http_responses: Family::default(),
            notifications_sent: Family::default(),
            notification_failures: Family::default(),
            notifications_dropped: Counter::default(),
            notify_queue: Gauge::default(),
            notify_oldest: Gauge::default(),
        };
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "batches",
            "Agent batches committed to the store",
            self.batches.clone(),
        );
        r.register(
            "findings",
            "Findings received in committed batches, duplicates included",
            self.findings.clone(),
        );
        r.register(
            "duplicate_findings",
            "Findings received again that were already stored (replays after a lost ack)",
            self.duplicates.clone(),
        );
        r.register(
            "sequence_gaps",
            "Ranges of agent sequence numbers found missing (findings lost on the agent)",
            self.gaps.clone(),
        );
        r.register(
            "store_seconds",
            "Time spent in store calls, by caller",
            self.store_seconds.clone(),
        );
        r.register(
            "live_sessions",
            "Agent sessions open now",
            self.live_sessions.clone(),
        );
        r.register(
            "enrollments",
            "Enrollment requests answered, by outcome",
            self.enrollments.clone(),
        );
        r.register(
            "handshake_refusals",
            "Agent connections refused before their session started, by reason",
            self.refusals.clone(),
        );
        r.register(
            "alerts_raised",
            "New alerts raised, by kind",
            self.alerts.clone(),
        );
        r.register(
            "score_recompute_seconds",
            "Time to recompute every host's and agency's score",
            self.recompute_seconds.clone(),
        );
        r.register(
            "http_responses",
            "HTTP responses sent, by status code",
            self.http_responses.clone(),
        );
        r.register(
            "notifications_sent",
            "Notifications delivered, by channel",
            self.notifications_sent.clone(),
        );
        r.register(
            "notification_failures",
            "Failed notification delivery attempts (each retried with backoff), by channel",
            self.notification_failures.clone(),
        );
        r.register(
            "notifications_dropped",
            "Notifications given up after too many failures or for want of queue room",
            self.notifications_dropped.clone(),
        );
        r.register(
            "notify_queue",
            "Notifications waiting to be delivered",
            self.notify_queue.clone(),
        );
        r.register(
            "notify_oldest_queued_seconds",
            "Age of the oldest notification waiting (0 when none): grows while delivery fails",
            self.notify_oldest.clone(),
        );
        for ch in ["email", "webhook"] {
            let _ = self.notifications_sent.get_or_create(&[("channel", ch)]);
            let _ = self.notification_failures.get_or_create(&[("channel", ch)]);
        }
        for op in [
            StoreOp::Ingest,
            StoreOp::Session,
            StoreOp::Enroll,
            StoreOp::Api,
        ] {
            let _ = self.store_seconds.get_or_create(&[("op", op.label())]);
        }
        for o in [Outcome::Accepted, Outcome::Refused] {
            let _ = self.enrollments.get_or_create(&[("outcome", o.label())]);
        }
        for r in [
            Refusal::Budget,
            Refusal::Tls,
            Refusal::Timeout,
            Refusal::Alpn,
            Refusal::Identity,
            Refusal::InUse,
        ] {
            let _ = self.refusals.get_or_create(&[("reason", r.label())]);
        }
    }

    /// Counts `ev`.
    pub fn record(&self, ev: Event<'_>) {
        match ev {
            Event::BatchStored {
                findings,
                duplicates,
                gaps,
            } => {
                self.batches.inc();
                self.findings.inc_by(findings);
                self.duplicates.inc_by(duplicates);
                self.gaps.inc_by(gaps);
            }
            Event::StoreCall { op, elapsed } => {
                self.store_seconds
                    .get_or_create(&[("op", op.label())])
                    .observe(elapsed.as_secs_f64());
            }
            Event::SessionOpened => {
                self.live_sessions.inc();
            }
            Event::SessionClosed => {
                self.live_sessions.dec();
            }
            Event::Enrollment(o) => {
                self.enrollments
                    .get_or_create(&[("outcome", o.label())])
                    .inc();
            }
            Event::HandshakeRefused(r) => {
                self.refusals.get_or_create(&[("reason", r.label())]).inc();
            }
            Event::AlertRaised { kind } => self.alert_raised(kind),
            Event::ScoresRecomputed { elapsed } => {
                self.recompute_seconds.observe(elapsed.as_secs_f64());
            }
            Event::HttpResponse { status } => {
                self.http_responses.get_or_create(&[("code", status)]).inc();
            }
            Event::NotificationSent { channel } => {
                self.notifications_sent
                    .get_or_create(&[("channel", channel)])
                    .inc();
            }
            Event::NotificationFailed { channel } => {
                self.notification_failures
                    .get_or_create(&[("channel", channel)])
                    .inc();
            }
            Event::NotificationDropped => {
                self.notifications_dropped.inc();
            }
            Event::NotifyQueue {
                depth,
                oldest_age_s,
            } => {
                self.notify_queue
                    .set(i64::try_from(depth).unwrap_or(i64::MAX));
                self.notify_oldest.set(oldest_age_s);
            }
        }
    }

    fn alert_raised(&self, kind: &str) {
        let known = [("kind", kind.to_owned())];
        if let Some(c) = self.alerts.get(&known) {
            c.inc();
            return;
        }
        // Kinds come from the collector's own rules, but a bound keeps a future bug from turning
        // the label into an unbounded one. (Two threads adding the same kind at once count it
        // twice here, which only makes the bound stricter.)
        let key = if self.alert_kinds.fetch_add(1, Ordering::Relaxed) < MAX_ALERT_KINDS {
            known
        } else {
            [("kind", "other".to_owned())]
        };
        self.alerts.get_or_create(&key).inc();
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; an error here would be a bug of the encoder, and
        // a partial scrape is still better than none.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "Encoding metrics failed.");
        }
        out
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &GLOBAL
}

/// Counts `ev` in the process's metrics.
pub fn record(ev: Event<'_>) {
    global().record(ev);
}

/// Runs the store call `f`, recording its duration under `op`.
pub fn time_store<T>(op: StoreOp, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    record(Event::StoreCall {
        op,
        elapsed: started.elapsed(),
    });
    out
}

#[cfg(test)]
mod tests;
