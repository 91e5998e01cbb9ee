//! The `civitas` binary's library half: settings, start-up and serving,
//! kept here so that integration tests drive exactly what the binary runs.

pub mod config;
pub mod demo_modules;
pub mod keys;
pub mod search;
pub mod serve;
pub mod tls;
pub mod tree_revisions;

/// Exit codes of every `civitas` command.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command ran and found problems (an invalid tree for `tenant
    /// validate`), or failed at run time.
    pub const FAILURE: u8 = 1;
    /// The command line is wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// The configuration (settings or tenant tree) is invalid: nothing was
    /// started.
    pub const CONFIG: u8 = 3;
    /// The database cannot be reached or migrated.
    pub const DATABASE: u8 = 4;
    /// The server cannot be reached (commands that are API clients).
    pub const UNREACHABLE: u8 = 5;
}
