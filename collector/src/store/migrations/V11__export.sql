-- v11 (issue 19): the export log that SIEM outputs read, and each output's durable cursor.
-- Triggers (V11__export.<dialect>.sql, run after this text) fill the log in the transaction that
-- stores a finding or changes an alert's state, and only while an output is registered, so a
-- collector without exports writes nothing more.
CREATE TABLE export_outputs (
    name TEXT COLLATE "C" PRIMARY KEY,
    cursor_tx BIGINT NOT NULL DEFAULT 0,
    cursor_id BIGINT NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    lease_until BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    dropped BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE export_log (
    id BIGSERIAL PRIMARY KEY,
    tx BIGINT NOT NULL DEFAULT 0,
    at BIGINT NOT NULL,
    agent_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT,
    alert TEXT
);
CREATE INDEX export_log_pos ON export_log(tx, id);
