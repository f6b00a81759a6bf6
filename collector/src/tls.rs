//! rustls/quinn server configuration with a revocation-aware agent certificate verifier.
//!
//! Client certificates are *optional* at the TLS layer because a host that enrolls has none yet;
//! the session layer then requires one for ALPN `vigil/1` and forbids everything but enrollment
//! without it. A presented certificate must chain to the collector CA and must not be revoked:
//! revoked serials are refused inside the handshake, before any application byte is read.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use crate::pki;

/// Shared set of revoked certificate serials (lowercase hex), updated at runtime.
pub type RevokedSerials = Arc<RwLock<HashSet<String>>>;

/// Verifies agent certificates against the CA and the revocation set.
#[derive(Debug)]
pub struct AgentCertVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    revoked: RevokedSerials,
}

impl ClientCertVerifier for AgentCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let serial = pki::cert_serial(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let revoked = self
            .revoked
            .read()
            .map(|s| s.contains(&serial))
            .unwrap_or(true);
        if revoked {
            tracing::warn!(%serial, "Refused a revoked agent certificate.");
            return Err(rustls::Error::InvalidCertificate(CertificateError::Revoked));
        }
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The crypto provider used everywhere (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the QUIC server config.
///
/// # Errors
/// A message when the certificates or key are unusable.
pub fn server_config(
    ca_der: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    revoked: RevokedSerials,
    idle_timeout: std::time::Duration,
) -> Result<quinn::ServerConfig, String> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    roots
        .add(ca_der)
        .map_err(|e| format!("CA certificate: {e}"))?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| format!("client verifier: {e}"))?;
    let verifier = Arc::new(AgentCertVerifier { inner, revoked });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("server certificate: {e}"))?;
    tls.alpn_protocols = vec![
        vigil_proto::ALPN.to_vec(),
        vigil_proto::ALPN_ENROLL.to_vec(),
        vigil_proto::fed::ALPN_FED.to_vec(),
        vigil_proto::fed::ALPN_FED_ENROLL.to_vec(),
    ];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| format!("QUIC TLS config: {e}"))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(idle_timeout).map_err(|e| format!("idle timeout: {e}"))?,
    ));
    // One control stream per agent; refuse more so a peer cannot pile up stream state.
    transport.max_concurrent_bidi_streams(1u32.into());
    transport.max_concurrent_uni_streams(0u32.into());
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}
