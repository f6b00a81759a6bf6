//! Collector configuration: `<data-dir>/collector.toml`, parsed in two stages.
//!
//! [`RawConfig`] mirrors the file (serde, unknown keys rejected, every key optional);
//! [`RawConfig::validate`] turns it into a [`Config`] of checked values and reports *all* problems
//! at once, each naming the file and the field.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vigil_proto::units::{parse_duration, parse_size};

pub use crate::alerting::{RawAlertRules, RawAlerts, RawSubtreeAlerts};
pub use crate::report::{RawReports, ReportSchedule, ReportsConfig};
pub use crate::schedule::RawSchedule;

/// Name of the config file inside a data dir.
pub const CONFIG_FILE: &str = "collector.toml";

/// The file as written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Organisation name shown in certificates and the UI.
    #[serde(default)]
    pub name: Option<String>,
    /// QUIC listener.
    #[serde(default)]
    pub quic: RawQuic,
    /// HTTP listener.
    #[serde(default)]
    pub http: RawHttp,
    /// Storage.
    #[serde(default)]
    pub store: RawStore,
    /// Session tunables.
    #[serde(default)]
    pub session: RawSession,
    /// Every constant of the scoring formulas, versioned (DESIGN §6); defaults when absent.
    #[serde(default)]
    pub scoring: Option<vigil_rules::score::ScoringConfig>,
    /// When scores are recomputed and stored.
    #[serde(default)]
    pub schedule: RawSchedule,
    /// Alert rules and their per-subtree settings.
    #[serde(default)]
    pub alerts: RawAlerts,
    /// Scheduled posture reports.
    #[serde(default)]
    pub reports: RawReports,
    /// E-mail and webhook notifications of new alerts.
    #[serde(default)]
    pub notify: crate::notify::RawNotify,
}

/// `[quic]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuic {
    /// Listen address, default `0.0.0.0:4433`.
    pub listen: Option<String>,
    /// Addresses agents use to reach this collector (`host:port`), written into tokens.
    #[serde(default)]
    pub advertise: Vec<String>,
    /// New connections accepted per second before the collector asks agents to back off.
    pub max_new_connections_per_sec: Option<u32>,
}

/// `[http]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Listen address, default `127.0.0.1:8443`.
    pub listen: Option<String>,
    /// Serve HTTPS (default true). Plain HTTP (`false`) is allowed on a loopback address only.
    pub tls: Option<bool>,
    /// PEM certificate chain to serve instead of the collector's own server certificate
    /// (relative to the data dir); needs `key`.
    pub cert: Option<String>,
    /// PEM private key of `cert`.
    pub key: Option<String>,
    /// Failed logins allowed per client address and per user name within `login_window`
    /// (default 5); then 429 until the window ends.
    pub login_max_failures: Option<u32>,
    /// Window of the login limit (default `15m`).
    pub login_window: Option<String>,
}

/// `[store]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `sqlite` (default) or `postgres`.
    pub backend: Option<String>,
    /// SQLite file (relative to the data dir) or PostgreSQL URL.
    pub url: Option<String>,
}

/// `[session]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    /// Agent heartbeat interval, default `30s`.
    pub heartbeat_interval: Option<String>,
    /// Silence after which a session is closed, default `120s`.
    pub idle_timeout: Option<String>,
    /// Largest frame accepted, default `1MiB`.
    pub max_frame: Option<String>,
    /// Batches per second one agent may send (default 100); more wait, unread, so the agent is
    /// slowed down rather than refused.
    pub max_batches_per_sec: Option<u32>,
}

/// Storage backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite file.
    Sqlite(PathBuf),
    /// PostgreSQL URL.
    Postgres(String),
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data dir.
    pub data_dir: PathBuf,
    /// Organisation name.
    pub name: String,
    /// QUIC listen address.
    pub quic_listen: SocketAddr,
    /// Addresses advertised in tokens.
    pub advertise: Vec<String>,
    /// Connection-rate limit.
    pub max_new_connections_per_sec: u32,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Certificate and key of the console; `None` serves plain HTTP (loopback only).
    pub http_tls: Option<HttpTls>,
    /// Failed-login limit of the console.
    pub login_limit: crate::http::ratelimit::LoginLimit,
    /// Storage.
    pub store: StoreConfig,
    /// Heartbeat interval pushed to agents.
    pub heartbeat_interval: Duration,
    /// Session idle timeout.
    pub idle_timeout: Duration,
    /// Maximum frame size.
    pub max_frame: usize,
    /// Batches per second one agent may send.
    pub max_batches_per_sec: u32,
    /// Validated scoring configuration.
    pub scoring: vigil_rules::score::Scoring,
    /// Score recompute interval.
    pub recompute_interval: Duration,
    /// Periodic alert rule interval.
    pub alert_rules_interval: Duration,
    /// Alert rule settings.
    pub alerts: crate::alerting::AlertSettings,
    /// Posture reports.
    pub reports: ReportsConfig,
    /// Notifications.
    pub notify: crate::notify::NotifyConfig,
}

