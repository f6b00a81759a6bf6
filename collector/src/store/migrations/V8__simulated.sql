-- v8: simulated hosts (`demo --province`) and the facts of alert titles (localised titles).
ALTER TABLE tokens ADD COLUMN simulated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN simulated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alerts ADD COLUMN params TEXT;
