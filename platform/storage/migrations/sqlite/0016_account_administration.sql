-- Account administration; see the PostgreSQL migration.
ALTER TABLE accounts ADD COLUMN key_version INTEGER;
ALTER TABLE accounts ADD COLUMN phone TEXT;
ALTER TABLE accounts ADD COLUMN phone_index TEXT;
ALTER TABLE accounts ADD COLUMN email TEXT;
ALTER TABLE accounts ADD COLUMN email_index TEXT;
ALTER TABLE accounts ADD COLUMN employee_no TEXT;
ALTER TABLE accounts ADD COLUMN position TEXT;
ALTER TABLE accounts ADD COLUMN disabled_at INTEGER;
ALTER TABLE accounts ADD COLUMN one_time_until INTEGER;
ALTER TABLE accounts ADD COLUMN updated_at INTEGER;

CREATE INDEX accounts_subtree_name ON accounts (tenant_path, username);
CREATE UNIQUE INDEX accounts_employee_no ON accounts (tenant_path, employee_no)
    WHERE employee_no IS NOT NULL;
CREATE INDEX accounts_phone_index ON accounts (phone_index) WHERE phone_index IS NOT NULL;
