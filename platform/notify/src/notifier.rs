//! The notifier: fans the outbox out and sends what is due, on every node
//! (the claims are `SKIP LOCKED`, so nodes share the work).

use std::sync::Arc;
use std::time::Duration;

use civitas_storage::Database;
use civitas_tenancy::{SharedTree, TenantPath};
use civitas_vault::{Keyring, mask};

use crate::mail::Mailer;
use crate::sms::{SmsError, SmsGateway};
use crate::store::{self, Claimed, FanOut, Offered, Outcome};
use crate::{Channel, NotifyError, Status, Templates};

/// Names the office that acted, for the notice's `{authority}`.
pub trait Places: Send + Sync {
    /// The name of `line` at `tenant_path` (浦东新区·民政).
    fn authority(&self, tenant_path: &str, line: &str) -> String;
}

impl Places for SharedTree {
    fn authority(&self, tenant_path: &str, line: &str) -> String {
        let tree = self.current();
        let place = TenantPath::parse(tenant_path)
            .ok()
            .and_then(|p| tree.get(&p).map(|t| t.name.clone()))
            .unwrap_or_else(|| tenant_path.to_owned());
        match tree.lines().iter().find(|l| l.code == line) {
            Some(l) => format!("{place}·{}", l.name),
            None => place,
        }
    }
}

/// Deliveries one sending round takes and sends at once: few enough for a
/// provider's rate limit, enough to keep a slow gateway busy.
const SEND_BATCH: u32 = 16;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// The fan-out.
    pub fanned_out: FanOut,
    /// Deliveries the gateways accepted.
    pub sent: usize,
    /// Deliveries that failed and wait for a retry.
    pub retrying: usize,
    /// Deliveries given up.
    pub failed: usize,
}

/// Sends notices: the outbox in, the gateways out.
#[derive(Clone)]
pub struct Notifier {
    db: Database,
    keyring: Arc<Keyring>,
    templates: Arc<Templates>,
    places: Arc<dyn Places>,
    sms: Option<SmsGateway>,
    mail: Option<Mailer>,
    lease: i64,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("sms", &self.sms.is_some())
            .field("mail", &self.mail.is_some())
            .finish()
    }
}

impl Notifier {
    /// A notifier on `db`, opening contact data with `keyring`, sending
    /// SMS and mail where a gateway is given.
    pub fn new(
        db: Database,
        keyring: Arc<Keyring>,
        templates: Arc<Templates>,
        places: Arc<dyn Places>,
        sms: Option<SmsGateway>,
        mail: Option<Mailer>,
    ) -> Notifier {
        Notifier {
            db,
            keyring,
            templates,
            places,
            sms,
            mail,
            lease: crate::retry::LEASE_MICROS,
        }
    }

    /// The same notifier, leasing a delivery for `lease` while it sends:
    /// give it at least twice the gateways' timeouts.
    pub fn with_lease(mut self, lease: Duration) -> Notifier {
        self.lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
        self
    }

    /// The channels this notifier sends on.
    pub fn offered(&self) -> Offered {
        Offered {
            sms: self.sms.is_some(),
            email: self.mail.is_some(),
        }
    }

