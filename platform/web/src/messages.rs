//! The message centre (消息中心) of the portal, and the workbench's
//! delivery records: what a person was told about their cases, on which
//! channel, with 办理人, 办理时间, 办理状态 and 办理事项.

use maud::{Markup, html};

use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// A text in both languages.
#[derive(Debug, Clone, Default)]
pub struct Both {
    /// Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Both {
    /// Both texts.
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Both {
        Both {
            zh: zh.into(),
            en: en.into(),
        }
    }

    fn text(&self, lang: Lang) -> &str {
        lang.pick(&self.zh, &self.en)
    }
}

/// How one channel carried a notice.
#[derive(Debug, Clone)]
pub struct Carried {
    /// 短信, 电子邮件.
    pub channel: Both,
    /// 已发送, 待发送, 发送失败.
    pub status: Both,
    /// Whether it was given up.
    pub failed: bool,
    /// Where it went, masked.
    pub destination: Option<String>,
}

/// One message in the centre.
#[derive(Debug, Clone)]
pub struct MessageView {
    /// Its id (the element's anchor).
    pub id: String,
    /// 办理状态: what happened.
    pub status: Both,
    /// 办理事项: the case's title.
    pub matter: String,
    /// 办理人.
    pub handler: String,
    /// 办理时间, China time.
    pub at: String,
    /// The notice.
    pub text: Both,
    /// Whether the person read it.
    pub read: bool,
    /// Where the read form posts (unread ones).
    pub read_action: String,
    /// The case's page.
    pub case_href: Option<String>,
    /// SMS and e-mail.
    pub carried: Vec<Carried>,
}

/// One channel in the settings form.
#[derive(Debug, Clone)]
pub struct ChannelChoice {
    /// `site`, `sms`, `email`.
    pub channel: &'static str,
    /// Its name.
    pub name: Both,
    /// Whether the platform sends on it.
    pub offered: bool,
    /// Whether the person wants it.
    pub enabled: bool,
    /// The masked number or address given.
    pub destination: Option<String>,
}

/// The message centre page.
#[derive(Debug, Clone)]
pub struct MessageCentre {
    /// The messages, newest first.
    pub messages: Vec<MessageView>,
    /// How many are unread.
    pub unread: i64,
    /// The next page, if any.
    pub next: Option<String>,
    /// The export link.
    pub export: String,
    /// The settings.
    pub channels: Vec<ChannelChoice>,
    /// Where the settings form posts.
    pub settings_action: String,
    /// The form token.
    pub csrf: String,
    /// Saved, or what was wrong with the last change.
    pub outcome: Option<Result<(), Both>>,
}

