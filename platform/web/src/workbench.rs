//! The staff workbench (`/workbench/`): the inbox (待办) and a case with
//! the step's actions.

use maud::{Markup, html};

use crate::apply::HistoryLine;
use crate::guide::Bilingual;
use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// A task in the inbox.
#[derive(Debug, Clone)]
pub struct Task {
    /// The service's name.
    pub service: Bilingual,
    /// The case's title.
    pub title: String,
    /// The case's page in the workbench.
    pub href: String,
    /// The step it waits at.
    pub step: Bilingual,
    /// Where it waits (the place's name).
    pub place: Bilingual,
    /// When the step is due, if it has a deadline.
    pub due_on: Option<String>,
    /// Days left to it, in its unit (negative: overdue by that many).
    pub days_left: Option<(i64, Msg)>,
    /// Past its due date.
    pub overdue: bool,
}

/// What the inbox shows.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// The tasks, earliest due first.
    pub tasks: Vec<Task>,
    /// Where every task of the filter downloads as a workbook.
    pub export: String,
    /// Whether only overdue tasks are shown.
    pub overdue_only: bool,
    /// The next page, if there is one.
    pub next: Option<String>,
    /// The newest reminders, overdue and supervision notices (提醒、逾期、督办).
    pub notices: Vec<Notice>,
    /// Whether the officer may verify self-registered accounts at the
    /// counter (the inbox links to it).
    pub counter: bool,
    /// The delivery records of the officer's own place.
    pub deliveries: Option<String>,
}

/// The counter's real-name verification (窗口核验): an officer checks the
/// identity document of someone who registered online.
#[derive(Debug, Clone, Default)]
pub struct CounterCheck {
    /// The account's username, as typed.
    pub username: String,
    /// The number on the document, as typed.
    pub number: String,
    /// Whether the document is an enterprise's business licence (else a
    /// resident identity card).
    pub enterprise: bool,
    /// The account just verified, and the other accounts that had claimed
    /// the identity (now disabled).
    pub done: Option<(String, Vec<String>)>,
    /// Why the last check failed (Chinese and English).
    pub error: Option<(String, String)>,
    /// The form token.
    pub csrf: String,
}

/// The counter's verification page.
pub fn counter_check(frame: &Frame, view: &CounterCheck) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            p { a href="/workbench/" { (Msg::Inbox.text(lang)) } }
            h1 { (Msg::CounterCheckTitle.text(lang)) }
            p { (Msg::CounterCheckIntro.text(lang)) }
            @if let Some((username, released)) = &view.done {
                p.notice #counter-done role="status" {
                    (Msg::CounterCheckDone.text(lang)) strong { (username) }
                    @if !released.is_empty() {
                        " " (Msg::CounterCheckReleased.text(lang)) (released.join("、"))
                    }
                }
            }
            @if let Some((zh, en)) = &view.error {
                p.error role="alert" { (lang.pick(zh, en)) }
            }
            form #counter-check .sign-in method="post" action="/workbench/verify-identity" {
                input type="hidden" name="csrf" value=(view.csrf);
                label for="username" { (Msg::Username.text(lang)) }
                input #username name="username" value=(view.username) required
                    autocapitalize="none" spellcheck="false" autocomplete="off";
                fieldset {
                    legend { (Msg::DocumentKind.text(lang)) }
                    label.choice {
                        input type="radio" name="document" value="id-card" checked[!view.enterprise];
                        " " (Msg::IdNumberLabel.text(lang))
                    }
                    label.choice {
                        input type="radio" name="document" value="business-licence" checked[view.enterprise];
                        " " (Msg::CreditCodeLabel.text(lang))
                    }
                }
                label for="number" { (Msg::DocumentNumber.text(lang)) }
                input #number name="number" value=(view.number) required minlength="18" maxlength="18"
                    autocapitalize="characters" spellcheck="false" autocomplete="off";
                button.button type="submit" { (Msg::CounterCheckButton.text(lang)) }
            }
        },
    )
}

