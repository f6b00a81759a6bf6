//! The `[notify]` section of collector.toml: as written ([`RawNotify`]) and validated
//! ([`NotifyConfig`]). Secrets are named here (a file or an environment variable), never
//! written: [`Secret::load`] reads them when the notifier starts.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::Uri;
use serde::{Deserialize, Serialize};
use vigil_proto::Severity;
use vigil_proto::units::parse_duration;

use crate::report::Lang;

/// `[notify]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// After a message to a recipient, further alerts for it wait this long and go out as one
    /// digest (default `10m`).
    pub digest_window: Option<String>,
    /// How often new alerts are read from the store (default `2s`).
    pub poll_interval: Option<String>,
    /// The mail server, needed by e-mail recipients.
    pub smtp: Option<RawSmtp>,
    /// Who is told.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipient: Vec<RawRecipient>,
}

/// `[notify.smtp]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    /// Host name of the server (also the name its certificate must carry).
    pub server: Option<String>,
    /// Submission port, default 587 (STARTTLS is always required).
    pub port: Option<u16>,
    /// Sender, `Name <address>` or `address`.
    pub from: Option<String>,
    /// Login name; without it no authentication is attempted.
    pub username: Option<String>,
    /// File holding the password (its first line).
    pub password_file: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// PEM file of the CA that signed the server's certificate; default the system roots.
    pub ca: Option<String>,
}

/// `[[notify.recipient]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecipient {
    /// Name in logs, metrics-free (default the address or URL host).
    pub name: Option<String>,
    /// E-mail address (or `webhook`).
    pub email: Option<String>,
    /// Webhook URL, `https://…` (`http://` only to a loopback address).
    pub webhook: Option<String>,
    /// File holding the webhook's HMAC key (its first line).
    pub key_file: Option<String>,
    /// Environment variable holding the webhook's HMAC key.
    pub key_env: Option<String>,
    /// PEM file of the CA that signed the webhook server's certificate; default system roots.
    pub ca: Option<String>,
    /// Agency subtree whose alerts are sent (default: every agency).
    pub agency: Option<String>,
    /// Lowest severity sent (default `high`).
    pub min_severity: Option<String>,
    /// `vi` (default) or `en`.
    pub lang: Option<String>,
}

/// Validated `[notify]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// See [`RawNotify::digest_window`].
    pub digest_window: Duration,
    /// See [`RawNotify::poll_interval`].
    pub poll_interval: Duration,
    /// The mail server, when configured.
    pub smtp: Option<SmtpConfig>,
    /// Recipients, in file order.
    pub recipients: Vec<Recipient>,
    /// Where the notifier keeps its cursor, digests and retry queue.
    pub state_file: PathBuf,
}

impl NotifyConfig {
    /// True when there is someone to notify.
    pub fn enabled(&self) -> bool {
        !self.recipients.is_empty()
    }
}

/// Validated `[notify.smtp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Server host name.
    pub server: String,
    /// Port.
    pub port: u16,
    /// Sender.
    pub from: String,
    /// Login name and where its password is.
    pub auth: Option<(String, Secret)>,
    /// Extra trusted CA.
    pub ca: Option<PathBuf>,
}

/// One recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Unique name (the key of its digest and queue entries).
    pub name: String,
    /// Agency subtree, `None` for all.
    pub agency: Option<String>,
    /// Lowest severity sent.
    pub min_severity: Severity,
    /// Language of its messages.
    pub lang: Lang,
    /// How it is reached.
    pub channel: Channel,
}

/// How a recipient is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// By mail to this address.
    Email(String),
    /// By a signed POST.
    Webhook {
        /// Target URL.
        url: String,
        /// Where the HMAC key is.
        key: Secret,
        /// Extra trusted CA.
        ca: Option<PathBuf>,
    },
}

impl Channel {
    /// `email` or `webhook`: the metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Webhook { .. } => "webhook",
        }
    }
}

/// Where a secret is: read at start, never logged or stored in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// First line of this file (which must not be readable by others).
    File(PathBuf),
    /// This environment variable.
    Env(String),
}

