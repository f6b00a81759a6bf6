//! Messages of the `vigil/1` session and of the `vigil-enroll/1` enrollment exchange.
//!
//! Agent → collector: [`AgentMsg`]; collector → agent: [`CollectorMsg`]. Every message is one
//! frame (see [`crate::frame`]). Unknown fields are rejected so that a peer speaking a different
//! dialect fails loudly instead of being half-understood.

use serde::{Deserialize, Serialize};

use crate::finding::Envelope;
use crate::policy::PolicyChunk;

/// Application error codes, used both in [`CollectorMsg::Error`] and as QUIC close codes.
pub mod code {
    /// Normal close.
    pub const OK: u32 = 0;
    /// The peer broke the protocol (wrong message order, bad seq, …).
    pub const PROTOCOL: u32 = 1;
    /// A frame exceeded the maximum size.
    pub const TOO_LARGE: u32 = 2;
    /// A frame was not a valid message.
    pub const MALFORMED: u32 = 3;
    /// No common protocol version.
    pub const UNSUPPORTED_VERSION: u32 = 4;
    /// Authentication or authorisation failed (bad token, unknown or revoked agent).
    pub const UNAUTHORIZED: u32 = 5;
    /// The collector failed internally; the agent should retry later.
    pub const INTERNAL: u32 = 6;
    /// The peer went silent for too long.
    pub const TIMED_OUT: u32 = 7;
    /// The collector is shutting down or shedding load; retry with backoff.
    pub const UNAVAILABLE: u32 = 8;
}

/// Counters an agent reports in each heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStats {
    /// Findings produced since start.
    #[serde(default)]
    pub findings_total: u64,
    /// Records dropped by a full spool since start.
    #[serde(default)]
    pub dropped_total: u64,
    /// Resident memory in bytes.
    #[serde(default)]
    pub rss_bytes: u64,
    /// Seconds since the agent started.
    #[serde(default)]
    pub uptime_s: u64,
    /// Unix seconds at which the client certificate expires.
    #[serde(default)]
    pub cert_not_after: i64,
    /// Version of the central policy the agent applies (0 = none).
    #[serde(default)]
    pub policy_version: u64,
}

/// A message from the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentMsg {
    /// First message of a session.
    Hello {
        /// Highest protocol version the agent speaks.
        proto_version: u32,
        /// Agent UUID (must match the client certificate).
        agent_id: String,
        /// Agent software version.
        agent_version: String,
        /// Digest (`sha256:<hex>`) of the signed policy bundle the agent applies.
        #[serde(default)]
        policy_hash: Option<String>,
        /// Version of the central policy the agent applies (0 = none).
        #[serde(default)]
        policy_version: u64,
        /// IOC set version the agent holds (0 = none).
        #[serde(default)]
        ioc_version: u64,
    },
    /// Findings, in strictly increasing seq order.
    Batch {
        /// Seq of the first finding.
        first_seq: u64,
        /// The findings.
        findings: Vec<Envelope>,
    },
    /// Liveness and spool state.
    Heartbeat {
        /// Agent clock, ms since the epoch (lets the collector measure skew).
        now: i64,
        /// Unacknowledged records in the spool.
        spool_depth: u64,
        /// Counters.
        #[serde(default)]
        stats: AgentStats,
    },
    /// A new CSR for certificate rotation (PEM), answered by [`CollectorMsg::CertIssued`].
    RenewCert {
        /// PKCS#10 request; only its public key is used.
        csr_pem: String,
    },
    /// The agent ends the session because the collector broke the protocol.
    Error {
        /// One of [`code`].
        code: u32,
        /// Human-readable reason.
        message: String,
    },
}

/// An indicator of compromise.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    /// `ip`, `cidr`, `domain`, `sha256` or `md5`.
    pub kind: String,
    /// Normalised value.
    pub value: String,
    /// Where it came from.
    #[serde(default)]
    pub source: String,
    /// Unix seconds after which it no longer applies (0 = never).
    #[serde(default)]
    pub expires_at: i64,
}

/// A message from the collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CollectorMsg {
    /// Accepts the session.
    Welcome {
        /// Protocol version chosen for the session.
        proto_version: u32,
        /// Version of the central policy in force for this agent at the collector (0 = none).
        /// When it differs from the agent's, `PolicyUpdate` chunks follow.
        #[serde(default)]
        policy_version: u64,
        /// Current IOC set version at the collector.
        #[serde(default)]
        ioc_version: u64,
        /// Highest seq the collector has stored for this agent (the agent may drop up to it).
        #[serde(default)]
        acked_seq: u64,
    },
    /// Everything up to and including `up_to_seq` is durably stored.
    Ack {
        /// Highest stored seq.
        up_to_seq: u64,
    },
    /// One chunk of a signed policy bundle (see [`crate::policy`]).
    PolicyUpdate {
        /// The chunk.
        chunk: PolicyChunk,
    },
    /// Indicators to add and remove, bringing the agent from `from_version` to `version`.
    IocUpdate {
        /// Version after applying.
        version: u64,
        /// Version the delta applies to (0 = full replacement).
        from_version: u64,
        /// Indicators to add.
        #[serde(default)]
        add: Vec<Indicator>,
        /// Indicators to remove, as `kind:value`.
        #[serde(default)]
        remove: Vec<String>,
    },
    /// Asks the agent to rotate its certificate now.
    RotateCert,
    /// A renewed client certificate (PEM).
    CertIssued {
        /// Certificate chain PEM.
        cert_pem: String,
    },
    /// The collector refuses or ends the session.
    Error {
        /// One of [`code`].
        code: u32,
        /// Human-readable reason.
        message: String,
    },
}

/// Facts the agent sends with an enrollment request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostIdentity {
    /// `/etc/machine-id` (or the platform equivalent).
    pub machine_id: String,
    /// Host name.
    pub hostname: String,
    /// OS description.
    pub os: String,
}

/// Enrollment request, sent over ALPN `vigil-enroll/1` without a client certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Protocol version of the agent.
    pub proto_version: u32,
    /// The token's secret, base64url (the collector stores only its hash).
    pub secret: String,
    /// PKCS#10 CSR in PEM. The collector uses only its public key.
    pub csr_pem: String,
    /// Host facts.
    pub host: HostIdentity,
    /// Agent software version.
    pub agent_version: String,
}

/// Enrollment answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case", deny_unknown_fields)]
pub enum EnrollResponse {
    /// Enrolled.
    Ok {
        /// Assigned agent UUID.
        agent_id: String,
        /// Agency path the agent is bound to.
        agency: String,
        /// Client certificate PEM.
        cert_pem: String,
        /// Collector CA certificate PEM (its SHA-256 must equal the token's pin).
        ca_pem: String,
        /// True when an earlier identity of the same machine was replaced.
        #[serde(default)]
        replaced: bool,
        /// The collector's policy public key (`ed25519:<hex>`), pinned by the agent; absent
        /// from collectors without one (the agent then refuses every policy bundle).
        #[serde(default)]
        policy_key: Option<String>,
    },
    /// Refused.
    Error {
        /// One of [`code`].
        code: u32,
        /// Human-readable reason (expired, used up, revoked, …).
        message: String,
    },
}
