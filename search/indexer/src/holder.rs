//! One embedded index per database: which index applies the outbox.
//!
//! Applied outbox entries are deleted, so an index holds every document
//! only if it alone applies them. A Meilisearch index is one index every
//! node shares; an embedded (tantivy) index lives in one node's directory.
//! So the backend's `search_indexers` row names the embedded index that
//! holds the outbox (by the id kept in its directory) and when it was last
//! seen applying it. Another node's embedded index stands by while the
//! holder is seen, and takes over once it has not been seen for a while,
//! rebuilding itself from the database first: the entries the other index
//! applied are gone from the outbox, and nothing else tells what it missed.
//!
//! This module is the decision alone, a function of what the row says, the
//! index's id, the clock and the liveness window; the indexer reads the row
//! under its lock and does what the decision says.

use std::time::Duration;

/// What the backend's `search_indexers` row says of its holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The id of the index that holds the outbox, if any has claimed it.
    pub index_id: Option<String>,
    /// When that index was last seen applying it (Unix microseconds).
    pub seen_at: Option<i64>,
}

/// What an embedded index does on its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// It holds the outbox: apply the next batch.
    Apply,
    /// No index holds the outbox yet (a new database, or one from before
    /// holders were recorded): take it as the index is.
    Claim,
    /// Another index holds it and was seen within the window: stand by.
    StandBy {
        /// The holder's id.
        holder: String,
    },
    /// Another index held it but has not been seen within the window:
    /// rebuild from the database, then hold it.
    TakeOver {
        /// The former holder's id.
        previous: String,
    },
}

/// The turn of the index `mine` at `now` (Unix microseconds), given what
/// the row says and how long a holder unseen is still presumed alive.
pub fn turn(recorded: &Recorded, mine: &str, now: i64, live: Duration) -> Turn {
    match &recorded.index_id {
        None => Turn::Claim,
        Some(holder) if holder == mine => Turn::Apply,
        Some(holder) => {
            let seen_within = recorded
                .seen_at
                .is_some_and(|seen| now.saturating_sub(seen) < micros(live));
            if seen_within {
                Turn::StandBy {
                    holder: holder.clone(),
                }
            } else {
                Turn::TakeOver {
                    previous: holder.clone(),
                }
            }
        }
    }
}

/// Whether the holder should say it is still there: when it was never
/// seen, or last seen `every` ago or more. (Applying a batch says so too.)
pub fn heartbeat_due(seen_at: Option<i64>, now: i64, every: Duration) -> bool {
    seen_at.is_none_or(|seen| now.saturating_sub(seen) >= micros(every))
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;
    const LIVE: Duration = Duration::from_secs(30);

    fn row(index_id: Option<&str>, seen_at: Option<i64>) -> Recorded {
        Recorded {
            index_id: index_id.map(str::to_owned),
            seen_at,
        }
    }

    #[test]
    fn the_first_index_on_a_database_claims_the_outbox_as_it_is() {
        assert_eq!(turn(&row(None, None), "a", 100 * SECOND, LIVE), Turn::Claim);
    }

    #[test]
    fn the_holder_applies_however_long_it_was_away() {
        // Its own entries wait in the outbox for it: nothing was missed.
        for seen in [None, Some(99 * SECOND), Some(0)] {
            assert_eq!(
                turn(&row(Some("a"), seen), "a", 100 * SECOND, LIVE),
                Turn::Apply
            );
        }
    }

    #[test]
    fn another_index_stands_by_while_the_holder_is_seen() {
        let now = 100 * SECOND;
        let holder = Turn::StandBy {
            holder: "a".to_owned(),
        };
        assert_eq!(turn(&row(Some("a"), Some(now)), "b", now, LIVE), holder);
        assert_eq!(
            turn(&row(Some("a"), Some(now - 29 * SECOND)), "b", now, LIVE),
            holder
        );
        // A clock behind the holder's is no reason to take over.
        assert_eq!(
            turn(&row(Some("a"), Some(now + 5 * SECOND)), "b", now, LIVE),
            holder
        );
    }

    #[test]
    fn another_index_takes_over_once_the_holder_is_unseen_for_the_window() {
        let now = 100 * SECOND;
        let over = Turn::TakeOver {
            previous: "a".to_owned(),
        };
        assert_eq!(
            turn(&row(Some("a"), Some(now - 30 * SECOND)), "b", now, LIVE),
            over
        );
        assert_eq!(turn(&row(Some("a"), None), "b", now, LIVE), over);
        // With no window (SQLite: the data directory is one node's), at once.
        assert_eq!(
            turn(&row(Some("a"), Some(now)), "b", now, Duration::ZERO),
            over
        );
    }

    #[test]
    fn the_holder_says_it_is_there_once_per_interval() {
        let every = Duration::from_secs(5);
        assert!(heartbeat_due(None, 0, every));
        assert!(!heartbeat_due(Some(10 * SECOND), 14 * SECOND, every));
        assert!(heartbeat_due(Some(10 * SECOND), 15 * SECOND, every));
    }
}
