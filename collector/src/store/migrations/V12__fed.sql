-- Federation (issue 19), the same text on both backends.
-- Upstream side: which enrollment tokens admit a downstream collector (never an agent), the
-- downstreams enrolled, the summaries they pushed (the latest few, verbatim with their
-- signature) and the seq ranges that never arrived.
CREATE TABLE fed_tokens (
    secret_hash TEXT PRIMARY KEY
);
CREATE TABLE fed_downstreams (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL,
    name TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    enrolled_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL DEFAULT 0,
    acked_seq BIGINT NOT NULL DEFAULT 0,
    last_received BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE fed_summaries (
    downstream_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    sig TEXT NOT NULL,
    PRIMARY KEY (downstream_id, seq)
);
CREATE TABLE fed_gaps (
    downstream_id TEXT NOT NULL,
    from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL,
    detected_at BIGINT NOT NULL,
    PRIMARY KEY (downstream_id, from_seq)
);
-- Downstream side: summaries waiting for the upstream's ack, and the counters of the spool.
CREATE TABLE fed_spool (
    seq BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    sig TEXT NOT NULL
);
CREATE TABLE fed_spool_state (
    id BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    acked_seq BIGINT NOT NULL,
    dropped BIGINT NOT NULL
);
INSERT INTO fed_spool_state (id, last_seq, acked_seq, dropped) VALUES (1, 0, 0, 0);
