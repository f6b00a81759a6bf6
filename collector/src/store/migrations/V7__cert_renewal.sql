-- v7 (issue 17): renewed certificates wait until used, superseded serials are refused,
-- alerts can concern a second agency, per-agent alert caps and report audit reads are indexed.
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
