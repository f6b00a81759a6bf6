-- issue 18: central policies (every version kept), their assignments to agency subtrees (rows
-- never deleted: an unassignment keeps its row with a NULL policy), and the bundle version each
-- host reports as applied.
CREATE TABLE policy_versions (
    name TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    rev BIGINT NOT NULL,
    scope TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE policy_assignments (
    agency TEXT COLLATE "C" PRIMARY KEY,
    policy TEXT,
    rev BIGINT NOT NULL,
    assigned_at BIGINT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE policy_applied (
    agent_id TEXT COLLATE "C" PRIMARY KEY,
    version BIGINT NOT NULL,
    reported_at BIGINT NOT NULL
);
