//! Persistence behind one [`Store`] trait, with SQLite as the default backend and PostgreSQL for
//! several collectors sharing one database.
//!
//! The trait is synchronous: both backends (rusqlite, the `postgres` client) are blocking, so
//! the async shell calls them from `spawn_blocking`. Every method that changes more
//! than one row does it in one transaction, and ingest is idempotent on `(agent_id, seq)`.

use serde::{Deserialize, Serialize};
use vigil_proto::Envelope;

mod common;
pub mod config;
mod db;
pub mod export;
pub mod fed;
mod migrations;
pub mod policy;
pub mod postgres;
mod rules;
mod sql;
pub mod sqlite;
#[cfg(test)]
mod suite;
#[cfg(test)]
mod suite_access;
#[cfg(test)]
mod suite_export;
#[cfg(test)]
mod suite_fed;
#[cfg(test)]
mod suite_hostile;
#[cfg(test)]
mod suite_policy;
#[cfg(test)]
mod suite_seen;
#[cfg(test)]
mod suite_vuln;
mod tree;
pub mod vuln;

pub(crate) use rules::{
    LiveMachine, RawAlert, alert_is_periodic, alert_quota_alert, decode_user, enroll_audit,
    enroll_decision, merge_check_state, params_json, require_reason,
};
pub(crate) use tree::{
    Counts, DISSOLVE_MEMBERS, MOVE_SUBTREE, Param, Stamp, check_move_ends, count, leaf_of,
    parent_of,
};

pub use self::postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Store errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(String),
    /// A referenced row does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A row exists already.
    #[error("{0} exists already")]
    Conflict(String),
    /// The request is not valid (e.g. resolving without a reason).
    #[error("{0}")]
    Invalid(String),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The agent is revoked (or was replaced by a re-enrollment): nothing of it is stored.
    #[error("agent {0} is revoked")]
    Revoked(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A node of the organisation tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    /// Path such as `province/so-tttt`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Required security level (1–5) of the agency's systems.
    pub level: u8,
}

/// A stored enrollment token (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Short public id (first 12 hex chars of the secret hash), for listing and revoking.
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// Agency new agents are bound to.
    pub agency: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Allowed uses.
    pub max_uses: u32,
    /// Uses so far.
    pub uses: u32,
    /// Revoked.
    pub revoked: bool,
    /// Agents enrolled with it are simulated (`demo --province`): marked as such everywhere.
    #[serde(default)]
    pub simulated: bool,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No such token.
    Unknown,
    /// Past its expiry.
    Expired,
    /// All uses consumed.
    UsedUp,
    /// Revoked by an operator.
    Revoked,
}

impl TokenRefusal {
    /// Short state shown in token listings (`active` is the state of a token with no refusal).
    pub fn label(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::UsedUp => "used up",
            Self::Revoked => "revoked",
        }
    }

    /// Message shown to the enrolling operator.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unknown => "enrollment token is not known to this collector",
            Self::Expired => "enrollment token has expired; create a new one",
            Self::UsedUp => "enrollment token has been used its maximum number of times",
            Self::Revoked => "enrollment token has been revoked",
        }
    }
}

/// A new agent identity to record at enrollment.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// UUID.
    pub id: String,
    /// Agency.
    pub agency: String,
    /// Machine id of the host.
    pub machine_id: String,
    /// Host name.
    pub hostname: String,
    /// OS description.
    pub os: String,
    /// Certificate serial (hex).
    pub cert_serial: String,
    /// Certificate expiry, Unix seconds.
    pub cert_not_after: i64,
    /// Agent version.
    pub agent_version: String,
    /// Token id used.
    pub token_id: String,
    /// Enrolled with a simulation token (see [`TokenRecord::simulated`]).
    pub simulated: bool,
}

