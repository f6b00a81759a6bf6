//! The collector's certificate authority: creation at `init`, issuing agent certificates.
//!
//! Design choice: the CA signs agent certificates from a CSR but takes **only the public key**
//! from it. Subject, SANs, validity, key usage and serial are all chosen here, so a hostile CSR
//! cannot smuggle in a CA flag, a server-auth usage or another agent's identity. The CSR's own
//! signature is still verified (proof that the requester holds the private key).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::fsutil::{read_to_string, write_private};

/// How long the CA is valid.
const CA_VALIDITY_DAYS: i64 = 3650;
/// How long the server certificate is valid.
const SERVER_VALIDITY_DAYS: i64 = 825;
/// How long an agent certificate is valid (DESIGN §2: 1 year, rotated at 2/3).
pub const AGENT_VALIDITY_DAYS: i64 = 365;

/// PKI errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Certificate generation or parsing failed.
    #[error("certificate error: {0}")]
    Cert(#[from] rcgen::Error),
    /// A PKI file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A PEM file did not hold what was expected.
    #[error("{0}")]
    Invalid(String),
}

/// Paths of the PKI files inside a data dir.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    /// CA certificate.
    pub ca_cert: PathBuf,
    /// CA private key (0600).
    pub ca_key: PathBuf,
    /// Server certificate chain (server, CA).
    pub server_cert: PathBuf,
    /// Server private key (0600).
    pub server_key: PathBuf,
}

impl PkiPaths {
    /// Paths under `<data_dir>/pki`.
    pub fn new(data_dir: &Path) -> Self {
        let d = data_dir.join("pki");
        Self {
            ca_cert: d.join("ca.pem"),
            ca_key: d.join("ca.key"),
            server_cert: d.join("server.pem"),
            server_key: d.join("server.key"),
        }
    }
}

/// A loaded CA able to issue agent certificates.
pub struct Ca {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("fingerprint", &hex::encode(self.fingerprint()))
            .finish()
    }
}

/// Names the server certificate is valid for.
#[derive(Debug, Clone, Default)]
pub struct ServerNames {
    /// DNS names.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<std::net::IpAddr>,
}

/// Creates the CA and the server certificate under `paths`. Refuses to overwrite.
///
/// # Errors
/// [`PkiError`] when a file exists already or cannot be written, or generation fails.
pub fn init(paths: &PkiPaths, org: &str, names: &ServerNames) -> Result<Ca, PkiError> {
    for p in [
        &paths.ca_cert,
        &paths.ca_key,
        &paths.server_cert,
        &paths.server_key,
    ] {
        if p.exists() {
            return Err(PkiError::Invalid(format!(
                "{} exists already; refusing to replace the collector CA (every enrolled agent \
                 trusts it)",
                p.display()
            )));
        }
    }
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = dn(&format!("Vigil collector CA ({org})"), org);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    params.serial_number = Some(random_serial());
    let ca_cert = params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut sp = CertificateParams::new(Vec::<String>::new())?;
    sp.distinguished_name = dn("Vigil collector", org);
    sp.subject_alt_names = names
        .dns
        .iter()
        .map(|n| n.as_str().try_into().map(SanType::DnsName))
        .collect::<Result<Vec<_>, _>>()?;
    sp.subject_alt_names
        .extend(names.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    sp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    sp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sp.not_before = now - Duration::hours(1);
    sp.not_after = now + Duration::days(SERVER_VALIDITY_DAYS);
    sp.serial_number = Some(random_serial());
    let issuer = Issuer::new(params, ca_key);
    let server_cert = sp.signed_by(&server_key, &issuer)?;

    write_private(&paths.ca_key, issuer.key().serialize_pem().as_bytes()).map_err(|source| {
        PkiError::Io {
            path: paths.ca_key.clone(),
            source,
        }
    })?;
    write_private(&paths.server_key, server_key.serialize_pem().as_bytes()).map_err(|source| {
        PkiError::Io {
            path: paths.server_key.clone(),
            source,
        }
    })?;
    let chain = format!("{}{}", server_cert.pem(), ca_cert.pem());
    write_private(&paths.server_cert, chain.as_bytes()).map_err(|source| PkiError::Io {
        path: paths.server_cert.clone(),
        source,
    })?;
    write_private(&paths.ca_cert, ca_cert.pem().as_bytes()).map_err(|source| PkiError::Io {
        path: paths.ca_cert.clone(),
        source,
    })?;
    Ok(Ca {
        cert_pem: ca_cert.pem(),
        cert_der: ca_cert.der().clone(),
        issuer,
    })
}

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d.push(DnType::OrganizationName, org);
    d
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] &= 0x7f;
    b[0] |= 0x01; // never zero, never a leading zero octet
    SerialNumber::from_slice(&b)
}

