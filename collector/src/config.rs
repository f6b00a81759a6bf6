//! Collector configuration: `<data-dir>/collector.toml`, parsed in two stages.
//!
//! [`RawConfig`] mirrors the file (serde, unknown keys rejected, every key optional);
//! [`RawConfig::validate`] turns it into a [`Config`] of checked values and reports *all* problems
//! at once, each naming the file and the field. Each section is defined and checked next to the
//! module it configures (`server/config.rs` for `[quic]` and `[session]`, `http/config.rs`,
//! `store/config.rs`, `schedule.rs`, …); this file only gathers them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) mod fields;

pub use crate::alerting::{RawAlertRules, RawAlerts, RawSubtreeAlerts};
pub use crate::http::config::{HttpTls, RawHttp};
pub use crate::report::{RawReports, ReportSchedule, ReportsConfig};
pub use crate::schedule::RawSchedule;
pub use crate::server::config::{RawQuic, RawSession};
pub use crate::store::config::{RawStore, StoreConfig};

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
    /// SIEM export outputs.
    #[serde(default)]
    pub export: crate::export::RawExport,
    /// The link to an upstream collector (`upstream enroll` makes it).
    #[serde(default)]
    pub upstream: crate::federation::config::RawUpstream,
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
    /// SIEM export outputs.
    pub export: crate::export::ExportConfig,
    /// Summary interval of the upstream link, when collector.toml sets one.
    pub upstream_interval: Option<Duration>,
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
        let f = file.display().to_string();
        let mut errs = Vec::new();
        let quic = self.quic.validate(&f, &mut errs);
        let http = self.http.validate(data_dir, &f, &mut errs);
        let session = self.session.validate(&f, &mut errs);
        let store = self.store.validate(data_dir, &f, &mut errs);
        let (recompute_interval, alert_rules_interval) = self.schedule.validate(&f, &mut errs);
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
        let reports = self.reports.validate(data_dir, &f, &mut errs);
        let notify = self.notify.validate(data_dir, &f, &mut errs);
        let export = self.export.validate(data_dir, &f, &mut errs);
        let upstream_interval = self.upstream.validate(&f, &mut errs);
        if !errs.is_empty() {
            return Err(ConfigError(errs));
        }
        Ok(Config {
            data_dir: data_dir.to_path_buf(),
            name: self.name.unwrap_or_else(|| "Vigil".into()),
            quic_listen: quic.listen,
            advertise: quic.advertise,
            max_new_connections_per_sec: quic.max_new_connections_per_sec,
            http_listen: http.listen,
            http_tls: http.tls,
            login_limit: http.login_limit,
            store,
            heartbeat_interval: session.heartbeat_interval,
            idle_timeout: session.idle_timeout,
            max_frame: session.max_frame,
            max_batches_per_sec: session.max_batches_per_sec,
            scoring,
            recompute_interval,
            alert_rules_interval,
            alerts,
            reports,
            notify,
            export,
            upstream_interval,
        })
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