/// A notification to the officer's place.
#[derive(Debug, Clone)]
pub struct Notice {
    /// When (local time).
    pub at: String,
    /// What it says.
    pub message: Bilingual,
    /// Whether it is a supervision (督办) or overdue notice.
    pub urgent: bool,
    /// The case's page.
    pub href: String,
}

/// The search box of the workbench.
fn search_box(lang: Lang, q: &str) -> Markup {
    html! {
        form.search role="search" method="get" action="/workbench/search" {
            label for="q" { (Msg::CaseSearchLabel.text(lang)) }
            input #q type="search" name="q" value=(q) maxlength="200" required;
            button.button type="submit" { (Msg::SearchButton.text(lang)) }
        }
    }
}

/// A case found by the workbench's search.
#[derive(Debug, Clone)]
pub struct Found {
    /// The case's title.
    pub title: String,
    /// Its page.
    pub href: String,
    /// Its state, as staff read it.
    pub state: Option<Msg>,
    /// Where it is.
    pub place: Bilingual,
    /// When it was filed (local date).
    pub filed: String,
}

/// The workbench's search results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// What was searched for.
    pub q: String,
    /// How many cases match.
    pub total: u64,
    /// The hits, best first.
    pub hits: Vec<Found>,
    /// The next page.
    pub next: Option<String>,
    /// Why nothing could be searched (search unavailable, a bad query).
    pub error: Option<(String, String)>,
}

/// Cases the officer may see that match a query: by title, applicant's
/// name, content or number.
pub fn search(frame: &Frame, view: &SearchResults) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            p { a href="/workbench/" { (Msg::Inbox.text(lang)) } }
            h1 { (Msg::CaseSearch.text(lang)) }
            (search_box(lang, &view.q))
            @if let Some((zh, en)) = &view.error {
                p.error role="alert" { (lang.pick(zh, en)) }
            } @else {
                p role="status" { (Msg::CasesFound.text(lang)) (view.total) }
                @if !view.hits.is_empty() {
                    ul.cases #found {
                        @for h in &view.hits {
                            li {
                                a href=(h.href) { (h.title) }
                                br;
                                span.line {
                                    @if let Some(state) = h.state { (state.text(lang)) " · " }
                                    (lang.pick(&h.place.zh, &h.place.en)) " · " (h.filed)
                                }
                            }
                        }
                    }
                }
                @if let Some(next) = &view.next { p { a href=(next) { (Msg::NextPage.text(lang)) } } }
            }
        },
    )
}

