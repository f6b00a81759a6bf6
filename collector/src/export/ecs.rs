//! Events as JSON documents in the Elastic Common Schema (ECS 8.11), for the Elastic bulk output
//! and the `ecs` syslog payload. The field mapping is documented in docs/export.md.

use serde_json::{Map, Value, json};
use vigil_proto::{Finding, NetEventKind, Status};

use super::event::{Body, Event};

/// ECS version the documents follow.
pub(super) const ECS_VERSION: &str = "8.11.0";

/// `event.severity`: the same 0–10 scale as CEF.
pub(super) fn severity_number(s: vigil_proto::Severity) -> u8 {
    match s {
        vigil_proto::Severity::Low => 3,
        vigil_proto::Severity::Medium => 5,
        vigil_proto::Severity::High => 8,
        vigil_proto::Severity::Critical => 10,
    }
}

/// RFC 3339 UTC time with milliseconds.
pub(super) fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

/// The ECS document of `ev`; `raw` adds the finding or alert as stored under `vigil.finding` /
/// `vigil.alert` (left out when a syslog message must be shortened).
pub(super) fn document(ev: &Event<'_>, observer: &str, raw: bool) -> Value {
    let (categories, types, event_kind) = classes(ev);
    let mut doc = json!({
        "@timestamp": rfc3339(ev.time_ms),
        "ecs": {"version": ECS_VERSION},
        "message": ev.message,
        "event": {
            "id": ev.id,
            "kind": event_kind,
            "category": categories,
            "type": types,
            "action": ev.action,
            "severity": severity_number(ev.severity),
            "created": rfc3339(ev.received_ms),
            "module": "vigil",
            "dataset": format!("vigil.{}", ev.kind),
            "provider": "vigil-collector",
        },
        "log": {"level": ev.severity.as_str()},
        "host": {"id": ev.agent_id, "name": ev.hostname, "hostname": ev.hostname},
        "organization": {"id": ev.agency},
        "observer": {"vendor": "Vigil", "product": "Vigil", "type": "host-security", "name": observer},
        "vigil": {"kind": ev.kind, "agency": ev.agency},
    });
    let Some(obj) = doc.as_object_mut() else {
        return doc;
    };
    match &ev.body {
        Body::Finding {
            seq,
            finding,
            raw: stored,
        } => {
            put(obj, "vigil", "seq", json!(seq));
            if raw {
                put(obj, "vigil", "finding", (*stored).clone());
            }
            finding_fields(obj, finding);
        }
        Body::Alert(a) => {
            put(obj, "rule", "name", json!(a.kind));
            put(obj, "event", "outcome", json!("unknown"));
            put(
                obj,
                "vigil",
                "alert",
                if raw {
                    json!(a)
                } else {
                    json!({"id": a.id, "state": a.state})
                },
            );
        }
    }
    doc
}

/// `event.category`, `event.type` and `event.kind`.
fn classes(ev: &Event<'_>) -> (Vec<&'static str>, Vec<&'static str>, &'static str) {
    let action = ev.action.as_str();
    match ev.kind {
        "check" => (vec!["configuration"], vec!["info"], "state"),
        "file" => (vec!["file"], vec![file_type(action)], "event"),
        "registry" => (vec!["registry"], vec![file_type(action)], "event"),
        "net" if action == "net-ioc-hit" => (vec!["network", "threat"], vec!["indicator"], "alert"),
        "net" => (vec!["network"], vec!["connection"], "event"),
        "inventory" => (vec!["host"], vec!["info"], "asset"),
        "health" => (vec!["host"], vec!["info"], "event"),
        _ => (vec!["intrusion_detection"], vec!["info"], "alert"),
    }
}

fn file_type(action: &str) -> &'static str {
    if action.ends_with("-created") {
        "creation"
    } else if action.ends_with("-deleted") {
        "deletion"
    } else {
        "change"
    }
}

/// Sets `obj[section][key]`, creating the section.
fn put(obj: &mut Map<String, Value>, section: &str, key: &str, v: Value) {
    let s = obj
        .entry(section)
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(m) = s.as_object_mut() {
        m.insert(key.to_owned(), v);
    }
}

