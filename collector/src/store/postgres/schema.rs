//! The PostgreSQL schema, one migration per version (rows of `vigil_schema`), numbered as
//! SQLite's.

use ::postgres::Client;
use tracing::info;

use super::LOCK_MIGRATE;
use crate::store::{Result, StoreError};

/// Schema migrations; index + 1 is the version after applying.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE agencies (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    level SMALLINT NOT NULL,
    parent TEXT COLLATE "C"
);
CREATE TABLE tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    agency TEXT COLLATE "C" NOT NULL REFERENCES agencies(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    max_uses BIGINT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE agents (
    id TEXT COLLATE "C" PRIMARY KEY,
    agency TEXT COLLATE "C" NOT NULL REFERENCES agencies(id),
    machine_id TEXT NOT NULL,
    hostname TEXT COLLATE "C" NOT NULL,
    os TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'workstation',
    enrolled_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL DEFAULT 0,
    agent_version TEXT NOT NULL DEFAULT '',
    cert_serial TEXT NOT NULL,
    cert_not_after BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    replaced_by TEXT,
    token_id TEXT,
    max_seq BIGINT NOT NULL DEFAULT 0,
    spool_depth BIGINT NOT NULL DEFAULT 0,
    clock_skew_ms BIGINT NOT NULL DEFAULT 0,
    inventory TEXT
);
CREATE INDEX agents_machine ON agents(machine_id);
CREATE TABLE findings (
    agent_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    observed_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
);
CREATE INDEX findings_recv ON findings(received_at);
CREATE TABLE gaps (
    agent_id TEXT COLLATE "C" NOT NULL,
    from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL,
    detected_at BIGINT NOT NULL
);
CREATE INDEX gaps_agent ON gaps(agent_id);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE iocs (
    kind TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    source TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX iocs_version ON iocs(version);
"#,
    r#"
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    key TEXT COLLATE "C" NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    count BIGINT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    reason TEXT
);
CREATE INDEX alerts_key ON alerts(key);
"#,
    r#"
ALTER TABLE agents ADD COLUMN level SMALLINT;
ALTER TABLE alerts ADD COLUMN assignee TEXT;
CREATE TABLE check_state (
    agent_id TEXT COLLATE "C" PRIMARY KEY,
    results TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE assets (
    agency TEXT COLLATE "C" NOT NULL,
    hostname TEXT COLLATE "C" NOT NULL,
    role TEXT NOT NULL,
    level SMALLINT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (agency, hostname)
);
CREATE TABLE score_history (
    scope TEXT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    view TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    coverage DOUBLE PRECISION,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at BIGINT NOT NULL
);
CREATE INDEX score_history_series ON score_history(scope, id, computed_at);
CREATE TABLE score_latest (
    scope TEXT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    view TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    coverage DOUBLE PRECISION,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (scope, id, view)
);
CREATE TABLE known_listeners (
    agent_id TEXT COLLATE "C" NOT NULL,
    key TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (agent_id, key)
);
"#,
    r#"
CREATE TABLE users (
    name TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    scope TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions("user");
CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    created_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
"#,
    // v6: a host page reads one agent's latest findings of one kind.
    r#"
CREATE INDEX findings_agent_kind ON findings(agent_id, kind, received_at);
"#,
    // v7 (issue 17): renewed certificates wait until used, superseded serials are refused,
    // alerts can concern a second agency, per-agent alert caps and report audit reads are
    // indexed.
    r#"
ALTER TABLE agents ADD COLUMN cert_pending TEXT;
ALTER TABLE agents ADD COLUMN cert_pending_not_after BIGINT;
CREATE TABLE revoked_certs (
    serial TEXT PRIMARY KEY,
    agent_id TEXT COLLATE "C" NOT NULL,
    revoked_at BIGINT NOT NULL
);
ALTER TABLE alerts ADD COLUMN other_agency TEXT COLLATE "C";
CREATE INDEX alerts_agent_state ON alerts(agent_id, state);
CREATE INDEX audit_action_at ON audit(action, at);
"#,
    // v8: simulated hosts (`demo --province`) and the facts of alert titles (localised titles).
    r#"
ALTER TABLE tokens ADD COLUMN simulated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN simulated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alerts ADD COLUMN params TEXT;
"#,
    // v9 (issue 20): SQLite gains this v1 index; the version numbers stay the same on both.
    r#"
CREATE INDEX IF NOT EXISTS gaps_agent ON gaps(agent_id);
"#,
    // v10 (issue 23): advisories and vulnerable packages.
    include_str!("vuln.sql"),
    // v11 (issue 19): the export log and the SIEM outputs' cursors.
    include_str!("export.sql"),
    // issue 19: federation (one text for both backends).
    include_str!("../fed.sql"),
    // v11 (issue 18): central policies.
    include_str!("policy.sql"),
    // issue 19: export outputs' last error (one text for both backends).
    include_str!("../export_status.sql"),
    // issue 19: notification claims (one text for both backends).
    include_str!("../notify_claims.sql"),
];

/// Applies pending [`MIGRATIONS`] in one transaction under an advisory lock per schema, so
/// collectors starting together do not race; refuses a schema newer than this collector.
pub(super) fn migrate(c: &mut Client, schema: Option<&str>) -> Result<()> {
    let mut tx = c.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2::text, current_schema()::text, '')))",
        &[&LOCK_MIGRATE, &schema],
    )?;
    if let Some(s) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{s}\""))?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS vigil_schema (
             version INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )?;
    let version: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM vigil_schema", &[])?
        .try_get(0)?;
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if version > known {
        return Err(StoreError::Db(format!(
            "database schema version {version} is newer than this collector ({known}); \
             upgrade the collector"
        )));
    }
    for (v, sql) in (1..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO vigil_schema (version) VALUES ($1)", &[&v])?;
    }
    tx.commit()?;
    if version < known {
        info!(
            from = version,
            to = known,
            "Migrated the PostgreSQL schema."
        );
    }
    Ok(())
}
