-- v3: alerts.
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
