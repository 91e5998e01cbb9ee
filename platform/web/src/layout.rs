//! The frame every page shares.

use maud::{DOCTYPE, Markup, html};

use crate::{Lang, Msg, assets};

/// Who is looking at a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visitor {
    /// Nobody signed in: the masthead offers sign-in, coming back to
    /// `return_to`.
    Anonymous {
        /// The page to come back to after signing in.
        return_to: String,
    },
    /// Someone signed in: the masthead names them and offers sign-out.
    SignedIn {
        /// Their name as shown.
        name: String,
        /// The form token the sign-out form carries.
        csrf: String,
        /// Their applications at this place, where there is one.
        cases: Option<String>,
        /// Their message centre, where there is a place.
        messages: Option<String>,
    },
    /// The sign-in page itself: neither.
    SigningIn,
}

/// What the frame shows around a page's content.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The page's language.
    pub lang: Lang,
    /// The page's title (the frame adds the place's name).
    pub title: String,
    /// The place in the masthead (a tenant's name) and its home link.
    pub place: Option<(String, String)>,
    /// The link that shows this page in the other language.
    pub switch_href: String,
    /// Who is looking.
    pub visitor: Visitor,
    /// Embedded scripts the page needs (asset names), loaded at its end.
    pub scripts: &'static [&'static str],
}

/// `/sign-in?next=…` for coming back to `path` (a path of this server).
pub fn sign_in_href(path: &str) -> String {
    format!("/sign-in?next={}", query_value(path))
}

/// `value` percent-encoded for a query string (slashes kept: readable
/// paths).
pub fn query_value(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

/// A whole page: `content` inside the frame.
pub fn page(frame: &Frame, content: Markup) -> Markup {
    let lang = frame.lang;
    let full_title = match &frame.place {
        Some((place, _)) => format!("{} - {place}", frame.title),
        None => format!("{} - {}", frame.title, Msg::PlatformName.text(lang)),
    };
    html! {
        (DOCTYPE)
        html lang=(lang.html_lang()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (full_title) }
                link rel="stylesheet" href=(assets::url("civitas.css"));
            }
            body {
                a.skip href="#main" { (Msg::SkipToContent.text(lang)) }
                header.masthead {
                    div.bar {
                        p.place {
                            @match &frame.place {
                                Some((place, home)) => {
                                    a href=(home) { (place) }
                                    span.platform { (Msg::PlatformName.text(lang)) }
                                }
                                None => (Msg::PlatformName.text(lang)),
                            }
                        }
                        div.tools {
                            @match &frame.visitor {
                                Visitor::Anonymous { return_to } => {
                                    a.account href=(sign_in_href(return_to)) { (Msg::SignIn.text(lang)) }
                                }
                                Visitor::SignedIn { name, csrf, cases, messages } => {
                                    span.account { (Msg::SignedInAs.text(lang)) (name) }
                                    @if let Some(cases) = cases {
                                        a.cases href=(cases) { (Msg::MyCases.text(lang)) }
                                    }
                                    @if let Some(messages) = messages {
                                        a.messages href=(messages) { (Msg::MessageCentre.text(lang)) }
                                    }
                                    form.sign-out method="post" action="/sign-out" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button.link type="submit" { (Msg::SignOut.text(lang)) }
                                    }
                                }
                                Visitor::SigningIn => {}
                            }
                            a.lang href=(frame.switch_href) lang=(lang.other().html_lang())
                                aria-label=(Msg::LanguageSwitchLabel.text(lang)) {
                                (Msg::LanguageSwitch.text(lang))
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (content) }
                footer { p { (Msg::Footer.text(lang)) } }
                @for script in frame.scripts {
                    script src=(assets::url(script)) {}
                }
            }
        }
    }
}

/// A link that downloads a list as a workbook (`href`: its export route
/// with the list's filters), saying what it exports and that it is
/// audited.
pub fn export_link(lang: Lang, href: &str, label: Msg) -> Markup {
    html! {
        p.export {
            a.button.secondary href=(href) { (label.text(lang)) }
            " " small.hint { (Msg::ExportHint.text(lang)) }
        }
    }
}

/// A page that says what went wrong (404, 503), in the frame.
pub fn problem(frame: &Frame, title: Msg, text: Msg, back: Option<&str>) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (title.text(lang)) }
            p { (text.text(lang)) }
            @if let Some(back) = back {
                p { a href=(back) { (Msg::BackToServices.text(lang)) } }
            }
        },
    )
}
