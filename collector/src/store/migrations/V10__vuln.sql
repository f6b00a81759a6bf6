-- v10 (issue 23): imported advisories, their CVE aliases and the hosts they match.
CREATE TABLE vuln_imports (
    version BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    advisories BIGINT NOT NULL
);
CREATE TABLE vuln_advisories (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    cves TEXT NOT NULL,
    summary TEXT NOT NULL,
    severity TEXT,
    cvss DOUBLE PRECISION,
    body TEXT NOT NULL
);
CREATE TABLE vuln_aliases (
    alias TEXT NOT NULL,
    advisory TEXT NOT NULL,
    PRIMARY KEY (alias, advisory)
);
-- An import replaces each advisory's aliases: without this, every delete scans the table.
CREATE INDEX vuln_aliases_advisory ON vuln_aliases(advisory);
CREATE TABLE vuln_matches (
    agent_id TEXT COLLATE "C" NOT NULL,
    advisory TEXT NOT NULL,
    package TEXT NOT NULL,
    installed TEXT NOT NULL,
    fixed TEXT,
    severity TEXT,
    cvss DOUBLE PRECISION,
    since BIGINT NOT NULL,
    PRIMARY KEY (agent_id, advisory, package)
);
CREATE INDEX vuln_matches_advisory ON vuln_matches(advisory);
