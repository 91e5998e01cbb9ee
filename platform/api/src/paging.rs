//! One paging contract for every list: `limit` (1–200, default 50) and an
//! opaque `after` cursor from the previous page's `next`; `next` is absent
//! on the last page. An out-of-range `limit` or a cursor this server did
//! not hand out is the same 400 everywhere.
//!
//! A cursor is opaque to clients: [`cursor`] packs the sort key of a page's
//! last item (base64url of a JSON array of strings) and [`cursor_fields`]
//! unpacks it; anything else is 400 `invalid_cursor`.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// The page size when none is asked for.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub(crate) const MAX_LIMIT: u32 = 200;

/// The page size asked for, checked: 400 `invalid_limit` outside 1–200.
pub(crate) fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    limit_within(asked, DEFAULT_LIMIT, MAX_LIMIT)
}

/// The page size asked for, for a list with its own bounds (search pages
/// hold at most 100): `default` when none, 400 `invalid_limit` outside
/// 1–`max`.
pub(crate) fn limit_within(asked: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match asked {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            format!("limit 应在 1 到 {max} 之间，收到 {n}"),
            format!("limit must be between 1 and {max}; got {n}"),
        )),
    }
}

/// The position `after` names, read by `parse` (a list's own cursor
/// reader); none without `after`, 400 `invalid_cursor` when it does not
/// read.
pub(crate) fn after<T>(
    after: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    after
        .map(|text| parse(text).ok_or_else(invalid_cursor))
        .transpose()
}

/// 400 `invalid_cursor`: `after` is not a `next` this server handed out.
pub(crate) fn invalid_cursor() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
        "after 不是上一页返回的 next 游标",
        "after is not a `next` cursor from a previous page",
    )
}

/// An opaque cursor holding `fields` (the sort key of a page's last item).
pub(crate) fn cursor<S: AsRef<str>>(fields: &[S]) -> String {
    let fields: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
    let json = serde_json::to_vec(&fields).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The `N` fields of a cursor made by [`cursor`]; 400 `invalid_cursor` for
/// anything else.
pub(crate) fn cursor_fields<const N: usize>(after: &str) -> Result<[String; N], ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(after)
        .map_err(|_| invalid_cursor())?;
    let fields: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())?;
    fields.try_into().map_err(|_| invalid_cursor())
}

/// A page from up to `limit + 1` items fetched: the first `limit`, and the
/// cursor after the last of them when there were more (so `next` is absent
/// on the last page, even a full one).
pub(crate) fn page<T>(
    mut fetched: Vec<T>,
    limit: u32,
    key: impl FnOnce(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = limit as usize;
    if fetched.len() <= limit {
        return (fetched, None);
    }
    fetched.truncate(limit);
    let next = fetched.last().map(key);
    (fetched, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_to_fifty_and_stay_within_one_to_two_hundred() {
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some(1)).unwrap(), 1);
        assert_eq!(limit(Some(200)).unwrap(), 200);
        assert_eq!(limit(Some(0)).unwrap_err().code, "invalid_limit");
        assert_eq!(limit(Some(201)).unwrap_err().code, "invalid_limit");
    }

    #[test]
    fn a_page_has_a_next_only_when_more_were_fetched() {
        assert_eq!(
            page(vec![1, 2, 3], 2, |n| n.to_string()),
            (vec![1, 2], Some("2".into()))
        );
        assert_eq!(page(vec![1, 2], 2, |n| n.to_string()), (vec![1, 2], None));
        assert_eq!(
            page(Vec::<i32>::new(), 2, |n| n.to_string()),
            (vec![], None)
        );
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let made = cursor(&["310000/310115", "civil-affairs", "a|b"]);
        assert_eq!(
            cursor_fields::<3>(&made).unwrap(),
            ["310000/310115", "civil-affairs", "a|b"]
        );
        assert!(!made.contains('/') && !made.contains('='), "{made}");
        for bad in [
            "",
            "garbage",
            "!!!",
            &cursor(&["1"]),
            &URL_SAFE_NO_PAD.encode("{}"),
        ] {
            assert_eq!(
                cursor_fields::<3>(bad).unwrap_err().code,
                "invalid_cursor",
                "{bad}"
            );
        }
    }
}