/// The portal's message centre: the messages, then the settings.
pub fn message_centre(frame: &Frame, view: &MessageCentre) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::MessageCentre.text(lang)) }
            p #unread role="status" { (Msg::UnreadCount.text(lang)) strong { (view.unread) } }
            @match &view.outcome {
                Some(Ok(())) => p.notice role="status" { (Msg::SettingsSaved.text(lang)) },
                Some(Err(why)) => p.error role="alert" { (Msg::NotDone.text(lang)) (why.text(lang)) },
                None => {},
            }
            @if view.messages.is_empty() {
                p { (Msg::NoMessagesYet.text(lang)) }
            } @else {
                (crate::layout::export_link(lang, &view.export, Msg::ExportXlsx))
                ul.cards.messages {
                    @for m in &view.messages {
                        li.card.unread[!m.read] id=(format!("message-{}", m.id)) {
                            h2 {
                                (m.status.text(lang))
                                @if !m.read { " " strong.badge { (Msg::UnreadBadge.text(lang)) } }
                            }
                            p { (m.text.text(lang)) }
                            dl.fields {
                                dt { (Msg::MatterName.text(lang)) }
                                dd {
                                    @match &m.case_href {
                                        Some(href) => a href=(href) { (m.matter) },
                                        None => (m.matter),
                                    }
                                }
                                dt { (Msg::Handler.text(lang)) } dd { (m.handler) }
                                dt { (Msg::HandledAt.text(lang)) } dd { (m.at) }
                                @if !m.carried.is_empty() {
                                    dt { (Msg::CarriedBy.text(lang)) }
                                    dd {
                                        @for (i, c) in m.carried.iter().enumerate() {
                                            @if i > 0 { "；" }
                                            (c.channel.text(lang)) " "
                                            @if c.failed { strong.badge.required { (c.status.text(lang)) } }
                                            @else { (c.status.text(lang)) }
                                            @if let Some(d) = &c.destination { "（" (d) "）" }
                                        }
                                    }
                                }
                            }
                            @if !m.read {
                                form method="post" action=(m.read_action) {
                                    input type="hidden" name="csrf" value=(view.csrf);
                                    button.button.secondary type="submit" { (Msg::MarkRead.text(lang)) }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &view.next {
                    p { a href=(next) { (Msg::NextPage.text(lang)) } }
                }
            }
            section.panel #settings aria-labelledby="settings-title" {
                h2 #settings-title { (Msg::NotifySettings.text(lang)) }
                p.hint { (Msg::NotifySettingsHint.text(lang)) }
                form method="post" action=(view.settings_action) {
                    input type="hidden" name="csrf" value=(view.csrf);
                    @for c in view.channels.iter().filter(|c| c.channel != "site") {
                        @let (field, label, kind, auto) = if c.channel == "sms" {
                            ("phone", Msg::PhoneNumber, "tel", "tel")
                        } else {
                            ("email", Msg::EmailAddress, "email", "email")
                        };
                        div.field {
                            label for=(field) { (label.text(lang)) }
                            input id=(field) name=(field) type=(kind) autocomplete=(auto)
                                aria-describedby=(format!("{field}-now"));
                            small.hint id=(format!("{field}-now")) {
                                (Msg::CurrentlyGiven.text(lang))
                                (c.destination.as_deref().unwrap_or(Msg::NoneGiven.text(lang)))
                            }
                            // A channel the platform does not send on is
                            // shown off, whatever the person chose.
                            label.choice {
                                input type="checkbox" name=(format!("{}_enabled", c.channel)) value="true"
                                    checked[c.enabled && c.offered] disabled[!c.offered];
                                " " (Msg::ReceiveBy.text(lang)) (c.name.text(lang))
                                @if !c.offered { (Msg::NotOffered.text(lang)) }
                            }
                        }
                    }
                    button.button type="submit" { (Msg::SaveSettings.text(lang)) }
                }
            }
        },
    )
}

/// One delivery record in the workbench.
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    /// 办理时间.
    pub at: String,
    /// 办理事项.
    pub matter: String,
    /// The case's page on the workbench.
    pub case_href: String,
    /// 办理状态.
    pub status: Both,
    /// 办理人.
    pub handler: String,
    /// The channel.
    pub channel: Both,
    /// The delivery's status.
    pub delivery: Both,
    /// Whether it was given up.
    pub failed: bool,
    /// Attempts made.
    pub attempts: i32,
    /// Where it went, masked.
    pub destination: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// Where the "send again" form posts (failed ones).
    pub retry: Option<String>,
}

/// The workbench's delivery records of a place.
#[derive(Debug, Clone)]
pub struct DeliveryRecords {
    /// The rows, newest first.
    pub rows: Vec<DeliveryRow>,
    /// The next page, if any.
    pub next: Option<String>,
    /// The export link.
    pub export: String,
    /// The form token.
    pub csrf: String,
    /// A delivery was just queued again.
    pub done: Option<bool>,
}