/// Where the console's certificate chain and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// A configuration that could not be loaded: every problem found, each naming file and field.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct ConfigError(pub Vec<String>);

impl RawConfig {
    /// Reads a config file's text, refusing a file anyone may write.
    fn read(path: &Path) -> Result<String, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(vec![format!("{}: {e}", path.display())]))?;
        crate::fsutil::check_not_world_writable(path).map_err(|e| ConfigError(vec![e]))?;
        Ok(text)
    }

    /// Checks every field and produces a [`Config`].
    ///
    /// # Errors
    /// [`ConfigError`] listing all invalid fields.
    pub fn validate(self, data_dir: &Path, file: &Path) -> Result<Config, ConfigError> {
        let f = file.display();
        let mut errs = Vec::new();
        let mut addr = |field: &str, v: Option<String>, default: &str| -> SocketAddr {
            let s = v.unwrap_or_else(|| default.to_string());
            s.parse().unwrap_or_else(|_| {
                errs.push(format!(
                    "{f}: {field}: {s:?} is not an address, expected IP:PORT such as {default}"
                ));
                SocketAddr::from(([127, 0, 0, 1], 0))
            })
        };
        let quic_listen = addr("quic.listen", self.quic.listen, "0.0.0.0:4433");
        let http_listen = addr("http.listen", self.http.listen, "127.0.0.1:8443");
        let http_tls = http_tls(
            self.http.tls,
            self.http.cert.as_deref(),
            self.http.key.as_deref(),
            http_listen,
            data_dir,
            &f,
            &mut errs,
        );
        for a in &self.quic.advertise {
            if !a.contains(':')
                || a.rsplit_once(':')
                    .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            {
                errs.push(format!("{f}: quic.advertise: {a:?} is not host:port"));
            }
        }
        let Timings {
            login_window,
            heartbeat_interval,
            idle_timeout,
            recompute_interval,
            alert_rules_interval,
            max_frame,
        } = timings(
            self.http.login_window.as_deref(),
            &self.session,
            &self.schedule,
            &f,
            &mut errs,
        );
        let store = store_config(self.store, data_dir, &f, &mut errs);
        for (field, d) in [
            ("schedule.recompute", recompute_interval),
            ("schedule.alert_rules", alert_rules_interval),
        ] {
            if d < Duration::from_secs(1) {
                errs.push(format!("{f}: {field} must be at least 1s"));
            }
        }
        let alerts = crate::alerting::AlertSettings::from_raw(&self.alerts).unwrap_or_else(|e| {
            errs.extend(e.into_iter().map(|m| format!("{f}: {m}")));
            crate::alerting::AlertSettings::default()
        });
        let scoring = match self
            .scoring
            .map(vigil_rules::score::ScoringConfig::validate)
        {
            None => vigil_rules::score::Scoring::default(),
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                errs.extend(e.0.iter().map(|m| format!("{f}: scoring: {m}")));
                vigil_rules::score::Scoring::default()
            }
        };
        let login_max_failures = self.http.login_max_failures.unwrap_or(5);
        if login_max_failures == 0 {
            errs.push(format!("{f}: http.login_max_failures must be at least 1"));
        }
        if login_window < Duration::from_secs(1) {
            errs.push(format!("{f}: http.login_window must be at least 1s"));
        }
        let reports = self.reports.validate(data_dir, &f.to_string(), &mut errs);
        let notify = self.notify.validate(data_dir, &f.to_string(), &mut errs);
        let max_batches_per_sec = self.session.max_batches_per_sec.unwrap_or(100);
        if max_batches_per_sec == 0 {
            errs.push(format!(
                "{f}: session.max_batches_per_sec must be at least 1"
            ));
        }
        let rate = self.quic.max_new_connections_per_sec.unwrap_or(200);
        if rate == 0 {
            errs.push(format!(
                "{f}: quic.max_new_connections_per_sec must be at least 1"
            ));
        }
        if !errs.is_empty() {
            return Err(ConfigError(errs));
        }
        Ok(Config {
            data_dir: data_dir.to_path_buf(),
            name: self.name.unwrap_or_else(|| "Vigil".into()),
            quic_listen,
            advertise: self.quic.advertise,
            max_new_connections_per_sec: rate,
            http_listen,
            http_tls,
            login_limit: crate::http::ratelimit::LoginLimit {
                max_failures: login_max_failures,
                window: login_window,
                ..Default::default()
            },
            store,
            heartbeat_interval,
            idle_timeout,
            max_frame,
            max_batches_per_sec,
            scoring,
            recompute_interval,
            alert_rules_interval,
            alerts,
            reports,
            notify,
        })
    }
}

