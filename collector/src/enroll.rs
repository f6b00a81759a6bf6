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

use crate::alerting::{self, AlertSettings};
use crate::pki::{AgentCertRequest, Ca};
use crate::store::{
    EnrollOutcome, MachineInUse, NewAgent, NewAlert, Store, StoreError, TokenRecord,
};

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
    /// Agent ids replaced (their live sessions end now).
    pub replaced_agents: Vec<String>,
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

/// The checks every enrollment request (an agent's or a downstream collector's) passes before
/// the store is read: protocol version (`upgrade` says what to do about an old one), size limits,
/// a well-formed secret, and a CSR whose signature verifies, so no token use is consumed by a
/// request that could not be served. Returns the secret.
pub(crate) fn check_request(req: &EnrollRequest, upgrade: &str) -> Result<Vec<u8>, (u32, String)> {
    if req.proto_version < MIN_PROTO_VERSION {
        return Err((
            code::UNSUPPORTED_VERSION,
            format!(
                "protocol {} is older than {MIN_PROTO_VERSION}; {upgrade}",
                req.proto_version
            ),
        ));
    }
    if let Err(m) = vigil_proto::limits::check_enroll(req) {
        return Err((code::PROTOCOL, format!("bad enrollment request: {m}")));
    }
    let Some(secret) = URL_SAFE_NO_PAD
        .decode(req.secret.as_bytes())
        .ok()
        .filter(|s| s.len() == 32)
    else {
        return Err((
            code::UNAUTHORIZED,
            "enrollment token secret is malformed".into(),
        ));
    };
    if let Err(e) = rcgen::CertificateSigningRequestParams::from_pem(&req.csr_pem) {
        return Err((code::PROTOCOL, format!("invalid certificate request: {e}")));
    }
    Ok(secret)
}

/// Handles one enrollment request. Never panics on hostile input.
///
/// A token is consumed only by a well-formed request with a valid CSR. Re-enrolling a machine
/// id that is live in the token's agency replaces the old identity; one live in another agency
/// is refused (an admin runs `agent move` or `agent revoke` first). Both raise a
/// `duplicate_machine` alert (the refusal's is seen by both agencies) and are audited.
pub fn handle(
    store: &dyn Store,
    ca: &Ca,
    settings: &AlertSettings,
    req: EnrollRequest,
    now: OffsetDateTime,
) -> (EnrollResponse, EnrollEffects) {
    let secret = match check_request(&req, "upgrade the agent") {
        Ok(s) => s,
        Err((c, m)) => return refuse(c, format!("agent {m}")),
    };
    // A federation token admits a downstream collector only; an agent must not burn it.
    match store.federation().fed_token_is(&secret_hash(&secret)) {
        Ok(false) => {}
        Ok(true) => {
            return refuse(
                code::UNAUTHORIZED,
                "this token enrolls a downstream collector (`vigil-collector upstream enroll`), \
                 not an agent",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "Token lookup failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    }
    let tok = match store.token_consume(&secret_hash(&secret), now.unix_timestamp()) {
        Ok(Ok(t)) => t,
        Ok(Err(refusal)) => {
            tracing::warn!(reason = refusal.message(), hostname = %req.host.hostname, "Enrollment refused.");
            return refuse(code::UNAUTHORIZED, refusal.message());
        }
        Err(e) => {
            tracing::error!(error = %e, "Token lookup failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    };
    record(store, ca, settings, &req, &tok, now)
}

/// Issues the certificate and records the agent the token admits.
fn record(
    store: &dyn Store,
    ca: &Ca,
    settings: &AlertSettings,
    req: &EnrollRequest,
    tok: &TokenRecord,
    now: OffsetDateTime,
) -> (EnrollResponse, EnrollEffects) {
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
    let h = &req.host;
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
    let at = now.unix_timestamp();
    let replaced = match store.agent_enroll(&new, at) {
        Ok(EnrollOutcome::Enrolled { replaced }) => replaced,
        Ok(EnrollOutcome::Refused(m)) => {
            tracing::warn!(machine = %h.machine_id, agency = %tok.agency, existing = %m.agent_id, existing_agency = %m.agency, "Enrollment refused: the machine id is live in another agency.");
            raise(
                store,
                settings,
                &m.agency,
                &alerting::machine_refused(&new, &m),
                at,
            );
            return refuse(code::UNAUTHORIZED, machine_in_use_message(&m, &tok.agency));
        }
        Err(e) => {
            tracing::error!(error = %e, "Recording the agent failed.");
            return refuse(code::INTERNAL, "collector storage error; try again later");
        }
    };
    for old in &replaced {
        raise(
            store,
            settings,
            &new.agency,
            &alerting::machine_replaced(&new, old),
            at,
        );
    }
    tracing::info!(agent = %agent_id, agency = %tok.agency, hostname = %h.hostname, replaced = replaced.len(), "Agent enrolled.");
    let effects = EnrollEffects {
        revoked_serials: replaced.iter().flat_map(|r| r.serials.clone()).collect(),
        replaced_agents: replaced.iter().map(|r| r.id.clone()).collect(),
    };
    (
        EnrollResponse::Ok {
            agent_id,
            agency: tok.agency.clone(),
            cert_pem: issued.pem,
            ca_pem: ca.cert_pem().to_string(),
            replaced: !replaced.is_empty(),
            policy_key: None,
        },
        effects,
    )
}

/// What the enrolling operator is told when the machine id is live in another agency: the
/// agent id an admin needs, and the two commands that resolve it (the other agency's name is
/// not disclosed to the holder of a token).
fn machine_in_use_message(m: &MachineInUse, agency: &str) -> String {
    format!(
        "this machine id is already enrolled in another agency, as agent {id}; an administrator \
         moves that agent here with `vigil-collector agent move --id {id} --agency {agency}`, or \
         revokes it with `vigil-collector agent revoke --id {id}` if this is another machine, \
         then enroll again",
        id = m.agent_id
    )
}

/// Raises an enrollment alert unless the agency's settings disable its kind; a failure is
/// logged (the enrollment itself is decided and audited already).
fn raise(store: &dyn Store, settings: &AlertSettings, agency: &str, a: &NewAlert, now: i64) {
    if !settings.for_agency(agency).enabled(&a.kind) {
        return;
    }
    if let Err(e) = crate::alerting::raise(store, a, now) {
        tracing::error!(error = %e, key = %a.key, "Raising an enrollment alert failed.");
    }
}
