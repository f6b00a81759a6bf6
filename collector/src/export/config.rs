//! The `[export]` section of collector.toml: SIEM outputs, each with its receiver, TLS trust,
//! filters and backlog bound. [`RawExport`] mirrors the file; [`RawExport::validate`] checks it
//! without touching the file system (files are read when the output starts).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vigil_proto::Severity;
use vigil_proto::units::parse_duration;

/// Kinds an output may select: the finding kinds and `alert` (alert raised or changed state).
pub const KINDS: &[&str] = &[
    "check",
    "file",
    "net",
    "registry",
    "inventory",
    "health",
    "alert",
];
/// Kinds sent when an output names none: security events, not inventories or agent health.
pub const DEFAULT_KINDS: &[&str] = &["check", "file", "net", "registry", "alert"];

/// `[export]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    /// `[[export.output]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<RawOutput>,
}

/// `[[export.output]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// Unique name; the durable cursor is kept under it (renaming starts a new output).
    pub name: String,
    /// `syslog` (RFC 5425 over TLS) or `elastic` (bulk NDJSON over HTTPS).
    #[serde(rename = "type")]
    pub kind: String,
    /// syslog: `host:port` of the receiver (6514 is the RFC 5425 port).
    pub address: Option<String>,
    /// syslog: payload `cef` or `ecs` (JSON in the Elastic Common Schema).
    pub format: Option<String>,
    /// syslog: facility name (default `local0`).
    pub facility: Option<String>,
    /// syslog: largest message in bytes (default 8192, the receiver's limit); longer events are
    /// shortened (raw finding left out, long fields cut), never split.
    pub max_message: Option<usize>,
    /// elastic: base URL, `https://host:port[/prefix]`; documents go to `<url>/_bulk`.
    pub url: Option<String>,
    /// elastic: index or data stream (default `vigil-events`).
    pub index: Option<String>,
    /// elastic: file holding an API key (`Authorization: ApiKey <key>`).
    pub api_key_file: Option<String>,
    /// PEM file of the CA(s) the receiver's certificate must chain to (required).
    pub ca: Option<String>,
    /// Name checked in the receiver's certificate (default: the host of address/url).
    pub server_name: Option<String>,
    /// PEM client certificate chain presented to the receiver (with `client_key`).
    pub client_cert: Option<String>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<String>,
    /// Kinds sent (default: check, file, net, registry, alert).
    pub kinds: Option<Vec<String>>,
    /// Lowest severity sent (default `low`: everything).
    pub min_severity: Option<String>,
    /// Agency subtrees whose hosts' events are sent (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agencies: Vec<String>,
    /// Backlog bound: events waiting beyond this many are dropped, oldest first (default 100000).
    pub max_backlog: Option<u64>,
    /// Backlog bound: events older than this are dropped (default `7d`).
    pub max_age: Option<String>,
    /// Events per send (default 500).
    pub batch: Option<usize>,
}

/// Validated `[export]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportConfig {
    /// The outputs, in file order.
    pub outputs: Vec<OutputConfig>,
}

/// One validated output.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputConfig {
    /// Name (cursor key).
    pub name: String,
    /// Where and how events go.
    pub sink: Sink,
    /// TLS trust and identity.
    pub tls: TlsFiles,
    /// Which events go.
    pub filter: Filter,
    /// Backlog bound by count.
    pub max_backlog: u64,
    /// Backlog bound by age.
    pub max_age: Duration,
    /// Events per send.
    pub batch: usize,
}

/// Payload of a syslog output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// ArcSight Common Event Format.
    Cef,
    /// JSON in the Elastic Common Schema.
    Ecs,
}

/// A receiver.
#[derive(Debug, Clone, PartialEq)]
pub enum Sink {
    /// RFC 5425 syslog over TLS.
    Syslog {
        /// Host and port.
        host: String,
        /// Port.
        port: u16,
        /// Payload format.
        payload: Payload,
        /// Facility code (0–23).
        facility: u8,
        /// Largest message, bytes.
        max_message: usize,
    },
    /// Elastic bulk API over HTTPS.
    Elastic {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Path of the bulk endpoint (`<prefix>/_bulk`).
        path: String,
        /// Index or data stream.
        index: String,
        /// API key file.
        api_key_file: Option<PathBuf>,
    },
}

/// TLS files of an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA bundle that verifies the receiver.
    pub ca: PathBuf,
    /// Name expected in the receiver's certificate.
    pub server_name: String,
    /// Client certificate chain and key.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Which events an output sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Kinds sent.
    pub kinds: BTreeSet<String>,
    /// Lowest severity.
    pub min_severity: Severity,
    /// Agency subtrees (empty: all).
    pub agencies: Vec<String>,
}

