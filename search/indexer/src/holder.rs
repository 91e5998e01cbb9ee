//! One embedded index per database: which index applies the outbox.
//!
//! Applied outbox entries are deleted, so an index holds every document
//! only if it alone applies them. A Meilisearch index is one index every
//! node shares; an embedded (tantivy) index lives in one node's directory.
//! So the backend's `search_indexers` row names the embedded index that
//! holds the outbox (by the id kept in its directory) and when it was last
//! seen applying it, by the database's clock. Another node's embedded index
//! stands by while the holder is seen, and takes over once it has not been
//! seen for a while, rebuilding itself from the database first: the entries
//! the other index applied are gone from the outbox, and nothing else tells
//! what it missed.
//!
//! The holder records how long it may go unseen (its takeover window) as
//! it names itself, and standbys wait out that window rather than their
//! own. Each embedded index also keeps how far into the outbox it holds
//! (its applied mark, beside its id): an index whose id the row names but
//! whose mark is behind the row's count is a copy of the holder's
//! directory elsewhere, and is treated as another index. Each batch is
//! given a token the row records as it counts the batch, and the mark
//! keeps it with what the batch held: a holder whose last batch the row
//! does not know holds changes the database no longer has (it was restored
//! to an earlier point) and is rebuilt — unless that batch is the one after
//! the row's last and every entry of it still waits in the outbox (the
//! database's commit of it failed, or the restore went back to just
//! before it: applied again, reading the rows as they are, it leaves the
//! index as the database is).
//!
//! This module is the decision alone, a function of what the row says, the
//! index, the database's clock and the liveness window; the indexer reads
//! the row under its lock and does what the decision says.

use std::time::Duration;

use civitas_search::AppliedMark;

/// What the backend's `search_indexers` row says of its holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The id of the index that holds the outbox, if any has claimed it.
    pub index_id: Option<String>,
    /// When that index was last seen applying it (Unix microseconds, the
    /// database's clock).
    pub seen_at: Option<i64>,
    /// Entries applied from the outbox, ever, by any index of the backend.
    pub applied: i64,
    /// How long the holder said it may go unseen (its takeover window),
    /// if it said.
    pub live: Option<Duration>,
    /// The token of the last batch counted in `applied` (`None` before
    /// batches were given tokens).
    pub batch: Option<String>,
}

/// The index whose turn it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThisIndex<'a> {
    /// Its id.
    pub id: &'a str,
    /// Whether it holds what it applied: false when its directory was
    /// empty or of an older schema as its node started, over a database
    /// that may hold rows.
    pub complete: bool,
    /// Its applied mark: the backend's count of applied entries as of the
    /// last batch it applied (or its rebuild), that batch's token and the
    /// row's token before it, and what the batch held; `None` when it has
    /// not said (an index from before marks were kept). The count tells a
    /// copy that fell behind; the tokens tell a database that went back in
    /// time. Both err towards a rebuild (a version run in between that
    /// applied without marking makes the holder look behind or ahead).
    pub mark: Option<AppliedMark>,
    /// Whether every entry of the last batch its mark names still waits in
    /// the outbox; looked at only when [`last_batch_in_question`].
    pub last_batch_waiting: bool,
}

/// Whether the last batch `mark` names is the one after the row's last,
/// not counted by the row: then whether its entries still wait in the
/// outbox decides whether the index holds what the database does.
pub fn last_batch_in_question(recorded: &Recorded, mark: &AppliedMark) -> bool {
    mark.batch != recorded.batch
        && mark.after == recorded.batch
        && mark.applied > recorded.applied
        && mark.entries.is_some()
}

/// What an embedded index does on its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// It holds the outbox: apply the next batch.
    Apply,
    /// No index has applied anything from the outbox (a new database):
    /// take it as the index is.
    Claim,
    /// Another index holds it (or a copy of this one that applied what
    /// this one lacks) and was seen within the window: stand by.
    StandBy {
        /// The holder's id.
        holder: String,
    },
    /// Rebuild from the database, then hold the outbox: its holder has
    /// not been seen within the window, or entries were applied with no
    /// holder recorded (before holders were), or this index is not
    /// complete, or has not said what it holds (before applied marks
    /// were), or holds batches the database does not know (restored to an
    /// earlier point).
    Rebuild {
        /// The former holder's id, if one was recorded.
        previous: Option<String>,
    },
}

