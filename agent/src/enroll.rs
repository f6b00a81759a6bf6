//! `vigil-agent enroll`: key generated on the host, CSR, token, identity written to the state dir.

use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use sha2::{Digest, Sha256};
use vigil_proto::frame::{self, FrameDecoder};
use vigil_proto::msg::{EnrollRequest, EnrollResponse, HostIdentity};
use vigil_proto::token::EnrollToken;

use crate::state::{Identity, StatePaths, write_private};
use crate::tls;

/// Largest enrollment answer accepted.
const MAX_RESPONSE: usize = 256 * 1024;

/// Refusal by the collector (exit code 3, message shown as is).
#[derive(Debug, thiserror::Error)]
#[error("the collector refused enrollment: {message}")]
pub struct Refused {
    /// Reason from the collector.
    pub message: String,
    /// Code from [`vigil_proto::msg::code`].
    pub code: u32,
}

/// Result of a successful enrollment.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The identity written.
    pub identity: Identity,
    /// Whether an earlier identity of this machine was replaced at the collector.
    pub replaced: bool,
    /// Collector address used.
    pub via: String,
}

/// Enrolls this host.
///
/// # Errors
/// [`Refused`] when the collector says no; connection, pin and file errors otherwise.
pub async fn enroll(
    token: &EnrollToken,
    collectors: &[String],
    host: HostIdentity,
    state: &StatePaths,
) -> anyhow::Result<Enrolled> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the agent key")?;
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .context("building the certificate request")?;
    let req = EnrollRequest {
        proto_version: vigil_proto::PROTO_VERSION,
        secret: token.secret_b64(),
        csr_pem: csr,
        host,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let cfg = tls::enroll_config(token.ca_sha256).map_err(anyhow::Error::msg)?;
    let mut last = anyhow::anyhow!("no collector address");
    for addr in collectors {
        match exchange(addr, cfg.clone(), &req).await {
            Ok(EnrollResponse::Ok {
                agent_id,
                agency,
                cert_pem,
                ca_pem,
                replaced,
            }) => {
                let identity = store(
                    state, &key, token, collectors, agent_id, agency, &cert_pem, &ca_pem,
                )?;
                return Ok(Enrolled {
                    identity,
                    replaced,
                    via: addr.clone(),
                });
            }
            Ok(EnrollResponse::Error { code, message }) => {
                return Err(Refused { message, code }.into());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn exchange(
    addr: &str,
    cfg: quinn::ClientConfig,
    req: &EnrollRequest,
) -> anyhow::Result<EnrollResponse> {
    let (ep, conn) = tls::connect(addr, cfg).await?;
    let result = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&frame::encode(req, MAX_RESPONSE)?).await?;
        send.finish()?;
        let mut dec = FrameDecoder::new(MAX_RESPONSE);
        let mut buf = [0u8; 8192];
        loop {
            if let Some(r) = dec.decode::<EnrollResponse>()? {
                return anyhow::Ok(r);
            }
            match recv.read(&mut buf).await? {
                Some(n) => dec.push(&buf[..n]),
                None => anyhow::bail!("collector closed the stream before answering"),
            }
        }
    };
    let r = tokio::time::timeout(Duration::from_secs(30), result)
        .await
        .context("collector did not answer in 30 s")?;
    conn.close(0u32.into(), b"done");
    ep.wait_idle().await;
    r
}

#[allow(clippy::too_many_arguments)]
fn store(
    state: &StatePaths,
    key: &rcgen::KeyPair,
    token: &EnrollToken,
    collectors: &[String],
    agent_id: String,
    agency: String,
    cert_pem: &str,
    ca_pem: &str,
) -> anyhow::Result<Identity> {
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .context("collector sent an unreadable CA")?;
    if <[u8; 32]>::from(Sha256::digest(ca.as_ref())) != token.ca_sha256 {
        anyhow::bail!("collector sent a CA that does not match the token's pin");
    }
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .context("collector sent an unreadable certificate")?;
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| anyhow::anyhow!("bad certificate: {e}"))?;
    if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        anyhow::bail!("collector issued a certificate for another key");
    }
    if uuid::Uuid::parse_str(&agent_id).is_err() {
        anyhow::bail!("collector sent an invalid agent id");
    }
    let identity = Identity {
        agent_id,
        agency,
        collectors: collectors.to_vec(),
        enrolled_at: time_now(),
        cert_not_after: parsed.validity().not_after.timestamp(),
    };
    state.create()?;
    write_private(&state.key(), key.serialize_pem().as_bytes())?;
    write_private(&state.cert(), cert_pem.as_bytes())?;
    write_private(&state.ca(), ca_pem.as_bytes())?;
    write_private(
        &state.identity(),
        serde_json::to_string_pretty(&identity)?.as_bytes(),
    )?;
    Ok(identity)
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