/// What the CA writes into an agent certificate.
#[derive(Debug, Clone)]
pub struct AgentCertRequest<'a> {
    /// Agent UUID (goes into SAN URI `vigil://agent/<uuid>` and the CN).
    pub agent_id: &'a str,
    /// Agency path (goes into the OU).
    pub agency: &'a str,
}

/// An issued agent certificate.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// PEM.
    pub pem: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

impl Ca {
    /// Loads the CA from its files.
    ///
    /// # Errors
    /// [`PkiError`] when the files are missing or invalid.
    pub fn load(paths: &PkiPaths) -> Result<Self, PkiError> {
        let cert_pem = read_to_string(&paths.ca_cert).map_err(|source| PkiError::Io {
            path: paths.ca_cert.clone(),
            source,
        })?;
        let key_pem = read_to_string(&paths.ca_key).map_err(|source| PkiError::Io {
            path: paths.ca_key.clone(),
            source,
        })?;
        let key = KeyPair::from_pem(&key_pem)?;
        let cert_der = pem_certs(&cert_pem)?.into_iter().next().ok_or_else(|| {
            PkiError::Invalid(format!("{}: no certificate", paths.ca_cert.display()))
        })?;
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        Ok(Self {
            cert_pem,
            cert_der,
            issuer,
        })
    }

    /// CA certificate PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// CA certificate DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// SHA-256 of the CA certificate DER: the pin carried in enrollment tokens.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.cert_der.as_ref()).into()
    }

    /// Issues an agent certificate for the public key of `csr_pem`, ignoring every other field.
    ///
    /// # Errors
    /// [`PkiError`] when the CSR is not valid PEM/DER or its signature does not verify.
    pub fn issue_agent(
        &self,
        csr_pem: &str,
        req: &AgentCertRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        let cn = format!("vigil-agent {}", req.agent_id);
        let uri = format!("vigil://agent/{}", req.agent_id);
        self.issue_client(csr_pem, (&cn, req.agency, &uri), now)
    }

    /// Issues the client certificate of a downstream collector (SAN URI
    /// `vigil://collector/<uuid>`), which no agent session accepts, for the public key of
    /// `csr_pem` only.
    ///
    /// # Errors
    /// As [`Ca::issue_agent`].
    pub fn issue_downstream(
        &self,
        csr_pem: &str,
        req: &AgentCertRequest<'_>,
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        let cn = format!("vigil-collector {}", req.agent_id);
        let uri = format!("{DOWNSTREAM_URI}{}", req.agent_id);
        self.issue_client(csr_pem, (&cn, req.agency, &uri), now)
    }

    fn issue_client(
        &self,
        csr_pem: &str,
        (cn, ou, uri): (&str, &str, &str),
        now: OffsetDateTime,
    ) -> Result<IssuedCert, PkiError> {
        if csr_pem.len() > 16 * 1024 {
            return Err(PkiError::Invalid("CSR too large".into()));
        }
        // from_pem verifies the CSR's self-signature.
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        let mut d = DistinguishedName::new();
        d.push(DnType::CommonName, cn);
        d.push(DnType::OrganizationalUnitName, ou);
        p.distinguished_name = d;
        p.subject_alt_names = vec![SanType::URI(uri.try_into()?)];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.is_ca = IsCa::ExplicitNoCa;
        p.not_before = now - Duration::hours(1);
        let not_after = now + Duration::days(AGENT_VALIDITY_DAYS);
        p.not_after = not_after;
        let serial = random_serial();
        let serial_hex = hex::encode(serial.as_ref());
        p.serial_number = Some(serial);
        let cert = p.signed_by(&csr.public_key, &self.issuer)?;
        Ok(IssuedCert {
            pem: cert.pem(),
            serial: serial_hex,
            not_after: not_after.unix_timestamp(),
        })
    }
}

/// Parses every certificate in a PEM text.
///
/// # Errors
/// [`PkiError::Invalid`] when the text holds no parseable certificate.
pub fn pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    use rustls_pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = certs.map_err(|e| PkiError::Invalid(format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Invalid("no certificate in PEM".into()));
    }
    Ok(certs)
}

/// Agent identity carried by a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// Agent UUID from the `vigil://agent/<uuid>` SAN.
    pub agent_id: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

