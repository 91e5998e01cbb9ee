//! Applying at the portal: the form a service's input schema describes,
//! and the receipt of a filed application.

use maud::{Markup, html};

use crate::guide::{Answer, Bilingual, Field, Problem};
use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// What the application form shows.
#[derive(Debug, Clone, Default)]
pub struct ApplyForm {
    /// The service's name.
    pub service: Bilingual,
    /// The fields to fill in.
    pub fields: Vec<Field>,
    /// The answers given so far (shown again when the form comes back).
    pub answers: Vec<(String, String)>,
    /// Problems with answers, by field name.
    pub problems: Vec<(String, Problem)>,
    /// Why the application was not filed, when that is not one field's
    /// fault (Chinese, English).
    pub refusal: Option<(String, String)>,
    /// Where the form posts.
    pub action: String,
    /// The form token.
    pub csrf: String,
    /// The service's guide.
    pub back: String,
    /// The applicant's account is not verified yet: the page says so
    /// before the form and links to the verification page.
    pub verify_first: bool,
}

impl ApplyForm {
    fn answer(&self, name: &str) -> &str {
        self.answers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn problem(&self, name: &str) -> Option<&Problem> {
        self.problems
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, p)| p)
    }
}

/// The application form. The browser checks what it can (required,
/// ranges, dates); the server checks everything again and names each
/// problem beside its field.
pub fn form(frame: &Frame, view: &ApplyForm) -> Markup {
    let lang = frame.lang;
    html! {
        (page(frame, html! {
            p { a href=(view.back) { (lang.pick(&view.service.zh, &view.service.en)) } }
            h1 { (Msg::ApplyTitle.text(lang)) }
            p { (Msg::ApplyIntro.text(lang)) }
            @if !view.problems.is_empty() {
                p.error role="alert" { (Msg::FixProblems.text(lang)) }
            }
            @if let Some((zh, en)) = &view.refusal {
                p.error role="alert" { (Msg::NotSubmitted.text(lang)) (lang.pick(zh, en)) }
            }
            @if view.verify_first {
                p.notice #verify-first {
                    (Msg::VerifyBeforeApplying.text(lang)) " "
                    a href="/verify-identity" { (Msg::VerifyTitle.text(lang)) }
                }
            }
            (application_form(lang, view, &[], Msg::SubmitApplication))
        }))
    }
}

/// The form itself: the fields, `hidden` values, and a submit button.
fn application_form(
    lang: Lang,
    view: &ApplyForm,
    hidden: &[(&str, String)],
    submit: Msg,
) -> Markup {
    html! {
        form.application method="post" action=(view.action) {
            input type="hidden" name="csrf" value=(view.csrf);
            @for (name, value) in hidden {
                input type="hidden" name=(name) value=(value);
            }
            @for f in &view.fields {
                (field(lang, view, f))
            }
            button.button type="submit" { (submit.text(lang)) }
        }
    }
}

/// Withdrawing an application before it is reviewed.
#[derive(Debug, Clone)]
pub struct Withdrawal {
    /// Where the form posts (the case's page).
    pub action: String,
    /// The form token.
    pub csrf: String,
    /// The case's version the applicant saw.
    pub version: i64,
}

