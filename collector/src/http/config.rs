//! `[http]` of collector.toml: the console's listener, its certificate and the login limit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::fields;
use crate::http::ratelimit::LoginLimit;

/// `[http]` as written.
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

/// `[http]` checked.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Certificate and key of the console; `None` serves plain HTTP (loopback only).
    pub tls: Option<HttpTls>,
    /// Failed-login limit of the console.
    pub login_limit: LoginLimit,
}

/// Where the console's certificate chain and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTls {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

impl RawHttp {
    /// Checks the section of the file `f`; each problem goes to `errs`.
    pub fn validate(&self, data_dir: &Path, f: &str, errs: &mut Vec<String>) -> HttpConfig {
        let listen = fields::addr(
            f,
            "http.listen",
            self.listen.as_deref(),
            "127.0.0.1:8443",
            errs,
        );
        let tls = self.tls(listen, data_dir, f, errs);
        let window = fields::duration(
            f,
            "http.login_window",
            self.login_window.as_deref(),
            LoginLimit::default().window,
            errs,
        );
        let max_failures = fields::at_least_one(
            f,
            "http.login_max_failures",
            self.login_max_failures,
            5,
            errs,
        );
        if window < Duration::from_secs(1) {
            errs.push(format!("{f}: http.login_window must be at least 1s"));
        }
        HttpConfig {
            listen,
            tls,
            login_limit: LoginLimit {
                max_failures,
                window,
                ..Default::default()
            },
        }
    }

    /// `tls`, `cert` and `key`: the console's certificate, or `None` for plain HTTP (allowed on
    /// loopback only).
    fn tls(
        &self,
        listen: SocketAddr,
        data_dir: &Path,
        f: &str,
        errs: &mut Vec<String>,
    ) -> Option<HttpTls> {
        match (
            self.tls.unwrap_or(true),
            self.cert.as_deref(),
            self.key.as_deref(),
        ) {
            (false, None, None) => {
                if !listen.ip().is_loopback() {
                    errs.push(format!(
                        "{f}: http.tls = false serves plain HTTP, which is allowed on a loopback \
                         address only, and http.listen is {listen}: remove http.tls (HTTPS is \
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
}
