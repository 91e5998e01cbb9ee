-- Account administration by the system administrator of 三员分立.
--
-- Contact data is sealed as residents' is (SM4 under the data key of the
-- account's tenant, version in `key_version`; key rotation re-seals it)
-- with a blind index for exact lookups; `employee_no` (工号) and `position`
-- (岗位) are what a bureau's HR office keeps; `disabled_at` says since when
-- an account is disabled; `one_time_until` is when a one-time password
-- (a new account's or a reset's) stops working.
ALTER TABLE accounts ADD COLUMN key_version BIGINT;
ALTER TABLE accounts ADD COLUMN phone TEXT;
ALTER TABLE accounts ADD COLUMN phone_index TEXT COLLATE "C";
ALTER TABLE accounts ADD COLUMN email TEXT;
ALTER TABLE accounts ADD COLUMN email_index TEXT COLLATE "C";
ALTER TABLE accounts ADD COLUMN employee_no TEXT COLLATE "C";
ALTER TABLE accounts ADD COLUMN position TEXT;
ALTER TABLE accounts ADD COLUMN disabled_at BIGINT;
ALTER TABLE accounts ADD COLUMN one_time_until BIGINT;
ALTER TABLE accounts ADD COLUMN updated_at BIGINT;

-- A subtree's accounts page by (tenant_path, username).
CREATE INDEX accounts_subtree_name ON accounts (tenant_path, username);
-- 工号 are unique within a tenant.
CREATE UNIQUE INDEX accounts_employee_no ON accounts (tenant_path, employee_no)
    WHERE employee_no IS NOT NULL;
-- Finding staff by phone number (exact, by blind index).
CREATE INDEX accounts_phone_index ON accounts (phone_index) WHERE phone_index IS NOT NULL;

-- A subtree's account list shows and filters by lock state: tenant-scoped
-- reads join the failures of the usernames they list (written only by the
-- owning role, as before).
GRANT SELECT ON sign_in_failures TO civitas_app;