fn field(lang: Lang, view: &ApplyForm, f: &Field) -> Markup {
    let id = format!("f-{}", f.name);
    let hint_id = format!("{id}-problem");
    let problem = view.problem(&f.name);
    let value = view.answer(&f.name);
    let label = lang.pick(&f.label.zh, &f.label.en);
    let described = problem.map(|_| hint_id.clone());
    let invalid = problem.map(|_| "true");
    html! {
        div.field {
            @match &f.answer {
                Answer::YesNo => {
                    fieldset aria-describedby=[&described] {
                        legend { (label) @if f.required { span.required aria-hidden="true" { " *" } } }
                        @for (v, text) in [("true", Msg::Yes), ("false", Msg::No)] {
                            label.choice {
                                input type="radio" name=(f.name) value=(v) checked[value == v] required[f.required];
                                " " (text.text(lang))
                            }
                        }
                    }
                }
                _ => {
                    label for=(id) { (label) @if f.required { span.required aria-hidden="true" { " *" } } }
                    @match &f.answer {
                        Answer::Choice(choices) => {
                            select #(id) name=(f.name) required[f.required] aria-describedby=[&described] aria-invalid=[invalid] {
                                option value="" { (Msg::ChooseOne.text(lang)) }
                                @for (v, text) in choices {
                                    option value=(v) selected[value == v] { (lang.pick(&text.zh, &text.en)) }
                                }
                            }
                        }
                        Answer::Date => {
                            input #(id) type="date" name=(f.name) value=(value) required[f.required]
                                aria-describedby=[&described] aria-invalid=[invalid];
                        }
                        Answer::WholeNumber { minimum, maximum } => {
                            input #(id) type="number" inputmode="numeric" step="1" name=(f.name) value=(value)
                                min=[minimum] max=[maximum] required[f.required]
                                aria-describedby=[&described] aria-invalid=[invalid];
                        }
                        _ => {
                            input #(id) type="text" name=(f.name) value=(value) required[f.required]
                                aria-describedby=[&described] aria-invalid=[invalid];
                        }
                    }
                }
            }
            @if let Some(p) = problem {
                p.problem #(hint_id) { (p.text(lang)) }
            }
        }
    }
}

/// A case as its applicant sees it.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// The service's name.
    pub service: Bilingual,
    /// The case number.
    pub case_id: String,
    /// Its state, as the applicant reads it.
    pub state: Msg,
    /// The current step, while it has one.
    pub step: Option<Bilingual>,
    /// When the step is due, and in what days.
    pub step_due: Option<String>,
    /// When the statutory limit falls.
    pub limit_due: Option<String>,
    /// Whether this page follows the submission itself.
    pub just_filed: bool,
    /// What happened to it, oldest first.
    pub history: Vec<HistoryLine>,
    /// A returned case: the application to correct and send again, with the
    /// case's version.
    pub resubmit: Option<(ApplyForm, i64)>,
    /// An application not reviewed yet may be withdrawn.
    pub withdraw: Option<Withdrawal>,
    /// Why what the applicant just asked for was not done (Chinese,
    /// English).
    pub error: Option<(String, String)>,
    /// The applicant's cases.
    pub back: String,
    /// The supporting documents uploaded.
    pub documents: Vec<DocumentLink>,
    /// The official documents issued for the case (sealed PDFs).
    pub issued: Vec<crate::sealed::Issued>,
    /// Where a document is uploaded, while the case takes more.
    pub upload: Option<Upload>,
    /// The applicant's rating, once given: the score and the comment.
    pub rating: Option<(i64, String)>,
    /// The rating form of a finished case not rated yet (posts `do=rate`).
    pub rate: Option<Upload>,
    /// A refused rating's score and comment, shown again.
    pub rate_draft: Option<(i64, String)>,
}

/// A score's words.
pub fn score_label(score: i64) -> Msg {
    match score {
        5 => Msg::Score5,
        4 => Msg::Score4,
        3 => Msg::Score3,
        2 => Msg::Score2,
        _ => Msg::Score1,
    }
}

/// A rating as it reads: `★★★★☆ 满意` and the comment.
pub fn rating(lang: Lang, label: Msg, score: i64, comment: &str) -> Markup {
    let stars: String = (1..=5)
        .map(|i| if i <= score { '★' } else { '☆' })
        .collect();
    html! {
        p.rating #rating {
            (label.text(lang))
            span aria-hidden="true" { (stars) } " "
            strong { (score_label(score).text(lang)) } " (" (score) "/5)"
        }
        @if !comment.is_empty() { p.reason { (comment) } }
    }
}

/// An uploaded document, as a download.
#[derive(Debug, Clone)]
pub struct DocumentLink {
    /// The file name as uploaded.
    pub name: String,
    /// Its size, as people read it (`12.3 KB`).
    pub size: String,
    /// Where it downloads from.
    pub href: String,
}

