-- The holder of the search outbox records how long it may go unseen (its
-- --search-takeover-secs) as it names itself: a standby index waits out the
-- holder's own window, whatever its node's setting says, so nodes that
-- differ in it never take over from a holder that is only between
-- heartbeats. NULL: recorded by a version that did not say.
ALTER TABLE search_indexers ADD COLUMN takeover_after_ms BIGINT;
