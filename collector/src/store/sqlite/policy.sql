-- issue 18: central policies (every version kept), their assignments to agency subtrees (rows
-- never deleted: an unassignment keeps its row with a NULL policy), and the bundle version each
-- host reports as applied.
CREATE TABLE policy_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    rev INTEGER NOT NULL,
    scope TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE policy_assignments (
    agency TEXT PRIMARY KEY,
    policy TEXT,
    rev INTEGER NOT NULL,
    assigned_at INTEGER NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE policy_applied (
    agent_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    reported_at INTEGER NOT NULL
);
