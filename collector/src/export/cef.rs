//! Events in ArcSight's Common Event Format (CEF 0), for the `cef` syslog payload. Header fields
//! escape `\` and `|`; extension values escape `\`, `=` and line breaks, as the format requires,
//! so agent text cannot add fields. The mapping is documented in docs/export.md.

use std::fmt::Write as _;

use vigil_proto::Finding;

use super::ecs::severity_number;
use super::event::{Body, Event};

/// The CEF line of `ev`; every extension value is cut to `cap` characters.
pub(super) fn line(ev: &Event<'_>, cap: usize) -> String {
    let class = match &ev.body {
        Body::Finding { finding, .. } => match finding.as_ref() {
            Finding::CheckResult(c) => format!("check:{}", c.rule_id),
            _ => format!("{}:{}", ev.kind, ev.action),
        },
        Body::Alert(a) => format!("alert:{}", a.kind),
    };
    let name = match &ev.body {
        Body::Alert(a) => a.title.clone(),
        Body::Finding { .. } => ev.message.clone(),
    };
    let mut out = format!(
        "CEF:0|Vigil|Vigil|{}|{}|{}|{}|",
        header(env!("CARGO_PKG_VERSION")),
        header(&cut(&class, 1023)),
        header(&cut(&name, 512)),
        severity_number(ev.severity)
    );
    let mut ext = Ext {
        out: &mut out,
        cap,
        first: true,
    };
    ext.num("rt", ev.received_ms);
    ext.num("start", ev.time_ms);
    ext.put("externalId", &ev.id);
    ext.put("cat", ev.kind);
    ext.put("act", &ev.action);
    ext.put("deviceExternalId", ev.agent_id);
    if let Some(h) = ev.hostname {
        ext.put("dvchost", h);
    }
    if let Some(a) = ev.agency {
        ext.label("cs1", "agency", a);
    }
    ext.put("msg", &ev.message);
    match &ev.body {
        Body::Finding { finding, .. } => finding_ext(&mut ext, finding),
        Body::Alert(a) => {
            ext.put("outcome", a.state.as_str());
            ext.label("cs2", "alertKind", &a.kind);
            ext.put("cn1Label", "count");
            ext.num("cn1", i64::try_from(a.count).unwrap_or(i64::MAX));
            ext.put("cn2Label", "alertId");
            ext.num("cn2", a.id);
            if let Some(r) = &a.reason {
                ext.put("reason", r);
            }
            if let Some(u) = &a.assignee {
                ext.put("duser", u);
            }
        }
    }
    out
}

fn finding_ext(ext: &mut Ext<'_>, f: &Finding) {
    match f {
        Finding::CheckResult(c) => {
            ext.put("outcome", c.status.as_str());
            ext.label("cs2", "rule", &c.rule_id);
            ext.label("cs3", "pack", &c.pack);
            ext.label("cs4", "controls", &c.controls.join(","));
            ext.label("cs5", "group", &c.group);
        }
        Finding::FileEvent(e) => {
            ext.put("filePath", &e.path);
            ext.put(
                "fname",
                e.path.rsplit(['/', '\\']).next().unwrap_or(&e.path),
            );
            if let Some(m) = &e.new {
                ext.num("fsize", i64::try_from(m.size).unwrap_or(i64::MAX));
                if let Some(h) = &m.hash {
                    ext.put("fileHash", h);
                }
            }
            if let Some(p) = &e.process {
                ext.put("sproc", p);
            }
            if !e.changed.is_empty() {
                ext.label("cs2", "changed", &e.changed.join(","));
            }
        }
        Finding::NetEvent(n) => {
            endpoint(ext, "src", "spt", &n.local);
            if let Some(r) = &n.remote {
                endpoint(ext, "dst", "dpt", r);
            }
            ext.put("proto", &n.proto.to_ascii_uppercase());
            if let Some(x) = &n.exe {
                ext.put("sproc", x);
            }
            if let Some(p) = n.pid {
                ext.num("spid", i64::from(p));
            }
            if let Some(u) = &n.user {
                ext.put("suser", u);
            }
            if let Some(i) = &n.indicator {
                ext.label("cs2", "indicator", i);
            }
        }
        Finding::Registry(r) => {
            ext.label("cs2", "registryKey", &r.key);
            if let Some(v) = &r.value {
                ext.label("cs3", "registryValue", v);
            }
        }
        Finding::Inventory(_) | Finding::AgentHealth(_) => {}
    }
}

/// An `ip:port` the agent sent, as address and port keys (left out when it is no address).
fn endpoint(ext: &mut Ext<'_>, ip: &str, port: &str, addr: &str) {
    if let Ok(sa) = addr.parse::<std::net::SocketAddr>() {
        ext.put(ip, &sa.ip().to_string());
        ext.num(port, i64::from(sa.port()));
    }
}

struct Ext<'a> {
    out: &'a mut String,
    cap: usize,
    first: bool,
}

impl Ext<'_> {
    fn put(&mut self, key: &str, value: &str) {
        if !self.first {
            self.out.push(' ');
        }
        self.first = false;
        let _ = write!(self.out, "{key}={}", extension(&cut(value, self.cap)));
    }

    fn num(&mut self, key: &str, v: i64) {
        self.put(key, &v.to_string());
    }

    /// A custom string with its label (`cs2Label=rule cs2=...`).
    fn label(&mut self, key: &str, label: &str, value: &str) {
        self.put(&format!("{key}Label"), label);
        self.put(key, value);
    }
}

/// At most `max` characters.
fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].into(),
        None => s.into(),
    }
}

/// A header field: `\` and `|` escaped, line breaks and other controls as spaces.
fn header(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '|' => o.push_str("\\|"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// An extension value: `\`, `=` and line breaks escaped, other controls as spaces.
fn extension(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '=' => o.push_str("\\="),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}
