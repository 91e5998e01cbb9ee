-- Change notices between nodes (civitas_storage::changes): every node keeps
-- the grants' decision index, the settings overrides and the tenant tree in
-- memory. The statement that moves one of their versions sends a notice on
-- the channel civitas_changes; PostgreSQL delivers it to every listening
-- node when the transaction commits (and never, if it rolls back), so no
-- code path can forget it. The payload is "<schema> <what>": platforms
-- sharing a database in different schemas do not wake each other.
CREATE FUNCTION civitas_change_notice() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('civitas_changes', TG_TABLE_SCHEMA || ' ' || TG_ARGV[0]);
    RETURN NULL;
END $$;

CREATE TRIGGER grants_version_notice AFTER INSERT OR UPDATE ON grants_version
    FOR EACH STATEMENT EXECUTE FUNCTION civitas_change_notice('grants');
CREATE TRIGGER settings_version_notice AFTER INSERT OR UPDATE ON settings_version
    FOR EACH STATEMENT EXECUTE FUNCTION civitas_change_notice('settings');
-- A revision stored, or signed later (admin init stores it unsigned).
CREATE TRIGGER tenant_revisions_notice AFTER INSERT OR UPDATE ON tenant_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION civitas_change_notice('tree');