/// Durations and sizes of `[http]`, `[session]` and `[schedule]`, checked in that order.
struct Timings {
    login_window: Duration,
    heartbeat_interval: Duration,
    idle_timeout: Duration,
    recompute_interval: Duration,
    alert_rules_interval: Duration,
    max_frame: usize,
}

/// Parses the durations and the frame size; each problem goes to `errs` (its default is used).
fn timings(
    login_window: Option<&str>,
    session: &RawSession,
    schedule: &RawSchedule,
    f: &std::path::Display<'_>,
    errs: &mut Vec<String>,
) -> Timings {
    let mut dur = |field: &str, v: Option<&str>, default: Duration| -> Duration {
        match v {
            None => default,
            Some(s) => parse_duration(s).unwrap_or_else(|e| {
                errs.push(format!("{f}: {field}: {e}"));
                default
            }),
        }
    };
    let login_window = dur(
        "http.login_window",
        login_window,
        crate::http::ratelimit::LoginLimit::default().window,
    );
    let heartbeat_interval = dur(
        "session.heartbeat_interval",
        session.heartbeat_interval.as_deref(),
        Duration::from_secs(30),
    );
    let idle_timeout = dur(
        "session.idle_timeout",
        session.idle_timeout.as_deref(),
        Duration::from_secs(120),
    );
    let recompute_interval = dur(
        "schedule.recompute",
        schedule.recompute.as_deref(),
        Duration::from_secs(300),
    );
    let alert_rules_interval = dur(
        "schedule.alert_rules",
        schedule.alert_rules.as_deref(),
        Duration::from_secs(60),
    );
    if idle_timeout <= heartbeat_interval {
        errs.push(format!(
            "{f}: session.idle_timeout must be longer than session.heartbeat_interval"
        ));
    }
    let max_frame = match session.max_frame.as_deref().map(parse_size) {
        None => vigil_proto::frame::DEFAULT_MAX_FRAME,
        Some(Ok(n)) if (4096..=64 << 20).contains(&n) => n as usize,
        Some(Ok(_)) => {
            errs.push(format!(
                "{f}: session.max_frame must be between 4KiB and 64MiB"
            ));
            vigil_proto::frame::DEFAULT_MAX_FRAME
        }
        Some(Err(e)) => {
            errs.push(format!("{f}: session.max_frame: {e}"));
            vigil_proto::frame::DEFAULT_MAX_FRAME
        }
    };
    Timings {
        login_window,
        heartbeat_interval,
        idle_timeout,
        recompute_interval,
        alert_rules_interval,
        max_frame,
    }
}

/// `[http] tls`, `cert` and `key`: the console's certificate, or `None` for plain HTTP (allowed on
/// loopback only). Problems go to `errs`.
fn http_tls(
    tls: Option<bool>,
    cert: Option<&str>,
    key: Option<&str>,
    http_listen: SocketAddr,
    data_dir: &Path,
    f: &std::path::Display<'_>,
    errs: &mut Vec<String>,
) -> Option<HttpTls> {
    match (tls.unwrap_or(true), cert, key) {
        (false, None, None) => {
            if !http_listen.ip().is_loopback() {
                errs.push(format!(
                    "{f}: http.tls = false serves plain HTTP, which is allowed on a loopback \
                     address only, and http.listen is {http_listen}: remove http.tls (HTTPS is \
                     the default) or listen on 127.0.0.1"
                ));
            }
            None
        }
        (false, _, _) => {
            errs.push(format!(
                "{f}: http.cert/http.key are set but http.tls = false; remove one or the other"
            ));
            None
        }
        (true, None, None) => {
            let pki = crate::pki::PkiPaths::new(data_dir);
            Some(HttpTls {
                cert: pki.server_cert,
                key: pki.server_key,
            })
        }
        (true, Some(cert), Some(key)) => Some(HttpTls {
            cert: data_dir.join(cert),
            key: data_dir.join(key),
        }),
        (true, Some(_), None) | (true, None, Some(_)) => {
            errs.push(format!(
                "{f}: http.cert and http.key go together: give both or neither"
            ));
            None
        }
    }
}

