//! Search, wired to the platform.
//!
//! - The outbox ([`outbox`]): triggers on `cases`, `accounts` and
//!   `residents` (migration 0020) write a row naming the document in the
//!   transaction that changes it, so nothing is forgotten.
//! - The [`Indexer`] applies the outbox in batches on any node: it reads
//!   each named row as it is now ([`project`]), applies upserts and
//!   deletions to the [`civitas_search::Engine`], and only then deletes the
//!   outbox rows — a crash in between applies them again, which changes
//!   nothing. On PostgreSQL one node at a time feeds an index (its
//!   `search_indexers` row, locked `FOR UPDATE SKIP LOCKED`), and one
//!   embedded index per database holds the outbox: another node's stands
//!   by, and takes over when the holder is gone ([`holder`]).
//! - [`reach`]: what a caller may find, from the same grants index that
//!   decides requests.
//!
//! Identifiers (id numbers, phone numbers) are never put in a document:
//! residents are found by name here and by exact blind index elsewhere.

pub mod holder;
pub mod outbox;
pub mod project;
pub mod reach;

mod indexer;

pub use indexer::{
    IndexStatus, Indexer, IndexerError, RebuildAt, Rebuilt, Role, ServiceListing, TAKEOVER_AFTER,
    seconds_since,
};
pub use project::{refused_searchable_fields, searchable_fields};
pub use reach::{applicant_reach, public_reach, public_services_reach, staff_reach};