/// A secret's value; its `Debug` does not show it.
#[derive(Clone)]
pub struct SecretValue(String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

impl SecretValue {
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret {
    /// Reads the secret.
    ///
    /// # Errors
    /// A missing or empty value, or a file others may read; the message names the file or
    /// variable, never the value.
    pub fn load(&self) -> Result<SecretValue, String> {
        let v = match self {
            Self::File(p) => {
                check_private(p)?;
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("reading the secret in {}: {e}", p.display()))?;
                text.lines().next().unwrap_or("").trim().to_owned()
            }
            Self::Env(name) => std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set"))?
                .trim()
                .to_owned(),
        };
        if v.is_empty() {
            return Err(format!("{} is empty", self.describe()));
        }
        Ok(SecretValue(v))
    }

    fn describe(&self) -> String {
        match self {
            Self::File(p) => format!("the secret file {}", p.display()),
            Self::Env(n) => format!("environment variable {n}"),
        }
    }
}

/// Refuses a secret file that others than its owner (and group) may read or anyone may write.
fn check_private(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(p).map_err(|e| format!("the secret file {}: {e}", p.display()))?;
    if meta.permissions().mode() & 0o007 != 0 {
        return Err(format!(
            "the secret file {} is accessible to every user; chmod 600 it",
            p.display()
        ));
    }
    Ok(())
}

impl RawNotify {
    /// Checks `[notify]`, resolving relative paths under `data_dir`. Each problem is pushed to
    /// `errs` as `{file}: notify.FIELD: …`.
    pub fn validate(&self, data_dir: &Path, file: &str, errs: &mut Vec<String>) -> NotifyConfig {
        let mut dur = |field: &str, v: &Option<String>, default: u64| {
            v.as_deref()
                .map_or(Duration::from_secs(default), |s| match parse_duration(s) {
                    Ok(d) if d >= Duration::from_secs(1) => d,
                    Ok(_) => {
                        errs.push(format!("{file}: notify.{field} must be at least 1s"));
                        Duration::from_secs(default)
                    }
                    Err(e) => {
                        errs.push(format!("{file}: notify.{field}: {e}"));
                        Duration::from_secs(default)
                    }
                })
        };
        let digest_window = dur("digest_window", &self.digest_window, 600);
        let poll_interval = dur("poll_interval", &self.poll_interval, 2);
        let smtp = self
            .smtp
            .as_ref()
            .and_then(|s| smtp(s, data_dir, file, errs));
        let mut recipients = Vec::new();
        for (i, r) in self.recipient.iter().enumerate() {
            let at = format!("{file}: notify.recipient[{i}]");
            if let Some(r) = recipient(r, data_dir, &at, errs) {
                if recipients.iter().any(|o: &Recipient| o.name == r.name) {
                    errs.push(format!("{at}.name: {:?} is used twice", r.name));
                }
                if matches!(r.channel, Channel::Email(_)) && self.smtp.is_none() {
                    errs.push(format!(
                        "{at}.email: e-mail recipients need a [notify.smtp] section"
                    ));
                }
                recipients.push(r);
            }
        }
        NotifyConfig {
            digest_window,
            poll_interval,
            smtp,
            recipients,
            state_file: data_dir.join("notify-state.json"),
        }
    }
}

fn smtp(s: &RawSmtp, data_dir: &Path, file: &str, errs: &mut Vec<String>) -> Option<SmtpConfig> {
    let at = format!("{file}: notify.smtp");
    let server = s.server.as_deref().map(str::trim).unwrap_or_default();
    if server.is_empty() {
        errs.push(format!(
            "{at}.server: the mail server's host name is required"
        ));
    }
    let from = s.from.as_deref().map(str::trim).unwrap_or_default();
    if from.parse::<lettre::message::Mailbox>().is_err() {
        errs.push(format!(
            "{at}.from: {from:?} is not a sender, expected an address or `Name <address>`"
        ));
    }
    let password = secret(
        &s.password_file,
        &s.password_env,
        data_dir,
        &at,
        "password",
        errs,
    );
    let auth = match (s.username.as_deref(), password) {
        (Some(u), Some(p)) if !u.is_empty() => Some((u.to_owned(), p)),
        (None, None) => None,
        _ => {
            errs.push(format!(
                "{at}: username and password_file (or password_env) go together"
            ));
            None
        }
    };
    let ca = path(&s.ca, data_dir, &format!("{at}.ca"), errs);
    Some(SmtpConfig {
        server: server.to_owned(),
        port: s.port.unwrap_or(587),
        from: from.to_owned(),
        auth,
        ca,
    })
}

fn recipient(
    r: &RawRecipient,
    data_dir: &Path,
    at: &str,
    errs: &mut Vec<String>,
) -> Option<Recipient> {
    let channel = match (&r.email, &r.webhook) {
        (Some(e), None) => {
            if e.parse::<lettre::Address>().is_err() {
                errs.push(format!("{at}.email: {e:?} is not an e-mail address"));
            }
            if r.key_file.is_some() || r.key_env.is_some() || r.ca.is_some() {
                errs.push(format!("{at}: key_file, key_env and ca are for webhooks"));
            }
            Channel::Email(e.clone())
        }
        (None, Some(u)) => {
            if let Err(e) = webhook_url(u) {
                errs.push(format!("{at}.webhook: {e}"));
            }
            let Some(key) = secret(&r.key_file, &r.key_env, data_dir, at, "key", errs) else {
                errs.push(format!(
                    "{at}: a webhook needs key_file or key_env (its HMAC key)"
                ));
                return None;
            };
            Channel::Webhook {
                url: u.clone(),
                key,
                ca: path(&r.ca, data_dir, &format!("{at}.ca"), errs),
            }
        }
        _ => {
            errs.push(format!("{at}: give exactly one of email and webhook"));
            return None;
        }
    };
    let min_severity = match r.min_severity.as_deref() {
        None => Severity::High,
        Some(s) => s.parse().unwrap_or_else(|e: String| {
            errs.push(format!("{at}.min_severity: {e}"));
            Severity::High
        }),
    };
    let lang = match r.lang.as_deref() {
        None => Lang::Vi,
        Some(l) => Lang::parse(l).unwrap_or_else(|| {
            errs.push(format!(
                "{at}.lang: {l:?} is not a language, expected vi or en"
            ));
            Lang::Vi
        }),
    };
    let agency = r
        .agency
        .as_deref()
        .map(|a| a.trim_end_matches('/').to_owned());
    if agency.as_deref() == Some("") {
        errs.push(format!(
            "{at}.agency: must name an agency path (leave it out for all)"
        ));
    }
    let name = r.name.clone().unwrap_or_else(|| match &channel {
        Channel::Email(e) => e.clone(),
        Channel::Webhook { url, .. } => url.clone(),
    });
    Some(Recipient {
        name,
        agency,
        min_severity,
        lang,
        channel,
    })
}

/// The secret of `file` or `env` (exactly one); `what` names it in errors.
fn secret(
    file: &Option<String>,
    env: &Option<String>,
    data_dir: &Path,
    at: &str,
    what: &str,
    errs: &mut Vec<String>,
) -> Option<Secret> {
    match (file, env) {
        (Some(f), None) if !f.trim().is_empty() => Some(Secret::File(data_dir.join(f))),
        (None, Some(e)) if !e.trim().is_empty() => Some(Secret::Env(e.clone())),
        (None, None) => None,
        _ => {
            errs.push(format!(
                "{at}: give one of {what}_file and {what}_env, not empty and not both"
            ));
            None
        }
    }
}

fn path(v: &Option<String>, data_dir: &Path, at: &str, errs: &mut Vec<String>) -> Option<PathBuf> {
    match v.as_deref() {
        Some(p) if p.trim().is_empty() => {
            errs.push(format!("{at} must not be empty"));
            None
        }
        Some(p) => Some(data_dir.join(p)),
        None => None,
    }
}

/// A webhook target: `https://`, or `http://` to a loopback address (nothing secret crosses
/// the network in the clear, but the body names hosts and alerts).
///
/// # Errors
/// What is wrong with the URL.
pub fn webhook_url(s: &str) -> Result<Uri, String> {
    let uri: Uri = s.parse().map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    let host = uri.host().ok_or_else(|| format!("{s:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err(format!(
            "{s:?}: plain http is allowed only to a loopback address; use https"
        )),
        _ => Err(format!("{s:?}: expected an https:// URL")),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
