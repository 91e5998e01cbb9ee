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

/// The oldest `limit` entries.
pub async fn oldest(conn: Connection<'_>, limit: i64) -> Result<Vec<Entry>, IndexerError> {
    let rows: Vec<(i64, String, String)> = with_connection!(conn, c => {
        sqlx::query("SELECT seq, kind, doc FROM search_outbox ORDER BY seq LIMIT $1")
            .bind(limit)
            .fetch_all(&mut *c)
            .await?
            .into_iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("kind")?, r.try_get("doc")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
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
