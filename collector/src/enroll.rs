//! Enrollment tokens and the enrollment exchange (DESIGN §2).
//!
//! Tokens are single-purpose bearer secrets: 256 random bits, only their SHA-256 is stored, and
//! they expire, have a use count and can be revoked. An enrollment checks the CSR before it
//! consumes a token use, so a malformed request cannot burn a token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use vigil_proto::MIN_PROTO_VERSION;
use vigil_proto::msg::{EnrollRequest, EnrollResponse, code};
use vigil_proto::token::EnrollToken;

use crate::pki::{AgentCertRequest, Ca};
use crate::store::{NewAgent, Store, StoreError, TokenRecord};

/// Errors creating a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenCreateError {
    /// The agency does not exist.
    #[error("agency {0:?} does not exist; create it with `vigil-collector agency add`")]
    NoAgency(String),
    /// Bad parameters.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hex SHA-256 of a token secret: the only form stored.
pub fn secret_hash(secret: &[u8]) -> String {
    hex::encode(Sha256::digest(secret))
}

/// Creates and records a token. Returns the token text (shown once) and the record.
///
/// # Errors
/// [`TokenCreateError`] for an unknown agency, bad TTL/uses, or a store failure.
pub fn create_token(
    store: &dyn Store,
    ca: &Ca,
    agency: &str,
    ttl: Duration,
    uses: u32,
    addrs: Vec<String>,
    now: i64,
) -> Result<(String, TokenRecord), TokenCreateError> {
    create(store, ca, (agency, ttl, uses, false), addrs, now)
}

/// Like [`create_token`], for the simulated hosts of `demo --province`: every agent enrolled
/// with it is recorded as simulated, so the console, API and reports mark it as such. The mark
/// comes from the collector's own token, never from what an agent claims.
///
/// # Errors
/// As [`create_token`].
pub fn create_simulation_token(
    store: &dyn Store,
    ca: &Ca,
    agency: &str,
    ttl: Duration,
    uses: u32,
    addrs: Vec<String>,
    now: i64,
) -> Result<(String, TokenRecord), TokenCreateError> {
    create(store, ca, (agency, ttl, uses, true), addrs, now)
}

fn create(
    store: &dyn Store,
    ca: &Ca,
    (agency, ttl, uses, simulated): (&str, Duration, u32, bool),
    addrs: Vec<String>,
    now: i64,
) -> Result<(String, TokenRecord), TokenCreateError> {
    if store.agency(agency)?.is_none() {
        return Err(TokenCreateError::NoAgency(agency.to_string()));
    }
    if uses == 0 {
        return Err(TokenCreateError::Invalid(
            "--uses must be at least 1".into(),
        ));
    }
    if ttl.is_zero() || ttl > Duration::from_secs(365 * 86_400) {
        return Err(TokenCreateError::Invalid(
            "--ttl must be between 1s and 365d".into(),
        ));
    }
    if addrs.is_empty() {
        return Err(TokenCreateError::Invalid(
            "no collector address to put in the token".into(),
        ));
    }
    let secret: [u8; 32] = rand::random();
    let hash = secret_hash(&secret);
    let rec = TokenRecord {
        id: hash[..12].to_string(),
        secret_hash: hash,
        agency: agency.to_string(),
        created_at: now,
        expires_at: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
        max_uses: uses,
        uses: 0,
        revoked: false,
        simulated,
    };
    store.token_add(&rec)?;
    let token = EnrollToken {
        addrs,
        ca_sha256: ca.fingerprint(),
        secret,
    };
    Ok((token.encode(), rec))
}

/// What an accepted enrollment changed, for the caller to apply to live state.
#[derive(Debug, Clone, Default)]
pub struct EnrollEffects {
    /// Certificate serials of replaced identities (to add to the revocation set).
    pub revoked_serials: Vec<String>,
}

fn refuse(code: u32, message: impl Into<String>) -> (EnrollResponse, EnrollEffects) {
    (
        EnrollResponse::Error {
            code,
            message: message.into(),
        },
        EnrollEffects::default(),
    )
}

/// Handles one enrollment request. Never panics on hostile input.
pub fn handle(
    store: &dyn Store,
    ca: &Ca,
    req: EnrollRequest,
    now: OffsetDateTime,
) -> (EnrollResponse, EnrollEffects) {
    if req.proto_version < MIN_PROTO_VERSION {
        return refuse(
            code::UNSUPPORTED_VERSION,
            format!(
                "agent protocol {} is older than {MIN_PROTO_VERSION}; upgrade the agent",
                req.proto_version
            ),
        );
    }
    let h = &req.host;
    if h.machine_id.trim().is_empty()
        || h.machine_id.len() > 128
        || h.hostname.len() > 255
        || h.os.len() > 255
        || req.agent_version.len() > 64
    {
        return refuse(code::PROTOCOL, "host facts missing or too long");
    }
    let Ok(secret) = URL_SAFE_NO_PAD.decode(req.secret.as_bytes()) else {
        return refuse(code::UNAUTHORIZED, "enrollment token secret is malformed");
    };
    if secret.len() != 32 {
        return refuse(code::UNAUTHORIZED, "enrollment token secret is malformed");
    }
    // Check the CSR (including its signature) before consuming a token use.
    if let Err(e) = rcgen::CertificateSigningRequestParams::from_pem(&req.csr_pem) {
        return refuse(code::PROTOCOL, format!("invalid certificate request: {e}"));
    }
    let tok = match store.token_consume(&secret_hash(&secret), now.unix_timestamp()) {
        Ok(Ok(t)) => t,
        Ok(Err(refusal)) => {
            tracing::warn!(reason = refusal.message(), hostname = %h.hostname, "Enrollment refused.");
            return refuse(code::UNAUTHORIZED, refusal.message());
        }
        Err(e) => {
            tracing::error!(error = %e, "Token lookup failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    };
    let agent_id = uuid::Uuid::new_v4().to_string();
    let issued = match ca.issue_agent(
        &req.csr_pem,
        &AgentCertRequest {
            agent_id: &agent_id,
            agency: &tok.agency,
        },
        now,
    ) {
        Ok(c) => c,
        Err(e) => return refuse(code::PROTOCOL, format!("cannot issue certificate: {e}")),
    };
    let new = NewAgent {
        id: agent_id.clone(),
        agency: tok.agency.clone(),
        machine_id: h.machine_id.clone(),
        hostname: h.hostname.clone(),
        os: h.os.clone(),
        cert_serial: issued.serial.clone(),
        cert_not_after: issued.not_after,
        agent_version: req.agent_version.clone(),
        token_id: tok.id.clone(),
        simulated: tok.simulated,
    };
    let outcome = match store.agent_enroll(&new, now.unix_timestamp()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "Recording the agent failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    };
    let mut effects = EnrollEffects::default();
    for old in &outcome.replaced {
        if let Ok(Some(rec)) = store.agent(old) {
            effects.revoked_serials.push(rec.cert_serial);
        }
    }
    tracing::info!(agent = %agent_id, agency = %tok.agency, hostname = %h.hostname, replaced = outcome.replaced.len(), "Agent enrolled.");
    (
        EnrollResponse::Ok {
            agent_id,
            agency: tok.agency,
            cert_pem: issued.pem,
            ca_pem: ca.cert_pem().to_string(),
            replaced: !outcome.replaced.is_empty(),
        },
        effects,
    )
}
