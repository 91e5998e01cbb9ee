//! The sign-in page every face shares (`/sign-in`).

use maud::{Markup, html};

use crate::layout::{Frame, page};
use crate::{Lang, Msg};

/// What the sign-in page shows.
#[derive(Debug, Clone, Default)]
pub struct SignIn {
    /// The username tried, kept when the page comes back with an error.
    pub username: String,
    /// Why the last attempt failed (Chinese and English), if it did.
    pub error: Option<(String, String)>,
    /// Where to go once signed in (a path of this server).
    pub next: String,
    /// The form token.
    pub csrf: String,
}

/// The registration page for someone who meant to go to `next`: it
/// registers at the place `next` belongs to.
fn register_href(next: &str) -> String {
    if next.is_empty() {
        "/register".to_owned()
    } else {
        format!("/register?next={}", crate::layout::query_value(next))
    }
}

/// The sign-in page. Its script encrypts the password with the
/// platform's SM2 key before the form is posted; without scripts the
/// password is never sent.
pub fn page_for(frame: &Frame, view: &SignIn) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::SignInTitle.text(lang)) }
            @if let Some((zh, en)) = &view.error {
                p.error role="alert" { (if lang == Lang::En { en } else { zh }) }
            }
            noscript { p.notice { (Msg::NeedsJavaScript.text(lang)) } }
            form #sign-in .sign-in method="post" action="/sign-in"
                data-key-url="/.well-known/civitas/platform-key"
                data-key-error=(Msg::KeyUnavailable.text(lang)) {
                input type="hidden" name="csrf" value=(view.csrf);
                input type="hidden" name="next" value=(view.next);
                input #password_sm2 type="hidden" name="password_sm2";
                label for="username" { (Msg::Username.text(lang)) }
                input #username name="username" value=(view.username) autocomplete="username"
                    required autocapitalize="none" spellcheck="false";
                label for="password" { (Msg::Password.text(lang)) }
                // No name: the password itself is never part of the form.
                input #password type="password" autocomplete="current-password" required;
                p.hint { (Msg::PasswordSealed.text(lang)) }
                p #sign-in-status .error role="alert" hidden {}
                button.button type="submit" { (Msg::SignInButton.text(lang)) }
            }
            p { (Msg::NoAccount.text(lang)) a #register-link href=(register_href(&view.next)) { (Msg::RegisterLink.text(lang)) } }
        },
    )
}
