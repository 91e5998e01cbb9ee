//! Principals and sign-in.
//!
//! - [`CreditCode`]: enterprises' unified social credit codes (GB 32100).
//! - [`PasswordPolicy`]: at least 8 characters of at least 3 classes, no
//!   reuse of the last 5 passwords.
//! - Accounts ([`create_account`], [`authenticate`], [`change_password`]):
//!   passwords stored as PBKDF2-HMAC-SM3 ([`civitas_crypto::password`]),
//!   lockout after repeated failures, every attempt audited. A failed
//!   sign-in gives one answer whatever the cause, so it never tells whether
//!   an account exists.
//! - Sessions ([`open_session`], [`decode_access`], [`check_session`],
//!   [`refresh`], [`revoke`]): SM2-signed access tokens anyone with the
//!   platform's public key can check, rotating refresh tokens, idle and
//!   absolute timeouts, and sign-out that holds on every node.

mod accounts;
mod credit_code;
mod policy;
mod sessions;

pub use accounts::{
    Account, AccountKind, AuthError, IdentityError, NewAccount, RejectCause, SignInSettings,
    authenticate, change_password, create_account, find_account, staff_of,
};
pub use credit_code::{CreditCode, CreditCodeError};
pub use policy::{PasswordPolicy, PolicyViolation};
pub use sessions::{
    Claims, SessionSettings, TokenError, Tokens, check_session, decode_access, open_session,
    refresh, revoke,
};
