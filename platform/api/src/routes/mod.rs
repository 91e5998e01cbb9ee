//! Route handlers, one module per area.

pub(crate) mod system;
pub(crate) mod tenants;