/// The upload form of a case.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Where it posts.
    pub action: String,
    /// The form token.
    pub csrf: String,
}

/// `bytes` as people read a file's size.
pub fn file_size(bytes: i64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// The documents of a case, and the form that adds one.
pub fn documents(lang: Lang, documents: &[DocumentLink], upload: Option<&Upload>) -> Markup {
    html! {
        section.panel #documents aria-labelledby="documents-title" {
            h2 #documents-title { (Msg::Documents.text(lang)) }
            @if documents.is_empty() {
                p { (Msg::NoDocuments.text(lang)) }
            } @else {
                ul.documents {
                    @for d in documents {
                        li { a href=(d.href) download { (d.name) } " " span.line { (d.size) } }
                    }
                }
            }
            @if let Some(u) = upload {
                form.upload method="post" action=(u.action) enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(u.csrf);
                    div.field {
                        label for="document" { (Msg::ChooseFile.text(lang)) }
                        input #document type="file" name="file" required
                            accept=".pdf,.ofd,.jpg,.jpeg,.png,application/pdf,application/ofd,image/jpeg,image/png"
                            aria-describedby="document-hint";
                        p.hint #document-hint { (Msg::DocumentHint.text(lang)) }
                    }
                    button.button.secondary type="submit" { (Msg::UploadDocument.text(lang)) }
                }
            }
        }
    }
}

/// One event of a case's history as its applicant reads it.
#[derive(Debug, Clone)]
pub struct HistoryLine {
    /// When (local date and time, as text).
    pub at: String,
    /// What happened.
    pub what: Msg,
    /// At which step, if any.
    pub step: Option<Bilingual>,
    /// The reason given (a return's or refusal's), as written.
    pub reason: Option<String>,
}

/// A case in the applicant's list.
#[derive(Debug, Clone)]
pub struct CaseRow {
    /// The service's name.
    pub service: Bilingual,
    /// The case number.
    pub case_id: String,
    /// Its state.
    pub state: Msg,
    /// The current step, while it has one.
    pub step: Option<Bilingual>,
    /// When it was filed (date).
    pub filed_on: String,
    /// Its page.
    pub href: String,
}

/// The applicant's cases at a place, newest first.
pub fn my_cases(frame: &Frame, cases: &[CaseRow], home: &str) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::MyCases.text(lang)) }
            @if cases.is_empty() {
                p { (Msg::NoCasesYet.text(lang)) " " a href=(home) { (Msg::AllServices.text(lang)) } }
            } @else {
                ul.cards.cases {
                    @for c in cases {
                        li.card {
                            h2 { a href=(c.href) { (lang.pick(&c.service.zh, &c.service.en)) } }
                            p.line { (Msg::CaseNumber.text(lang)) "：" (c.case_id) }
                            p {
                                strong { (c.state.text(lang)) }
                                @if let Some(step) = &c.step { " · " (lang.pick(&step.zh, &step.en)) }
                            }
                            p.line { (Msg::FiledOn.text(lang)) "：" (c.filed_on) }
                        }
                    }
                }
            }
        },
    )
}

