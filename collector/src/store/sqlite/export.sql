-- v11 (issue 19): the export log that SIEM outputs read, and each output's durable cursor.
-- Triggers fill the log in the transaction that stores a finding or changes an alert's state,
-- and only while an output is registered, so a collector without exports writes nothing more.
CREATE TABLE export_outputs (
    name TEXT PRIMARY KEY,
    cursor_tx INTEGER NOT NULL DEFAULT 0,
    cursor_id INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    lease_until INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE export_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tx INTEGER NOT NULL DEFAULT 0,
    at INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    seq INTEGER,
    alert TEXT
);
CREATE INDEX export_log_pos ON export_log(tx, id);
CREATE TRIGGER export_findings AFTER INSERT ON findings
WHEN EXISTS (SELECT 1 FROM export_outputs)
BEGIN
    INSERT INTO export_log (at, agent_id, seq) VALUES (NEW.received_at, NEW.agent_id, NEW.seq);
END;
CREATE TRIGGER export_alerts_new AFTER INSERT ON alerts
WHEN EXISTS (SELECT 1 FROM export_outputs)
BEGIN
    INSERT INTO export_log (at, agent_id, alert) VALUES (NEW.last_seen * 1000, NEW.agent_id,
        json_object('id', NEW.id, 'key', NEW.key, 'kind', NEW.kind, 'severity', NEW.severity,
            'agent_id', NEW.agent_id, 'title', NEW.title, 'state', NEW.state, 'count', NEW.count,
            'opened_at', NEW.opened_at, 'last_seen', NEW.last_seen, 'reason', NEW.reason,
            'assignee', NEW.assignee, 'other_agency', NEW.other_agency, 'params', NEW.params));
END;
CREATE TRIGGER export_alerts_state AFTER UPDATE OF state ON alerts
WHEN NEW.state <> OLD.state AND EXISTS (SELECT 1 FROM export_outputs)
BEGIN
    INSERT INTO export_log (at, agent_id, alert) VALUES (
        CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), NEW.agent_id,
        json_object('id', NEW.id, 'key', NEW.key, 'kind', NEW.kind, 'severity', NEW.severity,
            'agent_id', NEW.agent_id, 'title', NEW.title, 'state', NEW.state, 'count', NEW.count,
            'opened_at', NEW.opened_at, 'last_seen', NEW.last_seen, 'reason', NEW.reason,
            'assignee', NEW.assignee, 'other_agency', NEW.other_agency, 'params', NEW.params));
END;
