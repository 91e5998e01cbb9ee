//! One paging contract for every list: `limit` (1–200, default 50) and an
//! opaque `after` cursor from the previous page's `next`; `next` is absent
//! on the last page. An out-of-range `limit` or a cursor this server did
//! not hand out is the same 400 everywhere.

use axum::http::StatusCode;

use crate::error::ApiError;

/// The page size when none is asked for.
pub(crate) const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub(crate) const MAX_LIMIT: u32 = 200;

/// The page size asked for, checked: 400 `invalid_limit` outside 1–200.
pub(crate) fn limit(asked: Option<u32>) -> Result<u32, ApiError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            format!("limit 应在 1 到 {MAX_LIMIT} 之间，收到 {n}"),
            format!("limit must be between 1 and {MAX_LIMIT}; got {n}"),
        )),
    }
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
}
