//! One exported event, decoded once from the export log and read by every format: its stable
//! id, kind, action, severity, times, host and a one-line English message.

use vigil_proto::{Finding, NetEventKind, Severity};

use crate::store::export::{ExportEvent, ExportSource};
use crate::store::{Alert, AlertState};

/// A log row ready to be formatted.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Stable id: the same log row always gives the same id, so a receiver can drop a copy sent
    /// again after a connection broke mid-batch (Elastic does: it is the document `_id`).
    pub id: String,
    /// `check`, `file`, `net`, `registry`, `inventory`, `health` or `alert`.
    pub kind: &'static str,
    /// What happened: a check status, a file or network event kind, an alert state.
    pub action: String,
    /// Severity (a finding's from the collector's catalogue, an alert's).
    pub severity: Severity,
    /// When it happened on the host (findings) or in the collector (alerts), ms.
    pub time_ms: i64,
    /// When the collector received or logged it, ms.
    pub received_ms: i64,
    /// One line in English.
    pub message: String,
    /// Agent id.
    pub agent_id: &'a str,
    /// Host name as the agent enrolled it (hostile text: formats escape it).
    pub hostname: Option<&'a str>,
    /// Agency path.
    pub agency: Option<&'a str>,
    /// The finding or alert.
    pub body: Body<'a>,
}

/// What the event carries.
#[derive(Debug, Clone)]
pub enum Body<'a> {
    /// A finding and its stored JSON.
    Finding {
        /// Per-agent sequence number.
        seq: u64,
        /// Decoded finding.
        finding: Box<Finding>,
        /// As stored.
        raw: &'a serde_json::Value,
    },
    /// An alert as it was at the change.
    Alert(&'a Alert),
}

impl<'a> Event<'a> {
    /// Decodes a log row; `None` for an unreadable one (the caller counts and skips it).
    pub fn decode(ev: &'a ExportEvent) -> Option<Self> {
        let host = (
            ev.agent_id.as_str(),
            ev.hostname.as_deref(),
            ev.agency.as_deref(),
        );
        match &ev.source {
            ExportSource::Finding(f) => {
                let finding: Finding = serde_json::from_value(f.finding.clone()).ok()?;
                let (kind, action, message) = describe(&finding);
                Some(Event {
                    id: format!("{}-{}", ev.agent_id, f.seq),
                    kind,
                    action,
                    severity: finding.severity(),
                    time_ms: f.observed_at,
                    received_ms: f.received_at,
                    message,
                    agent_id: host.0,
                    hostname: host.1,
                    agency: host.2,
                    body: Body::Finding {
                        seq: f.seq,
                        finding: Box::new(finding),
                        raw: &f.finding,
                    },
                })
            }
            ExportSource::Alert(a) => Some(Event {
                id: format!(
                    "alert-{}-{}-{}-{}",
                    a.id,
                    a.state.as_str(),
                    ev.pos.tx,
                    ev.pos.id
                ),
                kind: "alert",
                action: alert_action(a.state).into(),
                severity: a.severity,
                time_ms: ev.at,
                received_ms: ev.at,
                message: format!("{} ({})", a.title, a.state.as_str()),
                agent_id: host.0,
                hostname: host.1,
                agency: host.2,
                body: Body::Alert(a),
            }),
            ExportSource::Unreadable(_) => None,
        }
    }
}

fn alert_action(s: AlertState) -> &'static str {
    match s {
        AlertState::Open => "alert-open",
        AlertState::Acknowledged => "alert-acknowledged",
        AlertState::Resolved => "alert-resolved",
        AlertState::FalsePositive => "alert-false-positive",
    }
}

/// Kind, action and message of a finding.
fn describe(f: &Finding) -> (&'static str, String, String) {
    let kind = f.kind_name();
    match f {
        Finding::CheckResult(c) => (
            kind,
            format!("check-{}", c.status.as_str()),
            format!("Rule {} {}: {}", c.rule_id, c.status.as_str(), c.evidence),
        ),
        Finding::FileEvent(e) => {
            let k = snake(&e.kind);
            (kind, format!("file-{k}"), format!("File {} {k}", e.path))
        }
        Finding::NetEvent(n) => {
            let k = snake(&n.kind);
            let peer = n.remote.as_deref().unwrap_or("-");
            let message = match n.kind {
                NetEventKind::IocHit => format!(
                    "Connection from {} to {peer} matches indicator {} (process {})",
                    n.local,
                    n.indicator.as_deref().unwrap_or("-"),
                    n.exe.as_deref().unwrap_or("-")
                ),
                _ => format!("Network {k} {} {} -> {peer}", n.proto, n.local),
            };
            (kind, format!("net-{}", k.replace('_', "-")), message)
        }
        Finding::Registry(r) => {
            let k = snake(&r.kind);
            (
                kind,
                format!("registry-{k}"),
                format!("Registry {} {k}", r.key),
            )
        }
        Finding::Inventory(i) => (
            kind,
            "inventory".into(),
            format!("Inventory of {}: {} {}", i.hostname, i.os, i.os_version),
        ),
        Finding::AgentHealth(h) => (
            kind,
            format!("health-{}", snake(&h.kind).replace('_', "-")),
            h.message.clone(),
        ),
    }
}

/// The snake_case JSON name of a unit enum variant (what serde writes for it).
fn snake<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "other".into(),
    }
}
