-- v6: a host page reads one agent's latest findings of one kind.
CREATE INDEX findings_agent_kind ON findings(agent_id, kind, received_at);
