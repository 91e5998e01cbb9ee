//! The search outbox: rows naming documents whose rows changed, written by
//! triggers in the changing transaction (migration 0020).

use civitas_search::Kind;
use civitas_storage::{Connection, PlatformTx, with_connection};
use sqlx::Row;

use crate::IndexerError;

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its sequence number.
    pub seq: i64,
    /// The kind of document.
    pub kind: Kind,
    /// The row's id.
    pub doc: String,
}

/// The rows `sql` selects (`seq, kind, doc`), bound to `binds`.
async fn select_rows(
    conn: Connection<'_>,
    sql: &'static str,
    binds: &[i64],
) -> Result<Vec<(i64, String, String)>, IndexerError> {
    Ok(with_connection!(conn, c => {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        query
            .fetch_all(&mut *c)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("kind")?, r.try_get("doc")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    }))
}

/// The oldest `limit` entries.
pub async fn oldest(conn: Connection<'_>, limit: i64) -> Result<Vec<Entry>, IndexerError> {
    let rows = select_rows(
        conn,
        "SELECT seq, kind, doc FROM search_outbox ORDER BY seq LIMIT $1",
        &[limit],
    )
    .await?;
    rows.into_iter()
        .map(|(seq, kind, doc)| {
            let kind = Kind::parse(&kind)
                .ok_or_else(|| IndexerError::Stored(format!("search_outbox {seq}: kind {kind}")))?;
            Ok(Entry { seq, kind, doc })
        })
        .collect()
}

/// Deletes the entries `seqs` (applied).
pub async fn remove(tx: &mut PlatformTx, seqs: &[i64]) -> Result<(), IndexerError> {
    for chunk in seqs.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "DELETE FROM search_outbox WHERE seq IN ({})",
            placeholders.join(", ")
        );
        with_connection!(tx.connection(), c => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(*s);
            }
            q.execute(&mut *c).await?;
        });
    }
    Ok(())
}

/// How many entries wait, and since when (microseconds; `None` when none).
pub async fn pending(conn: Connection<'_>) -> Result<(i64, Option<i64>), IndexerError> {
    Ok(with_connection!(conn, c => {
        let row = sqlx::query("SELECT count(*) AS n, min(queued_at) AS oldest FROM search_outbox")
            .fetch_one(&mut *c)
            .await?;
        (row.try_get::<i64, _>("n")?, row.try_get::<Option<i64>, _>("oldest")?)
    }))
}

/// What a batch of `entries` held, as one word kept in the index's applied
/// mark ([`civitas_search::AppliedMark::entries`]): their sequence numbers
/// as ranges, and an SM3 digest of every entry's number, kind and row id,
/// so that [`still_waiting`] can tell the same entries from others given
/// the same numbers (a database restored to an earlier point numbers its
/// new entries again).
pub fn batch_word(entries: &[Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for e in &sorted {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == e.seq => *last = e.seq,
            _ => ranges.push((e.seq, e.seq)),
        }
    }
    let ranges: Vec<String> = ranges
        .into_iter()
        .map(|(first, last)| {
            if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            }
        })
        .collect();
    format!("{}:{}", ranges.join(","), digest(sorted.into_iter()))
}

fn digest<'a>(entries: impl Iterator<Item = &'a Entry>) -> String {
    use sm3::Digest as _;
    let mut hasher = sm3::Sm3::new();
    for e in entries {
        hasher.update(format!("{}\t{}\t{}\n", e.seq, e.kind.as_str(), e.doc).as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The sequence numbers a [`batch_word`] names, and its digest; `None`
/// when the word is not one.
fn parse_batch_word(word: &str) -> Option<(Vec<(i64, i64)>, &str)> {
    let (ranges, digest) = word.split_once(':')?;
    let ranges = ranges
        .split(',')
        .map(|range| {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            let (first, last) = (first.parse::<i64>().ok()?, last.parse::<i64>().ok()?);
            (first <= last).then_some((first, last))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((ranges, digest))
}

/// Whether every entry of the batch `word` names ([`batch_word`]) waits
/// in the outbox, the same entries: `false` when one is gone or another
/// took its number, and when the word is not one (derived data: the index
/// is then rebuilt, which is always safe).
pub async fn still_waiting(conn: Connection<'_>, word: &str) -> Result<bool, IndexerError> {
    let Some((ranges, expected)) = parse_batch_word(word) else {
        tracing::warn!(
            word,
            "检索索引的批次记录无法解析 (the search index's record of its last batch does not parse): rebuilt"
        );
        return Ok(false);
    };
    let (Some(first), Some(last)) = (ranges.first().map(|r| r.0), ranges.last().map(|r| r.1))
    else {
        return Ok(false);
    };
    let rows = select_rows(
        conn,
        "SELECT seq, kind, doc FROM search_outbox WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        &[first, last],
    )
    .await?;
    let named = |seq: i64| ranges.iter().any(|&(a, b)| a <= seq && seq <= b);
    let wanted: i64 = ranges.iter().map(|&(a, b)| b - a + 1).sum();
    let mut found = Vec::new();
    for (seq, kind, doc) in rows.into_iter().filter(|(seq, _, _)| named(*seq)) {
        let Some(kind) = Kind::parse(&kind) else {
            return Ok(false);
        };
        found.push(Entry { seq, kind, doc });
    }
    Ok(found.len() as i64 == wanted && digest(found.iter()) == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, doc: &str) -> Entry {
        Entry {
            seq,
            kind: Kind::Case,
            doc: doc.to_owned(),
        }
    }

    #[test]
    fn a_batch_word_names_its_entries_as_ranges_and_a_digest() {
        let batch = [entry(7, "c"), entry(3, "a"), entry(4, "b"), entry(9, "d")];
        let word = batch_word(&batch);
        let Some((ranges, digest)) = parse_batch_word(&word) else {
            panic!("{word} parses")
        };
        assert_eq!(ranges, [(3, 4), (7, 7), (9, 9)]);
        assert_eq!(digest.len(), 64);
        assert!(!word.contains(char::is_whitespace));
        // The same numbers with another row: another digest.
        let other = [entry(7, "c"), entry(3, "a"), entry(4, "x"), entry(9, "d")];
        assert_ne!(batch_word(&other), word);
        for bad in ["", "3-4", "x:ab", "4-3:ab", "3-:ab"] {
            assert_eq!(parse_batch_word(bad), None, "{bad:?}");
        }
    }
}
