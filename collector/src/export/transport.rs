//! The network side of the outputs: a verified TLS client (the receiver's certificate must chain
//! to the configured CA; optional client certificate), a syslog connection kept open between
//! batches, and one-request HTTPS exchanges for the Elastic bulk API. Replies are peer bytes:
//! read with a size bound and a deadline, their status checked.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::config::TlsFiles;

/// Connecting, the TLS handshake and each write or reply have this long.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest reply read from a bulk endpoint.
pub(super) const MAX_REPLY: usize = 8 << 20;

/// A transport failure (the batch is sent again later).
#[derive(Debug, thiserror::Error)]
pub(super) enum SendError {
    /// Connecting, TLS or I/O failed, or timed out.
    #[error("{0}")]
    Io(String),
    /// The receiver answered with something other than success.
    #[error("{0}")]
    Refused(String),
}

/// Builds the TLS client of an output from its files.
///
/// # Errors
/// A message naming the file that cannot be read or used.
pub(super) fn connector(t: &TlsFiles) -> Result<(TlsConnector, ServerName<'static>), String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&t.ca)
        .map_err(|e| format!("{}: {e}", t.ca.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e}", t.ca.display()))?;
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("{}: unusable CA certificate: {e}", t.ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate", t.ca.display()));
    }
    let b = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let cfg = match &t.client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("{}: {e}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
            let k =
                PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            b.with_client_auth_cert(chain, k)
                .map_err(|e| format!("{}: {e}", cert.display()))?
        }
    };
    let name = ServerName::try_from(t.server_name.clone())
        .map_err(|e| format!("server name {:?}: {e}", t.server_name))?;
    Ok((TlsConnector::from(Arc::new(cfg)), name))
}

async fn timed<T>(what: &str, f: impl Future<Output = std::io::Result<T>>) -> Result<T, SendError> {
    match tokio::time::timeout(IO_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SendError::Io(format!("{what}: {e}"))),
        Err(_) => Err(SendError::Io(format!("{what}: timed out"))),
    }
}

async fn open(
    tls: &TlsConnector,
    name: &ServerName<'static>,
    host: &str,
    port: u16,
) -> Result<TlsStream<TcpStream>, SendError> {
    let tcp = timed("connecting", TcpStream::connect((host, port))).await?;
    let _ = tcp.set_nodelay(true);
    timed("TLS handshake", tls.connect(name.clone(), tcp)).await
}

/// A syslog receiver: one TLS connection, reopened when it breaks.
pub(super) struct Syslog {
    tls: TlsConnector,
    name: ServerName<'static>,
    host: String,
    port: u16,
    conn: Option<TlsStream<TcpStream>>,
}

impl Syslog {
    /// A receiver at `host:port`; nothing is connected yet.
    pub(super) fn new(
        tls: TlsConnector,
        name: ServerName<'static>,
        host: String,
        port: u16,
    ) -> Self {
        Self {
            tls,
            name,
            host,
            port,
            conn: None,
        }
    }

    /// Writes the frames of a batch. An idle connection the receiver closed (it restarted) is
    /// noticed before writing and reopened, so a batch is not written into a dead socket.
    ///
    /// # Errors
    /// When connecting or writing fails; the connection is dropped and the batch is sent again.
    pub(super) async fn send(&mut self, frames: &[u8]) -> Result<(), SendError> {
        if let Some(c) = &mut self.conn
            && !still_open(c).await
        {
            self.conn = None;
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self
                .conn
                .insert(open(&self.tls, &self.name, &self.host, self.port).await?),
        };
        let r = timed("writing", async {
            conn.write_all(frames).await?;
            conn.flush().await
        })
        .await;
        if r.is_err() {
            self.conn = None;
        }
        r
    }
}

/// Whether the receiver has not closed an idle connection (syslog receivers never write, so
/// anything readable is an end of stream, an alert or an error).
async fn still_open(c: &mut TlsStream<TcpStream>) -> bool {
    let mut b = [0_u8; 512];
    // Polls the read once: pending means nothing arrived, so the connection is still open.
    tokio::time::timeout(Duration::from_millis(1), c.read(&mut b))
        .await
        .is_err()
}

/// An Elastic bulk endpoint: one HTTPS request per batch on a fresh connection.
pub(super) struct Elastic {
    tls: TlsConnector,
    name: ServerName<'static>,
    host: String,
    port: u16,
    path: String,
    auth: Option<String>,
}

impl Elastic {
    /// The endpoint `https://host:port<path>`, with an `Authorization` header value if any.
    pub(super) fn new(
        tls: TlsConnector,
        name: ServerName<'static>,
        (host, port, path): (String, u16, String),
        auth: Option<String>,
    ) -> Self {
        Self {
            tls,
            name,
            host,
            port,
            path,
            auth,
        }
    }

    /// POSTs an NDJSON body and returns the reply's body if its status is 2xx.
    ///
    /// # Errors
    /// Transport failures, a reply over [`MAX_REPLY`] bytes, a non-2xx status.
    pub(super) async fn post(&self, body: Vec<u8>) -> Result<Vec<u8>, SendError> {
        let conn = open(&self.tls, &self.name, &self.host, self.port).await?;
        let http = |e: hyper::Error| SendError::Io(format!("bulk request: {e}"));
        let (mut send, driver) = timed("HTTP handshake", async {
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(conn))
                .await
                .map_err(std::io::Error::other)
        })
        .await?;
        let driver = tokio::spawn(driver);
        let authority = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut req = hyper::Request::post(self.path.as_str())
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/x-ndjson")
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(a) = &self.auth {
            req = req.header(hyper::header::AUTHORIZATION, a.as_str());
        }
        let req = req
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
            .map_err(|e| SendError::Io(format!("bulk request: {e}")))?;
        let exchange = async {
            let resp = send.send_request(req).await.map_err(http)?;
            let status = resp.status();
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_REPLY);
            let bytes = http_body_util::BodyExt::collect(limited)
                .await
                .map_err(|e| SendError::Refused(format!("bulk reply: {e}")))?
                .to_bytes();
            Ok::<_, SendError>((status, bytes))
        };
        let r = tokio::time::timeout(IO_TIMEOUT, exchange).await;
        driver.abort();
        let (status, bytes) = r.map_err(|_| SendError::Io("bulk request: timed out".into()))??;
        if !status.is_success() {
            return Err(SendError::Refused(format!(
                "bulk request answered {status}"
            )));
        }
        Ok(bytes.to_vec())
    }
}
