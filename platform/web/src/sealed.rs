//! Official documents sealed with a tenant's electronic seal: the section
//! on a case page (what was issued, and on the workbench the form to issue
//! each kind still due) and the public verification page (`/verify`).

use maud::{Markup, html};

use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// An issued document as a case page lists it.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Its name (行政处罚决定书).
    pub name: String,
    /// Its number (文号).
    pub number: String,
    /// When it was issued, as people read it.
    pub issued_at: String,
    /// The SM3 of the sealed file, hex.
    pub sm3: String,
    /// Where it downloads from.
    pub href: String,
}

/// A field of an issue form.
#[derive(Debug, Clone)]
pub struct IssueField {
    /// The form field's name.
    pub name: String,
    /// Its label (Chinese).
    pub title: String,
    /// Its label (English).
    pub title_en: String,
    /// A number, not text.
    pub number: bool,
    /// The lowest and highest value allowed, when known.
    pub bounds: (Option<i64>, Option<i64>),
    /// What was entered before (a refused form shown again).
    pub value: String,
}

/// The form that issues one kind of document.
#[derive(Debug, Clone)]
pub struct IssueForm {
    /// The document's name.
    pub name: String,
    /// Where it posts.
    pub action: String,
    /// The page's form token.
    pub csrf: String,
    /// What the officer enters.
    pub fields: Vec<IssueField>,
}

/// The documents section of a case page: what was issued, then the forms
/// for what may still be issued (staff who may issue, closed cases);
/// `error` is why the last issue was refused.
pub fn section(
    lang: Lang,
    issued: &[Issued],
    forms: &[IssueForm],
    error: Option<&(String, String)>,
) -> Markup {
    html! {
        @if !issued.is_empty() || !forms.is_empty() {
            section.panel #sealed aria-labelledby="sealed-title" {
                h2 #sealed-title { (Msg::SealedDocuments.text(lang)) }
                @if let Some((zh, en)) = error {
                    p.problem role="alert" { (lang.pick(zh, en)) }
                }
                @if !issued.is_empty() {
                    ul.documents {
                        @for d in issued {
                            li {
                                a href=(d.href) download { (d.name) "（" (d.number) "）" }
                                " " span.line { (d.issued_at) }
                                br;
                                span.line { "SM3 " code.detail { (d.sm3) } }
                            }
                        }
                    }
                    p.hint { (Msg::SealedDocumentsHint.text(lang)) " " a href="/verify" { (Msg::DocumentVerifyTitle.text(lang)) } }
                }
                @for f in forms {
                    form.issue method="post" action=(f.action) {
                        input type="hidden" name="csrf" value=(f.csrf);
                        h3 { (Msg::IssueDocument.text(lang)) "：" (f.name) }
                        @for field in &f.fields {
                            div.field {
                                label for=(format!("{}-{}", f.name, field.name)) { (lang.pick(&field.title, &field.title_en)) span.required aria-hidden="true" { " *" } }
                                @if field.number {
                                    input id=(format!("{}-{}", f.name, field.name)) type="number" name=(field.name) value=(field.value) required
                                        min=[field.bounds.0] max=[field.bounds.1];
                                    @if let (Some(min), Some(max)) = field.bounds {
                                        p.hint { (Msg::AllowedRange.text(lang)) (min) " – " (max) }
                                    }
                                } @else {
                                    input id=(format!("{}-{}", f.name, field.name)) type="text" name=(field.name) value=(field.value) required maxlength="500";
                                }
                            }
                        }
                        p.hint { (Msg::IssueHint.text(lang)) }
                        button.button type="submit" { (Msg::IssueAndSeal.text(lang)) }
                    }
                }
            }
        }
    }
}

/// What verifying a file found, for the page.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// The seal verifies.
    Valid {
        /// The seal's name.
        seal_name: String,
        /// Whose it is, as its certificate says: the place and the line.
        holder: String,
        /// When it was sealed, as people read it.
        signed_at: String,
        /// The file's SM3.
        file_sm3: String,
        /// The platform's record: name, number, issued at — when it issued this file.
        issued: Option<(String, String, String)>,
        /// When its seal was revoked since, if it was.
        revoked_at: Option<String>,
    },
    /// It does not; the reason (Chinese, English).
    Refused {
        /// Why.
        reason: (String, String),
        /// The file's SM3.
        file_sm3: String,
    },
}

/// The public verification page: a form to choose a file, and the verdict
/// on the file just sent.
pub fn verify(
    frame: &Frame,
    csrf: &str,
    verdict: Option<&Verdict>,
    error: Option<&(String, String)>,
) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::DocumentVerifyTitle.text(lang)) }
            p { (Msg::VerifyIntro.text(lang)) }
            @if let Some((zh, en)) = error {
                p.problem role="alert" { (lang.pick(zh, en)) }
            }
            @match verdict {
                Some(Verdict::Valid { seal_name, holder, signed_at, file_sm3, issued, revoked_at }) => {
                    section.panel.verdict.valid #verdict role="status" aria-labelledby="verdict-title" {
                        h2 #verdict-title { "✓ " (Msg::VerifyValid.text(lang)) }
                        dl.fields {
                            dt { (Msg::SealName.text(lang)) } dd { (seal_name) }
                            dt { (Msg::SealHolder.text(lang)) } dd { (holder) }
                            dt { (Msg::SealedAt.text(lang)) } dd { (signed_at) }
                            @if let Some((name, number, at)) = issued {
                                dt { (Msg::DocumentName.text(lang)) } dd { (name) }
                                dt { (Msg::IssuedNumber.text(lang)) } dd { (number) }
                                dt { (Msg::IssuedAt.text(lang)) } dd { (at) }
                            }
                            dt { "SM3" } dd { code.detail { (file_sm3) } }
                        }
                        @if issued.is_none() {
                            p.problem { (Msg::VerifyNotRecorded.text(lang)) }
                        }
                        @if let Some(at) = revoked_at {
                            p.problem { (Msg::VerifySealRevoked.text(lang)) (at) }
                        }
                    }
                }
                Some(Verdict::Refused { reason, file_sm3 }) => {
                    section.panel.verdict.refused #verdict role="alert" aria-labelledby="verdict-title" {
                        h2 #verdict-title { "✗ " (Msg::VerifyRefused.text(lang)) }
                        p { (lang.pick(&reason.0, &reason.1)) }
                        dl.fields { dt { "SM3" } dd { code.detail { (file_sm3) } } }
                    }
                }
                None => {}
            }
            section.panel aria-labelledby="verify-form-title" {
                h2 #verify-form-title { (Msg::VerifyChoose.text(lang)) }
                form.upload method="post" action="/verify" enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for="file" { (Msg::VerifyFile.text(lang)) }
                        input #file type="file" name="file" required accept=".pdf,application/pdf";
                    }
                    button.button type="submit" { (Msg::VerifyButton.text(lang)) }
                }
                p.hint { (Msg::VerifyOffline.text(lang)) " " a href="/api/v1/documents/root-certificate" { (Msg::RootCertificate.text(lang)) } }
            }
        },
    )
}