impl Filter {
    /// Whether an event of `kind` and `severity` about a host of `agency` is sent (a host whose
    /// agency is unknown matches only an output without subtrees).
    pub fn accepts(&self, kind: &str, severity: Severity, agency: Option<&str>) -> bool {
        self.kinds.contains(kind)
            && severity >= self.min_severity
            && (self.agencies.is_empty()
                || agency.is_some_and(|a| {
                    self.agencies.iter().any(|s| {
                        a == s || (a.starts_with(s.as_str()) && a[s.len()..].starts_with('/'))
                    })
                }))
    }
}

/// Syslog facility names (RFC 5424 table 1) and their codes.
const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("authpriv", 10),
    ("security", 13),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

impl RawExport {
    /// Checks every output; problems go to `errs`, each naming `file` and the field.
    pub fn validate(self, data_dir: &Path, file: &str, errs: &mut Vec<String>) -> ExportConfig {
        let mut names = BTreeSet::new();
        let mut outputs = Vec::new();
        for (i, o) in self.output.into_iter().enumerate() {
            let at = format!("{file}: export.output[{i}]");
            if o.name.trim().is_empty() || o.name.len() > 64 || o.name.chars().any(char::is_control)
            {
                errs.push(format!(
                    "{at}.name: give a name of 1 to 64 printable characters"
                ));
            } else if !names.insert(o.name.clone()) {
                errs.push(format!("{at}.name: {:?} is used twice", o.name));
            }
            if let Some(out) = o.validate(data_dir, &at, errs) {
                outputs.push(out);
            }
        }
        ExportConfig { outputs }
    }
}

impl RawOutput {
    fn validate(self, data_dir: &Path, at: &str, errs: &mut Vec<String>) -> Option<OutputConfig> {
        let n0 = errs.len();
        let sink = match self.kind.as_str() {
            "syslog" => self.syslog(at, errs),
            "elastic" => self.elastic(data_dir, at, errs),
            other => {
                errs.push(format!(
                    "{at}.type: {other:?} is not an output type, expected syslog or elastic"
                ));
                None
            }
        };
        let host = match &sink {
            Some(Sink::Syslog { host, .. } | Sink::Elastic { host, .. }) => host.clone(),
            None => String::new(),
        };
        let tls = self.tls(data_dir, host, at, errs);
        let filter = self.filter(at, errs);
        let max_age = match self.max_age.as_deref().map(parse_duration) {
            None => Duration::from_secs(7 * 86_400),
            Some(Ok(d)) if d >= Duration::from_secs(60) => d,
            Some(Ok(_)) => {
                errs.push(format!("{at}.max_age must be at least 1m"));
                Duration::ZERO
            }
            Some(Err(e)) => {
                errs.push(format!("{at}.max_age: {e}"));
                Duration::ZERO
            }
        };
        let max_backlog = self.max_backlog.unwrap_or(100_000);
        let batch = self.batch.unwrap_or(500);
        if max_backlog == 0 {
            errs.push(format!("{at}.max_backlog must be at least 1"));
        }
        if !(1..=10_000).contains(&batch) {
            errs.push(format!("{at}.batch must be between 1 and 10000"));
        }
        (errs.len() == n0).then_some(OutputConfig {
            name: self.name,
            sink: sink?,
            tls: tls?,
            filter,
            max_backlog,
            max_age,
            batch,
        })
    }

    fn syslog(&self, at: &str, errs: &mut Vec<String>) -> Option<Sink> {
        for (field, set) in [
            ("url", self.url.is_some()),
            ("index", self.index.is_some()),
            ("api_key_file", self.api_key_file.is_some()),
        ] {
            if set {
                errs.push(format!("{at}.{field} is for elastic outputs, not syslog"));
            }
        }
        let payload = match self.format.as_deref() {
            Some("cef") => Some(Payload::Cef),
            Some("ecs") => Some(Payload::Ecs),
            other => {
                errs.push(format!(
                    "{at}.format: {other:?} is not a syslog payload, expected \"cef\" or \"ecs\""
                ));
                None
            }
        };
        let facility = match self.facility.as_deref() {
            None => Some(16),
            Some(f) => {
                let code = FACILITIES.iter().find(|(n, _)| *n == f).map(|(_, c)| *c);
                if code.is_none() {
                    errs.push(format!(
                        "{at}.facility: {f:?} is not a facility such as local0"
                    ));
                }
                code
            }
        };
        let max_message = self.max_message.unwrap_or(8192);
        if !(2048..=1 << 20).contains(&max_message) {
            errs.push(format!("{at}.max_message must be between 2048 and 1048576"));
        }
        let (host, port) = match self.address.as_deref().map(host_port) {
            Some(Ok(hp)) => hp,
            Some(Err(e)) => {
                errs.push(format!("{at}.address: {e}"));
                return None;
            }
            None => {
                errs.push(format!("{at}.address: a syslog output needs host:port"));
                return None;
            }
        };
        Some(Sink::Syslog {
            host,
            port,
            payload: payload?,
            facility: facility?,
            max_message,
        })
    }

