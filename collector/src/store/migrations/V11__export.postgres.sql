-- v11, PostgreSQL only: `tx` is the writing transaction's id: readers take only rows of
-- transactions older than every running one, so a row committed late (with a smaller id) is never
-- skipped by a cursor that already passed its id. The triggers are PL/pgSQL functions.
ALTER TABLE export_log ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE FUNCTION vigil_export_finding() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM export_outputs) THEN
        INSERT INTO export_log (at, agent_id, seq) VALUES (NEW.received_at, NEW.agent_id, NEW.seq);
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION vigil_export_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM export_outputs) THEN
        INSERT INTO export_log (at, agent_id, alert) VALUES (
            CASE WHEN TG_OP = 'INSERT' THEN NEW.last_seen * 1000
                 ELSE (extract(epoch FROM clock_timestamp()) * 1000)::bigint END,
            NEW.agent_id,
            json_build_object('id', NEW.id, 'key', NEW.key, 'kind', NEW.kind,
                'severity', NEW.severity, 'agent_id', NEW.agent_id, 'title', NEW.title,
                'state', NEW.state, 'count', NEW.count, 'opened_at', NEW.opened_at,
                'last_seen', NEW.last_seen, 'reason', NEW.reason, 'assignee', NEW.assignee,
                'other_agency', NEW.other_agency, 'params', NEW.params)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER export_findings AFTER INSERT ON findings
    FOR EACH ROW EXECUTE FUNCTION vigil_export_finding();
CREATE TRIGGER export_alerts_new AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION vigil_export_alert();
CREATE TRIGGER export_alerts_state AFTER UPDATE OF state ON alerts
    FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state) EXECUTE FUNCTION vigil_export_alert();
