//! Route handlers, one module per area.

pub(crate) mod account_imports;
pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod cases;
pub(crate) mod dashboard;
pub(crate) mod documents;
pub(crate) mod grants;
pub(crate) mod lotteries;
pub(crate) mod modules;
pub(crate) mod notifications;
pub(crate) mod residents;
pub(crate) mod search;
pub(crate) mod service_keys;
pub(crate) mod settings;
pub(crate) mod system;
pub(crate) mod tenants;
pub(crate) mod verification;
pub(crate) mod wage_arrears;