/// An enrolled agent as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// UUID.
    pub id: String,
    /// Agency.
    pub agency: String,
    /// Machine id.
    pub machine_id: String,
    /// Host name.
    pub hostname: String,
    /// OS description.
    pub os: String,
    /// Role: `workstation` or `server`.
    pub role: String,
    /// Security level of the host's system (1–5); `None` means the agency's required level.
    pub level: Option<u8>,
    /// Enrollment time, Unix seconds.
    pub enrolled_at: i64,
    /// Last contact, Unix seconds (0 = never).
    pub last_seen: i64,
    /// Agent version.
    pub agent_version: String,
    /// Certificate serial.
    pub cert_serial: String,
    /// Certificate expiry, Unix seconds.
    pub cert_not_after: i64,
    /// Revoked (or replaced by a re-enrollment).
    pub revoked: bool,
    /// Highest stored seq.
    pub max_seq: u64,
    /// Spool depth from the last heartbeat.
    pub spool_depth: u64,
    /// Agent clock minus collector clock at the last heartbeat, ms.
    pub clock_skew_ms: i64,
    /// Latest inventory, if any.
    pub inventory: Option<serde_json::Value>,
    /// A simulated host of `demo --province`, not a real machine.
    #[serde(default)]
    pub simulated: bool,
}

/// A live identity that an enrollment of the same machine replaced (revoked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacedAgent {
    /// Agent id.
    pub id: String,
    /// Its agency (always the enrolling one: replacement never crosses agencies).
    pub agency: String,
    /// Its host name.
    pub hostname: String,
    /// Its certificate serials (current, and a renewed one not used yet), now refused.
    pub serials: Vec<String>,
}

/// The live agent that holds a machine id in another agency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInUse {
    /// Agent id.
    pub agent_id: String,
    /// Its agency.
    pub agency: String,
    /// Its host name.
    pub hostname: String,
}

/// What enrollment did (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// The agent was recorded; live agents of the same machine id in the same agency were
    /// replaced (a reinstall keeps one identity).
    Enrolled {
        /// The identities replaced.
        replaced: Vec<ReplacedAgent>,
    },
    /// Nothing was recorded but the refusal's audit entry: the machine id belongs to a live
    /// agent of another agency, which an admin moves or revokes first.
    Refused(MachineInUse),
}

impl EnrollOutcome {
    /// The replaced identities (none when refused).
    pub fn replaced(&self) -> &[ReplacedAgent] {
        match self {
            Self::Enrolled { replaced } => replaced,
            Self::Refused(_) => &[],
        }
    }
}

/// Whether the certificate an agent presents opens a session (only its newest is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCert {
    /// The agent's current certificate.
    Current,
    /// The certificate renewed for it, first used now: it is current from now on and the
    /// previous one is refused.
    Promoted,
    /// An older certificate of a live agent (renewed since).
    Superseded,
    /// The agent is revoked or was replaced.
    Revoked,
    /// No such agent.
    Unknown,
}

/// Distinct rules whose latest result the collector keeps per agent; results of further new
/// rules are stored as findings but not scored (DESIGN §10 quotas).
pub const MAX_RULES_PER_AGENT: usize = 2_000;
/// Open or acknowledged alerts per agent; beyond it, one `agent_quota` alert counts the rest.
pub const MAX_OPEN_ALERTS_PER_AGENT: usize = 500;
/// Listening sockets remembered per agent for `new_listener_on_server`.
pub const MAX_LISTENERS_PER_AGENT: usize = 1_000;

/// Heartbeat facts.
#[derive(Debug, Clone, Copy)]
pub struct Heartbeat {
    /// Spool depth.
    pub spool_depth: u64,
    /// Clock skew, ms.
    pub clock_skew_ms: i64,
}

/// Result of ingesting a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Findings newly stored.
    pub stored: usize,
    /// Findings already present (replays).
    pub duplicates: usize,
    /// Highest seq now stored for the agent.
    pub max_seq: u64,
    /// Missing seq ranges detected (inclusive).
    pub gaps: Vec<(u64, u64)>,
    /// Check results of rules beyond [`MAX_RULES_PER_AGENT`]: stored, not scored.
    pub rules_over_quota: usize,
}

/// A stored finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredFinding {
    /// Agent id.
    pub agent_id: String,
    /// Seq.
    pub seq: u64,
    /// Kind (`check`, `file`, `net`, `inventory`, `health`).
    pub kind: String,
    /// Agent observation time, ms.
    pub observed_at: i64,
    /// Collector receive time, ms.
    pub received_at: i64,
    /// The finding.
    pub finding: serde_json::Value,
}

/// Filter for [`Store::findings`].
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only received at or after (ms).
    pub since_ms: Option<i64>,
    /// At most this many (newest first).
    pub limit: usize,
}

/// A recorded seq gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Agent.
    pub agent_id: String,
    /// First missing seq.
    pub from_seq: u64,
    /// Last missing seq.
    pub to_seq: u64,
    /// When detected, ms.
    pub detected_at: i64,
}

