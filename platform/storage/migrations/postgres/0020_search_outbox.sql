-- Search indexing that loses nothing: every change to an indexed row
-- (cases, accounts, residents) writes an outbox row in the same transaction,
-- by trigger, so no code path can forget it. The row names the document,
-- not its content: the indexer reads the row as it is when it applies the
-- change, so applying an entry twice, or out of order, gives the same index.
CREATE TABLE search_outbox (
    seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind     TEXT   NOT NULL,
    doc      TEXT COLLATE "C" NOT NULL,
    queued_at BIGINT NOT NULL
);
GRANT SELECT, INSERT, DELETE ON search_outbox TO civitas_app;

-- One row per backend that consumes the outbox; an indexer holds its row's
-- lock (FOR UPDATE SKIP LOCKED) while it applies a batch, so one node at a
-- time feeds a shared index and the others skip instead of waiting.
CREATE TABLE search_indexers (
    backend    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    applied    BIGINT NOT NULL DEFAULT 0,
    applied_at BIGINT
);

CREATE FUNCTION civitas_search_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES (TG_ARGV[0], NEW.id, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
    RETURN NULL;
END $$;

CREATE TRIGGER cases_search AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION civitas_search_outbox('case');
-- Sign-in bookkeeping (last use, password changes) is not searchable.
CREATE TRIGGER accounts_search AFTER INSERT OR UPDATE OF username, display_name, tenant_path, kind, subject, employee_no, disabled ON accounts
    FOR EACH ROW EXECUTE FUNCTION civitas_search_outbox('account');
CREATE TRIGGER residents_search AFTER INSERT OR UPDATE OF name, tenant_path ON residents
    FOR EACH ROW EXECUTE FUNCTION civitas_search_outbox('resident');
