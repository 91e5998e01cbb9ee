//! The notification tables: fan-out of the outbox into deliveries, the
//! sender's claims and outcomes, the message centre, staff's delivery
//! records and preferences.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use civitas_storage::{Database, TenantTx, with_connection};
use civitas_workflow::timers::NotificationCursor;
use serde::Serialize;

use crate::templates::{Templates, Values, fill};
use crate::{Channel, Kind, NotifyError, Places, Status, retry};

/// The most rows one page of messages or deliveries holds.
pub const MAX_PAGE: u32 = 200;

/// Entries one fan-out transaction takes.
const FAN_OUT_BATCH: u32 = 100;

/// Which channels besides the message centre the platform can send on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offered {
    /// An SMS gateway is configured.
    pub sms: bool,
    /// An SMTP relay is configured.
    pub email: bool,
}

impl Offered {
    /// Whether `channel` is offered (the message centre always is).
    pub fn offers(self, channel: Channel) -> bool {
        match channel {
            Channel::Site => true,
            Channel::Sms => self.sms,
            Channel::Email => self.email,
        }
    }
}

/// What a fan-out round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Outbox entries taken.
    pub entries: usize,
    /// Deliveries written.
    pub deliveries: usize,
}

/// China Standard Time, in which notices name the day.
pub(crate) fn china() -> FixedOffset {
    const CST: Option<FixedOffset> = FixedOffset::east_opt(8 * 3600);
    match CST {
        Some(offset) => offset,
        None => unreachable!(),
    }
}

/// The day of `micros`, China time (`2026-12-06`).
pub fn china_date(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.with_timezone(&china()).format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct EventRow {
    action: String,
    to_step: Option<String>,
    reason: Option<String>,
    actor: String,
    at: i64,
    tenant_path: String,
    title: String,
    line: String,
    applicant: Option<String>,
}

/// Turns outbox entries into deliveries until the outbox is empty (or
/// another node holds the rest): per entry, one delivery per channel the
/// recipient gets, and the entry deleted, in one transaction per batch.
pub async fn fan_out(
    db: &Database,
    templates: &Templates,
    places: &dyn Places,
    offered: Offered,
    now: i64,
) -> Result<FanOut, NotifyError> {
    let mut total = FanOut::default();
    loop {
        let round = fan_out_batch(db, templates, places, offered, now).await?;
        total.entries += round.entries;
        total.deliveries += round.deliveries;
        if round.entries < FAN_OUT_BATCH as usize {
            return Ok(total);
        }
    }
}

async fn fan_out_batch(
    db: &Database,
    templates: &Templates,
    places: &dyn Places,
    offered: Offered,
    now: i64,
) -> Result<FanOut, NotifyError> {
    let mut tx = db.begin_platform().await?;
    let skip_locked = tx.backend().lock_for_update_skip_locked();
    let sql = format!(
        "SELECT seq, case_id, event_seq FROM notification_outbox ORDER BY seq LIMIT {FAN_OUT_BATCH}{skip_locked}"
    );
    let entries: Vec<(i64, String, i64)> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await?
    });
    let mut done = FanOut {
        entries: entries.len(),
        deliveries: 0,
    };
    for (seq, case_id, event_seq) in entries {
        let event: Option<EventRow> = with_connection!(tx.connection(), c => {
            sqlx::query_as(
                "SELECT e.action, e.to_step, e.reason, e.actor, e.at, e.tenant_path, c.title, c.line, c.applicant \
                 FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.case_id = $1 AND e.seq = $2",
            )
            .bind(case_id.clone())
            .bind(event_seq)
            .fetch_optional(&mut *c)
            .await?
        });
        if let Some(event) = event {
            done.deliveries += deliver_event(
                &mut tx, templates, places, offered, now, &case_id, event_seq, event,
            )
            .await?;
        } else {
            // History is never deleted: an entry without its event is a
            // fault to look at, not a notice to invent.
            tracing::warn!(
                case_id,
                event_seq,
                "通知发件箱条目无对应案件记录 (outbox entry without its case event)"
            );
        }
        with_connection!(tx.connection(), c => {
            sqlx::query("DELETE FROM notification_outbox WHERE seq = $1")
                .bind(seq)
                .execute(&mut *c)
                .await?;
        });
    }
    tx.commit().await?;
    Ok(done)
}

