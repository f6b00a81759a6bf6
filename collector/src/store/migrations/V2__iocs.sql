-- v2: indicators of compromise, versioned so agents fetch deltas.
CREATE TABLE iocs (
    kind TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    source TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX iocs_version ON iocs(version);