/// `ip:port` split for `*.ip` / `*.port` (left out when the agent's text is no address).
fn endpoint(obj: &mut Map<String, Value>, section: &str, addr: &str) {
    put(obj, section, "address", json!(addr));
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        put(obj, section, "ip", json!(sa.ip().to_string()));
        put(obj, section, "port", json!(sa.port()));
    }
}

fn finding_fields(obj: &mut Map<String, Value>, f: &Finding) {
    match f {
        Finding::CheckResult(c) => {
            put(obj, "rule", "id", json!(c.rule_id));
            put(obj, "rule", "ruleset", json!(c.pack));
            put(obj, "rule", "category", json!(c.group));
            put(obj, "rule", "reference", json!(c.controls.join(", ")));
            let outcome = match c.status {
                Status::Pass => "success",
                Status::Fail => "failure",
                Status::Error | Status::NotApplicable => "unknown",
            };
            put(obj, "event", "outcome", json!(outcome));
            put(obj, "vigil", "status", json!(c.status));
            put(obj, "vigil", "controls", json!(c.controls));
        }
        Finding::FileEvent(e) => {
            put(obj, "file", "path", json!(e.path));
            let name = e.path.rsplit(['/', '\\']).next().unwrap_or(&e.path);
            put(obj, "file", "name", json!(name));
            if let Some(m) = &e.new {
                put(obj, "file", "size", json!(m.size));
                put(obj, "file", "mode", json!(format!("{:o}", m.mode & 0o7777)));
                put(obj, "file", "uid", json!(m.uid.to_string()));
                put(obj, "file", "gid", json!(m.gid.to_string()));
                put(
                    obj,
                    "file",
                    "mtime",
                    json!(rfc3339(m.mtime.saturating_mul(1000))),
                );
            }
            if let Some(p) = &e.process {
                put(obj, "process", "executable", json!(p));
            }
        }
        Finding::NetEvent(n) => {
            put(
                obj,
                "network",
                "transport",
                json!(n.proto.to_ascii_lowercase()),
            );
            endpoint(obj, "source", &n.local);
            if let Some(r) = &n.remote {
                endpoint(obj, "destination", r);
            }
            if let Some(pid) = n.pid {
                put(obj, "process", "pid", json!(pid));
            }
            if let Some(x) = &n.exe {
                put(obj, "process", "executable", json!(x));
            }
            if let Some(c) = &n.cmdline {
                put(obj, "process", "command_line", json!(c));
            }
            if let Some(u) = &n.user {
                put(obj, "user", "name", json!(u));
            }
            if let (NetEventKind::IocHit, Some(i)) = (n.kind, &n.indicator) {
                put(obj, "threat", "indicator", indicator(i));
                put(obj, "vigil", "indicator", json!(i));
            }
        }
        Finding::Registry(r) => {
            put(obj, "registry", "key", json!(r.key));
            if let Some(v) = &r.value {
                put(obj, "registry", "value", json!(v));
            }
        }
        Finding::Inventory(i) => {
            put(
                obj,
                "host",
                "os",
                json!({"full": format!("{} {}", i.os, i.os_version), "kernel": i.kernel}),
            );
            put(obj, "host", "architecture", json!(i.arch));
        }
        Finding::AgentHealth(_) => {}
    }
}

/// `threat.indicator` of an indicator the agent matched, written `kind:value` (`ip:203.0.113.9`,
/// `cidr:…`, `domain:…`, `sha256:…`, `md5:…`).
fn indicator(i: &str) -> Value {
    let (kind, value) = i.split_once(':').unwrap_or(("", i));
    let ecs_type = match kind {
        "ip" | "cidr" if value.contains(':') => "ipv6-addr",
        "ip" | "cidr" => "ipv4-addr",
        "domain" => "domain-name",
        "sha256" | "md5" => "file",
        _ => "unknown",
    };
    let mut v = json!({"name": value, "type": ecs_type});
    match kind {
        "ip" => v["ip"] = json!(value),
        "domain" => v["url"] = json!({"domain": value}),
        "sha256" | "md5" => v["file"] = json!({"hash": {kind: value}}),
        _ => {}
    }
    v
}