#[allow(clippy::too_many_arguments)]
async fn deliver_event(
    tx: &mut civitas_storage::PlatformTx,
    templates: &Templates,
    places: &dyn Places,
    offered: Offered,
    now: i64,
    case_id: &str,
    event_seq: i64,
    event: EventRow,
) -> Result<usize, NotifyError> {
    let Some(kind) = Kind::of_event(&event.action, event.to_step.as_deref()) else {
        return Ok(0);
    };
    // Cases opened by staff (an inspection's penalty case) have no
    // applicant account to tell.
    let Some(recipient) = event.applicant else {
        return Ok(0);
    };
    type Contact = (Option<String>, Option<String>);
    let contact: Option<Contact> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT phone, email FROM accounts WHERE id = $1")
            .bind(recipient.clone())
            .fetch_optional(&mut *c)
            .await?
    });
    let Some((phone, email)) = contact else {
        return Ok(0);
    };
    let handler: Option<String> = with_connection!(tx.connection(), c => {
        sqlx::query_scalar("SELECT display_name FROM accounts WHERE username = $1")
            .bind(event.actor.clone())
            .fetch_optional(&mut *c)
            .await?
    });
    let handler = handler.unwrap_or_else(|| event.actor.clone());
    let turned: Vec<(String, bool)> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT channel, enabled FROM notification_preferences WHERE account_id = $1")
            .bind(recipient.clone())
            .fetch_all(&mut *c)
            .await?
    });
    let wants = |channel: Channel| {
        turned
            .iter()
            .find(|(c, _)| c == channel.as_str())
            .is_none_or(|(_, on)| *on)
    };
    let values = Values {
        title: event.title.clone(),
        case: case_id.to_owned(),
        authority: places.authority(&event.tenant_path, &event.line),
        reason: event.reason.clone().unwrap_or_default(),
        date: china_date(event.at),
    };
    let template = templates.template(kind)?;
    let message_zh = fill(&template.zh, &values);
    let message_en = fill(&template.en, &values);
    let params = values.sms_params().to_string();
    let mut written = 0;
    for channel in Channel::ALL {
        let reachable = match channel {
            Channel::Site => true,
            Channel::Sms => phone.is_some(),
            Channel::Email => email.is_some(),
        };
        if !(offered.offers(channel) && reachable && (channel == Channel::Site || wants(channel))) {
            continue;
        }
        // The message centre has it as soon as it is written.
        let (status, next, sent_at) = match channel {
            Channel::Site => (Status::Sent, None, Some(now)),
            _ => (Status::Pending, Some(now), None),
        };
        let n = with_connection!(tx.connection(), c => {
            sqlx::query(
                "INSERT INTO notification_deliveries (id, tenant_path, line, case_id, event_seq, kind, channel, \
                 recipient, handler, matter, message_zh, message_en, params, status, attempts, next_attempt_at, \
                 created_at, sent_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 0, $15, $16, $17) \
                 ON CONFLICT (case_id, event_seq, channel, recipient) DO NOTHING",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(event.tenant_path.clone())
            .bind(event.line.clone())
            .bind(case_id.to_owned())
            .bind(event_seq)
            .bind(kind.as_str())
            .bind(channel.as_str())
            .bind(recipient.clone())
            .bind(handler.clone())
            .bind(event.title.clone())
            .bind(message_zh.clone())
            .bind(message_en.clone())
            .bind(params.clone())
            .bind(status.as_str())
            .bind(next)
            .bind(event.at)
            .bind(sent_at)
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        written += n as usize;
    }
    Ok(written)
}

/// A delivery taken by a sender: committed as `sending` before the
/// gateway is called.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery's id (the SMS `OutId`, the e-mail's `Message-ID`).
    pub id: String,
    /// Its channel (SMS or e-mail).
    pub channel: Channel,
    /// The recipient's account id.
    pub recipient: String,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// An earlier attempt may have reached the provider (a sender died
    /// while sending, a call failed or timed out, staff sent it again): the
    /// SMS channel asks the provider before sending.
    pub in_doubt: bool,
    /// What it tells.
    pub kind: Kind,
    /// The case.
    pub case_id: String,
    /// Chinese text.
    pub message_zh: String,
    /// English text.
    pub message_en: String,
    /// The SMS template's variables (JSON object).
    pub params: String,
    /// The case's title.
    pub matter: String,
    /// When the delivery was made (the event's time).
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct ClaimRow {
    id: String,
    channel: String,
    recipient: String,
    status: String,
    attempts: i32,
    kind: String,
    case_id: String,
    message_zh: String,
    message_en: String,
    params: String,
    matter: String,
    created_at: i64,
    last_error: Option<String>,
}

/// Leases up to `batch` deliveries on the channels `offered` that are due
/// at `now` (pending ones whose time came, and `sending` ones whose lease
/// ran out) for `lease` microseconds from the clock's now (a round that
/// took long leases from when it claims, not from when it began). A node
/// without a channel's gateway leaves that channel's deliveries to a node
/// with one.
pub async fn claim_due(
    db: &Database,
    now: i64,
    batch: u32,
    lease: i64,
    offered: Offered,
) -> Result<Vec<Claimed>, NotifyError> {
    let channels: Vec<String> = [Channel::Sms, Channel::Email]
        .into_iter()
        .filter(|c| offered.offers(*c))
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let lease_end = chrono::Utc::now().timestamp_micros().max(now) + lease;
    let mut tx = db.begin_platform().await?;
    let skip_locked = tx.backend().lock_for_update_skip_locked();
    let sql = format!(
        "SELECT id, channel, recipient, status, attempts, kind, case_id, message_zh, message_en, params, matter, \
         created_at, last_error FROM notification_deliveries WHERE next_attempt_at <= $1 \
         AND channel IN ({}) ORDER BY next_attempt_at, id LIMIT {}{skip_locked}",
        channels.join(", "),
        batch.max(1)
    );
    let rows: Vec<ClaimRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).fetch_all(&mut *c).await?
    });
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let corrupt = |what: &str| NotifyError::Corrupt(format!("delivery {}: {what}", row.id));
        let channel = Channel::parse(&row.channel).ok_or_else(|| corrupt("channel"))?;
        let kind = Kind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?;
        let status = Status::parse(&row.status).ok_or_else(|| corrupt("status"))?;
        with_connection!(tx.connection(), c => {
            sqlx::query(
                "UPDATE notification_deliveries SET status = 'sending', attempts = attempts + 1, \
                 next_attempt_at = $2 WHERE id = $1",
            )
            .bind(row.id.clone())
            .bind(lease_end)
            .execute(&mut *c)
            .await?;
        });
        claimed.push(Claimed {
            id: row.id,
            channel,
            recipient: row.recipient,
            attempt: row.attempts + 1,
            in_doubt: status == Status::Sending || row.attempts > 0 || row.last_error.is_some(),
            kind,
            case_id: row.case_id,
            message_zh: row.message_zh,
            message_en: row.message_en,
            params: row.params,
            matter: row.matter,
            created_at: row.created_at,
        });
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Renews `claimed`'s lease until `until` as its turn to be sent comes;
/// false if another sender took it over meanwhile (its attempt counted).
pub async fn renew_lease(
    db: &Database,
    claimed: &Claimed,
    until: i64,
) -> Result<bool, NotifyError> {
    let mut tx = db.begin_platform().await?;
    let n = with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE notification_deliveries SET next_attempt_at = $2 \
             WHERE id = $1 AND status = 'sending' AND attempts = $3",
        )
        .bind(claimed.id.clone())
        .bind(until)
        .bind(claimed.attempt)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(n == 1)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The gateway accepted it.
    Sent {
        /// Where it went, masked.
        destination: String,
        /// The provider's reference (SMS BizId, the e-mail's Message-ID).
        provider_ref: String,
    },
    /// It failed and may succeed later (or was given up after the last
    /// attempt).
    Failed {
        /// Where it was to go, masked, if known.
        destination: Option<String>,
        /// What went wrong.
        error: String,
        /// No later attempt can succeed (an invalid number).
        permanent: bool,
    },
}

