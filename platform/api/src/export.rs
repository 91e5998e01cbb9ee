//! Exports: a list the caller may read, as an `.xlsx` file.
//!
//! Each list route has an `…/export` sibling that takes the list's filters,
//! reads every row with the same authorization and masking as the list
//! (the same functions: the cases as the list's query sent once and
//! streamed, the others page after page), and writes the rows with
//! [`civitas_export`] in constant memory. Before the file is sent, the export is recorded in the
//! tenant's audit log — who, what, the filter, how many rows, the file's
//! size and SM3 digest — in its own transaction: a file whose record could
//! not be written is never sent. The answer carries the rows and the digest
//! in headers (`x-export-rows`, `x-export-sm3`) and its length, so a
//! browser or the CLI shows the download's progress.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_export::{Column, ExportError, Exported, SheetWriter};
use civitas_storage::TenantScope;
use civitas_tenancy::TenantPath;
use serde_json::Value;

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;

/// The media type of an `.xlsx` workbook.
pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Rows read per page where an export reads its list page after page:
/// the list routes' largest page.
pub(crate) const PAGE: u32 = 200;

/// What is exported, for the file's name and the audit record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    /// The audit action (`case.export`, …).
    pub(crate) action: &'static str,
    /// The worksheet's and the file's name, Chinese.
    pub(crate) zh: &'static str,
    /// The same, English (the file name's ASCII fallback).
    pub(crate) en: &'static str,
}

/// Exports written at once on this node: each holds a database
/// connection (and on PostgreSQL a snapshot) while it reads, and the CPU
/// to compress; more wait for a retry rather than queue.
const AT_ONCE: usize = 2;

static EXPORTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(AT_ONCE);

/// A turn to export, held until the file is written and recorded; 503
/// `export_busy` while [`AT_ONCE`] others are being written.
pub(crate) fn turn() -> Result<tokio::sync::SemaphorePermit<'static>, ApiError> {
    EXPORTING.try_acquire().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "export_busy",
            "正在生成其他导出文件，请稍后重试",
            "Other exports are being written; try again shortly",
        )
    })
}

/// An export asked for with `HEAD` is refused: it would be written and
/// recorded as sent without a byte leaving.
pub(crate) fn not_head(method: &axum::http::Method) -> Result<(), ApiError> {
    if method == axum::http::Method::HEAD {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "导出请使用 GET",
            "Ask for an export with GET",
        ));
    }
    Ok(())
}

/// A new workbook for `kind` with `columns`, its temporary files in the
/// node's export directory.
pub(crate) fn sheet(
    state: &AppState,
    kind: Kind,
    columns: Vec<Column>,
) -> Result<SheetWriter, ApiError> {
    SheetWriter::new(
        &format!("{} {}", kind.zh, kind.en),
        columns,
        state.export_dir(),
    )
    .map_err(export_error)
}

/// An error of writing an export, as the API answers it.
pub(crate) fn export_error(error: ExportError) -> ApiError {
    match error {
        ExportError::TooManyRows => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "export_too_large",
            format!(
                "导出超过 {} 行（一个工作表的上限），请缩小筛选范围",
                civitas_export::MAX_ROWS
            ),
            format!(
                "The export would exceed {} rows, the most one worksheet holds; narrow the filter",
                civitas_export::MAX_ROWS
            ),
        ),
        other => {
            tracing::error!(error = %other, "export failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "export_failed",
                "导出文件写入失败，请稍后重试",
                "The export could not be written; try again later",
            )
        }
    }
}

/// Finishes `sheet` off the async threads, records the export at `tenant`
/// (`filter`: what the caller asked for) within `scope`, and answers with
/// the file.
pub(crate) async fn respond(
    state: &AppState,
    caller: &Caller,
    scope: &TenantScope,
    tenant: &TenantPath,
    kind: Kind,
    filter: Value,
    sheet: SheetWriter,
) -> Result<Response, ApiError> {
    let rows = sheet.rows();
    respond_across(state, caller, &[(scope, rows)], tenant, kind, filter, sheet).await
}

