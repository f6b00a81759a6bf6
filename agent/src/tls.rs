//! Client TLS for the two ALPNs: enrollment pinned to the token's CA fingerprint, and sessions
//! against the CA stored at enrollment with the agent's client certificate.
//!
//! No trust on first use: during enrollment the server must present a chain containing a CA whose
//! SHA-256 equals the pin from the token, and the server certificate must verify against that CA
//! for the name the agent dialled. Anything else is an impostor.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

/// The crypto provider (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies the collector against a pinned CA fingerprint.
#[derive(Debug)]
pub struct PinnedCaVerifier {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl PinnedCaVerifier {
    /// A verifier for `pin` (SHA-256 of the CA certificate DER).
    pub fn new(pin: [u8; 32]) -> Self {
        Self {
            pin,
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| <[u8; 32]>::from(Sha256::digest(c.as_ref())) == self.pin)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the collector's CA does not match the enrollment token's pin: refusing to talk \
                     to an impostor"
                        .into(),
                )
            })?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn quic_config(
    tls: rustls::ClientConfig,
    keep_alive: Option<Duration>,
    idle: Duration,
) -> Result<quinn::ClientConfig, String> {
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| format!("QUIC TLS: {e}"))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(idle).map_err(|e| e.to_string())?,
    ));
    t.keep_alive_interval(keep_alive);
    cfg.transport_config(Arc::new(t));
    Ok(cfg)
}

/// Client config for enrollment (no client certificate).
///
/// # Errors
/// A message if rustls refuses the configuration.
pub fn enroll_config(pin: [u8; 32]) -> Result<quinn::ClientConfig, String> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCaVerifier::new(pin)))
        .with_no_client_auth();
    tls.alpn_protocols = vec![vigil_proto::ALPN_ENROLL.to_vec()];
    quic_config(tls, None, Duration::from_secs(30))
}

/// Client config for a session.
///
/// # Errors
/// A message if the CA, certificate or key are unusable.
pub fn session_config(
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    idle: Duration,
) -> Result<quinn::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots.add(ca).map_err(|e| format!("collector CA: {e}"))?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("client certificate: {e}"))?;
    tls.alpn_protocols = vec![vigil_proto::ALPN.to_vec()];
    quic_config(tls, Some(idle / 4), idle)
}

/// Splits `host:port` (with `[v6]:port` support) into the host for SNI and the port.
///
/// # Errors
/// A message naming the expected form.
pub fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} is not host:port"))?;
    let port: u16 = port.parse().map_err(|_| format!("{addr:?}: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(format!("{addr:?} is not host:port"));
    }
    Ok((host.to_string(), port))
}

/// Resolves an address and connects with `cfg`, trying each resolved address in turn, each from
/// a new client endpoint.
///
/// # Errors
/// The last connection error, or a resolution error.
pub async fn connect(
    addr: &str,
    cfg: quinn::ClientConfig,
) -> anyhow::Result<(quinn::Endpoint, quinn::Connection)> {
    let (host, targets) = resolve(addr).await?;
    let mut last = anyhow::anyhow!("{addr}: no address found");
    for sa in targets {
        let bind: std::net::SocketAddr = if sa.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let ep = crate::quic_socket::client_endpoint(bind)?;
        match dial(&ep, addr, sa, &host, cfg.clone()).await {
            Ok(conn) => return Ok((ep, conn)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Like [`connect`], from an existing client endpoint: many connections share its socket and
/// its receive buffers (about 3 MB per endpoint on Linux), as the simulated agents of one
/// process do. Only addresses of the endpoint's family are tried.
///
/// # Errors
/// The last connection error, or a resolution error.
pub async fn connect_on(
    ep: &quinn::Endpoint,
    addr: &str,
    cfg: quinn::ClientConfig,
) -> anyhow::Result<quinn::Connection> {
    let (host, targets) = resolve(addr).await?;
    let v4 = ep.local_addr()?.is_ipv4();
    let mut last = anyhow::anyhow!("{addr}: no address of the endpoint's family");
    for sa in targets.into_iter().filter(|sa| sa.is_ipv4() == v4) {
        match dial(ep, addr, sa, &host, cfg.clone()).await {
            Ok(conn) => return Ok(conn),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn resolve(addr: &str) -> anyhow::Result<(String, Vec<std::net::SocketAddr>)> {
    let (host, port) = split_host_port(addr).map_err(anyhow::Error::msg)?;
    let targets = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .collect();
    Ok((host, targets))
}

/// How long one handshake with one address may take. While a collector is down its Initial
/// packets go out at 0, 1, 3 and 7 s, then the attempt ends and the caller dials again, so a
/// collector that comes back hears from its clients within about 4 s.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn dial(
    ep: &quinn::Endpoint,
    addr: &str,
    sa: std::net::SocketAddr,
    host: &str,
    cfg: quinn::ClientConfig,
) -> anyhow::Result<quinn::Connection> {
    match ep.connect_with(cfg, sa, host) {
        Ok(connecting) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(anyhow::anyhow!("{addr} ({sa}): {e}")),
            Err(_) => Err(anyhow::anyhow!("{addr} ({sa}): connection timed out")),
        },
        Err(e) => Err(anyhow::anyhow!("{addr} ({sa}): {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("vigil.example:4433"),
            Ok(("vigil.example".into(), 4433))
        );
        assert_eq!(split_host_port("[::1]:4433"), Ok(("::1".into(), 4433)));
        assert!(split_host_port("nohost").is_err());
        assert!(split_host_port("h:0").is_err());
        assert!(split_host_port(":44").is_err());
    }
}