/// Records the outcome of `claimed`'s attempt: the status written, or none
/// if the lease was taken over meanwhile (another attempt was counted) and
/// nothing was written.
pub async fn finish(
    db: &Database,
    claimed: &Claimed,
    outcome: &Outcome,
    now: i64,
) -> Result<Option<Status>, NotifyError> {
    let (status, next, destination, provider_ref, error, sent_at) = match outcome {
        Outcome::Sent {
            destination,
            provider_ref,
        } => (
            Status::Sent,
            None,
            Some(destination.clone()),
            Some(provider_ref.clone()),
            None,
            Some(now),
        ),
        Outcome::Failed {
            destination,
            error,
            permanent,
        } => {
            let next = if *permanent {
                None
            } else {
                retry::backoff_micros(claimed.attempt).map(|wait| now + wait)
            };
            let status = if next.is_some() {
                Status::Pending
            } else {
                Status::Failed
            };
            (
                status,
                next,
                destination.clone(),
                None,
                Some(error.clone()),
                None,
            )
        }
    };
    let mut tx = db.begin_platform().await?;
    let written = with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE notification_deliveries SET status = $2, next_attempt_at = $3, \
             destination = COALESCE($4, destination), provider_ref = $5, last_error = $6, sent_at = $7 \
             WHERE id = $1 AND status = 'sending' AND attempts = $8",
        )
        .bind(claimed.id.clone())
        .bind(status.as_str())
        .bind(next)
        .bind(destination)
        .bind(provider_ref)
        .bind(error)
        .bind(sent_at)
        .bind(claimed.attempt)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok((written == 1).then_some(status))
}

