-- The two-person rule for API keys; see the PostgreSQL migration.
ALTER TABLE service_keys ADD COLUMN needs_approval INTEGER NOT NULL DEFAULT 0;
ALTER TABLE service_keys ADD COLUMN approved_by TEXT;
ALTER TABLE service_keys ADD COLUMN approved_at INTEGER;
