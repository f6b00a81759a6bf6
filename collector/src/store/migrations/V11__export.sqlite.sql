-- v11, SQLite only: the triggers that fill the export log (`tx` stays 0: one writer at a time).
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