/// Lifecycle of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// New or re-raised.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Fixed (reason required).
    Resolved,
    /// Not a real problem (reason required).
    FalsePositive,
}

impl AlertState {
    /// Name used in the database and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::FalsePositive => "false_positive",
        }
    }

    /// Parses [`AlertState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Open,
            Self::Acknowledged,
            Self::Resolved,
            Self::FalsePositive,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// Open or acknowledged: still counts against the host's score.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Open | Self::Acknowledged)
    }
}

/// An alert to raise; alerts with the same `key` are one alert (count and last seen grow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Dedupe key, e.g. `gap:<agent>:<from>-<to>`.
    pub key: String,
    /// Rule that raised it (`seq_gap`, `ioc_hit`, `critical_rule_failed`, …).
    pub kind: String,
    /// Severity.
    pub severity: vigil_proto::Severity,
    /// Host concerned.
    pub agent_id: String,
    /// One-line description (English, for the CLI and logs).
    pub title: String,
    /// The facts the title is made of (`host`, `rule`, `seconds`, …), so the console and reports
    /// can say it in their own language from the catalogue (`al_<kind>`).
    pub params: AlertParams,
    /// Another agency whose users also see the alert (an enrollment from it presented the
    /// machine id of this host).
    pub other_agency: Option<String>,
}

/// Named facts of an alert (see [`NewAlert::params`]).
pub type AlertParams = std::collections::BTreeMap<String, serde_json::Value>;

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Id.
    pub id: i64,
    /// Dedupe key.
    pub key: String,
    /// Alert rule.
    pub kind: String,
    /// Severity.
    pub severity: vigil_proto::Severity,
    /// Host.
    pub agent_id: String,
    /// Description (English).
    pub title: String,
    /// Facts of the description, for localised titles (empty for alerts stored before schema 8).
    #[serde(default, skip_serializing_if = "AlertParams::is_empty")]
    pub params: AlertParams,
    /// State.
    pub state: AlertState,
    /// Times raised.
    pub count: u64,
    /// First raised (SLA clock), Unix seconds.
    pub opened_at: i64,
    /// Last raised, Unix seconds.
    pub last_seen: i64,
    /// Reason given when resolved or marked false positive.
    pub reason: Option<String>,
    /// Who is working on it.
    pub assignee: Option<String>,
    /// Another agency whose users also see it.
    pub other_agency: Option<String>,
}

/// A registered asset (a machine in the agency's inventory, with or without an agent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// Agency path.
    pub agency: String,
    /// Host name, lower-case (agents match it case-insensitively, short name or FQDN).
    pub hostname: String,
    /// `workstation` or `server`.
    pub role: String,
    /// Security level of its system (1–5).
    pub level: u8,
}

/// What an asset import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct AssetImport {
    /// Assets that were not registered before.
    pub added: usize,
    /// Assets whose role or level changed.
    pub updated: usize,
    /// Assets already registered as given.
    pub unchanged: usize,
}

/// The latest result of one rule on one host, as kept for scoring (`[pack, rule, group,
/// severity, status, observed_at]` in JSON: compact, because a province has millions of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckState(
    pub String,
    pub String,
    pub String,
    pub vigil_proto::Severity,
    pub vigil_proto::Status,
    pub i64,
);

impl CheckState {
    /// Rule id.
    pub fn rule_id(&self) -> &str {
        &self.1
    }
}

/// One point of a score time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorePoint {
    /// `host` or `agency`.
    pub scope: String,
    /// Agent id or agency path.
    pub id: String,
    /// `full`, `common` or `level`.
    pub view: String,
    /// The score.
    pub score: f64,
    /// Coverage (agencies only).
    pub coverage: Option<f64>,
    /// Rule-pack version in force.
    pub rule_pack_version: String,
    /// Scoring configuration version.
    pub scoring_version: String,
    /// When it was computed, ms since the epoch.
    pub computed_at: i64,
}

/// What moving a subtree of the organisation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MoveOutcome {
    /// Agencies renamed (the subtree).
    pub agencies: usize,
    /// Agents that now belong to a new path.
    pub agents: usize,
    /// Registered assets moved.
    pub assets: usize,
    /// Enrollment tokens moved.
    pub tokens: usize,
    /// Score history points carried over to the new paths.
    pub history: usize,
    /// Users whose scope was rewritten to the new paths.
    pub users: usize,
    /// Users scoped to a dissolved agency, disabled until an admin gives them a new scope.
    pub users_disabled: usize,
}

