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
-- Tenant transactions only add to it (by trigger); reading and deleting
-- is the indexer's, a platform task.
GRANT INSERT ON search_outbox TO civitas_app;

-- One row per backend that consumes the outbox; an indexer holds its row's
-- lock (FOR UPDATE SKIP LOCKED) while it applies a batch, so one node at a
-- time feeds a shared index and the others skip instead of waiting.
CREATE TABLE search_indexers (
    backend    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    applied    BIGINT NOT NULL DEFAULT 0,
    applied_at BIGINT,
    -- Entries whose row does not parse: logged and left out, so one bad
    -- row cannot stop indexing; a reindex tries them again.
    rejected   BIGINT NOT NULL DEFAULT 0
);

-- A deleted row names itself too: the indexer finds no row and deletes the
-- document.
CREATE FUNCTION civitas_search_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    row_id TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        row_id := OLD.id;
    ELSE
        row_id := NEW.id;
    END IF;
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES (TG_ARGV[0], row_id, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
    RETURN NULL;
END $$;

CREATE TRIGGER cases_search AFTER INSERT OR UPDATE OR DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION civitas_search_outbox('case');
-- Sign-in bookkeeping (last use, password changes) is not searchable.
CREATE TRIGGER accounts_search AFTER INSERT OR DELETE OR UPDATE OF username, display_name, tenant_path, kind, subject, employee_no, disabled ON accounts
    FOR EACH ROW EXECUTE FUNCTION civitas_search_outbox('account');
CREATE TRIGGER residents_search AFTER INSERT OR DELETE OR UPDATE OF name, tenant_path ON residents
    FOR EACH ROW EXECUTE FUNCTION civitas_search_outbox('resident');

-- A case document holds its applicant's name: a new name re-indexes every
-- case the account applied for, wherever it is (definer's rights: the
-- cases may lie outside the scope of the transaction renaming the account).
CREATE FUNCTION civitas_search_applicant_cases() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    SELECT 'case', id, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT
    FROM cases WHERE applicant = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_search_cases AFTER UPDATE OF display_name ON accounts
    FOR EACH ROW WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name)
    EXECUTE FUNCTION civitas_search_applicant_cases();
