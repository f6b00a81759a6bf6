//! The SQLite schema, one migration per version (`PRAGMA user_version`).

/// Schema migrations; index + 1 is the version after applying.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE agencies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    agency TEXT NOT NULL REFERENCES agencies(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL REFERENCES agencies(id),
    machine_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    os TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'workstation',
    enrolled_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL DEFAULT 0,
    agent_version TEXT NOT NULL DEFAULT '',
    cert_serial TEXT NOT NULL,
    cert_not_after INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    replaced_by TEXT,
    token_id TEXT,
    max_seq INTEGER NOT NULL DEFAULT 0,
    spool_depth INTEGER NOT NULL DEFAULT 0,
    clock_skew_ms INTEGER NOT NULL DEFAULT 0,
    inventory TEXT
);
CREATE INDEX agents_machine ON agents(machine_id);
CREATE TABLE findings (
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent_id, seq)
) WITHOUT ROWID;
CREATE INDEX findings_recv ON findings(received_at);
CREATE TABLE gaps (
    agent_id TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    detected_at INTEGER NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE iocs (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    source TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX iocs_version ON iocs(version);
"#,
    r#"
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    title TEXT NOT NULL,
    state TEXT NOT NULL,
    count INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    reason TEXT
);
CREATE INDEX alerts_key ON alerts(key);
"#,
    r#"
ALTER TABLE agents ADD COLUMN level INTEGER;
ALTER TABLE alerts ADD COLUMN assignee TEXT;
CREATE TABLE check_state (
    agent_id TEXT PRIMARY KEY,
    results TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE assets (
    agency TEXT NOT NULL,
    hostname TEXT NOT NULL,
    role TEXT NOT NULL,
    level INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (agency, hostname)
);
CREATE TABLE score_history (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    view TEXT NOT NULL,
    score REAL NOT NULL,
    coverage REAL,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at INTEGER NOT NULL
);
CREATE INDEX score_history_series ON score_history(scope, id, computed_at);
CREATE TABLE score_latest (
    scope TEXT NOT NULL,
    id TEXT NOT NULL,
    view TEXT NOT NULL,
    score REAL NOT NULL,
    coverage REAL,
    rule_pack_version TEXT NOT NULL,
    scoring_version TEXT NOT NULL,
    computed_at INTEGER NOT NULL,
    PRIMARY KEY (scope, id, view)
);
CREATE TABLE known_listeners (
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (agent_id, key)
);
"#,
    r#"
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user TEXT NOT NULL REFERENCES users(name),
    created_at INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
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
ALTER TABLE agents ADD COLUMN cert_pending_not_after INTEGER;
CREATE TABLE revoked_certs (
    serial TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    revoked_at INTEGER NOT NULL
);
ALTER TABLE alerts ADD COLUMN other_agency TEXT;
CREATE INDEX alerts_agent_state ON alerts(agent_id, state);
CREATE INDEX audit_action_at ON audit(action, at);
"#,
    // v8: simulated hosts (`demo --province`) and the facts of alert titles (localised titles).
    r#"
ALTER TABLE tokens ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN simulated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN params TEXT;
"#,
    // v9 (issue 20): the index PostgreSQL has had since v1 (one schema on both backends).
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