    /// Fans the outbox out, then sends what is due at `now` (Unix
    /// microseconds).
    pub async fn run_once(&self, now: i64) -> Result<Round, NotifyError> {
        let fanned_out = store::fan_out(
            &self.db,
            &self.templates,
            self.places.as_ref(),
            self.offered(),
            now,
        )
        .await?;
        let mut round = Round {
            fanned_out,
            ..Round::default()
        };
        loop {
            let claimed =
                store::claim_due(&self.db, now, SEND_BATCH, self.lease, self.offered()).await?;
            let n = claimed.len();
            // One person's notices on one channel go out in the order they
            // were made; different people's and channels' at once. Each
            // delivery's lease is renewed as its turn comes, so a queue never
            // outlives it, and one taken over meanwhile is left to its new
            // sender.
            let mut queues: Vec<Vec<Claimed>> = Vec::new();
            for delivery in claimed {
                match queues.iter_mut().find(|q| {
                    q.first().is_some_and(|f| {
                        f.recipient == delivery.recipient && f.channel == delivery.channel
                    })
                }) {
                    Some(queue) => queue.push(delivery),
                    None => queues.push(vec![delivery]),
                }
            }
            let mut sending = tokio::task::JoinSet::new();
            for mut queue in queues {
                // Oldest news first (ids made in one instant do not order).
                queue.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                let notifier = self.clone();
                sending.spawn(async move { notifier.send_queue(queue).await });
            }
            // Every queue runs to its end, whatever another's fate: a
            // queue stopped halfway would leave its deliveries leased and
            // in doubt.
            let mut failure = None;
            while let Some(done) = sending.join_next().await {
                let statuses = match done {
                    Ok(Ok(statuses)) => statuses,
                    Ok(Err(e)) => {
                        failure.get_or_insert(e);
                        continue;
                    }
                    Err(e) => {
                        failure.get_or_insert(NotifyError::Corrupt(format!(
                            "a send task failed: {e}"
                        )));
                        continue;
                    }
                };
                for status in statuses {
                    match status {
                        Status::Sent => round.sent += 1,
                        Status::Failed => round.failed += 1,
                        Status::Pending | Status::Sending => round.retrying += 1,
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
            if n < SEND_BATCH as usize {
                return Ok(round);
            }
        }
    }

    /// Sends one person's deliveries on one channel, in order: each one's
    /// lease renewed before its attempt, its outcome recorded after.
    async fn send_queue(&self, queue: Vec<Claimed>) -> Result<Vec<Status>, NotifyError> {
        let mut done = Vec::with_capacity(queue.len());
        for (turn, delivery) in queue.into_iter().enumerate() {
            // The first was leased a moment ago by the claim; the others
            // have waited their turn.
            let at = chrono::Utc::now().timestamp_micros();
            if turn > 0 && !store::renew_lease(&self.db, &delivery, at + self.lease).await? {
                continue;
            }
            // The whole attempt — provider lookups, the send — ends within
            // half the lease, so nobody takes it over while it may still
            // succeed (lettre bounds only its connect).
            let budget = Duration::from_micros(u64::try_from(self.lease / 2).unwrap_or(0));
            let outcome = match tokio::time::timeout(budget, self.attempt(&delivery)).await {
                Ok(outcome) => outcome,
                Err(_) => failed(
                    None,
                    format!("发送超时 (no answer within {} s)", budget.as_secs()),
                    false,
                ),
            };
            let at = chrono::Utc::now().timestamp_micros();
            match store::finish(&self.db, &delivery, &outcome, at).await? {
                Some(status) => {
                    tracing::info!(
                        delivery = %delivery.id,
                        channel = delivery.channel.as_str(),
                        attempt = delivery.attempt,
                        status = status.as_str(),
                        "notice delivery"
                    );
                    done.push(status);
                }
                // Another sender holds it now; what this attempt learnt is
                // logged (a provider reference matters if both sent).
                None => tracing::warn!(
                    delivery = %delivery.id,
                    channel = delivery.channel.as_str(),
                    attempt = delivery.attempt,
                    outcome = ?outcome,
                    "通知发送结果未记录：租约已被接管 (outcome not recorded: the lease was taken over)"
                ),
            }
        }
        Ok(done)
    }

    /// Every `interval`, a round, until the task is dropped; a failure is
    /// logged and the next round tries again.
    pub async fn run(self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let now = chrono::Utc::now().timestamp_micros();
            match self.run_once(now).await {
                Ok(round) if round != Round::default() => tracing::info!(
                    entries = round.fanned_out.entries,
                    deliveries = round.fanned_out.deliveries,
                    sent = round.sent,
                    retrying = round.retrying,
                    failed = round.failed,
                    "notifications"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "通知发送失败 (notifying failed)"),
            }
        }
    }

    /// One attempt at `delivery`; never an error: what went wrong is the
    /// outcome, recorded with the delivery.
    async fn attempt(&self, delivery: &Claimed) -> Outcome {
        let contact = match civitas_identity::contact_of(
            &self.db,
            &self.keyring,
            &delivery.recipient,
        )
        .await
        {
            Ok(Some(contact)) => contact,
            Ok(None) => return failed(None, "收件账户不存在 (no such account)".into(), true),
            Err(e) => return failed(None, e.to_string(), false),
        };
        match delivery.channel {
            Channel::Sms => {
                let Some(phone) = contact.phone else {
                    return failed(
                        None,
                        "账户未登记手机号码 (the account has no phone number)".into(),
                        true,
                    );
                };
                let Some(gateway) = &self.sms else {
                    return failed(None, "未配置短信网关 (no SMS gateway)".into(), false);
                };
                self.send_sms(gateway, delivery, &phone).await
            }
            Channel::Email => {
                let Some(email) = contact.email else {
                    return failed(
                        None,
                        "账户未登记电子邮箱 (the account has no e-mail address)".into(),
                        true,
                    );
                };
                let Some(mailer) = &self.mail else {
                    return failed(None, "未配置邮件服务 (no mail relay)".into(), false);
                };
                let subject = format!(
                    "办件通知：{} / Case notice: {}",
                    delivery.kind.label_zh(),
                    delivery.kind.label_en()
                );
                let body = format!(
                    "{}\n\n{}\n\n— 此邮件由系统发送，请勿回复。/ Sent by the system; do not reply.\n",
                    delivery.message_zh, delivery.message_en
                );
                match mailer.send(&email, &subject, body, &delivery.id).await {
                    Ok(message_id) => Outcome::Sent {
                        destination: mask::email(&email),
                        provider_ref: message_id,
                    },
                    Err(e) => failed(Some(mask::email(&email)), e.to_string(), e.permanent),
                }
            }
            // Written as sent at fan-out; never due.
            Channel::Site => Outcome::Sent {
                destination: String::new(),
                provider_ref: String::new(),
            },
        }
    }

    async fn send_sms(&self, gateway: &SmsGateway, delivery: &Claimed, phone: &str) -> Outcome {
        let destination = mask::phone(phone);
        if delivery.in_doubt {
            // An earlier attempt may have gone: ask before sending again,
            // on every day since the notice was made (the provider keeps
            // 30 days of details).
            let today = chrono::Utc::now()
                .with_timezone(&store::china())
                .date_naive();
            let made = chrono::DateTime::from_timestamp_micros(delivery.created_at)
                .map_or(today, |t| t.with_timezone(&store::china()).date_naive());
            let first = made.max(today - chrono::Duration::days(29));
            let mut day = today;
            while day >= first {
                let name = day.format("%Y%m%d").to_string();
                match gateway.was_sent(phone, &name, &delivery.id).await {
                    Ok(true) => {
                        return Outcome::Sent {
                            destination,
                            provider_ref: format!("OutId {} ({name})", delivery.id),
                        };
                    }
                    Ok(false) => {}
                    // Unknown: trying later is better than a second message
                    // (and the next attempt asks again).
                    Err(e) => return failed(Some(destination), e.to_string(), false),
                }
                let Some(before) = day.pred_opt() else { break };
                day = before;
            }
        }
        let template = match self.templates.template(delivery.kind) {
            Ok(t) => t.sms_template.clone(),
            Err(e) => return failed(Some(destination), e.to_string(), false),
        };
        match gateway
            .send(phone, &template, &delivery.params, &delivery.id)
            .await
        {
            Ok(biz_id) => Outcome::Sent {
                destination,
                provider_ref: biz_id,
            },
            Err(e) => {
                let permanent = matches!(
                    e,
                    SmsError::Refused {
                        permanent: true,
                        ..
                    }
                );
                failed(Some(destination), e.to_string(), permanent)
            }
        }
    }
}

fn failed(destination: Option<String>, error: String, permanent: bool) -> Outcome {
    Outcome::Failed {
        destination,
        error,
        permanent,
    }
}
