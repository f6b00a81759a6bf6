//! `[quic]` and `[session]` of collector.toml: the QUIC listener and the agents' sessions on it.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vigil_proto::units::parse_size;

use crate::config::fields;

/// `[quic]` as written.
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

/// `[quic]` checked.
#[derive(Debug, Clone)]
pub struct QuicConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Addresses advertised in tokens.
    pub advertise: Vec<String>,
    /// Connection-rate limit.
    pub max_new_connections_per_sec: u32,
}

impl RawQuic {
    /// Checks the section of the file `f`; each problem goes to `errs`.
    pub fn validate(self, f: &str, errs: &mut Vec<String>) -> QuicConfig {
        let listen = fields::addr(
            f,
            "quic.listen",
            self.listen.as_deref(),
            "0.0.0.0:4433",
            errs,
        );
        for a in &self.advertise {
            if !a.contains(':')
                || a.rsplit_once(':')
                    .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            {
                errs.push(format!("{f}: quic.advertise: {a:?} is not host:port"));
            }
        }
        let rate = fields::at_least_one(
            f,
            "quic.max_new_connections_per_sec",
            self.max_new_connections_per_sec,
            200,
            errs,
        );
        QuicConfig {
            listen,
            advertise: self.advertise,
            max_new_connections_per_sec: rate,
        }
    }
}

/// `[session]` as written.
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

/// `[session]` checked.
#[derive(Debug, Clone)]
pub struct SessionTunables {
    /// Heartbeat interval pushed to agents.
    pub heartbeat_interval: Duration,
    /// Session idle timeout.
    pub idle_timeout: Duration,
    /// Maximum frame size.
    pub max_frame: usize,
    /// Batches per second one agent may send.
    pub max_batches_per_sec: u32,
}

impl RawSession {
    /// Checks the section of the file `f`; each problem goes to `errs`.
    pub fn validate(&self, f: &str, errs: &mut Vec<String>) -> SessionTunables {
        let heartbeat_interval = fields::duration(
            f,
            "session.heartbeat_interval",
            self.heartbeat_interval.as_deref(),
            Duration::from_secs(30),
            errs,
        );
        let idle_timeout = fields::duration(
            f,
            "session.idle_timeout",
            self.idle_timeout.as_deref(),
            Duration::from_secs(120),
            errs,
        );
        if idle_timeout <= heartbeat_interval {
            errs.push(format!(
                "{f}: session.idle_timeout must be longer than session.heartbeat_interval"
            ));
        }
        let default_frame = vigil_proto::frame::DEFAULT_MAX_FRAME;
        let max_frame = match self.max_frame.as_deref().map(parse_size) {
            None => default_frame,
            Some(Ok(n)) if (4096..=64 << 20).contains(&n) => n as usize,
            Some(Ok(_)) => {
                errs.push(format!(
                    "{f}: session.max_frame must be between 4KiB and 64MiB"
                ));
                default_frame
            }
            Some(Err(e)) => {
                errs.push(format!("{f}: session.max_frame: {e}"));
                default_frame
            }
        };
        let max_batches_per_sec = fields::at_least_one(
            f,
            "session.max_batches_per_sec",
            self.max_batches_per_sec,
            100,
            errs,
        );
        SessionTunables {
            heartbeat_interval,
            idle_timeout,
            max_frame,
            max_batches_per_sec,
        }
    }
}
