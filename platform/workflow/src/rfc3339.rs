//! Timestamps are kept as Unix microseconds (exact, ordered, one integer
//! column on both backends) and shown as RFC 3339 in JSON, like every other
//! time in the API.

use chrono::{DateTime, SecondsFormat};
use serde::Serializer;

/// Serialises Unix microseconds as an RFC 3339 UTC timestamp with
/// microseconds (`2026-12-04T05:32:28.123456Z`).
pub fn serialize<S: Serializer>(micros: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    let at = DateTime::from_timestamp_micros(*micros)
        .ok_or_else(|| serde::ser::Error::custom(format!("timestamp out of range: {micros} µs")))?;
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// [`serialize`] for an optional time (none is `null`).
pub fn serialize_option<S: Serializer>(
    micros: &Option<i64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match micros {
        Some(m) => serialize(m, serializer),
        None => serializer.serialize_none(),
    }
}
