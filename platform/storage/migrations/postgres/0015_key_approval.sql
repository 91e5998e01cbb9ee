-- The two-person rule for API keys that reach personal data (resident.*,
-- case.*): such a key is issued waiting (`needs_approval`) and works only
-- once a second person of the tenant approves it (`approved_by`, audited).
ALTER TABLE service_keys ADD COLUMN needs_approval BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE service_keys ADD COLUMN approved_by TEXT;
ALTER TABLE service_keys ADD COLUMN approved_at BIGINT;
