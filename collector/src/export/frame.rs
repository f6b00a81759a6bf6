//! Wire forms of exported events: RFC 5424 syslog messages in RFC 5425 octet-counting frames,
//! and Elastic bulk request bodies (an action line and a document per event) with the
//! classification of a bulk response's per-item results. Pure: bytes in, bytes out.

use serde_json::{Value, json};
use vigil_proto::Severity;

use super::config::Payload;
use super::event::Event;
use super::{cef, ecs};

/// RFC 5424 severity of a Vigil severity (critical → 2 crit … low → 5 notice).
fn syslog_severity(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
    }
}

/// RFC 5424 HOSTNAME: printable US-ASCII, at most 255 characters, `-` when unknown or empty.
fn syslog_hostname(h: Option<&str>) -> String {
    let s: String = h
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// One RFC 5425 frame (`LEN SP SYSLOG-MSG`) whose message is at most `max` bytes: an event too
/// long is shortened (the raw finding left out, then long values cut), never split or cut
/// mid-structure, so every message stays valid CEF or JSON.
pub(super) fn syslog_frame(
    ev: &Event<'_>,
    payload: Payload,
    facility: u8,
    max: usize,
    observer: &str,
) -> Vec<u8> {
    let pri = u16::from(facility) * 8 + u16::from(syslog_severity(ev.severity));
    let msgid = if ev.kind == "alert" {
        "alert"
    } else {
        "finding"
    };
    let head = format!(
        "<{pri}>1 {} {} vigil - {msgid} - ",
        ecs::rfc3339(ev.received_ms),
        syslog_hostname(ev.hostname)
    );
    let room = max.saturating_sub(head.len());
    let body = match payload {
        Payload::Cef => [1023, 255, 63, 15]
            .into_iter()
            .map(|cap| cef::line(ev, cap))
            .find(|l| l.len() <= room)
            .unwrap_or_else(|| cef::line(ev, 0)),
        Payload::Ecs => {
            let full = ecs::document(ev, observer, true).to_string();
            if full.len() <= room {
                full
            } else {
                let lean = ecs::document(ev, observer, false).to_string();
                if lean.len() <= room {
                    lean
                } else {
                    minimal(ev).to_string()
                }
            }
        }
    };
    let msg = format!("{head}{body}");
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

/// The smallest ECS document of an event, for one whose fields do not fit a syslog message.
fn minimal(ev: &Event<'_>) -> Value {
    let msg: String = ev.message.chars().take(256).collect();
    let host: Option<String> = ev.hostname.map(|h| h.chars().take(255).collect());
    json!({
        "@timestamp": ecs::rfc3339(ev.time_ms),
        "ecs": {"version": ecs::ECS_VERSION},
        "message": msg,
        "event": {"id": ev.id, "action": ev.action, "severity": ecs::severity_number(ev.severity),
                  "dataset": format!("vigil.{}", ev.kind), "module": "vigil"},
        "host": {"id": ev.agent_id, "name": host},
        "vigil": {"kind": ev.kind, "truncated": true},
    })
}

/// An Elastic bulk body: for each event a `create` action (the event id as `_id`, so a batch
/// sent again is not stored twice) and its ECS document, one JSON object per line.
pub(super) fn bulk_body(events: &[Event<'_>], index: &str, observer: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for ev in events {
        let action = json!({"create": {"_index": index, "_id": ev.id}});
        out.extend_from_slice(action.to_string().as_bytes());
        out.push(b'\n');
        out.extend_from_slice(ecs::document(ev, observer, true).to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// What a bulk response says of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct BulkOutcome {
    /// Stored now.
    pub(super) created: u64,
    /// Stored before (409: a batch sent again after an unclear failure).
    pub(super) duplicates: u64,
    /// Refused for good (a 4xx such as a mapping error): counted, not sent again.
    pub(super) rejected: u64,
    /// Refused for now (429, 5xx): the batch is sent again.
    pub(super) retry: u64,
}

/// Reads a bulk response body for a request of `sent` documents.
///
/// # Errors
/// A message when the body is not a bulk response for that many documents (then nothing is
/// known to be stored and the whole batch is sent again).
pub(super) fn bulk_outcome(body: &[u8], sent: usize) -> Result<BulkOutcome, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("bulk response: {e}"))?;
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or("bulk response without items")?;
    if items.len() != sent {
        return Err(format!(
            "bulk response has {} items for {sent} documents",
            items.len()
        ));
    }
    let mut o = BulkOutcome::default();
    for item in items {
        let status = item
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(|r| r.get("status"))
            .and_then(Value::as_u64)
            .ok_or("bulk item without a status")?;
        match status {
            200..=299 => o.created += 1,
            409 => o.duplicates += 1,
            429 | 500..=599 => o.retry += 1,
            _ => o.rejected += 1,
        }
    }
    Ok(o)
}
