-- v5: console users, their sessions and API tokens.
CREATE TABLE users (
    name TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    scope TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    csrf TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions("user");
CREATE TABLE api_tokens (
    id TEXT COLLATE "C" PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    "user" TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    created_at BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT FALSE
);
