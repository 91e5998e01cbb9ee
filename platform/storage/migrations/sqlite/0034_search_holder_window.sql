-- How long the outbox's holder may go unseen, as it said (see the
-- PostgreSQL migration).
ALTER TABLE search_indexers ADD COLUMN takeover_after_ms INTEGER;