/// The inbox: every task the officer's grants open, earliest due first,
/// with the search box and the newest notices.
pub fn inbox(frame: &Frame, view: &Inbox) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::Inbox.text(lang)) }
            @if view.counter {
                p { a #counter-link href="/workbench/verify-identity" { (Msg::CounterCheckTitle.text(lang)) } }
            }
            @if let Some(href) = &view.deliveries {
                p { a #deliveries-link href=(href) { (Msg::DeliveryRecords.text(lang)) } }
            }
            (search_box(lang, ""))
            form.filters method="get" action="/workbench/" {
                label.choice {
                    input type="checkbox" name="overdue" value="true" checked[view.overdue_only];
                    " " (Msg::OverdueOnly.text(lang))
                }
                button.button type="submit" { (Msg::Filter.text(lang)) }
            }
            @if !view.tasks.is_empty() { (crate::layout::export_link(lang, &view.export, Msg::ExportXlsx)) }
            @if view.tasks.is_empty() {
                p role="status" { (Msg::InboxEmpty.text(lang)) }
            } @else {
                div.table role="region" tabindex="0" aria-label=(Msg::Inbox.text(lang)) {
                    table.tasks {
                        caption.visually-hidden { (Msg::Inbox.text(lang)) }
                        thead {
                            tr {
                                th scope="col" { (Msg::Matter.text(lang)) }
                                th scope="col" { (Msg::CurrentStep.text(lang)) }
                                th scope="col" { (Msg::Place.text(lang)) }
                                th scope="col" { (Msg::DueOn.text(lang)) }
                                th scope="col" { (Msg::DaysLeft.text(lang)) }
                            }
                        }
                        tbody {
                            @for t in &view.tasks {
                                tr.overdue[t.overdue] {
                                    td {
                                        a href=(t.href) { (t.title) }
                                        br;
                                        span.line { (lang.pick(&t.service.zh, &t.service.en)) }
                                    }
                                    td { (lang.pick(&t.step.zh, &t.step.en)) }
                                    td { (lang.pick(&t.place.zh, &t.place.en)) }
                                    td { (t.due_on.as_deref().unwrap_or("—")) }
                                    td {
                                        @match t.days_left {
                                            Some((n, unit)) if n < 0 => {
                                                strong.badge.required { (Msg::Overdue.text(lang)) }
                                                " " (-n) (unit.text(lang))
                                            }
                                            Some((n, unit)) => { (n) (unit.text(lang)) }
                                            None => "—",
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
            @if !view.notices.is_empty() {
                section.panel #notices aria-labelledby="notices-title" {
                    h2 #notices-title { (Msg::Notices.text(lang)) }
                    ul.history {
                        @for n in &view.notices {
                            li {
                                time { (n.at) } " "
                                @if n.urgent { strong.badge.required { (Msg::Urgent.text(lang)) } " " }
                                a href=(n.href) { (lang.pick(&n.message.zh, &n.message.en)) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A module's decision on the case, as staff read it.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The hook that asked (`eligibility`).
    pub hook: String,
    /// `module@version`.
    pub module: String,
    /// What it decided, when it says (`eligible`).
    pub eligible: Option<bool>,
    /// Its reasons, as it wrote them.
    pub reasons: Vec<String>,
    /// The rest of its answer worth reading (a band, an amount), each
    /// labelled by the service's output schema.
    pub figures: Vec<(Bilingual, String)>,
}

/// An action the officer may take at the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAct {
    /// Approve (to the next step, or to the end).
    Approve,
    /// Return for correction, with a reason.
    Return,
    /// Refuse, with a reason.
    Reject,
    /// Transfer to another place (转办), with a reason.
    Transfer,
    /// Stop the statutory clock (中止), with a reason.
    Pause,
    /// Restart it.
    Resume,
    /// Extend the statutory limit (延期), by days, with a reason.
    Extend,
}

impl StepAct {
    /// The action's name in the workflow.
    pub fn as_str(self) -> &'static str {
        match self {
            StepAct::Approve => "approve",
            StepAct::Return => "return",
            StepAct::Reject => "reject",
            StepAct::Transfer => "transfer",
            StepAct::Pause => "pause",
            StepAct::Resume => "resume",
            StepAct::Extend => "extend",
        }
    }

    fn label(self) -> Msg {
        match self {
            StepAct::Approve => Msg::ActApprove,
            StepAct::Return => Msg::ActReturn,
            StepAct::Reject => Msg::ActReject,
            StepAct::Transfer => Msg::ActTransfer,
            StepAct::Pause => Msg::ActPause,
            StepAct::Resume => Msg::ActResume,
            StepAct::Extend => Msg::ActExtend,
        }
    }

    /// Whether the action needs a reason.
    fn needs_reason(self) -> bool {
        !matches!(self, StepAct::Approve | StepAct::Resume)
    }
}

/// An action form as it was sent.
#[derive(Debug, Clone, Default)]
pub struct ActDraft {
    /// The action (`return`, `extend`…).
    pub act: String,
    /// The reason written.
    pub reason: String,
    /// The transfer target chosen.
    pub to_tenant: String,
    /// The days asked for.
    pub days: String,
}

/// The application's personal data on a staff member's case page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reveal {
    /// The application holds none.
    Nothing,
    /// Shown masked; the staff member's role may not see it in full.
    Masked,
    /// Shown masked; a form posting to `action` (with a reason) shows it
    /// in full, audited.
    Offered {
        /// Where the form posts.
        action: String,
        /// The reason typed for a reveal that was refused, shown again.
        draft: String,
    },
    /// Shown in full for this reason, recorded in the audit trail.
    Shown(String),
}

/// A case as staff see it.
#[derive(Debug, Clone)]
pub struct StaffCase {
    /// The service's name.
    pub service: Bilingual,
    /// The case's title.
    pub title: String,
    /// The case number.
    pub case_id: String,
    /// Its state.
    pub state: Msg,
    /// The current step.
    pub step: Option<Bilingual>,
    /// When the step is due.
    pub step_due: Option<String>,
    /// When the statutory limit falls.
    pub limit_due: Option<String>,
    /// Past a deadline.
    pub overdue: bool,
    /// Escalated to the level above (督办).
    pub supervised: bool,
    /// The application, field by field (label, answer, and whether the
    /// answer is personal data shown masked).
    pub data: Vec<(Bilingual, String, bool)>,
    /// Whether the application's personal data may be, or was, shown in
    /// full.
    pub reveal: Reveal,
    /// The modules' decisions.
    pub decisions: Vec<Decision>,
    /// The history, oldest first.
    pub history: Vec<HistoryLine>,
    /// What the officer may do now (none: not theirs, or finished).
    pub actions: Vec<StepAct>,
    /// Where the actions post.
    pub action: String,
    /// The form token.
    pub csrf: String,
    /// The case's version.
    pub version: i64,
    /// Why what was just asked was not done.
    pub error: Option<(String, String)>,
    /// A countersign step's actors (会签): each role and place, and
    /// whether it has signed.
    pub countersign: Vec<(String, Bilingual, bool)>,
    /// A refused action's form as it was sent: the action, its reason,
    /// its transfer target and its days, shown again.
    pub draft: Option<ActDraft>,
    /// Where a transfer may send the case: path and name.
    pub transfer_targets: Vec<(String, Bilingual)>,
    /// The statutory limit's extensions: days used, days allowed in all,
    /// and the limit's unit.
    pub extension: Option<(i64, i64, Msg)>,
    /// The supporting documents uploaded.
    pub documents: Vec<crate::apply::DocumentLink>,
    /// The official documents issued for the case (sealed PDFs).
    pub issued: Vec<crate::sealed::Issued>,
    /// The forms to issue the documents still due (staff who may issue, a
    /// closed case).
    pub issue_forms: Vec<crate::sealed::IssueForm>,
    /// The applicant's rating of the finished case: score and comment.
    pub rating: Option<(i64, String)>,
}

/// A case in the workbench.
pub fn case(frame: &Frame, c: &StaffCase) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            p { a href="/workbench/" { (Msg::Inbox.text(lang)) } }
            h1 { (c.title) }
            @if let Some((zh, en)) = &c.error {
                p.error role="alert" { (Msg::NotDone.text(lang)) (lang.pick(zh, en)) }
            }
            section.panel {
                dl.fields {
                    dt { (Msg::Matter.text(lang)) } dd { (lang.pick(&c.service.zh, &c.service.en)) }
                    dt { (Msg::CaseNumber.text(lang)) } dd #case-id { (c.case_id) }
                    dt { (Msg::CaseState.text(lang)) }
                    dd #case-state {
                        (c.state.text(lang))
                        @if c.overdue { " " strong.badge.required { (Msg::Overdue.text(lang)) } }
                        @if c.supervised { " " strong.badge.required { (Msg::Supervised.text(lang)) } }
                    }
                    @if let Some(step) = &c.step { dt { (Msg::CurrentStep.text(lang)) } dd { (lang.pick(&step.zh, &step.en)) } }
                    @if let Some(due) = &c.step_due { dt { (Msg::StepDueOn.text(lang)) } dd { (due) } }
                    @if let Some(due) = &c.limit_due { dt { (Msg::LimitDueOn.text(lang)) } dd { (due) } }
                }
            }
            section.panel aria-labelledby="application" {
                h2 #application { (Msg::Application.text(lang)) }
                dl.fields {
                    @for (label, value, masked) in &c.data {
                        dt { (lang.pick(&label.zh, &label.en)) }
                        dd {
                            (value)
                            @if *masked { " " span.badge.masked { (Msg::MaskedBadge.text(lang)) } }
                        }
                    }
                }
                @match &c.reveal {
                    Reveal::Nothing => {}
                    Reveal::Masked => { p.hint #personal-note { (Msg::PersonalMaskedByRole.text(lang)) } }
                    Reveal::Offered { action, draft } => {
                        form #reveal method="post" action=(action) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            p.hint { (Msg::PersonalMaskedReveal.text(lang)) }
                            label for="reveal-reason" { (Msg::RevealReason.text(lang)) }
                            textarea #reveal-reason name="reason" required maxlength="500" rows="2" { (draft) }
                            button.button.quiet type="submit" { (Msg::RevealSubmit.text(lang)) }
                        }
                    }
                    Reveal::Shown(reason) => {
                        p.notice #personal-shown role="status" { (Msg::PersonalShown.text(lang)) (reason) }
                    }
                }
            }
            @if let Some((score, comment)) = &c.rating {
                section.panel { (crate::apply::rating(lang, Msg::ApplicantRating, *score, comment)) }
            }
            @if !c.countersign.is_empty() {
                section.panel #countersign aria-labelledby="countersign-title" {
                    h2 #countersign-title { (Msg::Countersign.text(lang)) }
                    p { (Msg::CountersignIntro.text(lang)) }
                    ul {
                        @for (role, place, signed) in &c.countersign {
                            li {
                                (lang.pick(&place.zh, &place.en)) " · " code { (role) } " — "
                                @if *signed { strong { (Msg::Signed.text(lang)) } } @else { (Msg::NotSigned.text(lang)) }
                            }
                        }
                    }
                }
            }
            (crate::apply::documents(lang, &c.documents, None))
            (crate::sealed::section(lang, &c.issued, &c.issue_forms, None))
            @if !c.decisions.is_empty() {
                section.panel aria-labelledby="decisions" {
                    h2 #decisions { (Msg::ModuleDecisions.text(lang)) }
                    @for d in &c.decisions {
                        p {
                            strong { (d.hook) } " · " code { (d.module) }
                            @match d.eligible {
                                Some(true) => { " · " (Msg::Eligible.text(lang)) }
                                Some(false) => { " · " (Msg::NotEligible.text(lang)) }
                                None => {}
                            }
                        }
                        @if !d.figures.is_empty() {
                            dl.figures {
                                @for (label, value) in &d.figures {
                                    dt { (lang.pick(&label.zh, &label.en)) }
                                    dd { (value) }
                                }
                            }
                        }
                        @if !d.reasons.is_empty() {
                            ul { @for r in &d.reasons { li { (r) } } }
                        }
                    }
                }
            }
            @if !c.actions.is_empty() {
                section.panel aria-labelledby="act" {
                    h2 #act { (Msg::Handle.text(lang)) }
                    @for act in &c.actions {
                        @let draft = c.draft.as_ref().filter(|d| d.act == act.as_str());
                        form.act method="post" action=(c.action) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            input type="hidden" name="version" value=(c.version);
                            input type="hidden" name="do" value=(act.as_str());
                            @if *act == StepAct::Transfer {
                                div.field {
                                    label for="to-tenant" { (Msg::TransferTo.text(lang)) }
                                    select #to-tenant name="to_tenant" required {
                                        @for (path, name) in &c.transfer_targets {
                                            option value=(path) selected[draft.is_some_and(|d| &d.to_tenant == path)] { (lang.pick(&name.zh, &name.en)) " (" (path) ")" }
                                        }
                                    }
                                }
                            }
                            @if *act == StepAct::Extend {
                                @if let Some((used, allowed, unit)) = c.extension {
                                    p.hint { (Msg::ExtensionsSoFar.text(lang)) (used) " / " (allowed) (unit.text(lang)) }
                                    div.field {
                                        label for="extend-days" { (Msg::ExtendByDays.text(lang)) }
                                        input #extend-days type="number" name="days" min="1" max=((allowed - used).max(1)) value=(draft.map_or("1", |d| d.days.as_str())) required;
                                    }
                                }
                            }
                            @if act.needs_reason() {
                                div.field {
                                    label for=(format!("reason-{}", act.as_str())) { (Msg::Reason.text(lang)) span.required aria-hidden="true" { " *" } }
                                    input id=(format!("reason-{}", act.as_str())) type="text" name="reason" value=(draft.map_or("", |d| d.reason.as_str())) required maxlength="500";
                                }
                            }
                            button.button.secondary[*act != StepAct::Approve] type="submit" { (act.label().text(lang)) }
                        }
                    }
                }
            }
            @if !c.history.is_empty() {
                section.panel aria-labelledby="history" {
                    h2 #history { (Msg::History.text(lang)) }
                    ol.history {
                        @for h in &c.history {
                            li {
                                time { (h.at) } " " strong { (h.what.text(lang)) }
                                @if let Some(step) = &h.step { "（" (lang.pick(&step.zh, &step.en)) "）" }
                                @if let Some(reason) = &h.reason { p.reason { (Msg::Reason.text(lang)) "：" (reason) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The parts of a module's `output` that its service's `output_schema`
/// titles (`中文 / English`), in the schema's `required` order, then the
/// rest by name: scalars as [`shown`], lists of words joined by `、`, lists
/// of records (warnings) each as its titled parts joined by ` · ` — a
/// choice by its title — and the records by `；`. What the schema leaves
/// untitled (`eligible` and `reasons`, shown apart; a derived age; a rule's
/// code) is not listed.
pub fn figures(
    output_schema: &serde_json::Value,
    output: &serde_json::Value,
    lang: Lang,
) -> Vec<(Bilingual, String)> {
    let Some(properties) = output_schema.get("properties").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    let required: Vec<&str> = output_schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort_by_key(|n| {
        (
            required
                .iter()
                .position(|r| r == n)
                .unwrap_or(required.len()),
            n.as_str(),
        )
    });
    names
        .into_iter()
        .filter_map(|name| {
            let title = properties[name].get("title")?.as_str()?;
            let text = match output.get(name)? {
                serde_json::Value::Array(items) if items.is_empty() => "—".to_owned(),
                serde_json::Value::Array(items) if items.iter().all(|i| i.is_object()) => items
                    .iter()
                    .map(|i| record(properties[name].get("items"), i, lang))
                    .collect::<Vec<_>>()
                    .join("；"),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| shown(i, lang))
                    .collect::<Vec<_>>()
                    .join("、"),
                serde_json::Value::Object(_) => return None,
                serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => grouped(&n.to_string()),
                scalar => shown(scalar, lang),
            };
            Some((Bilingual::parse(title), text))
        })
        .collect()
}

/// A record of a list as its titled parts, in the item schema's
/// `required` order: a choice (`oneOf` of `const` and `title`) by its
/// title in `lang`, anything else as [`shown`].
fn record(schema: Option<&serde_json::Value>, item: &serde_json::Value, lang: Lang) -> String {
    let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.as_object())
    else {
        return shown(item, lang);
    };
    let order: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    let mut names: Vec<&String> = properties
        .iter()
        .filter(|(_, p)| p.get("title").is_some())
        .map(|(n, _)| n)
        .collect();
    names.sort_by_key(|n| {
        (
            order.iter().position(|r| r == n).unwrap_or(order.len()),
            n.as_str(),
        )
    });
    names
        .into_iter()
        .filter_map(|name| {
            let value = item.get(name)?;
            let choice = properties[name]
                .get("oneOf")
                .and_then(|o| o.as_array())
                .and_then(|o| o.iter().find(|c| c.get("const") == Some(value)))
                .and_then(|c| c.get("title"))
                .and_then(|t| t.as_str())
                .map(Bilingual::parse);
            Some(match choice {
                Some(title) if lang == Lang::En && !title.en.is_empty() => title.en,
                Some(title) => title.zh,
                None => shown(value, lang),
            })
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A whole number's digits in groups of three (`70000` → `70,000`), as
/// amounts are read.
fn grouped(digits: &str) -> String {
    let (sign, digits) = digits.split_at(usize::from(digits.starts_with('-')));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The same value as an applicant wrote it, for staff: yes/no in words.
pub fn shown(value: &serde_json::Value, lang: Lang) -> String {
    match value {
        serde_json::Value::Bool(true) => Msg::Yes.text(lang).to_owned(),
        serde_json::Value::Bool(false) => Msg::No.text(lang).to_owned(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_of_records_shows_each_records_titled_parts_and_choices_by_their_title() {
        let schema = json!({
            "required": ["warnings"],
            "properties": {"warnings": {"title": "预警 / Warnings", "items": {
                "required": ["rule", "name", "level", "reason"],
                "properties": {
                    "rule": {"type": "string"},
                    "name": {"title": "风险点 / Risk point"},
                    "level": {"title": "等级 / Level", "oneOf": [
                        {"const": "red", "title": "红色 / Red"}, {"const": "blue", "title": "蓝色 / Blue"}]},
                    "reason": {"title": "原因 / Reason"}
                }}}}
        });
        let output = json!({"warnings": [
            {"rule": "wages-not-paid", "name": "未及时发放工资", "level": "red", "reason": "45 天无代发工资"},
            {"rule": "deposit-expiring", "name": "保证金临期", "level": "blue", "reason": "20 天后到期"}
        ]});
        let shown = figures(&schema, &output, Lang::Zh);
        assert_eq!(
            shown[0].1,
            "未及时发放工资 · 红色 · 45 天无代发工资；保证金临期 · 蓝色 · 20 天后到期"
        );
        assert_eq!(
            figures(&schema, &output, Lang::En)[0].1.split(" · ").nth(1),
            Some("Red")
        );
    }

    #[test]
    fn amounts_are_grouped_in_threes() {
        for (digits, shown) in [
            ("0", "0"),
            ("999", "999"),
            ("1000", "1,000"),
            ("70000", "70,000"),
            ("1000000", "1,000,000"),
            ("-12345", "-12,345"),
        ] {
            assert_eq!(grouped(digits), shown);
        }
    }

    #[test]
    fn figures_are_the_titled_parts_of_an_answer_in_the_schemas_order() {
        let schema = json!({
            "required": ["level_label", "band_max_yuan", "reasons"],
            "properties": {
                "level_label": {"title": "裁量阶次 / Discretion level"},
                "band_max_yuan": {"title": "建议罚款上限（元） / Proposed fine up to (yuan)"},
                "aggravating": {"title": "从重情节 / Aggravating circumstances"},
                "mitigating": {"title": "从轻情节 / Mitigating circumstances"},
                "may_waive": {"title": "可以不予处罚 / May be waived"},
                "reasons": {},
                "age": {"type": "integer"},
                "nested": {"title": "不显示 / Not shown"}
            }
        });
        let output = json!({
            "level_label": "从轻处罚", "band_max_yuan": 70000, "aggravating": [],
            "mitigating": ["初次违法", "及时改正"], "may_waive": true, "reasons": ["…"], "age": 72,
            "nested": {"a": 1}
        });
        let shown: Vec<(String, String)> = figures(&schema, &output, Lang::Zh)
            .into_iter()
            .map(|(label, text)| (label.zh, text))
            .collect();
        assert_eq!(
            shown,
            [
                ("裁量阶次".to_owned(), "从轻处罚".to_owned()),
                ("建议罚款上限（元）".into(), "70,000".into()),
                ("从重情节".into(), "—".into()),
                ("可以不予处罚".into(), "是".into()),
                ("从轻情节".into(), "初次违法、及时改正".into()),
            ]
        );
        assert_eq!(figures(&json!({}), &output, Lang::Zh), Vec::new());
    }
}
