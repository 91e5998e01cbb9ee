//! The one error shape of the API.
//!
//! Every error, from a handler, an extractor, the fallback or a panic, is
//! answered as
//!
//! ```json
//! {"code": "tenant_not_found",
//!  "message": {"zh": "租户不存在：310000/999", "en": "Tenant not found: 310000/999"},
//!  "request_id": "5f0c…"}
//! ```
//!
//! `code` is stable and meant for programs; the messages are for people.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware
    /// so that every error body can carry it.
    pub(crate) static REQUEST_ID: String;
}

/// A message in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Message {
    /// 简体中文.
    pub zh: String,
    /// English.
    pub en: String,
}

impl Message {
    /// A library error's message, written `中文 / English`, split into its
    /// two languages (the whole text in both when it is not).
    pub(crate) fn of(error: &dyn std::fmt::Display) -> Message {
        let text = error.to_string();
        match text.split_once(" / ") {
            Some((zh, en)) => Message {
                zh: zh.to_owned(),
                en: en.to_owned(),
            },
            None => Message {
                zh: text.clone(),
                en: text,
            },
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `tenant_not_found`.
    #[schema(example = "tenant_not_found")]
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: Message,
    /// The request's id, also in the `x-request-id` response header and in
    /// the server's logs.
    pub request_id: Option<String>,
    /// Every problem of the request's content, when there are several to
    /// name (the rows of an uploaded roster); absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One problem of a request's content: a row of an uploaded file, a column
/// or field of it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// 行号（表格中显示的行号）/ The row, as the spreadsheet numbers it.
    #[schema(example = 17)]
    pub row: Option<u32>,
    /// 列或字段 / The column or field at fault.
    #[schema(example = "工号")]
    pub field: Option<String>,
    /// 问题 / What is wrong.
    pub message: Message,
}

/// An error the API answers with: status, code and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable code.
    pub code: &'static str,
    /// The message.
    pub message: Message,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    retry_after: Option<u64>,
    /// Every problem, when there are several.
    problems: Vec<Problem>,
}

impl ApiError {
    /// An error with a status, a code and a message in both languages.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        zh: impl Into<String>,
        en: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: Message {
                zh: zh.into(),
                en: en.into(),
            },
            retry_after: None,
            problems: Vec::new(),
        }
    }

    /// The same error, naming every problem of the request's content.
    pub fn with_problems(mut self, problems: Vec<Problem>) -> ApiError {
        self.problems = problems;
        self
    }

    /// The same error, answered with `Retry-After: seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// Seconds after which a retry may succeed, if the error says so.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// Every problem, when there are several.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// An error from a library error whose text reads `中文 / English`
    /// (the registry's, the workflow's); 500s are logged and told as
    /// `internal` without their detail.
    pub(crate) fn from_library(
        status: u16,
        code: &'static str,
        error: &dyn std::fmt::Display,
    ) -> ApiError {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // The database's own words (pool timeouts, addresses) stay in the log.
        if code == "database_unavailable" {
            tracing::warn!(%error, "database unavailable");
            return ApiError::database_unavailable();
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(%error, code, "operation failed");
            return ApiError::internal();
        }
        let Message { zh, en } = Message::of(error);
        ApiError::new(status, code, zh, en)
    }

    /// 404 `route_not_found`: no route matches the path.
    pub fn route_not_found(path: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("接口不存在：{path}"),
            format!("No such route: {path}"),
        )
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("接口 {path} 不支持 {method} 方法"),
            format!("Method {method} is not allowed on {path}"),
        )
    }

    /// 404 `tenant_not_found`.
    pub fn tenant_not_found(reference: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "tenant_not_found",
            format!("租户不存在：{reference}"),
            format!("Tenant not found: {reference}"),
        )
    }

    /// 500 `internal_error`: details go to the log, not to the client.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "服务器内部错误，请凭请求编号联系运维人员",
            "Internal server error; quote the request id to the operators",
        )
    }

    /// 503 `database_unavailable`.
    pub fn database_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "数据库暂不可用，请稍后重试",
            "The database is unavailable; try again later",
        )
    }

    /// The body this error is answered with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
            problems: self.problems.clone(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(
                code = self.code,
                status = self.status.as_u16(),
                "request failed"
            );
        } else {
            tracing::info!(
                code = self.code,
                status = self.status.as_u16(),
                "request refused"
            );
        }
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<civitas_storage::StorageError> for ApiError {
    fn from(error: civitas_storage::StorageError) -> ApiError {
        if error.is_unavailable() {
            tracing::error!(%error, "database unavailable");
            ApiError::database_unavailable()
        } else {
            tracing::error!(%error, "storage error");
            ApiError::internal()
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "请求体须为 JSON，请设置 Content-Type: application/json",
                "The request body must be JSON; set Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("请求体不是有效的 JSON：{}", e.body_text()),
                format!("The request body is not valid JSON: {}", e.body_text()),
            ),
            // Unknown fields, missing fields and wrong types all land here.
            JsonRejection::JsonDataError(e) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!("请求体字段不符合要求：{}", e.body_text()),
                format!(
                    "The request body does not match the expected fields: {}",
                    e.body_text()
                ),
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                payload_too_large()
            }
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("无法读取请求体：{}", other.body_text()),
                format!("The request body could not be read: {}", other.body_text()),
            ),
        }
    }
}

/// 413 `payload_too_large`.
pub(crate) fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "请求体超过大小上限",
        "The request body exceeds the size limit",
    )
}