impl std::ops::AddAssign for MoveOutcome {
    fn add_assign(&mut self, o: Self) {
        self.agencies += o.agencies;
        self.agents += o.agents;
        self.assets += o.assets;
        self.tokens += o.tokens;
        self.history += o.history;
        self.users += o.users;
        self.users_disabled += o.users_disabled;
    }
}

/// What a console or API user may do (DESIGN §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRole {
    /// Everything in their scope: users' agencies, enrollment tokens, alerts.
    Admin,
    /// Reads and acts on alerts.
    Analyst,
    /// Reads only.
    Viewer,
}

impl UserRole {
    /// Name used in the database, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Analyst => "analyst",
            Self::Viewer => "viewer",
        }
    }

    /// Parses [`UserRole::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Analyst, Self::Viewer]
            .into_iter()
            .find(|v| v.as_str() == s)
    }

    /// May acknowledge, resolve and assign alerts.
    pub fn may_act_on_alerts(self) -> bool {
        matches!(self, Self::Admin | Self::Analyst)
    }

    /// May administer: enrollment tokens, users, settings.
    pub fn may_administer(self) -> bool {
        self == Self::Admin
    }
}

/// A local user of the console and API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name (primary key).
    pub name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// Agency subtree the user sees and acts on; empty means the whole organisation.
    pub scope: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Disabled users cannot log in and their sessions and API tokens stop working.
    pub disabled: bool,
}

/// A console login session (the cookie value itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie secret, hex.
    pub id_hash: String,
    /// User name.
    pub user: String,
    /// CSRF token the session's state-changing requests must carry.
    pub csrf: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// An API token for scripts (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    /// Short public id (first 12 hex chars of the secret hash).
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// User the token acts as.
    pub user: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Revoked.
    pub revoked: bool,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Increasing id (the pagination cursor).
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// Who: a user name, `cli`, `enrollment`, ...
    pub actor: String,
    /// What, such as `user.add`.
    pub action: String,
    /// Details (JSON object; null when the stored text is not JSON).
    pub detail: serde_json::Value,
}

/// The persistence seam of the collector.
pub trait Store: Send + Sync {
    /// Advisories and the hosts they match (issue 23).
    fn vulns(&self) -> &dyn vuln::VulnStore;
    /// The export log and the SIEM outputs' cursors (issue 19).
    fn exports(&self) -> &dyn export::ExportStore;
    /// Federation storage (issue 19).
    fn federation(&self) -> &dyn fed::FedStore;
    /// Central policies, their assignments and applied versions (issue 18).
    fn policies(&self) -> &dyn policy::PolicyStore;
    /// Adds an agency; its parent path must exist unless it is a root.
    fn agency_add(&self, a: &Agency) -> Result<()>;
    /// Looks an agency up.
    fn agency(&self, id: &str) -> Result<Option<Agency>>;
    /// All agencies, sorted by path.
    fn agencies(&self) -> Result<Vec<Agency>>;
    /// Changes an agency's display name (audited); false if unknown.
    fn agency_rename(&self, id: &str, name: &str, actor: &str, now: i64) -> Result<bool>;
    /// Moves the subtree at `from` to the new path `to` (whose parent must exist), carrying its
    /// agents, assets, tokens and score history, in one audited transaction.
    fn agency_move(&self, from: &str, to: &str, actor: &str, now: i64) -> Result<MoveOutcome>;
    /// Abolishes an agency: its children move up to its parent (keeping their history), its own
    /// agents, assets and tokens go to the parent, and it is removed; one audited transaction.
    fn agency_dissolve(&self, id: &str, actor: &str, now: i64) -> Result<MoveOutcome>;

    /// Sets a host's role and/or security level (audited); false if the agent is unknown.
    fn agent_set_profile(
        &self,
        id: &str,
        role: Option<&str>,
        level: Option<u8>,
        actor: &str,
        now: i64,
    ) -> Result<bool>;
    /// Latest check result of every rule, per live agent (agent id, state).
    fn check_states(&self) -> Result<Vec<(String, Vec<CheckState>)>>;

