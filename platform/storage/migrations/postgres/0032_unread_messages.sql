-- A person's unread messages: the message centre counts them on every read
-- and lists them when asked for unread only. Without this, the count walked
-- every message the person ever had (notification_deliveries_recipient then
-- a filter on read_at), which grows without bound for a busy applicant; the
-- partial index holds the unread ones only, in the order the page reads
-- (channel among the columns too, so SQLite, weighing equal equality
-- constraints, takes it over notification_deliveries_recipient).
CREATE INDEX notification_deliveries_unread
    ON notification_deliveries (recipient, channel, created_at, id)
    WHERE channel = 'site' AND read_at IS NULL;
