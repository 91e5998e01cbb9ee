//! The faces of Civitas — the tenant portal, the staff workbench and the
//! governance console — as HTML rendered on the server.
//!
//! This crate is presentation only: it turns view models (plain structs the
//! API's page handlers fill from the domain crates) into markup, and knows
//! no database, tenant tree or request. Its invariants:
//!
//! - every user-facing text is a [`Msg`], whose Chinese and English are one
//!   `match` arm, so a page can never show an untranslated key;
//! - every page is [`layout::page`]: `lang` set, one stylesheet, no inline
//!   script or style, nothing loaded from outside the server
//!   ([`CONTENT_SECURITY_POLICY`] enforces it in the browser);
//! - every asset is embedded in the binary ([`assets`]): government
//!   intranets have no CDN;
//! - maud escapes every value it interpolates.

pub mod apply;
pub mod assets;
pub mod console;
pub mod guide;
mod i18n;
pub mod layout;
pub mod lottery;
pub mod messages;
pub mod portal;
pub mod register;
pub mod sealed;
pub mod sign_in;
pub mod workbench;

pub use i18n::{Lang, Msg};
pub use maud::Markup;

/// What every page may load: only this server, no inline script or style,
/// no framing, forms only to this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
