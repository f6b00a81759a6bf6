-- issue 19: which collector notifies each alert to each recipient, so collectors sharing a
-- database send it once (the same text on both backends).
CREATE TABLE notify_claims (
    alert_id BIGINT NOT NULL,
    recipient TEXT NOT NULL,
    owner TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (alert_id, recipient)
);
