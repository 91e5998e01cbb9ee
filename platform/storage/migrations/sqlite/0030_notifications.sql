-- Notifications (see the PostgreSQL migration): an outbox entry per case
-- event that is news to the applicant, written by trigger in the same
-- transaction; one delivery per message, channel and recipient.
CREATE TABLE notification_outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id   TEXT    NOT NULL,
    event_seq INTEGER NOT NULL,
    queued_at INTEGER NOT NULL
);

CREATE TRIGGER case_events_notify AFTER INSERT ON case_events
    WHEN NEW.action IN ('submit', 'approve', 'return', 'reject', 'transfer', 'pause',
                        'resume', 'extend', 'withdraw', 'resubmit')
BEGIN
    INSERT INTO notification_outbox (case_id, event_seq, queued_at)
    VALUES (NEW.case_id, NEW.seq, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

CREATE TABLE notification_deliveries (
    id              TEXT    NOT NULL PRIMARY KEY,
    tenant_path     TEXT    NOT NULL,
    line            TEXT    NOT NULL,
    case_id         TEXT    NOT NULL,
    event_seq       INTEGER NOT NULL,
    kind            TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,
    handler         TEXT    NOT NULL,
    matter          TEXT    NOT NULL,
    message_zh      TEXT    NOT NULL,
    message_en      TEXT    NOT NULL,
    params          TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    destination     TEXT,
    provider_ref    TEXT,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    read_at         INTEGER,
    UNIQUE (case_id, event_seq, channel, recipient)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at, id)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX notification_deliveries_recipient
    ON notification_deliveries (recipient, channel, created_at, id);
CREATE INDEX notification_deliveries_scope
    ON notification_deliveries (tenant_path, line, created_at, id);
-- A delivery record is not deleted.
CREATE TRIGGER notification_deliveries_not_deleted BEFORE DELETE ON notification_deliveries
BEGIN
    SELECT RAISE(ABORT, 'a delivery record is not deleted');
END;

CREATE TABLE notification_preferences (
    account_id TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, channel)
);
