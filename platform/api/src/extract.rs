//! Extractors whose rejections are [`ApiError`]s.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body. Like [`axum::Json`], but a malformed body, an
/// unknown or missing field, a wrong content type or an oversized body is
/// answered with the API's error envelope. Request types use
/// `#[serde(deny_unknown_fields)]`, so a misspelt field is an error, not
/// silently ignored.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(ApiJson(value))
    }
}

/// Query parameters. Like [`axum::extract::Query`], but a malformed or
/// unknown parameter is answered with 400 `invalid_query` in the API's
/// error envelope.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| {
                    let detail = rejection.body_text();
                    ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid_query",
                        format!("查询参数无效：{detail}"),
                        format!("Invalid query parameters: {detail}"),
                    )
                })?;
        Ok(ApiQuery(value))
    }
}

/// A request body taken as it is (an uploaded file), with its
/// `Content-Type`; an oversized body is 413 `payload_too_large` in the
/// API's error envelope.
#[derive(Debug, Clone)]
pub struct ApiBody {
    /// The `Content-Type` header, empty when absent.
    pub content_type: String,
    /// The body.
    pub bytes: Bytes,
}

impl<S> FromRequest<S> for ApiBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    crate::error::payload_too_large()
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "unreadable_body",
                        format!("无法读取请求体：{}", rejection.body_text()),
                        format!(
                            "The request body could not be read: {}",
                            rejection.body_text()
                        ),
                    )
                }
            })?;
        Ok(ApiBody {
            content_type,
            bytes,
        })
    }
}
