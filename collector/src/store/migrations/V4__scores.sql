-- v4: alert assignees, check state, the asset register, scores and known listeners.
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
