//! E-mail through an SMTP submission server with STARTTLS required (lettre on tokio, rustls
//! on the ring provider): a server that does not offer STARTTLS, or whose certificate does not
//! verify for its name, gets nothing, not even the login.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use super::config::SmtpConfig;

/// A connected-on-demand mailer.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Prepares sending through `cfg`, reading its password now.
    ///
    /// # Errors
    /// A bad sender, CA file or password source (the message never holds the password).
    pub fn new(cfg: &SmtpConfig) -> Result<Self, String> {
        let mut tls = TlsParameters::builder(cfg.server.clone());
        if let Some(ca) = &cfg.ca {
            let pem = std::fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("the CA in {}: {e}", ca.display()))?;
            tls = tls
                .certificate_store(CertificateStore::None)
                .add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("TLS setup for {}: {e}", cfg.server))?;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.server.as_str())
            .port(cfg.port)
            .tls(Tls::Required(tls))
            .timeout(Some(Duration::from_secs(30)));
        if let Some((user, secret)) = &cfg.auth {
            let pw = secret.load()?;
            b = b.credentials(Credentials::new(user.clone(), pw.expose().to_owned()));
        }
        let from = cfg
            .from
            .parse()
            .map_err(|e| format!("notify.smtp.from: {e}"))?;
        Ok(Self {
            transport: b.build(),
            from,
        })
    }

    /// Sends one plain-text UTF-8 mail.
    ///
    /// # Errors
    /// A refused address, or any SMTP, TLS or connection failure.
    pub async fn send(&self, to: &str, subject: &str, text: String) -> Result<(), String> {
        let to = to.parse().map_err(|e| format!("address {to:?}: {e}"))?;
        let mail = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| format!("building the mail: {e}"))?;
        self.transport
            .send(mail)
            .await
            .map(drop)
            .map_err(|e| format!("SMTP: {e}"))
    }
}