/// `[store]`: the SQLite file under the data dir (default) or a PostgreSQL URL.
fn store_config(
    store: RawStore,
    data_dir: &Path,
    f: &std::path::Display<'_>,
    errs: &mut Vec<String>,
) -> StoreConfig {
    match store.backend.as_deref().unwrap_or("sqlite") {
        "sqlite" => {
            StoreConfig::Sqlite(data_dir.join(store.url.unwrap_or_else(|| "vigil.db".into())))
        }
        "postgres" => match store.url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                StoreConfig::Postgres(u)
            }
            _ => {
                errs.push(format!(
                    "{f}: store.url: backend postgres needs a postgres:// URL"
                ));
                StoreConfig::Sqlite(data_dir.join("vigil.db"))
            }
        },
        other => {
            errs.push(format!(
                "{f}: store.backend: {other:?} is not a backend, expected sqlite or postgres"
            ));
            StoreConfig::Sqlite(data_dir.join("vigil.db"))
        }
    }
}

/// Loads `<data_dir>/collector.toml` or an explicit config file (whose directory is the data dir).
///
/// # Errors
/// [`ConfigError`] for any problem.
pub fn load(data_dir: Option<&Path>, config: Option<&Path>) -> Result<Config, ConfigError> {
    let (dir, file) = match (data_dir, config) {
        (_, Some(c)) => (
            c.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            c.to_path_buf(),
        ),
        (Some(d), None) => (d.to_path_buf(), d.join(CONFIG_FILE)),
        (None, None) => {
            return Err(ConfigError(vec![
                "give --data-dir DIR or --config FILE".into(),
            ]));
        }
    };
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    let text = RawConfig::read(&file)?;
    parse(&text, &dir, &file)
}

