-- v1: agencies, enrollment tokens, agents, their findings and seq gaps, the audit log.
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
) WITHOUT ROWID;
CREATE INDEX findings_recv ON findings(received_at);
CREATE TABLE gaps (
    agent_id TEXT COLLATE "C" NOT NULL,
    from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL,
    detected_at BIGINT NOT NULL
);
CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