/// The delivery records page.
pub fn delivery_records(frame: &Frame, view: &DeliveryRecords) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::DeliveryRecords.text(lang)) }
            p.hint { (Msg::DeliveryRecordsHint.text(lang)) }
            @if view.done.is_some() {
                p.notice role="status" { (Msg::RetryQueued.text(lang)) }
            }
            @if view.rows.is_empty() {
                p role="status" { (Msg::NoDeliveries.text(lang)) }
            } @else {
                (crate::layout::export_link(lang, &view.export, Msg::ExportXlsx))
                div.table role="region" tabindex="0" aria-label=(Msg::DeliveryRecords.text(lang)) {
                    table.deliveries {
                        caption.visually-hidden { (Msg::DeliveryRecords.text(lang)) }
                        thead {
                            tr {
                                th scope="col" { (Msg::HandledAt.text(lang)) }
                                th scope="col" { (Msg::MatterName.text(lang)) }
                                th scope="col" { (Msg::NewsStatus.text(lang)) }
                                th scope="col" { (Msg::Handler.text(lang)) }
                                th scope="col" { (Msg::ChannelName.text(lang)) }
                                th scope="col" { (Msg::DeliveryState.text(lang)) }
                                th scope="col" { (Msg::SentTo.text(lang)) }
                                th scope="col" { (Msg::AttemptsMade.text(lang)) }
                                th scope="col" { (Msg::LastError.text(lang)) }
                            }
                        }
                        tbody {
                            @for r in &view.rows {
                                tr.overdue[r.failed] {
                                    td { (r.at) }
                                    td { a href=(r.case_href) { (r.matter) } }
                                    td { (r.status.text(lang)) }
                                    td { (r.handler) }
                                    td { (r.channel.text(lang)) }
                                    td {
                                        @if r.failed { strong.badge.required { (r.delivery.text(lang)) } }
                                        @else { (r.delivery.text(lang)) }
                                    }
                                    td { (r.destination.as_deref().unwrap_or("—")) }
                                    td { @if r.attempts > 0 { (r.attempts) } @else { "—" } }
                                    td {
                                        (r.error.as_deref().unwrap_or("—"))
                                        @if let Some(action) = &r.retry {
                                            form method="post" action=(action) {
                                                input type="hidden" name="csrf" value=(view.csrf);
                                                button.button.secondary type="submit" { (Msg::SendAgain.text(lang)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &view.next {
                    p { a href=(next) { (Msg::NextPage.text(lang)) } }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        Frame {
            lang: Lang::Zh,
            title: "通知发送记录".into(),
            place: None,
            switch_href: "?lang=en".into(),
            visitor: crate::layout::Visitor::Anonymous {
                return_to: "/workbench/".into(),
            },
            scripts: &[],
        }
    }

    fn row(failed: bool) -> DeliveryRow {
        DeliveryRow {
            at: "2026-12-06 10:00".into(),
            matter: "助餐补贴申请".into(),
            case_href: "/workbench/t/x/cases/c1".into(),
            status: Both::new("退回补正", "Returned"),
            handler: "张伟".into(),
            channel: Both::new("短信", "SMS"),
            delivery: Both::new(
                if failed { "发送失败" } else { "已发送" },
                if failed { "Failed" } else { "Sent" },
            ),
            failed,
            attempts: 1,
            destination: Some("139****5678".into()),
            error: failed.then(|| "isv.MOBILE_NUMBER_ILLEGAL".into()),
            retry: failed.then(|| "/workbench/t/x/deliveries/d1/retry".into()),
        }
    }

    #[test]
    fn only_a_failed_delivery_offers_to_be_sent_again() {
        let view = DeliveryRecords {
            rows: vec![row(true), row(false)],
            next: None,
            export: "/workbench/t/x/deliveries/export".into(),
            csrf: "token".into(),
            done: None,
        };
        let html = delivery_records(&frame(), &view).into_string();
        assert_eq!(html.matches("重新发送").count(), 1, "{html}");
        assert!(html.contains(r#"action="/workbench/t/x/deliveries/d1/retry""#));
        assert!(html.contains("isv.MOBILE_NUMBER_ILLEGAL"));
        assert!(html.contains("139****5678"));
    }
}
