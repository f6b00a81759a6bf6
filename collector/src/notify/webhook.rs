//! Signed webhooks: a JSON body POSTed over HTTPS (or plain HTTP to loopback), with
//! `X-Vigil-Timestamp: <unix seconds>` and `X-Vigil-Signature: sha256=<hex>`, the HMAC-SHA256
//! under the recipient's key of `<timestamp>.<body>`. The timestamp is inside the MAC so a
//! receiver that refuses old timestamps (docs/notifications.md says 5 minutes) cannot be fed a
//! replayed delivery; the body's `delivery` id lets it drop a retry it already took.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::SecretValue;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-vigil-signature";
/// Header carrying the signed timestamp.
pub const TIMESTAMP_HEADER: &str = "x-vigil-timestamp";

/// Time allowed for connecting, the TLS handshake and the answer together.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The `X-Vigil-Signature` value of `body` sent at `timestamp` under `key`.
pub fn signature(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&k);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256={}", hex::encode(ctx.sign().as_ref()))
}

/// True if `sig` is the signature of `body` at `timestamp` under `key` (constant time).
pub fn verify(key: &[u8], timestamp: i64, body: &[u8], sig: &str) -> bool {
    let Some(hexed) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(tag) = hex::decode(hexed) else {
        return false;
    };
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut msg = timestamp.to_string().into_bytes();
    msg.push(b'.');
    msg.extend_from_slice(body);
    ring::hmac::verify(&k, &msg, &tag).is_ok()
}

/// One webhook target, ready to post to.
#[derive(Clone)]
pub struct Webhook {
    uri: Uri,
    key: SecretValue,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("uri", &self.uri)
            .field("https", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Prepares posting to `url` (checked by [`super::config::webhook_url`]), trusting `ca` or
    /// else the system's roots for HTTPS.
    ///
    /// # Errors
    /// A bad URL or CA file.
    pub fn new(url: &str, key: SecretValue, ca: Option<&std::path::Path>) -> Result<Self, String> {
        let uri = super::config::webhook_url(url)?;
        let tls = if uri.scheme_str() == Some("https") {
            Some(tokio_rustls::TlsConnector::from(Arc::new(client_tls(ca)?)))
        } else {
            None
        };
        Ok(Self { uri, key, tls })
    }

    /// Posts `body` signed at `now`.
    ///
    /// # Errors
    /// A connection or TLS failure, a timeout, or an answer other than 2xx.
    pub async fn post(&self, body: Vec<u8>, now: i64) -> Result<(), String> {
        tokio::time::timeout(TIMEOUT, self.post_inner(body, now))
            .await
            .map_err(|_| format!("no answer within {}s", TIMEOUT.as_secs()))?
    }

    async fn post_inner(&self, body: Vec<u8>, now: i64) -> Result<(), String> {
        let host = self.uri.host().unwrap_or_default();
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let https = self.tls.is_some();
        let port = self.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
            .await
            .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
        let sig = signature(self.key.expose().as_bytes(), now, &body);
        let authority = self
            .uri
            .authority()
            .map_or_else(|| host.to_owned(), |a| a.as_str().to_owned());
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let req = Request::post(path)
            .header(header::HOST, authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("vigil-collector/", env!("CARGO_PKG_VERSION")),
            )
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(SIGNATURE_HEADER, sig)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("building the request: {e}"))?;
        match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(bare.clone())
                    .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {host}: {e}"))?;
                exchange(stream, req).await
            }
            None => exchange(tcp, req).await,
        }
    }
}

/// Sends `req` over `io` with HTTP/1.1 and checks the status; the body is read (bounded) and
/// dropped.
async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(conn);
    let res = send
        .send_request(req)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let status = res.status();
    // The receiver's answer is not used; a bounded read lets the connection end cleanly.
    let _ = http_body_util::Limited::new(res.into_body(), 64 * 1024)
        .collect()
        .await;
    driver.abort();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

/// A client TLS configuration on the ring provider trusting `ca`, or the system roots.
///
/// # Errors
/// An unreadable CA file or no usable root.
pub fn client_tls(ca: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(p) => {
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(p)
                .map_err(|e| format!("reading {}: {e}", p.display()))?;
            for c in certs {
                let c = c.map_err(|e| format!("reading {}: {e}", p.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("a certificate in {}: {e}", p.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA certificate (set ca, or install the system's CA bundle)".into());
    }
    rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}