/// One delivery record: 办理人 (handler), 办理时间 (created_at), 办理状态
/// (kind, and the delivery's status), 办理事项 (matter).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Its id.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The place the case was at.
    pub tenant_path: String,
    /// The line.
    pub line: String,
    /// What the notice tells.
    pub kind: Kind,
    /// The channel.
    pub channel: Channel,
    /// The recipient's account id.
    pub recipient: String,
    /// 办理人: who acted.
    pub handler: String,
    /// 办理事项: the case's title.
    pub matter: String,
    /// The notice, Chinese.
    pub message_zh: String,
    /// The notice, English.
    pub message_en: String,
    /// Where the delivery stands.
    pub status: Status,
    /// Attempts made.
    pub attempts: i32,
    /// Where it went, masked (`138****5678`); none in the message centre.
    pub destination: Option<String>,
    /// The gateway's reference.
    pub provider_ref: Option<String>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// 办理时间: when the case changed, RFC 3339.
    #[serde(serialize_with = "civitas_workflow::rfc3339::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    /// When the gateway accepted it (the message centre: when written).
    #[serde(serialize_with = "civitas_workflow::rfc3339::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<i64>,
    /// When the next attempt is due (a lease's end while sending).
    #[serde(serialize_with = "civitas_workflow::rfc3339::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<i64>,
    /// Message centre: when the recipient read it.
    #[serde(serialize_with = "civitas_workflow::rfc3339::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, case_id, tenant_path, line, event_seq, kind, channel, recipient, handler, \
    matter, message_zh, message_en, status, attempts, destination, provider_ref, last_error, created_at, sent_at, \
    next_attempt_at, read_at";

/// [`DELIVERY_COLUMNS`] of the joined table `o`, derived once.
static JOINED_DELIVERY_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    DELIVERY_COLUMNS
        .split(',')
        .map(|c| format!("o.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
});

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    case_id: String,
    tenant_path: String,
    line: String,
    event_seq: i64,
    kind: String,
    channel: String,
    recipient: String,
    handler: String,
    matter: String,
    message_zh: String,
    message_en: String,
    status: String,
    attempts: i32,
    destination: Option<String>,
    provider_ref: Option<String>,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    next_attempt_at: Option<i64>,
    read_at: Option<i64>,
}

impl DeliveryRow {
    fn decode(self) -> Result<(i64, Delivery), NotifyError> {
        let corrupt = |what: &str| NotifyError::Corrupt(format!("delivery {}: {what}", self.id));
        let kind = Kind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?;
        let channel = Channel::parse(&self.channel).ok_or_else(|| corrupt("channel"))?;
        let status = Status::parse(&self.status).ok_or_else(|| corrupt("status"))?;
        Ok((
            self.event_seq,
            Delivery {
                id: self.id,
                case_id: self.case_id,
                tenant_path: self.tenant_path,
                line: self.line,
                kind,
                channel,
                recipient: self.recipient,
                handler: self.handler,
                matter: self.matter,
                message_zh: self.message_zh,
                message_en: self.message_en,
                status,
                attempts: self.attempts,
                destination: self.destination,
                provider_ref: self.provider_ref,
                last_error: self.last_error,
                created_at: self.created_at,
                sent_at: self.sent_at,
                next_attempt_at: self.next_attempt_at,
                read_at: self.read_at,
            },
        ))
    }
}

