//! Principals and sign-in.
//!
//! - [`CreditCode`]: enterprises' unified social credit codes (GB 32100).
//! - [`PasswordPolicy`]: at least 8 characters of at least 3 classes, no
//!   reuse of the last 5 passwords.
//! - Accounts ([`create_account`], [`authenticate`], [`change_password`]):
//!   passwords stored as PBKDF2-HMAC-SM3 ([`civitas_crypto::password`]),
//!   lockout after repeated failures within a window, every attempt
//!   audited. A failed sign-in gives one answer and costs the same work
//!   whatever the cause, so it never tells whether an account exists.
//! - Sessions ([`open_session`], [`decode_access`], [`check_session`],
//!   [`refresh`], [`revoke`]): SM2-signed access tokens anyone with the
//!   platform's public key can check, rotating refresh tokens (a spent one
//!   coming back ends the session), idle and absolute timeouts, and
//!   sign-out that holds on every node.
//! - Account administration ([`create_staff_account`], [`list_accounts`],
//!   [`set_disabled`], [`unlock`], [`reset_password`], [`update_profile`]):
//!   the system administrator's work on a subtree, one-time passwords,
//!   contact data sealed.
//! - Staff roster imports ([`plan_import`], [`check_taken`],
//!   [`import_staff`]): every bad row named by its number, then all
//!   accounts created or none.
//! - API keys of service accounts ([`authenticate_key`]): keys that name no
//!   key are counted in memory ([`RefusedKeys`]) and audited together.

mod accounts;
mod administration;
mod credit_code;
mod import;
mod policy;
mod registration;
mod service_keys;
mod sessions;
pub mod verification;

pub use accounts::{
    Account, AccountKind, AuthError, HashedPassword, IdentityError, NewAccount, RejectCause,
    SignInSettings, authenticate, change_password, create_account, create_account_with,
    find_account, forget_old_failures, staff_of, usernames,
};
pub use administration::{
    AccountCursor, AccountDetail, AccountFilter, AccountPage, AccountState, AdminError, Contact,
    CreatedAccount, FieldError, NewStaffAccount, ONE_TIME_VALIDITY_DAYS, PROTECTED, ProfileChange,
    StaffProfile, check_new_account, contact_of, create_staff_account, list_accounts,
    reset_password, set_disabled, show_account, unlock, update_own_contact, update_profile,
};
pub use credit_code::{CreditCode, CreditCodeError};
pub use import::{
    ImportError, ImportPlan, ImportUnit, ImportedAccount, PlannedAccount, RowProblem, bad_rows,
    check_taken, import_staff, plan_import,
};
pub use policy::{PasswordPolicy, PolicyViolation};
pub use registration::{
    NewCitizen, NewEnterprise, RegistrationError, register_citizen, register_enterprise,
};
pub use service_keys::{
    ApprovalRefused, IssuedKey, KEY_PREFIX, KeyError, KeyPage, KeyRejected, KeyRequestError,
    NewServiceKey, RefusalCause, RefusedKeys, ServiceKey, approve_service_key, authenticate_key,
    check_key_request, find_service_key, issue_service_key, list_service_keys, parse_key_cursor,
    revoke_service_key,
};
pub use sessions::{
    Claims, SessionSettings, TokenError, Tokens, check_session, decode_access,
    forget_spent_refresh_tokens, open_session, refresh, reissue, revoke,
};

pub use civitas_tenancy::ALL_LINES;

/// Names the API's routes use beside an account's name
/// (`/api/v1/tenants/{path}/accounts/export`): a new account so named could
/// not be read by its URL.
pub const RESERVED_USERNAMES: [&str; 1] = ["export"];

/// Whether `username` is acceptable for a new account: well formed
/// ([`valid_username`]) and none of [`RESERVED_USERNAMES`].
pub fn valid_new_username(username: &str) -> bool {
    valid_username(username) && !RESERVED_USERNAMES.contains(&username)
}

/// Whether `username` is well formed: 3 to 64 characters of lowercase
/// letters, digits, `-`, `_` and `.`, starting with a letter or digit. An
/// account from before a name was reserved still is.
pub fn valid_username(username: &str) -> bool {
    (3..=64).contains(&username.len())
        && username
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_word_is_no_new_username_but_an_old_account_so_named_stays_readable() {
        assert!(!valid_new_username("export"));
        assert!(
            valid_username("export"),
            "cursors and sign-in still take it"
        );
        assert!(valid_new_username("exporter"));
        assert!(!valid_username("Export"));
    }
}