/// The turn of `this` index at `now` (Unix microseconds, the database's
/// clock), given what the row says and how long a holder unseen is still
/// presumed alive (`live`, when the holder did not say).
pub fn turn(recorded: &Recorded, this: &ThisIndex<'_>, now: i64, live: Duration) -> Turn {
    let rebuild_or = |turn: Turn| {
        if this.complete {
            turn
        } else {
            Turn::Rebuild {
                previous: recorded.index_id.clone(),
            }
        }
    };
    match &recorded.index_id {
        // Nothing was applied: the outbox holds every change there is; but
        // an index that says it applied some holds another database's
        // documents (the database was made anew beside an old index).
        None if recorded.applied == 0 => match &this.mark {
            Some(mark) if mark.applied > 0 => Turn::Rebuild { previous: None },
            _ => rebuild_or(Turn::Claim),
        },
        // Applied by an index nobody recorded: which one, and whether it
        // was this one alone, is unknown.
        None => Turn::Rebuild { previous: None },
        Some(holder) if holder == this.id => match holds(recorded, this) {
            Holds::Unsaid | Holds::Ahead => Turn::Rebuild {
                previous: Some(holder.clone()),
            },
            Holds::Behind => other_index(recorded, holder, now, live),
            Holds::All => rebuild_or(Turn::Apply),
        },
        Some(holder) => other_index(recorded, holder, now, live),
    }
}

/// What an index the row names as holder holds of the entries the row
/// counts applied, by its applied mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Holds {
    /// All of them (or one batch more, every entry of which waits in the
    /// outbox to be applied again: the database's commit of it failed).
    All,
    /// It has not said (an index from before marks were kept): rebuilt
    /// once.
    Unsaid,
    /// Fewer: a copy of its directory elsewhere applied what it does not
    /// hold, so it is as another index.
    Behind,
    /// Changes the database does not know: its last batch is not the one
    /// the row counted last (or is, with another count), nor the one batch
    /// after it with all its entries waiting, and it counts as many entries
    /// or more. The database went back in time (restored to an earlier
    /// point, its index kept): rebuilt, at once — a copy of the holder's
    /// directory, the one other way to get here, is rebuilt too rather than
    /// trusted.
    Ahead,
}

/// What `this` index, the row's holder, holds ([`Holds`]).
pub fn holds(recorded: &Recorded, this: &ThisIndex<'_>) -> Holds {
    let Some(mark) = &this.mark else {
        return if recorded.applied > 0 {
            Holds::Unsaid
        } else {
            Holds::All
        };
    };
    if mark.batch == recorded.batch {
        match mark.applied.cmp(&recorded.applied) {
            std::cmp::Ordering::Equal => Holds::All,
            std::cmp::Ordering::Less => Holds::Behind,
            // Before batches had tokens a count above the row's was a batch
            // applied again after the database's commit failed; with
            // tokens, one history cannot give the same batch two counts.
            std::cmp::Ordering::Greater if recorded.batch.is_none() => Holds::All,
            std::cmp::Ordering::Greater => Holds::Ahead,
        }
    } else if last_batch_in_question(recorded, mark) && this.last_batch_waiting {
        // Its last batch is the one after the row's, and every entry of it
        // waits in the outbox: whatever the index took from it, applying
        // the entries again replaces with the rows as they are.
        Holds::All
    } else if mark.applied < recorded.applied {
        Holds::Behind
    } else {
        Holds::Ahead
    }
}

/// The turn of an index beside `holder`: stand by while it is seen,
/// rebuild and take over once it is not.
fn other_index(recorded: &Recorded, holder: &str, now: i64, live: Duration) -> Turn {
    if holder_seen(recorded, now, live) {
        Turn::StandBy {
            holder: holder.to_owned(),
        }
    } else {
        Turn::Rebuild {
            previous: Some(holder.to_owned()),
        }
    }
}

