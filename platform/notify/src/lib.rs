//! Notifications of case progress (消息中心): what an applicant is told when
//! their case moves, over the in-site message centre, SMS and e-mail, with a
//! delivery record per message and channel.
//!
//! The flow, and why nothing is lost or sent twice:
//!
//! 1. **Outbox.** A trigger on `case_events` writes an entry to
//!    `notification_outbox` for every event that is news to the applicant
//!    (submitted, moved on, concluded, returned, …), inside the transaction
//!    that changes the case: committed with it, rolled back with it.
//! 2. **Fan-out** ([`store::fan_out`]). The notifier reads entries (`FOR
//!    UPDATE SKIP LOCKED` on PostgreSQL, so nodes share the work), writes one
//!    delivery per channel the recipient gets — the message centre always,
//!    SMS and e-mail where the platform has a gateway, the person a number or
//!    address and has not turned the channel off — and deletes the entry, in
//!    one transaction. The unique key (case, event, channel, recipient) makes
//!    a second fan-out of one entry write nothing.
//! 3. **Sending** ([`Notifier::run_once`]). Due deliveries on the channels
//!    this node sends on are leased (`sending`, attempts + 1, until a lease
//!    end) and committed before a gateway is called; each one's lease is
//!    renewed as its turn comes, a whole attempt ends within half the lease,
//!    and the outcome is written only if the lease is still this sender's
//!    (`attempts` only ever grows). A node that dies while sending leaves a
//!    lease that ends and the next node takes the delivery over. Every SMS
//!    attempt after the first asks the provider first whether the message
//!    with this delivery's id (`OutId`) was accepted — if so it is recorded,
//!    not sent again. An SMTP server takes responsibility for a message only
//!    when it answers the end of its data, so a message cut off before that
//!    is sent again; what is left (the relay took it, its answer never
//!    reached the node) gives a copy with the same `Message-ID`, by which
//!    mail stores drop it.
//! 4. **Retries** ([`retry::backoff_micros`]): a refused or failed attempt is
//!    tried again after 30 s, 2 min, 10 min, 30 min and 2 h, then `failed`
//!    with the last error; a permanent refusal (a number the provider says is
//!    invalid) fails at once.
//!
//! Reading: [`store::messages_of`] (a person's message centre),
//! [`store::deliveries`] (staff: the records of a subtree, tenant-scoped),
//! [`store::preferences`] / [`store::set_preference`]. Staff send a
//! delivery that was given up again with [`store::retry_failed`] (audited).

pub mod mail;
pub mod retry;
pub mod sms;
pub mod store;
pub mod templates;

mod notifier;

pub use notifier::{Notifier, Places, Round};
pub use templates::{Template, Templates, Values};

use serde::Serialize;

/// Why notifying failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] civitas_storage::StorageError),
    /// A statement failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// Opening a recipient's contact data failed.
    #[error(transparent)]
    Contact(#[from] civitas_identity::AdminError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] civitas_audit::AuditError),
    /// The notice texts are missing or wrong.
    #[error("通知模板错误 (notification templates): {0}")]
    Templates(String),
    /// A stored row does not parse.
    #[error("通知记录无法解析 (a stored notification row does not parse): {0}")]
    Corrupt(String),
    /// The gateway settings are wrong.
    #[error("通知渠道配置错误 (notification channel settings): {0}")]
    Settings(String),
}