/// The receipt of a case: its number, state, step and deadlines.
pub fn receipt(frame: &Frame, r: &Receipt) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            @if r.just_filed {
                h1 { (Msg::ReceiptTitle.text(lang)) }
            } @else {
                h1 { (lang.pick(&r.service.zh, &r.service.en)) }
            }
            @if let Some((zh, en)) = &r.error {
                p.error role="alert" { (Msg::NotDone.text(lang)) (lang.pick(zh, en)) }
            }
            section.panel {
                dl.fields {
                    dt { (Msg::CaseNumber.text(lang)) } dd #case-id { (r.case_id) }
                    dt { (Msg::CaseState.text(lang)) } dd #case-state { (r.state.text(lang)) }
                    @if let Some(step) = &r.step {
                        dt { (Msg::CurrentStep.text(lang)) } dd { (lang.pick(&step.zh, &step.en)) }
                    }
                    @if let Some(due) = &r.step_due {
                        dt { (Msg::StepDueOn.text(lang)) } dd { (due) }
                    }
                    @if let Some(due) = &r.limit_due {
                        dt { (Msg::LimitDueOn.text(lang)) } dd { (due) }
                    }
                }
            }
            @if let Some((score, comment)) = &r.rating {
                section.panel aria-labelledby="rated" {
                    h2 #rated { (Msg::RateTitle.text(lang)) }
                    (rating(lang, Msg::YourRating, *score, comment))
                }
            }
            @if let Some(form) = &r.rate {
                section.panel aria-labelledby="rate" {
                    h2 #rate { (Msg::RateTitle.text(lang)) }
                    form.rate method="post" action=(form.action) {
                        input type="hidden" name="csrf" value=(form.csrf);
                        input type="hidden" name="do" value="rate";
                        fieldset.field {
                            legend { (Msg::RateLegend.text(lang)) }
                            @let chosen = r.rate_draft.as_ref().map_or(5, |(score, _)| *score);
                            @for score in (1..=5).rev() {
                                label.choice {
                                    input type="radio" name="score" value=(score) required checked[score == chosen];
                                    " " (score_label(score).text(lang))
                                }
                            }
                        }
                        div.field {
                            label for="comment" { (Msg::RatingComment.text(lang)) }
                            textarea #comment name="comment" maxlength="500" rows="3" {
                                (r.rate_draft.as_ref().map_or("", |(_, comment)| comment.as_str()))
                            }
                        }
                        button.button type="submit" { (Msg::SubmitRating.text(lang)) }
                    }
                }
            }
            (documents(lang, &r.documents, r.upload.as_ref()))
            (crate::sealed::section(lang, &r.issued, &[], None))
            @if let Some((form, version)) = &r.resubmit {
                section.panel aria-labelledby="correct" {
                    h2 #correct { (Msg::CorrectAndResubmit.text(lang)) }
                    // Why it came back, where the correction is made.
                    @if let Some(reason) = r.history.iter().rev().find(|h| h.what == Msg::EventReturn).and_then(|h| h.reason.as_ref()) {
                        p.notice #return-reason { (Msg::ReturnedBecause.text(lang)) (reason) }
                    }
                    @if !form.problems.is_empty() {
                        p.error role="alert" { (Msg::FixProblems.text(lang)) }
                    }
                    @if let Some((zh, en)) = &form.refusal {
                        p.error role="alert" { (Msg::NotSubmitted.text(lang)) (lang.pick(zh, en)) }
                    }
                    (application_form(lang, form, &[("do", "resubmit".to_owned()), ("version", version.to_string())], Msg::Resubmit))
                }
            }
            @if let Some(w) = &r.withdraw {
                section.panel aria-labelledby="withdraw" {
                    h2 #withdraw { (Msg::WithdrawTitle.text(lang)) }
                    form.withdraw method="post" action=(w.action) {
                        input type="hidden" name="csrf" value=(w.csrf);
                        input type="hidden" name="do" value="withdraw";
                        input type="hidden" name="version" value=(w.version);
                        div.field {
                            label for="reason" { (Msg::WithdrawReason.text(lang)) span.required aria-hidden="true" { " *" } }
                            input #reason type="text" name="reason" required maxlength="500";
                        }
                        button.button.secondary type="submit" { (Msg::WithdrawButton.text(lang)) }
                    }
                }
            }
            @if !r.history.is_empty() {
                section.panel aria-labelledby="history" {
                    h2 #history { (Msg::History.text(lang)) }
                    ol.history {
                        @for h in &r.history {
                            li {
                                time { (h.at) } " "
                                strong { (h.what.text(lang)) }
                                @if let Some(step) = &h.step { "（" (lang.pick(&step.zh, &step.en)) "）" }
                                @if let Some(reason) = &h.reason { p.reason { (Msg::Reason.text(lang)) "：" (reason) } }
                            }
                        }
                    }
                }
            }
            p { a href=(r.back) { (Msg::MyCases.text(lang)) } }
        },
    )
}