/// Whether the holder recorded in `recorded` counts as seen at `now`,
/// within its own window (`live` when it did not say): a node that kept
/// the row locked while it was (a rebuild elsewhere) says so for it as it
/// lets go, since the holder could not.
pub fn holder_seen(recorded: &Recorded, now: i64, live: Duration) -> bool {
    let live = recorded.live.unwrap_or(live);
    recorded.index_id.is_some()
        && recorded
            .seen_at
            .is_some_and(|seen| now.saturating_sub(seen) < micros(live))
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
    const NOW: i64 = 100 * SECOND;

    /// The row: entries counted `applied`, the last of them in batch
    /// `b{applied}` (none before any was applied).
    fn row(index_id: Option<&str>, seen_at: Option<i64>, applied: i64) -> Recorded {
        Recorded {
            index_id: index_id.map(str::to_owned),
            seen_at,
            applied,
            live: None,
            batch: (applied > 0).then(|| format!("b{applied}")),
        }
    }

    /// A mark of `applied` entries, come to with batch `batch` after batch
    /// `after`.
    fn mark(applied: i64, batch: Option<&str>, after: Option<&str>) -> Option<AppliedMark> {
        Some(AppliedMark {
            applied,
            batch: batch.map(str::to_owned),
            after: after.map(str::to_owned),
            entries: batch.map(|b| format!("entries-of-{b}")),
        })
    }

    /// An index holding every entry the rows below count applied (7).
    fn index(id: &str) -> ThisIndex<'_> {
        ThisIndex {
            id,
            complete: true,
            mark: mark(7, Some("b7"), Some("b5")),
            last_batch_waiting: false,
        }
    }

    fn rebuild(previous: Option<&str>) -> Turn {
        Turn::Rebuild {
            previous: previous.map(str::to_owned),
        }
    }

    #[test]
    fn the_first_index_on_a_new_database_claims_the_outbox_as_it_is() {
        for mark in [None, Some(AppliedMark::default())] {
            let new = ThisIndex { mark, ..index("a") };
            assert_eq!(turn(&row(None, None, 0), &new, NOW, LIVE), Turn::Claim);
        }
    }

    #[test]
    fn an_index_of_another_database_is_rebuilt_before_it_claims_a_new_one() {
        // The database made anew (the demo's file deleted), the index kept:
        // it holds documents of rows that are gone.
        assert_eq!(
            turn(&row(None, None, 0), &index("a"), NOW, LIVE),
            rebuild(None)
        );
    }

    #[test]
    fn entries_applied_with_no_holder_recorded_mean_a_rebuild() {
        // A database from before holders were recorded: the index that
        // applied them may have held only its share.
        assert_eq!(
            turn(&row(None, None, 7), &index("a"), NOW, LIVE),
            rebuild(None)
        );
    }

    #[test]
    fn the_holder_applies_however_long_it_was_away() {
        // Its own entries wait in the outbox for it: nothing was missed.
        for seen in [None, Some(NOW - SECOND), Some(0)] {
            assert_eq!(
                turn(&row(Some("a"), seen, 7), &index("a"), NOW, LIVE),
                Turn::Apply
            );
        }
    }

    #[test]
    fn an_index_not_complete_rebuilds_before_it_holds_the_outbox() {
        let emptied = ThisIndex {
            complete: false,
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &emptied, NOW, LIVE),
            rebuild(Some("a"))
        );
        assert_eq!(
            turn(&row(None, None, 0), &emptied, NOW, LIVE),
            rebuild(None)
        );
        // It still stands by while another holder is seen.
        assert_eq!(
            turn(&row(Some("b"), Some(NOW), 7), &emptied, NOW, LIVE),
            Turn::StandBy {
                holder: "b".to_owned()
            }
        );
    }

    #[test]
    fn another_index_stands_by_while_the_holder_is_seen() {
        let holder = Turn::StandBy {
            holder: "a".to_owned(),
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &index("b"), NOW, LIVE),
            holder
        );
        assert_eq!(
            turn(
                &row(Some("a"), Some(NOW - 29 * SECOND), 7),
                &index("b"),
                NOW,
                LIVE
            ),
            holder
        );
        // A holder seen "later" than now (a clock set back) is seen.
        assert_eq!(
            turn(
                &row(Some("a"), Some(NOW + 5 * SECOND), 7),
                &index("b"),
                NOW,
                LIVE
            ),
            holder
        );
    }

    #[test]
    fn another_index_takes_over_rebuilt_once_the_holder_is_unseen_for_the_window() {
        let over = rebuild(Some("a"));
        assert_eq!(
            turn(
                &row(Some("a"), Some(NOW - 30 * SECOND), 7),
                &index("b"),
                NOW,
                LIVE
            ),
            over
        );
        assert_eq!(turn(&row(Some("a"), None, 7), &index("b"), NOW, LIVE), over);
        // With no window (SQLite: the data directory is one node's), at once.
        assert_eq!(
            turn(
                &row(Some("a"), Some(NOW), 7),
                &index("b"),
                NOW,
                Duration::ZERO
            ),
            over
        );
    }

    #[test]
    fn a_holder_seen_within_the_window_is_vouched_for_by_whoever_locked_it_out() {
        assert!(holder_seen(
            &row(Some("a"), Some(NOW - SECOND), 7),
            NOW,
            LIVE
        ));
        assert!(!holder_seen(
            &row(Some("a"), Some(NOW - 31 * SECOND), 7),
            NOW,
            LIVE
        ));
        assert!(!holder_seen(&row(None, Some(NOW), 7), NOW, LIVE));
    }

    #[test]
    fn a_standby_waits_out_the_holders_own_window_not_its_own() {
        let said = |secs| Recorded {
            live: Some(Duration::from_secs(secs)),
            ..row(Some("a"), Some(NOW - 40 * SECOND), 7)
        };
        // The holder said 60 s: unseen for 40 s it is still presumed
        // alive, whatever this node's own 30 s.
        assert_eq!(
            turn(&said(60), &index("b"), NOW, LIVE),
            Turn::StandBy {
                holder: "a".to_owned()
            }
        );
        assert!(holder_seen(&said(60), NOW, LIVE));
        // It said 10 s: gone, though this node would wait 30 s.
        assert_eq!(
            turn(&said(10), &index("b"), NOW, Duration::from_secs(300)),
            rebuild(Some("a"))
        );
    }

    #[test]
    fn the_holder_applies_while_its_mark_keeps_up_with_the_database() {
        let at = |mark| ThisIndex { mark, ..index("a") };
        // Its last batch is the row's last.
        assert_eq!(
            turn(
                &row(Some("a"), Some(NOW), 7),
                &at(mark(7, Some("b7"), Some("b5"))),
                NOW,
                LIVE
            ),
            Turn::Apply
        );
        // One batch more, after the row's last, all of whose entries wait in
        // the outbox: the database's commit of it failed.
        let failed = ThisIndex {
            last_batch_waiting: true,
            ..at(mark(9, Some("b9"), Some("b7")))
        };
        let Some(failed_mark) = &failed.mark else {
            panic!("the index has a mark")
        };
        assert!(last_batch_in_question(
            &row(Some("a"), Some(NOW), 7),
            failed_mark
        ));
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &failed, NOW, LIVE),
            Turn::Apply
        );
        // Rebuilt as the row said 7, under the rebuild's own token, which
        // the row recorded as the rebuild ended.
        let rebuilt = ThisIndex {
            mark: Some(AppliedMark {
                applied: 7,
                batch: Some("r7".into()),
                after: Some("b7".into()),
                entries: None,
            }),
            ..index("a")
        };
        let recorded_rebuild = Recorded {
            batch: Some("r7".into()),
            ..row(Some("a"), Some(NOW), 7)
        };
        assert_eq!(turn(&recorded_rebuild, &rebuilt, NOW, LIVE), Turn::Apply);
        // The rebuild's own commit failed: the row still names b7, and a
        // rebuild is no batch whose entries could wait: rebuilt again.
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &rebuilt, NOW, LIVE),
            rebuild(Some("a"))
        );
    }

    #[test]
    fn a_holder_with_batches_the_database_does_not_know_is_rebuilt() {
        // The database restored to an earlier point, the index kept: the
        // row counts 7, the index came to 12 in batches made after.
        let ahead = ThisIndex {
            mark: mark(12, Some("b12"), Some("b10")),
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &ahead, NOW, LIVE),
            rebuild(Some("a"))
        );
        // Restored to between two batches, the index kept the second: its
        // entries are not all in the outbox (the restore lost a change it
        // took), so it is rebuilt as well.
        let one_more = ThisIndex {
            mark: mark(9, Some("b9"), Some("b7")),
            last_batch_waiting: false,
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &one_more, NOW, LIVE),
            rebuild(Some("a"))
        );
        // Entries waiting clear only the one batch right after the row's
        // last, and only one that adds entries.
        let two_more = ThisIndex {
            mark: mark(12, Some("b12"), Some("b10")),
            last_batch_waiting: true,
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &two_more, NOW, LIVE),
            rebuild(Some("a"))
        );
        let none_more = ThisIndex {
            mark: mark(7, Some("c8"), Some("b7")),
            last_batch_waiting: true,
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &none_more, NOW, LIVE),
            rebuild(Some("a"))
        );
        // Restored to a point with as many entries counted, by batches of
        // another history (changes lost, others made since): the same.
        let forked = ThisIndex {
            mark: mark(7, Some("c7"), Some("c5")),
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &forked, NOW, LIVE),
            rebuild(Some("a"))
        );
        // Restored to before anything was applied: as a new database.
        assert_eq!(turn(&row(None, None, 0), &ahead, NOW, LIVE), rebuild(None));
        // The batch's own token with another count is not one history.
        let recounted = ThisIndex {
            mark: mark(9, Some("b7"), Some("b5")),
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &recounted, NOW, LIVE),
            rebuild(Some("a"))
        );
    }

    #[test]
    fn before_batches_had_tokens_the_count_alone_decides() {
        // A row and a mark from a version that gave batches no token.
        let legacy = |applied| Recorded {
            batch: None,
            ..row(Some("a"), Some(NOW), applied)
        };
        let at = |applied| ThisIndex {
            mark: mark(applied, None, None),
            ..index("a")
        };
        assert_eq!(turn(&legacy(7), &at(7), NOW, LIVE), Turn::Apply);
        assert_eq!(turn(&legacy(7), &at(9), NOW, LIVE), Turn::Apply);
        assert_eq!(
            turn(&legacy(7), &at(5), NOW, LIVE),
            Turn::StandBy {
                holder: "a".to_owned()
            }
        );
        // The first batch with a token, its commit failed: applied again
        // when its entries wait, rebuilt when they do not.
        let first = |waiting| ThisIndex {
            mark: mark(9, Some("b9"), None),
            last_batch_waiting: waiting,
            ..index("a")
        };
        assert_eq!(turn(&legacy(7), &first(true), NOW, LIVE), Turn::Apply);
        assert_eq!(
            turn(&legacy(7), &first(false), NOW, LIVE),
            rebuild(Some("a"))
        );
    }

    #[test]
    fn a_copy_of_the_holders_directory_behind_the_database_is_another_index() {
        let copy = ThisIndex {
            mark: mark(5, Some("b5"), Some("b3")),
            ..index("a")
        };
        // The holder under the same id applied two entries this copy does
        // not hold: while it is seen, the copy stands by ...
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &copy, NOW, LIVE),
            Turn::StandBy {
                holder: "a".to_owned()
            }
        );
        // ... and once it is not, the copy is rebuilt before it applies.
        assert_eq!(
            turn(
                &row(Some("a"), Some(NOW - 31 * SECOND), 7),
                &copy,
                NOW,
                LIVE
            ),
            rebuild(Some("a"))
        );
    }

    #[test]
    fn a_holder_that_has_not_said_what_it_holds_is_rebuilt_once() {
        // An index from before applied marks were kept, over entries
        // applied: whether a copy of it applied some is unknown.
        let unsaid = ThisIndex {
            mark: None,
            ..index("a")
        };
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 7), &unsaid, NOW, LIVE),
            rebuild(Some("a"))
        );
        // Nothing applied yet (it claimed a new database): nothing to say.
        assert_eq!(
            turn(&row(Some("a"), Some(NOW), 0), &unsaid, NOW, LIVE),
            Turn::Apply
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
