-- Change notices between nodes are PostgreSQL's LISTEN/NOTIFY (see the
-- PostgreSQL migration 0031). The embedded database serves one node, which
-- looks at the versions periodically; nothing to create here. The number
-- is kept so both backends count the same migrations.
SELECT 1;
