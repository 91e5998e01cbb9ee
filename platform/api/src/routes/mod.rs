//! Route handlers, one module per area.

pub(crate) mod auth;
pub(crate) mod system;
pub(crate) mod tenants;