/// What kind of news a notice brings, from the case event that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// 提交: the application was submitted.
    Submitted,
    /// 补正后重新提交.
    Resubmitted,
    /// A step was passed; the case moved on.
    Advanced,
    /// 办结: concluded, granted.
    Closed,
    /// 退回补正.
    Returned,
    /// 不予通过.
    Rejected,
    /// 移交 another office.
    Transferred,
    /// 中止.
    Paused,
    /// 恢复.
    Resumed,
    /// 延期.
    Extended,
    /// 撤回 by the applicant.
    Withdrawn,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 11] = [
        Kind::Submitted,
        Kind::Resubmitted,
        Kind::Advanced,
        Kind::Closed,
        Kind::Returned,
        Kind::Rejected,
        Kind::Transferred,
        Kind::Paused,
        Kind::Resumed,
        Kind::Extended,
        Kind::Withdrawn,
    ];

    /// The name in templates, records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Submitted => "submitted",
            Kind::Resubmitted => "resubmitted",
            Kind::Advanced => "advanced",
            Kind::Closed => "closed",
            Kind::Returned => "returned",
            Kind::Rejected => "rejected",
            Kind::Transferred => "transferred",
            Kind::Paused => "paused",
            Kind::Resumed => "resumed",
            Kind::Extended => "extended",
            Kind::Withdrawn => "withdrawn",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The news a case event brings its applicant, if any: `approve` with a
    /// next step moved the case on, without one it concluded it; `return`
    /// to the applicant asks for a correction, while a return to an earlier
    /// step of the office's own is no news to them.
    pub fn of_event(action: &str, to_step: Option<&str>) -> Option<Kind> {
        Some(match action {
            "return" if to_step.is_some_and(|s| s != "applicant") => return None,
            "submit" => Kind::Submitted,
            "resubmit" => Kind::Resubmitted,
            "approve" if to_step.is_some() => Kind::Advanced,
            "approve" => Kind::Closed,
            "return" => Kind::Returned,
            "reject" => Kind::Rejected,
            "transfer" => Kind::Transferred,
            "pause" => Kind::Paused,
            "resume" => Kind::Resumed,
            "extend" => Kind::Extended,
            "withdraw" => Kind::Withdrawn,
            _ => return None,
        })
    }

    /// A short Chinese label (办理状态 in the message centre).
    pub fn label_zh(self) -> &'static str {
        match self {
            Kind::Submitted => "已提交",
            Kind::Resubmitted => "已重新提交",
            Kind::Advanced => "审核通过本环节",
            Kind::Closed => "已办结",
            Kind::Returned => "退回补正",
            Kind::Rejected => "不予通过",
            Kind::Transferred => "已移交",
            Kind::Paused => "中止办理",
            Kind::Resumed => "恢复办理",
            Kind::Extended => "期限延长",
            Kind::Withdrawn => "已撤回",
        }
    }

    /// The same, English.
    pub fn label_en(self) -> &'static str {
        match self {
            Kind::Submitted => "Submitted",
            Kind::Resubmitted => "Resubmitted",
            Kind::Advanced => "Step passed",
            Kind::Closed => "Concluded",
            Kind::Returned => "Returned for correction",
            Kind::Rejected => "Not granted",
            Kind::Transferred => "Transferred",
            Kind::Paused => "Paused",
            Kind::Resumed => "Resumed",
            Kind::Extended => "Time limit extended",
            Kind::Withdrawn => "Withdrawn",
        }
    }
}

/// A way a notice reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// 站内消息: the message centre of the portal and workbench (always on).
    Site,
    /// 短信, over the SMS gateway.
    Sms,
    /// 电子邮件, over SMTP.
    Email,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 3] = [Channel::Site, Channel::Sms, Channel::Email];

    /// The name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Site => "site",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// The channel named `name`.
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Chinese name.
    pub fn label_zh(self) -> &'static str {
        match self {
            Channel::Site => "站内消息",
            Channel::Sms => "短信",
            Channel::Email => "电子邮件",
        }
    }

    /// English name.
    pub fn label_en(self) -> &'static str {
        match self {
            Channel::Site => "Message centre",
            Channel::Sms => "SMS",
            Channel::Email => "E-mail",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for its (next) attempt.
    Pending,
    /// Being sent by a node (leased).
    Sending,
    /// Accepted by the gateway (or, in the message centre, delivered).
    Sent,
    /// Given up: the last error says why.
    Failed,
}

impl Status {
    /// The name in records and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Sending,
            Status::Sent,
            Status::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }

    /// Chinese name.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Pending => "待发送",
            Status::Sending => "发送中",
            Status::Sent => "已发送",
            Status::Failed => "发送失败",
        }
    }

    /// English name.
    pub fn label_en(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Sending => "Sending",
            Status::Sent => "Sent",
            Status::Failed => "Failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_moves_a_case_on_or_concludes_it() {
        assert_eq!(
            Kind::of_event("approve", Some("review")),
            Some(Kind::Advanced)
        );
        assert_eq!(Kind::of_event("approve", None), Some(Kind::Closed));
        assert_eq!(
            Kind::of_event("return", Some("applicant")),
            Some(Kind::Returned)
        );
        assert_eq!(Kind::of_event("return", Some("street-review")), None);
        assert_eq!(Kind::of_event("attach", None), None);
        assert_eq!(Kind::of_event("countersign", None), None);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }
}