    fn elastic(&self, data_dir: &Path, at: &str, errs: &mut Vec<String>) -> Option<Sink> {
        for (field, set) in [
            ("address", self.address.is_some()),
            ("format", self.format.is_some()),
            ("facility", self.facility.is_some()),
            ("max_message", self.max_message.is_some()),
        ] {
            if set {
                errs.push(format!("{at}.{field} is for syslog outputs, not elastic"));
            }
        }
        let index = self.index.clone().unwrap_or_else(|| "vigil-events".into());
        if index.is_empty()
            || index.len() > 255
            || !index
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        {
            errs.push(format!(
                "{at}.index: {index:?} is not an index name (lower-case letters, digits, - _ .)"
            ));
        }
        let Some(url) = self.url.as_deref() else {
            errs.push(format!(
                "{at}.url: an elastic output needs https://host:port"
            ));
            return None;
        };
        let Some(rest) = url.strip_prefix("https://") else {
            errs.push(format!("{at}.url: {url:?} must start with https://"));
            return None;
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match host_port(authority) {
            Ok(hp) => hp,
            Err(e) => {
                errs.push(format!("{at}.url: {e}"));
                return None;
            }
        };
        if !prefix.bytes().all(|b| b.is_ascii_graphic()) || prefix.contains(['?', '#']) {
            errs.push(format!(
                "{at}.url: the path {prefix:?} must be plain (no query)"
            ));
        }
        Some(Sink::Elastic {
            host,
            port,
            path: format!("{}/_bulk", prefix.trim_end_matches('/')),
            index,
            api_key_file: self.api_key_file.as_deref().map(|p| data_dir.join(p)),
        })
    }

    fn tls(
        &self,
        data_dir: &Path,
        host: String,
        at: &str,
        errs: &mut Vec<String>,
    ) -> Option<TlsFiles> {
        let ca = match self.ca.as_deref() {
            Some(c) if !c.trim().is_empty() => data_dir.join(c),
            _ => {
                errs.push(format!(
                    "{at}.ca: give the PEM file of the CA that signed the receiver's certificate \
                     (receivers are always verified)"
                ));
                return None;
            }
        };
        let client = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some((data_dir.join(c), data_dir.join(k))),
            (None, None) => None,
            _ => {
                errs.push(format!("{at}.client_cert and client_key go together"));
                return None;
            }
        };
        let server_name = self.server_name.clone().unwrap_or(host);
        if rustls_pki_types::ServerName::try_from(server_name.as_str()).is_err() {
            errs.push(format!(
                "{at}.server_name: {server_name:?} is not a DNS name or IP"
            ));
            return None;
        }
        Some(TlsFiles {
            ca,
            server_name,
            client,
        })
    }

    fn filter(&self, at: &str, errs: &mut Vec<String>) -> Filter {
        let kinds = match &self.kinds {
            None => DEFAULT_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            Some(list) => {
                for k in list {
                    if !KINDS.contains(&k.as_str()) {
                        errs.push(format!(
                            "{at}.kinds: {k:?} is not a kind, expected some of {}",
                            KINDS.join(", ")
                        ));
                    }
                }
                if list.is_empty() {
                    errs.push(format!("{at}.kinds: an empty list sends nothing"));
                }
                list.iter().cloned().collect()
            }
        };
        let min_severity = match self.min_severity.as_deref().map(str::parse::<Severity>) {
            None => Severity::Low,
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                errs.push(format!("{at}.min_severity: {e}"));
                Severity::Low
            }
        };
        for a in &self.agencies {
            if a.is_empty() || a.starts_with('/') || a.ends_with('/') || a.contains("//") {
                errs.push(format!(
                    "{at}.agencies: {a:?} is not an agency path such as province/so-tttt"
                ));
            }
        }
        Filter {
            kinds,
            min_severity,
            agencies: self.agencies.clone(),
        }
    }
}

/// `host:port` or `[v6]:port`.
fn host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("{s:?} is not host:port");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(['/', ' ', '@']) {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}
