//! Registering on a portal (`/register`) and real-name verification
//! (`/verify-identity`): a citizen or an enterprise makes an account at a
//! place, then proves who they are — with the identity provider, or at a
//! service counter — before they may apply.

use maud::{Markup, html};

use crate::Msg;
use crate::guide::Bilingual;
use crate::layout::{Frame, page};

/// Who registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Registrant {
    /// A person, by resident id number (个人).
    #[default]
    Citizen,
    /// An enterprise, by unified social credit code (法人).
    Enterprise,
}

impl Registrant {
    /// Its form value (`citizen`, `enterprise`).
    pub fn as_str(self) -> &'static str {
        match self {
            Registrant::Citizen => "citizen",
            Registrant::Enterprise => "enterprise",
        }
    }
}

/// What the registration page shows.
#[derive(Debug, Clone, Default)]
pub struct Register {
    /// Who registers.
    pub kind: Registrant,
    /// The place registered at: its path of codes (posted back) and name.
    pub place: (String, Bilingual),
    /// This page's address for the other kind of registrant.
    pub other_kind_href: String,
    /// What was typed, kept when the page comes back with an error: the
    /// username, the name, the id number or credit code.
    pub username: String,
    /// The person's or enterprise's name.
    pub name: String,
    /// The resident id number or unified social credit code.
    pub number: String,
    /// Why the last attempt failed (Chinese and English), if it did.
    pub error: Option<(String, String)>,
    /// Where the visitor was going (a path of this server), kept through
    /// registration and verification.
    pub next: String,
    /// The form token.
    pub csrf: String,
}

/// The registration page. As on the sign-in page, its script encrypts the
/// password with the platform's SM2 key and the password fields have no
/// name: only the ciphertext is posted.
pub fn register(frame: &Frame, view: &Register) -> Markup {
    let lang = frame.lang;
    let (path, place) = &view.place;
    let citizen = view.kind == Registrant::Citizen;
    page(
        frame,
        html! {
            h1 { (Msg::RegisterTitle.text(lang)) }
            p { (Msg::RegisterAt.text(lang)) strong #register-place { (lang.pick(&place.zh, &place.en)) } }
            nav.sections aria-label=(Msg::RegisterAs.text(lang)) {
                @if citizen {
                    a aria-current="page" { (Msg::RegisterCitizen.text(lang)) }
                    a href=(view.other_kind_href) { (Msg::RegisterEnterprise.text(lang)) }
                } @else {
                    a href=(view.other_kind_href) { (Msg::RegisterCitizen.text(lang)) }
                    a aria-current="page" { (Msg::RegisterEnterprise.text(lang)) }
                }
            }
            @if let Some((zh, en)) = &view.error {
                p.error role="alert" { (lang.pick(zh, en)) }
            }
            noscript { p.notice { (Msg::RegisterNeedsJavaScript.text(lang)) } }
            form #register .sign-in method="post" action="/register"
                data-key-url="/.well-known/civitas/platform-key"
                data-key-error=(Msg::KeyUnavailable.text(lang))
                data-mismatch=(Msg::PasswordsDiffer.text(lang)) {
                input type="hidden" name="csrf" value=(view.csrf);
                input type="hidden" name="kind" value=(view.kind.as_str());
                input type="hidden" name="at" value=(path);
                input type="hidden" name="next" value=(view.next);
                input #password_sm2 type="hidden" name="password_sm2";
                label for="name" {
                    (if citizen { Msg::FullName } else { Msg::EnterpriseName }.text(lang))
                }
                input #name name="name" value=(view.name) required maxlength="100"
                    autocomplete=(if citizen { "name" } else { "organization" });
                label for="number" {
                    (if citizen { Msg::IdNumberLabel } else { Msg::CreditCodeLabel }.text(lang))
                }
                input #number name="number" value=(view.number) required
                    minlength="18" maxlength="18" autocapitalize="characters" spellcheck="false"
                    autocomplete="off";
                p.hint { (if citizen { Msg::IdNumberHint } else { Msg::CreditCodeHint }.text(lang)) }
                label for="username" { (Msg::Username.text(lang)) }
                input #username name="username" value=(view.username) autocomplete="username"
                    required minlength="3" maxlength="64" pattern="[a-z0-9_.\\-]{3,64}"
                    autocapitalize="none" spellcheck="false";
                p.hint { (Msg::UsernameHint.text(lang)) }
                label for="password" { (Msg::Password.text(lang)) }
                // No names: the passwords themselves are never part of the form.
                input #password type="password" autocomplete="new-password" required minlength="8";
                p.hint { (Msg::PasswordRule.text(lang)) }
                label for="password-again" { (Msg::PasswordAgain.text(lang)) }
                input #password-again type="password" autocomplete="new-password" required minlength="8";
                p.hint { (Msg::PasswordSealed.text(lang)) }
                p #sign-in-status .error role="alert" hidden {}
                button.button type="submit" { (Msg::RegisterButton.text(lang)) }
            }
            p {
                (Msg::HaveAccount.text(lang))
                a href=(if view.next.is_empty() { "/sign-in".to_owned() } else { crate::layout::sign_in_href(&view.next) }) { (Msg::SignIn.text(lang)) }
            }
        },
    )
}

/// What the verification page shows.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// The signed-in account's username.
    pub username: String,
    /// Whether the account is verified already.
    pub verified: bool,
    /// A staff or service account: made by administrators, nothing to
    /// verify.
    pub staff: bool,
    /// Whether an identity provider is configured (otherwise only the
    /// counter verifies).
    pub provider: bool,
    /// Where to go on: the page the visitor was going to, or the portal
    /// of the account's place.
    pub home: String,
    /// Why the last attempt failed (Chinese and English), if it did.
    pub error: Option<(String, String)>,
    /// The form token.
    pub csrf: String,
}