/// A message in a person's message centre: the notice and how each other
/// channel carried it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    /// The message centre's record.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The same notice's SMS and e-mail deliveries.
    pub channels: Vec<Delivery>,
}

/// Which messages a page holds.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only unread ones.
    pub unread: bool,
    /// After this cursor.
    pub after: Option<NotificationCursor>,
    /// Page size (1–[`MAX_PAGE`]).
    pub limit: u32,
}

/// A page of a person's messages, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    /// The messages.
    pub messages: Vec<Message>,
    /// Unread messages in all.
    pub unread: i64,
    /// The next page's cursor; none on the last page.
    pub next: Option<String>,
}

/// A page of the message centre of the account `recipient` (a person
/// reading their own notices), newest first.
///
/// Two statements whatever the page size: the page with each notice's
/// other channels, and the unread count.
pub async fn messages_of(
    db: &Database,
    recipient: &str,
    filter: &MessageFilter,
) -> Result<MessagePage, NotifyError> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let mut clauses = vec!["recipient = $1".to_owned(), "channel = 'site'".to_owned()];
    if filter.unread {
        clauses.push("read_at IS NULL".into());
    }
    if filter.after.is_some() {
        clauses.push("(created_at, id) < ($2, $3)".into());
    }
    // The page (one row more, to know whether another follows), then the
    // same notices' SMS and e-mail rows, each found by the unique key:
    // one round trip rather than one per message. CROSS JOIN keeps SQLite
    // from scanning the table for an automatic index on the page instead;
    // to PostgreSQL it is a join like any other.
    let other_columns = &*JOINED_DELIVERY_COLUMNS;
    let sql = format!(
        "WITH page AS (SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE {} \
         ORDER BY created_at DESC, id DESC LIMIT {}) \
         SELECT {DELIVERY_COLUMNS} FROM page UNION ALL SELECT {other_columns} FROM page \
         CROSS JOIN notification_deliveries o WHERE o.case_id = page.case_id AND o.event_seq = page.event_seq \
         AND o.recipient = page.recipient AND o.channel <> 'site'",
        clauses.join(" AND "),
        limit + 1
    );
    let mut tx = db.begin_platform_read().await?;
    let rows: Vec<DeliveryRow> = with_connection!(tx.connection(), c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(recipient.to_owned());
        if let Some(after) = &filter.after {
            query = query.bind(after.created_at()).bind(after.id().to_owned());
        }
        query.fetch_all(&mut *c).await?
    });
    let mut page = Vec::new();
    let mut others: BTreeMap<(String, i64), Vec<Delivery>> = BTreeMap::new();
    for row in rows {
        let (event_seq, delivery) = row.decode()?;
        if delivery.channel == Channel::Site {
            page.push((event_seq, delivery));
        } else {
            others
                .entry((delivery.case_id.clone(), event_seq))
                .or_default()
                .push(delivery);
        }
    }
    // A union keeps no order: the page's is restored here.
    page.sort_by(|(_, a), (_, b)| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let next = if page.len() > limit as usize {
        page.truncate(limit as usize);
        page.last()
            .map(|(_, d)| NotificationCursor::at(d.created_at, d.id.clone()).to_string())
    } else {
        None
    };
    let messages = page
        .into_iter()
        .map(|(event_seq, delivery)| {
            let mut channels = others
                .remove(&(delivery.case_id.clone(), event_seq))
                .unwrap_or_default();
            channels.sort_by(|a, b| a.channel.as_str().cmp(b.channel.as_str()));
            Message { delivery, channels }
        })
        .collect();
    let unread: i64 = with_connection!(tx.connection(), c => {
        sqlx::query_scalar(
            "SELECT count(*) FROM notification_deliveries WHERE recipient = $1 AND channel = 'site' AND read_at IS NULL",
        )
        .bind(recipient.to_owned())
        .fetch_one(&mut *c)
        .await?
    });
    Ok(MessagePage {
        messages,
        unread,
        next,
    })
}

/// Marks the message `id` of `recipient` read (the first reading's time
/// stays). False if they have no such message.
pub async fn mark_read(
    db: &Database,
    recipient: &str,
    id: &str,
    now: i64,
) -> Result<bool, NotifyError> {
    let mut tx = db.begin_platform().await?;
    let n = with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE notification_deliveries SET read_at = COALESCE(read_at, $3) \
             WHERE id = $1 AND recipient = $2 AND channel = 'site'",
        )
        .bind(id.to_owned())
        .bind(recipient.to_owned())
        .bind(now)
        .execute(&mut *c)
        .await?
        .rows_affected()
    });
    tx.commit().await?;
    Ok(n == 1)
}

