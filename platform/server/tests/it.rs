//! The server's integration tests, one binary: each file is a module that
//! specifies one area (its own doc comment says which), sharing the demo
//! world (`access`) and the binary and browser helpers (`support`).
//! Run one area with a filter: `cargo nextest run -p civitas -E 'test(/^portal::/)'`.

mod access;
mod support;

mod access_api;
mod access_matrix;
mod account_imports_api;
mod accounts_api;
mod accounts_cli;
mod admin_cli;
mod api_contract;
mod audit_cli;
mod backup_cli;
mod binary;
mod calendar_cli;
mod crypto_cli;
mod documents_api;
mod export_cli;
mod exports_api;
mod faces_api;
mod keys_cli;
mod lottery_cli;
mod metrics_api;
mod module_sdk;
mod modules_api;
mod notifications_api;
mod portal;
mod search_api;
mod shutdown;
mod tree_depth_api;
mod workflow_api;