/// As [`respond`] for an export that spans several places (the inbox, over
/// every grant): one audit record at each scope's tenant, with the rows of
/// the export that are that place's. Each place's record is its own
/// transaction (each tenant has its own chain): if a later one fails, the
/// answer is an error and the file is not sent, but the earlier records
/// stay — they record an export written, not one received.
pub(crate) async fn respond_across(
    state: &AppState,
    caller: &Caller,
    places: &[(&TenantScope, u32)],
    named: &TenantPath,
    kind: Kind,
    filter: Value,
    sheet: SheetWriter,
) -> Result<Response, ApiError> {
    let (exported, sm3) = finish(sheet).await?;
    // One record per place the export read; an export that read nowhere
    // (a caller without grants, an empty inbox) exported nothing.
    for (scope, rows_here) in places {
        let mut tx = state.db().begin(scope).await?;
        civitas_audit::record(
            &mut tx,
            scope.path(),
            &export_event(
                caller,
                kind,
                serde_json::json!({
                    "filter": filter,
                    "rows": exported.rows,
                    "rows_here": rows_here,
                    "bytes": exported.bytes,
                    "sm3": sm3,
                }),
            ),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "audit record failed");
            ApiError::internal()
        })?;
        tx.commit().await?;
    }
    Ok(file_response(kind, named, exported, &sm3))
}

/// As [`respond`] for a person's export of their own records (no grant is
/// involved): recorded in the chain of `tenant`, their account's.
pub(crate) async fn respond_own(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantPath,
    kind: Kind,
    sheet: SheetWriter,
) -> Result<Response, ApiError> {
    let (exported, sm3) = finish(sheet).await?;
    civitas_audit::record_own(
        state.db(),
        tenant,
        &export_event(
            caller,
            kind,
            serde_json::json!({
                "rows": exported.rows,
                "bytes": exported.bytes,
                "sm3": sm3,
            }),
        ),
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "audit record failed");
        ApiError::internal()
    })?;
    Ok(file_response(kind, tenant, exported, &sm3))
}

/// `sheet` finished off the async threads, and its SM3 in hex.
async fn finish(sheet: SheetWriter) -> Result<(Exported, String), ApiError> {
    let exported = tokio::task::spawn_blocking(move || sheet.finish())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "export task failed");
            ApiError::internal()
        })?
        .map_err(export_error)?;
    let sm3 = hex::encode(exported.sm3);
    Ok((exported, sm3))
}

/// The audit record of an export of `kind` by `caller`.
fn export_event(caller: &Caller, kind: Kind, detail: Value) -> civitas_audit::NewEvent {
    civitas_audit::NewEvent {
        actor: caller.username().to_owned(),
        action: kind.action.to_owned(),
        target: format!("export:{}", kind.en.to_lowercase().replace(' ', "-")),
        detail,
    }
}

/// The file as an attachment named `<kind>-<tenant>-<date>.xlsx`, read in
/// chunks by a blocking thread as the client takes them.
fn file_response(kind: Kind, tenant: &TenantPath, exported: Exported, sm3: &str) -> Response {
    let date = civitas_workflow::today_in_china();
    let place = tenant.as_str().replace('/', "-");
    let name = format!("{}-{place}-{date}.xlsx", kind.zh);
    let fallback = format!(
        "{}-{place}-{date}.xlsx",
        kind.en.to_lowercase().replace(' ', "-")
    );
    let Exported {
        file, bytes, rows, ..
    } = exported;
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, XLSX.to_owned()),
            (header::CONTENT_DISPOSITION, attachment(&fallback, &name)),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_owned(),
            ),
            (
                header::HeaderName::from_static("x-export-rows"),
                rows.to_string(),
            ),
            (
                header::HeaderName::from_static("x-export-sm3"),
                sm3.to_owned(),
            ),
        ],
        Body::from_stream(chunks(file)),
    )
        .into_response()
}

/// The file's bytes in chunks of 64 KiB, read as the client takes them
/// (tokio's file reads run on its blocking pool one read at a time; no
/// thread waits for a slow client). An error ends the stream after it.
fn chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
    use tokio::io::AsyncReadExt;
    let file = Some(tokio::fs::File::from_std(file));
    futures_util::stream::unfold(file, |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

/// A `content-disposition` naming a download `name` (RFC 6266: UTF-8,
/// percent-encoded), with `fallback` for clients that read only the plain
/// `filename`.
pub(crate) fn attachment(fallback: &str, name: &str) -> String {
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}