/// Which delivery records a page holds, besides being in the scope's
/// subtree.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only these lines (none: every line).
    pub lines: Option<Vec<String>>,
    /// Only this case's.
    pub case_id: Option<String>,
    /// Only this channel's.
    pub channel: Option<Channel>,
    /// Only in this status.
    pub status: Option<Status>,
    /// After this cursor.
    pub after: Option<NotificationCursor>,
    /// Page size (1–[`MAX_PAGE`]).
    pub limit: u32,
}

/// A page of delivery records, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// The records.
    pub deliveries: Vec<Delivery>,
    /// The next page's cursor; none on the last page.
    pub next: Option<String>,
}

/// A page of the delivery records of cases in `tx`'s scope (staff), newest
/// first. The subtree's range, the lines, the time and the id are the
/// index `notification_deliveries_scope`'s columns.
pub async fn deliveries(
    tx: &mut TenantTx,
    filter: &DeliveryFilter,
) -> Result<DeliveryPage, NotifyError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let mut binds: Vec<Bind> = vec![Bind::Text(lower.to_owned()), Bind::Text(upper)];
    let mut clauses = vec!["tenant_path >= $1 AND tenant_path < $2".to_owned()];
    if let Some(lines) = &filter.lines {
        if lines.is_empty() {
            return Ok(DeliveryPage {
                deliveries: Vec::new(),
                next: None,
            });
        }
        let mut marks = Vec::new();
        for line in lines {
            binds.push(Bind::Text(line.clone()));
            marks.push(format!("${}", binds.len()));
        }
        clauses.push(format!("line IN ({})", marks.join(", ")));
    }
    if let Some(case_id) = &filter.case_id {
        binds.push(Bind::Text(case_id.clone()));
        clauses.push(format!("case_id = ${}", binds.len()));
    }
    if let Some(channel) = filter.channel {
        binds.push(Bind::Text(channel.as_str().to_owned()));
        clauses.push(format!("channel = ${}", binds.len()));
    }
    if let Some(status) = filter.status {
        binds.push(Bind::Text(status.as_str().to_owned()));
        clauses.push(format!("status = ${}", binds.len()));
    }
    if let Some(after) = &filter.after {
        binds.push(Bind::Int(after.created_at()));
        binds.push(Bind::Text(after.id().to_owned()));
        clauses.push(format!(
            "(created_at, id) < (${}, ${})",
            binds.len() - 1,
            binds.len()
        ));
    }
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries WHERE {} \
         ORDER BY created_at DESC, id DESC LIMIT {}",
        clauses.join(" AND "),
        limit + 1
    );
    let rows: Vec<DeliveryRow> = with_connection!(tx.connection(), c => {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for bind in &binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query.fetch_all(&mut *c).await?
    });
    let mut deliveries = rows
        .into_iter()
        .map(|r| r.decode().map(|(_, d)| d))
        .collect::<Result<Vec<_>, _>>()?;
    let next = if deliveries.len() > limit as usize {
        deliveries.truncate(limit as usize);
        deliveries
            .last()
            .map(|d| NotificationCursor::at(d.created_at, d.id.clone()).to_string())
    } else {
        None
    };
    Ok(DeliveryPage { deliveries, next })
}

enum Bind {
    Text(String),
    Int(i64),
}

/// What asking to send a delivery again did.
#[derive(Debug, Clone)]
pub enum Retried {
    /// Queued to be sent at once, for one more attempt (its attempts keep
    /// counting).
    Queued(Box<Delivery>),
    /// It is not given up (pending, being sent, or sent): nothing changed.
    NotFailed(Status),
    /// No such delivery in the scope and lines.
    NotFound,
}