/// Parses and validates config text as the file `file` of `data_dir` (which relative paths are
/// resolved against). The whole decoder of the configuration, without touching the file system
/// (the `collector_config` fuzz target drives it).
///
/// # Errors
/// [`ConfigError`] listing every problem.
pub fn parse(text: &str, data_dir: &Path, file: &Path) -> Result<Config, ConfigError> {
    // Every problem at once: keys that do not fit the schema (see
    // [`vigil_proto::config::parse_all`]), then the values that do not hold.
    let (raw, mut errs) = vigil_proto::config::parse_all::<RawConfig>(text, file);
    match raw.validate(data_dir, file) {
        Ok(cfg) if errs.is_empty() => Ok(cfg),
        Ok(_) => Err(ConfigError(errs)),
        Err(ConfigError(more)) => {
            errs.extend(more);
            Err(ConfigError(errs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        super::parse(s, Path::new("/d"), Path::new("/d/collector.toml"))
    }

    #[test]
    fn defaults() {
        let c = parse("").expect("empty is valid");
        assert_eq!(c.quic_listen.port(), 4433);
        assert!(c.http_listen.ip().is_loopback());
        assert_eq!(c.store, StoreConfig::Sqlite(PathBuf::from("/d/vigil.db")));
        assert_eq!(
            c.http_tls,
            Some(HttpTls {
                cert: PathBuf::from("/d/pki/server.pem"),
                key: PathBuf::from("/d/pki/server.key"),
            }),
            "HTTPS with the collector's own certificate by default"
        );
        assert_eq!(c.login_limit.max_failures, 5);
        assert_eq!(c.login_limit.window, Duration::from_secs(900));
    }

    #[test]
    fn plain_http_only_on_loopback_and_certificates_in_pairs() {
        let c = parse("[http]\nlisten = \"0.0.0.0:8443\"\n").expect("HTTPS on any address");
        assert!(c.http_tls.is_some());
        let c = parse("[http]\nlisten = \"[::1]:80\"\ntls = false\n").expect("loopback");
        assert_eq!(c.http_tls, None);
        for bad in [
            "[http]\nlisten = \"0.0.0.0:80\"\ntls = false\n",
            "[http]\nlisten = \"192.0.2.1:80\"\ntls = false\n",
        ] {
            let e = parse(bad).expect_err("plain HTTP off loopback").to_string();
            assert!(
                e.contains("http.tls") && e.contains("http.listen") && e.contains("loopback"),
                "{e}"
            );
        }
        let e = parse("[http]\ncert = \"c.pem\"\n")
            .expect_err("no key")
            .to_string();
        assert!(e.contains("http.key"), "{e}");
        let e = parse("[http]\ntls = false\ncert = \"c.pem\"\nkey = \"k.pem\"\n")
            .expect_err("cert without TLS")
            .to_string();
        assert!(e.contains("http.cert"), "{e}");
        let c = parse("[http]\ncert = \"c.pem\"\nkey = \"/etc/k.pem\"\n").expect("own cert");
        assert_eq!(
            c.http_tls,
            Some(HttpTls {
                cert: PathBuf::from("/d/c.pem"),
                key: PathBuf::from("/etc/k.pem"),
            })
        );
        let c = parse("[http]\nlogin_max_failures = 3\nlogin_window = \"1h\"\n").expect("limit");
        assert_eq!(
            (c.login_limit.max_failures, c.login_limit.window),
            (3, Duration::from_secs(3600))
        );
        let e = parse("[http]\nlogin_max_failures = 0\nlogin_window = \"soon\"\n")
            .expect_err("bad limit")
            .to_string();
        assert!(
            e.contains("http.login_max_failures") && e.contains("http.login_window"),
            "{e}"
        );
    }

    #[test]
    fn reports_defaults() {
        let c = parse("").expect("empty is valid");
        assert_eq!(c.reports.dir, PathBuf::from("/d/reports"));
        assert_eq!(c.reports.schedule, ReportSchedule::Monthly);
        assert_eq!(
            c.reports.font,
            PathBuf::from(crate::report::pdf::DEFAULT_FONT)
        );
    }

    #[test]
    fn reports_section_is_validated_with_every_bad_key_named() {
        let c = parse(
            "[reports]\ndir = \"out\"\nschedule = \"weekly\"\nfont = \"/f/x.ttf\"\nlang = \"en\"\n",
        )
        .expect("valid");
        assert_eq!(c.reports.dir, PathBuf::from("/d/out"));
        assert_eq!(c.reports.schedule, ReportSchedule::Weekly);
        assert_eq!(c.reports.font, PathBuf::from("/f/x.ttf"));
        assert_eq!(c.reports.lang, crate::report::Lang::En);
        let off = parse("[reports]\nschedule = \"off\"\n").expect("off");
        assert_eq!(off.reports.schedule, ReportSchedule::Off);
        let e = parse("[reports]\ndir = \" \"\nschedule = \"daily\"\nlang = \"fr\"\nfont = \"\"\n")
            .expect_err("bad");
        let msg = e.to_string();
        for needle in [
            "reports.dir",
            "reports.schedule",
            "reports.lang",
            "reports.font",
        ] {
            assert!(msg.contains(needle), "missing {needle} in {msg}");
        }
        let e = parse("[reports]\nevery = \"month\"\n").expect_err("unknown");
        assert!(e.to_string().contains("every"), "{e}");
    }

    #[test]
    fn unknown_field_is_named() {
        let e = parse("[quic]\nlisten = \"0.0.0.0:1\"\nlistne = 3\n").expect_err("unknown");
        assert!(e.to_string().contains("listne"), "{e}");
    }

    #[test]
    fn all_errors_reported_at_once() {
        let e = parse(
            "[quic]\nlisten = \"nowhere\"\n[http]\nlisten = \"0.0.0.0:80\"\ntls = false\n[session]\nidle_timeout = \"forever\"\n[store]\nbackend = \"oracle\"\n",
        )
        .expect_err("bad");
        let msg = e.to_string();
        for needle in [
            "quic.listen",
            "http.listen",
            "session.idle_timeout",
            "store.backend",
        ] {
            assert!(msg.contains(needle), "missing {needle} in {msg}");
        }
    }
}