/// The verification page: the account's state and the two ways to prove
/// who one is.
pub fn verification(frame: &Frame, view: &Verification) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::VerifyTitle.text(lang)) }
            @if let Some((zh, en)) = &view.error {
                p.error role="alert" { (lang.pick(zh, en)) }
            }
            @if view.staff {
                p.notice #staff role="status" { (Msg::StaffNoVerification.text(lang)) }
            } @else if view.verified {
                p.notice #verified role="status" { (Msg::Verified.text(lang)) }
                p { a.button href=(view.home) { (Msg::ToPortal.text(lang)) } }
            } @else {
                p.notice #unverified { (Msg::NotVerifiedYet.text(lang)) }
                @if view.provider {
                    section.panel aria-labelledby="online" {
                        h2 #online { (Msg::VerifyOnline.text(lang)) }
                        p { (Msg::VerifyOnlineText.text(lang)) }
                        form #verify-online method="post" action="/verify-identity" {
                            input type="hidden" name="csrf" value=(view.csrf);
                            button.button type="submit" { (Msg::VerifyOnlineButton.text(lang)) }
                        }
                    }
                }
                section.panel aria-labelledby="counter" {
                    h2 #counter { (Msg::VerifyAtCounter.text(lang)) }
                    p { (Msg::VerifyAtCounterText.text(lang)) strong #counter-username { (view.username) } }
                }
                p { a href=(view.home) { (Msg::ToPortal.text(lang)) } }
            }
        },
    )
}

/// The page the identity provider's answer ends on in a browser.
#[derive(Debug, Clone, Default)]
pub struct VerificationDone {
    /// Verified (otherwise `error` says why not).
    pub verified: bool,
    /// Why not (Chinese and English).
    pub error: Option<(String, String)>,
}

/// Where a browser comes back from the identity provider.
pub fn verification_done(frame: &Frame, view: &VerificationDone) -> Markup {
    let lang = frame.lang;
    page(
        frame,
        html! {
            h1 { (Msg::VerifyTitle.text(lang)) }
            @if view.verified {
                p.notice #verified role="status" { (Msg::VerifiedNow.text(lang)) }
            }
            @if let Some((zh, en)) = &view.error {
                p.error role="alert" { (lang.pick(zh, en)) }
            }
            p { a.button href="/verify-identity" { (Msg::Continue.text(lang)) } }
        },
    )
}