/// Sends the failed delivery `id` again (a gateway that was down, a number
/// corrected): queued now for one more attempt (attempts keep counting, so
/// a sender that lost its lease long ago cannot mistake the new attempt
/// for its own), asking the SMS provider first whether an earlier one
/// went; audited
/// `notification.retry` by `actor` in its tenant's chain, in one
/// transaction. Only in `tx`'s subtree and, if given, `lines`.
pub async fn retry_failed(
    tx: &mut TenantTx,
    id: &str,
    lines: Option<&[String]>,
    actor: &str,
    now: i64,
) -> Result<Retried, NotifyError> {
    let (lower, upper) = tx.scope().path().subtree_range();
    let lower = lower.to_owned();
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries \
         WHERE id = $1 AND tenant_path >= $2 AND tenant_path < $3{}",
        tx.backend().lock_for_update()
    );
    let row: Option<DeliveryRow> = with_connection!(tx.connection(), c => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .bind(lower.clone())
            .bind(upper.clone())
            .fetch_optional(&mut *c)
            .await?
    });
    let Some(row) = row else {
        return Ok(Retried::NotFound);
    };
    let (_, delivery) = row.decode()?;
    if lines.is_some_and(|lines| !lines.contains(&delivery.line)) {
        return Ok(Retried::NotFound);
    }
    if delivery.status != Status::Failed {
        return Ok(Retried::NotFailed(delivery.status));
    }
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "UPDATE notification_deliveries SET status = 'pending', next_attempt_at = $2 \
             WHERE id = $1 AND status = 'failed'",
        )
        .bind(id.to_owned())
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    let tenant = civitas_tenancy::TenantPath::parse(&delivery.tenant_path)
        .map_err(|e| NotifyError::Corrupt(format!("delivery {id}: tenant path: {e}")))?;
    civitas_audit::record(
        tx,
        &tenant,
        &civitas_audit::NewEvent {
            actor: actor.to_owned(),
            action: "notification.retry".to_owned(),
            target: format!("delivery:{id}"),
            detail: serde_json::json!({
                "case": delivery.case_id,
                "channel": delivery.channel.as_str(),
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
            }),
        },
    )
    .await?;
    Ok(Retried::Queued(Box::new(Delivery {
        status: Status::Pending,
        next_attempt_at: Some(now),
        ..delivery
    })))
}

/// A person's channel choices: the channels they turned off (the message
/// centre cannot be).
pub async fn preferences(
    db: &Database,
    account_id: &str,
) -> Result<BTreeMap<Channel, bool>, NotifyError> {
    let mut tx = db.begin_platform_read().await?;
    let rows: Vec<(String, bool)> = with_connection!(tx.connection(), c => {
        sqlx::query_as("SELECT channel, enabled FROM notification_preferences WHERE account_id = $1")
            .bind(account_id.to_owned())
            .fetch_all(&mut *c)
            .await?
    });
    let mut choices: BTreeMap<Channel, bool> =
        Channel::ALL.into_iter().map(|c| (c, true)).collect();
    for (channel, enabled) in rows {
        let channel = Channel::parse(&channel).ok_or_else(|| {
            NotifyError::Corrupt(format!("preference of {account_id}: channel {channel}"))
        })?;
        choices.insert(channel, enabled);
    }
    choices.insert(Channel::Site, true);
    Ok(choices)
}

/// Turns `channel` on or off for `account_id` (not the message centre:
/// false is returned and nothing written).
pub async fn set_preference(
    db: &Database,
    account_id: &str,
    channel: Channel,
    enabled: bool,
    now: i64,
) -> Result<bool, NotifyError> {
    if channel == Channel::Site {
        return Ok(false);
    }
    let mut tx = db.begin_platform().await?;
    with_connection!(tx.connection(), c => {
        sqlx::query(
            "INSERT INTO notification_preferences (account_id, channel, enabled, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, channel) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        )
        .bind(account_id.to_owned())
        .bind(channel.as_str())
        .bind(enabled)
        .bind(now)
        .execute(&mut *c)
        .await?;
    });
    tx.commit().await?;
    Ok(true)
}

/// What waits: outbox entries not fanned out, deliveries not yet sent.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
pub struct Backlog {
    /// Outbox entries.
    pub outbox: i64,
    /// Deliveries pending or being sent.
    pub unsent: i64,
}

/// The backlog, for readiness and the operator.
pub async fn backlog(db: &Database) -> Result<Backlog, NotifyError> {
    let mut tx = db.begin_platform_read().await?;
    // Both counts read a small table or a partial index only.
    let (outbox, unsent): (i64, i64) = with_connection!(tx.connection(), c => {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM notification_outbox), \
             (SELECT count(*) FROM notification_deliveries WHERE next_attempt_at IS NOT NULL)",
        )
        .fetch_one(&mut *c)
        .await?
    });
    Ok(Backlog { outbox, unsent })
}
