-- Notifications (消息中心): what a case's applicant is told of its progress,
-- over the in-site message centre, SMS and e-mail, with a delivery record
-- per message and channel.
--
-- The outbox is written by trigger in the transaction that changes a case
-- (no code path can forget it, and a rollback takes it back); the notifier
-- turns each entry into one delivery per channel and recipient (the unique
-- key makes a second fan-out of the same entry a no-op) and deletes the
-- entry in the same transaction, then sends what is due.
CREATE TABLE notification_outbox (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id   TEXT COLLATE "C" NOT NULL,
    event_seq BIGINT NOT NULL,
    queued_at BIGINT NOT NULL
);
-- Tenant transactions only add to it (by trigger); the notifier, a
-- platform task, reads and deletes.
GRANT INSERT ON notification_outbox TO civitas_app;

CREATE FUNCTION civitas_notification_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_outbox (case_id, event_seq, queued_at)
    VALUES (NEW.case_id, NEW.seq, (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT);
    RETURN NULL;
END $$;
-- The actions that change what an applicant sees of their case; timers,
-- attachments, ratings and reveals are not news to them.
CREATE TRIGGER case_events_notify AFTER INSERT ON case_events
    FOR EACH ROW
    WHEN (NEW.action IN ('submit', 'approve', 'return', 'reject', 'transfer', 'pause',
                         'resume', 'extend', 'withdraw', 'resubmit'))
    EXECUTE FUNCTION civitas_notification_outbox();

-- One row per message and channel: the message centre lists the site
-- channel's rows (read_at), every channel's row is the delivery record
-- (办理人 handler, 办理时间 created_at, 办理状态 status, 办理事项 matter).
-- status: pending (due at next_attempt_at), sending (leased until
-- next_attempt_at: a node that died while sending is taken over then),
-- sent, failed (gave up; last_error says why).
CREATE TABLE notification_deliveries (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path     TEXT COLLATE "C" NOT NULL,
    line            TEXT COLLATE "C" NOT NULL,
    case_id         TEXT COLLATE "C" NOT NULL,
    event_seq       BIGINT NOT NULL,
    kind            TEXT   NOT NULL,
    channel         TEXT   NOT NULL,
    recipient       TEXT COLLATE "C" NOT NULL,
    handler         TEXT   NOT NULL,
    matter          TEXT   NOT NULL,
    message_zh      TEXT   NOT NULL,
    message_en      TEXT   NOT NULL,
    params          TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    destination     TEXT,
    provider_ref    TEXT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    read_at         BIGINT,
    UNIQUE (case_id, event_seq, channel, recipient)
);
-- The sender's claim: what is due, oldest first.
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at, id)
    WHERE next_attempt_at IS NOT NULL;
-- A person's message centre, newest first.
CREATE INDEX notification_deliveries_recipient
    ON notification_deliveries (recipient, channel, created_at, id);
-- Staff's delivery records of a subtree and line, newest first.
CREATE INDEX notification_deliveries_scope
    ON notification_deliveries (tenant_path, line, created_at, id);

-- Which channels a person wants besides the message centre (always on).
-- A platform table: a person's own choice, read and written for them.
CREATE TABLE notification_preferences (
    account_id TEXT COLLATE "C" NOT NULL,
    channel    TEXT   NOT NULL,
    enabled    BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, channel)
);

GRANT SELECT ON notification_deliveries TO civitas_app;
-- Staff send a failed delivery again (store::retry_failed), in their scope.
GRANT UPDATE (status, attempts, next_attempt_at) ON notification_deliveries TO civitas_app;
ALTER TABLE notification_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON notification_deliveries
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