    /// Registers or updates assets in one transaction; every agency must exist.
    fn assets_import(&self, assets: &[Asset], actor: &str, now: i64) -> Result<AssetImport>;
    /// All registered assets, by agency then host name.
    fn assets(&self) -> Result<Vec<Asset>>;

    /// Appends score points to the history and makes them the latest, in one transaction.
    fn scores_record(&self, points: &[ScorePoint]) -> Result<()>;
    /// The latest point of every series.
    fn scores_latest(&self) -> Result<Vec<ScorePoint>>;
    /// One series (`scope`, `id`), oldest first, computed at or after `since_ms`.
    fn score_history(&self, scope: &str, id: &str, since_ms: i64) -> Result<Vec<ScorePoint>>;

    /// Records a token.
    fn token_add(&self, t: &TokenRecord) -> Result<()>;
    /// Checks and consumes one use of the token with this secret hash, atomically.
    fn token_consume(
        &self,
        secret_hash: &str,
        now: i64,
    ) -> Result<std::result::Result<TokenRecord, TokenRefusal>>;
    /// Revokes a token by id; false if unknown.
    fn token_revoke(&self, id: &str) -> Result<bool>;
    /// All tokens.
    fn tokens(&self) -> Result<Vec<TokenRecord>>;

    /// Records a new agent, replacing (revoking) the live agents with the same machine id in
    /// the same agency, or refuses it when the machine id is live in another agency; audited
    /// either way, naming both agencies.
    fn agent_enroll(&self, a: &NewAgent, now: i64) -> Result<EnrollOutcome>;
    /// Moves a live agent to another agency (audited with both); false if it is unknown or
    /// revoked; [`StoreError::NotFound`] if the agency does not exist.
    fn agent_move(&self, id: &str, agency: &str, actor: &str, now: i64) -> Result<bool>;
    /// Checks the certificate serial an agent opens a session with, promoting a renewed
    /// certificate on its first use (the previous one is refused from then on).
    fn agent_session_cert(&self, id: &str, serial: &str, now: i64) -> Result<SessionCert>;
    /// One agent.
    fn agent(&self, id: &str) -> Result<Option<AgentRecord>>;
    /// All agents, live first, by agency then host name.
    fn agents(&self) -> Result<Vec<AgentRecord>>;
    /// [`Store::agents`] without their inventories (`inventory` is `None`): what scoring, alert
    /// rules and listings need, without reading every host's package list (tens of KiB each, a
    /// gigabyte for a province).
    fn agents_brief(&self) -> Result<Vec<AgentRecord>>;
    /// Serials of refused agent certificates: those of revoked or replaced agents, and those
    /// superseded by a renewed certificate the agent has used.
    fn revoked_serials(&self) -> Result<Vec<String>>;
    /// Records a renewed certificate for a live agent: it becomes current when the agent first
    /// opens a session with it ([`Store::agent_session_cert`]), and the previous one is refused
    /// from then on; false if the agent is unknown or revoked.
    fn agent_set_cert(&self, id: &str, serial: &str, not_after: i64, now: i64) -> Result<bool>;
    /// Revokes an agent (audited under `actor`); false if unknown or revoked already.
    fn agent_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool>;
    /// Records contact (and heartbeat facts).
    fn agent_seen(
        &self,
        id: &str,
        now: i64,
        agent_version: Option<&str>,
        hb: Option<Heartbeat>,
    ) -> Result<()>;

    /// Stores a batch idempotently in one transaction; [`StoreError::Revoked`] for a revoked
    /// agent.
    fn ingest(&self, agent_id: &str, batch: &[Envelope], received_at: i64)
    -> Result<IngestOutcome>;
    /// Highest stored seq of an agent.
    fn max_seq(&self, agent_id: &str) -> Result<u64>;
    /// Findings matching a filter, newest first.
    fn findings(&self, f: &FindingFilter) -> Result<Vec<StoredFinding>>;
    /// Count of findings stored for an agent.
    fn finding_count(&self, agent_id: &str) -> Result<u64>;
    /// Recorded gaps.
    fn gaps(&self, agent_id: Option<&str>) -> Result<Vec<Gap>>;

    /// Appends to the audit log.
    fn audit(&self, actor: &str, action: &str, detail: &serde_json::Value, now: i64) -> Result<()>;
    /// Audit entries, oldest first: (time, actor, action, detail).
    fn audit_log(&self) -> Result<Vec<(i64, String, String, serde_json::Value)>>;

