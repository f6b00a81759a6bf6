-- v9 (issue 20): the index on gaps. PostgreSQL databases made before one schema have it from
-- v1, hence IF NOT EXISTS.
CREATE INDEX IF NOT EXISTS gaps_agent ON gaps(agent_id);
