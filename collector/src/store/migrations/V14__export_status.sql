-- issue 19: each export output's last failed send, for `export status` and the API (the same
-- text on both backends).
ALTER TABLE export_outputs ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE export_outputs ADD COLUMN last_error_at BIGINT NOT NULL DEFAULT 0;