    /// Adds or updates indicators of compromise in one transaction; returns the new IOC version
    /// (unchanged when the import changed nothing).
    fn ioc_import(&self, indicators: &[vigil_proto::msg::Indicator]) -> Result<u64>;
    /// Current IOC version (0 = no indicators).
    fn ioc_version(&self) -> Result<u64>;
    /// Raises an alert, or counts it again when an active alert with the same key exists (a
    /// resolved one is reopened). Returns the alert id and whether it was new.
    fn alert_raise(&self, a: &NewAlert, now: i64) -> Result<(i64, bool)>;
    /// Alerts, newest first, optionally in one state.
    fn alerts(&self, state: Option<AlertState>) -> Result<Vec<Alert>>;
    /// At most `limit` alerts created after the alert `after` (any state), oldest first: how
    /// the notifier reads new alerts without a hook on every path that raises one.
    fn alerts_after(&self, after: i64, limit: u32) -> Result<Vec<Alert>>;
    /// Claims the notification of alert `alert_id` to `recipient` for the notifier `owner` at
    /// `now`: true when `owner` holds the claim (it was first, or had claimed it before), so
    /// collectors sharing a database notify each alert once per recipient.
    fn notify_claim(&self, alert_id: i64, recipient: &str, owner: &str, now: i64) -> Result<bool>;
    /// Moves an alert to `state`, audited under `actor`. Resolving or marking false positive
    /// needs a reason. Returns false if the alert does not exist.
    fn alert_set_state(
        &self,
        id: i64,
        state: AlertState,
        actor: &str,
        reason: Option<&str>,
        now: i64,
    ) -> Result<bool>;
    /// Records listeners (`listen:…` keys) seen on an agent; returns how many it had before and
    /// which of `keys` are new.
    fn listeners_learn(
        &self,
        agent_id: &str,
        keys: &[String],
        now: i64,
    ) -> Result<(usize, Vec<String>)>;
    /// Assigns an alert to someone (or nobody), audited under `actor`; false if unknown.
    fn alert_assign(&self, id: i64, assignee: Option<&str>, actor: &str, now: i64) -> Result<bool>;
    /// Indicators added or changed after `from_version` (all of them for 0), with the version
    /// they bring the agent to.
    fn ioc_since(&self, from_version: u64) -> Result<(u64, Vec<vigil_proto::msg::Indicator>)>;

    /// Adds a user (audited as `user.add`); [`StoreError::Conflict`] if the name is taken.
    fn user_add(&self, u: &User, actor: &str, now: i64) -> Result<()>;
    /// One user.
    fn user(&self, name: &str) -> Result<Option<User>>;
    /// All users, by name.
    fn users(&self) -> Result<Vec<User>>;
    /// Disables a user and ends their sessions, in one audited transaction; false if unknown.
    fn user_disable(&self, name: &str, actor: &str, now: i64) -> Result<bool>;
    /// Records a login session.
    fn session_add(&self, s: &SessionRecord) -> Result<()>;
    /// The session with this id hash, if it exists and has not expired at `now`.
    fn session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRecord>>;
    /// Ends a session (and drops every expired one); false if it did not exist.
    fn session_delete(&self, id_hash: &str, now: i64) -> Result<bool>;
    /// Records an API token (audited as `api_token.create`); the user must exist.
    fn api_token_add(&self, t: &ApiTokenRecord, actor: &str, now: i64) -> Result<()>;
    /// The API token with this secret hash, revoked or not.
    fn api_token(&self, secret_hash: &str) -> Result<Option<ApiTokenRecord>>;
    /// Every API token (revoked ones too), oldest first.
    fn api_tokens(&self) -> Result<Vec<ApiTokenRecord>>;
    /// Revokes the API token with this public id (audited as `api_token.revoke`). False when no
    /// live token has that id (unknown or revoked already).
    fn api_token_revoke(&self, id: &str, actor: &str, now: i64) -> Result<bool>;
    /// Up to `limit` audit entries with an id below `before` (all when `None`), newest first.
    fn audit_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>>;
    /// The audit entries of one action with `from <= at < to` (Unix seconds), oldest first,
    /// read through the `(action, at)` index (reports read these rather than the whole log).
    fn audit_range(&self, action: &str, from: i64, to: i64) -> Result<Vec<AuditEntry>>;
}