/// Extracts the agent identity from a DER client certificate.
///
/// # Errors
/// A message when the certificate has no `vigil://agent/` URI SAN or cannot be parsed.
pub fn cert_identity(der: &[u8]) -> Result<CertIdentity, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    let serial = hex::encode(cert.raw_serial());
    let not_after = cert.validity().not_after.timestamp();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad SAN: {e}"))?
        .ok_or("certificate has no SAN")?;
    for name in &san.value.general_names {
        if let GeneralName::URI(uri) = name
            && let Some(id) = uri.strip_prefix("vigil://agent/")
            && uuid::Uuid::parse_str(id).is_ok()
        {
            return Ok(CertIdentity {
                agent_id: id.to_string(),
                serial,
                not_after,
            });
        }
    }
    Err("certificate has no vigil://agent/<uuid> identity".into())
}

/// SAN URI prefix of a downstream collector's certificate.
pub const DOWNSTREAM_URI: &str = "vigil://collector/";

/// A downstream collector's identity carried by its client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamIdentity {
    /// Downstream UUID from the `vigil://collector/<uuid>` SAN.
    pub id: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// The certified public key (an uncompressed P-256 point), which signs summaries.
    pub public_key: Vec<u8>,
}

/// Extracts a downstream collector's identity from a DER client certificate.
///
/// # Errors
/// A message when the certificate has no `vigil://collector/` URI SAN or cannot be parsed.
pub fn downstream_identity(der: &[u8]) -> Result<DownstreamIdentity, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad SAN: {e}"))?
        .ok_or("certificate has no SAN")?;
    for name in &san.value.general_names {
        if let GeneralName::URI(uri) = name
            && let Some(id) = uri.strip_prefix(DOWNSTREAM_URI)
            && uuid::Uuid::parse_str(id).is_ok()
        {
            return Ok(DownstreamIdentity {
                id: id.to_string(),
                serial: hex::encode(cert.raw_serial()),
                public_key: cert.public_key().subject_public_key.data.to_vec(),
            });
        }
    }
    Err("certificate has no vigil://collector/<uuid> identity".into())
}

/// Lowercase hex serial of a DER certificate.
///
/// # Errors
/// A message when the certificate cannot be parsed.
pub fn cert_serial(der: &[u8]) -> Result<String, String> {
    use x509_parser::prelude::*;
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("bad certificate: {e}"))?;
    Ok(hex::encode(cert.raw_serial()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_with_evil_fields(key: &KeyPair) -> String {
        let mut p = CertificateParams::new(vec!["evil.example".to_string()]).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.subject_alt_names.push(SanType::URI(
            "vigil://agent/00000000-0000-0000-0000-000000000000"
                .try_into()
                .expect("uri"),
        ));
        p.serialize_request(key).expect("csr").pem().expect("pem")
    }

    #[test]
    fn issue_ignores_everything_but_the_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = PkiPaths::new(dir.path());
        std::fs::create_dir_all(dir.path().join("pki")).expect("mkdir");
        let ca = init(
            &paths,
            "Test",
            &ServerNames {
                dns: vec!["localhost".into()],
                ips: vec![],
            },
        )
        .expect("init");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let agent_id = uuid::Uuid::new_v4().to_string();
        let issued = ca
            .issue_agent(
                &csr_with_evil_fields(&key),
                &AgentCertRequest {
                    agent_id: &agent_id,
                    agency: "p/x",
                },
                OffsetDateTime::now_utc(),
            )
            .expect("issue");
        let der = pem_certs(&issued.pem).expect("pem").remove(0);
        let id = cert_identity(&der).expect("identity");
        assert_eq!(id.agent_id, agent_id);
        assert_eq!(id.serial, issued.serial);
        use x509_parser::prelude::*;
        let (_, cert) = X509Certificate::from_der(&der).expect("parse");
        assert!(!cert.is_ca(), "CSR asked for CA, must be ignored");
        let san = cert.subject_alternative_name().expect("san").expect("san");
        assert_eq!(san.value.general_names.len(), 1, "only our URI SAN");
        let eku = cert.extended_key_usage().expect("eku").expect("eku");
        assert!(eku.value.client_auth && !eku.value.server_auth);
        // Public key is the requester's.
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        // Files are private.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&paths.ca_key)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        // Reload works and refuses to re-init.
        let again = Ca::load(&paths).expect("load");
        assert_eq!(again.fingerprint(), ca.fingerprint());
        assert!(init(&paths, "Test", &ServerNames::default()).is_err());
    }

    #[test]
    fn tampered_csr_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("pki")).expect("mkdir");
        let ca = init(&PkiPaths::new(dir.path()), "T", &ServerNames::default()).expect("init");
        let req = AgentCertRequest {
            agent_id: "6d1f3c1e-8a0b-4c7e-9a57-2c3e4f5a6b7c",
            agency: "p",
        };
        assert!(
            ca.issue_agent("not a csr", &req, OffsetDateTime::now_utc())
                .is_err()
        );
    }
}
